// What the pure lease core (lease-core.ts, lease-reads.ts) takes and gives: the operations, the
// facts a member knows of itself, the replies and the effects the shell carries out; and the
// effect list of the input being handled. Nothing here does I/O.

import type { Creds } from '../fs/access.js';
import type { FsErrorCode, FsErrorData } from '../fs/errors.js';
import { rangesOverlap } from '../fs/ranges.js';
import type { LeaseEntry, LeaseGrant, LeaseSettings, WriteLeaseState } from './leases.js';

/** The lease operations clients send, parsed and type-checked by the shell. */
export type LeaseOp =
  | { op: 'lease-open'; path: string; mode: 'read' | 'write'; start?: number; end?: number | null; wait?: boolean; deadlineMs?: number; reqId?: string }
  | { op: 'lease-renew'; id: string; mode: 'read' | 'write' }
  | { op: 'lease-release'; id: string; mode: 'read' | 'write' };

export type OpenOp = Extract<LeaseOp, { op: 'lease-open' }>;

/** Who asked: the client, where to tell it of revocations, the request's path. */
export interface Requester {
  clientId: string;
  notify: string;
  path: string;
  /** Who asks (read or write permission on the file, issue 18); root when absent. */
  creds?: Creds;
}

/** What the member knows of itself when an input arrives (the core only reads it). */
export interface LeaseFacts {
  /** The minister, not fenced, leading its group: may take lease changes. */
  readonly leading: boolean;
  /** Applied everything its leader reported committed, lately in touch (Raft caughtUp). */
  readonly caughtUp: boolean;
  /** Highest log index applied here, and the last index of the log. */
  readonly applied: number;
  readonly lastIndex: number;
  /** The ministry's term (a write lease's id names it). */
  readonly term: number;
  readonly subtree: string;
  /** The ministry's other members (revocations go to them). */
  readonly peers: readonly string[];
  /** The ministry's write leases, as applied from its log. */
  readonly writes: WriteLeaseState;
  /** Whether `path` lies in a subtree this member's log has fenced for a migration: a read
   * lease there is not renewed (the handover counts on it running out). */
  readonly moving?: (path: string) => boolean;
}

export interface LeaseCoreConfig {
  node: string;
  role: 'minister' | 'clerk';
  settings: LeaseSettings;
  /** How long a member may still think itself caught up after losing touch. */
  catchUpWindowMs: number;
}

/** An open answers the grant, a renewal {ttlMs}, a release {}. */
export type LeaseValue = LeaseGrant | { ttlMs: number } | Record<string, never>;

/** What an operation answers. `redirect`: ask another member (the reply names the ministry). */
export type LeaseReply = { ok: true; value: LeaseValue } | { ok: false; error: FsErrorData; redirect: boolean };

/** The result the ministry's state machine gave for an applied lease entry. */
export type LeaseApplyResult = { ok: true; value: unknown } | { ok: false; error: FsErrorData };

/** A range to fence and revoke reads on, until the write grant at `index` applies. */
export interface RevokeRange {
  index: number;
  path: string;
  start: number;
  end: number;
  exceptClient: string;
}

/** What the core asks the shell to do, in order. `R` is a reply target, `A` the answer target of
 * a minister's RevokeReads; the core never looks inside either. */
export type LeaseEffect<R, A> =
  | { kind: 'reply'; to: R; reply: LeaseReply }
  /** Check (on a clerk after confirming with the minister: ReadIndex) that the path is this
   * ministry's and the file exists, then call admitted(). */
  | { kind: 'admit'; to: R; from: Requester; op: OpenOp; confirm: boolean }
  /** Propose `entry`; report with proposed(pid) and, once it applied here, applied(pid). */
  | { kind: 'propose'; pid: number; entry: LeaseEntry }
  /** Ask every peer to fence and revoke (RevokeReads); report with peersRevoked(seq). */
  | { kind: 'revoke'; seq: number; peers: string[]; range: RevokeRange }
  /** This member's conflicting reads for writer `seq` are gone: the shell joins this with the
   * peers' answers, so peersRevoked(seq) comes once every member, this one too, is done. */
  | { kind: 'ownRevoked'; seq: number }
  /** Answer a minister's RevokeReads (ReadsRevoked). */
  | { kind: 'revoked'; to: A; count: number }
  /** Tell a holder its read lease is revoked (LeaseRevoked). */
  | { kind: 'notify'; to: string; clientId: string; leaseId: string; reason: string; grantedBy: string; mode: 'read'; path: string }
  /** Call woke() at `at`, replacing any earlier wake. */
  | { kind: 'wake'; at: number }
  /** Call peersRevoked(seq, false) after `afterMs` (an unreachable member's reads ran out). */
  | { kind: 'recheck'; seq: number; afterMs: number };

/** A queued open (a read on any member, a write on the minister). */
export interface Waiter<R> {
  seq: number;
  clientId: string;
  notify: string;
  path: string;
  start: number;
  end: number;
  deadline: number;
  reply: R;
  state: 'waiting' | 'revoking';
  /** Local time the request arrived (the holder learns how long it was held). */
  arrivedAt: number;
  /** The client's id for this open, the same on every retry of it. */
  reqId: string;
  /** Write: the logged grant, told to the client once conflicting reads are gone. */
  grant?: LeaseGrant;
  grantedAt?: number;
  /** Write: this member's, and the other members', conflicting reads are gone. */
  ownGone?: boolean;
  peersGone?: boolean;
  /** Write: every member has fenced the range and its conflicting reads are gone. */
  readsGone?: boolean;
  /** Write: a renewal of the grant, proposed while the reads go, has not applied yet. */
  renewing?: boolean;
}

type Ranged = { clientId: string; path: string; start: number; end: number };

/** Two holders conflict: different clients, the same file, overlapping ranges. */
export const conflictsWith = (a: Ranged, b: Ranged): boolean => a.clientId !== b.clientId && a.path === b.path && rangesOverlap(a, b);

/** The input being handled (its time and the member's facts) and the effects it produced so
 * far; and the one wake the shell has been asked for. */
export class Effects<R, A> {
  now = 0;
  private current: LeaseFacts | null = null;
  private list: LeaseEffect<R, A>[] = [];
  private busy = false;
  /** The wake asked for (Infinity: none). */
  wakeAt = Infinity;

  get facts(): LeaseFacts {
    return this.current!;
  }

  /** Run one input: `body` pushes its effects, which are returned. */
  run(now: number, f: LeaseFacts | null, body: () => void): LeaseEffect<R, A>[] {
    // The shell carries out effects only after an input returned: an input inside another
    // would lose the outer one's effects.
    if (this.busy) throw new Error('lease core: an input arrived while another was handled');
    this.busy = true;
    this.now = now;
    this.current = f;
    this.list = [];
    try {
      body();
    } finally {
      this.busy = false;
    }
    const out = this.list;
    this.list = [];
    this.current = null;
    return out;
  }

  push(e: LeaseEffect<R, A>): void {
    this.list.push(e);
  }

  fail(to: R, code: FsErrorCode, message: string, path: string, redirect = false): void {
    this.list.push({ kind: 'reply', to, reply: { ok: false, error: { code, message, path }, redirect } });
  }

  answer(to: R, error: FsErrorData): void {
    this.list.push({ kind: 'reply', to, reply: { ok: false, error, redirect: false } });
  }

  ok(to: R, value: LeaseValue): void {
    this.list.push({ kind: 'reply', to, reply: { ok: true, value } });
  }

  /** Be woken at `at`, unless an earlier wake is due. */
  wake(at: number): void {
    if (at === Infinity || at >= this.wakeAt) return;
    this.wakeAt = at;
    this.list.push({ kind: 'wake', at });
  }

  /** Only the holder renews or releases a lease (lease ids are guessable; client ids are bound
   * to their connections). Refuses and returns true if `lease` is someone else's. */
  notHolder(to: R, lease: { clientId: string } | undefined, from: Requester, id: string): boolean {
    if (!lease || lease.clientId === from.clientId) return false;
    this.fail(to, 'EPERM', `lease ${id} is held by another client, not ${from.clientId}`, from.path);
    return true;
  }
}
