import { describe, expect, it } from 'vitest';
import { EntryKind } from '../../src/raft/index.js';
import { Manual, enc } from './manual.js';

const APPOINTED = { mode: 'appointed' as const };

describe('appointed mode (Group Raft)', () => {
  it('never campaigns, however long it waits', () => {
    const c = new Manual(['a', 'b', 'c'], APPOINTED);
    c.tickAll(200);
    for (const x of c.cores.values()) expect(x.softState()).toMatchObject({ role: 'follower', term: 0, leader: '' });
    expect(c.sentLog).toEqual([]);
  });

  it('an appointed leader appends a no-op for its term and commits with a majority of members', () => {
    const c = new Manual(['a', 'b', 'c'], APPOINTED);
    expect(c.core('a').appoint({ term: 5, leader: 'a', members: ['a', 'b', 'c'] })).toEqual({ ok: true });
    c.process('a');
    expect(c.core('a').softState()).toMatchObject({ role: 'leader', term: 5, leader: 'a' });
    expect(c.core('a').entries()).toEqual([{ term: 5, index: 1, kind: EntryKind.Noop, data: new Uint8Array(0) }]);
    // Followers were not told: they accept the leader because its term is higher.
    c.deliver((m) => m.to === 'b');
    expect(c.core('b').softState()).toMatchObject({ role: 'follower', term: 5, leader: 'a' });
    c.settle((m) => m.to === 'c');
    expect(c.core('a').status().commit).toBe(1); // a + b is a majority of 3
    c.propose('a', 'x');
    c.tick('a'); // c's first append was lost: the next heartbeat round finds it
    c.settle();
    expect(c.appliedData('c')).toEqual(['x']);
  });

  it('rejects appointments and leaders of lower terms; a replaced leader is fenced', () => {
    const c = new Manual(['a', 'b', 'c'], APPOINTED);
    c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] });
    c.process('a');
    c.settle();
    // The authority replaces a by b (term 2), telling b and c; a does not hear of it.
    c.core('b').appoint({ term: 2, leader: 'b', members: ['a', 'b', 'c'] });
    c.core('c').appoint({ term: 2, leader: 'b', members: ['a', 'b', 'c'] });
    c.process('b');
    c.process('c');
    expect(c.core('c').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] })).toMatchObject({ ok: false, reason: 'staleTerm' });
    // a still thinks it leads and proposes; c refuses (lower term) and tells a the new term.
    c.propose('a', 'old-leader-write');
    c.deliver((m) => m.from === 'a' && m.to === 'c', (m) => m.to === 'b' || m.from === 'b');
    c.deliver((m) => m.to === 'a' && m.from === 'c');
    expect(c.core('a').softState()).toMatchObject({ role: 'follower', term: 2 });
    c.tick('b'); // b's first appends were lost in the partition
    c.settle();
    c.propose('b', 'new-leader-write');
    c.settle();
    for (const id of ['a', 'b', 'c']) expect(c.appliedData(id)).toEqual(['new-leader-write']);
  });

  it('appointing a node into a different group wipes its state and starts fresh', () => {
    const c = new Manual(['a', 'b', 'c'], APPOINTED);
    c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] });
    c.process('a');
    c.settle();
    c.propose('a', 'g-data');
    c.settle();
    expect(c.stores.get('c')!.entries).toHaveLength(2);
    // c moves to group h, whose leader is x (term 7 from the same authority counter).
    const res = c.core('c').appoint({ term: 7, leader: 'x', members: ['x', 'c'], group: 'h' });
    expect(res).toEqual({ ok: true });
    const r = c.core('c').ready();
    expect(r.wipe).toBe(true);
    expect(r.group).toBe('h');
    expect(r.hardState).toEqual({ term: 7, vote: '', commit: 0 });
    expect(r.entries).toEqual([]);
    c.stores.get('c')!.persist(r);
    c.core('c').advance(r);
    expect(c.stores.get('c')!.entries).toEqual([]);
    expect(c.core('c').status()).toMatchObject({ group: 'h', term: 7, leader: 'x', lastIndex: 0, commit: 0 });
    // Messages of the old group are ignored now.
    c.propose('a', 'after-move');
    c.settle();
    expect(c.core('c').status().lastIndex).toBe(0);
    expect(c.core('c').hasReady()).toBe(false);
  });

  it('a group move while a Ready is in flight does not confuse advance()', () => {
    const c = new Manual(['a', 'b'], APPOINTED);
    c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b'] });
    c.process('a');
    c.settle();
    const b = c.core('b');
    c.propose('a', 'x');
    const app = c.outbox.find((m) => m.to === 'b' && m.type === 'govfs.raft.AppendEntries')!;
    b.step(app);
    // b has a Ready in flight (entries of group g) when it is moved to group h.
    const stale = b.ready();
    expect(stale.entries.length).toBeGreaterThan(0);
    b.appoint({ term: 3, leader: 'y', members: ['y', 'b'], group: 'h' });
    b.advance(stale);
    const r = b.ready();
    expect(r).toMatchObject({ wipe: true, group: 'h', entries: [], committed: [] });
    expect(r.hardState).toEqual({ term: 3, vote: '', commit: 0 });
    b.advance(r);
  });

  it('elections and transfers are not available; a follower with no leader stays put', () => {
    const c = new Manual(['a', 'b', 'c'], APPOINTED);
    c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] });
    c.process('a');
    c.settle();
    expect(c.core('a').transferLeadership('b')).toMatchObject({ ok: false, reason: 'appointed' });
    expect(c.core('a').proposeConfChange({ op: 'addVoter', node: 'd' })).toMatchObject({ ok: false, reason: 'invalid' });
    // The leader goes silent for a long time: nobody campaigns, and the leader does not
    // step down (only the authority changes leaders).
    for (let i = 0; i < 100; i++) {
      c.tickAll();
      c.deliver(() => false, () => true);
    }
    expect(c.core('a').softState().role).toBe('leader');
    expect(c.core('b').softState()).toMatchObject({ role: 'follower', leader: 'a', term: 1 });
    // Vote requests are ignored outright.
    c.core('b').step({ type: 'govfs.raft.RequestVote', from: 'c', to: 'b', term: 9, group: 'g', lastIndex: 9, lastTerm: 9, preVote: false, transfer: false });
    expect(c.core('b').softState().term).toBe(1);
  });

  it('re-appointing the same leader with new members (new term) changes the quorum', () => {
    const c = new Manual(['a', 'b', 'c', 'd'], APPOINTED);
    c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] });
    c.process('a');
    c.settle();
    // d joins: the authority re-appoints a with a new term and four members.
    for (const id of ['a', 'b', 'c', 'd']) {
      c.core(id).appoint({ term: 2, leader: 'a', members: ['a', 'b', 'c', 'd'] });
      c.process(id);
    }
    c.settle();
    c.propose('a', 'y');
    // a + b is no longer a majority of 4.
    c.settle((m) => m.to === 'c' || m.to === 'd');
    expect(c.appliedData('a')).toEqual([]);
    c.tick('a');
    c.settle();
    expect(c.appliedData('d')).toEqual(['y']);
  });

  it('perishable entries: committed entries arrive with leaderCommit, so the shell can stamp and judge them', () => {
    const c = new Manual(['a', 'b', 'c'], APPOINTED);
    c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] });
    c.process('a');
    c.settle();
    c.propose('a', 'p');
    c.settle();
    c.tick('a');
    c.settle();
    const withEntries = c.readies.get('b')!.filter((r) => r.committed.some((e) => e.kind === EntryKind.Normal));
    expect(withEntries).toHaveLength(1);
    expect(withEntries[0]!.commit).toBe(2);
    expect(c.core('b').caughtUp()).toBe(true);
    expect(c.core('b').propose(enc('no'))).toMatchObject({ ok: false, reason: 'notLeader', leader: 'a' });
  });

  it('a late appointment for another group (replayed, lower term) neither wipes nor moves the node', () => {
    const c = new Manual(['a', 'b'], APPOINTED);
    c.core('a').appoint({ term: 4, leader: 'a', members: ['a', 'b'] });
    c.process('a');
    c.settle();
    c.propose('a', 'keep');
    c.settle();
    expect(c.core('b').appoint({ term: 3, leader: 'x', members: ['x', 'b'], group: 'old' })).toMatchObject({ ok: false, reason: 'staleTerm' });
    expect(c.core('b').appoint({ term: 4, leader: 'x', members: ['x', 'b'], group: 'old' })).toMatchObject({ ok: false, reason: 'staleTerm' });
    expect(c.core('b').hasReady()).toBe(false);
    expect(c.core('b').status()).toMatchObject({ group: 'g', term: 4, leader: 'a', lastIndex: 2 });
  });

  it('a leader restarted as a follower is not re-appointed in its old term', () => {
    const c = new Manual(['a', 'b'], APPOINTED);
    c.core('a').appoint({ term: 2, leader: 'a', members: ['a', 'b'] });
    c.process('a');
    c.settle();
    const a = c.restart('a');
    expect(a.softState()).toMatchObject({ role: 'follower', term: 2, leader: '' });
    expect(a.appoint({ term: 2, leader: 'a', members: ['a', 'b'] })).toMatchObject({ ok: false, reason: 'staleTerm' });
    expect(a.appoint({ term: 3, leader: 'a', members: ['a', 'b'] })).toEqual({ ok: true });
    expect(a.softState()).toMatchObject({ role: 'leader', term: 3 });
  });
});
