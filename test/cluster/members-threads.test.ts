// cluster.addNode() and removeNode() on worker threads (issue 20): a node spawned on a thread
// joins as a learner and serves; removing the root minister hands its role over and loses
// nothing acknowledged; started again on its data folder, the cluster keeps both changes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'govfs-members-threads-'));
let cluster: Cluster | null = null;

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('membership on worker threads', () => {
  it('adds a node on a thread and removes the minister', async () => {
    cluster = await Cluster.start({ nodes: 4, scheduler: 'threads', threads: 2, dataDir: dir });
    const fs = cluster.client({ deadlineMs: 30_000 });
    await fs.create('/before');
    const id = await cluster.addNode();
    expect(id).toBe('n5');
    const st = await cluster.status();
    expect(st.members).toContain('n5');
    expect(st.nodes.find((n) => n.id === 'n5')?.up).toBe(true);
    const minister = st.ministries.find((m) => m.subtree === '/')!.minister;
    await cluster.removeNode(minister);
    const after = await cluster.status();
    expect(after.members).not.toContain(minister);
    expect(after.ministries.find((m) => m.subtree === '/')!.minister).not.toBe(minister);
    await fs.create('/after');
    expect((await fs.ls('/', { linearizable: true })).map((e) => e.name).sort()).toEqual(['after', 'before']);

    // Started again on the same folder with the same flags: the stored cluster log says n5
    // joined and the minister left; n5 comes back, the removed node stays down.
    await cluster.stop();
    cluster = await Cluster.start({ nodes: 4, scheduler: 'threads', threads: 2, dataDir: dir });
    expect(cluster.nodeIds).toContain('n5');
    expect(cluster.nodeIds).not.toContain(minister);
    const again = await cluster.status();
    expect(again.members).toEqual(after.members);
    expect(again.nodes.find((n) => n.id === 'n5')?.up).toBe(true);
    const fs2 = cluster.client({ deadlineMs: 30_000 });
    expect((await fs2.ls('/', { linearizable: true })).map((e) => e.name).sort()).toEqual(['after', 'before']);
  }, 120_000);
});
