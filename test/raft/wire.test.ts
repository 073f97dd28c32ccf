// The wire schema: every message kind the core produces encodes and decodes through
// src/wire/proto/raft.proto, and a cluster whose every message travels through protobuf still
// works (decoded copies have proto3 defaults instead of undefined, Buffers for bytes, ...).

import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { RAFT_MESSAGE_TYPES, RaftCore, isValidMessage, type RaftMessage } from '../../src/raft/index.js';
import { PROTO_PATH, Sim, enc, wireRoundTrip } from './harness.js';
import { converge } from './scenarios.js';

describe('raft.proto', () => {
  it('declares one message per core message type, none with a field named `type`', () => {
    const root = protobuf.loadSync(PROTO_PATH);
    for (const name of RAFT_MESSAGE_TYPES) {
      const T = root.lookupType(name);
      expect(T.fields['type']).toBeUndefined();
      for (const f of ['from', 'to', 'term', 'group']) expect(T.fields[f], `${name}.${f}`).toBeDefined();
    }
    const Entry = root.lookupType('govfs.raft.Entry');
    expect(Object.keys(Entry.fields).sort()).toEqual(['data', 'index', 'kind', 'term']);
    expect(root.lookupEnum('govfs.raft.EntryKind').values).toEqual({ NORMAL: 0, NOOP: 1, CONF_CHANGE: 2 });
  });

  it('a run with every message through protobuf: all kinds appear, decode equal, and the cluster works', () => {
    const sim = new Sim({
      seed: 7,
      ids: ['a', 'b', 'c'],
      wire: true,
      snapshotEvery: 4,
      snapshotPadding: 100,
      config: { snapshotChunkSize: 32 },
    });
    const seen = new Map<string, RaftMessage>();
    sim.onSend = (m) => {
      if (!seen.has(m.type)) seen.set(m.type, m);
    };
    let l = sim.waitStableLeader(3000);
    const follower = ['a', 'b', 'c'].find((x) => x !== l.id)!;
    // Reads on the leader and, forwarded, on a follower.
    l.core!.readIndex('lr');
    sim.drain(l);
    sim.core(follower).readIndex('fr');
    sim.drain(sim.node(follower));
    // A lagging follower that needs a snapshot.
    sim.crash(follower);
    for (let i = 0; i < 10; i++) sim.proposeAndWait(2);
    sim.restart(follower);
    sim.runFor(1000);
    // A membership change and a leadership transfer.
    sim.addNode('d', []);
    l = sim.waitStableLeader(3000);
    expect(l.core!.proposeConfChange({ op: 'addLearner', node: 'd' }).ok).toBe(true);
    sim.drain(l);
    sim.runFor(500);
    const target = ['a', 'b', 'c'].find((x) => x !== l.id && x !== follower)!;
    expect(l.core!.transferLeadership(target).ok).toBe(true);
    sim.drain(l);
    sim.runFor(1000);
    expect(sim.stableLeader()?.id).toBe(target);
    converge(sim, undefined, ['a', 'b', 'c', 'd']);

    expect([...seen.keys()].sort()).toEqual([...RAFT_MESSAGE_TYPES].sort());
    expect([...sim.wireTypes].sort()).toEqual([...RAFT_MESSAGE_TYPES].sort());
    for (const m of seen.values()) {
      const { msg: back, bytes } = wireRoundTrip(m);
      expect(bytes).toBeGreaterThan(0);
      expect(isValidMessage(back)).toBe(true);
      // Same content: bytes compare by value, everything else exactly.
      expect(normalize(back)).toEqual(normalize(m));
    }
  });

  it('decoded messages have proto3 defaults where the core left fields at zero', () => {
    const m: RaftMessage = { type: 'govfs.raft.AppendEntries', from: 'a', to: 'b', term: 1, group: 'g', prevIndex: 0, prevTerm: 0, entries: [], commit: 0 };
    const back = wireRoundTrip(m).msg;
    expect(back).toEqual(m);
    const v = wireRoundTrip({ type: 'govfs.raft.VoteResponse', from: 'a', to: 'b', term: 0, group: '', granted: false, preVote: false }).msg;
    expect(v).toMatchObject({ term: 0, group: '', granted: false, preVote: false });
  });
});

describe('malformed input', () => {
  it('is dropped without throwing or changing state', () => {
    const core = new RaftCore({ id: 'b', group: 'g', mode: 'elected', voters: ['a', 'b', 'c'], randomInt: (lo) => lo });
    const bad: unknown[] = [
      null,
      42,
      { type: 'govfs.raft.Nope', from: 'a', to: 'b', term: 1, group: 'g' },
      { type: 'govfs.raft.AppendEntries', from: 'a', to: 'b', term: 5, group: 'g', prevIndex: 0, prevTerm: 0, commit: 0 },
      { type: 'govfs.raft.AppendEntries', from: 'a', to: 'b', term: -1, group: 'g', prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
      { type: 'govfs.raft.AppendEntries', from: 'a', to: 'b', term: 5, group: 'g', prevIndex: 0, prevTerm: 0, entries: [{ term: 5, index: 1, kind: 9, data: enc('x') }], commit: 0 },
      { type: 'govfs.raft.AppendEntries', from: 'a', to: 'b', term: 5, group: 'g', prevIndex: 0, prevTerm: 0, entries: [{ term: 5, index: 3, kind: 0, data: enc('gap') }], commit: 0 },
      { type: 'govfs.raft.InstallSnapshot', from: 'a', to: 'b', term: 5, group: 'g', snapshotIndex: 9, snapshotTerm: 1, voters: 'a', learners: [], offset: 0, totalSize: 1, data: enc('x'), done: true },
      { type: 'govfs.raft.Heartbeat', from: 'a', to: 'b', term: 1.5, group: 'g', commit: 0, leaderCommit: 0, readRound: 0, quiet: false },
      // Someone else's message, and another group's.
      { type: 'govfs.raft.Heartbeat', from: 'a', to: 'z', term: 9, group: 'g', commit: 0, leaderCommit: 0, readRound: 0, quiet: false },
      { type: 'govfs.raft.Heartbeat', from: 'a', to: 'b', term: 9, group: 'other', commit: 0, leaderCommit: 0, readRound: 0, quiet: false },
    ];
    for (const m of bad) expect(() => core.step(m as RaftMessage)).not.toThrow();
    // Only the gap message is well-formed and for us: its term and leader are adopted, but
    // its out-of-place entry is not appended.
    expect(core.status()).toMatchObject({ lastIndex: 0, commit: 0, term: 5, leader: 'a' });
  });
});

/** Plain data with bytes as hex (a decoded Buffer and the original Uint8Array compare equal). */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}
