// Read balancing (thesis 3.4, "Load balancing", Figure 11), driven on the pure president core
// (src/actors/president-core.ts over src/actors/balancer.ts): no runtime, no simulator. Each
// test quotes the sentence of the thesis it checks.

import { describe, expect, it } from 'vitest';
import { ClusterState, type ClusterOrder } from '../../src/actors/cluster-state.js';
import { PresidentCore, type PresidentConfig, type PresidentEffect, type PresidentView } from '../../src/actors/president-core.js';
import type { NodeReport } from '../../src/actors/node-core.js';
import type { MemberLoad } from '../../src/actors/load.js';

const FAIL = 1_000;
const PROBE = 50;
const NODES = Array.from({ length: 12 }, (_, i) => `n${i + 1}`);

function stateOf(...orders: ClusterOrder[]): ClusterState {
  const s = new ClusterState(NODES);
  orders.forEach((o, i) => expect(s.apply(o, i + 1).ok).toBe(true));
  return s;
}

const viewOf = (state: ClusterState): PresidentView => ({ state, dissolving: () => false });

const appoint = (subtree: string, minister: string, clerks: string[]): ClusterOrder => ({ order: 'appoint', subtree, minister, clerks, clerksWanted: clerks.length });

const load = (cpu: number, readsPerSec = 100 * cpu, writesPerSec = 1): MemberLoad => ({ cpu, readsPerSec, writesPerSec, hot: [{ path: '/h', readsPerSec, writesPerSec }] });

/** Reports of every member of every ministry of `state` (healthy, at its term, leading, with
 * `cpu` per ministry id), and of `idle` nodes. */
function reports(state: Readonly<ClusterState>, cpu: Record<string, number>, idle: string[] = [], reads: Record<string, number> = {}): Record<string, Partial<NodeReport>> {
  const out: Record<string, Partial<NodeReport>> = {};
  for (const m of state.ministries.values()) {
    const base = { ministry: m.id, groupTerm: m.term, commitTerm: m.term, lastTerm: m.term, lastIndex: 5, commit: 5 };
    const l = load(cpu[m.id] ?? 0.5, reads[m.id]);
    out[m.minister] = { ...base, role: 'minister', leading: true, load: l };
    for (const c of m.clerks) out[c] = { ...base, role: 'clerk', load: l };
  }
  for (const n of idle) out[n] = {};
  return out;
}

function report(id: string, over: Partial<NodeReport>): NodeReport {
  return { type: 'govfs.fs.NodeReport', id, role: 'idle', ministry: '', groupTerm: 0, commit: 0, applied: 0, lastIndex: 0, lastTerm: 0, commitTerm: 0, caughtUp: true, leading: false, ...over };
}

function president(view: PresidentView, rs: Record<string, Partial<NodeReport>>, over: Partial<PresidentConfig> = {}): PresidentCore {
  const core = new PresidentCore({ id: 'n1', nodes: NODES, probeMs: PROBE, failAfterMs: FAIL, balance: { settleMs: 0 }, ...over });
  core.tick(0, view);
  core.readied(true, 0);
  for (const [id, r] of Object.entries(rs)) core.probed(id, report(id, r), FAIL, view);
  return core;
}

function orders(effects: PresidentEffect[]): ClusterOrder[] {
  return effects.flatMap((e) => (e.kind === 'propose' ? [e.order] : []));
}

const decide = (core: PresidentCore, now: number, view: PresidentView): PresidentEffect[] => core.tick(now, view).filter((e) => e.kind !== 'probe');

describe('read balancing', () => {
  // "A group under high relative read load has average clerk CPU utilization passing 95%. The
  // president then issues a Raft message assigning an idle node to the group if one is
  // available."
  it('grows a ministry whose average clerk CPU passes 95% with an idle node', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4'])));
    const core = president(view, reports(view.state, { m0: 0.97 }, ['n5']));
    const out = decide(core, FAIL + PROBE, view);
    expect(orders(out)).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n3', 'n4', 'n5'], clerksWanted: 3 }]);
    expect(out[0]).toMatchObject({ fields: { newClerk: 'n5', cause: 'readLoadHigh' } });
    expect((out[0] as { why: string }).why).toMatch(/average clerk CPU 97% passes 95%/);
  });

  it('does not grow at 95% (passing, not reaching), nor without an idle node and a donor', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4'])));
    expect(orders(decide(president(view, reports(view.state, { m0: 0.95 }, ['n5'])), FAIL + PROBE, view))).toEqual([]);
    const lonely = president(view, reports(view.state, { m0: 0.99 }));
    expect(orders(decide(lonely, FAIL + PROBE, view))).toEqual([]);
    expect(lonely.plan(FAIL + PROBE, view).queued).toEqual(['m0']);
  });

  // "A ministries read load is low if it could lose a clerk without average clerk CPU
  // utilization rising above 85%." "To shrink a ministry the President issues a Raft message
  // unassigning a clerk."
  it('shrinks a ministry that could lose a clerk without its clerk CPU rising above 85%', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4', 'n5'])));
    // 3 clerks at 56%: 2 would be at 84%.
    const out = decide(president(view, reports(view.state, { m0: 0.56 })), FAIL + PROBE, view);
    expect(orders(out)).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], clerksWanted: 2 }]);
    expect(out[0]).toMatchObject({ fields: { oldClerk: 'n5', cause: 'readLoadLow' } });
    // At 58%, 2 would be at 87%: it keeps its clerks.
    expect(orders(decide(president(view, reports(view.state, { m0: 0.58 })), FAIL + PROBE, view))).toEqual([]);
  });

  // "This only works if a ministry has at least three members."
  it('never shrinks a ministry below a minister and two clerks', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4'])));
    expect(orders(decide(president(view, reports(view.state, { m0: 0 })), FAIL + PROBE, view))).toEqual([]);
  });

  // Figure 11: "It can not create a new ministry as there are no or not enough idle nodes. The
  // president removes three clerks from the ministries under the lightest read load and queues
  // the load report. After the clerk removal is committed the load report is enqueued."
  it('with no idle node, frees a clerk from the ministry under the lightest read load, then grows the hot one with it', () => {
    const root = appoint('/', 'n2', ['n3', 'n4']);
    const a = appoint('/a', 'n5', ['n6', 'n7', 'n8']);
    const b = appoint('/b', 'n9', ['n10', 'n11', 'n12']);
    const view = viewOf(stateOf(root, a, b));
    // m1 and m2 would both stay under 95% without a clerk; m2 reads less per clerk.
    const core = president(view, reports(view.state, { m0: 0.99, m1: 0.6, m2: 0.6 }, [], { m0: 500, m1: 300, m2: 90 }));
    const plan = core.plan(FAIL + PROBE, view);
    expect(plan.queued).toEqual(['m0']);
    const out = decide(core, FAIL + PROBE, view);
    expect(orders(out)).toEqual([{ order: 'appoint', ministry: 'm2', subtree: '/b', minister: 'n9', clerks: ['n10', 'n11'], clerksWanted: 2 }]);
    expect(out[0]).toMatchObject({ fields: { oldClerk: 'n12', for: 'm0', cause: 'freedForHotMinistry' } });
    // Once the removal is applied and n12 answers as idle, the queued request is served.
    const after = viewOf(stateOf(root, a, b, { order: 'appoint', ministry: 'm2', subtree: '/b', minister: 'n9', clerks: ['n10', 'n11'], clerksWanted: 2 }));
    core.proposed(out[0] as Extract<PresidentEffect, { kind: 'propose' }>, { ok: true, index: 4, term: 1 }, FAIL + PROBE);
    const t = FAIL + 2 * PROBE;
    for (const [id, r] of Object.entries(reports(after.state, { m0: 0.99, m1: 0.6, m2: 0.5 }, ['n12']))) core.probed(id, report(id, r), t, after);
    expect(orders(decide(core, t, after))).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n3', 'n4', 'n12'], clerksWanted: 3 }]);
  });

  it('takes no clerk from a ministry that would then pass 95% itself, nor below two clerks', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4']), appoint('/a', 'n5', ['n6', 'n7', 'n8']), appoint('/b', 'n9', ['n10', 'n11'])));
    // m1 at 70% with 3 clerks would be at 105% with 2; m2 has only 2.
    const core = president(view, reports(view.state, { m0: 0.99, m1: 0.7, m2: 0.1 }));
    expect(orders(decide(core, FAIL + PROBE, view))).toEqual([]);
  });

  // "By including the term of the sending minister the president detects outdated reports
  // and discards them."
  it('discards load reported under an earlier appointment', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4'])));
    const rs = reports(view.state, { m0: 0.99 }, ['n5']);
    rs['n4'] = { ...rs['n4'], load: undefined };
    const core = president(view, rs);
    // n4's load arrives, but measured under term 0 (before this appointment).
    core.probed('n4', report('n4', { ...rs['n4'], groupTerm: 0, load: load(0.99) }), FAIL, view);
    expect(orders(decide(core, FAIL + PROBE, view))).toEqual([]);
    expect(core.plan(FAIL + PROBE, view).notes.join('\n')).toMatch(/waiting for every clerk's load report/);
  });

  it('does nothing while the balancer is off, and waits settleMs after a ministry changed', () => {
    const off = stateOf(appoint('/', 'n2', ['n3', 'n4']), { order: 'balance', on: false });
    const view = viewOf(off);
    expect(orders(decide(president(view, reports(off, { m0: 0.99 }, ['n5'])), FAIL + PROBE, view))).toEqual([]);
    const on = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4'])));
    const core = president(on, reports(on.state, { m0: 0.99 }, ['n5']), { balance: { settleMs: 3_000 } });
    expect(orders(decide(core, FAIL + PROBE, on))).toEqual([]);
    for (const [id, r] of Object.entries(reports(on.state, { m0: 0.99 }, ['n5']))) core.probed(id, report(id, r), 4_100, on);
    expect(orders(decide(core, 4_100, on))).toHaveLength(1);
  });

  // `govfs balance plan`: "the planner's decisions are explained in the log and in status".
  it('explains equation 7 in the plan: the σ fit, and each ministry\'s n_c with its numbers', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4'])));
    const core = president(view, reports(view.state, { m0: 0.97 }, ['n5']));
    const lines = core.planLines(FAIL + PROBE, view);
    expect(lines[1]).toMatch(/^equation 7 \(clerks per ministry\): /);
    expect(lines.join('\n')).toMatch(/m0 \(\/, 2 clerks\): clerk CPU 97%.*wants another clerk \(3 by equation 7: n_c = \(R − W \+ 1\)\/\(1 \+ σ\) = \(1\.94 − 0\.97 \+ 1\)/);
    expect(lines.join('\n')).toMatch(/next: m0 \(\/\) average clerk CPU 97% passes 95%: idle n5 joins as clerk 3/);
  });

  it('thresholds are options', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4'])));
    const core = president(view, reports(view.state, { m0: 0.8 }, ['n5']), { balance: { settleMs: 0, growAbove: 0.75 } });
    expect(orders(decide(core, FAIL + PROBE, view))[0]).toMatchObject({ clerks: ['n3', 'n4', 'n5'] });
  });
});

describe('merging a split-off ministry back (write balancing, through the president core)', () => {
  // A ministry a split made (not configured) whose minister is cold merges back into its
  // parent, but only once it has been cold for mergeAfterMs: one quiet load interval (its
  // clients busy elsewhere for a moment) is not enough.
  it('waits until the minister has been cold for mergeAfterMs, and starts over when it is busy again', () => {
    const view = viewOf(stateOf(appoint('/', 'n2', ['n3', 'n4']), appoint('/h', 'n5', ['n6', 'n7'])));
    const core = president(view, reports(view.state, { m0: 0.1, m1: 0.05 }), { writeBalance: { mergeAfterMs: 2_000 } });
    const at = (t: number, cpu: Record<string, number>): ClusterOrder[] => {
      for (const [id, r] of Object.entries(reports(view.state, cpu))) core.probed(id, report(id, r), t, view);
      return orders(decide(core, t, view));
    };
    const merge = { order: 'migrateStart', subtree: '/h', from: 'm1', to: 'm0' };
    expect(at(FAIL + PROBE, { m0: 0.1, m1: 0.05 })).toEqual([]);
    // Busy for one interval: the cold clock starts over.
    expect(at(FAIL + 1_000, { m0: 0.1, m1: 0.5 })).toEqual([]);
    expect(at(FAIL + 1_500, { m0: 0.1, m1: 0.05 })).toEqual([]);
    expect(at(FAIL + 3_000, { m0: 0.1, m1: 0.05 })).toEqual([]);
    expect(at(FAIL + 3_600, { m0: 0.1, m1: 0.05 })[0]).toMatchObject(merge);
  });
});

describe('splitting again after a split (write balancing, through the president core)', () => {
  // A report sampled before a split's map committed still counts the subtree split off: the
  // planner waits for one made after it (bench balance, 30 nodes: / split /t/1/1 off, then
  // /t/1/0 as if it were half of what it had left, and kept nothing).
  it('judges the source only on its minister\'s reports from two load rounds after the migration', () => {
    const state = stateOf(appoint('/', 'n2', ['n3', 'n4']), { order: 'migrateStart', id: '', subtree: '/h', from: 'm0', to: '', minister: 'n5', clerks: ['n6', 'n7'], clerksWanted: 2, why: 'test' });
    expect(state.apply({ order: 'migrateHandover', id: 'g1', namespace: new Uint8Array(0), leaseToken: 0 }, 3).ok).toBe(true);
    const view = viewOf(state);
    const busy: MemberLoad = { cpu: 0.97, readsPerSec: 10, writesPerSec: 100, hot: [{ path: '/a', readsPerSec: 0, writesPerSec: 50 }] };
    const rs = (): Record<string, Partial<NodeReport>> => {
      const out = reports(state, { m0: 0.5, m1: 0.1 }, ['n8', 'n9', 'n10', 'n11', 'n12']);
      out.n2 = { ...out.n2, load: busy };
      return out;
    };
    const core = president(view, rs(), { writeBalance: { concurrent: 1 }, loadEveryMs: 250 });
    const at = (t: number): ClusterOrder[] => {
      for (const [id, r] of Object.entries(rs())) core.probed(id, report(id, r), t, view);
      return orders(decide(core, t, view)).filter((o) => o.order === 'migrateStart');
    };
    // In the migration (handed over): not judged.
    expect(at(FAIL + PROBE)).toEqual([]);
    expect(state.apply({ order: 'mapCommit', id: 'g1' }, 4).ok).toBe(true);
    // The map committed, but the minister's report is one round old.
    expect(at(FAIL + PROBE + 250)).toEqual([]);
    expect(at(FAIL + PROBE + 500)[0]).toMatchObject({ subtree: '/a', from: 'm0' });
  });
});
