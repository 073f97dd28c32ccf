// The lease shell of a ministry member: the I/O around the pure lease core (lease-core.ts, which
// has the rules; leases.ts has the tables). It turns a client's request into a lease operation,
// feeds the core every input with the time and what this member knows of itself (LeaseFacts),
// and carries out the effects: replies, Raft proposals and ReadIndex confirmations, RevokeReads
// asks to the other members, LeaseRevoked notices to holders, and one wake timer.

import type { Context, Message } from '../runtime/types.js';
import { FsError, type FsErrorData } from '../fs/errors.js';
import type { Creds } from '../fs/access.js';
import type { LeaseMode } from '../fs/ranges.js';
import { requestCreds } from './request-op.js';
import type { MinistryRecord } from './cluster-state.js';
import { NO_MINISTER } from './cluster-state.js';
import { MinistryNamespace } from './ministry-namespace.js';
import type { RaftShell } from '../raft/shell.js';
import type { LeaseSettings, WriteLeaseState } from './leases.js';
import { LeaseCore, type LeaseApplyResult, type LeaseEffect, type LeaseFacts, type LeaseOp, type LeaseReply } from './lease-core.js';
import type { LeaseValue } from './lease-types.js';
import type { FsResult, LeaseRevokedMessage, RevokeReadsMessage } from '../fs/requests.js';

export type { LeaseOp } from './lease-core.js';

type Reply = (msg: Message) => void;
type RevokeDone = (revoked: number) => void;
type Effect = LeaseEffect<Reply, RevokeDone>;

interface Request {
  clientId: string;
  ticketTo: string;
  path: string;
  creds?: unknown;
}

/** FsReply's result for what the core answered: an open's grant (it has an id), a renewal's
 * `{ ttlMs }`, a release's `{}` (LeaseValue). */
function leaseResult(v: LeaseValue): FsResult {
  if ('id' in v) {
    const g = v;
    return { result: 'leaseOpen', leaseOpen: { id: g.id, path: g.path, mode: g.mode, start: g.start, end: g.end ?? Infinity, token: g.token, ttlMs: g.ttlMs, grantedBy: g.grantedBy, heldMs: g.heldMs, driftRate: g.driftRate } };
  }
  if ('ttlMs' in v) return { result: 'leaseRenew', leaseRenew: { ttlMs: v.ttlMs } };
  return { result: 'leaseRelease', leaseRelease: {} };
}

/** The client's reply (FsReply) for what the core answered; `redirect` carries the ministry. */
function fsReply(r: LeaseReply, record: MinistryRecord): Message {
  if (r.ok) return { type: 'govfs.fs.FsReply', ok: true, ministry: record.id, ...leaseResult(r.value) };
  return {
    type: 'govfs.fs.FsReply',
    ok: false,
    error: r.error,
    ministry: record.id,
    ...(r.redirect ? { redirect: [{ id: record.id, subtree: record.subtree, minister: record.minister, clerks: record.clerks, term: record.term, down: record.down }] } : {}),
  };
}

export interface LeaseServiceDeps {
  node: string;
  settings: LeaseSettings;
  catchUpWindowMs: number;
  state: () => WriteLeaseState;
  raft: () => RaftShell;
  record: () => MinistryRecord;
  role: 'minister' | 'clerk';
  memberAddress: (id: string) => string;
  fileCheck: (path: string, as: Creds | undefined, mode: LeaseMode) => FsErrorData | null;
  /** Answers with a redirect, and says so, when another ministry owns `path`. */
  redirectedAway: (path: string, reply: Reply) => boolean;
  /** `path` lies in a subtree fenced for a migration here (no read lease renewed in it). */
  moving?: (path: string) => boolean;
}

type Internal =
  | { type: 'lease.revoked'; seq: number; unreachable: boolean }
  | { type: 'lease.wake' };

/** This member's facts, read live from its Raft shell, ministry record and lease state. */
function liveFacts(d: LeaseServiceDeps): LeaseFacts {
  return {
    get leading() {
      const r = d.record();
      return d.role === 'minister' && !r.fenced && r.minister !== NO_MINISTER && d.raft().softState().role === 'leader';
    },
    get caughtUp() {
      return d.raft().caughtUp();
    },
    get applied() {
      return d.raft().applied;
    },
    get lastIndex() {
      return d.raft().lastIndex;
    },
    get term() {
      return d.record().term;
    },
    get subtree() {
      return d.record().subtree;
    },
    get moving() {
      return d.moving;
    },
    get peers() {
      const r = d.record();
      return [r.minister, ...r.clerks].filter((m) => m !== d.node && m !== NO_MINISTER);
    },
    get writes() {
      return d.state();
    },
  };
}

export class LeaseService {
  private readonly core: LeaseCore<Reply, RevokeDone>;
  private readonly facts: LeaseFacts;
  private cancelWake: (() => void) | null = null;
  /** Writers (by seq) whose revocation round waits for this member's own reads to go. */
  private readonly ownRevoked = new Map<number, () => void>();
  /** Effects not yet carried out, and whether run() is carrying them out. */
  private queue: Effect[] = [];
  private draining = false;

  constructor(private readonly d: LeaseServiceDeps) {
    this.core = new LeaseCore({ node: d.node, role: d.role, settings: d.settings, catchUpWindowMs: d.catchUpWindowMs });
    this.facts = liveFacts(d);
  }

  /** A client's lease request (the ministry routes them here). */
  request(ctx: Context, req: Request, op: LeaseOp, reply: Reply): void {
    // (Malformed credentials are the root's: the open is then checked as root's, as it was
    // before credentials; a client that lies about them can claim root anyway.)
    const creds = requestCreds(req);
    const from = { clientId: req.clientId, notify: req.ticketTo, path: req.path, ...(creds instanceof FsError ? {} : { creds }) };
    this.run(ctx, this.core.request(ctx.clock.now(), this.facts, from, op, reply));
  }

  /** The minister's RevokeReads: fence the range until the grant at `index` applies here,
   * revoke the conflicting reads granted here, and call `done` once they are gone. */
  fenceAndRevoke(ctx: Context, index: number, path: string, start: number, end: number, exceptClient: string, done: RevokeDone): void {
    this.run(ctx, this.core.fenceAndRevoke(ctx.clock.now(), this.facts, { index, path, start, end, exceptClient }, done));
  }

  /** After applied entries: grants and releases may unblock someone. */
  wake(ctx: Context): void {
    this.run(ctx, this.core.entriesApplied(ctx.clock.now(), this.facts));
  }

  /** Nothing for tick() to do but notice a change of leader: no writer waits and no write
   * lease is held (a held one expires on a tick). */
  get quiet(): boolean {
    return this.core.quiet && this.queue.length === 0 && this.facts.writes.leases.size === 0;
  }

  /** Every tick: notice leadership changes (and start the grace period). */
  tick(ctx: Context): void {
    this.run(ctx, this.core.tick(ctx.clock.now(), this.facts));
  }

  /** This member's role started (its group log restored): reads an earlier life of it
   * granted are waited out before it answers a revocation. */
  started(ctx: Context): void {
    this.run(ctx, this.core.started(ctx.clock.now(), this.facts));
  }

  /** The ministry was re-staffed. */
  restaffed(ctx: Context): void {
    this.run(ctx, this.core.restaffed(ctx.clock.now(), this.facts));
  }

  /** The client's session here ended: drop its read leases and queued requests. */
  clientGone(ctx: Context, clientId: string): void {
    this.run(ctx, this.core.clientGone(ctx.clock.now(), this.facts, clientId));
  }

  /** Messages for the lease service; false if not one. */
  handle(ctx: Context, msg: Message): boolean {
    const m = msg as Internal;
    if (m?.type === 'lease.wake') {
      this.cancelWake = null;
      this.run(ctx, this.core.woke(ctx.clock.now(), this.facts));
      return true;
    }
    if (m?.type === 'lease.revoked') {
      this.run(ctx, this.core.peersRevoked(ctx.clock.now(), this.facts, m.seq, m.unreachable));
      return true;
    }
    return false;
  }

  stop(): void {
    this.cancelWake?.();
    this.cancelWake = null;
    for (const e of this.core.stop()) if (e.kind === 'reply') e.to(fsReply(e.reply, this.d.record()));
  }

  /** When the last read lease this member granted in `subtree` stops being believed
   * (-Infinity: none is live; Infinity: one may be granted yet). */
  readsBelievedUntil(subtree: string, now: number): number {
    return this.core.readsBelievedUntil(subtree, now);
  }

  /** For tests: live lease counts. */
  counts(now: number): { reads: number; writes: number; waitingWriters: number } {
    return this.core.counts(now, this.d.state());
  }

  /** Carry out the core's effects in the order the core decided them: the effects of an input
   * made while carrying out another's (a proposal's index, a failed ReadIndex) queue behind
   * the rest of that one's. (Carried out first, an earlier input's later wake would replace
   * the earlier wake a nested input asked for, which the core counts on.) */
  private run(ctx: Context, effects: readonly Effect[]): void {
    if (effects.length === 0) return;
    this.queue.push(...effects);
    if (this.draining) return;
    this.draining = true;
    try {
      for (let i = 0; i < this.queue.length; i++) this.carryOut(ctx, this.queue[i]!);
    } finally {
      this.queue = [];
      this.draining = false;
    }
  }

  private carryOut(ctx: Context, e: Effect): void {
    switch (e.kind) {
      case 'reply':
        e.to(fsReply(e.reply, this.d.record()));
        break;
      case 'admit':
        this.admit(ctx, e);
        break;
      case 'propose':
        this.propose(ctx, e);
        break;
      case 'revoke':
        this.askPeers(ctx, e);
        break;
      case 'ownRevoked':
        this.ownRevoked.get(e.seq)?.();
        this.ownRevoked.delete(e.seq);
        break;
      case 'revoked':
        e.to(e.count);
        break;
      case 'notify':
        ctx.ref(e.to).tell({ type: 'govfs.fs.LeaseRevoked', clientId: e.clientId, leaseId: e.leaseId, reason: e.reason, grantedBy: e.grantedBy, mode: e.mode, path: e.path } satisfies LeaseRevokedMessage);
        break;
      case 'wake':
        this.cancelWake?.();
        this.cancelWake = ctx.clock.after(Math.max(0, e.at - ctx.clock.now()) + 0.001, { type: 'lease.wake' } satisfies Internal);
        break;
      case 'recheck':
        ctx.clock.after(e.afterMs, { type: 'lease.revoked', seq: e.seq, unreachable: false } satisfies Internal);
        break;
    }
  }

  /** The file must exist as of the request (linearizably: a clerk first confirms with the
   * minister that it has applied everything committed before). */
  private admit(ctx: Context, e: Extract<Effect, { kind: 'admit' }>): void {
    const proceed = (): void => {
      if (this.d.redirectedAway(e.op.path, e.to)) return;
      this.run(ctx, this.core.admitted(ctx.clock.now(), this.facts, e.to, e.from, e.op, this.d.fileCheck(e.op.path, e.from.creds, e.op.mode)));
    };
    if (!e.confirm) proceed();
    else this.d.raft().readIndex((ok) => (ok ? proceed() : this.run(ctx, this.core.admitted(ctx.clock.now(), this.facts, e.to, e.from, e.op, 'unconfirmed'))));
  }

  private propose(ctx: Context, e: Extract<Effect, { kind: 'propose' }>): void {
    const raft = this.d.raft();
    const t = raft.propose(MinistryNamespace.encodeLease(e.entry));
    this.run(ctx, this.core.proposed(ctx.clock.now(), this.facts, e.pid, t.ok ? { ok: true, index: t.index } : { ok: false, reason: t.reason }));
    if (!t.ok) return;
    raft.whenApplied(t.index, t.term, (o) => this.run(ctx, this.core.applied(ctx.clock.now(), this.facts, e.pid, o.ok ? (o.result as LeaseApplyResult) : null)));
  }

  /** RevokeReads to every other member; the core hears once all answered (or one did not) and
   * this member's own conflicting reads are gone (ownRevoked). */
  private askPeers(ctx: Context, e: Extract<Effect, { kind: 'revoke' }>): void {
    const r = e.range;
    const asks = e.peers.map((m) =>
      ctx.ask(ctx.ref(this.d.memberAddress(m)), { type: 'govfs.fs.RevokeReads', path: r.path, start: r.start, end: r.end, exceptClient: r.exceptClient, index: r.index } satisfies RevokeReadsMessage, { timeoutMs: this.d.settings.ttlMs + this.d.settings.maxDriftMs + 1_000 }).then(
        () => true,
        () => false,
      ),
    );
    const own = new Promise<boolean>((resolve) => this.ownRevoked.set(e.seq, () => resolve(true)));
    ctx.pipeToSelf(
      Promise.all([own, ...asks]),
      (answers): Internal => ({ type: 'lease.revoked', seq: e.seq, unreachable: answers.some((x) => !x) }),
      (): Internal => ({ type: 'lease.revoked', seq: e.seq, unreachable: true }),
    );
  }
}
