// A clerk that comes back behind its minister's snapshot, on worker threads and lmdb: the
// minister compacts its log every few dozen entries (ClusterOptions.snapshotEntries), so the
// restarted clerk gets the snapshot (InstallSnapshot, stored in place, restored in slices of
// its thread: issue 19, point 4) rather than the entries. Then its minister is killed: the
// ministry goes on with the two clerks, the restored one among them, and has every file.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a clerk restored from its minister snapshot on worker threads', () => {
  it('catches up through the snapshot, and the ministry keeps every acknowledged file when its minister dies after', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'govfs-snapshot-install-'));
    dirs.push(dataDir);
    const cluster = await Cluster.start({ nodes: 6, scheduler: 'threads', threads: 2, dataDir, snapshotEntries: 20 });
    try {
      const fs = cluster.client();
      await fs.mkdir('/d');
      await Promise.all(Array.from({ length: 10 }, (_, k) => fs.create(`/d/a${k}`)));
      const root = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
      const back = root.clerks[0]!;
      await cluster.kill(back);
      for (let k = 0; k < 300; k += 30) await Promise.all(Array.from({ length: 30 }, (_, j) => fs.create(`/d/b${k + j}`)));
      await cluster.restart(back);
      const caughtUp = await cluster.waitFor(async () => {
        const st = await cluster.status();
        const m = st.ministries.find((x) => x.subtree === '/')!;
        const n = st.nodes.find((x) => x.id === back);
        return n !== undefined && n.up && n.caughtUp && n.applied >= m.commitIndex;
      }, 30_000);
      expect(caughtUp).toBe(true);
      await cluster.kill(root.minister);
      const names = (await fs.ls('/d', { linearizable: true })).map((e) => e.name).sort();
      expect(names).toEqual([...Array.from({ length: 10 }, (_, k) => `a${k}`), ...Array.from({ length: 300 }, (_, k) => `b${k}`)].sort());
      const after = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
      expect(after.minister).not.toBe(root.minister);
      expect([after.minister, ...after.clerks]).toContain(back);
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
