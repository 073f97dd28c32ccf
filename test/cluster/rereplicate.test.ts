// Re-replication (issue 17, point 4) on the simulator: a node holding replicas is lost and its
// chunks are copied to other nodes until each has three good replicas again; a replica whose
// stored bytes rot is found (read, or the store's scrub), read around, and replaced.

import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { blockKey } from '../../src/data/backend.js';

const CHUNK = 16 * 1024;
const bytes = (n: number, salt = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + salt * 7 + (i >> 9)) % 251);

interface Layout {
  chunks: { index: number; chunkId: string; version: number; replicas: string[] }[];
}

async function setup(seed: number) {
  const cluster = await Cluster.start({ nodes: 5, seed, chunkBytes: CHUNK, leaseTtlMs: 1_000, leaseDriftMs: 50, repair: { downAfterMs: 1_000, orphanGraceMs: 2_000 } });
  const fs = cluster.client({ clientId: 'c1', dataTimeoutMs: 500 });
  const layout = async (path: string): Promise<Layout> => (await cluster.drive(fs.data['layout'](path, 'read'))) as Layout;
  /** Run until `done` holds, up to `ms` of virtual time. */
  const until = async (ms: number, done: () => Promise<boolean>): Promise<boolean> => {
    for (let t = 0; t < ms; t += 500) {
      if (await done()) return true;
      await cluster.runFor(500);
    }
    return done();
  };
  return { cluster, fs, layout, until };
}

describe('re-replication (sim)', () => {
  it('a node holding replicas is lost: every chunk gets three replicas again (version bumped), status shows none short, the bytes read back equal', async () => {
    const { cluster, fs, layout, until } = await setup(61);
    const data = bytes(4 * CHUNK + 100);
    await fs.writeFile('/r', data);
    const before = await layout('/r');
    const st = await cluster.status();
    const root = st.ministries.find((m) => m.subtree === '/')!;
    const victim = before.chunks[0]!.replicas.find((n) => n !== root.minister && n !== st.president)!;
    const held = before.chunks.filter((c) => c.replicas.includes(victim));
    await cluster.kill(victim);
    const restored = await until(30_000, async () => (await layout('/r')).chunks.every((c) => c.replicas.length === 3 && !c.replicas.includes(victim)));
    expect(restored).toBe(true);
    const after = await layout('/r');
    for (const c of held) {
      const now = after.chunks.find((x) => x.index === c.index)!;
      expect(now.version).toBe(c.version + 1);
      expect(now.chunkId).not.toBe(c.chunkId);
    }
    expect(await until(5_000, async () => (await cluster.status()).ministries.find((m) => m.subtree === '/')!.chunks?.underReplicated === 0)).toBe(true);
    expect(await fs.readFile('/r')).toEqual(data);
    await cluster.stop();
  }, 120_000);

  it('a replica with a flipped bit: the read falls back to another replica, and the damaged one is replaced from a good copy; a copy never committed is collected', async () => {
    const { cluster, fs, layout, until } = await setup(62);
    const data = bytes(2 * CHUNK, 3);
    await fs.writeFile('/b', data);
    const before = await layout('/b');
    const c = before.chunks[1]!;
    const bad = c.replicas[0]!;
    expect(cluster.sim!.host(bad).storage.flipBit(`chunks/${blockKey(c.chunkId, 0)}`, 12345)).toBe(true);
    // Every read works, whichever replica it tries first.
    for (let i = 0; i < 2; i++) expect(await fs.readFile('/b')).toEqual(data);
    const replaced = await until(20_000, async () => {
      const now = (await layout('/b')).chunks[1]!;
      return now.chunkId !== c.chunkId && now.version === c.version + 1 && now.replicas.length === 3;
    });
    expect(replaced).toBe(true);
    expect(await fs.readFile('/b')).toEqual(data);

    // A copy written and never committed (its writer died between copy and commit) is deleted
    // after the grace, and a late commit of it is refused.
    const c1 = (await layout('/b')).chunks[1]!;
    const dc = (fs.data as unknown as { c: { dataRequest(op: object, path: string, how: string): Promise<unknown>; askNode(n: string, op: object, t: number): Promise<{ ok: boolean; error?: { code: string } }> } }).c;
    const replaceOp = (newChunkId: string, replicas: string[]) => ({ op: 'layoutReplace', layoutReplace: { path: '/b', index: 1, chunkId: c1.chunkId, version: c1.version, failed: c1.replicas[0], newChunkId, replicas, token: 0 } });
    const proposed = ((await cluster.drive(dc.dataRequest(replaceOp('', []), '/b', 'minister'))) as { layoutReplace: Layout }).layoutReplace.chunks.find((x) => x.index === 1)!;
    expect(proposed.chunkId).not.toBe(c1.chunkId);
    const write = { op: 'dataWrite', dataWrite: { chunkId: proposed.chunkId, version: proposed.version, token: 0, offset: 0, data: bytes(100, 9) } };
    for (const n of proposed.replicas) expect((await cluster.drive(dc.askNode(n, write, 1_000))).ok).toBe(true);
    const read = { op: 'dataRead', dataRead: { chunkId: proposed.chunkId, version: proposed.version, offset: 0, length: 10 } };
    const collected = await until(10_000, async () => {
      const answers = await Promise.all(proposed.replicas.map((n) => cluster.drive(dc.askNode(n, read, 1_000))));
      return answers.every((a) => a.error?.code === 'ENOENT');
    });
    expect(collected).toBe(true);
    await expect(cluster.drive(dc.dataRequest(replaceOp(proposed.chunkId, proposed.replicas), '/b', 'minister'))).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(await fs.readFile('/b')).toEqual(data);
    await cluster.stop();
  }, 120_000);
});
