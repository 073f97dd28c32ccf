// Failover scenarios (issue 4, item 8), on the simulator.

import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Cluster, type ClusterStatusView } from '../../src/cluster.js';

async function rootOf(cluster: Cluster) {
  const st = await cluster.status();
  return { st, root: st.ministries.find((m) => m.subtree === '/')! };
}

/** Where `status` places node `id`: every place it is listed (idle, minister or clerk of a
 * ministry), and what its node-list entry says. */
function placesOf(st: ClusterStatusView, id: string) {
  const places = [
    ...st.idle.filter((n) => n === id).map(() => 'idle'),
    ...st.ministries.flatMap((m) => [...(m.minister === id ? [`minister ${m.id}`] : []), ...(m.clerks.includes(id) ? [`clerk ${m.id}`] : [])]),
  ];
  const node = st.nodes.find((n) => n.id === id)!;
  return { places, node, listed: node.up ? (node.role === 'idle' ? 'idle' : `${node.role} ${node.ministry}`) : 'down' };
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
    // A fresh client: the writer's own would wait (read your writes) for an index that a
    // lossy ministry never reaches, and time out rather than show what is missing.
    const names = (await cluster.client({ deadlineMs: 20_000 }).ls('/', { linearizable: true })).map((e) => e.name);
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

  // Issue: a restarted old minister showed in status as 'minister m0 ... caught-up no' in the
  // node list while the ministry list had it idle. Its node replays an old copy of the cluster
  // log (and may hold a stale report of the role it left); status must show the appointment.
  for (const { nodes, expected } of [
    { nodes: 5, expected: 'idle' }, // an idle node took the free clerk seat: nothing left for it
    { nodes: 4, expected: 'clerk' }, // no idle node: the ministry ran short, so it is re-appointed
  ] as const) {
    it(`a restarted minister that was replaced shows once, with its true role (${expected}), never as minister`, async () => {
      for (const seed of [1, 2, 3]) {
        const cluster = await Cluster.start({ nodes, seed });
        const fs = cluster.client();
        for (let i = 0; i < 5; i++) await fs.create(`/f${i}`);
        const { root } = await rootOf(cluster);
        const old = root.minister;
        await cluster.kill(old);
        expect(await cluster.waitFor(async () => {
          const r = (await rootOf(cluster)).root;
          return r.minister !== old && !r.down && r.clerks.length === Math.min(2, nodes - 3);
        }, 10_000)).toBe(true);
        await fs.create('/after');
        await cluster.restart(old);
        let settledAt = -1;
        for (let step = 0; step < 200 && (settledAt < 0 || step < settledAt + 40); step++) {
          const st = await cluster.status();
          const { places, node, listed } = placesOf(st, old);
          const where = `seed ${seed}, ${step * 25} ms after the restart: places ${JSON.stringify(places)}, node list ${JSON.stringify(node)}`;
          expect(places.some((p) => p.startsWith('minister')), where).toBe(false);
          expect(node.role, where).not.toBe('minister');
          expect(places.length, where).toBe(1);
          if (node.up) expect(listed, where).toBe(places[0]);
          if (settledAt < 0 && node.up && places[0]!.startsWith(expected) && (expected === 'idle' || node.caughtUp)) settledAt = step;
          await cluster.runFor(25);
        }
        expect(settledAt, `seed ${seed}: never settled as ${expected}`).toBeGreaterThanOrEqual(0);
        await cluster.stop();
      }
    }, 120_000);
  }

  it('logs every election, appointment and failover at info, with its cause', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const cluster = await Cluster.start({ nodes: 5, seed: 6, logger });
    const fs = cluster.client();
    await fs.create('/f');
    const { st, root } = await rootOf(cluster);
    const msgs = (): string[] => lines.map((l) => String(l['msg']));
    // The first election: a pre-vote started by an election timeout, the vote, the win.
    expect(lines).toContainEqual(expect.objectContaining({ group: 'cluster', cause: 'electionTimeout', preVote: true, node: st.president }));
    expect(lines).toContainEqual(expect.objectContaining({ group: 'cluster', cause: 'preVoteWon', preVote: false, node: st.president }));
    expect(msgs()).toContain(`raft election won: ${st.president} leads cluster in term 1 (votes ${(lines.find((l) => String(l['msg']).startsWith('raft election won')) as { votes: string[] }).votes.join(', ')})`);
    expect(lines).toContainEqual(expect.objectContaining({ cause: 'bootstrap', newMinister: root.minister }));
    // A failover: the fence names the silent minister and for how long, the appointment the new one.
    lines.length = 0;
    await cluster.kill(root.minister);
    await fs.create('/g');
    const fence = lines.find((l) => l['cause'] === 'ministerSilent');
    expect(fence, msgs().join('\n')).toMatchObject({ ministry: root.id, oldMinister: root.minister, order: { order: 'fence' } });
    expect(String(fence!['msg'])).toMatch(new RegExp(`fenced to replace minister ${root.minister}: no probe answer for \\d+ ms \\(limit 400 ms\\)`));
    const now = (await rootOf(cluster)).root;
    expect(lines).toContainEqual(expect.objectContaining({ cause: 'failover', ministry: root.id, oldMinister: root.minister, newMinister: now.minister }));
    // A president that dies: someone's election timeout fires, saying how long the leader was silent.
    lines.length = 0;
    await cluster.kill(st.president);
    expect(await cluster.waitFor(async () => lines.some((l) => String(l['msg']).startsWith('raft election won')), 10_000)).toBe(true);
    const timeout = lines.find((l) => l['cause'] === 'electionTimeout');
    expect(timeout).toMatchObject({ group: 'cluster', lastLeader: st.president, preVote: true });
    expect(timeout!['silentMs']).toBeGreaterThanOrEqual(100);
    expect(String(timeout!['msg'])).toMatch(new RegExp(`no message from leader ${st.president} for \\d+ ms`));
    await cluster.stop();
  });

  it('slow probe answers are not failures: with round trips over two probe intervals the ministry keeps its staff and term', async () => {
    // One-way latency 55-75 ms: every probe answer takes longer than 100 ms, the old probe
    // timeout (twice the 50 ms probe interval). Such answers used to count as silence, so the
    // president took live members for failed (on a busy machine: fences and re-appointments).
    // (The cluster log needs an election timeout above such round trips: the real default.)
    const cluster = await Cluster.start({ nodes: 5, seed: 8, electionMs: 1_000, network: { minLatencyMs: 55, maxLatencyMs: 75 } });
    const fs = cluster.client();
    await fs.create('/a');
    const { st, root } = await rootOf(cluster);
    for (let i = 0; i < 20; i++) {
      await cluster.runFor(500);
      const now = await rootOf(cluster);
      expect(now.root, `after ${(i + 1) * 500} ms`).toMatchObject({ minister: root.minister, clerks: root.clerks, term: root.term, down: false });
      expect(now.st.president).toBe(st.president);
    }
    await fs.create('/b');
    await cluster.stop();
  }, 60_000);

  // president-core.ts: the president changes a ministry's members only once its minister "has
  // committed an entry of its term: until then the entries committed before may be held by a
  // bare majority that the change would leave a minority". Here the changes are on m and c1
  // only; c1 takes over but is cut off from its clerks (not from the president), so it can
  // copy nothing. Dropping the failed m and adding the idle node then would leave those changes
  // on c1 alone, and c1's own failure would lose them. Kept as it is, the ministry still has m
  // (restarted, with its log), and the next failover appoints it.
  it.each([21, 22])('seed %i: a new minister cut off from its clerks keeps its staff until it has committed, so the next failover loses nothing', async (seed) => {
    const cluster = await Cluster.start({ nodes: 5, seed });
    const fs = cluster.client({ deadlineMs: 20_000 });
    await fs.create('/base');
    const { st, root } = await rootOf(cluster);
    const [m, c1, c2] = [root.minister, root.clerks[0]!, root.clerks[1]!];
    const idle = st.idle[0]!;
    // Acknowledged changes held by a bare majority: m and c1 (c2 is cut off from both).
    cluster.partition([c2], [m, c1]);
    const acked = ['base'];
    for (let i = 0; i < 5; i++) {
      await fs.create(`/acked${i}`);
      acked.push(`acked${i}`);
    }
    // c1 will lead (its log is the most up to date of c1 and c2) without reaching a clerk:
    // c2 is still cut off from it, and so is the idle node that could join.
    cluster.partition([c1], [idle]);
    await cluster.kill(m);
    expect(await cluster.waitFor(async () => (await rootOf(cluster)).root.minister === c1, 10_000)).toBe(true);
    await cluster.runFor(2_000);
    // m comes back with its log; c1 fails before it ever reached a clerk.
    await cluster.restart(m);
    await cluster.kill(c1);
    cluster.heal();
    // A fresh client: the writer's own would wait (read your writes) for an index that a
    // lossy ministry never reaches, and time out rather than show what is missing.
    const names = (await cluster.client({ deadlineMs: 20_000 }).ls('/', { linearizable: true })).map((e) => e.name);
    const { root: after } = await rootOf(cluster);
    expect(after.minister).not.toBe(c1);
    expect(names).toEqual(expect.arrayContaining(acked));
    await cluster.stop();
  }, 30_000);
});
