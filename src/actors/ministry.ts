// A ministry member's actor (thesis 3.2-3.3): the minister or a clerk of one ministry. Both run
// the ministry's group log (appointed Raft, a RaftShell) over the namespace of its subtree.
//
// This is the shell: it does the I/O for the pure core in ministry-core.ts, which holds every
// rule (changes and their tickets, reads, exactly-once, subtree delete, ownership redirects).
// The shell builds the core and the parts around it, routes each kind of message to one small
// handler below, and carries out the effects the core returns (ministry-effects.ts: replies,
// tickets, group-log proposals and reads, asks of the node). Around it: the client sessions
// (child actors), the lease service (lease-service.ts, which takes its own requests), and the
// status the node reports (ministry-status.ts).

import type { MinistryRecord } from './cluster-state.js';
import { RaftShell, type AppliedEntry } from '../raft/shell.js';
import { MinistryNamespace } from './ministry-namespace.js';
import type { LeaseQuiet } from './ministry-migrations.js';
import { MINISTRY_SNAPSHOT_TASK, type MinistrySnapshotContext } from './ministry-snapshot-task.js';
import { ministryCopier, type MinistryCopied } from './ministry-copy.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_REPLICAS } from './layouts.js';
import { chunkGc, type GcDone } from './chunk-gc.js';
import { ministryRepair } from './ministry-repair.js';
import { UncommittedCopies } from './uncommitted-copies.js';
import type { LeaseService } from './lease-service.js';
import { MINISTRY_TICK, MinistryTicks } from './ministry-ticks.js';
import { ministryInspector, type MinistryInspection } from './ministry-inspect.js';
import type { Behaviour, Context, Message } from '../runtime/types.js';
import type { CrossRenamePrepareMessage, MigrationProgressMessage, MigrationQueryMessage, FsRequestMessage, ReadsRevokedMessage, TicketStatusMessage } from '../fs/requests.js';
import { FsError } from '../fs/errors.js';
import { isDataOp, isLeaseOp, requestOp as readOp } from './request-op.js';
import type { SessionEnded } from './session.js';
import { LOAD_EVERY_MS } from './load.js';
import { CLIENT_TTL_MS, MinistryCore, ministryMembers, type MinistryInput } from './ministry-core.js';
import { effectRunner, groupLogView, groupTimers, handoverWaitMs, leaseService, mapAlong, sessionKeeper, type MinistryArgs, type Reply, type Resume } from './ministry-effects.js';
import { loadKeeper, statusReporter } from './ministry-status.js';

export { CLIENT_TTL_MS };
export { fsReply, type MinistryArgs } from './ministry-effects.js';
export { sameLoad, type RoleStatus } from './ministry-status.js';
export type { MinistryInspection } from './ministry-inspect.js';

/** A client silent this long has its session here ended (default). */
export const SESSION_TTL_MS = 60_000;

const TICK: MinistryInput<Reply> = { kind: 'tick' };
const APPLIED: MinistryInput<Reply> = { kind: 'applied' };
const FLUSH_TICKETS: MinistryInput<Reply> = { kind: 'flush-tickets' };
const STOP: MinistryInput<Reply> = { kind: 'stop' };

export function ministryBehaviour(args: MinistryArgs): Behaviour & { inspect(): MinistryInspection | null } {
  const member = new MinistryMember(args);
  return {
    inspect: member.inspect,
    started: (ctx) => member.started(ctx),
    receive: (ctx, msg) => member.receive(ctx, msg),
    stopped: (ctx) => member.stopped(ctx),
  };
}

/** One member's shell: its core, its group log, and the parts around them. */
class MinistryMember {
  readonly ns: MinistryNamespace;
  readonly core: MinistryCore<Reply>;
  /** Set in started(): the group log needs the actor's context. */
  private raft!: RaftShell;
  private readonly sessions: ReturnType<typeof sessionKeeper>;
  private readonly leases: LeaseService;
  /** Feed the core one input and carry out its effects (ministry-effects.ts). */
  private readonly step: ReturnType<typeof effectRunner>;
  private readonly loads: ReturnType<typeof loadKeeper>;
  private readonly gc: ReturnType<typeof chunkGc>;
  private readonly repair: ReturnType<typeof ministryRepair>;
  private readonly reportStatus: (ctx: Context) => void;
  private readonly ticks: MinistryTicks;
  private readonly copier: ReturnType<typeof ministryCopier>;
  // Since when this member has served unchanged (a migration's handover: LeaseQuiet).
  private servedSince = Infinity;
  private servedAs = '';
  readonly inspect: () => MinistryInspection | null;

  constructor(private readonly args: MinistryArgs) {
    const { config } = args;
    const raft = (): RaftShell => this.raft;
    this.ns = new MinistryNamespace(args.record.subtree);
    this.ns.renames.owner = args.record.id;
    const copies = new UncommittedCopies(config.repair?.orphanGraceMs);
    const core = (this.core = new MinistryCore<Reply>({ record: args.record, copies, role: args.role, ns: this.ns, log: groupLogView(raft), cluster: args.clusterState, statics: config.ministries, clientTtlMs: config.clientTtlMs,
      data: { chunkBytes: config.chunkBytes ?? DEFAULT_CHUNK_BYTES, replicas: config.chunkReplicas ?? DEFAULT_CHUNK_REPLICAS }, handoverWaitMs: handoverWaitMs(config),
    }));
    this.sessions = sessionKeeper(config.sessionTtlMs ?? SESSION_TTL_MS);
    this.leases = leaseService(config, args.role, core, raft);
    this.step = effectRunner(core, raft);
    this.loads = loadKeeper(args.record.subtree, config.loadEveryMs ?? LOAD_EVERY_MS, () => args.clusterState().serving().map((m) => m.subtree));
    this.gc = chunkGc((node) => config.addresses[node] ?? `${node}#/${node}`);
    this.repair = ministryRepair(args, this.ns, copies, () => ({ ministry: core.record.id, term: core.record.term }));
    this.reportStatus = statusReporter(args, this.ns, raft, () => core.record.id, this.loads, this.repair.short);
    // Every group tick while something may need it, else every load sample or second, which gc
    // and repair keep too (ministry-ticks.ts).
    this.ticks = new MinistryTicks(groupTimers(config).tickMs, Math.min(config.loadEveryMs ?? LOAD_EVERY_MS, LOAD_EVERY_MS), groupTimers(config).idleHeartbeatTicks * groupTimers(config).tickMs);
    this.copier = ministryCopier(raft, { node: config.id, role: args.role, ministry: () => core.record.id });
    this.inspect = ministryInspector(args.role, config.id, core, this.ns, raft);
  }

  started(ctx: Context): void {
    const { config } = this.args;
    const { ns, core } = this;
    const record = core.record;
    this.raft = new RaftShell(ctx, {
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
        // A clerk far behind restores its minister's snapshot in slices of the thread's time.
        restoreSteps: (data: Uint8Array) => ns.restoreSteps(data, () => ctx.clock.now()),
        // Built in ctx.pool from the last snapshot and the entries since (issue 19, point 4).
        replay: config.snapshotsOnThread === true ? undefined : { task: MINISTRY_SNAPSHOT_TASK, context: { subtree: this.args.record.subtree, ministry: this.args.record.id } satisfies MinistrySnapshotContext },
      },
      afterApply: () => {
        // (The first one after a restart's restore in steps: what waited for it comes first.)
        ctx.unstashAll();
        this.step(ctx, APPLIED);
        this.leases.wake(ctx);
      },
    });
    this.step(ctx, { kind: 'appointment', record });
    this.servedSince = ctx.clock.now();
    this.servedAs = staffKey(record);
    this.leases.started(ctx);
    this.ticks.active(ctx);
    this.reportStatus(ctx);
  }

  receive(ctx: Context, msg: Message): void {
    if (this.raft.handle(msg)) return this.groupLogMessage(ctx, msg);
    // Restarted over a stored snapshot that is still being restored in slices: the namespace is
    // not whole yet, so nothing that reads it (requests, leases, migrations, ticks) runs before.
    if (!this.raft.ready) return ctx.stash();
    // One clock read for the turn's bookkeeping (it costs about as much as a map lookup, and
    // a client request took five).
    const at = ctx.clock.now();
    if (msg !== MINISTRY_TICK) this.ticks.active(ctx, at);
    if (this.repair.handle(ctx, msg, this.proposeAsLeader)) return;
    if (msg === 'ministry.tickets') return this.step(ctx, FLUSH_TICKETS);
    if (msg === MINISTRY_TICK) return this.tick(ctx);
    const type = (msg as { type?: string }).type;
    if (type === 'govfs.fs.FsRequest') return this.request(ctx, msg as FsRequestMessage, at);
    this.message(ctx, msg, type);
  }

  stopped(ctx: Context): void {
    this.ticks.stop();
    this.leases.stop();
    (this.raft as RaftShell | undefined)?.stop();
    this.step(ctx, STOP);
  }

  /** Propose `entry` to the group log if this member leads it (repair's entries). */
  private readonly proposeAsLeader = (entry: Uint8Array): false | ReturnType<RaftShell['propose']> => this.raft.softState().role === 'leader' && this.raft.propose(entry);

  /** A message the group log took: ticks follow what it may have started. */
  private groupLogMessage(ctx: Context, msg: Message): void {
    this.ticks.rideAlong(ctx); // an idle tick that is due runs on this turn's wake-up
    const type = (msg as { type?: unknown }).type;
    // A quiet group's heartbeats (most of an idle member's messages) wake no ticks.
    if (type === 'govfs.raft.Heartbeat' || type === 'govfs.raft.HeartbeatResponse') return;
    if (typeof type === 'string') this.ticks.active(ctx);
    this.ticks.watch(ctx, this.raft.softState());
  }

  private tick(ctx: Context): void {
    const { raft, core, args } = this;
    this.step(ctx, TICK);
    this.loads.tick(ctx);
    this.reportStatus(ctx);
    this.leases.tick(ctx);
    if (args.role === 'minister' && raft.softState().role === 'leader' && !core.record.fenced) {
      this.gc.tick(ctx, this.ns.layouts, args.clusterState().removed);
      this.repair.tick(ctx);
    }
    this.ticks.watch(ctx, raft.softState());
    this.ticks.fired(ctx, !core.quiet || !this.leases.quiet);
  }

  /** A client's request: to the lease service, or to the core (a bad one answered by it). */
  private request(ctx: Context, req: FsRequestMessage, at: number): void {
    this.sessions.touch(ctx, req.clientId, at);
    const reply = mapAlong(ctx.deferReply(), req.mapVersion ?? 0, this.args.clusterState());
    const op = readOp(req);
    if (op instanceof FsError) this.step(ctx, { kind: 'request', req, op: { ok: false, message: op.message, code: op.code }, reply });
    else if (isDataOp(op)) this.step(ctx, { kind: 'request', req, op: { ok: false, message: `${op.op} goes to a node's chunk store, not to a ministry` }, reply });
    else if (isLeaseOp(op)) this.leases.request(ctx, req, op, reply);
    else {
      this.loads.request(op, at);
      this.step(ctx, { kind: 'request', req, op: { ok: true, op }, reply }, at);
    }
  }

  /** A new staff from the cluster log (through the node). */
  private appointment(ctx: Context, record: MinistryRecord): void {
    this.step(ctx, { kind: 'appointment', record });
    this.leases.restaffed(ctx);
    if (staffKey(record) !== this.servedAs) [this.servedSince, this.servedAs] = [ctx.clock.now(), staffKey(record)];
  }

  /** Every other message, by its type; what none of these takes goes to the lease service. */
  private message(ctx: Context, msg: Message, type: string | undefined): void {
    switch (type) {
      case 'ministry.appointment':
        return this.appointment(ctx, (msg as { record: MinistryRecord }).record);
      case 'ministry.gc-done': {
        const entry = this.gc.done(msg as GcDone);
        if (entry && this.raft.softState().role === 'leader') this.raft.propose(entry);
        return;
      }
      case 'ministry.continue':
      case 'ministry.subtree-deleted':
        return this.step(ctx, (msg as Resume).input);
      case 'govfs.fs.CrossRenamePrepare':
        return this.step(ctx, { kind: 'rename-prepare', msg: msg as CrossRenamePrepareMessage, reply: ctx.deferReply() });
      case 'govfs.fs.RevokeReads': {
        const r = msg as { path: string; start: number; end: number; exceptClient: string; index: number };
        const answer = ctx.deferReply();
        this.leases.fenceAndRevoke(ctx, r.index, r.path, r.start, r.end, r.exceptClient, (n) => answer({ type: 'govfs.fs.ReadsRevoked', revoked: n } satisfies ReadsRevokedMessage));
        return;
      }
      case 'session.ended': {
        const id = (msg as SessionEnded).clientId;
        this.sessions.ended(id);
        this.leases.clientGone(ctx, id);
        return;
      }
      case 'govfs.fs.MigrationQuery': {
        const now = ctx.clock.now();
        return answerMigrationQuery(ctx, this.core, msg as MigrationQueryMessage, { since: this.servedSince, readsUntil: (subtree) => this.leases.readsBelievedUntil(subtree, now) });
      }
      case 'govfs.fs.MinistryCopyRequest':
        return this.copier.request(ctx);
      case 'ministry.copied':
        return this.copier.copied(msg as MinistryCopied);
      case 'govfs.fs.TicketStatusRequest': {
        const t = msg as { index: number; term: number };
        ctx.reply({ type: 'govfs.fs.TicketStatus', status: this.core.ticketStatus(t.index, t.term) } satisfies TicketStatusMessage);
        return;
      }
      default:
        this.leases.handle(ctx, msg);
    }
  }
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
