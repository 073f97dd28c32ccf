// Membership rules (src/actors/membership-core.ts) on the pure state, and the president's
// hand-over of a leaving node's roles (president-core.ts), without a runtime.

import { describe, expect, it } from 'vitest';
import { ClusterState, decodeOrder, encodeOrder, type ClusterOrder } from '../../src/actors/cluster-state.js';
import { memberRequest, nextMembershipStep, wantedVoters, type RaftMembershipView } from '../../src/actors/membership-core.js';
import { PresidentCore, type PresidentEffect, type PresidentView } from '../../src/actors/president-core.js';
import type { NodeReport } from '../../src/actors/node-core.js';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const ROOT: ClusterOrder = { order: 'appoint', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], clerksWanted: 2 };

function stateOf(...orders: ClusterOrder[]): ClusterState {
  const s = new ClusterState(NODES);
  orders.forEach((o, i) => expect(s.apply(o, i + 1)).toEqual(expect.objectContaining({ ok: true })));
  return s;
}

function raft(voters: string[], learners: string[] = [], over: Partial<RaftMembershipView> = {}): RaftMembershipView {
  const match: Record<string, number> = {};
  for (const id of [...voters, ...learners]) match[id] = 10;
  return { voters, learners, pending: false, commit: 10, match, ...over };
}

const join = (node: string): ClusterOrder => ({ order: 'memberJoin', node, address: `${node}#/${node}`, endpoint: '' });

describe('membership orders', () => {
  it('a joined node is a member with its address; a gone one is refused for good', () => {
    const s = stateOf(join('n6'));
    expect(s.nodes).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
    expect(s.joined.get('n6')?.address).toBe('n6#/n6');
    expect(s.apply(join('n6'), 2)).toEqual({ ok: false, reason: 'n6 is already a member' });
    expect(s.apply({ order: 'memberGone', node: 'n6' }, 3).ok).toBe(false); // not asked to leave
    expect(s.apply({ order: 'memberLeave', node: 'n6' }, 4).ok).toBe(true);
    expect(s.apply({ order: 'memberGone', node: 'n6' }, 5).ok).toBe(true);
    expect(s.nodes).not.toContain('n6');
    expect(s.apply(join('n6'), 6)).toEqual({ ok: false, reason: expect.stringContaining('removed') as string });
    expect(s.apply(join('../x'), 7).ok).toBe(false);
  });

  it('a leaving node that still serves a ministry is not gone', () => {
    const s = stateOf(ROOT, { order: 'memberLeave', node: 'n3' });
    expect(s.apply({ order: 'memberGone', node: 'n3' }, 3)).toEqual({ ok: false, reason: 'n3 still serves ministry m0 as clerk' });
    expect(s.unassigned()).toEqual(['n1', 'n5']); // (the president skips leaving ones itself)
  });

  it('orders and membership survive encoding and a snapshot', () => {
    for (const o of [join('n7'), { order: 'memberLeave', node: 'n2' }, { order: 'memberGone', node: 'n2' }] as ClusterOrder[]) {
      expect(decodeOrder(encodeOrder(o))).toEqual(o);
    }
    const s = stateOf(join('n6'), join('n7'), { order: 'memberLeave', node: 'n7' }, { order: 'memberGone', node: 'n7' }, { order: 'memberLeave', node: 'n5' });
    const r = ClusterState.restore(s.snapshot());
    expect(r.nodes).toEqual(s.nodes);
    expect([...r.joined.values()]).toEqual([{ node: 'n6', address: 'n6#/n6', endpoint: '' }]);
    expect([...r.leaving]).toEqual(['n5']);
    expect([...r.removed]).toEqual(['n7']);
  });
});

describe('memberRequest', () => {
  const s = stateOf(ROOT);
  it('turns add and remove into orders', () => {
    expect(memberRequest(s, { action: 'add', node: 'n9', address: 'n9#/n9', endpoint: 'h:1' })).toEqual({ ok: true, order: { order: 'memberJoin', node: 'n9', address: 'n9#/n9', endpoint: 'h:1' } });
    expect(memberRequest(s, { action: 'remove', node: 'n2', address: '', endpoint: '' })).toEqual({ ok: true, order: { order: 'memberLeave', node: 'n2' } });
  });
  it('refuses with typed codes and says why', () => {
    expect(memberRequest(s, { action: 'add', node: 'n2', address: 'x', endpoint: '' })).toMatchObject({ ok: false, code: 'EEXIST' });
    expect(memberRequest(s, { action: 'add', node: 'a b', address: 'x', endpoint: '' })).toMatchObject({ ok: false, code: 'EINVAL' });
    expect(memberRequest(s, { action: 'add', node: 'n8', address: '', endpoint: '' })).toMatchObject({ ok: false, code: 'EINVAL' });
    expect(memberRequest(s, { action: 'remove', node: 'n9', address: '', endpoint: '' })).toMatchObject({ ok: false, code: 'ENOENT' });
    expect(memberRequest(s, { action: 'frobnicate', node: 'n2', address: '', endpoint: '' })).toMatchObject({ ok: false, code: 'EINVAL' });
    const small = new ClusterState(['n1', 'n2', 'n3']);
    expect(memberRequest(small, { action: 'remove', node: 'n3', address: '', endpoint: '' })).toMatchObject({ ok: false, code: 'EINVAL', message: expect.stringContaining('at least 3') as string });
    const leaving = stateOf({ order: 'memberLeave', node: 'n5' });
    expect(memberRequest(leaving, { action: 'remove', node: 'n5', address: '', endpoint: '' })).toMatchObject({ ok: false, code: 'EALREADY' });
  });
});

describe('nextMembershipStep', () => {
  it('wants an odd number of voters, at most 5', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 9].map((n) => wantedVoters(n))).toEqual([1, 1, 3, 3, 5, 5, 5, 5]);
  });

  it('a new member joins as a learner, then is promoted once caught up, if voters are wanted', () => {
    const s = new ClusterState(['n1', 'n2', 'n3']);
    s.apply(join('n4'), 1);
    expect(nextMembershipStep(s, raft(['n1', 'n2', 'n3']), 'n1')).toMatchObject({ kind: 'conf', change: { op: 'addLearner', node: 'n4' } });
    // Four members want three voters: n4 stays a learner.
    expect(nextMembershipStep(s, raft(['n1', 'n2', 'n3'], ['n4']), 'n1')).toBeNull();
    s.apply(join('n5'), 2);
    const r = raft(['n1', 'n2', 'n3'], ['n4', 'n5'], { match: { n2: 10, n3: 10, n4: 3, n5: 10 } });
    // Five want five: the caught-up learner first (n4 lags).
    expect(nextMembershipStep(s, r, 'n1')).toMatchObject({ kind: 'conf', change: { op: 'promoteLearner', node: 'n5' } });
    expect(nextMembershipStep(s, { ...r, match: { ...r.match, n5: 9 } }, 'n1')).toBeNull();
  });

  it('does nothing while a change is uncommitted', () => {
    const s = new ClusterState(['n1', 'n2', 'n3']);
    s.apply(join('n4'), 1);
    expect(nextMembershipStep(s, raft(['n1', 'n2', 'n3'], [], { pending: true }), 'n1')).toBeNull();
  });

  it('a leaving node is gone once it holds no role, then leaves the configuration', () => {
    const s = stateOf(ROOT, { order: 'memberLeave', node: 'n3' });
    // Still a clerk: nothing yet (president-core replaces it first).
    expect(nextMembershipStep(s, raft(NODES), 'n1')).toMatchObject({ kind: 'conf', change: { op: 'removeVoter', node: 'n5' } });
    s.apply({ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n4'], clerksWanted: 2 }, 3);
    expect(nextMembershipStep(s, raft(['n1', 'n2', 'n3', 'n4']), 'n1')).toEqual({ kind: 'order', order: { order: 'memberGone', node: 'n3' }, why: expect.any(String) as string });
    s.apply({ order: 'memberGone', node: 'n3' }, 4);
    expect(nextMembershipStep(s, raft(['n1', 'n2', 'n3', 'n4']), 'n1')).toMatchObject({ kind: 'conf', change: { op: 'removeVoter', node: 'n3' } });
  });

  it('the president removes itself like any other node', () => {
    const s = stateOf({ order: 'memberLeave', node: 'n1' }, { order: 'memberGone', node: 'n1' });
    expect(nextMembershipStep(s, raft(NODES), 'n1')).toMatchObject({ kind: 'conf', change: { op: 'removeVoter', node: 'n1' } });
  });

  it('one voter too many steps back to learner, never the president, once the membership changed', () => {
    const s = new ClusterState(['n1', 'n2', 'n3', 'n4']);
    // A cluster started with four keeps four voters until its membership changes.
    expect(nextMembershipStep(s, raft(['n1', 'n2', 'n3', 'n4']), 'n4')).toBeNull();
    s.apply(join('n5'), 1);
    s.apply({ order: 'memberLeave', node: 'n5' }, 2);
    s.apply({ order: 'memberGone', node: 'n5' }, 3);
    expect(nextMembershipStep(s, raft(['n1', 'n2', 'n3', 'n4']), 'n4')).toMatchObject({ kind: 'conf', change: { op: 'removeVoter', node: 'n3' } });
  });
});

// ---- the president hands a leaving node's roles over ------------------------------------------

const FAIL = 1_000;

function report(id: string, over: Partial<NodeReport> = {}): NodeReport {
  return { type: 'govfs.fs.NodeReport', id, role: 'idle', ministry: '', groupTerm: 0, commit: 0, applied: 0, lastIndex: 0, lastTerm: 0, commitTerm: 0, caughtUp: true, leading: false, ...over };
}

function healthy(term: number): Record<string, Partial<NodeReport>> {
  const m = { ministry: 'm0', groupTerm: term, commitTerm: term, lastTerm: term, lastIndex: 5, commit: 5 };
  return { n1: {}, n5: {}, n2: { ...m, role: 'minister', leading: true }, n3: { ...m, role: 'clerk' }, n4: { ...m, role: 'clerk' } };
}

function presidentOn(view: PresidentView, reports: Record<string, Partial<NodeReport>>): PresidentCore {
  const core = new PresidentCore({ id: 'n1', nodes: NODES, probeMs: 50, failAfterMs: FAIL });
  core.tick(0, view);
  core.readied(true, 0);
  for (const [id, r] of Object.entries(reports)) core.probed(id, report(id, r), FAIL, view);
  return core;
}

function decided(core: PresidentCore, view: PresidentView, now = FAIL + 10): PresidentEffect[] {
  return core.tick(now, view).filter((e) => e.kind !== 'probe');
}

describe('PresidentCore with leaving members', () => {
  it('replaces a leaving clerk with an idle node that is in the configuration', () => {
    const state = stateOf(ROOT, { order: 'memberLeave', node: 'n3' });
    const view: PresidentView = { state, dissolving: () => false, raft: () => raft(NODES) };
    const out = decided(presidentOn(view, healthy(1)), view);
    expect(out).toEqual([expect.objectContaining({ kind: 'propose', order: { order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n4'], clerksWanted: 2 }, fields: expect.objectContaining({ cause: 'clerkLeaving' }) as object })]);
  });

  it('fences a ministry whose minister is leaving, then appoints a member that stays', () => {
    const state = stateOf(ROOT, { order: 'memberLeave', node: 'n2' });
    const view: PresidentView = { state, dissolving: () => false, raft: () => raft(NODES) };
    const core = presidentOn(view, healthy(1));
    expect(decided(core, view)).toEqual([expect.objectContaining({ kind: 'propose', order: { order: 'fence', ministry: 'm0' }, fields: expect.objectContaining({ cause: 'ministerLeaving' }) as object })]);
    state.apply({ order: 'fence', ministry: 'm0' }, 3);
    // Every member at the fence term with the same log: the leaving minister is not chosen.
    for (const [id, r] of Object.entries(healthy(2))) core.probed(id, report(id, { ...r, leading: false }), FAIL + 20, view);
    const out = decided(core, view, FAIL + 60);
    expect(out).toEqual([expect.objectContaining({ kind: 'propose', order: { order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n3', clerks: ['n4', 'n2'], clerksWanted: 2 } })]);
  });

  it('appoints from the idle pool only nodes in the configuration, and not leaving ones', () => {
    const state = stateOf({ ...ROOT, clerks: ['n4'] } as ClusterOrder, join('n6'));
    const { n3: _n3, n5: _n5, ...rest } = healthy(1);
    const reports = { ...rest, n6: {} };
    // n6 joined the members but not the configuration yet: not appointed; the president
    // brings it in as a learner first.
    const view: PresidentView = { state, dissolving: () => false, raft: () => raft(NODES) };
    expect(decided(presidentOn(view, reports), view)).toEqual([{ kind: 'confChange', change: { op: 'addLearner', node: 'n6' }, why: expect.any(String) as string }]);
    const inConf: PresidentView = { ...view, raft: () => raft(NODES, ['n6']) };
    expect(decided(presidentOn(inConf, reports), inConf)).toEqual([expect.objectContaining({ order: expect.objectContaining({ clerks: ['n4', 'n6'] }) as object })]);
    state.apply({ order: 'memberLeave', node: 'n6' }, 3);
    expect(decided(presidentOn(inConf, reports), inConf).some((e) => e.kind === 'propose' && e.order.order === 'appoint')).toBe(false);
  });

  // Seed 15 of the members simulation (before the fix): a leaving minister alone in its
  // ministry was fenced and, the only member at the fence, appointed again, in a loop.
  it('does not fence a leaving minister no clerk can succeed; gets it a clerk first', () => {
    const state = stateOf({ order: 'appoint', subtree: '/', minister: 'n2', clerks: [], clerksWanted: 0 }, { order: 'memberLeave', node: 'n2' });
    const view: PresidentView = { state, dissolving: () => false, raft: () => raft(NODES) };
    const m = { ministry: 'm0', groupTerm: 1, commitTerm: 1, lastTerm: 1, lastIndex: 5, commit: 5 };
    const lone = presidentOn(view, { n1: {}, n2: { ...m, role: 'minister', leading: true } });
    expect(decided(lone, view).filter((e) => e.kind === 'propose')).toEqual([]);
    const withIdle = presidentOn(view, { n1: {}, n2: { ...m, role: 'minister', leading: true }, n3: {} });
    expect(decided(withIdle, view)).toEqual([expect.objectContaining({ kind: 'propose', order: { order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n3'], clerksWanted: 0 } })]);
  });

  it('refuses to remove the last member of a ministry while no node is idle (EBUSY)', () => {
    const state = new ClusterState(['n1', 'n2', 'n3', 'n4']);
    state.apply({ order: 'appoint', subtree: '/', minister: 'n2', clerks: ['n3'], clerksWanted: 1 }, 1);
    state.apply({ order: 'appoint', subtree: '/a', minister: 'n4', clerks: [], clerksWanted: 0 }, 2);
    expect(memberRequest(state, { action: 'remove', node: 'n4', address: '', endpoint: '' }, 'n1')).toMatchObject({ ok: false, code: 'EBUSY' });
    expect(memberRequest(state, { action: 'remove', node: 'n3', address: '', endpoint: '' }, 'n1')).toMatchObject({ ok: true });
  });
});
