// Multi-seed scenarios on a healthy or mildly faulty network (elected mode). Every event of
// every run is checked by the harness invariants (one leader per term, log matching, leader
// completeness, state machine safety, monotonic commit/apply); the assertions here check
// liveness and the scenario's own promises.

import { describe, expect, it } from 'vitest';
import type { RaftMessage } from '../../src/raft/index.js';
import { Sim } from './harness.js';
import { converge, seeds, terms } from './scenarios.js';

const ID3 = ['a', 'b', 'c'];
const ID5 = ['a', 'b', 'c', 'd', 'e'];
const pickIds = (seed: number): string[] => (seed % 2 === 0 ? ID3 : ID5);

describe('initial election', () => {
  it.each(seeds(150))('seed %i: one leader, agreed by all, stays without faults', (seed) => {
    const ids = pickIds(seed);
    const sim = new Sim({ seed, ids });
    const l = sim.waitStableLeader(3000);
    const term = l.core!.softState().term;
    sim.runFor(3000);
    expect(sim.leader()?.id).toBe(l.id);
    for (const id of ids) expect(sim.core(id).softState()).toMatchObject({ term, leader: l.id });
  });
});

describe('re-election after leader loss', () => {
  it.each(seeds(100))('seed %i', (seed) => {
    const sim = new Sim({ seed, ids: ID3 });
    const l1 = sim.waitStableLeader(3000);
    const t1 = l1.core!.softState().term;
    sim.isolate(l1.id);
    const other = (): boolean => (sim.stableLeader()?.id ?? l1.id) !== l1.id;
    expect(sim.runUntil(other, 3000)).toBe(true);
    const l2 = sim.stableLeader()!;
    const t2 = l2.core!.softState().term;
    expect(t2).toBeGreaterThan(t1);
    // The old leader, cut off from a majority, stepped down by check-quorum.
    sim.runFor(300);
    expect(sim.core(l1.id).softState().role).not.toBe('leader');
    // Rejoining does not disturb the new leader (pre-vote): same leader, same term.
    sim.heal();
    sim.runFor(1500);
    expect(sim.stableLeader()?.id).toBe(l2.id);
    expect(terms(sim)).toEqual([t2, t2, t2]);
    // Without a majority there is no leader...
    const others = ID3.filter((x) => x !== l2.id);
    sim.partition([l2.id], [others[0]!], [others[1]!]);
    sim.runFor(2000);
    expect(sim.stableLeader()).toBeUndefined();
    // ...and with one back, there is.
    sim.partition([l2.id, others[0]!], [others[1]!]);
    sim.waitStableLeader(3000);
  });
});

describe('many elections with random crashes', () => {
  it.each(seeds(80))('seed %i', (seed) => {
    const sim = new Sim({ seed, ids: ID5 });
    const rng = sim.rng;
    for (let round = 0; round < 8; round++) {
      // Crash up to two nodes (a majority stays up), restart the rest.
      const down = rng.shuffle([...ID5]).slice(0, rng.int(0, 2));
      for (const id of ID5) if (!down.includes(id)) sim.restart(id);
      for (const id of down) sim.crash(id);
      sim.waitStableLeader(4000);
      sim.proposeAndWait(3, 5000);
    }
    converge(sim);
  });
});

describe('basic agreement', () => {
  it.each(seeds(100))('seed %i: values commit everywhere, in proposal order, at the proposed index', (seed) => {
    const ids = pickIds(seed);
    const sim = new Sim({ seed, ids });
    sim.waitStableLeader(3000);
    let last = 0;
    for (let i = 0; i < 10; i++) {
      const p = sim.propose()!;
      expect(p).toBeDefined();
      expect(sim.waitApplied(p.value, ids.length, 2000)).toBe(true);
      expect(sim.appliedIndex(p.value)).toBe(p.index);
      expect(p.index).toBeGreaterThan(last);
      last = p.index;
    }
  });
});

describe('agreement despite follower failure', () => {
  it.each(seeds(100))('seed %i', (seed) => {
    const sim = new Sim({ seed, ids: ID3 });
    const l = sim.waitStableLeader(3000);
    const [f1, f2] = ID3.filter((x) => x !== l.id) as [string, string];
    sim.crash(f1);
    const v1 = sim.proposeAndWait(2, 5000);
    // With both followers gone, nothing commits.
    sim.crash(f2);
    const p = sim.propose();
    sim.runFor(1000);
    if (p) expect(sim.appliedIndex(p.value)).toBeUndefined();
    // Back up: the cluster commits again and the crashed followers catch up.
    sim.restart(f1);
    sim.restart(f2);
    const v2 = converge(sim);
    expect(sim.appliedCount(v1)).toBe(3);
    expect(sim.appliedCount(v2)).toBe(3);
  });
});

describe('no agreement without a majority', () => {
  it.each(seeds(100))('seed %i', (seed) => {
    const sim = new Sim({ seed, ids: ID5 });
    const l = sim.waitStableLeader(3000);
    const commitBefore = l.core!.status().commit;
    const others = ID5.filter((x) => x !== l.id);
    sim.partition([l.id, others[0]!], others.slice(1));
    const p = l.core!.propose(new TextEncoder().encode('minority'));
    sim.drain(l);
    expect(p.ok).toBe(true);
    sim.runFor(1500);
    expect(sim.appliedIndex('minority')).toBeUndefined();
    expect(sim.core(l.id).status().commit).toBe(commitBefore);
    expect(sim.core(others[0]!).status().commit).toBe(commitBefore);
    // The majority side elects and commits on its own meanwhile.
    sim.proposeAndWait(3, 5000);
    converge(sim);
  });
});

describe('concurrent proposals', () => {
  it.each(seeds(100))('seed %i: all accepted proposals of a stable leader commit exactly once, in order', (seed) => {
    const ids = pickIds(seed);
    const sim = new Sim({ seed, ids, latency: [1, 8], config: { maxEntriesPerMsg: 16, maxInflight: 4 } });
    const l = sim.waitStableLeader(3000);
    const term = l.core!.softState().term;
    const accepted: { value: string; index: number }[] = [];
    for (let i = 0; i < 40; i++) {
      const p = sim.propose()!;
      accepted.push(p);
    }
    for (let t = 0; t < 30; t++) {
      for (let k = 0; k < sim.rng.int(0, 3); k++) accepted.push(sim.propose()!);
      sim.runFor(sim.rng.int(1, 15));
    }
    expect(accepted.every((p) => p !== undefined)).toBe(true);
    const lastValue = accepted[accepted.length - 1]!.value;
    expect(sim.waitApplied(lastValue, ids.length, 5000)).toBe(true);
    expect(sim.leader()!.core!.softState().term).toBe(term);
    const idx = accepted.map((p) => sim.appliedIndex(p.value));
    expect(idx).toEqual(accepted.map((p) => p.index));
    for (let i = 1; i < idx.length; i++) expect(idx[i]).toBe(idx[i - 1]! + 1);
  });
});

describe('message count', () => {
  it.each(seeds(50))('seed %i: bounded messages per agreement, and batching', (seed) => {
    const ids = pickIds(seed);
    const n = ids.length;
    const sim = new Sim({ seed, ids, latency: [1, 3] });
    sim.waitStableLeader(3000);
    sim.runFor(200);
    let count = 0;
    let replication = 0;
    let heartbeats = 0;
    sim.onSend = (m: RaftMessage) => {
      count++;
      if (m.type === 'govfs.raft.AppendEntries' || m.type === 'govfs.raft.AppendResponse') replication++;
      if (m.type === 'govfs.raft.Heartbeat') heartbeats++;
    };
    const start = sim.now;
    const K = 20;
    for (let i = 0; i < K; i++) {
      const p = sim.propose()!;
      expect(sim.waitApplied(p.value, n, 1000)).toBe(true);
    }
    const elapsed = sim.now - start;
    // One append and one answer per follower per agreement. The network reorders, so a
    // heartbeat answer may overtake an append's answer and trigger one empty append (and its
    // answer): at most one extra pair per heartbeat.
    expect(replication).toBeLessThanOrEqual(K * 2 * (n - 1) + 2 * heartbeats + 2 * (n - 1));
    // Heartbeats: a commit notice per agreement and follower, plus the timer's.
    const timerHeartbeats = (elapsed / 20 + 2) * (n - 1);
    expect(heartbeats).toBeLessThanOrEqual(K * (n - 1) + timerHeartbeats);
    expect(count).toBeLessThanOrEqual(replication + 2 * heartbeats);
    // Batching: 200 proposals between two Readies travel in one append per follower.
    replication = 0;
    heartbeats = 0;
    const l = sim.leader()!;
    for (let i = 0; i < 200; i++) l.core!.propose(new TextEncoder().encode(`b${i}`));
    sim.drain(l);
    expect(sim.waitApplied('b199', n, 2000)).toBe(true);
    expect(replication).toBeLessThanOrEqual(2 * (n - 1) + 2 * heartbeats);
  });
});
