// A node's rules (roles, routing, the subtree delete, group log gc), one test each, driven on
// the pure core (src/actors/node-core.ts): no runtime, no simulator. Each test quotes the
// sentence of the thesis (sections 3-4) it checks, as etcd's raft tests quote the Raft paper.

import { describe, expect, it } from 'vitest';
import type { ClusterOrder } from '../../src/actors/cluster-state.js';
import { GROUP_GC_RETRY_MS, NodeCore, SUBTREE_DELETE_MS, type NodeEffect } from '../../src/actors/node-core.js';
import type { NodeConfig } from '../../src/actors/node.js';
import type { RoleStatus } from '../../src/actors/ministry.js';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const PROBE = 50;

/** m0 serves / (minister n2, clerks n3, n4); m1 serves /a (minister n5, clerk n6). */
const ROOT: ClusterOrder = { order: 'appoint', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], clerksWanted: 2 };
const A: ClusterOrder = { order: 'appoint', subtree: '/a', minister: 'n5', clerks: ['n6'], clerksWanted: 1 };

function node(id = 'n2', over: Partial<NodeConfig> = {}) {
  const log = { term: 7, caughtUp: true };
  const config: NodeConfig = { id, nodes: NODES, addresses: Object.fromEntries(NODES.map((n) => [n, `/${n}`])), probeMs: PROBE, ...over };
  const core = new NodeCore(config, { term: () => log.term, caughtUp: () => log.caughtUp });
  /** Apply `orders` as the cluster log does (one run), returning what the node does. */
  const apply = (...orders: ClusterOrder[]): NodeEffect[] => {
    for (const o of orders) expect(core.apply(o, core.state.applied + 1).ok).toBe(true);
    return core.applied();
  };
  return { core, log, apply };
}

const kinds = (effects: NodeEffect[]) => effects.map((e) => e.kind);
const fsRequest = (path: string) => ({ type: 'govfs.fs.FsRequest', path, clientId: 'c', seq: 1 });
function replyOf(effects: NodeEffect[]): Record<string, unknown> {
  expect(kinds(effects)).toEqual(['reply']);
  return (effects[0] as { msg: Record<string, unknown> }).msg;
}

function status(over: Partial<RoleStatus>): RoleStatus {
  return { role: 'minister', ministry: 'm0', term: 1, commit: 3, applied: 3, lastIndex: 4, lastTerm: 1, commitTerm: 1, caughtUp: true, leading: true, ...over };
}

/** A president (n1) of a cluster with m0 and m1, asked by m0's minister to delete `subtree`. */
function subtreeDelete(subtree = '/a', ...more: ClusterOrder[]) {
  const n = node('n1');
  n.apply(ROOT, A, ...more);
  n.core.leaderIs('n1');
  const out = n.core.receive({ type: 'govfs.fs.SubtreeDelete', subtree, requester: 'm0' }, 1_000);
  return { ...n, out };
}

describe('NodeCore', () => {
  // Thesis 4.3: "When a node switches role it returns from one function and enters the one
  // corresponding with its new role."
  it('runs one role branch per appointment, and replaces it when the role changes', () => {
    const { apply } = node();
    expect(apply(ROOT)).toEqual([{ kind: 'startRole', record: expect.objectContaining({ id: 'm0', minister: 'n2' }), role: 'minister' }]);
    // n2 becomes a clerk of the same ministry: stop the minister, start a clerk; its group log stays.
    expect(kinds(apply({ ...ROOT, ministry: 'm0', minister: 'n3', clerks: ['n2', 'n4'] } as ClusterOrder))).toEqual(['stopRole', 'startRole']);
    // Out of every ministry: the role stops.
    expect(kinds(apply({ ...ROOT, ministry: 'm0', minister: 'n3', clerks: ['n4'] } as ClusterOrder))).toEqual(['stopRole', 'dropGroupLog']);
  });

  // Thesis 3.2: "When a minister is appointed it gets a Raft term."
  it('hands a new appointment (a new term) to the running role', () => {
    const { apply } = node();
    apply(ROOT);
    expect(apply({ order: 'fence', ministry: 'm0' })).toEqual([{ kind: 'appointRole', record: expect.objectContaining({ id: 'm0', term: 2, fenced: true }) }]);
    expect(apply({ order: 'noop' })).toEqual([]);
  });

  // Thesis 3.2: "The president is elected using Raft."
  it('runs the president while it leads the cluster log, keeping its ministry role', () => {
    const { core, apply } = node();
    apply(ROOT);
    expect(kinds(core.leaderIs('n2'))).toEqual(['log', 'startPresident']);
    expect(core.leaderIs('n2')).toEqual([]);
    expect(core.report().role).toBe('president');
    expect(kinds(core.leaderIs('n3'))).toEqual(['log', 'stopPresident']);
    expect(kinds(core.leaderIs(''))).toEqual([]);
  });

  // Thesis 4.4, footnote 19: "This is optimized in my system by clearing the entire log if a
  // clerk came from another ministry"
  // Only once this node's copy of the cluster log is current: while it replays history, an
  // old order may take it out of a ministry that a later one puts it back into.
  it('deletes the stored logs of groups it left, once its cluster log copy is current', () => {
    // (A clerk: a minister's role waits for a current copy itself, see the next test.)
    const { core, log, apply } = node('n3');
    log.caughtUp = false;
    expect(core.start(['m0', 'm9'])).toEqual([{ kind: 'after', ms: GROUP_GC_RETRY_MS, msg: { type: 'node.gc' } }]);
    expect(apply(ROOT)).toEqual([{ kind: 'startRole', record: expect.objectContaining({ id: 'm0' }), role: 'clerk' }]); // timer already set
    expect(core.receive({ type: 'node.gc' }, 500)).toEqual([{ kind: 'after', ms: GROUP_GC_RETRY_MS, msg: { type: 'node.gc' } }]);
    log.caughtUp = true;
    // m0 is this node's ministry again: its log stays.
    expect(core.receive({ type: 'node.gc' }, 1_000)).toEqual([{ kind: 'dropGroupLog', group: 'm9' }]);
    expect(core.receive({ type: 'node.gc' }, 1_500)).toEqual([]);
  });

  // Thesis 4.4 (the appointed Group Raft): the president appoints a minister whose log holds
  // every committed entry. A node replaying the cluster log (restarted, back from a partition)
  // meets appointments later orders replaced; leading on one made it minister of a term that
  // was over, without entries its successors had committed (president sim seed 4, with the
  // cluster log's voters trimmed). It leads only from a current copy; clerks and fences go on.
  it('takes a minister appointment only from a current copy of the cluster log', () => {
    const { core, log, apply } = node('n2');
    log.caughtUp = false;
    expect(apply(ROOT)).toEqual([{ kind: 'after', ms: GROUP_GC_RETRY_MS, msg: { type: 'node.gc' } }]);
    expect(core.receive({ type: 'node.gc' }, 500)).toEqual([{ kind: 'after', ms: GROUP_GC_RETRY_MS, msg: { type: 'node.gc' } }]);
    // Replaying on: a later order made n3 minister; n2 is a clerk now, and that may start.
    expect(apply({ ...ROOT, ministry: 'm0', minister: 'n3', clerks: ['n2', 'n4'] } as ClusterOrder)).toEqual([{ kind: 'startRole', record: expect.objectContaining({ id: 'm0', minister: 'n3', term: 2 }), role: 'clerk' }]);
    // Appointed minister again (a new term) while still behind: it waits, a clerk meanwhile.
    expect(apply({ ...ROOT, ministry: 'm0', minister: 'n2', clerks: ['n3', 'n4'] } as ClusterOrder)).toEqual([]);
    log.caughtUp = true;
    expect(core.receive({ type: 'node.gc' }, 1_000)).toEqual([{ kind: 'stopRole' }, { kind: 'startRole', record: expect.objectContaining({ id: 'm0', minister: 'n2', term: 3 }), role: 'minister' }]);
    // A fence takes effect even from a copy that is behind.
    log.caughtUp = false;
    expect(apply({ order: 'fence', ministry: 'm0' })).toEqual([{ kind: 'appointRole', record: expect.objectContaining({ id: 'm0', fenced: true }) }]);
  });

  // Thesis 3.3: "Since load balancing changes and minister appointments are communicated
  // through Raft each cluster member knows which ministry owns a given subtree."
  it('passes a request to its role when its ministry owns the path (the longest subtree)', () => {
    const n5 = node('n5');
    n5.apply(ROOT, A);
    expect(n5.core.receive(fsRequest('/a/x'), 0)).toEqual([{ kind: 'forwardToRole' }]);
    expect(n5.core.receive(fsRequest('/a'), 0)).toEqual([{ kind: 'forwardToRole' }]);
    expect(kinds(n5.core.receive(fsRequest('/ab'), 0))).toEqual(['reply']);
  });

  // Thesis 3.3: "In the rare case the directions were incorrect this means an extra jump
  // through an irrelevant ministry before getting correct information."
  it('answers a request for a subtree it does not serve with the subtree map', () => {
    const { core, apply } = node('n1');
    apply(ROOT, A);
    const r = replyOf(core.receive(fsRequest('/a/x'), 0));
    expect(r).toMatchObject({ type: 'govfs.fs.FsReply', ok: false });
    expect(r.error).toBeUndefined();
    expect(r.redirect).toEqual([
      { id: 'm0', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 1, down: false },
      { id: 'm1', subtree: '/a', minister: 'n5', clerks: ['n6'], term: 2, down: false },
    ]);
  });

  // Thesis 3.3: "For all requests a client needs to find an official (a minister or clerk) to
  // talk to."
  it('answers EUNAVAILABLE while no ministry serves the path', () => {
    const { core } = node();
    expect(replyOf(core.receive(fsRequest('/x'), 0))).toMatchObject({ ok: false, error: { code: 'EUNAVAILABLE', path: '/x' } });
  });

  // Thesis 3.3: "A client can not judge whether the node it got directions from has up to date
  // and correct information."
  // So a node that has not seen a configured ministry formed serves nothing of its subtree.
  it('answers EAGAIN for a path of a static ministry it has not seen formed', () => {
    const { core, apply } = node('n2', { ministries: [{ subtree: '/a', clerks: 1 }] });
    apply(ROOT);
    expect(replyOf(core.receive(fsRequest('/a/x'), 0))).toMatchObject({ ok: false, error: { code: 'EAGAIN' }, redirect: [expect.objectContaining({ id: 'm0' })] });
    expect(core.receive(fsRequest('/b'), 0)).toEqual([{ kind: 'forwardToRole' }]);
    apply(A);
    expect(kinds(core.receive(fsRequest('/a/x'), 0))).toEqual(['reply']);
    expect(replyOf(core.receive(fsRequest('/a/x'), 0)).error).toBeUndefined();
  });

  // Thesis 3.4: "At that point it marks the file subtree as down and may retry in the future."
  it('answers EUNAVAILABLE for a subtree marked down, even to its own role', () => {
    const { core, apply } = node();
    apply(ROOT, { order: 'down', ministry: 'm0', down: true });
    expect(replyOf(core.receive(fsRequest('/x'), 0))).toMatchObject({ ok: false, error: { code: 'EUNAVAILABLE' }, redirect: [expect.objectContaining({ id: 'm0', down: true })] });
  });

  // Thesis 3.2: "The log index is shared with the client before it is committed, on minister
  // failure the client can check with a clerk to see if its log entry exists"
  it('passes a ticket question to its role when it serves that ministry, else says unknown', () => {
    const { core, apply } = node('n3');
    apply(ROOT);
    expect(core.receive({ type: 'govfs.fs.TicketStatusRequest', ministry: 'm0', index: 4, term: 1 }, 0)).toEqual([{ kind: 'forwardToRole' }]);
    expect(replyOf(core.receive({ type: 'govfs.fs.TicketStatusRequest', ministry: 'm1', index: 4, term: 1 }, 0))).toEqual({ type: 'govfs.fs.TicketStatus', status: 'unknown' });
  });

  // Thesis 3.4: "All ministers and clerks periodically send heartbeats to the president."
  // Here the president probes; the answer carries what the node's current role reported.
  it("answers a probe with its current role's state, ignoring a stopped role's last report", () => {
    const { core, apply } = node();
    apply(ROOT);
    core.receive({ type: 'node.role-status', status: status({ lastIndex: 9 }) }, 0);
    expect(replyOf(core.receive({ type: 'govfs.fs.NodeProbe' }, 0))).toMatchObject({ type: 'govfs.fs.NodeReport', id: 'n2', role: 'minister', ministry: 'm0', lastIndex: 9, leading: true });
    // Now a clerk of m0: a report the minister sent before it stopped does not count.
    apply({ ...ROOT, ministry: 'm0', minister: 'n3', clerks: ['n2', 'n4'] } as ClusterOrder);
    core.receive({ type: 'node.role-status', status: status({ lastIndex: 10 }) }, 0);
    expect(replyOf(core.receive({ type: 'govfs.fs.NodeProbe' }, 0))).toMatchObject({ role: 'idle', ministry: '', lastIndex: 0 });
  });

  // Thesis 3.4: "A load report contains CPU utilization for each node in the group and the
  // popularity of each bit of metadata split into read and write." It rides the probe, only
  // when the president asks for it.
  it('adds its role\'s load to a probe answer only when the probe asks for it', () => {
    const { core, apply } = node();
    apply(ROOT);
    const load = { cpu: 0.5, readsPerSec: 10, writesPerSec: 2, hot: [{ path: '/x', readsPerSec: 10, writesPerSec: 2 }] };
    core.receive({ type: 'node.role-status', status: status({ load }) }, 0);
    expect(replyOf(core.receive({ type: 'govfs.fs.NodeProbe' }, 0))['load']).toBeUndefined();
    expect(replyOf(core.receive({ type: 'govfs.fs.NodeProbe', load: true }, 0))['load']).toEqual(load);
  });

  it('reports its machine\'s CPU between two load probes and its cores, idle too, and none under the simulator', () => {
    const { core } = node('n5');
    const probe = () => replyOf(core.receive({ type: 'govfs.fs.NodeProbe', load: true }, 0));
    core.machineRead(null); // the simulator: nothing to report
    expect(probe()['machineCpu']).toBeUndefined();
    core.machineRead({ activeMs: 1_000, idleMs: 9_000, cores: 2 });
    expect(probe()['machineCpu']).toBeUndefined(); // one reading: no interval yet
    core.machineRead({ activeMs: 1_900, idleMs: 9_100, cores: 2 }); // 900 of the 1,000 ms since busy
    expect(probe()).toMatchObject({ role: 'idle', machineCpu: 0.9, machineCores: 2 });
    expect(replyOf(core.receive({ type: 'govfs.fs.NodeProbe' }, 0))['machineCpu']).toBeUndefined();
  });

  it('passes a balance request to its president actor, or on to the president', () => {
    const { core } = node('n1');
    core.leaderIs('n1');
    expect(core.receive({ type: 'govfs.fs.BalanceRequest', action: 'plan' }, 0)).toEqual([{ kind: 'forwardToPresident' }]);
    const other = node('n2').core;
    other.leaderIs('n1');
    expect(other.receive({ type: 'govfs.fs.BalanceRequest', action: 'off' }, 0)).toEqual([{ kind: 'forwardToNode', node: 'n1' }]);
    expect(replyOf(node('n3').core.receive({ type: 'govfs.fs.BalanceRequest', action: 'off' }, 0))).toMatchObject({ ok: false, reason: 'no president right now: retry' });
  });

  // Thesis 4.4: "For example a fresh clerk needs to know when it is up-to-date¹⁶ and can begin
  // serving clients."
  it("confirms its cluster log copy with a ReadIndex when its role asks", () => {
    const { core } = node();
    expect(core.receive({ type: 'node.cluster-read-index' }, 0)).toEqual([{ kind: 'clusterReadIndex' }]);
  });

  // Thesis 3.2: "Its coordination is communicated using Raft's log replication."
  it("proposes its role's orders to the cluster log", () => {
    const { core } = node();
    const order: ClusterOrder = { order: 'down', ministry: 'm0', down: true };
    expect(core.receive({ type: 'node.order', order }, 0)).toEqual([{ kind: 'propose', order }]);
  });

  // Thesis 3.2: "Not all servers in a cluster are always actively used as represented by the
  // idle nodes."
  it('reports the president, the ministries and the idle nodes', () => {
    const { core, apply } = node();
    apply({ ...ROOT, clerks: ['n3'] } as ClusterOrder);
    core.leaderIs('n1');
    expect(replyOf(core.receive({ type: 'govfs.fs.StatusRequest' }, 0))).toMatchObject({
      type: 'govfs.fs.ClusterStatus',
      president: 'n1',
      clusterTerm: 7,
      idle: ['n4', 'n5', 'n6'],
      shortStaffed: ['m0'],
      nodes: [expect.objectContaining({ id: 'n2' })],
    });
  });

  // Thesis 3.3: "The clients remove requests is forwarded by the minister to the *president*."
  it('passes a subtree delete on to the president, or refuses it while there is none', () => {
    const { core, apply } = node('n3');
    apply(ROOT, A);
    const req = { type: 'govfs.fs.SubtreeDelete', subtree: '/a', requester: 'm0' };
    expect(replyOf(core.receive(req, 0))).toMatchObject({ type: 'govfs.fs.SubtreeDeleted', ok: false });
    core.leaderIs('n1');
    expect(core.receive(req, 0)).toEqual([{ kind: 'forwardToNode', node: 'n1' }]);
  });

  // Thesis 3.3: "Removing a directory spanning one or more load balanced subtrees needs a
  // little more care."
  // The doomed ministries (inside the subtree; never / nor the requester's) are fenced first,
  // so a minister cut off from the cluster log can commit nothing more in them.
  it('fences the ministries inside the deleted subtree before anything else', () => {
    const { out, core } = subtreeDelete('/a');
    expect(out).toEqual([
      { kind: 'deferReply', job: 1 },
      { kind: 'proposeAll', job: 1, step: 'fence', orders: [{ order: 'fence', ministry: 'm1' }] },
    ]);
    expect(core.dissolving('m1')).toBe(true);
    expect(core.dissolving('m0')).toBe(false);
    // A fence the cluster log refuses ends the delete with a reason to retry.
    expect(core.subtreeOrdered(1, 'fence', { ok: false, refused: 'notLeader' })).toEqual([
      { kind: 'answer', job: 1, msg: { type: 'govfs.fs.SubtreeDeleted', ok: false, reason: 'cluster log refused the order (notLeader): retry' } },
    ]);
    expect(core.dissolving('m1')).toBe(false);
    // No ministry inside the subtree (but the requester's or /'s): done at once.
    const none = subtreeDelete('/b');
    expect(none.out).toEqual([{ kind: 'reply', msg: { type: 'govfs.fs.SubtreeDeleted', ok: true, index: 2 } }]);
  });

  // Thesis 3.3: "It in turn appends *Subtree Delete* to the cluster wide log."
  // Once a majority of each doomed ministry holds the fence term, it is dissolved.
  it('dissolves a fenced ministry once a majority of its members hold the fence term', () => {
    const { core, apply } = subtreeDelete('/a');
    apply({ order: 'fence', ministry: 'm1' }); // m1 now at term 3
    expect(core.subtreeOrdered(1, 'fence', { ok: true, index: 3 })).toEqual([{ kind: 'tellSelf', msg: { type: 'node.subtree-delete', seq: 1 } }]);
    expect(core.receive({ type: 'node.subtree-delete', seq: 1 }, 1_100)).toEqual([{ kind: 'probeMembers', job: 1, nodes: ['n5', 'n6'], timeoutMs: 2 * PROBE }]);
    // One of two members at the fence term is not a majority: probe again a little later.
    const one = [{ id: 'n5', ministry: 'm1', groupTerm: 3 }, { id: 'n6', ministry: 'm1', groupTerm: 2 }];
    expect(core.receive({ type: 'node.subtree-probed', seq: 1, reports: one }, 1_200)).toEqual([{ kind: 'after', ms: PROBE, msg: { type: 'node.subtree-delete', seq: 1 } }]);
    const both = [{ id: 'n5', ministry: 'm1', groupTerm: 3 }, { id: 'n6', ministry: 'm1', groupTerm: 3 }];
    expect(core.receive({ type: 'node.subtree-probed', seq: 1, reports: both }, 1_300)).toEqual([{ kind: 'proposeAll', job: 1, step: 'dissolve', orders: [{ order: 'dissolve', ministry: 'm1' }] }]);
  });

  // Thesis 3.3: "The client receives the log index for the command to verify success even if
  // the *president* goes down."
  it('answers the subtree delete with the index of its last dissolve order', () => {
    const { core } = subtreeDelete('/a');
    expect(core.subtreeOrdered(1, 'dissolve', { ok: true, index: 42 })).toEqual([{ kind: 'answer', job: 1, msg: { type: 'govfs.fs.SubtreeDeleted', ok: true, index: 42 } }]);
    expect(core.subtreeOrdered(1, 'dissolve', { ok: true, index: 42 })).toEqual([]);
  });

  // Thesis 3.3: "This requires coordination across the entire cluster."
  // Without a majority of a doomed ministry at the fence term within its time, the delete
  // fails (the requester retries) rather than dissolving a ministry that may still commit.
  it('gives the subtree delete up when the fence is not confirmed in time', () => {
    const { core } = subtreeDelete('/a', { order: 'fence', ministry: 'm1' });
    expect(kinds(core.receive({ type: 'node.subtree-delete', seq: 1 }, 1_000))).toEqual(['probeMembers']);
    const late = 1_000 + SUBTREE_DELETE_MS + 1;
    expect(core.receive({ type: 'node.subtree-probed', seq: 1, reports: [] }, late)).toEqual([
      { kind: 'answer', job: 1, msg: { type: 'govfs.fs.SubtreeDeleted', ok: false, reason: 'fewer than half of the members of m1 confirmed the fence: retry' } },
    ]);
  });

  // Membership (membership-core.ts): a node removed from the cluster may campaign, never having
  // heard of its removal; its cluster log messages are refused unread, and only those.
  it('refuses the cluster log messages of a node removed from the cluster, and nothing else', () => {
    const { core, apply } = node('n1');
    const vote = { type: 'govfs.raft.RequestVote', from: 'n6', term: 9 };
    expect(core.refuses(vote)).toBe(false);
    apply(ROOT, { order: 'memberLeave', node: 'n6' }, { order: 'memberGone', node: 'n6' });
    expect(core.state.removed.has('n6')).toBe(true);
    expect(core.refuses(vote)).toBe(true);
    expect(core.refuses({ ...vote, from: 'n5' })).toBe(false);
    // Not the cluster log's: a client's request or a probe answer is read as ever.
    expect(core.refuses({ type: 'govfs.fs.NodeReport', from: 'n6' })).toBe(false);
    expect(core.refuses(fsRequest('/x'))).toBe(false);
    expect(core.refuses('node.tick')).toBe(false);
    expect(core.refuses(null)).toBe(false);
  });
});
