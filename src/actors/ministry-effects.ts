// The I/O of a ministry member's shell (ministry.ts): carrying out its core's effects
// (replies, tickets, group-log proposals and reads, asks of the node), and the parts it builds
// around the core from NodeConfig: the group log's timers, the view of it the core reads, the
// lease service, the client sessions, and the subtree map that rides along a reply.

import type { ClusterState, MinistryRecord } from './cluster-state.js';
import type { NodeConfig } from './node-config.js';
import type { RaftShell } from '../raft/shell.js';
import type { Appointment } from '../raft/types.js';
import { DEFAULT_LEASES } from './leases.js';
import { LeaseService } from './lease-service.js';
import type { Context, Message, Ref } from '../runtime/types.js';
import type { CrossRenameVoteMessage, FsReplyMessage, SubtreeDeleteMessage, SubtreeDeletedMessage, TicketMessage } from '../fs/requests.js';
import { sessionBehaviour, type SessionMsg } from './session.js';
import { READ_WAIT_MS, ministryInfo, type MinistryCore, type GroupLogView, type MinistryAnswer, type MinistryEffect, type MinistryInput, type TicketBatch } from './ministry-core.js';

export type Reply = (msg: Message) => void;

/** What a member is started with (by its node, node.ts). */
export interface MinistryArgs {
  config: NodeConfig;
  record: MinistryRecord;
  role: 'minister' | 'clerk';
  clusterState: () => ClusterState;
}

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

export function ticketMessage(ministry: string, t: TicketBatch): TicketMessage {
  return { type: 'govfs.fs.Ticket', clientId: t.clientId, seq: t.seqs[0], index: t.indexes[0], term: t.term, ministry, moreSeqs: t.seqs.slice(1), moreIndexes: t.indexes.slice(1) };
}

/** An answer to one of the core's asks of the node, piped back to this actor: the cluster
 * log's read index, or the president's subtree delete. (The names of the messages the actor
 * had before its core: a simulation's trace is then the same as before.) */
export interface Resume {
  type: 'ministry.continue' | 'ministry.subtree-deleted';
  input: MinistryInput<Reply>;
}

/** `reply`, with this node's whole subtree map when the client's (`version`, a cluster log
 * index) is older: the client learns a split, a merge or a new clerk from the answer to a
 * request it makes anyway, not from a redirect that costs it a round trip. A redirect (the
 * whole map already) says its version, so that a client never goes back to an older map. */
export function mapAlong(reply: Reply, version: number, cluster: Readonly<ClusterState>): Reply {
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

/** One session actor per client this member serves (children of this role actor). A session
 * hears of its client at most every `touchEveryMs`, not on every request (that was an actor
 * message per request), and allows for that lag before it ends. */
export function sessionKeeper(sessionTtlMs: number): { touch(ctx: Context, clientId: string, now: number): void; ended(clientId: string): void } {
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

/** What the core reads of the group log, from the shell's RaftShell. */
export function groupLogView(raft: () => RaftShell): GroupLogView {
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
    settled: () => {
      const log = raft();
      const soft = log.softState();
      return soft.role === 'leader' && log.termAt(log.applied) === soft.term;
    },
  };
}

/** A group log's Raft timeouts on real nodes (a ReadIndex gives up after twice this, a stalled
 * snapshot transfer is resent after it): ten ticks of the 50 ms group tick they had before. */
const GROUP_TIMEOUT_MS = 500;

/** The group log's tick, quiet heartbeat interval and timeouts (in ticks) of NodeConfig: with
 * a tick of its own (real nodes), timeouts of GROUP_TIMEOUT_MS; else the core's 10 ticks. */
export function groupTimers(config: NodeConfig): { tickMs: number; idleHeartbeatTicks: number; electionTicks?: number } {
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
export function handoverWaitMs(config: NodeConfig): number {
  const t = groupTimers(config);
  return (config.leaseTtlMs ?? DEFAULT_LEASES.ttlMs) + (config.leaseDriftMs ?? DEFAULT_LEASES.maxDriftMs) + (t.idleHeartbeatTicks + 2) * t.tickMs;
}

/** The write and read leases of this member (lease-service.ts): they take their own requests,
 * and ask the core who owns a path. */
export function leaseService(config: NodeConfig, role: 'minister' | 'clerk', core: MinistryCore<Reply>, raft: () => RaftShell): LeaseService {
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
export function effectRunner(core: MinistryCore<Reply>, raft: () => RaftShell): (ctx: Context, input: MinistryInput<Reply>, now?: number) => void {
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
