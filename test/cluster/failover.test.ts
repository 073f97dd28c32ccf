// Failover scenarios (issue 4, item 8), on the simulator.

import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

async function rootOf(cluster: Cluster) {
  const st = await cluster.status();
  return { st, root: st.ministries.find((m) => m.subtree === '/')! };
}

describe('failover (sim)', () => {
  it('replaces a failed minister with the most up-to-date clerk, keeping every acknowledged change', async () => {
    const cluster = await Cluster.start({ nodes: 5, seed: 2 });
    const fs = cluster.client();
    for (let i = 0; i < 20; i++) await fs.create(`/f${i}`);
    const { root } = await rootOf(cluster);
    await cluster.kill(root.minister);
    await fs.create('/after');
    const { root: now } = await rootOf(cluster);
    expect(now.minister).not.toBe(root.minister);
    expect(root.clerks).toContain(now.minister);
    expect(now.term).toBeGreaterThan(root.term);
    const names = (await fs.ls('/', { linearizable: true })).map((e) => e.name);
    for (let i = 0; i < 20; i++) expect(names).toContain(`f${i}`);
    expect(names).toContain('after');
    await cluster.stop();
  });

  it('replaces a failed clerk from the idle pool', async () => {
    const cluster = await Cluster.start({ nodes: 5, seed: 3 });
    const fs = cluster.client();
    await fs.mkdir('/d');
    const { st, root } = await rootOf(cluster);
    expect(st.idle.length).toBe(1);
    const idle = st.idle[0]!;
    await cluster.kill(root.clerks[0]!);
    expect(await cluster.waitFor(async () => (await rootOf(cluster)).root.clerks.includes(idle), 10_000)).toBe(true);
    // The new clerk serves only once caught up; then it has the directory.
    expect(await cluster.waitFor(async () => (await cluster.status()).nodes.find((n) => n.id === idle)!.caughtUp, 10_000)).toBe(true);
    expect((await fs.ls('/')).map((e) => e.name)).toContain('d');
    await cluster.stop();
  });

  it('a new president keeps the healthy ministry as it is', async () => {
    const cluster = await Cluster.start({ nodes: 5, seed: 4 });
    const { st, root } = await rootOf(cluster);
    await cluster.kill(st.president);
    expect(await cluster.waitFor(async () => {
      const p = (await cluster.status()).president;
      return p !== '' && p !== st.president;
    }, 10_000)).toBe(true);
    await cluster.runFor(2_000);
    const { root: after } = await rootOf(cluster);
    expect(after.minister).toBe(root.minister);
    const fs = cluster.client();
    await fs.create('/still-works');
    await cluster.stop();
  });

  it('marks a ministry with a majority down EUNAVAILABLE, and recovers when nodes return', async () => {
    const cluster = await Cluster.start({ nodes: 5, seed: 5 });
    const fs = cluster.client({ deadlineMs: 3_000 });
    await fs.create('/before');
    const { root } = await rootOf(cluster);
    await cluster.kill(root.minister);
    await cluster.kill(root.clerks[0]!);
    await expect(fs.create('/during')).rejects.toMatchObject({ code: 'EUNAVAILABLE' });
    expect((await rootOf(cluster)).root.down).toBe(true);
    await cluster.restart(root.minister);
    await cluster.restart(root.clerks[0]!);
    const fs2 = cluster.client();
    await fs2.create('/after');
    expect((await fs2.ls('/')).map((e) => e.name)).toEqual(expect.arrayContaining(['before', 'after']));
    await cluster.stop();
  });
});
