// The president's rules, one test each, driven on the pure core (src/actors/president-core.ts):
// no runtime, no simulator. Each test quotes the sentence of the thesis (sections 3-4) it
// checks, as etcd's raft tests quote the Raft paper; where this implementation departs from
// the thesis on purpose, the test says how.

import { describe, expect, it } from 'vitest';
import { ClusterState, type ClusterOrder } from '../../src/actors/cluster-state.js';
import { PresidentCore, type PresidentConfig, type PresidentEffect, type PresidentView } from '../../src/actors/president-core.js';
import type { NodeReport } from '../../src/actors/node-core.js';
import type { ProposeResult } from '../../src/raft/index.js';

const FAIL = 1_000;
const PROBE = 50;
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];

function config(over: Partial<PresidentConfig> = {}): PresidentConfig {
  return { id: 'n1', nodes: NODES, rootClerks: 2, probeMs: PROBE, failAfterMs: FAIL, ...over };
}

/** A cluster state after `orders` applied at indices 1, 2, ... */
function stateOf(...orders: ClusterOrder[]): ClusterState {
  const s = new ClusterState(NODES);
  orders.forEach((o, i) => expect(s.apply(o, i + 1).ok).toBe(true));
  return s;
}

function viewOf(state: ClusterState, dissolving: string[] = []): PresidentView {
  return { state, dissolving: (id) => dissolving.includes(id) };
}

/** `m0` serving `/`: minister n2, clerks n3 and n4, appointed at term 1. */
const ROOT: ClusterOrder = { order: 'appoint', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], clerksWanted: 2 };

function report(id: string, over: Partial<NodeReport> = {}): NodeReport {
  return { type: 'govfs.fs.NodeReport', id, role: 'idle', ministry: '', groupTerm: 0, commit: 0, applied: 0, lastIndex: 0, lastTerm: 0, commitTerm: 0, caughtUp: true, leading: false, ...over };
}

/** Reports of a healthy m0 at `term`: the minister leads and has committed in its term. */
function healthyRoot(term = 1): Record<string, Partial<NodeReport>> {
  return {
    n2: { role: 'minister', ministry: 'm0', groupTerm: term, commitTerm: term, lastTerm: term, lastIndex: 5, commit: 5, leading: true },
    n3: { role: 'clerk', ministry: 'm0', groupTerm: term, commitTerm: term, lastTerm: term, lastIndex: 5, commit: 5 },
    n4: { role: 'clerk', ministry: 'm0', groupTerm: term, commitTerm: term, lastTerm: term, lastIndex: 5, commit: 5 },
  };
}

/** A president that confirmed the log at time 0, then heard `reports` at `heardAt`
 * (nodes not named never answer; `{}` answers as idle). */
function president(view: PresidentView, reports: Record<string, Partial<NodeReport>>, heardAt = FAIL, over: Partial<PresidentConfig> = {}): PresidentCore {
  const core = new PresidentCore(config(over));
  expect(core.tick(0, view)).toEqual([{ kind: 'confirmApplied' }]);
  core.readied(true, 0);
  for (const [id, r] of Object.entries(reports)) core.probed(id, report(id, r), heardAt, view);
  return core;
}

/** What a tick at `now` decides, probes left out. */
function decide(core: PresidentCore, now: number, view: PresidentView): PresidentEffect[] {
  return core.tick(now, view).filter((e) => e.kind !== 'probe');
}

function orders(effects: PresidentEffect[]): ClusterOrder[] {
  return effects.flatMap((e) => (e.kind === 'propose' ? [e.order] : []));
}

const accepted = (index: number): ProposeResult => ({ ok: true, index, term: 1 });

describe('PresidentCore', () => {
  // Thesis 3.2: "The president in turn appoints multiple ministers then assigns each a group
  // of clerks."
  it('forms the root ministry from idle nodes that answered, never itself', () => {
    const view = viewOf(stateOf());
    // The president answers its own probes too.
    const core = president(view, { n1: {}, n2: {}, n3: {}, n4: {}, n5: {} });
    expect(orders(decide(core, FAIL + PROBE, view))).toEqual([{ order: 'appoint', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], clerksWanted: 2 }]);
  });

  // Thesis 3.2: "A minister contacts its group, and promotes each member from idle to clerk,
  // forming a ministry."
  it('forms a configured static ministry from idle nodes only, and only once', () => {
    const statics = { ministries: [{ subtree: '/a', clerks: 1 }] };
    const view = viewOf(stateOf(ROOT));
    const core = president(view, { ...healthyRoot(), n5: {}, n6: {} }, FAIL, statics);
    expect(orders(decide(core, FAIL + PROBE, view))).toEqual([{ order: 'appoint', subtree: '/a', minister: 'n5', clerks: ['n6'], clerksWanted: 1 }]);
    // Formed once: after a subtree delete dissolved it, it is not formed again.
    const after = viewOf(stateOf(ROOT, { order: 'appoint', subtree: '/a', minister: 'n5', clerks: ['n6'], clerksWanted: 1 }, { order: 'dissolve', ministry: 'm1' }));
    const again = president(after, { ...healthyRoot(), n5: {}, n6: {} }, FAIL, statics);
    expect(orders(decide(again, FAIL + PROBE, after))).toEqual([]);
  });

  // Thesis 3.2: "The president coordinates the cluster: monitoring the population, assigning
  // new ministers on failures, adjusting groups given failures and load balances between all
  // groups."
  it('drops a clerk that stopped answering probes', () => {
    const view = viewOf(stateOf(ROOT));
    const { n3: _silent, ...rest } = healthyRoot();
    const core = president(view, rest);
    const out = decide(core, FAIL + 10, view);
    expect(orders(out)).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n4'], clerksWanted: 2 }]);
    expect(out[0]).toMatchObject({ fields: { oldClerk: 'n3', cause: 'clerkFailed' } });
  });

  // Thesis 3.4: "There is at least one idle node. The president assigns the idle node to the
  // failing nodes group."
  it('adds an idle node to a ministry short of clerks', () => {
    const view = viewOf(stateOf({ ...ROOT, clerks: ['n4'] } as ClusterOrder));
    const core = president(view, { n2: healthyRoot().n2!, n4: healthyRoot().n4!, n5: {} });
    expect(orders(decide(core, FAIL + 10, view))).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n4', 'n5'], clerksWanted: 2 }]);
  });

  // Thesis 3.4: "There are no idle nodes. The president, through raft, commands a clerk in the
  // group with the lowest load to demote itself. Then the president drops the matter."
  // Here no other ministry gives up a clerk: the failed clerk is dropped, the ministry runs
  // short, and the president drops the matter until a node is idle.
  it('with no idle node, runs the ministry short and orders nothing more', () => {
    const view = viewOf(stateOf({ ...ROOT, clerks: ['n4'] } as ClusterOrder));
    const core = president(view, { n2: healthyRoot().n2!, n4: healthyRoot().n4! });
    expect(orders(decide(core, FAIL + 10, view))).toEqual([]);
  });

  // Thesis 3.2: "Changes are only completed when they are written to half of the clerks."
  // A membership change could leave the entries committed before it on a minority: it waits
  // until the minister follows the current appointment and has committed in its term.
  it('changes no member before the minister has committed an entry of its term', () => {
    const view = viewOf(stateOf(ROOT));
    const { n3: _silent, ...rest } = healthyRoot();
    const core = president(view, { ...rest, n2: { ...rest.n2, commitTerm: 0 } });
    expect(orders(decide(core, FAIL + 10, view))).toEqual([]);
  });

  // Thesis 3.4: "When the *president* fails to send a Raft heartbeat to a node it decides the
  // node must be failing."
  it('takes a node for failed only after failAfterMs without an answer', () => {
    const view = viewOf(stateOf(ROOT));
    const { n2: _minister, ...rest } = healthyRoot();
    const core = president(view, { ...healthyRoot() }, FAIL);
    // The minister answered at FAIL; the clerks answer again later, the minister does not.
    for (const [id, r] of Object.entries(rest)) core.probed(id, report(id, r), 2 * FAIL - 10, view);
    expect(orders(decide(core, 2 * FAIL - 10, view))).toEqual([]);
    const out = decide(core, 2 * FAIL, view);
    expect(orders(out)).toEqual([{ order: 'fence', ministry: 'm0' }]);
    expect(out[0]).toMatchObject({ fields: { oldMinister: 'n2', cause: 'ministerSilent' } });
  });

  // Thesis 3.4: "When the president notices a minister has failed it will try to replace it."
  // A minister that answers but has not led its group log for failAfterMs (it restarted) has
  // failed as a minister.
  it('replaces a minister that answers but does not lead its group log', () => {
    const view = viewOf(stateOf(ROOT));
    const reports = healthyRoot();
    const core = president(view, { ...reports, n2: { ...reports.n2, leading: false } }, 10);
    for (const [id, r] of Object.entries(reports)) core.probed(id, report(id, { ...r, leading: false }), FAIL, view);
    expect(orders(decide(core, FAIL, view))).toEqual([]);
    const out = decide(core, FAIL + 10, view);
    expect(orders(out)).toEqual([{ order: 'fence', ministry: 'm0' }]);
    expect(out[0]).toMatchObject({ fields: { cause: 'ministerNotLeading' } });
  });

  // Thesis 4.4: "The log must stay consistent and clients should see no new entries of an old
  // leader after assignment of a new leader."
  it('fences the ministry before it appoints a new minister', () => {
    const view = viewOf(stateOf(ROOT));
    const { n2: _minister, ...clerks } = healthyRoot();
    const core = president(view, clerks);
    // However up to date the clerks are, the first order is the fence, never an appointment.
    expect(orders(decide(core, FAIL + 10, view))).toEqual([{ order: 'fence', ministry: 'm0' }]);
  });

  // Thesis 3.4: "It queries the ministries clerks to find the ideal candidate for promotion."
  it('appoints once a majority of the fenced ministry reported its log at the fence term', () => {
    const view = viewOf(stateOf(ROOT, { order: 'fence', ministry: 'm0' }));
    const atFence = { role: 'clerk' as const, ministry: 'm0', groupTerm: 2, lastTerm: 1, lastIndex: 5 };
    // n4 answers, but has not reached the fence term yet.
    const core = president(view, { n3: atFence, n4: { ...atFence, groupTerm: 1 } });
    expect(orders(decide(core, FAIL + 10, view))).toEqual([]);
    core.probed('n4', report('n4', atFence), FAIL + 20, view);
    expect(orders(decide(core, FAIL + 20, view))).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n3', clerks: ['n4', 'n2'], clerksWanted: 2 }]);
  });

  // Thesis 3.2: "By including the term of the sending minister the president detects outdated
  // reports and discards them."
  it('chooses the new minister only among reports at the fence term', () => {
    const view = viewOf(stateOf(ROOT, { order: 'fence', ministry: 'm0' }));
    const atFence = { ministry: 'm0', groupTerm: 2, lastTerm: 1, lastIndex: 5 };
    // The old minister's report is of the term before the fence: its longer log does not count.
    const core = president(view, { n2: { ...atFence, groupTerm: 1, lastIndex: 9 }, n3: atFence, n4: atFence });
    const [o] = orders(decide(core, FAIL + 10, view));
    expect(o).toMatchObject({ order: 'appoint', minister: 'n3' });
  });

  // Thesis 3.2: "When the minister fails the president selects the clerk with the highest
  // *commit index* as the new minister."
  // Here the most up-to-date log (last term, then last index: the Raft vote rule) wins: an
  // entry committed by a majority may not yet be known committed by any of them, so the
  // highest commit index alone could appoint a member that lacks it.
  it('appoints the member with the most up-to-date log, not the highest commit index', () => {
    const view = viewOf(stateOf(ROOT, { order: 'fence', ministry: 'm0' }));
    const core = president(view, {
      n3: { ministry: 'm0', groupTerm: 2, lastTerm: 1, lastIndex: 7, commit: 5 },
      n4: { ministry: 'm0', groupTerm: 2, lastTerm: 1, lastIndex: 6, commit: 6 },
    });
    const [o] = orders(decide(core, FAIL + 10, view));
    expect(o).toMatchObject({ order: 'appoint', minister: 'n3' });
  });

  // Thesis 3.2: "A minister can fail after the change was committed but before the client was
  // informed of the success."
  // That change may sit on a bare majority that includes members not answering now: the new
  // appointment keeps every member (the old minister too, as a clerk).
  it('keeps every member of a fenced ministry in the new appointment', () => {
    const view = viewOf(stateOf({ ...ROOT, clerks: ['n3', 'n4', 'n5', 'n6'], clerksWanted: 4 } as ClusterOrder, { order: 'fence', ministry: 'm0' }));
    const atFence = { ministry: 'm0', groupTerm: 2, lastTerm: 1, lastIndex: 5 };
    const core = president(view, { n3: atFence, n4: atFence, n5: atFence });
    const [o] = orders(decide(core, FAIL + 10, view));
    expect(o).toMatchObject({ order: 'appoint', minister: 'n3' });
    expect([...(o as { clerks: string[] }).clerks].sort()).toEqual(['n2', 'n4', 'n5', 'n6']);
  });

  // Thesis 3.4: "If it gets a response from less than half the ministry it can not safely
  // replace the minister. At that point it marks the file subtree as down and may retry in the
  // future."
  it('marks a ministry down when fewer than half its members answer, and does not fence it', () => {
    const view = viewOf(stateOf(ROOT));
    const core = president(view, { n3: healthyRoot().n3! });
    const out = decide(core, FAIL + 10, view);
    expect(orders(out)).toEqual([{ order: 'down', ministry: 'm0', down: true }]);
    // Already down: nothing more until a majority answers.
    const down = viewOf(stateOf(ROOT, { order: 'down', ministry: 'm0', down: true }));
    expect(orders(decide(president(down, { n3: healthyRoot().n3! }), FAIL + 10, down))).toEqual([]);
  });

  // Thesis 3.4: "At that point it marks the file subtree as down and may retry in the future."
  it('marks a down ministry up again once it answers', () => {
    const view = viewOf(stateOf(ROOT, { order: 'down', ministry: 'm0', down: true }));
    const core = president(view, healthyRoot());
    expect(orders(decide(core, FAIL + 10, view))).toEqual([{ order: 'down', ministry: 'm0', down: false }]);
  });

  // Thesis 3.2: "On failure a new president is elected by all nodes."
  // A new president first confirms (ReadIndex) that it applied every order before its term,
  // then gives every node a full failure interval to answer it before judging anyone.
  it('a new president confirms the log, then judges nobody for failAfterMs', () => {
    // A ministry its predecessor fenced: the next step needs reports this president has not had.
    const view = viewOf(stateOf(ROOT, { order: 'fence', ministry: 'm0' }));
    const core = new PresidentCore(config());
    expect(core.tick(0, view)).toEqual([{ kind: 'confirmApplied' }]);
    expect(core.tick(PROBE, view)).toEqual([]); // one ReadIndex at a time
    core.readied(false, PROBE);
    expect(core.tick(2 * PROBE, view)).toEqual([{ kind: 'confirmApplied' }]);
    core.readied(true, 100);
    // Nobody answered yet: judged only a full interval after the president was ready.
    expect(orders(decide(core, 100 + FAIL - 1, view))).toEqual([]);
    expect(orders(decide(core, 100 + FAIL, view))).toEqual([{ order: 'down', ministry: 'm0', down: true }]);
  });

  // Thesis 3.2: "Its coordination is communicated using Raft's log replication."
  // One order at a time: the next decision waits until the last one is applied (or 20 probe
  // intervals passed).
  it('decides the next order only once the last one is applied', () => {
    const state = stateOf(ROOT);
    const view = viewOf(state);
    const { n3: _silent, ...rest } = healthyRoot();
    const core = president(view, { ...rest, n5: {}, n6: {} });
    const [e] = decide(core, FAIL + 10, view);
    expect(e).toMatchObject({ kind: 'propose' });
    core.proposed(e as Extract<PresidentEffect, { kind: 'propose' }>, accepted(2), FAIL + 10);
    // Still m0 at term 1 with n3 silent: without the wait this would order the same again.
    for (const id of ['n2', 'n4', 'n5', 'n6']) core.probed(id, report(id, rest[id] ?? {}), FAIL + 20, view);
    expect(orders(decide(core, FAIL + 20, view))).toEqual([]);
    state.apply(e!.kind === 'propose' ? e.order : { order: 'noop' }, 2);
    // Applied: the minister follows the new appointment (term 2) and has committed in it.
    const atTerm2 = { n2: { ...rest.n2, groupTerm: 2, commitTerm: 2 }, n4: { ...rest.n4, groupTerm: 2 } };
    for (const [id, r] of Object.entries(atTerm2)) core.probed(id, report(id, r), FAIL + 30, view);
    expect(orders(decide(core, FAIL + 30, view))).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n4', 'n5'], clerksWanted: 2 }]);
  });

  // Thesis 4.3: "Nodes in my system switch between the role of *president*, *minister*, *clerk*
  // and *idle*."
  // A node elected president while it serves in a ministry hands the presidency to an idle node.
  it('hands the presidency to an idle node when it serves in a ministry', () => {
    const view = viewOf(stateOf({ ...ROOT, minister: 'n1' } as ClusterOrder));
    const core = president(view, { n3: {}, n4: {}, n5: {} });
    const out = decide(core, FAIL + 10, view);
    expect(out).toEqual([{ kind: 'transfer', to: 'n5', ministry: 'm0' }]);
    // A transfer that does not start: the president decides on (here: m0 short of nothing).
    expect(core.transferred(out[0] as Extract<PresidentEffect, { kind: 'transfer' }>, false, FAIL + 10, view).every((e) => e.kind !== 'transfer')).toBe(true);
  });

  // Thesis Figure 9: "Once it is committed the ministers hosting subtrees of the directory
  // demote themselves to idle and Ministry_j drops the directory from its db"
  it('does not re-staff a ministry that a subtree delete is dissolving', () => {
    const state = stateOf(ROOT, { order: 'appoint', subtree: '/a', minister: 'n5', clerks: ['n6'], clerksWanted: 1 });
    const core = president(viewOf(state), healthyRoot());
    expect(orders(decide(core, FAIL + 10, viewOf(state, ['m1'])))).toEqual([]);
    expect(orders(decide(core, FAIL + 10, viewOf(state)))).toEqual([{ order: 'down', ministry: 'm1', down: true }]);
  });
});

describe('probes of an idle cluster (issue 19)', () => {
  const probed = (effects: PresidentEffect[]) => effects.filter((e) => e.kind === 'probe').map((e) => (e as { node: string }).node);

  it('a node that answered is probed again after probeAnsweredMs; one that has not, every tick', () => {
    const view = viewOf(stateOf(ROOT));
    const core = president(view, {}, 0, { probeAnsweredMs: 4 * PROBE });
    expect(probed(core.tick(PROBE, view))).toEqual(NODES);
    for (const id of NODES) if (id !== 'n5') core.probed(id, report(id, healthyRoot()[id] ?? {}), PROBE + 1, view);
    // Only n5 (no answer yet) is probed on the next ticks, until probeAnsweredMs has passed.
    expect(probed(core.tick(2 * PROBE, view))).toEqual(['n5']);
    expect(probed(core.tick(3 * PROBE, view))).toEqual(['n5']);
    expect(probed(core.tick(5 * PROBE, view))).toEqual(NODES);
  });

  it('a member whose report does not show it settled in its ministry is probed every tick', () => {
    // m0 fenced: its members' reports (of the term before) are what a failover waits on.
    const view = viewOf(stateOf(ROOT, { order: 'fence', ministry: 'm0' }));
    const core = president(view, {}, 0, { probeAnsweredMs: 4 * PROBE });
    expect(probed(core.tick(PROBE, view))).toEqual(NODES);
    for (const id of NODES) core.probed(id, report(id, healthyRoot()[id] ?? {}), PROBE + 1, view);
    expect(probed(core.tick(2 * PROBE, view))).toEqual(['n2', 'n3', 'n4']);
    // Unfenced, a minister that has not committed in its term is still probed every tick.
    const fresh = viewOf(stateOf(ROOT));
    const other = president(fresh, {}, 0, { probeAnsweredMs: 4 * PROBE });
    other.tick(PROBE, fresh);
    for (const id of NODES) other.probed(id, report(id, id === 'n2' ? { ...healthyRoot().n2, commitTerm: 0 } : (healthyRoot()[id] ?? {})), PROBE + 1, fresh);
    expect(probed(other.tick(2 * PROBE, fresh))).toEqual(['n2']);
  });

  it('a node that answers the cluster log is alive though its probe answers are late; silent to both, it has failed', () => {
    const state = stateOf(ROOT);
    const logHeard = new Map<string, number>();
    const view: PresidentView = { state, dissolving: () => false, heardFrom: (id) => logHeard.get(id) };
    const core = president(view, healthyRoot(), FAIL);
    // n3 answers no probe after FAIL, but its cluster log answers came until 2 * FAIL - 10.
    for (const id of ['n2', 'n4']) core.probed(id, report(id, healthyRoot()[id]), 2 * FAIL + 400, view);
    logHeard.set('n3', 2 * FAIL - 10);
    expect(orders(decide(core, 2 * FAIL + 400, view))).toEqual([]);
    // Silent to both for failAfterMs: dropped, and the reason says how long.
    const out = decide(core, 3 * FAIL, view);
    expect(orders(out)).toEqual([{ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n2', clerks: ['n4'], clerksWanted: 2 }]);
    expect(out[0]).toMatchObject({ fields: { oldClerk: 'n3', cause: 'clerkFailed' } });
  });

  it('with every node settled and answered, the next tick is due at the first re-probe or silence deadline; an unanswered probe brings it back to probeMs', () => {
    const state = stateOf(ROOT);
    const logHeard = new Map<string, number>();
    const view: PresidentView = { state, dissolving: () => false, heardFrom: (id) => logHeard.get(id) };
    const all = Object.fromEntries(NODES.map((id) => [id, healthyRoot()[id] ?? {}]));
    const core = president(view, all, FAIL, { probeAnsweredMs: 4 * PROBE, loadEveryMs: 10 * PROBE });
    const t0 = FAIL + PROBE;
    core.tick(t0, view);
    // Not all answered yet: the next probeMs.
    expect(core.nextTickAt(t0, view)).toBe(t0 + PROBE);
    for (const id of NODES) core.probed(id, report(id, healthyRoot()[id] ?? {}), t0 + 1, view);
    for (const id of NODES) logHeard.set(id, t0 + 1);
    // All settled: the re-probe after probeAnsweredMs (before the load round and any silence).
    expect(core.nextTickAt(t0 + 2, view)).toBe(t0 + 4 * PROBE);
    // With re-probes and load rounds further off, the next is when the nodes' silence (to
    // probes and log alike) would reach failAfterMs.
    const quiet = president(view, all, FAIL, { probeAnsweredMs: 40 * PROBE, loadEveryMs: 40 * PROBE });
    quiet.tick(t0, view);
    for (const id of NODES) quiet.probed(id, report(id, healthyRoot()[id] ?? {}), t0 + 1, view);
    logHeard.set('n3', t0 + 1);
    expect(quiet.nextTickAt(t0 + 2, view)).toBe(t0 + 1 + FAIL);
    // The re-probe goes out and n5 does not answer: every probeMs again.
    core.tick(t0 + 4 * PROBE, view);
    for (const id of NODES) if (id !== 'n5') core.probed(id, report(id, healthyRoot()[id] ?? {}), t0 + 4 * PROBE + 1, view);
    expect(core.nextTickAt(t0 + 4 * PROBE + 2, view)).toBe(t0 + 5 * PROBE + 2);
  });

  it('a load round may go out up to earlyMs early (with a quiet heartbeat), and nextTickAt waits roundWaitMs longer for it', () => {
    const state = stateOf(ROOT);
    const logHeard = new Map<string, number>();
    const view: PresidentView = { state, dissolving: () => false, heardFrom: (id) => logHeard.get(id) };
    const all = Object.fromEntries(NODES.map((id) => [id, healthyRoot()[id] ?? {}]));
    const LOAD = 20 * PROBE;
    const core = president(view, all, FAIL, { probeAnsweredMs: LOAD, loadEveryMs: LOAD });
    const t0 = FAIL + PROBE;
    expect(probed(core.tick(t0, view))).toEqual(NODES); // a load round
    for (const id of NODES) core.probed(id, report(id, healthyRoot()[id] ?? {}), t0 + 1, view);
    for (const id of NODES) logHeard.set(id, t0 + LOAD / 2);
    // A heartbeat half a round later: no round with it.
    expect(probed(core.tick(t0 + LOAD / 2, view, PROBE))).toEqual([]);
    // The timer: the round when due, or a tick later while heartbeats carry the rounds.
    expect(core.nextTickAt(t0 + LOAD / 2, view)).toBe(t0 + LOAD);
    expect(core.nextTickAt(t0 + LOAD / 2, view, PROBE)).toBe(t0 + LOAD + PROBE);
    // A tick half a probeMs before the round is due probes only if allowed to be early.
    const early = t0 + LOAD - PROBE / 2;
    expect(probed(core.tick(early, view))).toEqual([]);
    expect(probed(core.tick(early, view, PROBE))).toEqual(NODES);
  });

  it('while heartbeats carry the rounds, silence is judged roundWaitMs late, and the president\'s own node never sets the tick', () => {
    const state = stateOf(ROOT);
    const logHeard = new Map<string, number>();
    const view: PresidentView = { state, dissolving: () => false, heardFrom: (id) => logHeard.get(id) };
    const all = Object.fromEntries(NODES.map((id) => [id, healthyRoot()[id] ?? {}]));
    const LOAD = 2 * FAIL;
    const core = president(view, all, FAIL, { probeAnsweredMs: LOAD, loadEveryMs: LOAD });
    const t0 = FAIL + PROBE;
    core.tick(t0, view);
    for (const id of NODES) core.probed(id, report(id, healthyRoot()[id] ?? {}), t0 + 1, view);
    // The others answered the cluster log since; n1 (the president's node) never does, and its
    // probe answer reaches failAfterMs first: it sets no tick (it was one a second, for nothing).
    const t1 = t0 + FAIL / 2;
    for (const id of NODES) if (id !== 'n1') logHeard.set(id, t1);
    expect(core.nextTickAt(t1, view)).toBe(t1 + FAIL);
    // While heartbeats carry the rounds, the others' answers to the heartbeat due at that
    // deadline come just after it: the tick waits roundWaitMs for them.
    expect(core.nextTickAt(t1, view, PROBE)).toBe(t1 + FAIL + PROBE);
    // A node silent since the round: judged at failAfterMs (a tick late with heartbeats).
    logHeard.set('n4', t0 + 1);
    expect(core.nextTickAt(t1, view)).toBe(t0 + 1 + FAIL);
    expect(core.nextTickAt(t1, view, PROBE)).toBe(t0 + 1 + FAIL + PROBE);
  });

  it('without probeAnsweredMs every node is probed every tick', () => {
    const view = viewOf(stateOf(ROOT));
    const core = president(view, {}, 0);
    core.tick(PROBE, view);
    for (const id of NODES) core.probed(id, report(id), PROBE + 1, view);
    expect(probed(core.tick(2 * PROBE, view))).toEqual(NODES);
  });
});

describe('balancing draws on idle nodes whose machine has cores to spare', () => {
  // Nodes that share a machine (a local cluster on worker threads) share its cores: on 2 cores
  // a split took throughput to 0.41-0.57x of no balancing (bench balance-threads).
  const hotClerk = { cpu: 0.99, readsPerSec: 900, writesPerSec: 1, hot: [] };
  type Machine = { cpu: number; cores: number };
  /** Every node answers a load probe at `at`: m0's clerks hot, idle n5 and n6 on `machine`. */
  function answered(core: PresidentCore, view: PresidentView, at: number, machine: Record<string, Machine>): void {
    const root = healthyRoot();
    for (const id of NODES) {
      const r = root[id] ?? {};
      const load = id === 'n3' || id === 'n4' ? hotClerk : id === 'n2' ? { ...hotClerk, cpu: 0.5 } : undefined;
      const m = machine[id];
      core.probed(id, report(id, { ...r, ...(load ? { load } : {}), ...(m ? { machineCpu: m.cpu, machineCores: m.cores } : {}) }), at, view);
    }
  }
  function planAfterSettling(machine: Record<string, Machine>) {
    const view = viewOf(stateOf(ROOT));
    const core = president(view, {}, FAIL);
    answered(core, view, FAIL, machine);
    core.plan(FAIL, view); // the ministry's term seen: judged once settleMs has passed
    const later = FAIL + 3_500;
    answered(core, view, later, machine);
    return core.plan(later, view);
  }

  it('grows a hot ministry from an idle node with half a core idle or more (or that never said)', () => {
    expect(planAfterSettling({ n5: { cpu: 0.7, cores: 2 } }).steps[0]).toMatchObject({ kind: 'grow', node: 'n5' });
    // 10% of 32 cores is three cores idle: spare.
    expect(planAfterSettling({ n5: { cpu: 0.9, cores: 32 } }).steps[0]).toMatchObject({ kind: 'grow', node: 'n5' });
    expect(planAfterSettling({}).steps[0]).toMatchObject({ kind: 'grow', node: 'n5' });
  });

  it('leaves an idle node alone whose machine is busy, says why, and frees no clerk meanwhile', () => {
    const plan = planAfterSettling({ n5: { cpu: 0.9, cores: 2 }, n6: { cpu: 0.8, cores: 2 } });
    expect(plan.steps).toEqual([]);
    expect(plan.queued).toEqual(['m0']);
    expect(plan.notes.join('\n')).toMatch(/idle n5 \(0\.20 of 2 cores idle\), n6 \(0\.40 of 2 cores idle\) not drawn on for balancing/);
    // One of them with cores to spare: that one is drawn on.
    expect(planAfterSettling({ n5: { cpu: 0.9, cores: 2 }, n6: { cpu: 0.2, cores: 2 } }).steps[0]).toMatchObject({ kind: 'grow', node: 'n6' });
  });

  it('still knows a busy machine after a plain probe answer, which carries no machine CPU', () => {
    // Only load probes carry machine CPU (node-core.ts); the answers in between did wipe it, and
    // the rule then read "never said" and drew on a busy machine (balance sim, seed 5797).
    const view = viewOf(stateOf(ROOT));
    const core = president(view, {}, FAIL);
    const busy = { n5: { cpu: 0.9, cores: 2 }, n6: { cpu: 0.8, cores: 2 } };
    answered(core, view, FAIL, busy);
    core.plan(FAIL, view);
    const later = FAIL + 3_500;
    answered(core, view, later, busy);
    // As a plain answer comes off the wire: no machine CPU decodes as 0 of 0 cores.
    for (const id of ['n5', 'n6']) core.probed(id, report(id, { machineCpu: 0, machineCores: 0 }), later + 1, view);
    const plan = core.plan(later + 1, view);
    expect(plan.steps).toEqual([]);
    expect(plan.notes.join('\n')).toMatch(/idle n5 \(0\.20 of 2 cores idle\), n6 \(0\.40 of 2 cores idle\) not drawn on/);
  });
});
