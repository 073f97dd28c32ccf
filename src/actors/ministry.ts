// A ministry member (thesis 3.2-3.3): the minister or a clerk of one ministry. Both run the
// ministry's group log (appointed Raft) over the namespace of its subtree.
//
// - The minister serialises namespace changes: it proposes each as a log entry, sends the
//   client the entry's index (the ticket) at once, and answers when the entry has applied.
// - Clerks (and the minister) serve reads, but only once caught up (perishable entries: every
//   committed entry applied, and the leader heard within a heartbeat). A read waits until the
//   member has applied the client's last seen index (read your writes); a linearizable read
//   first confirms with the minister (ReadIndex).
// - Exactly-once: the namespace keeps each client's last mutation and its result in the
//   replicated state (RIFL), so a retry after a failover gets the original answer.

import { ClusterState, NO_MINISTER, type MinistryRecord } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import type { NodeConfig } from './node.js';
import { RaftShell, type AppliedEntry } from '../raft/shell.js';
import type { Entry } from '../raft/types.js';
import { MinistryNamespace, type AppliedChanges, type ClientOp, type ClientOutcome, type Outcome } from './ministry-namespace.js';
import { DEFAULT_LEASES } from './leases.js';
import { FsError } from '../fs/errors.js';
import { LeaseService } from './lease-service.js';
import type { Behaviour, Context, Message, Ref } from '../runtime/types.js';
import type { FsRequestMessage } from '../fs/requests.js';
import { isLeaseOp, requestOp } from './request-op.js';
import { sessionBehaviour, type SessionEnded, type SessionMsg } from './session.js';

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
}

export interface MinistryArgs {
  config: NodeConfig;
  record: MinistryRecord;
  role: 'minister' | 'clerk';
  clusterState: () => ClusterState;
}

type FsRequest = FsRequestMessage;

type Reply = (msg: Message) => void;

/** Reads wait at most this long for the member to apply the client's last seen index. */
const READ_WAIT_MS = 2_000;
/** Completion records of clients silent this long are garbage-collected (default). */
export const CLIENT_TTL_MS = 10 * 60_000;

/** What a test may read of a live ministry member (`ActorCell.behaviour.inspect()`). */
export interface MinistryInspection {
  ministry: string;
  subtree: string;
  node: string;
  term: number;
  leading: boolean;
  /** (client, seq) pairs whose change applied more than once: must stay 0. */
  duplicateApplies: number;
  /** Clients with a completion record. */
  clients: number;
  /** The last changes this member applied (the simulator checks they lie in its subtree). */
  applied: AppliedChanges;
  /** The group log's commit index, and its entries held in memory (after any snapshot): for
   * the simulations' per-step checks that committed entries never diverge. */
  commit: number;
  entries: () => readonly Entry[];
}

export function ministryBehaviour(args: MinistryArgs): Behaviour & { inspect(): MinistryInspection | null } {
  const { config } = args;
  let record = args.record;
  const ns = new MinistryNamespace(record.subtree);
  let raft: RaftShell;
  /** Tickets not sent yet: the changes a client pipelines are proposed one after another, and
   * their tickets go out together, one message per client, once the requests already in the
   * mailbox are taken (a message per change cost a tenth of the CPU of a create). An array,
   * emptied by each flush: a handful of clients per flush. */
  let tickets: { to: string; clientId: string; term: number; seqs: number[]; indexes: number[] }[] = [];
  const queueTicket = (ctx: Context, to: string, clientId: string, seq: number, index: number, term: number): void => {
    if (tickets.length === 0) ctx.self.tell('ministry.tickets');
    let batch = tickets.find((t) => t.to === to && t.clientId === clientId && t.term === term);
    if (!batch) tickets.push((batch = { to, clientId, term, seqs: [], indexes: [] }));
    batch.seqs.push(seq);
    batch.indexes.push(index);
  };
  const sendTickets = (ctx: Context): void => {
    const out = tickets;
    tickets = [];
    for (const t of out) {
      ctx.ref(t.to).tell({ type: 'govfs.fs.Ticket', clientId: t.clientId, seq: t.seqs[0], index: t.indexes[0], term: t.term, ministry: record.id, moreSeqs: t.seqs.slice(1), moreIndexes: t.indexes.slice(1) });
    }
  };
  /** One session actor per client this member serves (children of this role actor). A
   * session hears of its client at most every `touchEveryMs`, not on every request (that was
   * an actor message per request), and allows for that lag before it ends. */
  const sessionTtlMs = config.sessionTtlMs ?? SESSION_TTL_MS;
  const touchEveryMs = Math.max(1, Math.floor(sessionTtlMs / 32));
  const sessions = new Map<string, { ref: Ref<SessionMsg>; touchedAt: number }>();
  const touchSession = (ctx: Context, clientId: string): void => {
    if (!clientId) return;
    const existing = sessions.get(clientId);
    if (existing) {
      const now = ctx.clock.now();
      if (now - existing.touchedAt >= touchEveryMs) {
        existing.touchedAt = now;
        existing.ref.tell('session.touch');
      }
      return;
    }
    const name = `session-${clientId.replace(/[^A-Za-z0-9_.:@$-]/g, '_')}`;
    if (ctx.child(name)) return;
    sessions.set(clientId, { ref: ctx.spawn(name, () => sessionBehaviour(clientId, sessionTtlMs, touchEveryMs)), touchedAt: ctx.clock.now() });
  };
  const leases = new LeaseService({
    node: config.id,
    settings: { ttlMs: config.leaseTtlMs ?? DEFAULT_LEASES.ttlMs, maxDriftMs: config.leaseDriftMs ?? DEFAULT_LEASES.maxDriftMs },
    // A member stops being caught up (and granting reads) within a few ticks of losing touch.
    catchUpWindowMs: 3 * (config.tickMs ?? 10),
    state: () => ns.leases,
    raft: () => raft,
    record: () => record,
    role: args.role,
    memberAddress: (id) => `${config.addresses[id]}/role`,
    fileCheck: (path) => ns.fileCheck(path),
    redirectedAway: (path, reply) => redirectedAway(reply, path),
  });
  /** A subtree delete in progress (see mutate): other changes wait (EAGAIN) until its rmdir
   * is proposed, so nothing changes the directory between the check and the rmdir. */
  let deleting = false;
  /** Reads waiting for this member to apply an index: [index, deadline, serve]. */
  let waiting: { index: number; deadline: number; serve: () => void; fail: () => void }[] = [];
  let lastExpiry = 0;

  const members = (r: MinistryRecord): string[] => [r.minister, ...r.clerks].filter((m) => m !== NO_MINISTER);
  const redirectInfo = (r: MinistryRecord) => ({ id: r.id, subtree: r.subtree, minister: r.minister, clerks: r.clerks, term: r.term, down: r.down });
  const redirect = (r: MinistryRecord) => [redirectInfo(r)];
  const fail = (reply: Reply, code: string, message: string, path: string, extra: Record<string, unknown> = {}): void =>
    reply({ type: 'govfs.fs.FsReply', ok: false, error: { code, message, path }, ministry: record.id, ...extra });
  /** Answer a request for `path` that another ministry owns with the whole subtree map and no
   * error: what a node answers a client that came to the wrong ministry, so the client learns
   * the map and goes there (GovClient "a redirect"). Returns whether it did.
   *
   * Every operation of a request is checked here, whatever `req.path` the node routed by: a
   * hand-made request could name a path here and operate on one elsewhere. Ownership is read
   * from this node's copy of the cluster log, when the request is served (a change: before it
   * is proposed). That copy may lag, and it is still safe: what a ministry owns only grows
   * while it exists (a dissolved one owns nothing). A ministry is formed only for a configured static subtree, and until
   * this node has seen it formed, `forming` refuses every operation in it (EAGAIN); a subtree
   * delete hands a dissolved subtree back to the ministry above, which a stale copy merely
   * redirects away for a while. So a path this node's copy says is ours was ours at every
   * later moment, and an entry proposed for it lies in this subtree whenever it applies.
   * (Splitting a subtree off a live ministry would break this: the parent would have to log
   * the split in its own group log first, and refuse at apply time from that.)
   *
   * A mount point (the root of a ministry inside this one) belongs to that ministry: its
   * directory and metadata are that ministry's root, which bootstrap forms with the ministry;
   * the parent keeps no entry for it and only shows its name in listings (`ns.read`). So the
   * parent redirects `mkdir /a` too, and the owner answers it (EEXIST). */
  const redirectedAway = (reply: Reply, path: string): boolean => {
    // A path that is not absolute is the namespace's to refuse (EINVAL); other malformed ones
    // are too, wherever their prefix sends them (this runs for every request: no full parse).
    if (path.charCodeAt(0) !== 0x2f) return false;
    // (Changes and reads met `forming` already; a lease open meets it here.)
    const pending = forming({ op: 'stat', path });
    if (pending) {
      fail(reply, 'EAGAIN', `the ministry of ${pending} is being formed (this member has not caught up with it yet): retry`, path);
      return true;
    }
    const here = ownSubtree();
    if (here.live && isWithin(path, record.subtree)) {
      let inner = false;
      for (const s of here.nested) if (isWithin(path, s)) inner = true;
      if (!inner) return false;
    }
    reply({ type: 'govfs.fs.FsReply', ok: false, ministry: record.id, redirect: [...args.clusterState().ministries.values()].map(redirectInfo) });
    return true;
  };
  /** Whether this ministry still exists (a subtree delete dissolves it), and the other
   * ministries' subtrees inside its own, as of this node's cluster state: remembered while
   * that state is the same (the check above runs for every request). */
  let own: { state: ClusterState; applied: number; live: boolean; nested: string[] } | null = null;
  const ownSubtree = (): { live: boolean; nested: string[] } => {
    const state = args.clusterState();
    if (own === null || own.state !== state || own.applied !== state.applied) {
      const nested = [...state.ministries.values()].filter((mi) => mi.id !== record.id && isWithin(mi.subtree, record.subtree)).map((mi) => mi.subtree);
      own = { state, applied: state.applied, live: state.ministries.has(record.id), nested };
    }
    return own;
  };
  /** Answer with an operation's result, as of log position `index` (of `term`, for a change).
   * Plain arguments and fields set one by one, no position object spread into the reply: this
   * runs for every read and change answered. */
  const answer = (reply: Reply, result: ClientOutcome, index: number, term?: number): void => {
    const msg: Record<string, unknown> = result.ok
      ? { type: 'govfs.fs.FsReply', ok: true, index, ministry: record.id }
      : { type: 'govfs.fs.FsReply', ok: false, error: result.error, index, ministry: record.id };
    // FsReply's `oneof result`: the case, and the field of that name.
    const value = result.ok ? result.value : null;
    if (value !== null) {
      msg['result'] = value.result;
      msg[value.result] = (value as Record<string, unknown>)[value.result];
    }
    if (term !== undefined) msg['term'] = term;
    reply(msg);
  };
  /** The request's operation (read from the request by requestOp when it arrived), or null
   * once the request has been answered (EAGAIN): it depends on a static ministry this member
   * has not seen formed yet. */
  const formedOp = (req: FsRequest, op: ClientOp, reply: Reply): ClientOp | null => {
    const pending = forming(op);
    if (pending) {
      fail(reply, 'EAGAIN', `the ministry of ${pending} is being formed (this member has not caught up with it yet): retry`, req.path);
      return null;
    }
    return op;
  };

  const appoint = (ctx: Context): void => {
    const leader = record.fenced ? NO_MINISTER : record.minister;
    const r = raft.appoint({ term: record.term, leader, members: members(record) });
    if (!r.ok) ctx.log.debug({ record, reason: r }, 'appointment refused');
  };

  const reportStatus = (ctx: Context): void => {
    // Every tick: the shell's cheap accessors, not its full status() (an allocation-heavy copy).
    const lastIndex = raft.lastIndex;
    ctx.parent?.tell({
      type: 'node.role-status',
      status: {
        role: args.role,
        ministry: record.id,
        term: raft.softState().term,
        commit: raft.commitIndex,
        applied: raft.applied,
        lastIndex,
        lastTerm: raft.termAt(lastIndex) ?? 0,
        commitTerm: raft.termAt(raft.commitIndex) ?? 0,
        caughtUp: raft.caughtUp(),
        leading: raft.softState().role === 'leader',
      } satisfies RoleStatus,
    });
  };

  /** Call `cb(true)` once this node's copy of the cluster log is known current (a ReadIndex on
   * it, through the node): what a linearizable answer says about other ministries (a mount in
   * a listing, a target served elsewhere) must not come from a stale copy, say one that has
   * not applied a subtree delete. Free when no other ministry lies inside this one. */
  const clusterCurrent = (ctx: Context, cb: (ok: boolean) => void): void => {
    const others = [...args.clusterState().ministries.values()].some((mi) => mi.id !== record.id && isWithin(mi.subtree, record.subtree));
    if (!others) return cb(true);
    confirmClusterLog(ctx, cb);
  };

  /** Call `cb(true)` once this node has applied every cluster log entry committed before now. */
  const confirmClusterLog = (ctx: Context, cb: (ok: boolean) => void): void => {
    ctx.pipeToSelf(
      ctx.ask<{ ok: boolean }>(ctx.parent!, { type: 'node.cluster-read-index' }, { timeoutMs: READ_WAIT_MS }),
      (r) => ({ type: 'ministry.continue', ok: r.ok, cb }),
      () => ({ type: 'ministry.continue', ok: false, cb }),
    );
  };

  const serveRead = (req: FsRequest, clientOp: ClientOp, reply: Reply): void => {
    const op = formedOp(req, clientOp, reply);
    if (op && !redirectedAway(reply, op.op === 'rename' ? op.from : op.path)) answer(reply, ns.read(op, args.clusterState()), raft.applied);
  };

  /** A configured static subtree, not yet formed as far as this member knows, that `op`
   * depends on (its path lies in it; a rename's target lies in it or its source holds it; an
   * rmdir's directory holds it; an ls lists its parent). Its ministry may already serve: the
   * op waits (EAGAIN) until this member's cluster state has caught up. */
  const forming = (op: ClientOp): string | undefined => {
    const unformed = args.clusterState().unformed(config.ministries);
    if (unformed.length === 0) return undefined;
    const pending = unformed.filter((s) => s !== record.subtree && isWithin(s, record.subtree));
    if (pending.length === 0) return undefined;
    return pending.find((s) => {
      switch (op.op) {
        case 'rename':
          return isWithin(op.from, s) || isWithin(op.to, s) || isWithin(s, op.from);
        case 'rmdir':
          return isWithin(s, op.path);
        case 'ls':
          return isWithin(op.path, s) || s.slice(0, Math.max(1, s.lastIndexOf('/'))) === op.path;
        default:
          return isWithin(op.path, s);
      }
    });
  };

  const read = (ctx: Context, req: FsRequest, op: ClientOp, reply: Reply): void => {
    if (args.role === 'clerk' && !raft.caughtUp()) {
      fail(reply, 'EAGAIN', `clerk of ${record.subtree} is catching up: try another member`, req.path, { redirect: redirect(record) });
      return;
    }
    if (raft.applied >= req.lastSeen) {
      readApplied(ctx, req, op, reply);
      return;
    }
    waiting.push({
      index: req.lastSeen,
      deadline: ctx.clock.now() + READ_WAIT_MS,
      serve: () => readApplied(ctx, req, op, reply),
      fail: () => fail(reply, 'EAGAIN', `member has not yet applied index ${req.lastSeen}: retry`, req.path, { redirect: redirect(record) }),
    });
  };

  /** A read whose client's last seen index this member has applied. */
  const readApplied = (ctx: Context, req: FsRequest, op: ClientOp, reply: Reply): void => {
    if (!req.linearizable) {
      serveRead(req, op, reply);
      return;
    }
    raft.readIndex((ok) => {
      if (!ok) fail(reply, 'EAGAIN', `could not confirm with the minister of ${record.subtree}: retry`, req.path, { redirect: redirect(record) });
      else clusterCurrent(ctx, (current) => (current ? serveRead(req, op, reply) : fail(reply, 'EAGAIN', `could not confirm this member's view of the cluster log: retry`, req.path, { redirect: redirect(record) })));
    });
  };

  /** Call `cb(true)` once this member has applied every entry in its log and confirmed it
   * still leads (ReadIndex): its namespace is then the ministry's current one. */
  const settle = (cb: (ok: boolean) => void): void => {
    if (raft.lastIndex > raft.applied) {
      const last = raft.lastIndex;
      const term = raft.termAt(last);
      if (term === undefined) return cb(false);
      raft.whenApplied(last, term, (o) => (o.ok ? settle(cb) : cb(false)));
      return;
    }
    raft.readIndex((ok) => (!ok ? cb(false) : raft.lastIndex > raft.applied ? settle(cb) : cb(true)));
  };

  /** Refuse a change without logging it, once leadership is confirmed: a minister that was
   * cut off (fenced, or its ministry dissolved) must not answer from what it last knew. The
   * refusal rests on the cluster log's ministries too, so that view is confirmed as well. */
  const refuse = (ctx: Context, reply: Reply, code: string, message: string, path: string): void => {
    const unsure = (): void => fail(reply, 'EAGAIN', `could not confirm with the members of ${record.subtree}: retry`, path, { redirect: redirect(record) });
    raft.readIndex((ok) => (ok ? clusterCurrent(ctx, (current) => (current ? fail(reply, code, message, path) : unsure())) : unsure()));
  };

  const mutate = (ctx: Context, req: FsRequest, clientOp: ClientOp, reply: Reply, subtreeCleared = false): void => {
    if (args.role !== 'minister' || record.fenced) {
      fail(reply, 'EAGAIN', `not the minister of ${record.subtree}`, req.path, { redirect: redirect(record) });
      return;
    }
    if (deleting && !subtreeCleared) {
      fail(reply, 'EAGAIN', `a subtree delete is in progress in ${record.subtree}: retry`, req.path);
      return;
    }
    // A retry of a request already applied gets its saved answer without a new entry.
    const saved = ns.completed(req.clientId, req.seq);
    if (saved) {
      // It applied at or before what this member has applied: reads wait for that much.
      answer(reply, saved, raft.applied);
      return;
    }
    const op = formedOp(req, clientOp, reply);
    if (!op) return;
    // A rename's source here, its target elsewhere: EXDEV below (refused, not redirected).
    if (redirectedAway(reply, op.op === 'rename' ? op.from : op.path)) return;
    const cluster = args.clusterState();
    // Other ministries' subtrees inside the path this change touches.
    const nested = (p: string) => [...cluster.ministries.values()].filter((mi) => mi.id !== record.id && mi.subtree !== p && isWithin(mi.subtree, p));
    if (op.op === 'rename') {
      const target = cluster.ministryFor(op.to);
      if (!target || target.id !== record.id) {
        refuse(ctx, reply, 'EXDEV', `rename ${op.from} -> ${op.to}: the target is served by another ministry; renames across ministries are not supported yet (copy and remove instead)`, op.from);
        return;
      }
      if (nested(op.from).length > 0) {
        refuse(ctx, reply, 'EXDEV', `rename ${op.from}: it contains another ministry's subtree (${nested(op.from)[0]!.subtree}), which cannot move`, op.from);
        return;
      }
    }
    if (op.op === 'rmdir' && nested(op.path).length > 0 && !op.recursive) {
      refuse(ctx, reply, 'ENOTEMPTY', `rmdir ${op.path}: directory not empty (it holds ${nested(op.path)[0]!.subtree}; use recursive: true)`, op.path);
      return;
    }
    if (op.op === 'rmdir' && op.recursive && nested(op.path).length > 0 && !subtreeCleared) {
      // Thesis Figure 9: the president dissolves the ministries below first, then this
      // ministry drops the directory. Only if the rmdir will succeed: a failing one (no such
      // directory, a file, this ministry's root) must change nothing, so it is first checked
      // against the current namespace — every proposed entry applied, leadership confirmed,
      // and no other change taken until the rmdir itself is proposed.
      deleting = true;
      settle((ok) => {
        if (!ok) {
          deleting = false;
          fail(reply, 'EAGAIN', `rmdir ${op.path}: could not confirm the state of ${record.subtree}: retry`, req.path, { redirect: redirect(record) });
          return;
        }
        if (!ns.isRemovableDir(op.path)) {
          // It fails in the log as it would have here, and dissolves nothing.
          deleting = false;
          mutate(ctx, req, op, reply, true);
          return;
        }
        ctx.pipeToSelf(
          ctx.ask<{ ok: boolean; reason?: string; index?: number }>(ctx.parent!, { type: 'govfs.fs.SubtreeDelete', subtree: op.path, requester: record.id }, { timeoutMs: 5_000 }),
          (r) => ({ type: 'ministry.subtree-deleted', ok: r.ok, reason: r.reason ?? '', index: Number(r.index ?? 0), req, op, reply }),
          (e) => ({ type: 'ministry.subtree-deleted', ok: false, reason: String((e as Error).message), index: 0, req, op, reply }),
        );
      });
      return;
    }
    let payload: Uint8Array;
    try {
      payload = MinistryNamespace.encodeEntry({ clientId: req.clientId, seq: req.seq, acked: req.acked, op, now: ctx.clock.now() });
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      fail(reply, e.code, e.message, req.path);
      return;
    }
    const ticket = raft.propose(payload);
    if (!ticket.ok) {
      fail(reply, 'EAGAIN', `minister of ${record.subtree} cannot take changes now (${ticket.reason}): retry`, req.path, { redirect: redirect(record) });
      return;
    }
    if (req.ticketTo) queueTicket(ctx, req.ticketTo, req.clientId, req.seq, ticket.index, ticket.term);
    raft.whenApplied(ticket.index, ticket.term, (outcome) => {
      if (!outcome.ok) {
        fail(reply, 'EAGAIN', `change lost to a new minister (${outcome.reason}): retry`, req.path, { index: ticket.index, term: ticket.term, redirect: redirect(record) });
        return;
      }
      answer(reply, MinistryNamespace.clientOutcome(outcome.result as Outcome), ticket.index, ticket.term);
    });
  };

  const wakeReaders = (ctx: Context): void => {
    if (waiting.length === 0) return;
    const applied = raft.applied;
    const now = ctx.clock.now();
    const still: typeof waiting = [];
    for (const w of waiting) {
      if (applied >= w.index) w.serve();
      else if (now > w.deadline) w.fail();
      else still.push(w);
    }
    waiting = still;
  };

  return {
    inspect() {
      if (!raft) return null;
      return { ministry: record.id, subtree: record.subtree, node: config.id, term: raft.softState().term, leading: raft.softState().role === 'leader', duplicateApplies: ns.duplicateApplies, clients: ns.clientCount, applied: ns.applied, commit: raft.commitIndex, entries: () => raft.entries() };
    },
    started(ctx) {
      raft = new RaftShell(ctx, {
        id: config.id,
        group: record.id,
        mode: 'appointed',
        voters: members(record),
        addressOf: (id) => `${config.addresses[id]}/role`,
        storagePrefix: `g/${record.id}/`,
        tickMs: config.tickMs ?? 10,
        snapshotEntries: config.snapshotEntries,
        stateMachine: {
          apply: (e: AppliedEntry) => ns.applyEntry(e.data, e.index, e.committedAt),
          snapshot: () => ns.snapshot(),
          restore: (data: Uint8Array) => ns.restore(data, ctx.clock.now()),
        },
        afterApply: () => {
          wakeReaders(ctx);
          leases.wake(ctx);
        },
      });
      appoint(ctx);
      ctx.clock.every(config.tickMs ?? 10, 'ministry.tick');
      reportStatus(ctx);
    },
    receive(ctx, msg) {
      if (raft.handle(msg)) return;
      const m = msg as { type?: string };
      if (msg === 'ministry.tickets') {
        sendTickets(ctx);
        return;
      }
      if (msg === 'ministry.tick') {
        wakeReaders(ctx);
        reportStatus(ctx);
        leases.tick(ctx);
        const now = ctx.clock.now();
        const ttl = config.clientTtlMs ?? CLIENT_TTL_MS;
        if (args.role === 'minister' && raft.softState().role === 'leader' && now - lastExpiry >= ttl / 10) {
          if (lastExpiry !== 0) raft.propose(MinistryNamespace.encodeExpiry(now, ttl));
          lastExpiry = now;
        }
        return;
      }
      switch (m.type) {
        case 'ministry.appointment':
          record = (msg as { record: MinistryRecord }).record;
          appoint(ctx);
          leases.restaffed(ctx);
          return;
        case 'govfs.fs.FsRequest': {
          const req = msg as FsRequest;
          touchSession(ctx, req.clientId);
          const reply = ctx.deferReply();
          const op = requestOp(req);
          if (op instanceof FsError) fail(reply, op.code, op.message, req.path);
          else if (isLeaseOp(op)) leases.request(ctx, req, op, reply);
          else if (req.mutation) mutate(ctx, req, op, reply);
          else read(ctx, req, op, reply);
          return;
        }
        case 'govfs.fs.RevokeReads': {
          const r = msg as { path: string; start: number; end: number; exceptClient: string; index: number };
          const answer = ctx.deferReply();
          leases.fenceAndRevoke(ctx, r.index, r.path, r.start, r.end, r.exceptClient, (n) => answer({ type: 'govfs.fs.ReadsRevoked', revoked: n }));
          return;
        }
        case 'session.ended': {
          const id = (msg as SessionEnded).clientId;
          sessions.delete(id);
          leases.clientGone(ctx, id);
          return;
        }
        case 'ministry.continue': {
          const c = msg as { ok: boolean; cb: (ok: boolean) => void };
          c.cb(c.ok);
          return;
        }
        case 'ministry.subtree-deleted': {
          const d = msg as { ok: boolean; reason: string; index: number; req: FsRequest; op: ClientOp; reply: Reply };
          if (d.ok && args.clusterState().applied < d.index) {
            // This node's copy of the cluster log must show the dissolved ministries gone
            // before the rmdir (and what follows it) is judged against it: the dissolution
            // committed before this ReadIndex, so it is applied once that returns.
            confirmClusterLog(ctx, (ok) => {
              deleting = false;
              if (ok && args.clusterState().applied >= d.index) mutate(ctx, d.req, d.op, d.reply, true);
              else fail(d.reply, 'EAGAIN', `rmdir ${d.req.path}: this member has not caught up with the cluster log: retry`, d.req.path);
            });
            return;
          }
          deleting = false;
          if (d.ok) mutate(ctx, d.req, d.op, d.reply, true);
          else fail(d.reply, 'EAGAIN', `rmdir ${d.req.path}: the president could not remove the subtrees below (${d.reason}): retry`, d.req.path);
          return;
        }
        case 'govfs.fs.TicketStatusRequest': {
          const t = msg as { index: number; term: number };
          const c = raft.committed(t.index, t.term);
          ctx.reply({ type: 'govfs.fs.TicketStatus', status: c === true ? 'committed' : c === false ? 'lost' : 'unknown' });
          return;
        }
        default:
          leases.handle(ctx, msg);
      }
    },
    stopped() {
      leases.stop();
      raft?.stop();
      for (const w of waiting) w.fail();
      waiting = [];
    },
  };
}
