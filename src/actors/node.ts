// A GovFS node (thesis 4.3): the root of one host's actor tree. It runs the cluster log (an
// elected Raft whose leader is the president), learns the subtree map and its own appointment
// from it, and keeps exactly one role branch alive under it:
//
//   /<id>               this actor: cluster log, routing, probes
//   /<id>/role          clerk or minister of one ministry (group log, namespace, client sessions)
//   /<id>/president     while this node leads the cluster log
//
// Changing role is stopping the old branch (its group log shell, sessions, timers and asks go
// with it) and spawning the next. A node elected president while it serves in a ministry hands
// the presidency on to an idle node, so that an election never costs a ministry its staff; with
// no idle node it holds both roles.

import { RaftShell, type AppliedEntry } from '../raft/shell.js';
import { ClusterState, NO_MINISTER, decodeOrder, encodeOrder, type ClusterOrder, type MinistryRecord } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import { ministryBehaviour, type RoleStatus } from './ministry.js';
import { presidentBehaviour } from './president.js';
import { registerBehaviour } from '../runtime/runtime.js';
import type { Storage } from '../runtime/storage.js';
import type { Behaviour, Context, Message, Ref } from '../runtime/types.js';

export interface NodeConfig {
  id: string;
  /** Every node of the cluster (the cluster log's voters). */
  nodes: string[];
  /** Actor address of every node's root, by id. */
  addresses: Record<string, string>;
  /** Clerks of the root ministry "/" (default 2). */
  rootClerks?: number;
  /** Static extra ministries, formed at bootstrap. */
  ministries?: { subtree: string; clerks: number }[];
  /** Raft tick (default 10 ms). Group logs heartbeat every tick. */
  tickMs?: number;
  /** The cluster log's election timeout: a node that hears nothing from the president for
   * between this and twice this long campaigns (default 1,000 ms; the president heartbeats
   * twenty times as often). It must stay well above the longest stall of a node's event loop
   * (GC, a busy machine): at 100 ms a loaded 2-core machine changed president every minute. */
  electionMs?: number;
  /** How often the president probes every node, and after how long without an answer it
   * takes a node for failed (defaults 50 ms and 1,000 ms; like electionMs, well above the
   * stalls of a busy machine, since every failure costs a fence and a new appointment). */
  probeMs?: number;
  failAfterMs?: number;
  /** Compact a log after this many applied entries (default 10,000). */
  snapshotEntries?: number;
  /** Forget a client's completion record after this long without requests (default 10 min). */
  clientTtlMs?: number;
  /** A client silent this long loses its session at a member, and what it held there. */
  sessionTtlMs?: number;
  /** Lease duration (default 5 s) and the bound on clock drift between nodes over one lease
   * period (default 100 ms). */
  leaseTtlMs?: number;
  leaseDriftMs?: number;
}

/** Local (same-thread) messages between a node and its children. */
export type NodeInternal =
  | { type: 'node.role-status'; status: RoleStatus }
  | { type: 'node.order'; order: ClusterOrder }
  | { type: 'node.cluster-read-index' };

interface TypedMsg {
  type?: string;
  group?: string;
  [k: string]: unknown;
}

export function roleAddress(config: NodeConfig, id: string): string {
  return `${config.addresses[id]}/role`;
}

/** A subtree delete must be done within this (the requesting minister waits 5 s). */
const SUBTREE_DELETE_MS = 4_000;

interface SubtreeDeleteJob {
  /** The ministries to dissolve. */
  ids: string[];
  answer: (m: Message) => void;
  deadline: number;
}

interface NodeReportMsg {
  id: string;
  ministry: string;
  groupTerm: number;
}

/** Default NodeConfig.electionMs. */
export const ELECTION_MS = 1_000;

/** The cluster log's election timeout and heartbeat interval, in ticks. */
export function clusterTimers(config: NodeConfig): { tickMs: number; electionTicks: number; heartbeatTicks: number } {
  const tickMs = config.tickMs ?? 10;
  const electionTicks = Math.max(2, Math.round((config.electionMs ?? ELECTION_MS) / tickMs));
  return { tickMs, electionTicks, heartbeatTicks: Math.max(1, Math.min(electionTicks - 1, Math.round(electionTicks / 20))) };
}

/** How soon to look again at the logs of groups this node left, while it is catching up. */
const GROUP_GC_RETRY_MS = 500;

/** Ids of the groups whose logs are stored here (`g/<id>/...`), one lookup per group. */
function storedGroups(storage: Storage): string[] {
  const out: string[] = [];
  let from = 'g/';
  for (;;) {
    let next: string | undefined;
    for (const [key] of storage.range({ start: from, end: 'g/\uffff', limit: 1 })) next = key;
    if (next === undefined) return out;
    const id = next.slice(2, next.indexOf('/', 2));
    out.push(id);
    from = `g/${id}/\uffff`;
  }
}

export function nodeBehaviour(config: NodeConfig): Behaviour & { inspect(): Readonly<ClusterState> } {
  let state = new ClusterState(config.nodes);
  let raft: RaftShell;
  let president: Ref | null = null;
  let role: { ref: Ref; ministry: string; role: 'minister' | 'clerk'; term: number } | null = null;
  let roleStatus: RoleStatus | null = null;
  let leader = '';
  const probeMs = config.probeMs ?? 50;
  /** Subtree deletes this node (as president) is carrying out. */
  const subtreeDeletes = new Map<number, SubtreeDeleteJob>();
  let subtreeDeleteSeq = 0;
  const finishSubtreeDelete = (seq: number, r: { ok: true; index: number } | { ok: false; reason: string }): void => {
    const job = subtreeDeletes.get(seq);
    if (!job) return;
    subtreeDeletes.delete(seq);
    job.answer({ type: 'govfs.fs.SubtreeDeleted', ...r });
  };
  /** Groups this node left whose stored log is still here (see dropLeftGroups). */
  const leftGroups = new Set<string>();
  let gcTimer: (() => void) | null = null;

  /** Delete the stored logs of groups this node left, but only once its copy of the cluster
   * log is current. While it replays history (after a restart, or catching up), an old order
   * can take it out of a ministry that a later order put it back into; its group log is then
   * newer than that order and must survive (stale appointments are refused by term). */
  const dropLeftGroups = (ctx: Context): void => {
    if (leftGroups.size === 0) return;
    if (!raft.caughtUp()) {
      gcTimer ??= ctx.clock.after(GROUP_GC_RETRY_MS, { type: 'node.gc' });
      return;
    }
    const current = state.roleOf(config.id)?.ministry.id;
    for (const g of leftGroups) if (g !== current) ctx.storage.delRange(`g/${g}/`, `g/${g}/\uffff`);
    leftGroups.clear();
  };

  const reconcile = (ctx: Context): void => {
    const isPresident = leader === config.id;
    if (isPresident && !president) {
      ctx.log.info({ node: config.id, term: raft.softState().term }, `${config.id} is president (cluster term ${raft.softState().term})`);
      president = ctx.spawn('president', () =>
        presidentBehaviour({
          config,
          state: () => state,
          propose: (order) => raft.propose(encodeOrder(order)),
          readIndex: (cb) => raft.readIndex(cb),
          transferTo: (id) => raft.transferLeadership(id).ok,
          dissolving: (id) => [...subtreeDeletes.values()].some((job) => job.ids.includes(id)),
        }),
      );
    } else if (!isPresident && president) {
      ctx.log.info({ node: config.id, term: raft.softState().term, leader }, `${config.id} is no longer president (cluster term ${raft.softState().term}, leader ${leader || 'unknown'})`);
      ctx.stop(president);
      president = null;
    }
    // The president keeps any ministry role it holds until it hands the presidency to an idle
    // node (see president.ts): a president election must not cost a ministry its minister.
    const want = state.roleOf(config.id);
    if (role && (!want || want.ministry.id !== role.ministry || want.role !== role.role)) {
      ctx.stop(role.ref);
      const old = role.ministry;
      role = null;
      roleStatus = null;
      // Moving to another ministry (or none): this node's copy of the old group log goes,
      // once this node knows the move is current.
      if (!want || want.ministry.id !== old) leftGroups.add(old);
    }
    if (want && !role) {
      const record = want.ministry;
      const ref = ctx.spawn('role', () =>
        ministryBehaviour({ config, record, role: want.role, clusterState: () => state }),
      );
      role = { ref, ministry: record.id, role: want.role, term: record.term };
      leftGroups.delete(record.id);
    } else if (want && role && want.ministry.term !== role.term) {
      role.term = want.ministry.term;
      role.ref.tell({ type: 'ministry.appointment', record: want.ministry });
    }
    dropLeftGroups(ctx);
  };

  const report = () => ({
    type: 'govfs.fs.NodeReport',
    id: config.id,
    role: leader === config.id ? 'president' : roleStatus ? roleStatus.role : 'idle',
    ministry: roleStatus?.ministry ?? '',
    groupTerm: roleStatus?.term ?? 0,
    commit: roleStatus?.commit ?? 0,
    applied: roleStatus?.applied ?? 0,
    lastIndex: roleStatus?.lastIndex ?? 0,
    lastTerm: roleStatus?.lastTerm ?? 0,
    commitTerm: roleStatus?.commitTerm ?? 0,
    caughtUp: roleStatus?.caughtUp ?? false,
    leading: roleStatus?.leading ?? false,
  });

  const ministryMsg = (m: MinistryRecord) => ({ id: m.id, subtree: m.subtree, minister: m.minister, clerks: m.clerks, term: m.term, down: m.down });

  return {
    /** This node's copy of the cluster state, for tests (`ActorCell.behaviour.inspect()`). */
    inspect: () => state,
    started(ctx) {
      raft = new RaftShell(ctx, {
        id: config.id,
        group: 'cluster',
        mode: 'elected',
        voters: config.nodes,
        addressOf: (id) => config.addresses[id]!,
        storagePrefix: 'c/',
        ...clusterTimers(config),
        snapshotEntries: config.snapshotEntries,
        stateMachine: {
          apply: (e: AppliedEntry) => {
            const order = decodeOrder(e.data);
            return order ? state.apply(order, e.index) : { ok: true };
          },
          snapshot: () => state.snapshot(),
          restore: (data: Uint8Array) => {
            state = ClusterState.restore(data);
          },
        },
        onSoftState: (s) => {
          if (s.leader !== leader) {
            leader = s.leader;
            reconcile(ctx);
          }
        },
        afterApply: () => reconcile(ctx),
      });
      // Logs of groups left before a restart: dropped once this node knows it is not in them.
      for (const g of storedGroups(ctx.storage)) leftGroups.add(g);
      reconcile(ctx);
    },

    receive(ctx, msg: Message) {
      if (raft.handle(msg)) return;
      const m = msg as TypedMsg;
      switch (m.type) {
        case 'node.cluster-read-index': {
          // A member of a ministry asks whether this node's cluster log copy is current.
          const answer = ctx.deferReply();
          raft.readIndex((ok) => answer({ type: 'node.cluster-current', ok }));
          return;
        }
        case 'node.gc':
          gcTimer = null;
          dropLeftGroups(ctx);
          return;
        case 'node.role-status': {
          // Only from the role this node runs now: a report its previous role sent just before
          // it was stopped (still in this mailbox) would otherwise stand for good.
          const status = (msg as { status: RoleStatus }).status;
          if (role && status.ministry === role.ministry && status.role === role.role) roleStatus = status;
          return;
        }
        case 'node.order':
          raft.propose(encodeOrder((msg as { order: ClusterOrder }).order));
          return;
        case 'govfs.fs.NodeProbe':
          ctx.reply(report());
          return;
        case 'govfs.fs.StatusRequest': {
          const assigned = new Set<string>();
          for (const mi of state.ministries.values()) for (const n of [mi.minister, ...mi.clerks]) assigned.add(n);
          ctx.reply({
            type: 'govfs.fs.ClusterStatus',
            president: leader,
            clusterTerm: raft.softState().term,
            ministries: [...state.ministries.values()].map(ministryMsg),
            idle: config.nodes.filter((n) => !assigned.has(n) && n !== leader),
            nodes: [report()],
            shortStaffed: [...state.ministries.values()].filter((mi) => mi.clerks.length < mi.clerksWanted).map((mi) => mi.id),
          });
          return;
        }
        case 'govfs.fs.FsRequest': {
          const path = String(m.path);
          const ministry = state.ministryFor(path);
          if (!ministry) {
            ctx.reply({ type: 'govfs.fs.FsReply', ok: false, error: { code: 'EUNAVAILABLE', message: `no ministry serves ${path} yet (the cluster is starting): retry`, path } });
            return;
          }
          const unformed = state.unformed(config.ministries);
          const forming = unformed.length === 0 ? undefined : unformed.find((sub) => isWithin(path, sub) && sub.length > ministry.subtree.length);
          if (forming) {
            ctx.reply({ type: 'govfs.fs.FsReply', ok: false, error: { code: 'EAGAIN', message: `the ministry of ${forming} is being formed (this node has not caught up with it yet): retry`, path }, redirect: [...state.ministries.values()].map(ministryMsg) });
            return;
          }
          if (ministry.down) {
            ctx.reply({ type: 'govfs.fs.FsReply', ok: false, error: { code: 'EUNAVAILABLE', message: `the ministry serving ${path} is down (fewer than half its members answer); the president is retrying`, path }, redirect: [ministryMsg(ministry)] });
            return;
          }
          if (role && role.ministry === ministry.id) {
            ctx.forward(role.ref);
            return;
          }
          ctx.reply({ type: 'govfs.fs.FsReply', ok: false, redirect: [...state.ministries.values()].map(ministryMsg) });
          return;
        }
        case 'govfs.fs.SubtreeDelete': {
          // Only the president orders; any other node passes the request on to it.
          if (leader !== config.id) {
            if (leader) ctx.forward(ctx.ref(config.addresses[leader]!));
            else ctx.reply({ type: 'govfs.fs.SubtreeDeleted', ok: false, reason: 'no president right now: retry' });
            return;
          }
          const subtree = String(m.subtree);
          const doomed = [...state.ministries.values()].filter((mi) => mi.id !== m.requester && mi.subtree !== '/' && isWithin(mi.subtree, subtree));
          if (doomed.length === 0) {
            ctx.reply({ type: 'govfs.fs.SubtreeDeleted', ok: true, index: state.applied });
            return;
          }
          // Fence first, dissolve only once a majority of each doomed ministry holds the fence
          // term: a minister cut off from the cluster log could otherwise keep serving (and
          // committing in) a subtree that no longer exists.
          const answer = ctx.deferReply();
          const ids = doomed.map((mi) => mi.id);
          const job: SubtreeDeleteJob = { ids, answer, deadline: ctx.clock.now() + SUBTREE_DELETE_MS };
          const seq = ++subtreeDeleteSeq;
          subtreeDeletes.set(seq, job);
          let last = { index: 0, term: 0 };
          for (const mi of doomed) {
            if (mi.fenced) continue;
            const r = raft.propose(encodeOrder({ order: 'fence', ministry: mi.id }));
            if (!r.ok) return finishSubtreeDelete(seq, { ok: false, reason: `cluster log refused the order (${r.reason}): retry` });
            last = { index: r.index, term: r.term };
          }
          if (last.index === 0) ctx.self.tell({ type: 'node.subtree-delete', seq });
          else raft.whenApplied(last.index, last.term, (o) => (o.ok ? ctx.self.tell({ type: 'node.subtree-delete', seq }) : finishSubtreeDelete(seq, { ok: false, reason: `order lost (${o.reason}): retry` })));
          return;
        }
        case 'node.subtree-delete': {
          // Ask the doomed ministries' members where they are.
          const seq = (msg as { seq: number }).seq;
          const job = subtreeDeletes.get(seq);
          if (!job) return;
          const members = [...new Set(job.ids.flatMap((id) => {
            const mi = state.ministries.get(id);
            return mi ? [mi.minister, ...mi.clerks].filter((n) => n !== NO_MINISTER) : [];
          }))];
          ctx.pipeToSelf(
            Promise.all(members.map((n) => ctx.ask<NodeReportMsg>(ctx.ref(config.addresses[n]!), { type: 'govfs.fs.NodeProbe' }, { timeoutMs: probeMs * 2 }).catch(() => null))),
            (reports) => ({ type: 'node.subtree-probed', seq, reports: reports.filter((r): r is NodeReportMsg => r !== null) }),
            () => ({ type: 'node.subtree-probed', seq, reports: [] }),
          );
          return;
        }
        case 'node.subtree-probed': {
          const { seq, reports } = msg as { seq: number; reports: NodeReportMsg[] };
          const job = subtreeDeletes.get(seq);
          if (!job) return;
          const unfenced = job.ids.filter((id) => {
            const mi = state.ministries.get(id);
            if (!mi) return false; // dissolved already
            const members = [mi.minister, ...mi.clerks].filter((n) => n !== NO_MINISTER);
            const atFence = reports.filter((r) => members.includes(r.id) && r.ministry === id && r.groupTerm >= mi.term).length;
            return atFence * 2 <= members.length;
          });
          if (unfenced.length > 0) {
            if (ctx.clock.now() > job.deadline) {
              finishSubtreeDelete(seq, { ok: false, reason: `fewer than half of the members of ${unfenced.join(', ')} confirmed the fence: retry` });
            } else {
              ctx.clock.after(probeMs, { type: 'node.subtree-delete', seq });
            }
            return;
          }
          let last = { index: 0, term: 0 };
          for (const id of job.ids) {
            if (!state.ministries.has(id)) continue;
            const r = raft.propose(encodeOrder({ order: 'dissolve', ministry: id }));
            if (!r.ok) return finishSubtreeDelete(seq, { ok: false, reason: `cluster log refused the order (${r.reason}): retry` });
            last = { index: r.index, term: r.term };
          }
          if (last.index === 0) return finishSubtreeDelete(seq, { ok: true, index: state.applied });
          raft.whenApplied(last.index, last.term, (o) =>
            finishSubtreeDelete(seq, o.ok ? { ok: true, index: last.index } : { ok: false, reason: `order lost (${o.reason}): retry` }),
          );
          return;
        }
        case 'govfs.fs.TicketStatusRequest':
          if (role && role.ministry === m.ministry) ctx.forward(role.ref);
          else ctx.reply({ type: 'govfs.fs.TicketStatus', status: 'unknown' });
          return;
        default:
          // Group log messages for a ministry this node no longer serves, late replies: drop.
          ctx.log.debug({ type: m?.type }, 'node ignored a message');
      }
    },

    stopped() {
      raft?.stop();
    },
  };
}

registerBehaviour('govfs.node', (config: NodeConfig) => nodeBehaviour(config));
