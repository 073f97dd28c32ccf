import { describe, expect, it } from 'vitest';
import { RaftCore } from '../../src/raft/index.js';
import { Manual } from './manual.js';

describe('linearizable reads (ReadIndex)', () => {
  it('a leader answers once a quorum confirmed its leadership after the read arrived', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.settle();
    const a = c.core('a');
    expect(a.readIndex('r1')).toEqual({ ok: true });
    c.process('a');
    // The read round went out as heartbeats carrying a fresh round number.
    const hb = c.outbox.filter((m) => m.type === 'govfs.raft.Heartbeat');
    expect(hb.map((m) => m.to).sort()).toEqual(['b', 'c']);
    expect(c.readStates.get('a')).toEqual([]);
    c.deliver((m) => m.to === 'b'); // b acknowledges: with a itself that is 2 of 3
    c.deliver((m) => m.from === 'b');
    expect(c.readStates.get('a')).toEqual([{ index: 2, ctx: 'r1' }]);
  });

  it('a leader cut off from the majority never answers (no stale read)', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.core('a').readIndex('r');
    c.process('a');
    for (let i = 0; i < 5; i++) {
      c.tick('a');
      c.deliver(() => false, () => true);
    }
    expect(c.readStates.get('a')).toEqual([]);
  });

  it('acknowledgements of an older round do not confirm a newer read', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.tick('a'); // a plain heartbeat (round 0) is in flight
    c.core('a').readIndex('r');
    c.process('a');
    // Deliver only the plain heartbeats and their answers.
    const plain = (m: { type: string; readRound?: number }): boolean => m.type === 'govfs.raft.Heartbeat' && m.readRound === 0;
    c.deliver(plain);
    c.deliver((m) => m.type === 'govfs.raft.HeartbeatResponse');
    expect(c.readStates.get('a')).toEqual([]);
    c.settle();
    expect(c.readStates.get('a')).toEqual([{ index: 1, ctx: 'r' }]);
  });

  it('a new leader serves reads only after committing an entry of its term', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.tick('a', 30);
    c.deliver();
    c.deliver();
    c.deliver();
    c.deliver(); // a leads, no-op not committed
    expect(c.core('a').softState().role).toBe('leader');
    expect(c.core('a').status().commit).toBe(0);
    c.core('a').readIndex('early');
    c.process('a');
    c.deliver((m) => m.type === 'govfs.raft.Heartbeat');
    c.deliver((m) => m.type === 'govfs.raft.HeartbeatResponse');
    expect(c.readStates.get('a')).toEqual([]);
    c.settle();
    expect(c.readStates.get('a')).toEqual([{ index: 1, ctx: 'early' }]);
  });

  it('a follower forwards reads to the leader and gets the read index back', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.settle();
    expect(c.core('b').readIndex('fr')).toEqual({ ok: true });
    c.process('b');
    expect(c.outbox).toEqual([expect.objectContaining({ type: 'govfs.raft.ReadIndexRequest', to: 'a', readCtx: 'fr' })]);
    c.settle();
    expect(c.readStates.get('b')).toEqual([{ index: 2, ctx: 'fr' }]);
    expect(c.readStates.get('a')).toEqual([]);
  });

  it('refuses reads without a known leader, and empty contexts', () => {
    const c = new Manual(['a', 'b', 'c']);
    expect(c.core('a').readIndex('x')).toMatchObject({ ok: false, reason: 'notLeader' });
    expect(c.core('a').readIndex('')).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('a single voter answers at once', () => {
    const core = new RaftCore({ id: 'a', group: 'g', mode: 'elected', voters: ['a'], randomInt: (lo) => lo });
    for (let i = 0; i < 10; i++) core.tick();
    core.advance(core.ready());
    core.advance(core.ready());
    core.readIndex('solo');
    const r = core.ready();
    expect(r.readStates).toEqual([{ index: 1, ctx: 'solo' }]);
    expect(r.messages).toEqual([]);
    core.advance(r);
  });

  it('many reads between two Readies share one heartbeat round', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.outbox = [];
    for (let i = 0; i < 10; i++) c.core('a').readIndex(`r${i}`);
    c.process('a');
    expect(c.outbox.filter((m) => m.type === 'govfs.raft.Heartbeat')).toHaveLength(2);
    c.settle();
    expect(c.readStates.get('a')!.map((r) => r.ctx)).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
  });
});
