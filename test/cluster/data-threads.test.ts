// File contents (issue 17) on real threads and lmdb, through connect() (the bytes ride in
// FsRequest dataWrite/dataRead over TCP): a file of a few MiB over several chunks, and a writer
// whose lease ran out while it was stalled (as a paused process), refused with ESTALE by the
// chunk stores after another writer took the file.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { connect } from '../../src/client/connect.js';
import type { LeaseHandle } from '../../src/client/gov-client.js';

let dir: string;
let cluster: Cluster;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-data-'));
  cluster = await Cluster.start({ nodes: 3, scheduler: 'threads', threads: 1, dataDir: dir, listen: '127.0.0.1:0', chunkBytes: 1 << 20, leaseTtlMs: 1_500 });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (n: number, salt: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + salt + (i >> 12)) % 256);

describe('file contents over connect() (threads)', () => {
  it('writes and reads a file of a few MiB over several chunks', async () => {
    const fs = await connect([cluster.address]);
    try {
      const data = bytes(3 * (1 << 20) + 12345, 1);
      let progress = 0;
      await fs.writeFile('/big', data, { progress: (done) => (progress = done) });
      expect(progress).toBe(data.length);
      expect((await fs.stat('/big', { linearizable: true })).size).toBe(data.length);
      const back = await fs.readFile('/big');
      expect(back.length).toBe(data.length);
      expect(Buffer.compare(back, data)).toBe(0);
      // Another client in this process reads the same bytes.
      const local = await cluster.client().readFile('/big');
      expect(Buffer.compare(local, data)).toBe(0);
    } finally {
      await fs.close();
    }
  }, 120_000);

  it('refuses a stalled writer with ESTALE once another writer took the file', async () => {
    const a = await connect([cluster.address]);
    const b = await connect([cluster.address]);
    try {
      await a.writeFile('/p', bytes(5000, 2));
      const la: LeaseHandle = await a.open('/p', { mode: 'write' });
      await la.write(0, bytes(100, 3));
      // a stalls: it renews no more (its lease runs out at the ministry), and its own check of
      // the lease passed before the stall (as a process paused between the check and the send).
      (a as unknown as { renewOnce: () => Promise<boolean> }).renewOnce = () => Promise.resolve(false);
      la.valid = () => true;
      const lb = await b.open('/p', { mode: 'write' });
      expect(lb.lease.token).toBeGreaterThan(la.lease.token);
      await lb.write(0, bytes(200, 4));
      await expect(la.write(0, bytes(100, 5))).rejects.toMatchObject({ code: 'ESTALE' });
      await lb.close();
      const want = bytes(5000, 2);
      want.set(bytes(200, 4));
      expect(Buffer.compare(await b.readFile('/p'), want)).toBe(0);
    } finally {
      await a.close().catch(() => undefined);
      await b.close();
    }
  }, 120_000);
});
