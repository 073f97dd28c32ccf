import { describe, expect, it } from 'vitest';
import { applyConfChange, decodeConfChange, encodeConfChange, EntryKind } from '../../src/raft/index.js';
import { Manual, enc } from './manual.js';

function settleTicks(c: Manual, n: number, drop: Parameters<Manual['settle']>[0] = () => false): void {
  for (let i = 0; i < n; i++) {
    c.tickAll();
    c.settle(drop);
  }
}

function leaderOf(c: Manual): string | undefined {
  return [...c.cores].find(([, x]) => x.softState().role === 'leader')?.[0];
}

describe('membership changes', () => {
  it('encodes a change with the membership that results from it', () => {
    const m = applyConfChange({ voters: ['a', 'b'], learners: [] }, { op: 'addLearner', node: 'c' });
    expect(m).toEqual({ voters: ['a', 'b'], learners: ['c'] });
    const rec = { change: { op: 'addLearner' as const, node: 'c' }, membership: m as { voters: string[]; learners: string[] } };
    expect(decodeConfChange(encodeConfChange(rec))).toEqual(rec);
    expect(decodeConfChange(enc('{"nonsense":1}'))).toBeUndefined();
    expect(applyConfChange({ voters: ['a'], learners: [] }, { op: 'removeVoter', node: 'a' })).toMatch(/last voter/);
    expect(applyConfChange({ voters: ['a'], learners: [] }, { op: 'promoteLearner', node: 'b' })).toMatch(/not a learner/);
  });

  it('a learner receives the log but neither votes nor counts towards commit', () => {
    const c = new Manual(['a', 'b']);
    c.add('l', {}, []);
    c.elect('a');
    const r = c.core('a').proposeConfChange({ op: 'addLearner', node: 'l' });
    expect(r.ok).toBe(true);
    c.process('a');
    c.settle();
    expect(c.core('l').status().membership).toEqual({ voters: ['a', 'b'], learners: ['l'] });
    c.propose('a', 'x');
    c.settle();
    expect(c.appliedData('l')).toEqual(['x']);
    // With b down, a and the learner are not a quorum of {a, b}.
    c.propose('a', 'y');
    c.settle((m) => m.to === 'b' || m.from === 'b');
    expect(c.appliedData('a')).toEqual(['x']);
    // The learner never campaigns, however long it waits.
    c.tick('l', 100);
    expect(c.core('l').softState().role).toBe('follower');
    expect(c.outbox.filter((m) => m.from === 'l' && m.type === 'govfs.raft.RequestVote')).toEqual([]);
  });

  it('promoting a learner makes it count; only one change may be pending at a time', () => {
    const c = new Manual(['a', 'b']);
    c.add('l', {}, []);
    c.elect('a');
    const a = c.core('a');
    expect(a.proposeConfChange({ op: 'addLearner', node: 'l' }).ok).toBe(true);
    // Not yet committed: a second change is refused.
    expect(a.proposeConfChange({ op: 'promoteLearner', node: 'l' })).toMatchObject({ ok: false, reason: 'confChangePending' });
    c.process('a');
    c.settle();
    expect(a.proposeConfChange({ op: 'promoteLearner', node: 'l' }).ok).toBe(true);
    c.process('a');
    // Effective when appended: the leader already needs 2 of {a, b, l}.
    expect(a.status().membership).toEqual({ voters: ['a', 'b', 'l'], learners: [] });
    c.settle();
    // Now a and l commit without b.
    c.propose('a', 'z');
    c.settle((m) => m.to === 'b' || m.from === 'b');
    expect(c.appliedData('a')).toEqual(['z']);
  });

  it('a new leader must commit an entry of its term before a membership change', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.tick('a', 30);
    c.deliver(); // pre-votes
    c.deliver(); // answers
    c.deliver(); // votes
    c.deliver(); // answers: a leads, its no-op not yet committed
    expect(c.core('a').softState().role).toBe('leader');
    expect(c.core('a').proposeConfChange({ op: 'removeVoter', node: 'c' })).toMatchObject({ ok: false, reason: 'notReady' });
    c.settle();
    expect(c.core('a').proposeConfChange({ op: 'removeVoter', node: 'c' }).ok).toBe(true);
  });

  it('removing a follower: it stops receiving, and it cannot disrupt the cluster', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    expect(c.core('a').proposeConfChange({ op: 'removeVoter', node: 'c' }).ok).toBe(true);
    c.process('a');
    c.settle();
    expect(c.core('a').status().membership.voters).toEqual(['a', 'b']);
    expect(Object.keys(c.core('a').status().progress!)).toEqual(['b']);
    // c knows it was removed, so it never campaigns.
    settleTicks(c, 60);
    expect(c.core('a').softState()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.sentLog.filter((m) => m.from === 'c' && m.type === 'govfs.raft.RequestVote')).toEqual([]);
  });

  it('a removed leader steps down once its removal commits, and the rest elect a leader', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    expect(c.core('a').proposeConfChange({ op: 'removeVoter', node: 'a' }).ok).toBe(true);
    c.process('a');
    // While the removal is uncommitted, a still leads but takes no proposals.
    expect(c.core('a').softState().role).toBe('leader');
    expect(c.core('a').propose(enc('x'))).toMatchObject({ ok: false, reason: 'removed' });
    c.settle();
    expect(c.core('a').softState().role).toBe('follower');
    settleTicks(c, 40);
    const l = leaderOf(c);
    expect(l === 'b' || l === 'c').toBe(true);
    expect(c.core(l!).status().membership.voters).toEqual(['b', 'c']);
    c.propose(l!, 'after');
    c.settle();
    expect(c.appliedData(l === 'b' ? 'c' : 'b')).toContain('after');
  });

  it('adding a voter that starts empty catches up from the leader', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 5; i++) c.propose('a', `v${i}`);
    c.settle();
    c.add('d', {}, []);
    expect(c.core('a').proposeConfChange({ op: 'addVoter', node: 'd' }).ok).toBe(true);
    c.process('a');
    settleTicks(c, 5);
    expect(c.appliedData('d')).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    expect(c.core('d').status().membership.voters).toEqual(['a', 'b', 'c', 'd']);
    expect(c.applied.get('d')!.filter((e) => e.kind === EntryKind.ConfChange)).toHaveLength(1);
  });

  it('a follower that drops an uncommitted change falls back to the previous membership', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.core('a').proposeConfChange({ op: 'removeVoter', node: 'b' });
    c.process('a');
    // Only c gets the change; then a dies and b (which lacks it) leads with c.
    c.deliver((m) => m.to === 'c' && m.type === 'govfs.raft.AppendEntries', (m) => m.to === 'b');
    c.outbox = [];
    expect(c.core('c').status().membership.voters).toEqual(['a', 'c']);
    const drop = (m: { from: string; to: string }): boolean => m.from === 'a' || m.to === 'a';
    // c, believing {a, c}, would need a to elect; b (believing {a, b, c}) campaigns and c
    // votes for it if b's log is as up-to-date... it is not (c has the change), so c leads.
    for (let i = 0; i < 80 && !['b', 'c'].some((id) => c.core(id).softState().role === 'leader'); i++) {
      c.tick('b');
      c.tick('c');
      c.settle(drop);
    }
    const l = ['b', 'c'].find((id) => c.core(id).softState().role === 'leader');
    // With a gone, c (config {a, c}) cannot win alone; b cannot win without c's vote. Neither
    // may lead: b's vote does not count for c, and c refuses b's less up-to-date log.
    expect(l).toBeUndefined();
    // Bring a back: the change commits and the cluster continues with {a, c}.
    settleTicks(c, 40);
    const leader = leaderOf(c)!;
    expect(['a', 'c']).toContain(leader);
    expect(c.core(leader).status().membership.voters).toEqual(['a', 'c']);
  });
});

describe('leadership transfer', () => {
  it('hands over to an up-to-date voter with TimeoutNow and refuses proposals meanwhile', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.settle((m) => m.to === 'b'); // b lags
    const a = c.core('a');
    expect(a.transferLeadership('b').ok).toBe(true);
    expect(a.propose(enc('y'))).toMatchObject({ ok: false, reason: 'transferring', leader: 'b' });
    c.process('a');
    // b is brought up to date first, then told to campaign.
    for (let i = 0; i < 3; i++) {
      c.tick('a');
      c.settle();
    }
    expect(c.sentOfType('govfs.raft.TimeoutNow')).toEqual([expect.objectContaining({ from: 'a', to: 'b', term: 1 })]);
    expect(c.core('b').softState()).toMatchObject({ role: 'leader', term: 2 });
    expect(a.softState()).toMatchObject({ role: 'follower', leader: 'b' });
    // The transfer campaign skips pre-vote and overrides the followers' lease.
    const votes = c.sentOfType('govfs.raft.RequestVote').filter((m) => m.from === 'b');
    expect(votes.every((m) => m.transfer && !m.preVote)).toBe(true);
  });

  it('gives up after an election timeout if the target does not take over', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const a = c.core('a');
    a.transferLeadership('c');
    c.process('a');
    for (let i = 0; i < 12; i++) {
      c.tick('a');
      c.tick('b');
      c.settle((m) => m.to === 'c' || m.from === 'c');
    }
    expect(a.softState().role).toBe('leader');
    expect(a.status().leadTransferee).toBe('');
    expect(a.propose(enc('back')).ok).toBe(true);
  });

  it('refuses a transfer to a non-voter or from a follower', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    expect(c.core('a').transferLeadership('zz')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(c.core('b').transferLeadership('c')).toMatchObject({ ok: false, reason: 'notLeader', leader: 'a' });
  });
});
