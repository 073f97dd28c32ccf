// Renames across ministries with file contents (issue 16, point 5; src/actors/rename-layouts.ts)
// on real threads and lmdb: a file of several chunks written in ministry /a, renamed into the
// root ministry, and a directory holding one: the bytes read back by the new names, stat shows
// the same sizes, and a writer at the new name is not refused by the chunk stores' lease-token
// fence (the target's tokens go on above the source's).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

let dir: string;
let cluster: Cluster;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-xrename-'));
  cluster = await Cluster.start({ nodes: 6, scheduler: 'threads', threads: 1, dataDir: dir, chunkBytes: 64 << 10, leaseTtlMs: 500, ministries: [{ subtree: '/a', clerks: 1 }] });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (n: number, salt: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + salt + (i >> 10)) % 256);

async function gone(path: string): Promise<string | undefined> {
  return cluster
    .client()
    .stat(path, { linearizable: true })
    .then(
      () => undefined,
      (e: { code?: string }) => e.code,
    );
}

describe('renames across ministries with file contents (threads)', () => {
  it('moves a file and a directory holding one from /a to the root ministry; the bytes follow', async () => {
    const fs = cluster.client();
    const big = bytes(3 * (64 << 10) + 777, 1);
    const small = bytes(5000, 2);
    await fs.mkdir('/a/src');
    await fs.writeFile('/a/f', big);
    await fs.writeFile('/a/src/g', small);

    await fs.rename('/a/f', '/f');
    expect(await gone('/a/f')).toBe('ENOENT');
    expect((await fs.stat('/f', { linearizable: true })).size).toBe(big.length);
    expect(Buffer.compare(await fs.readFile('/f'), big)).toBe(0);

    await fs.rename('/a/src', '/moved');
    expect(await gone('/a/src/g')).toBe('ENOENT');
    expect((await fs.stat('/moved/g', { linearizable: true })).size).toBe(small.length);
    expect(Buffer.compare(await fs.readFile('/moved/g'), small)).toBe(0);

    // A writer at the new name: the chunk stores take its token (above any of /a's).
    const h = await fs.open('/f', { mode: 'write' });
    await h.write(10, bytes(100, 3));
    await h.close();
    const want = Uint8Array.from(big);
    want.set(bytes(100, 3), 10);
    expect(Buffer.compare(await fs.readFile('/f'), want)).toBe(0);
  }, 120_000);
});
