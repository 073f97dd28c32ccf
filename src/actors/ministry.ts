// A ministry member's actor (thesis 3.2-3.3): the minister or a clerk of one ministry. Both run
// the ministry's group log (appointed Raft, a RaftShell) over the namespace of its subtree.
//
// This is the shell: it does the I/O for the pure core in ministry-core.ts, which holds every
// rule (changes and their tickets, reads, exactly-once, subtree delete, ownership redirects).
// The shell decodes requests (requestOp), feeds the core each request, tick and answer with the
// time, and performs the effects it returns: replies (fsReply), tickets, group-log proposals
// and reads, asks of the node (cluster-log ReadIndex, the president's subtree delete). Around
// it: the client sessions (child actors), the lease service (lease-service.ts, which takes its
// own requests), and the status the node reports.

import type { ClusterState, MinistryRecord } from './cluster-state.js';
import type { NodeConfig } from './node.js';
import { RaftShell, type AppliedEntry } from '../raft/shell.js';
import type { Appointment } from '../raft/types.js';
import { MinistryNamespace } from './ministry-namespace.js';
import type { LeaseQuiet } from './ministry-migrations.js';
import { MINISTRY_SNAPSHOT_TASK, type MinistrySnapshotContext } from './ministry-snapshot-task.js';
import { ministryCopier, type MinistryCopied } from './ministry-copy.js';
import { DEFAULT_LEASES } from './leases.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_REPLICAS } from './layouts.js';
import { chunkGc, type GcDone } from './chunk-gc.js';
import { ministryRepair } from './ministry-repair.js';
import { UncommittedCopies } from './uncommitted-copies.js';
import { LeaseService } from './lease-service.js';
import { MINISTRY_TICK, MinistryTicks } from './ministry-ticks.js';
import { ministryInspector, type MinistryInspection } from './ministry-inspect.js';
import type { Behaviour, Context, Message, Ref } from '../runtime/types.js';
import type { ClientOp, CrossRenamePrepareMessage, CrossRenameVoteMessage, MigrationProgressMessage, MigrationQueryMessage, FsReplyMessage, FsRequestMessage, ReadsRevokedMessage, SubtreeDeleteMessage, SubtreeDeletedMessage, TicketMessage, TicketStatusMessage } from '../fs/requests.js';
import { FsError } from '../fs/errors.js';
import { isDataOp, isLeaseOp, requestOp as readOp } from './request-op.js';
import { sessionBehaviour, type SessionEnded, type SessionMsg } from './session.js';
import { LOAD_EVERY_MS, LoadMeter, popularityHalfLife, type MemberLoad } from './load.js';
import {
  CLIENT_TTL_MS,
  MinistryCore,
  READ_WAIT_MS,
  ministryInfo,
  ministryMembers,
  type GroupLogView,
  type MinistryAnswer,
  type MinistryEffect,
  type MinistryInput,
  type TicketBatch,
} from './ministry-core.js';

export { CLIENT_TTL_MS };

/** A client silent this long has its session here ended (default). */
export const SESSION_TTL_MS = 60_000;

export interface RoleStatus {
  role: 'minister' | 'clerk';
  ministry: string;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  lastTerm: number;
  /** Term of the entry at the commit index: the appointment's term once the minister has
   * committed in it (a majority of the members then hold every committed entry). */
  commitTerm: number;
  caughtUp: boolean;
  leading: boolean;
  /** This member's load as last sampled (every loadEveryMs), for the president's probes. */
  load?: MemberLoad;
  /** A minister's chunks, sampled with its load (issue 17; layouts.ts summary). */
  chunks?: { chunks: number; short: number; holders: Map<string, number> };
}

export interface MinistryArgs {
  config: NodeConfig;
  record: MinistryRecord;
  role: 'minister' | 'clerk';
  clusterState: () => ClusterState;
}

type Reply = (msg: Message) => void;

export type { MinistryInspection } from './ministry-inspect.js';

/** The reply message for an answer of ministry `ministry`. Fields set one by one, no object
 * spread: this runs for every read and change answered. */
export function fsReply(ministry: string, a: MinistryAnswer): FsReplyMessage & { type: 'govfs.fs.FsReply' } {
  if (a.kind === 'redirect') return { type: 'govfs.fs.FsReply', ok: false, ministry, redirect: a.redirect };
  const msg: FsReplyMessage & { type: 'govfs.fs.FsReply' } =
    a.kind === 'error'
      ? { type: 'govfs.fs.FsReply', ok: false, error: a.error, ministry }
      : a.result.ok
        ? { type: 'govfs.fs.FsReply', ok: true, ministry }
        : { type: 'govfs.fs.FsReply', ok: false, error: a.result.error, ministry };
  // FsReply's `oneof result`: the case, and the field of that name.
  if (a.kind === 'result' && a.result.ok && a.result.value !== null) {
    const value = a.result.value;
    const m = msg as unknown as Record<string, unknown>;
    m['result'] = value.result;
    m[value.result] = (value as unknown as Record<string, unknown>)[value.result];
  }
  if (a.index !== undefined) msg.index = a.index;
  if (a.term !== undefined) msg.term = a.term;
  if (a.kind === 'error' && a.redirect !== undefined) msg.redirect = a.redirect;
  return msg;
}

function ticketMessage(ministry: string, t: TicketBatch): TicketMessage {
  return { type: 'govfs.fs.Ticket', clientId: t.clientId, seq: t.seqs[0], index: t.indexes[0], term: t.term, ministry, moreSeqs: t.seqs.slice(1), moreIndexes: t.indexes.slice(1) };
}

const TICK: MinistryInput<Reply> = { kind: 'tick' };
const APPLIED: MinistryInput<Reply> = { kind: 'applied' };
const FLUSH_TICKETS: MinistryInput<Reply> = { kind: 'flush-tickets' };
const STOP: MinistryInput<Reply> = { kind: 'stop' };

/** An answer to one of the core's asks of the node, piped back to this actor: the cluster
 * log's read index, or the president's subtree delete. (The names of the messages the actor
 * had before its core: a simulation's trace is then the same as before.) */
interface Resume {
  type: 'ministry.continue' | 'ministry.subtree-deleted';
  input: MinistryInput<Reply>;
}

// long on purpose: the shell's wiring of every input (renames across ministries, migrations, data); cut to come.
export function ministryBehaviour(args: MinistryArgs): Behaviour & { inspect(): MinistryInspection | null } {
  const { config } = args;
  const ns = new MinistryNamespace(args.record.subtree);
  ns.renames.owner = args.record.id;
  let raft: RaftShell;
  const copies = new UncommittedCopies(config.repair?.orphanGraceMs);
  const core = new MinistryCore<Reply>({ record: args.record, copies, role: args.role, ns, log: groupLogView(() => raft), cluster: args.clusterState, statics: config.ministries, clientTtlMs: config.clientTtlMs,
    data: { chunkBytes: config.chunkBytes ?? DEFAULT_CHUNK_BYTES, replicas: config.chunkReplicas ?? DEFAULT_CHUNK_REPLICAS }, handoverWaitMs: handoverWaitMs(config),
  });
  const sessions = sessionKeeper(config.sessionTtlMs ?? SESSION_TTL_MS);
  const leases = leaseService(config, args.role, core, () => raft);
  const step = effectRunner(core, () => raft);
  const loads = loadKeeper(args.record.subtree, config.loadEveryMs ?? LOAD_EVERY_MS);
  const gc = chunkGc((node) => config.addresses[node] ?? `${node}#/${node}`);
  const repair = ministryRepair(args, ns, copies, () => ({ ministry: core.record.id, term: core.record.term }));
  const reportStatus = statusReporter(args, ns, () => raft, () => core.record.id, loads, repair.short);
  // Every group tick while something may need it, else every load sample or second, which gc
  // and repair keep too (ministry-ticks.ts).
  const ticks = new MinistryTicks(groupTimers(config).tickMs, Math.min(config.loadEveryMs ?? LOAD_EVERY_MS, LOAD_EVERY_MS), groupTimers(config).idleHeartbeatTicks * groupTimers(config).tickMs);
  const copier = ministryCopier(() => raft, { node: config.id, role: args.role, ministry: () => core.record.id });
  // Since when this member has served unchanged (a migration's handover: LeaseQuiet).
  let servedSince = Infinity;
  let servedAs = '';

  const inspect = ministryInspector(args.role, config.id, core, ns, () => raft);

  return {
    inspect,
    started(ctx) {
      const record = core.record;
      raft = new RaftShell(ctx, {
        id: config.id,
        group: record.id,
        mode: 'appointed',
        voters: ministryMembers(record),
        addressOf: (id) => `${config.addresses[id]}/role`,
        storagePrefix: `g/${record.id}/`,
        // A quiet group log heartbeats rarely on real nodes (NodeConfig.idleHeartbeatMs).
        ...groupTimers(config),
        // (Its own deadline timer: a clerk's sleeps until its election deadline.)
        snapshotEntries: config.snapshotEntries,
        stateMachine: {
          apply: (e: AppliedEntry) => ns.applyEntry(e.data, e.index, e.committedAt),
          snapshot: () => ns.snapshot(),
          restore: (data: Uint8Array) => ns.restore(data, ctx.clock.now()),
          // Built in ctx.pool from the last snapshot and the entries since (issue 19, point 4).
          replay: config.snapshotsOnThread === true ? undefined : { task: MINISTRY_SNAPSHOT_TASK, context: { subtree: args.record.subtree, ministry: args.record.id } satisfies MinistrySnapshotContext },
        },
        afterApply: () => {
          step(ctx, APPLIED);
          leases.wake(ctx);
        },
      });
      step(ctx, { kind: 'appointment', record });
      servedSince = ctx.clock.now();
      servedAs = staffKey(record);
      leases.started(ctx);
      ticks.active(ctx);
      reportStatus(ctx);
    },
    receive(ctx, msg) {
      if (raft.handle(msg)) {
        ticks.rideAlong(ctx); // an idle tick that is due runs on this turn's wake-up
        const type = (msg as { type?: unknown }).type;
        // A quiet group's heartbeats (most of an idle member's messages) wake no ticks.
        if (type === 'govfs.raft.Heartbeat' || type === 'govfs.raft.HeartbeatResponse') return;
        if (typeof type === 'string') ticks.active(ctx);
        ticks.watch(ctx, raft.softState());
        return;
      }
      // One clock read for the turn's bookkeeping (it costs about as much as a map lookup, and
      // a client request took five).
      const at = ctx.clock.now();
      if (msg !== MINISTRY_TICK) ticks.active(ctx, at);
      if (repair.handle(ctx, msg, (entry) => raft.softState().role === 'leader' && raft.propose(entry))) return;
      if (msg === 'ministry.tickets') return step(ctx, FLUSH_TICKETS);
      if (msg === MINISTRY_TICK) {
        step(ctx, TICK);
        loads.tick(ctx);
        reportStatus(ctx);
        leases.tick(ctx);
        if (args.role === 'minister' && raft.softState().role === 'leader' && !core.record.fenced) {
          gc.tick(ctx, ns.layouts, args.clusterState().removed);
          repair.tick(ctx);
        }
        ticks.watch(ctx, raft.softState());
        ticks.fired(ctx, !core.quiet || !leases.quiet);
        return;
      }
      switch ((msg as { type?: string }).type) {
        case 'ministry.appointment': {
          const record = (msg as { record: MinistryRecord }).record;
          step(ctx, { kind: 'appointment', record });
          leases.restaffed(ctx);
          if (staffKey(record) !== servedAs) [servedSince, servedAs] = [ctx.clock.now(), staffKey(record)];
          return;
        }
        case 'govfs.fs.FsRequest': {
          const req = msg as FsRequestMessage;
          sessions.touch(ctx, req.clientId, at);
          const reply = mapAlong(ctx.deferReply(), req.mapVersion ?? 0, args.clusterState());
          const op = readOp(req);
          if (op instanceof FsError) step(ctx, { kind: 'request', req, op: { ok: false, message: op.message, code: op.code }, reply });
          else if (isDataOp(op)) step(ctx, { kind: 'request', req, op: { ok: false, message: `${op.op} goes to a node's chunk store, not to a ministry` }, reply });
          else if (isLeaseOp(op)) leases.request(ctx, req, op, reply);
          else {
            loads.request(op, at);
            step(ctx, { kind: 'request', req, op: { ok: true, op }, reply }, at);
          }
          return;
        }
        case 'ministry.gc-done': {
          const entry = gc.done(msg as GcDone);
          if (entry && raft.softState().role === 'leader') raft.propose(entry);
          return;
        }
        case 'ministry.continue':
        case 'ministry.subtree-deleted':
          return step(ctx, (msg as Resume).input);
        case 'govfs.fs.CrossRenamePrepare':
          return step(ctx, { kind: 'rename-prepare', msg: msg as CrossRenamePrepareMessage, reply: ctx.deferReply() });
        case 'govfs.fs.RevokeReads': {
          const r = msg as { path: string; start: number; end: number; exceptClient: string; index: number };
          const answer = ctx.deferReply();
          leases.fenceAndRevoke(ctx, r.index, r.path, r.start, r.end, r.exceptClient, (n) => answer({ type: 'govfs.fs.ReadsRevoked', revoked: n } satisfies ReadsRevokedMessage));
          return;
        }
        case 'session.ended': {
          const id = (msg as SessionEnded).clientId;
          sessions.ended(id);
          leases.clientGone(ctx, id);
          return;
        }
        case 'govfs.fs.MigrationQuery': {
          const now = ctx.clock.now();
          return answerMigrationQuery(ctx, core, msg as MigrationQueryMessage, { since: servedSince, readsUntil: (subtree) => leases.readsBelievedUntil(subtree, now) });
        }
        case 'govfs.fs.MinistryCopyRequest':
          return copier.request(ctx);
        case 'ministry.copied':
          return copier.copied(msg as MinistryCopied);
        case 'govfs.fs.TicketStatusRequest': {
          const t = msg as { index: number; term: number };
          ctx.reply({ type: 'govfs.fs.TicketStatus', status: core.ticketStatus(t.index, t.term) } satisfies TicketStatusMessage);
          return;
        }
        default:
          leases.handle(ctx, msg);
      }
    },
    stopped(ctx) {
      ticks.stop();
      leases.stop();
      raft?.stop();
      step(ctx, STOP);
    },
  };
}

/** `reply`, with this node's whole subtree map when the client's (`version`, a cluster log
 * index) is older: the client learns a split, a merge or a new clerk from the answer to a
 * request it makes anyway, not from a redirect that costs it a round trip. A redirect (the
 * whole map already) says its version, so that a client never goes back to an older map. */
function mapAlong(reply: Reply, version: number, cluster: Readonly<ClusterState>): Reply {
  return (msg) => {
    const m = msg as FsReplyMessage;
    if (m.type === 'govfs.fs.FsReply') {
      if (!m.ok && !m.error && m.redirect !== undefined && m.redirect.length > 0) m.mapVersion = cluster.applied;
      // (A reply that names a ministry already is left as it is.)
      else if (version < cluster.applied && (m.redirect === undefined || m.redirect.length === 0)) {
        m.redirect = cluster.serving().map(ministryInfo);
        m.mapVersion = cluster.applied;
      }
    }
    reply(msg);
  };
}

/** A ministry's staff as it stands (term, minister, clerks). */
function staffKey(r: MinistryRecord): string {
  return `${r.term} ${r.minister} ${r.clerks.join(',')} ${r.fenced ? 'fenced' : ''}`;
}

/** The president's MigrationQuery: what this member says of the migration. */
function answerMigrationQuery(ctx: Context, core: MinistryCore<Reply>, msg: MigrationQueryMessage, quiet: LeaseQuiet): void {
  const id = String(msg.migration);
  const p = core.migrationProgress(id, ctx.clock.now(), quiet);
  ctx.reply({ type: 'govfs.fs.MigrationProgress', migration: id, ministry: core.record.id, state: p.state, reason: p.reason, ...(p.namespace && { namespace: p.namespace, leaseToken: p.leaseToken ?? 0 }) } satisfies MigrationProgressMessage);
}

/** Reports this member's status with its load; a minister's with its chunk summary too,
 * recomputed as often as its load is sampled. */
function statusReporter(args: MinistryArgs, ns: MinistryNamespace, raft: () => RaftShell, ministry: () => string, loads: ReturnType<typeof loadKeeper>, short: () => number | undefined): (ctx: Context) => void {
  const { config } = args;
  let chunks: RoleStatus['chunks'];
  let chunksAt = -Infinity;
  let last: RoleStatus | undefined;
  return (ctx) => {
    const now = ctx.clock.now();
    if (args.role === 'minister' && now - chunksAt >= (config.loadEveryMs ?? LOAD_EVERY_MS)) {
      chunksAt = now;
      chunks = ns.layouts.summary(config.chunkReplicas ?? DEFAULT_CHUNK_REPLICAS);
      // Re-replication's count also takes replicas on down, removed or damaged stores as short.
      chunks.short = Math.max(chunks.short, short() ?? 0);
    }
    const status = roleStatus(raft(), args.role, ministry(), loads.current, chunks);
    // Only a change goes to the node (a new load sample or chunk summary is one): an idle
    // member's status stays the same tick after tick, and each report was an actor turn.
    if (last && sameStatus(last, status)) return;
    last = status;
    ctx.parent?.tell({ type: 'node.role-status', status });
  };
}

function sameStatus(a: RoleStatus, b: RoleStatus): boolean {
  return a.role === b.role && a.ministry === b.ministry && a.term === b.term && a.commit === b.commit && a.applied === b.applied && a.lastIndex === b.lastIndex &&
    a.lastTerm === b.lastTerm && a.commitTerm === b.commitTerm && a.caughtUp === b.caughtUp && a.leading === b.leading && sameLoad(a.load, b.load) && sameChunks(a.chunks, b.chunks);
}

/** Load samples that tell the president nothing new: an idle host's CPU wobbles by a point or
 * two and decaying rates creep towards zero, and each new sample object was a status message
 * (a turn on the node, and a report on its way to the president) every LOAD_EVERY_MS. */
export function sameLoad(a: MemberLoad | undefined, b: MemberLoad | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.hot.length !== b.hot.length || !near(a.cpu, b.cpu, CPU_TOLERANCE) || !nearRate(a.readsPerSec, b.readsPerSec) || !nearRate(a.writesPerSec, b.writesPerSec)) return false;
  return a.hot.every((h, i) => h.path === b.hot[i]!.path && nearRate(h.readsPerSec, b.hot[i]!.readsPerSec) && nearRate(h.writesPerSec, b.hot[i]!.writesPerSec));
}

/** Host CPU (0..1) closer than this is the same load; the balancer acts on tens of points. */
const CPU_TOLERANCE = 0.02;

function near(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance;
}

/** Request rates (per second) within half a request or 5% of each other are the same. */
function nearRate(a: number, b: number): boolean {
  return near(a, b, 0.5 + 0.05 * Math.max(Math.abs(a), Math.abs(b)));
}

function sameChunks(a: RoleStatus['chunks'], b: RoleStatus['chunks']): boolean {
  if (a === b) return true;
  if (!a || !b || a.chunks !== b.chunks || a.short !== b.short || a.holders.size !== b.holders.size) return false;
  for (const [node, n] of a.holders) if (b.holders.get(node) !== n) return false;
  return true;
}

/** One session actor per client this member serves (children of this role actor). A session
 * hears of its client at most every `touchEveryMs`, not on every request (that was an actor
 * message per request), and allows for that lag before it ends. */
function sessionKeeper(sessionTtlMs: number): { touch(ctx: Context, clientId: string, now: number): void; ended(clientId: string): void } {
  const touchEveryMs = Math.max(1, Math.floor(sessionTtlMs / 32));
  const sessions = new Map<string, { ref: Ref<SessionMsg>; touchedAt: number }>();
  return {
    touch(ctx, clientId, now) {
      if (!clientId) return;
      const existing = sessions.get(clientId);
      if (existing) {
        if (now - existing.touchedAt >= touchEveryMs) {
          existing.touchedAt = now;
          existing.ref.tell('session.touch');
        }
        return;
      }
      const name = `session-${clientId.replace(/[^A-Za-z0-9_.:@$-]/g, '_')}`;
      if (ctx.child(name)) return;
      sessions.set(clientId, { ref: ctx.spawn(name, () => sessionBehaviour(clientId, sessionTtlMs, touchEveryMs)), touchedAt: now });
    },
    ended(clientId) {
      sessions.delete(clientId);
    },
  };
}

/** This member's load for the president (thesis 3.4): its requests counted as they come,
 * sampled with the host's CPU every `everyMs`. */
function loadKeeper(subtree: string, everyMs: number): { request(op: ClientOp, now: number): void; tick(ctx: Context): void; readonly current: MemberLoad | undefined } {
  const meter = new LoadMeter(subtree, { halfLifeMs: popularityHalfLife(everyMs) });
  let current: MemberLoad | undefined;
  let sampledAt = -Infinity;
  return {
    request(op, now) {
      // (A rename or link counts in its source's directory.)
      meter.request('path' in op ? op.path : op.from, op.op === 'ls' || op.op === 'stat' || op.op === 'readlink' || op.op === 'layout-get' ? 'read' : 'write', op.op === 'ls', now);
    },
    tick(ctx) {
      const now = ctx.clock.now();
      if (now - sampledAt < everyMs) return;
      sampledAt = now;
      current = meter.sample(now, ctx.clock.busy());
    },
    get current() {
      return current;
    },
  };
}

/** What the core reads of the group log, from the shell's RaftShell. */
function groupLogView(raft: () => RaftShell): GroupLogView {
  return {
    get applied() {
      return raft().applied;
    },
    get lastIndex() {
      return raft().lastIndex;
    },
    termAt: (index) => raft().termAt(index),
    caughtUp: () => raft().caughtUp(),
    committed: (index, term) => raft().committed(index, term),
    leading: () => raft().softState().role === 'leader',
  };
}

/** A group log's Raft timeouts on real nodes (a ReadIndex gives up after twice this, a stalled
 * snapshot transfer is resent after it): ten ticks of the 50 ms group tick they had before. */
const GROUP_TIMEOUT_MS = 500;

/** The group log's tick, quiet heartbeat interval and timeouts (in ticks) of NodeConfig: with
 * a tick of its own (real nodes), timeouts of GROUP_TIMEOUT_MS; else the core's 10 ticks. */
function groupTimers(config: NodeConfig): { tickMs: number; idleHeartbeatTicks: number; electionTicks?: number } {
  const tickMs = config.groupTickMs ?? config.tickMs ?? 10;
  return {
    tickMs,
    idleHeartbeatTicks: config.idleHeartbeatMs === undefined ? 1 : Math.max(1, Math.round(config.idleHeartbeatMs / tickMs)),
    ...(config.groupTickMs !== undefined && { electionTicks: Math.max(2, Math.round(GROUP_TIMEOUT_MS / tickMs)) }),
  };
}

/** How long a fenced subtree waits before it is handed over (migration-core.ts): a lease's TTL,
 * the drift bound, and the window in which a clerk that has not applied the fence may still
 * grant a read lease (see leaseService). */
function handoverWaitMs(config: NodeConfig): number {
  const t = groupTimers(config);
  return (config.leaseTtlMs ?? DEFAULT_LEASES.ttlMs) + (config.leaseDriftMs ?? DEFAULT_LEASES.maxDriftMs) + (t.idleHeartbeatTicks + 2) * t.tickMs;
}

/** The write and read leases of this member (lease-service.ts): they take their own requests,
 * and ask the core who owns a path. */
function leaseService(config: NodeConfig, role: 'minister' | 'clerk', core: MinistryCore<Reply>, raft: () => RaftShell): LeaseService {
  return new LeaseService({
    node: config.id,
    settings: { ttlMs: config.leaseTtlMs ?? DEFAULT_LEASES.ttlMs, maxDriftMs: config.leaseDriftMs ?? DEFAULT_LEASES.maxDriftMs },
    // A member stops being caught up (and granting reads) within a few ticks of losing touch:
    // the Raft shell's freshness bound (a quiet group's heartbeat interval plus a tick) and a
    // tick of slack (3 ticks with a heartbeat every tick).
    catchUpWindowMs: (groupTimers(config).idleHeartbeatTicks + 2) * groupTimers(config).tickMs,
    state: () => core.ns.leases,
    raft,
    record: () => core.record,
    role,
    memberAddress: (id) => `${config.addresses[id]}/role`,
    fileCheck: (path, as, mode) => core.ns.fileCheck(path, as, mode),
    moving: (path) => core.ns.migrations.blocking(path) !== undefined,
    redirectedAway: (path, reply) => {
      const away = core.ownership(path);
      if (away) reply(fsReply(core.record.id, away));
      return away !== null;
    },
  });
}

/** An appointment this member took (info: operators trace failovers by these lines). */
function logAppointment(ctx: Context, record: { id: string; subtree: string }, a: Appointment): void {
  const node = ctx.host;
  const role = a.leader === node ? 'minister' : 'clerk';
  const fenced = a.leader === '' || !a.members.includes(a.leader);
  const text = fenced
    ? `${node} fenced in ministry ${record.id} (${record.subtree}) for term ${a.term}: no minister until the president appoints one`
    : `${node} appointed ${role} of ministry ${record.id} (${record.subtree}) in term ${a.term}, minister ${a.leader}, members ${a.members.join(', ')}`;
  ctx.log.info({ node, role, ministry: record.id, subtree: record.subtree, term: a.term, minister: fenced ? '' : a.leader, members: a.members, fenced }, text);
}

const flushTickets = (): string => 'ministry.tickets'; // the self-message that sends queued tickets ('flush-soon')
/** `step(ctx, input, now?)`: feed the core one input with the time (read now unless given), and perform the effects it
 * returns. An effect's answer goes back into the core by its id: at once (a proposal), from a
 * group-log callback, or piped back to this actor (asks of the node). */
function effectRunner(core: MinistryCore<Reply>, raft: () => RaftShell): (ctx: Context, input: MinistryInput<Reply>, now?: number) => void {
  let loggedTerm = 0;
  const step = (ctx: Context, input: MinistryInput<Reply>, now = ctx.clock.now()): void => {
    for (const e of core.step(input, now)) perform(ctx, e);
  };
  const resume = (input: MinistryInput<Reply>): Resume => ({ type: input.kind === 'subtree-deleted' ? 'ministry.subtree-deleted' : 'ministry.continue', input });
  const perform = (ctx: Context, e: MinistryEffect<Reply>): void => {
    switch (e.kind) {
      case 'reply':
        return e.to(fsReply(core.record.id, e.answer));
      case 'ticket':
        return ctx.ref(e.batch.to).tell(ticketMessage(core.record.id, e.batch));
      case 'flush-soon':
        // Once this thread's run of ready actors is over, not next in this mailbox: a clerk
        // on this thread then takes the append just proposed first, and its write joins this
        // round's lmdb transaction before it starts (a ticket to another thread first held up
        // every lone create by ~0.15 ms; issue 19). Still before the answer: that waits for
        // the fsync.
        return ctx.pipeToSelf(Promise.resolve(), flushTickets, flushTickets);
      case 'appoint': {
        const r = raft().appoint(e.appointment);
        if (!r.ok) ctx.log.debug({ record: core.record, reason: r }, 'appointment refused');
        else if (e.appointment.term !== loggedTerm) logAppointment(ctx, core.record, e.appointment);
        loggedTerm = e.appointment.term;
        return;
      }
      case 'propose': {
        const r = raft().propose(e.payload);
        if (e.id !== 0) step(ctx, { kind: 'proposed', id: e.id, result: r });
        return;
      }
      case 'when-applied':
        return raft().whenApplied(e.index, e.term, (outcome) => step(ctx, { kind: 'apply-outcome', id: e.id, outcome }));
      case 'read-index':
        return raft().readIndex((ok) => step(ctx, { kind: 'confirmed', id: e.id, ok }));
      case 'cluster-read-index':
        return ctx.pipeToSelf(
          ctx.ask<{ ok: boolean }>(ctx.parent!, { type: 'node.cluster-read-index' }, { timeoutMs: READ_WAIT_MS }),
          (r) => resume({ kind: 'confirmed', id: e.id, ok: r.ok }),
          () => resume({ kind: 'confirmed', id: e.id, ok: false }),
        );
      case 'rename-begin':
        return ctx.parent?.tell(e.msg);
      case 'vote':
        return e.to({ type: 'govfs.fs.CrossRenameVote', ...e.vote } satisfies CrossRenameVoteMessage);
      case 'subtree-delete':
        return ctx.pipeToSelf(
          ctx.ask<SubtreeDeletedMessage>(ctx.parent!, { type: 'govfs.fs.SubtreeDelete', subtree: e.subtree, requester: e.requester } satisfies SubtreeDeleteMessage, { timeoutMs: 5_000 }),
          (r) => resume({ kind: 'subtree-deleted', id: e.id, ok: r.ok, reason: r.reason ?? '', index: Number(r.index ?? 0) }),
          (err) => resume({ kind: 'subtree-deleted', id: e.id, ok: false, reason: String((err as Error).message), index: 0 }),
        );
    }
  };
  return step;
}

/** This member's status for the node, checked every tick: so the shell's cheap accessors,
 * not its full status() (an allocation-heavy copy). */
function roleStatus(raft: RaftShell, role: 'minister' | 'clerk', ministry: string, load: MemberLoad | undefined, chunks: RoleStatus['chunks']): RoleStatus {
  const lastIndex = raft.lastIndex;
  return {
    role,
    ministry,
    term: raft.softState().term,
    commit: raft.commitIndex,
    applied: raft.applied,
    lastIndex,
    lastTerm: raft.termAt(lastIndex) ?? 0,
    commitTerm: raft.termAt(raft.commitIndex) ?? 0,
    caughtUp: raft.caughtUp(),
    leading: raft.softState().role === 'leader',
    load,
    chunks,
  };
}
