// Multi-seed scenarios for snapshots, membership changes and appointed mode (Group Raft).

import { describe, expect, it } from 'vitest';
import type { ConfChangeOp, RaftMessage } from '../../src/raft/index.js';
import { Sim, enc } from './harness.js';
import { converge, seeds } from './scenarios.js';

const ID3 = ['a', 'b', 'c'];
const ID5 = ['a', 'b', 'c', 'd', 'e'];

describe('snapshot install, including a crash during the install', () => {
  it.each(seeds(100))('seed %i', (seed) => {
    const sim = new Sim({
      seed,
      ids: ID3,
      snapshotEvery: 5,
      snapshotPadding: 200,
      drop: seed % 2 ? 0.05 : 0,
      latency: [1, 10],
      config: { snapshotChunkSize: 16, maxSnapshotChunksInflight: 2 },
      wire: seed % 10 === 0,
    });
    const l = sim.waitStableLeader(3000).id;
    const victim = ID3.find((x) => x !== l)!;
    sim.crash(victim);
    for (let i = 0; i < 12; i++) sim.proposeAndWait(2);
    // The others compacted past everything the victim has: it needs a snapshot.
    const leaderSnap = sim.node(sim.leader()!.id).store.snapshot!;
    expect(leaderSnap.index).toBeGreaterThan(sim.node(victim).store.lastIndex());
    let chunks = 0;
    let restarted = false;
    let firstAckAfterRestart: number | undefined;
    sim.onSend = (m: RaftMessage) => {
      if (m.type === 'govfs.raft.InstallSnapshot' && m.to === victim) chunks++;
      if (m.type === 'govfs.raft.SnapshotResponse' && m.from === victim && restarted) firstAckAfterRestart ??= m.offset;
    };
    sim.restart(victim);
    // Crash the victim after a few chunks, before the transfer can finish.
    const k = sim.rng.int(2, 8);
    expect(sim.runUntil(() => chunks >= k, 3000)).toBe(true);
    const before = sim.node(victim).store.snapshot?.index ?? 0;
    sim.crash(victim);
    expect(before).toBeLessThan(leaderSnap.index); // the partial transfer left nothing durable
    sim.runFor(sim.rng.int(0, 200));
    restarted = true;
    sim.restart(victim);
    converge(sim);
    // The restarted node held no partial snapshot: its first answer is about offset 0
    // (rejecting a later chunk) or the first chunk.
    expect(firstAckAfterRestart).toBeDefined();
    expect(firstAckAfterRestart!).toBeLessThanOrEqual(16);
    expect(sim.node(victim).store.snapshot!.index).toBeGreaterThanOrEqual(leaderSnap.index);
  });
});

describe('membership changes under faults', () => {
  it.each(seeds(100))('seed %i: learners added and promoted, voters removed', (seed) => {
    const sim = new Sim({ seed, ids: ID3, drop: 0.03, duplicate: 0.03, latency: [1, 15], snapshotEvery: seed % 2 ? 6 : 0 });
    sim.addNode('d', []);
    sim.addNode('e', []);
    const rng = sim.rng;
    const ops: [ConfChangeOp, string][] = [
      ['addLearner', 'd'],
      ['promoteLearner', 'd'],
      ['addLearner', 'e'],
      ['promoteLearner', 'e'],
      ['removeVoter', rng.pick(ID3)],
      ['removeVoter', rng.pick(['d', 'e'])],
    ];
    let expected = ['a', 'b', 'c'];
    const removed: string[] = [];
    for (const [op, node] of ops) {
      // Retry until the change commits at some leader (leaders may change meanwhile).
      let done = false;
      for (let attempt = 0; attempt < 60 && !done; attempt++) {
        const l = sim.stableLeader();
        if (l) {
          // May be refused (a change still pending, or the leader not ready): retry below.
          l.core!.proposeConfChange({ op, node });
          sim.drain(l);
          // Done once a leader's membership shows the change and it is committed (a change
          // proposed in an earlier attempt may be the one that made it).
          const committed = (): boolean => {
            const st = sim.leader()?.core?.status();
            return st !== undefined && changeApplied(op, node, st.membership) && st.commit >= st.membershipIndex;
          };
          done = sim.runUntil(committed, 1500);
        }
        if (!done) sim.runFor(100);
        // Faults in between: a node crashes or comes back.
        if (rng.chance(0.3)) sim.crash(rng.pick(sim.upIds()));
        if (rng.chance(0.5)) for (const id of sim.nodes.keys()) if (!removed.includes(id)) sim.restart(id);
        if (sim.upIds().length < 3) for (const id of sim.nodes.keys()) sim.restart(id);
      }
      expect(done, `${op} ${node} committed (seed ${seed})`).toBe(true);
      if (op === 'promoteLearner') expected = [...expected, node].sort();
      if (op === 'removeVoter') {
        expected = expected.filter((x) => x !== node);
        removed.push(node);
      }
      sim.propose();
    }
    const v = converge(sim, undefined, expected);
    const l = sim.leader()!;
    expect(expected).toContain(l.id);
    for (const id of expected) {
      expect(sim.core(id).status().membership.voters).toEqual(expected);
      expect(sim.appliedCount(v)).toBeGreaterThanOrEqual(expected.length);
    }
  });
});

function changeApplied(op: string, node: string, m: { voters: string[]; learners: string[] }): boolean {
  switch (op) {
    case 'addLearner':
      return m.learners.includes(node) || m.voters.includes(node);
    case 'promoteLearner':
    case 'addVoter':
      return m.voters.includes(node);
    default:
      return !m.voters.includes(node) && !m.learners.includes(node);
  }
}

describe('appointed mode: a replaced leader is fenced', () => {
  it.each(seeds(100))('seed %i: no split-brain commits while the old leader is partitioned', (seed) => {
    const ids = seed % 2 ? ID3 : ID5;
    const sim = new Sim({ seed, ids, mode: 'appointed', group: 'm1', drop: 0.02, latency: [1, 10], snapshotEvery: seed % 3 === 0 ? 5 : 0 });
    const l1 = sim.appoint('m1', ids)!;
    const t1 = sim.core(l1).softState().term;
    for (let i = 0; i < 3; i++) sim.proposeAndWait(ids.length, 5000, 'm1');
    // l1 is cut off (the authority cannot reach it either) and keeps taking writes.
    sim.isolate(l1);
    const others = ids.filter((x) => x !== l1);
    const oldWrites: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = sim.core(l1).propose(enc(`old-${i}`));
      sim.drain(sim.node(l1));
      if (r.ok) oldWrites.push(`old-${i}`);
      sim.runFor(10);
    }
    expect(oldWrites.length).toBe(5);
    const l2 = sim.appoint('m1', ids, { reach: others })!;
    expect(l2).not.toBe(l1);
    expect(sim.core(l2).softState().term).toBeGreaterThan(t1);
    const newWrites: string[] = [];
    for (let i = 0; i < 3; i++) newWrites.push(sim.proposeAndWait(Math.floor(ids.length / 2) + 1, 5000, 'm1'));
    for (let i = 0; i < 5; i++) {
      sim.core(l1).propose(enc(`old-late-${i}`));
      sim.drain(sim.node(l1));
      sim.runFor(20);
    }
    // The old leader still believes it leads (nobody told it), but nothing it wrote commits.
    expect(sim.core(l1).softState()).toMatchObject({ role: 'leader', term: t1 });
    expect(sim.core(l1).status().commit).toBeLessThan(sim.core(l1).status().lastIndex);
    sim.heal();
    sim.runFor(300);
    expect(sim.core(l1).softState()).toMatchObject({ role: 'follower', leader: l2 });
    converge(sim, 'm1');
    for (const v of [...oldWrites, 'old-late-0', 'old-late-4']) expect(sim.appliedIndex(v, 'm1')).toBeUndefined();
    for (const v of newWrites) expect(sim.appliedCount(v, 'm1')).toBe(ids.length);
  });

  it.each(seeds(100))('seed %i: repeated replacements with crashes', (seed) => {
    const sim = new Sim({ seed, ids: ID5, mode: 'appointed', group: 'm1', drop: 0.05, duplicate: 0.05, latency: [1, 20], crashMidReady: 0.002 });
    const rng = sim.rng;
    sim.appoint('m1', ID5);
    for (let round = 0; round < 12; round++) {
      for (let k = 0; k < rng.int(0, 4); k++) sim.propose('m1');
      sim.runFor(rng.int(20, 200));
      const r = rng.next();
      if (r < 0.3) sim.crash(rng.pick(ID5));
      else if (r < 0.5) for (const id of ID5) sim.restart(id);
      else if (r < 0.6) {
        const l = sim.leader('m1');
        if (l) sim.isolate(l.id);
      } else if (r < 0.7) sim.heal();
      // The authority replaces the leader when it sees none it can reach.
      const l = sim.leader('m1');
      const reach = sim.upIds().filter((id) => !l || sim.linked(id, ID5.find((x) => x !== id)!) || id !== l.id);
      if (!l || !sim.upIds().includes(l.id) || rng.chance(0.2)) sim.appoint('m1', ID5, { reach });
    }
    sim.heal();
    sim.crashMidReady = 0;
    for (const id of ID5) sim.restart(id);
    sim.appoint('m1', ID5);
    converge(sim, 'm1');
  });
});

describe('appointed mode: a node moved between groups', () => {
  it.each(seeds(100))('seed %i: the mover wipes its old group log and converges with the new group', (seed) => {
    const sim = new Sim({ seed, ids: ID3, mode: 'appointed', group: 'A', latency: [1, 8], snapshotEvery: seed % 2 ? 4 : 0 });
    for (const id of ['d', 'e', 'f']) sim.addNode(id, [], 'B');
    const A = ['a', 'b', 'c'];
    const B = ['d', 'e', 'f'];
    sim.appoint('A', A, { reach: A });
    sim.appoint('B', B, { reach: B });
    for (let i = 0; i < 4; i++) {
      sim.proposeAndWait(3, 5000, 'A');
      sim.proposeAndWait(3, 5000, 'B');
    }
    // c moves from A to B: the authority re-appoints both groups with fresh terms.
    const mover = 'c';
    const lA = sim.leader('A')!.id;
    const newA = A.filter((x) => x !== mover);
    const newB = [...B, mover];
    sim.appoint('B', newB, { reach: newB, leader: sim.leader('B')!.id });
    sim.appoint('A', newA, { reach: newA, leader: lA === mover ? undefined : lA });
    expect(sim.wipes.get(mover)).toBe(1);
    expect(sim.node(mover).store.group).toBe('B');
    // Nothing of group A survives in the mover's store.
    expect(sim.node(mover).store.entries.every((e) => e.term > 0)).toBe(true);
    expect(sim.node(mover).store.hardState.commit).toBeLessThanOrEqual(sim.core(mover).status().commit);
    for (let i = 0; i < 3; i++) {
      sim.proposeAndWait(2, 5000, 'A');
      sim.proposeAndWait(4, 5000, 'B');
    }
    converge(sim, 'B', newB);
    converge(sim, 'A', newA);
    expect(sim.core(mover).softState().group).toBe('B');
    // And back again.
    sim.appoint('A', A, { reach: A, leader: sim.leader('A')!.id });
    sim.appoint('B', B, { reach: B, leader: sim.leader('B')!.id });
    expect(sim.wipes.get(mover)).toBe(2);
    converge(sim, 'A', A);
    converge(sim, 'B', B);
  });
});
