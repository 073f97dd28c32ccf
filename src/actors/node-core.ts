// A node's decisions (thesis 4.3) as a pure state machine, in the style of the Raft core
// (src/raft/core.ts): it holds the node's copy of the cluster state, the role it runs and the
// subtree deletes it carries out as president; each input (a message, an applied run of the
// cluster log, a leader change, the outcome of an effect) comes with the time and returns the
// effects for the shell (node.ts) to carry out in order. No ctx, timers, storage or randomness.
//
// What it decides:
// - roles: exactly one role branch (clerk or minister of one ministry) per the cluster log's
//   appointments, and the president while this node leads the cluster log;
// - routing: a file system request goes to this node's role when it serves the ministry of
//   the path; otherwise the client gets the subtree map to go elsewhere (or a typed error while
//   no ministry serves it, it is being formed, or it is down);
// - the subtree delete of thesis Figure 9, as president: fence the doomed ministries, wait
//   until a majority of each holds the fence term, then dissolve them;
// - which stored group logs (of ministries this node left) may be deleted.
//
// The shell reads the cluster log for it through a ClusterLogView (its term, whether this
// node's copy is current), proposes orders and carries out everything else.

import { ClusterState, NO_MINISTER, type ClusterOrder, type MinistryRecord, type OrderResult } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import type { NodeConfig } from './node-config.js';
import type { RoleStatus } from './ministry-status.js';
import { utilisation } from './load.js';
import type { MachineBusy } from '../runtime/types.js';
import type { BalanceReplyMessage, ClusterStatusMessage, MemberReplyMessage, MinistryCopyMessage, MigrationProgressMessage, MinistryInfo, NodeReportMessage, SubtreeDeletedMessage, TicketStatusMessage } from '../fs/requests.js';

/** A node's answer to a NodeProbe: its ministry role's status, the group term under the
 * wire's name, and its load when the probe asked for it. */
export type NodeReport = NodeReportMessage;

/** A ministry as the wire shows it (govfs.fs.Ministry). */
export type MinistryMsg = MinistryInfo;

export type SubtreeDeleted = SubtreeDeletedMessage;

/** The president's answer to a BalanceRequest (`govfs balance on|off|plan`). */
export type BalanceReply = BalanceReplyMessage;

/** What a node answers itself (the rest its role answers). */
export type NodeReply =
  | NodeReport
  | SubtreeDeleted
  | BalanceReply
  | MemberReplyMessage
  | MinistryCopyMessage
  | { type: 'govfs.fs.FsReply'; ok: false; error?: { code: string; message: string; path: string }; redirect?: MinistryMsg[]; mapVersion?: number }
  | MigrationProgressMessage
  | (TicketStatusMessage & { status: 'unknown' })
  | (Omit<ClusterStatusMessage, 'nodes'> & { nodes: NodeReport[] });

/** Local (same-thread) messages between a node and its children. */
export type NodeInternal =
  | { type: 'node.role-status'; status: RoleStatus }
  | { type: 'node.order'; order: ClusterOrder }
  | { type: 'node.cluster-read-index' };

/** Messages a node sends itself (timers, effects' outcomes). */
export type NodeSelfMsg =
  | { type: 'node.gc' }
  | { type: 'node.subtree-delete'; seq: number }
  | { type: 'node.subtree-probed'; seq: number; reports: Pick<NodeReport, 'id' | 'ministry' | 'groupTerm'>[] };

/** What the core reads of the cluster log's Raft shell. */
export interface ClusterLogView {
  term(): number;
  /** This node has applied everything the president reported committed (thesis 4.4). */
  caughtUp(): boolean;
  /** The cluster log's Raft configuration as this node knows it (for status). */
  membership?(): { voters: readonly string[]; learners: readonly string[] };
}

export type SubtreeStep = 'fence' | 'dissolve';

/** The outcome of a `proposeAll` effect. */
export type OrdersOutcome = { ok: true; index: number } | { ok: false; refused?: string; lost?: string };

export type NodeEffect =
  /** Answer the message being handled. */
  | { kind: 'reply'; msg: NodeReply }
  /** Pass the message being handled on to this node's role, or to node `node`. */
  | { kind: 'forwardToRole' }
  | { kind: 'forwardToNode'; node: string }
  /** Pass it on to this node's president actor. */
  | { kind: 'forwardToPresident' }
  /** Keep the ask being handled open as subtree delete `job`'s answer. */
  | { kind: 'deferReply'; job: number }
  | { kind: 'answer'; job: number; msg: SubtreeDeleted }
  /** Answer the ask being handled once a ReadIndex on the cluster log confirms this copy. */
  | { kind: 'clusterReadIndex' }
  | { kind: 'propose'; order: ClusterOrder }
  /** Propose `orders` in turn, stopping at the first refused; then, once the last is applied,
   * call subtreeOrdered() with the outcome. */
  | { kind: 'proposeAll'; job: number; step: SubtreeStep; orders: ClusterOrder[] }
  /** NodeProbe each of `nodes`; tell self node.subtree-probed with the answers that came. */
  | { kind: 'probeMembers'; job: number; nodes: string[]; timeoutMs: number }
  | { kind: 'after'; ms: number; msg: NodeSelfMsg }
  | { kind: 'tellSelf'; msg: NodeSelfMsg }
  | { kind: 'startPresident' }
  | { kind: 'stopPresident' }
  | { kind: 'startRole'; record: MinistryRecord; role: 'minister' | 'clerk' }
  | { kind: 'stopRole' }
  /** The role's ministry has a new appointment (a new term). */
  | { kind: 'appointRole'; record: MinistryRecord }
  /** Delete this node's stored copy of group `group`'s log. */
  | { kind: 'dropGroupLog'; group: string }
  | { kind: 'log'; level: 'info' | 'debug'; fields: Record<string, unknown>; msg: string };

/** A subtree delete must be done within this (the requesting minister waits 5 s). */
export const SUBTREE_DELETE_MS = 4_000;

/** How soon to look again, while this node is catching up, at the logs of groups it left and
 * at a minister's role it was appointed to (NodeCore.staleLead). */
export const GROUP_GC_RETRY_MS = 500;

interface Message {
  type?: unknown;
  [k: string]: unknown;
}

export class NodeCore {
  private cluster: ClusterState;
  private leader = '';
  private presiding = false;
  private role: { ministry: string; role: 'minister' | 'clerk'; term: number } | null = null;
  private roleStatus: RoleStatus | null = null;
  /** Subtree deletes this node (as president) is carrying out: the ministries to dissolve. */
  private readonly subtreeDeletes = new Map<number, { ids: string[]; deadline: number }>();
  private subtreeDeleteSeq = 0;
  /** Groups this node left whose stored log is still here (see dropLeftGroups). */
  private readonly leftGroups = new Set<string>();
  private gcScheduled = false;
  private readonly probeMs: number;
  /** The machine's busy time at the last load probe, and its CPU since the one before. */
  private machineAt: MachineBusy | null = null;
  private machineCpu: number | null = null;

  constructor(
    private readonly config: NodeConfig,
    private readonly log: ClusterLogView,
  ) {
    this.cluster = new ClusterState(config.nodes);
    this.probeMs = config.probeMs ?? 50;
  }

  /** This node's copy of the cluster state (the cluster log's applied state). */
  get state(): ClusterState {
    return this.cluster;
  }

  // ---- the cluster log's state machine -------------------------------------------------------

  apply(order: ClusterOrder, index: number): OrderResult {
    return this.cluster.apply(order, index);
  }

  restore(state: ClusterState): void {
    this.cluster = state;
  }

  // ---- inputs --------------------------------------------------------------------------------

  /** The machine's busy time (Clock.machineBusy) read as a load probe came: its CPU since the
   * last one goes into the report (null, under the simulator: nothing to report). */
  machineRead(busy: MachineBusy | null): void {
    if (busy === null) return;
    if (this.machineAt !== null) this.machineCpu = utilisation(this.machineAt, busy);
    this.machineAt = busy;
  }

  /** The node started; `storedGroups` are the groups whose logs its storage holds. */
  start(storedGroups: readonly string[]): NodeEffect[] {
    // Logs of groups left before a restart: dropped once this node knows it is not in them.
    for (const g of storedGroups) this.leftGroups.add(g);
    return this.reconcile();
  }

  /** The cluster log's leader is (now) `leader` ('' unknown). */
  leaderIs(leader: string): NodeEffect[] {
    if (leader === this.leader) return [];
    this.leader = leader;
    return this.reconcile();
  }

  /** The cluster log applied a run of orders (or restored a snapshot). */
  applied(): NodeEffect[] {
    return this.reconcile();
  }

  /** Whether a subtree delete is fencing ministry `id` to dissolve it. */
  dissolving(id: string): boolean {
    for (const job of this.subtreeDeletes.values()) if (job.ids.includes(id)) return true;
    return false;
  }

  receive(msg: unknown, now: number): NodeEffect[] {
    const m = msg as Message;
    switch (m?.type) {
      case 'node.cluster-read-index':
        // A member of a ministry asks whether this node's cluster log copy is current.
        return [{ kind: 'clusterReadIndex' }];
      case 'node.gc':
        // (Roles a stale copy held back, and left groups' logs: see staleLead, dropLeftGroups.)
        this.gcScheduled = false;
        return this.reconcile();
      case 'node.role-status': {
        // Only from the role this node runs now: a report its previous role sent just before
        // it was stopped (still in this mailbox) would otherwise stand for good.
        const { status } = msg as { status: RoleStatus };
        if (this.role && status.ministry === this.role.ministry && status.role === this.role.role) this.roleStatus = status;
        return [];
      }
      case 'node.order':
        return [{ kind: 'propose', order: (msg as { order: ClusterOrder }).order }];
      case 'govfs.fs.NodeProbe':
        return [{ kind: 'reply', msg: this.report(m.load === true) }];
      case 'govfs.fs.StatusRequest':
        return [{ kind: 'reply', msg: this.status() }];
      case 'govfs.fs.FsRequest':
        return [this.route(String(m.path))];
      case 'govfs.fs.MigrationQuery':
        // The president asks where this node's ministry is in a migration.
        if (this.role) return [{ kind: 'forwardToRole' }];
        return [{ kind: 'reply', msg: { type: 'govfs.fs.MigrationProgress', migration: String(m.migration ?? ''), ministry: '', state: 'none', reason: 'serves no ministry' } }];
      case 'govfs.fs.MinistryCopyRequest': {
        // `govfs backup`: the ministry's minister copies its state (ministry-copy.ts).
        const id = String((msg as { ministry?: unknown }).ministry ?? '');
        if (this.role && this.role.ministry === id) return [{ kind: 'forwardToRole' }];
        const minister = this.cluster.ministries.get(id)?.minister;
        if (minister && minister !== this.config.id && minister !== NO_MINISTER) return [{ kind: 'forwardToNode', node: minister }];
        return [{ kind: 'reply', msg: { type: 'govfs.fs.MinistryCopy', ok: false, code: 'EAGAIN', reason: `no minister of ${id} known to ${this.config.id} now: ask again`, index: 0, term: 0, state: new Uint8Array(0) } }];
      }
      case 'govfs.fs.TicketStatusRequest':
        if (this.role && this.role.ministry === m.ministry) return [{ kind: 'forwardToRole' }];
        return [{ kind: 'reply', msg: { type: 'govfs.fs.TicketStatus', status: 'unknown' } }];
      case 'govfs.fs.BalanceRequest':
        // `govfs balance on|off|plan`: the president answers.
        if (this.presiding) return [{ kind: 'forwardToPresident' }];
        // (The leader may be this node before its president has started: answer, never pass
        // the request to itself.)
        if (this.leader && this.leader !== this.config.id) return [{ kind: 'forwardToNode', node: this.leader }];
        return [{ kind: 'reply', msg: { type: 'govfs.fs.BalanceReply', ok: false, balancing: this.cluster.balancing, plan: [], reason: 'no president right now: retry', index: 0 } }];
      case 'govfs.fs.MemberRequest':
        // `govfs node add|remove`: the president answers.
        if (this.presiding) return [{ kind: 'forwardToPresident' }];
        if (this.leader && this.leader !== this.config.id) return [{ kind: 'forwardToNode', node: this.leader }];
        return [{ kind: 'reply', msg: { type: 'govfs.fs.MemberReply', ok: false, code: 'EAGAIN', reason: 'no president right now: retry', index: 0 } }];
      case 'govfs.fs.CrossRenameBegin':
        // A source minister asks the president to coordinate a rename across ministries
        // (rename-core.ts); it asks again until decided, so one lost on the way costs nothing.
        if (this.presiding) return [{ kind: 'forwardToPresident' }];
        if (this.leader && this.leader !== this.config.id) return [{ kind: 'forwardToNode', node: this.leader }];
        return [];
      case 'govfs.fs.SubtreeDelete':
        return this.subtreeDelete(String(m.subtree), m.requester, now);
      case 'node.subtree-delete':
        return this.probeDoomed((msg as { seq: number }).seq);
      case 'node.subtree-probed': {
        const { seq, reports } = msg as Extract<NodeSelfMsg, { type: 'node.subtree-probed' }>;
        return this.subtreeProbed(seq, reports, now);
      }
      default:
        // Group log messages for a ministry this node no longer serves, late replies: drop.
        return [{ kind: 'log', level: 'debug', fields: { type: m?.type }, msg: 'node ignored a message' }];
    }
  }

  /** The outcome of a `proposeAll` effect of subtree delete `seq`. */
  subtreeOrdered(seq: number, step: SubtreeStep, outcome: OrdersOutcome): NodeEffect[] {
    if (!outcome.ok) {
      const reason = outcome.refused !== undefined ? `cluster log refused the order (${outcome.refused}): retry` : `order lost (${outcome.lost}): retry`;
      return this.finishSubtreeDelete(seq, { ok: false, reason });
    }
    if (step === 'fence') return [{ kind: 'tellSelf', msg: { type: 'node.subtree-delete', seq } }];
    return this.finishSubtreeDelete(seq, { ok: true, index: outcome.index });
  }

  /** This node's NodeReport (what the president's probes get), with its load if `load`. */
  report(load = false): NodeReport {
    const s = this.roleStatus;
    const r: NodeReport = {
      type: 'govfs.fs.NodeReport',
      id: this.config.id,
      role: this.leader === this.config.id ? 'president' : s ? s.role : 'idle',
      ministry: s?.ministry ?? '',
      groupTerm: s?.term ?? 0,
      commit: s?.commit ?? 0,
      applied: s?.applied ?? 0,
      lastIndex: s?.lastIndex ?? 0,
      lastTerm: s?.lastTerm ?? 0,
      commitTerm: s?.commitTerm ?? 0,
      caughtUp: s?.caughtUp ?? false,
      leading: s?.leading ?? false,
    };
    if (load && s?.load) r.load = s.load;
    if (load && this.machineCpu !== null && this.machineAt !== null) {
      r.machineCpu = this.machineCpu;
      r.machineCores = this.machineAt.cores;
    }
    if (s?.chunks && s.role === 'minister') {
      r.chunks = s.chunks.chunks;
      r.chunksShort = s.chunks.short;
      r.chunkHolders = [...s.chunks.holders].map(([node, chunks]) => ({ node, chunks }));
    }
    return r;
  }

  // ---- roles ---------------------------------------------------------------------------------

  private reconcile(): NodeEffect[] {
    const { config } = this;
    const out: NodeEffect[] = [];
    const isPresident = this.leader === config.id;
    if (isPresident && !this.presiding) {
      const term = this.log.term();
      out.push({ kind: 'log', level: 'info', fields: { node: config.id, role: 'president', term }, msg: `${config.id} is president (cluster term ${term})` }, { kind: 'startPresident' });
      this.presiding = true;
    } else if (!isPresident && this.presiding) {
      const term = this.log.term();
      out.push({ kind: 'log', level: 'info', fields: { node: config.id, role: 'node', term, leader: this.leader }, msg: `${config.id} is no longer president (cluster term ${term}, leader ${this.leader || 'unknown'})` }, { kind: 'stopPresident' });
      this.presiding = false;
    }
    // The president keeps any ministry role it holds until it hands the presidency to an idle
    // node (see president-core.ts): a president election must not cost a ministry its minister.
    const want = this.cluster.roleOf(config.id);
    if (this.staleLead(want)) return [...out, ...this.lookAgainSoon()];
    if (this.role && (!want || want.ministry.id !== this.role.ministry || want.role !== this.role.role)) {
      out.push({ kind: 'stopRole' });
      const old = this.role.ministry;
      this.role = null;
      this.roleStatus = null;
      // Moving to another ministry (or none): this node's copy of the old group log goes,
      // once this node knows the move is current.
      if (!want || want.ministry.id !== old) this.leftGroups.add(old);
    }
    if (want && !this.role) {
      const record = want.ministry;
      out.push({ kind: 'startRole', record, role: want.role });
      this.role = { ministry: record.id, role: want.role, term: record.term };
      this.leftGroups.delete(record.id);
    } else if (want && this.role && want.ministry.term !== this.role.term) {
      this.role.term = want.ministry.term;
      out.push({ kind: 'appointRole', record: want.ministry });
    }
    out.push(...this.dropLeftGroups());
    return out;
  }

  /** Whether `want` would have this node lead its ministry's group log (a minister's role, or
   * a new term of it) from a copy of the cluster log that is not current. A node replaying the
   * log (restarted, or back from a partition) meets appointments that later orders replaced:
   * leading on one would make it minister of a term that is over, without the entries its
   * successors committed (the authority's rule, src/raft/core.ts, is that an appointee holds
   * them). Such a step waits until this node has caught up; a fence (no leader) never waits. */
  private staleLead(want: ReturnType<ClusterState['roleOf']>): boolean {
    if (!want || want.role !== 'minister' || want.ministry.fenced) return false;
    const r = this.role;
    if (r && r.ministry === want.ministry.id && r.role === 'minister' && r.term === want.ministry.term) return false;
    return !this.log.caughtUp();
  }

  /** Run reconcile() again after GROUP_GC_RETRY_MS (once: one timer at a time). */
  private lookAgainSoon(): NodeEffect[] {
    if (this.gcScheduled) return [];
    this.gcScheduled = true;
    return [{ kind: 'after', ms: GROUP_GC_RETRY_MS, msg: { type: 'node.gc' } }];
  }

  /** Delete the stored logs of groups this node left, but only once its copy of the cluster
   * log is current. While it replays history (after a restart, or catching up), an old order
   * can take it out of a ministry that a later order put it back into; its group log is then
   * newer than that order and must survive (stale appointments are refused by term). */
  private dropLeftGroups(): NodeEffect[] {
    if (this.leftGroups.size === 0) return [];
    if (!this.log.caughtUp()) return this.lookAgainSoon();
    const current = this.cluster.roleOf(this.config.id)?.ministry.id;
    const out: NodeEffect[] = [];
    for (const g of this.leftGroups) if (g !== current) out.push({ kind: 'dropGroupLog', group: g });
    this.leftGroups.clear();
    return out;
  }

  // ---- routing -------------------------------------------------------------------------------

  /** Whether `msg` is refused unread: the cluster log's messages from a node removed from the
   * cluster would otherwise disturb the others (it may campaign, never having heard of its
   * removal). (Asked first of every message: the common case returns at once.) */
  refuses(msg: unknown): boolean {
    const { removed } = this.cluster;
    if (removed.size === 0 || typeof msg !== 'object' || msg === null) return false;
    const m = msg as { type?: unknown; from?: unknown };
    return typeof m.type === 'string' && m.type.startsWith('govfs.raft.') && typeof m.from === 'string' && removed.has(m.from);
  }

  /** Where a file system request for `path` goes (the shell asks directly: the hot path). */
  route(path: string): NodeEffect {
    const state = this.cluster;
    const ministry = state.ministryFor(path);
    if (!ministry) {
      return fsError({ code: 'EUNAVAILABLE', message: `no ministry serves ${path} yet (the cluster is starting): retry`, path });
    }
    const unformed = state.unformed(this.config.ministries);
    const forming = unformed.length === 0 ? undefined : unformed.find((sub) => isWithin(path, sub) && sub.length > ministry.subtree.length);
    if (forming) {
      return fsError({ code: 'EAGAIN', message: `the ministry of ${forming} is being formed (this node has not caught up with it yet): retry`, path }, this.subtreeMap());
    }
    if (ministry.down) {
      return fsError({ code: 'EUNAVAILABLE', message: `the ministry serving ${path} is down (fewer than half its members answer); the president is retrying`, path }, [ministryMsg(ministry)]);
    }
    if (this.role && this.role.ministry === ministry.id) return { kind: 'forwardToRole' };
    // (With the map's version: a client that knows a newer map keeps it, and asks again shortly.)
    return { kind: 'reply', msg: { type: 'govfs.fs.FsReply', ok: false, redirect: this.subtreeMap(), mapVersion: state.applied } };
  }

  /** The map clients get: ministries a split is still forming serve nothing yet. */
  private subtreeMap(): MinistryMsg[] {
    return this.cluster.serving().map(ministryMsg);
  }

  private status(): Extract<NodeReply, { type: 'govfs.fs.ClusterStatus' }> {
    const ministries = [...this.cluster.ministries.values()];
    const assigned = new Set<string>();
    for (const mi of ministries) for (const n of [mi.minister, ...mi.clerks]) assigned.add(n);
    return {
      type: 'govfs.fs.ClusterStatus',
      president: this.leader,
      clusterTerm: this.log.term(),
      ministries: ministries.map(ministryMsg),
      idle: this.cluster.nodes.filter((n) => !assigned.has(n) && n !== this.leader),
      nodes: [this.report()],
      shortStaffed: ministries.filter((mi) => mi.clerks.length < mi.clerksWanted).map((mi) => mi.id),
      balancing: this.cluster.balancing,
      ...this.members(),
      migrations: [...this.cluster.migrations.values()].map((g) => ({ id: g.id, subtree: g.subtree, from: g.from, to: g.to, phase: g.phase, split: g.split, reason: g.reason })),
    };
  }

  /** Membership for status: the cluster log's voters and learners, members being removed. */
  private members(): { voters?: string[]; learners?: string[]; leaving: string[] } {
    const m = this.log.membership?.();
    const leaving = [...this.cluster.leaving].sort();
    return m ? { voters: [...m.voters], learners: [...m.learners], leaving } : { leaving };
  }

  // ---- subtree delete (thesis Figure 9) ------------------------------------------------------

  private subtreeDelete(subtree: string, requester: unknown, now: number): NodeEffect[] {
    // Only the president orders; any other node passes the request on to it.
    if (this.leader !== this.config.id) {
      if (this.leader) return [{ kind: 'forwardToNode', node: this.leader }];
      return [{ kind: 'reply', msg: { type: 'govfs.fs.SubtreeDeleted', ok: false, reason: 'no president right now: retry' } }];
    }
    const doomed = [...this.cluster.ministries.values()].filter((mi) => mi.id !== requester && mi.subtree !== '/' && isWithin(mi.subtree, subtree));
    if (doomed.length === 0) return [{ kind: 'reply', msg: { type: 'govfs.fs.SubtreeDeleted', ok: true, index: this.cluster.applied } }];
    // Fence first, dissolve only once a majority of each doomed ministry holds the fence
    // term: a minister cut off from the cluster log could otherwise keep serving (and
    // committing in) a subtree that no longer exists.
    const seq = ++this.subtreeDeleteSeq;
    this.subtreeDeletes.set(seq, { ids: doomed.map((mi) => mi.id), deadline: now + SUBTREE_DELETE_MS });
    const fences: ClusterOrder[] = doomed.filter((mi) => !mi.fenced).map((mi) => ({ order: 'fence', ministry: mi.id }));
    return [
      { kind: 'deferReply', job: seq },
      fences.length === 0 ? { kind: 'tellSelf', msg: { type: 'node.subtree-delete', seq } } : { kind: 'proposeAll', job: seq, step: 'fence', orders: fences },
    ];
  }

  /** Ask the doomed ministries' members where they are. */
  private probeDoomed(seq: number): NodeEffect[] {
    const job = this.subtreeDeletes.get(seq);
    if (!job) return [];
    const members = [
      ...new Set(
        job.ids.flatMap((id) => {
          const mi = this.cluster.ministries.get(id);
          return mi ? [mi.minister, ...mi.clerks].filter((n) => n !== NO_MINISTER) : [];
        }),
      ),
    ];
    return [{ kind: 'probeMembers', job: seq, nodes: members, timeoutMs: this.probeMs * 2 }];
  }

  private subtreeProbed(seq: number, reports: Pick<NodeReport, 'id' | 'ministry' | 'groupTerm'>[], now: number): NodeEffect[] {
    const job = this.subtreeDeletes.get(seq);
    if (!job) return [];
    const unfenced = job.ids.filter((id) => {
      const mi = this.cluster.ministries.get(id);
      if (!mi) return false; // dissolved already
      const members = [mi.minister, ...mi.clerks].filter((n) => n !== NO_MINISTER);
      const atFence = reports.filter((r) => members.includes(r.id) && r.ministry === id && r.groupTerm >= mi.term).length;
      return atFence * 2 <= members.length;
    });
    if (unfenced.length > 0) {
      if (now > job.deadline) return this.finishSubtreeDelete(seq, { ok: false, reason: `fewer than half of the members of ${unfenced.join(', ')} confirmed the fence: retry` });
      return [{ kind: 'after', ms: this.probeMs, msg: { type: 'node.subtree-delete', seq } }];
    }
    const dissolves: ClusterOrder[] = job.ids.filter((id) => this.cluster.ministries.has(id)).map((id) => ({ order: 'dissolve', ministry: id }));
    if (dissolves.length === 0) return this.finishSubtreeDelete(seq, { ok: true, index: this.cluster.applied });
    return [{ kind: 'proposeAll', job: seq, step: 'dissolve', orders: dissolves }];
  }

  private finishSubtreeDelete(seq: number, r: { ok: true; index: number } | { ok: false; reason: string }): NodeEffect[] {
    if (!this.subtreeDeletes.delete(seq)) return [];
    return [{ kind: 'answer', job: seq, msg: { type: 'govfs.fs.SubtreeDeleted', ...r } }];
  }
}

export function ministryMsg(m: MinistryRecord): MinistryMsg {
  return { id: m.id, subtree: m.subtree, minister: m.minister, clerks: m.clerks, term: m.term, down: m.down };
}

function fsError(error: { code: string; message: string; path: string }, redirect?: MinistryMsg[]): NodeEffect {
  return { kind: 'reply', msg: { type: 'govfs.fs.FsReply', ok: false, error, ...(redirect && { redirect }) } };
}
