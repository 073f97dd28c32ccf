// A synced write survives its minister's crash (issue 17, the 4 KiB sync path, sim): sync() no
// longer waits for the ministry when a write stays inside the file's size (fdatasync: the bytes
// are durable on every replica when write returns, the mtime follows), so a crash right after
// must still leave the bytes and the size right; a write that grows the file commits its size
// before it returns; sync({ metadata: true }) commits the mtime too.

import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

const CHUNK = 64 * 1024;
const bytes = (n: number, salt = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + salt * 7 + (i >> 9)) % 251);

async function crashMinister(cluster: Cluster): Promise<void> {
  const minister = (await cluster.status()).ministries.find((m) => m.subtree === '/')!.minister;
  await cluster.kill(minister);
}

// One seed in `npm test` (the suite's budget); `npm run sim:data-sync` runs 8.
const SEEDS = Array.from({ length: Number(process.env['GOVFS_DATA_SYNC_SEEDS'] ?? 1) }, (_, i) => 51 + i);

describe('synced writes across a minister crash (sim)', () => {
  it.each(SEEDS)('seed %d: writes synced inside the size and past it, then the minister crashes: bytes, sizes and a metadata-synced mtime read back', async (seed) => {
    const cluster = await Cluster.start({ nodes: 5, seed, chunkBytes: CHUNK, leaseTtlMs: 1_000, leaseDriftMs: 50 });
    const fs = cluster.client({ clientId: 'c1', dataTimeoutMs: 500 });
    const base = bytes(2 * CHUNK, 1);
    await fs.writeFile('/f', base);
    await fs.writeFile('/g', bytes(1000, 3));
    const gBefore = await fs.stat('/g', { linearizable: true });
    // /f: inside the size, sync() only (nothing waits for the mtime), released, not closed.
    const f = await fs.open('/f', { mode: 'write' });
    await cluster.drive(f.write(CHUNK - 100, bytes(4096, 2)));
    await cluster.drive(f.sync());
    await cluster.drive(f.release());
    // /g: grown by one write, written inside by another, then a metadata sync.
    const g = await fs.open('/g', { mode: 'write' });
    await cluster.drive(g.write(CHUNK + 10, bytes(4096, 4)));
    await cluster.drive(g.write(100, bytes(50, 5)));
    await cluster.drive(g.sync({ metadata: true }));
    await cluster.drive(g.release());
    await crashMinister(cluster);

    const other = cluster.client({ clientId: 'c2', dataTimeoutMs: 500 });
    const wantF = Uint8Array.from(base);
    wantF.set(bytes(4096, 2), CHUNK - 100);
    const wantG = new Uint8Array(CHUNK + 10 + 4096);
    wantG.set(bytes(1000, 3));
    wantG.set(bytes(50, 5), 100);
    wantG.set(bytes(4096, 4), CHUNK + 10);
    expect(await other.readFile('/f')).toEqual(wantF);
    expect((await other.stat('/f', { linearizable: true })).size).toBe(base.length);
    expect(await other.readFile('/g')).toEqual(wantG);
    const gAfter = await other.stat('/g', { linearizable: true });
    expect(gAfter.size).toBe(wantG.length);
    expect(gAfter.mtime).toBeGreaterThan(gBefore.mtime);
    await cluster.stop();
  });

  it('close commits the mtime of writes inside the size', async () => {
    const cluster = await Cluster.start({ nodes: 3, seed: 54, chunkBytes: CHUNK, leaseTtlMs: 1_000, leaseDriftMs: 50 });
    const fs = cluster.client({ clientId: 'c1', dataTimeoutMs: 500 });
    await fs.writeFile('/m', bytes(1000, 6));
    const before = await fs.stat('/m', { linearizable: true });
    const h = await fs.open('/m', { mode: 'write' });
    await cluster.drive(h.write(10, bytes(10, 7)));
    await cluster.drive(h.close());
    const after = await fs.stat('/m', { linearizable: true });
    expect(after.size).toBe(1000);
    expect(after.mtime).toBeGreaterThan(before.mtime);
    await cluster.stop();
  });
});
