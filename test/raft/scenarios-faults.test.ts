// Multi-seed scenarios with crashes, partitions and an unreliable network (elected mode),
// after the Raft paper and the MIT 6.824 labs. The harness checks the safety invariants after
// every event; the assertions here check what each scenario promises.

import { describe, expect, it } from 'vitest';
import { EntryKind, type Entry, type RaftMessage } from '../../src/raft/index.js';
import { Sim, enc } from './harness.js';
import { Manual } from './manual.js';
import { converge, seeds } from './scenarios.js';

const ID3 = ['a', 'b', 'c'];
const ID5 = ['a', 'b', 'c', 'd', 'e'];

/** Propose `value` at `node` (which believes it leads) and return its index. */
function proposeAt(sim: Sim, node: string, value: string): number | undefined {
  const r = sim.core(node).propose(enc(value));
  sim.drain(sim.node(node));
  return r.ok ? r.index : undefined;
}

describe('rejoining stale leader', () => {
  it.each(seeds(100))('seed %i: its uncommitted entries are replaced, never applied', (seed) => {
    const sim = new Sim({ seed, ids: ID3 });
    const l1 = sim.waitStableLeader(3000).id;
    sim.proposeAndWait(3);
    // l1 is cut off and keeps accepting writes that can never commit.
    sim.isolate(l1);
    for (let i = 0; i < 3; i++) proposeAt(sim, l1, `stale-${i}`);
    const notL1 = (): boolean => (sim.stableLeader()?.id ?? l1) !== l1;
    expect(sim.runUntil(notL1, 3000)).toBe(true);
    const l2 = sim.stableLeader()!.id;
    sim.proposeAndWait(2);
    // l2 is cut off too; l1 comes back and must not win with its stale log.
    sim.partition([l1, ID3.find((x) => x !== l1 && x !== l2)!], [l2]);
    const notL2 = (): boolean => {
      const s = sim.stableLeader();
      return s !== undefined && s.id !== l2;
    };
    expect(sim.runUntil(notL2, 4000)).toBe(true);
    expect(sim.stableLeader()!.id).not.toBe(l1);
    sim.proposeAndWait(2);
    converge(sim);
    for (let i = 0; i < 3; i++) expect(sim.appliedIndex(`stale-${i}`)).toBeUndefined();
  });
});

describe('backup: a leader overwrites many divergent entries quickly', () => {
  it.each(seeds(40))('seed %i', (seed) => {
    // In-order links (like TCP), so every rejection below comes from divergent logs.
    const sim = new Sim({ seed, ids: ID5, fifo: true, config: { maxEntriesPerMsg: 64 } });
    let rejects = 0;
    sim.onSend = (m: RaftMessage) => {
      if (m.type === 'govfs.raft.AppendResponse' && m.reject && m.index > 0) rejects++;
    };
    const l1 = sim.waitStableLeader(3000).id;
    sim.proposeAndWait(5);
    // l1 and one follower get 50 entries that cannot commit.
    const others = ID5.filter((x) => x !== l1);
    sim.partition([l1, others[0]!], others.slice(1));
    for (let i = 0; i < 50; i++) proposeAt(sim, l1, `lost1-${i}`);
    // The other three elect a leader and commit 50 entries.
    const newLeader = (): string | undefined => {
      const s = sim.stableLeader();
      return s && others.slice(1).includes(s.id) ? s.id : undefined;
    };
    expect(sim.runUntil(() => newLeader() !== undefined, 4000)).toBe(true);
    const l2 = newLeader()!;
    for (let i = 0; i < 50; i++) proposeAt(sim, l2, `ok1-${i}`);
    expect(sim.waitApplied('ok1-49', 3, 4000)).toBe(true);
    // l2 and one of its followers get 50 more entries that cannot commit.
    const rest = others.slice(1).filter((x) => x !== l2);
    sim.partition([l2, rest[0]!], [rest[1]!, l1, others[0]!]);
    for (let i = 0; i < 50; i++) proposeAt(sim, l2, `lost2-${i}`);
    // The old minority plus one returns: it must elect a leader with the committed entries.
    const l3 = (): string | undefined => {
      const s = sim.stableLeader();
      return s && [rest[1]!, l1, others[0]!].includes(s.id) ? s.id : undefined;
    };
    expect(sim.runUntil(() => l3() !== undefined, 5000)).toBe(true);
    for (let i = 0; i < 50; i++) proposeAt(sim, l3()!, `ok2-${i}`);
    expect(sim.waitApplied('ok2-49', 3, 5000)).toBe(true);
    converge(sim);
    for (let i = 0; i < 50; i++) {
      expect(sim.appliedIndex(`lost1-${i}`)).toBeUndefined();
      expect(sim.appliedIndex(`lost2-${i}`)).toBeUndefined();
      expect(sim.appliedCount(`ok1-${i}`)).toBe(5);
    }
    // Fast backtracking: a handful of rejections per follower, not one per divergent entry.
    expect(rejects).toBeLessThanOrEqual(40);
  });
});

describe('persistence across a crash of all nodes', () => {
  it.each(seeds(100))('seed %i', (seed) => {
    const ids = seed % 2 ? ID3 : ID5;
    const sim = new Sim({ seed, ids, snapshotEvery: seed % 3 === 0 ? 5 : 0 });
    const committed: string[] = [];
    for (let round = 0; round < 4; round++) {
      sim.waitStableLeader(4000);
      for (let i = 0; i < 3; i++) committed.push(sim.proposeAndWait(ids.length));
      // Everyone crashes at once (some mid-Ready), then restarts from its store.
      sim.crashMidReady = 0.05;
      sim.runFor(sim.rng.int(0, 30));
      sim.crashMidReady = 0;
      for (const id of ids) sim.crash(id);
      for (const id of ids) sim.restart(id);
    }
    converge(sim);
    for (const v of committed) expect(sim.appliedCount(v)).toBe(ids.length);
  });
});

describe('Figure 8 of the Raft paper', () => {
  const mk = (term: number, index: number, v = `t${term}i${index}`): Entry => ({ term, index, kind: EntryKind.Normal, data: enc(v) });

  it('a leader does not commit an entry of an earlier term by counting replicas', () => {
    // S1 led term 2 and wrote index 2 only to itself; S5 led term 3 and wrote a different
    // index 2 only to itself. Now S1 leads term 4 and copies its term-2 entry to S2 and S3.
    const c = new Manual([]);
    const voters = ['s1', 's2', 's3', 's4', 's5'];
    // The paper's setting: plain elections, no pre-vote or leases.
    const cfg = { maxEntriesPerMsg: 1, preVote: false, checkQuorum: false };
    c.add('s1', cfg, voters, { hardState: { term: 3, vote: '', commit: 1 }, entries: [mk(1, 1), mk(2, 2)] });
    for (const id of ['s2', 's3', 's4']) c.add(id, cfg, voters, { hardState: { term: 3, vote: '', commit: 1 }, entries: [mk(1, 1)] });
    c.add('s5', cfg, voters, { hardState: { term: 3, vote: 's5', commit: 1 }, entries: [mk(1, 1), mk(3, 2)] });
    const cut = (id: string) => (m: RaftMessage) => m.from === id || m.to === id;
    // S1 becomes leader of term 4 with S2 and S3 (S4 and S5 are cut off).
    for (let i = 0; i < 30 && c.core('s1').softState().role !== 'leader'; i++) {
      c.tick('s1');
      c.deliver((m) => m.type === 'govfs.raft.RequestVote' || m.type === 'govfs.raft.VoteResponse', (m) => cut('s5')(m) || cut('s4')(m));
    }
    expect(c.core('s1').softState()).toMatchObject({ role: 'leader', term: 4 });
    // S2 and S3 take index 2 (term 2) from S1, but never S1's own term-4 entry (index 3).
    const has2 = (id: string): boolean => c.core(id).status().lastIndex >= 2;
    for (let i = 0; i < 20 && c.outbox.length > 0; i++) {
      c.deliver(
        () => true,
        (m) => cut('s5')(m) || cut('s4')(m) || (m.type === 'govfs.raft.AppendEntries' && has2(m.to) && m.entries.some((e) => e.index >= 3)),
      );
    }
    expect(c.stores.get('s2')!.entries.map((e) => e.term)).toEqual([1, 2]);
    expect(c.stores.get('s3')!.entries.map((e) => e.term)).toEqual([1, 2]);
    expect(c.core('s1').status().progress!['s2']!.match).toBe(2);
    // Index 2 is on S1, S2 and S3 — a majority, acknowledged in term 4 — yet it is of term 2
    // and must not count as committed.
    expect(c.core('s1').status().commit).toBe(1);
    expect(c.applied.get('s1')!.map((e) => e.index)).toEqual([1]);
    // S1 crashes; S5 wins term 5 with S2, S3, S4 (its last term 3 beats their 2) and
    // overwrites index 2 everywhere. Had S1 committed it, state machine safety would break.
    c.outbox = [];
    c.cores.delete('s1');
    for (let i = 0; i < 60 && c.core('s5').softState().role !== 'leader'; i++) {
      c.tick('s5');
      c.settle();
    }
    expect(c.core('s5').softState().role).toBe('leader');
    c.settle();
    for (const id of ['s2', 's3', 's4', 's5']) {
      expect(c.core(id).entries().find((e) => e.index === 2)!.term).toBe(3);
      expect(c.applied.get(id)!.map((e) => `${e.index}:${e.term}`)).toContain('2:3');
    }
  });

  it.each(seeds(100))('seed %i: unreliable network with leader crashes (Figure 8, unreliable)', (seed) => {
    // Every third seed runs classic Raft (no pre-vote, no check-quorum).
    const classic = seed % 3 === 0 ? { preVote: false, checkQuorum: false } : {};
    const sim = new Sim({ seed, ids: ID5, drop: 0.1, duplicate: 0.05, latency: [1, 40], snapshotEvery: seed % 2 ? 6 : 0, config: classic });
    const rng = sim.rng;
    for (let iter = 0; iter < 40; iter++) {
      const l = sim.leader();
      if (l) for (let k = 0; k < rng.int(1, 3); k++) sim.propose();
      sim.runFor(rng.chance(0.1) ? rng.int(100, 500) : rng.int(1, 30));
      const l2 = sim.leader();
      if (l2 && rng.chance(0.5)) sim.crash(l2.id);
      if (sim.upIds().length < 3) sim.restart(rng.pick(ID5.filter((x) => !sim.node(x).up)));
    }
    converge(sim);
  });
});

describe('unreliable network', () => {
  it.each(seeds(80))('seed %i: drops, duplicates and reordering; still agreement and progress', (seed) => {
    const ids = seed % 2 ? ID3 : ID5;
    const sim = new Sim({ seed, ids, drop: 0.1, duplicate: 0.1, latency: [1, 30], config: { maxInflight: 8, maxEntriesPerMsg: 4 } });
    const values: string[] = [];
    for (let i = 0; i < 8; i++) values.push(sim.proposeAndWait(Math.floor(ids.length / 2) + 1, 15_000));
    for (let i = 0; i < 20; i++) {
      sim.propose();
      sim.runFor(sim.rng.int(1, 20));
    }
    converge(sim);
    for (const v of values) expect(sim.appliedCount(v)).toBe(ids.length);
  });
});

describe('linearizable reads under faults', () => {
  it.each(seeds(100))('seed %i: a read index covers everything committed before the read was asked', (seed) => {
    const sim = new Sim({ seed, ids: ID5, drop: 0.05, latency: [1, 20], snapshotEvery: seed % 2 ? 6 : 0 });
    const rng = sim.rng;
    const issued = new Map<string, number>();
    let answered = 0;
    sim.onReadState = (node, r) => {
      const floor = issued.get(r.ctx);
      expect(floor, `read ${r.ctx} answered on ${node} was issued`).toBeDefined();
      // Linearizability of ReadIndex: nothing committed before the read began may be missing.
      expect(r.index, `read ${r.ctx} on ${node} (seed ${seed})`).toBeGreaterThanOrEqual(floor!);
      answered++;
    };
    let n = 0;
    for (let round = 0; round < 40; round++) {
      // Reads at random nodes, including stale leaders cut off from the majority.
      for (let k = 0; k < rng.int(1, 4); k++) {
        const id = rng.pick(sim.upIds());
        const ctx = `r${++n}`;
        issued.set(ctx, sim.maxCommit());
        sim.core(id).readIndex(ctx);
        sim.drain(sim.node(id));
      }
      for (let k = 0; k < rng.int(0, 3); k++) sim.propose();
      sim.runFor(rng.int(5, 80));
      const r = rng.next();
      if (r < 0.15) {
        const l = sim.leader();
        if (l) sim.isolate(l.id);
      } else if (r < 0.3) sim.heal();
      else if (r < 0.4) sim.crash(rng.pick(ID5));
      else if (r < 0.6) for (const id of ID5) sim.restart(id);
    }
    converge(sim);
    expect(answered).toBeGreaterThan(0);
  });
});
