// Re-replication (issue 17, point 4) on real threads and lmdb: a node holding replicas is
// stopped; its chunks get three replicas again on the other nodes, status shows none short, and
// the bytes read back equal. About 9 s, so outside the default suite (its budget):
//   npm run scenario:rereplicate

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

const run = process.env.GOVFS_SCENARIOS === '1';
let dir: string;
let cluster: Cluster;

beforeAll(async () => {
  if (!run) return;
  dir = mkdtempSync(join(tmpdir(), 'govfs-rerep-'));
  cluster = await Cluster.start({ nodes: 5, scheduler: 'threads', threads: 1, dataDir: dir, chunkBytes: 256 * 1024, repair: { downAfterMs: 3_000 } });
}, 120_000);
afterAll(async () => {
  if (!run) return;
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (n: number, salt: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + salt + (i >> 12)) % 256);

type Layout = { chunks: { index: number; chunkId: string; version: number; replicas: string[] }[] };

/** Wait until `done` holds, up to `ms`. */
async function until(ms: number, done: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return done();
}

describe.skipIf(!run)('re-replication (threads; GOVFS_SCENARIOS=1)', () => {
  it('a stopped node holding replicas: the replica count goes back to 3 and the bytes read back equal', async () => {
    const fs = cluster.client({ clientId: 'rerep', dataTimeoutMs: 1_000 });
    const data = bytes(3 * 256 * 1024 + 777, 5);
    await fs.writeFile('/rr', data);
    const layout = async (): Promise<Layout> => (await fs.data['layout']('/rr', 'read')) as Layout;
    const before = await layout();
    const st = await cluster.status();
    const root = st.ministries.find((m) => m.subtree === '/')!;
    const victim = before.chunks[0]!.replicas.find((n) => n !== root.minister && n !== st.president)!;
    await cluster.kill(victim);
    const restored = await until(60_000, async () => (await layout()).chunks.every((c) => c.replicas.length === 3 && !c.replicas.includes(victim)));
    expect(restored).toBe(true);
    for (const c of (await layout()).chunks) {
      const was = before.chunks.find((x) => x.index === c.index)!;
      if (was.replicas.includes(victim)) expect(c.version).toBe(was.version + 1);
    }
    expect(await until(10_000, async () => (await cluster.status()).ministries.find((m) => m.subtree === '/')!.chunks?.underReplicated === 0)).toBe(true);
    const back = await fs.readFile('/rr');
    expect(Buffer.compare(back, data)).toBe(0);
  }, 120_000);
});
