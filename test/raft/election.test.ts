import { describe, expect, it } from 'vitest';
import { EntryKind, RaftCore, type RaftMessage, type RequestVote } from '../../src/raft/index.js';
import { Manual } from './manual.js';

const isType =
  <T extends RaftMessage['type']>(t: T) =>
  (m: RaftMessage): m is Extract<RaftMessage, { type: T }> =>
    m.type === t;

describe('elections (elected mode)', () => {
  it('a single voter elects itself once its randomized timeout passes', () => {
    const calls: [number, number][] = [];
    const core = new RaftCore({ id: 'a', group: 'g', mode: 'elected', voters: ['a'], electionTicks: 10, randomInt: (lo, hi) => (calls.push([lo, hi]), 13) });
    expect(calls[0]).toEqual([10, 19]);
    for (let i = 0; i < 12; i++) core.tick();
    expect(core.softState().role).toBe('follower');
    core.tick();
    expect(core.softState()).toMatchObject({ role: 'leader', term: 1, leader: 'a' });
  });

  it('a new leader appends a no-op of its term and commits it only once persisted', () => {
    const core = new RaftCore({ id: 'a', group: 'g', mode: 'elected', voters: ['a'], randomInt: (lo) => lo });
    for (let i = 0; i < 10; i++) core.tick();
    const r = core.ready();
    expect(r.entries).toEqual([{ term: 1, index: 1, kind: EntryKind.Noop, data: new Uint8Array(0) }]);
    expect(r.hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
    expect(r.committed).toEqual([]);
    expect(core.status().commit).toBe(0);
    core.advance(r);
    // Durable now: the leader's own copy completes the quorum of one.
    expect(core.status().commit).toBe(1);
    const r2 = core.ready();
    expect(r2.committed.map((e) => e.index)).toEqual([1]);
    expect(r2.hardState).toEqual({ term: 1, vote: 'a', commit: 1 });
  });

  it('three nodes elect exactly one leader and all followers learn it', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    expect(c.core('a').softState()).toMatchObject({ role: 'leader', term: 1 });
    for (const id of ['b', 'c']) expect(c.core(id).softState()).toMatchObject({ role: 'follower', term: 1, leader: 'a' });
    // The no-op committed everywhere.
    for (const id of ['a', 'b', 'c']) expect(c.core(id).status().commit).toBe(1);
  });

  it('pre-vote first: a pre-candidate keeps its term and asks with term + 1', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.tick('a', 20);
    const pre = c.outbox.filter(isType('govfs.raft.RequestVote'));
    expect(pre.length).toBeGreaterThan(0);
    expect(pre.every((m) => m.preVote && m.term === 1)).toBe(true);
    expect(c.core('a').softState()).toMatchObject({ role: 'preCandidate', term: 0 });
    expect(c.stores.get('a')!.hardState.term).toBe(0);
  });

  it('a voter grants one vote per term, durably, in the same Ready as its answer', () => {
    const c = new Manual(['a', 'b', 'c'], { preVote: false });
    const req = (from: string, term: number): RequestVote => ({
      type: 'govfs.raft.RequestVote', from, to: 'c', term, group: 'g', lastIndex: 0, lastTerm: 0, preVote: false, transfer: false,
    });
    const cc = c.core('c');
    cc.step(req('a', 1));
    const r = cc.ready();
    expect(r.hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
    expect(r.messages).toEqual([expect.objectContaining({ type: 'govfs.raft.VoteResponse', to: 'a', granted: true, term: 1 })]);
    cc.advance(r);
    cc.step(req('b', 1));
    const r2 = cc.ready();
    expect(r2.messages).toEqual([expect.objectContaining({ to: 'b', granted: false })]);
    cc.advance(r2);
  });

  it('a vote that was not persisted is forgotten by a crash (so it was never sent)', () => {
    const c = new Manual(['a', 'b', 'c'], { preVote: false });
    const cc = c.core('c');
    cc.step({ type: 'govfs.raft.RequestVote', from: 'a', to: 'c', term: 1, group: 'g', lastIndex: 0, lastTerm: 0, preVote: false, transfer: false });
    // Crash before the shell persisted the Ready: the VoteResponse never left.
    const restarted = c.restart('c');
    expect(restarted.hardState()).toEqual({ term: 0, vote: '', commit: 0 });
    restarted.step({ type: 'govfs.raft.RequestVote', from: 'b', to: 'c', term: 1, group: 'g', lastIndex: 0, lastTerm: 0, preVote: false, transfer: false });
    expect(restarted.ready().messages).toEqual([expect.objectContaining({ to: 'b', granted: true })]);
  });

  it('votes only for candidates whose log is at least as up-to-date (lastTerm, then lastIndex)', () => {
    const c = new Manual(['a', 'b', 'c'], { preVote: false });
    c.elect('a');
    c.propose('a', 'x');
    c.settle();
    // c has (term 1, index 2). A candidate with a shorter log of the same term is refused...
    const ask = (lastIndex: number, lastTerm: number, term: number): boolean => {
      const cc = c.core('c');
      cc.step({ type: 'govfs.raft.RequestVote', from: 'b', to: 'c', term, group: 'g', lastIndex, lastTerm, preVote: false, transfer: false });
      const r = cc.ready();
      cc.advance(r);
      const v = r.messages.find(isType('govfs.raft.VoteResponse'))!;
      return v.granted;
    };
    // checkQuorum lease: c heard from a recently, so it ignores higher-term votes entirely.
    c.tick('c', 10);
    expect(ask(1, 1, 5)).toBe(false);
    expect(ask(100, 0, 6)).toBe(false); // longer but older last term
    expect(ask(2, 1, 7)).toBe(true); // as up-to-date
  });

  it('any message with a higher term makes a leader step down', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const a = c.core('a');
    a.step({ type: 'govfs.raft.AppendResponse', from: 'b', to: 'a', term: 7, group: 'g', reject: true, index: 0, conflictTerm: 0, conflictIndex: 0 });
    expect(a.softState()).toMatchObject({ role: 'follower', term: 7, leader: '' });
  });

  it('a follower that hears from its leader ignores (pre)votes of a higher term', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const b = c.core('b');
    b.step({ type: 'govfs.raft.RequestVote', from: 'c', to: 'b', term: 9, group: 'g', lastIndex: 99, lastTerm: 9, preVote: false, transfer: false });
    expect(b.softState()).toMatchObject({ term: 1, leader: 'a' });
    b.step({ type: 'govfs.raft.RequestVote', from: 'c', to: 'b', term: 2, group: 'g', lastIndex: 99, lastTerm: 1, preVote: true, transfer: false });
    const r = b.ready();
    expect(r.messages.filter(isType('govfs.raft.VoteResponse')).every((m) => !m.granted)).toBe(true);
    b.advance(r);
    // Once the leader has been silent for an election timeout, the lease is over.
    c.tick('b', 10);
    c.outbox = [];
    b.step({ type: 'govfs.raft.RequestVote', from: 'c', to: 'b', term: 2, group: 'g', lastIndex: 99, lastTerm: 1, preVote: true, transfer: false });
    c.process('b');
    const granted = c.outbox.filter(isType('govfs.raft.VoteResponse'));
    expect(granted).toEqual([expect.objectContaining({ granted: true, preVote: true, term: 2 })]);
    expect(b.softState().term).toBe(1); // a pre-vote changes no term
  });

  it('a partitioned node cannot disrupt a healthy leader when it rejoins (pre-vote)', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    // c is cut off: it times out again and again, but only pre-votes, so its term stays 1.
    for (let i = 0; i < 100; i++) {
      c.tick('c');
      c.tick('a');
      c.tick('b');
      c.deliver((m) => m.from !== 'c' && m.to !== 'c', (m) => m.from === 'c' || m.to === 'c');
    }
    expect(c.core('c').softState().term).toBe(1);
    expect(c.core('c').softState().role).not.toBe('leader');
    // Rejoining, its pre-votes are refused and it follows a again.
    for (let i = 0; i < 30; i++) {
      c.tickAll();
      c.settle();
    }
    expect(c.core('a').softState()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.core('c').softState()).toMatchObject({ role: 'follower', term: 1, leader: 'a' });
  });

  it('without pre-vote the same rejoin would bump terms (the pre-vote test can fail)', () => {
    const c = new Manual(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    c.elect('a');
    for (let i = 0; i < 30; i++) {
      c.tick('c');
      c.deliver(() => false, (m) => m.from === 'c' || m.to === 'c');
    }
    expect(c.core('c').softState().term).toBeGreaterThan(1);
  });

  it('check-quorum: a leader that hears from no majority for an election timeout steps down', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 9; i++) {
      c.tick('a');
      c.deliver(() => false, () => true); // everything lost
    }
    expect(c.core('a').softState().role).toBe('leader');
    for (let i = 0; i < 12; i++) {
      c.tick('a');
      c.deliver(() => false, () => true);
    }
    expect(c.core('a').softState()).toMatchObject({ role: 'follower', term: 1, leader: '' });
  });

  it('check-quorum keeps a leader that hears from a majority', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 50; i++) {
      c.tick('a');
      c.tick('b');
      c.settle((m) => m.to === 'c' || m.from === 'c');
    }
    expect(c.core('a').softState()).toMatchObject({ role: 'leader', term: 1 });
  });

  it('reports its leadership decisions as events for the shell to log: campaign and why, win, step-down and why', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const events = c.core('a').takeEvents();
    expect(events).toEqual([
      expect.objectContaining({ kind: 'campaign', term: 1, preVote: true, cause: 'electionTimeout', lastLeader: '' }),
      expect.objectContaining({ kind: 'campaign', term: 1, preVote: false, cause: 'preVoteWon' }),
      expect.objectContaining({ kind: 'won', term: 1, votes: expect.arrayContaining(['a']) }),
    ]);
    expect((events[0] as { ticks: number }).ticks).toBeGreaterThanOrEqual(10);
    expect(c.core('a').takeEvents()).toEqual([]); // taken once
    // Cut off, the leader steps down by check-quorum, naming who it still heard from.
    for (let i = 0; i < 25; i++) {
      c.tick('a');
      c.deliver(() => false, () => true);
    }
    expect(c.core('a').takeEvents()).toEqual([{ kind: 'stepDown', term: 1, cause: 'checkQuorum', newTerm: 1, from: '', active: ['a'] }]);
    // A follower's pre-vote refused by a majority is a lost election.
    const b = c.core('b');
    b.takeEvents();
    c.outbox = [];
    c.tick('b', 25);
    const pre = c.outbox.filter(isType('govfs.raft.RequestVote'));
    expect(pre.length).toBeGreaterThan(0);
    for (const m of pre) b.step({ type: 'govfs.raft.VoteResponse', from: m.to, to: 'b', term: 1, group: 'g', granted: false, preVote: true });
    expect(b.takeEvents().map((e) => [e.kind, e.term])).toEqual([['campaign', 2], ['lost', 2]]);
  });

  it('a leader that a higher term deposes reports who deposed it', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const a = c.core('a');
    a.takeEvents();
    a.step({ type: 'govfs.raft.AppendResponse', from: 'b', to: 'a', term: 7, group: 'g', reject: true, index: 0, conflictTerm: 0, conflictIndex: 0 });
    expect(a.takeEvents()).toEqual([expect.objectContaining({ kind: 'stepDown', term: 1, cause: 'higherTerm', newTerm: 7, from: 'b' })]);
  });

  it('a split vote is retried in a new term', () => {
    const c = new Manual(['a', 'b', 'c', 'd'], { preVote: false });
    // a and b campaign at once; each gets one other vote: no majority of 4.
    c.tick('a', 30);
    c.tick('b', 30);
    c.deliver((m) => (m.from === 'a' && m.to === 'c') || (m.from === 'b' && m.to === 'd'), (m) => m.type === 'govfs.raft.RequestVote');
    c.settle();
    expect(c.core('a').softState().role).not.toBe('leader');
    expect(c.core('b').softState().role).not.toBe('leader');
    for (let i = 0; i < 40 && ![...c.cores.values()].some((x) => x.softState().role === 'leader'); i++) {
      c.tickAll();
      c.settle();
    }
    const leaders = [...c.cores.values()].filter((x) => x.softState().role === 'leader');
    expect(leaders).toHaveLength(1);
    expect(leaders[0]!.softState().term).toBeGreaterThan(1);
  });

  it('restarts as a follower with its durable term and vote', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const a = c.restart('a');
    expect(a.softState()).toMatchObject({ role: 'follower', term: 1, leader: '' });
    expect(a.hardState()).toEqual({ term: 1, vote: 'a', commit: 1 });
    expect(a.entries().map((e) => e.kind)).toEqual([EntryKind.Noop]);
  });
});
