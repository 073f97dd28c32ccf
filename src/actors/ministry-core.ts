// The pure core of a ministry member (thesis 3.2-3.3): the minister or a clerk of one ministry,
// over the namespace of its subtree (MinistryNamespace, the group log's state machine). It
// decides; the shell (ministry.ts) does the I/O. Like RaftCore, it never touches an actor
// context, storage, timers or randomness: `step(input, now)` takes a message (a client's
// request, a tick, an answer to an effect it asked for) and the time, and returns effects.
//
//   inputs   request (already parsed: a ClientOp or why it is not one), tick, applied (the
//            group log applied entries), appointment, flush-tickets, stop; and the answers to
//            its own effects: proposed, apply-outcome, confirmed, subtree-deleted (by `id`).
//   effects  reply (to the opaque handle R the request came with), ticket, flush-soon (a
//            message to self, so tickets go out together), appoint, propose, when-applied,
//            read-index, cluster-read-index, subtree-delete.
//
// It reads, never changes, the group log through GroupLogView and the node's copy of the
// cluster log through `cluster()`; every change to either goes out as an effect.
//
// The rules:
// - Namespace changes: only the minister (not fenced) takes them; it proposes each as a log
//   entry, sends the client the entry's index (the ticket) before it commits, and answers when
//   the entry has applied. A change lost to a new minister is answered EAGAIN with its ticket.
// - Reads: any caught-up member (perishable entries) serves them once it has applied the
//   client's last seen index (read your writes); a linearizable read first confirms with the
//   minister (ReadIndex) and, when other ministries lie inside this one, with the cluster log.
// - Exactly-once: the namespace keeps each client's last changes and their results (RIFL), so
//   a retry gets the saved answer without a new entry.
// - Subtree delete (thesis Figure 9): `rmdir -r` over other ministries' subtrees first asks the
//   president to dissolve them, then drops the directory.
// - Ownership: a path another ministry owns is answered with the subtree map (a redirect).
//
// Its parts live beside it and work through MemberStep (the core's effects and its one table of
// pending answers): the rename host (ministry-rename-host.ts), the migration duties
// (ministry-migration-duties.ts) and the layout decisions (ministry-layout-changes.ts).

import { NO_MINISTER, type ClusterState, type MinistryRecord } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import { FsError, type FsErrorCode } from '../fs/errors.js';
import type { ClientOp, MinistryInfo } from '../fs/requests.js';
import { RenameDriver, type RenameHost } from './rename-core.js';
import { renameHost } from './ministry-rename-host.js';
import { MigrationDuties } from './ministry-migration-duties.js';
import { LayoutDecisions, type LayoutOp } from './ministry-layout-changes.js';
import { requestCreds } from './request-op.js';
import type { Creds } from '../fs/access.js';
import { MinistryNamespace, type ClientOutcome, type HandoverProgress, type Outcome } from './ministry-namespace.js';
import { MIGRATION_RETRY_AFTER_MS, migrationGate } from './migration-core.js';
import type { LeaseQuiet } from './ministry-migrations.js';

/** Reads wait at most this long for the member to apply the client's last seen index; asks
 * of the node's cluster log wait as long. */
export const READ_WAIT_MS = 2_000;
/** Completion records of clients silent this long are garbage-collected (default). */
export const CLIENT_TTL_MS = 10 * 60_000;

import type { ErrorExtra, GroupLogView, MemberStep, MinistryAnswer, MinistryCoreOptions, MinistryEffect, MinistryInput, MinistryRequest, RequestOp, Resume, TicketBatch } from './ministry-core-types.js';
export type { GroupLogView, MinistryCoreOptions, MinistryRequest, RequestOp, MinistryAnswer, TicketBatch, MinistryInput, MinistryEffect } from './ministry-core-types.js';

/** Does the reply carry the file's stat? Not for a create whose client said noStat. */
const withStat = (op: RequestOp | ClientOp): boolean => {
  const o = 'ok' in op ? (op.ok ? op.op : null) : op;
  return o === null || o.op !== 'create' || o.noStat !== true;
};

export const ministryMembers = (r: MinistryRecord): string[] => [r.minister, ...r.clerks].filter((m) => m !== NO_MINISTER);

export const ministryInfo = (r: MinistryRecord): MinistryInfo => ({ id: r.id, subtree: r.subtree, minister: r.minister, clerks: r.clerks, term: r.term, down: r.down });

/** A client's change from its proposal to its answer (MinistryCore.changeResumed). */
interface ProposedChange<R> {
  readonly req: MinistryRequest;
  readonly op: ClientOp;
  readonly reply: R;
  /** Its entry's, once proposed. */
  index: number;
  term: number;
}

/** A read waiting for the log to apply `index`; failed once past `deadline`. */
interface WaitingRead<R> {
  index: number;
  deadline: number;
  req: MinistryRequest;
  op: RequestOp;
  reply: R;
}

export class MinistryCore<R> {
  record: MinistryRecord;
  readonly ns: MinistryNamespace;
  private readonly log: GroupLogView;
  private readonly o: MinistryCoreOptions;
  /** The effects of the step running (each step has its own array). */
  private out: MinistryEffect<R>[] = [];
  private now = 0;
  /** Answers awaited from the shell, by effect id. */
  private readonly pending = new Map<number, ((r: Resume) => void) | ProposedChange<R>>();
  private nextId = 1;
  /** Tickets not sent yet: the changes a client pipelines are proposed one after another, and
   * their tickets go out together, one message per client, once the requests already in the
   * mailbox are taken (a message per change cost a tenth of the CPU of a create). */
  private tickets: TicketBatch[] = [];
  /** A subtree delete in progress (see change): other changes wait (EAGAIN) until its rmdir
   * is proposed, so nothing changes the directory between the check and the rmdir. */
  private deleting = false;
  /** Reads waiting for this member to apply an index. */
  private waiting: WaitingRead<R>[] = [];
  private lastExpiry = 0;
  /** Whether this ministry still exists, and the other ministries' subtrees inside its own, as
   * of this node's cluster state: remembered while that state is the same. */
  private own: { state: ClusterState; applied: number; live: boolean; nested: string[] } | null = null;
  /** Renames across ministries (rename-core.ts), at either end, and their host. */
  private readonly renames = new RenameDriver<R>();
  private readonly renameHost: RenameHost<R>;
  private readonly migrationDuties = new MigrationDuties();
  private readonly layouts = new LayoutDecisions();
  /** What the parts above do through this core (valid in any step: it reads the core as it is). */
  private readonly member: MemberStep<R>;

  constructor(o: MinistryCoreOptions) {
    this.o = o;
    this.record = o.record;
    this.ns = o.ns;
    this.log = o.log;
    this.member = {
      now: () => this.now,
      record: () => this.record,
      options: o,
      emit: (e) => this.out.push(e),
      await: (k) => this.await(k),
      confirmClusterLog: (k) => this.confirmClusterLog(k),
      fail: (reply, code, message, path, extra) => this.fail(reply, code, message, path, extra),
      answer: (reply, result, index) => this.answer(reply, result, index),
      self: () => this.self(),
    };
    this.renameHost = renameHost(this.member);
  }

  get role(): 'minister' | 'clerk' {
    return this.o.role;
  }

  /** Is a subtree delete waiting for the president (for tests)? */
  get deletingSubtree(): boolean {
    return this.deleting;
  }

  /** Reads waiting for an index to apply (for tests). */
  get waitingReads(): number {
    return this.waiting.length;
  }

  /** Nothing here waits on the clock, so the shell may tick seldom: no read waits to catch
   * up, no answer is awaited, no migration or rename is under way. */
  get quiet(): boolean {
    const c = this.o.cluster();
    return this.waiting.length === 0 && this.pending.size === 0 && this.tickets.length === 0 && c.migrations.size === 0 && this.ns.migrations.size === 0 && this.ns.renames.empty && this.renames.waiting === 0 && c.crossRenames.size === 0;
  }

  step(input: MinistryInput<R>, now: number): MinistryEffect<R>[] {
    const out: MinistryEffect<R>[] = [];
    this.out = out;
    this.now = now;
    switch (input.kind) {
      case 'request':
        if (input.op.ok && (input.op.op.op === 'layout-place' || input.op.op.op === 'layout-replace')) this.layoutChange(input.req, input.op.op, input.reply);
        else if (input.req.mutation) this.change(input.req, input.op, input.reply);
        else this.read(input.req, input.op, input.reply);
        break;
      case 'tick':
        this.wakeReaders();
        this.expireClients();
        this.migrationDuties.propose(this.member);
        // (Also while a decision is in the cluster state: the minister reports its ended ones.)
        if (!this.ns.renames.empty || this.renames.waiting > 0 || this.o.cluster().crossRenames.size > 0) this.renames.drive(this.renameHost);
        break;
      case 'applied':
        this.wakeReaders();
        if (!this.ns.renames.empty || this.renames.waiting > 0) this.renames.drive(this.renameHost);
        break;
      case 'rename-prepare':
        this.renames.prepare(this.renameHost, input.msg, input.reply);
        break;
      case 'appointment':
        this.record = input.record;
        out.push({ kind: 'appoint', appointment: { term: input.record.term, leader: input.record.fenced ? NO_MINISTER : input.record.minister, members: ministryMembers(input.record) } });
        break;
      case 'flush-tickets':
        for (const batch of this.tickets) out.push({ kind: 'ticket', batch });
        this.tickets = [];
        break;
      case 'stop':
        for (const w of this.waiting) this.failRead(w);
        this.waiting = [];
        break;
      default: {
        const k = this.pending.get(input.id);
        if (k === undefined) break;
        this.pending.delete(input.id);
        if (typeof k === 'function') k(input);
        else this.changeResumed(k, input);
      }
    }
    this.out = [];
    return out;
  }

  /** Has the ticket (index, term) committed, as far as this member knows? */
  ticketStatus(index: number, term: number): 'committed' | 'lost' | 'unknown' {
    const c = this.log.committed(index, term);
    return c === true ? 'committed' : c === false ? 'lost' : 'unknown';
  }

  /** The answer for a request on `path` that this member must not serve here: another
   * ministry owns it (a redirect with the whole subtree map, so the client learns the map and
   * goes there), or it lies in a static ministry this node has not seen formed (EAGAIN). Null
   * when this ministry serves `path`.
   *
   * Every operation of a request is checked, whatever `req.path` the node routed by: a
   * hand-made request could name a path here and operate on one elsewhere. Ownership is read
   * from this node's copy of the cluster log, when the request is served (a change: before it
   * is proposed). That copy may lag, and it is still safe: what a ministry owns only grows
   * while it exists (a dissolved one owns nothing). A ministry is formed only for a configured
   * static subtree, and until this node has seen it formed, `forming` refuses every operation
   * in it (EAGAIN); a subtree delete hands a dissolved subtree back to the ministry above, which
   * a stale copy merely redirects away for a while. So a path this node's copy says is ours was
   * ours at every later moment, and an entry proposed for it lies in this subtree whenever it
   * applies. A live migration (split, merge) takes paths away: so the source logs a fence in its
   * own group log first and every member refuses changes there at apply time from that entry
   * on (ministry-migrations.ts); here, migrationGate answers EAGAIN meanwhile.
   *
   * A mount point (the root of a ministry inside this one) belongs to that ministry: the parent
   * keeps no entry for it and only shows its name in listings. So the parent redirects
   * `mkdir /a` too, and the owner answers it (EEXIST). */
  ownership(path: string): MinistryAnswer | null {
    // A path that is not absolute is the namespace's to refuse (EINVAL); other malformed ones
    // are too, wherever their prefix sends them (this runs for every request: no full parse).
    if (path.charCodeAt(0) !== 0x2f) return null;
    // (Changes and reads met `forming` already; a lease open meets it here.)
    const pending = this.forming({ op: 'stat', path });
    if (pending) return this.error('EAGAIN', `the ministry of ${pending} is being formed (this member has not caught up with it yet): retry`, path);
    const here = this.ownSubtree();
    if (here.live && isWithin(path, this.record.subtree)) {
      let inner = false;
      for (const s of here.nested) if (isWithin(path, s)) inner = true;
      if (!inner) {
        const moving = migrationGate(this.record, this.o.cluster(), this.ns.migrations, path);
        // (The path is refused, not this member: the client retries it here shortly.)
        return moving === null ? null : { kind: 'error', error: { code: 'EAGAIN', message: moving, path, retryAfterMs: MIGRATION_RETRY_AFTER_MS } };
      }
    }
    return { kind: 'redirect', redirect: this.o.cluster().serving().map(ministryInfo) };
  }

  /** What this member says of migration `id` (the president's MigrationQuery). */
  migrationProgress(id: string, now: number, quiet?: LeaseQuiet): HandoverProgress {
    return this.ns.handover(id, now, this.o.handoverWaitMs ?? 0, quiet);
  }

  // ---- changes -----------------------------------------------------------------------------

  private change(req: MinistryRequest, op: RequestOp, reply: R, subtreeCleared = false): void {
    const { record } = this;
    if (this.o.role !== 'minister' || record.fenced) return this.fail(reply, 'EAGAIN', `not the minister of ${record.subtree}`, req.path, this.self());
    if (this.deleting && !subtreeCleared) return this.fail(reply, 'EAGAIN', `a subtree delete is in progress in ${record.subtree}: retry`, req.path);
    // A retry of a request already applied gets its saved answer without a new entry. It
    // applied at or before what this member has applied: reads wait for that much.
    const saved = this.ns.completed(req.clientId, req.seq, withStat(op));
    if (saved) return this.answer(reply, saved, this.log.applied);
    const o = this.opOf(req, op, reply);
    if (!o) return;
    const as = this.credsOf(req, reply);
    if (!as) return;
    // A rename is served by its source's ministry (its target elsewhere: rename-core.ts); a
    // link's new name elsewhere is EXDEV below (refused, not redirected).
    if (this.redirected(reply, 'path' in o ? o.path : o.from)) return;
    const cluster = this.o.cluster();
    if (o.op === 'rename') {
      const inside = this.nestedIn(o.from);
      if (inside.length > 0) return this.refuse(reply, 'EXDEV', `rename ${o.from}: it contains another ministry's subtree (${inside[0]!.subtree}), which cannot move (rename inside it, or move the files one by one)`, o.from);
      const target = cluster.ministryFor(o.to);
      // The target elsewhere: a two-phase commit through the president (rename-core.ts).
      if (target && target.id !== record.id) return this.renames.start(this.renameHost, { clientId: req.clientId, seq: req.seq, acked: req.acked, from: o.from, to: o.to, as }, target, reply);
    }
    if (o.op === 'link') {
      const target = cluster.ministryFor(o.to);
      if (!target || target.id !== record.id) return this.refuse(reply, 'EXDEV', `link ${o.from} -> ${o.to}: the new name is served by another ministry; hard links cannot cross ministries`, o.from);
    }
    if (o.op === 'rmdir') {
      const inside = this.nestedIn(o.path);
      if (inside.length > 0 && !o.recursive) return this.refuse(reply, 'ENOTEMPTY', `rmdir ${o.path}: directory not empty (it holds ${inside[0]!.subtree}; use recursive: true)`, o.path);
      if (inside.length > 0 && !subtreeCleared) return this.deleteSubtree(req, op, o.path, as, reply);
    }
    this.propose(req, o, as, reply);
  }

  /** Other ministries' subtrees inside `path` (a method, not a closure made for every change). */
  private nestedIn(path: string): MinistryRecord[] {
    return [...this.o.cluster().ministries.values()].filter((mi) => mi.id !== this.record.id && mi.subtree !== path && isWithin(mi.subtree, path));
  }

  private propose(req: MinistryRequest, op: ClientOp, as: Creds, reply: R): void {
    let payload: Uint8Array;
    try {
      payload = MinistryNamespace.encodeEntry({ clientId: req.clientId, seq: req.seq, acked: req.acked, op, now: this.now, as });
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      return this.fail(reply, e.code, e.message, req.path);
    }
    // One object follows the change through both answers (no closure per step: every create).
    const id = this.nextId++;
    this.pending.set(id, { req, op, reply, index: 0, term: 0 });
    this.out.push({ kind: 'propose', id, payload });
  }

  /** A proposed change's answers: its entry's index (then the ticket), then its outcome. */
  private changeResumed(c: ProposedChange<R>, r: Resume): void {
    const { req, reply } = c;
    if (r.kind === 'proposed') {
      const ticket = r.result;
      if (!ticket.ok) return this.fail(reply, 'EAGAIN', `minister of ${this.record.subtree} cannot take changes now (${ticket.reason}): retry`, req.path, this.self());
      // The ticket: the client learns the entry's index before it commits.
      if (req.ticketTo) this.queueTicket(req.ticketTo, req.clientId, req.seq, ticket.index, ticket.term);
      c.index = ticket.index;
      c.term = ticket.term;
      const id = this.nextId++;
      this.pending.set(id, c);
      this.out.push({ kind: 'when-applied', id, index: ticket.index, term: ticket.term });
      return;
    }
    if (r.kind !== 'apply-outcome') return;
    if (!r.outcome.ok) return this.fail(reply, 'EAGAIN', `change lost to a new minister (${r.outcome.reason}): retry`, req.path, { index: c.index, term: c.term, redirect: [ministryInfo(this.record)] });
    this.answer(reply, MinistryNamespace.clientOutcome(r.outcome.result as Outcome, withStat(c.op)), c.index, c.term);
  }

  private queueTicket(to: string, clientId: string, seq: number, index: number, term: number): void {
    if (this.tickets.length === 0) this.out.push({ kind: 'flush-soon' });
    let batch = this.tickets.find((t) => t.to === to && t.clientId === clientId && t.term === term);
    if (!batch) this.tickets.push((batch = { to, clientId, term, seqs: [], indexes: [] }));
    batch.seqs.push(seq);
    batch.indexes.push(index);
  }

  /** Thesis Figure 9: the president dissolves the ministries below first, then this ministry
   * drops the directory. Only if the rmdir will succeed: a failing one (no such directory, a
   * file, this ministry's root) must change nothing, so it is first checked against the
   * current namespace (every proposed entry applied, leadership confirmed), and no other
   * change is taken until the rmdir itself is proposed. The caller's permissions included:
   * an rmdir it may not do dissolves nothing either. */
  private deleteSubtree(req: MinistryRequest, op: RequestOp, path: string, as: Creds, reply: R): void {
    this.deleting = true;
    this.settle((ok) => {
      if (!ok) {
        this.deleting = false;
        return this.fail(reply, 'EAGAIN', `rmdir ${path}: could not confirm the state of ${this.record.subtree}: retry`, req.path, this.self());
      }
      if (!this.ns.isRemovableDir(path, as)) {
        // It fails in the log as it would have here, and dissolves nothing.
        this.deleting = false;
        return this.change(req, op, reply, true);
      }
      const id = this.await((d) => {
        if (d.kind !== 'subtree-deleted') return;
        if (d.ok && this.o.cluster().applied < d.index) {
          // This node's copy of the cluster log must show the dissolved ministries gone before
          // the rmdir (and what follows it) is judged against it: the dissolution committed
          // before this ReadIndex, so it is applied once that returns.
          return this.confirmClusterLog((current) => {
            this.deleting = false;
            if (current && this.o.cluster().applied >= d.index) this.change(req, op, reply, true);
            else this.fail(reply, 'EAGAIN', `rmdir ${req.path}: this member has not caught up with the cluster log: retry`, req.path);
          });
        }
        this.deleting = false;
        if (d.ok) this.change(req, op, reply, true);
        else this.fail(reply, 'EAGAIN', `rmdir ${req.path}: the president could not remove the subtrees below (${d.reason}): retry`, req.path);
      });
      this.out.push({ kind: 'subtree-delete', id, subtree: path, requester: this.record.id });
    });
  }

  /** Refuse a change without logging it, once leadership is confirmed: a minister that was cut
   * off (fenced, or its ministry dissolved) must not answer from what it last knew. The refusal
   * rests on the cluster log's ministries too, so that view is confirmed as well. */
  private refuse(reply: R, code: FsErrorCode, message: string, path: string): void {
    const unsure = (): void => this.fail(reply, 'EAGAIN', `could not confirm with the members of ${this.record.subtree}: retry`, path, this.self());
    this.readIndex((ok) => (ok ? this.clusterCurrent((current) => (current ? this.fail(reply, code, message, path) : unsure())) : unsure()));
  }

  /** k(true) once this member has applied every entry in its log and confirmed it still leads
   * (ReadIndex): its namespace is then the ministry's current one. */
  private settle(k: (ok: boolean) => void): void {
    const log = this.log;
    if (log.lastIndex > log.applied) {
      const last = log.lastIndex;
      const term = log.termAt(last);
      if (term === undefined) return k(false);
      const id = this.await((a) => (a.kind === 'apply-outcome' && a.outcome.ok ? this.settle(k) : k(false)));
      this.out.push({ kind: 'when-applied', id, index: last, term });
      return;
    }
    this.readIndex((ok) => (!ok ? k(false) : log.lastIndex > log.applied ? this.settle(k) : k(true)));
  }

  /** The client-record expiry entry, proposed by a leading minister every tenth of the TTL. */
  private expireClients(): void {
    const ttl = this.o.clientTtlMs ?? CLIENT_TTL_MS;
    if (this.o.role !== 'minister' || !this.log.leading() || this.now - this.lastExpiry < ttl / 10) return;
    if (this.lastExpiry !== 0) this.out.push({ kind: 'propose', id: 0, payload: MinistryNamespace.encodeExpiry(this.now, ttl) });
    this.lastExpiry = this.now;
  }

  // ---- file layouts (issue 17) --------------------------------------------------------------

  /** Place chunks, or replace a replica: only the minister, on its settled state, decides
   * (ministry-layout-changes.ts). */
  private layoutChange(req: MinistryRequest, op: LayoutOp, reply: R): void {
    const { record } = this;
    if (this.o.role !== 'minister' || record.fenced) return this.fail(reply, 'EAGAIN', `not the minister of ${record.subtree}`, req.path, this.self());
    if (!this.opOf(req, { ok: true, op }, reply) || this.redirected(reply, op.path)) return;
    // Decided on the ministry's current layouts: a new minister may not have applied all that
    // its predecessor committed.
    this.settle((ok) => (ok ? this.layouts.decide(this.member, req, op, reply) : this.fail(reply, 'EAGAIN', `could not confirm the state of ${record.subtree}: retry`, req.path, this.self())));
  }

  // ---- reads -------------------------------------------------------------------------------

  private read(req: MinistryRequest, op: RequestOp, reply: R): void {
    if (this.o.role === 'clerk' && !this.log.caughtUp()) {
      return this.fail(reply, 'EAGAIN', `clerk of ${this.record.subtree} is catching up: try another member`, req.path, this.self());
    }
    if (this.log.applied >= req.lastSeen) return this.readApplied(req, op, reply);
    this.waiting.push({ index: req.lastSeen, deadline: this.now + READ_WAIT_MS, req, op, reply });
  }

  /** A read whose client's last seen index this member has applied. */
  private readApplied(req: MinistryRequest, op: RequestOp, reply: R): void {
    if (!req.linearizable) return this.serveRead(req, op, reply);
    this.readIndex((ok) => {
      if (!ok) return this.fail(reply, 'EAGAIN', `could not confirm with the minister of ${this.record.subtree}: retry`, req.path, this.self());
      this.clusterCurrent((current) =>
        current ? this.serveRead(req, op, reply) : this.fail(reply, 'EAGAIN', `could not confirm this member's view of the cluster log: retry`, req.path, this.self()),
      );
    });
  }

  private serveRead(req: MinistryRequest, op: RequestOp, reply: R): void {
    const o = this.opOf(req, op, reply);
    if (!o || this.redirected(reply, 'path' in o ? o.path : o.from)) return;
    const as = this.credsOf(req, reply);
    if (as) this.answer(reply, this.ns.read(o, this.o.cluster(), as), this.log.applied);
  }

  /** The request's credentials, or null once it has been answered EINVAL for bad ones. */
  private credsOf(req: MinistryRequest, reply: R): Creds | null {
    const as = requestCreds(req);
    if (!(as instanceof FsError)) return as;
    this.fail(reply, as.code, as.message, req.path);
    return null;
  }

  private wakeReaders(): void {
    if (this.waiting.length === 0) return;
    const applied = this.log.applied;
    const still: WaitingRead<R>[] = [];
    for (const w of this.waiting) {
      if (applied >= w.index) this.readApplied(w.req, w.op, w.reply);
      else if (this.now > w.deadline) this.failRead(w);
      else still.push(w);
    }
    this.waiting = still;
  }

  private failRead(w: WaitingRead<R>): void {
    this.fail(w.reply, 'EAGAIN', `member has not yet applied index ${w.req.lastSeen}: retry`, w.req.path, this.self());
  }

  // ---- the cluster log ---------------------------------------------------------------------

  /** k(true) once this node's copy of the cluster log is known current: what a linearizable
   * answer says about other ministries (a mount in a listing, a target served elsewhere) must
   * not come from a stale copy, say one that has not applied a subtree delete. Free when no
   * other ministry lies inside this one. */
  private clusterCurrent(k: (ok: boolean) => void): void {
    const { record } = this;
    const others = [...this.o.cluster().ministries.values()].some((mi) => mi.id !== record.id && isWithin(mi.subtree, record.subtree));
    if (!others) return k(true);
    this.confirmClusterLog(k);
  }

  /** k(true) once this node has applied every cluster log entry committed before now. */
  private confirmClusterLog(k: (ok: boolean) => void): void {
    const id = this.await((r) => k(r.kind === 'confirmed' && r.ok));
    this.out.push({ kind: 'cluster-read-index', id });
  }

  private readIndex(k: (ok: boolean) => void): void {
    const id = this.await((r) => k(r.kind === 'confirmed' && r.ok));
    this.out.push({ kind: 'read-index', id });
  }

  /** A configured static subtree inside this one, not yet formed as far as this member knows,
   * that `op` depends on (its path lies in it; a rename's target lies in it or its source holds
   * it; an rmdir's directory holds it; an ls lists its parent). Its ministry may already serve:
   * the op waits (EAGAIN) until this member's cluster state has caught up. */
  private forming(op: ClientOp): string | undefined {
    const unformed = this.o.cluster().unformed(this.o.statics);
    if (unformed.length === 0) return undefined;
    const root = this.record.subtree;
    const pending = unformed.filter((s) => s !== root && isWithin(s, root));
    if (pending.length === 0) return undefined;
    return pending.find((s) => {
      switch (op.op) {
        case 'rename':
          return isWithin(op.from, s) || isWithin(op.to, s) || isWithin(s, op.from);
        case 'link':
          return isWithin(op.from, s) || isWithin(op.to, s);
        case 'rmdir':
          return isWithin(s, op.path);
        case 'ls':
          return isWithin(op.path, s) || s.slice(0, Math.max(1, s.lastIndexOf('/'))) === op.path;
        default:
          return isWithin(op.path, s);
      }
    });
  }

  private ownSubtree(): { live: boolean; nested: string[] } {
    const state = this.o.cluster();
    const own = this.own;
    if (own !== null && own.state === state && own.applied === state.applied) return own;
    const { record } = this;
    const nested = state.serving().filter((mi) => mi.id !== record.id && isWithin(mi.subtree, record.subtree)).map((mi) => mi.subtree);
    this.own = { state, applied: state.applied, live: state.ministries.has(record.id), nested };
    return this.own;
  }

  // ---- answers -----------------------------------------------------------------------------

  /** The request's operation, or null once the request has been answered: malformed, or it
   * depends on a static ministry this member has not seen formed yet. */
  private opOf(req: MinistryRequest, op: RequestOp, reply: R): ClientOp | null {
    if (!op.ok) {
      this.fail(reply, op.code ?? 'EINVAL', op.message, req.path);
      return null;
    }
    const pending = this.forming(op.op);
    if (pending) {
      this.fail(reply, 'EAGAIN', `the ministry of ${pending} is being formed (this member has not caught up with it yet): retry`, req.path);
      return null;
    }
    return op.op;
  }

  private redirected(reply: R, path: string): boolean {
    const away = this.ownership(path);
    if (away) this.out.push({ kind: 'reply', to: reply, answer: away });
    return away !== null;
  }

  private await(k: (r: Resume) => void): number {
    const id = this.nextId++;
    this.pending.set(id, k);
    return id;
  }

  private self(): ErrorExtra {
    return { redirect: [ministryInfo(this.record)] };
  }

  private error(code: FsErrorCode, message: string, path: string, extra?: ErrorExtra): MinistryAnswer {
    return { kind: 'error', error: { code, message, path }, ...extra };
  }

  private fail(reply: R, code: FsErrorCode, message: string, path: string, extra?: ErrorExtra): void {
    this.out.push({ kind: 'reply', to: reply, answer: this.error(code, message, path, extra) });
  }

  /** An operation's result, as of log position `index` (of `term`, for a change). */
  private answer(reply: R, result: ClientOutcome, index: number, term?: number): void {
    const answer: MinistryAnswer = term === undefined ? { kind: 'result', result, index } : { kind: 'result', result, index, term };
    this.out.push({ kind: 'reply', to: reply, answer });
  }
}
