// The pure lease core of a ministry member (capabilities as leases, thesis 3.1 and 3.3; the
// tables and the time rules are in leases.ts, the read side in lease-reads.ts, the types in
// lease-types.ts). A synchronous state machine, like RaftCore: each input takes the time and what
// the member knows of itself (LeaseFacts) and returns effects for the shell (lease-service.ts)
// to carry out. It never touches a context, storage, timers or randomness; reply targets are
// opaque values (`R`, `A`) it only hands back.
//
// Every member grants read leases; the minister also queues and grants write leases:
//
//   waiting ──(no live conflicting write, no earlier conflicting waiter, grace over)──►
//   grant proposed, and at once every member fences the range (refuses conflicting reads
//   until it has applied the grant's index, after which the grant itself refuses them) and
//   revokes the conflicting reads it granted (holders told; answered once released or
//   expired; an unreachable member is waited out) ──► grant committed and reads gone ──►
//   the client gets the lease. Fencing at proposal time, not after the grant applied,
//   overlaps the revocation round with replication: an uncontended grant costs one commit.
//
// A write that waits behind another client's write lease waits (writers lock, they do not
// preempt), but the holder's renewals are refused, so the range frees within one lease period
// at most. Nothing polls: waiters are woken by applied log entries, releases, and wake effects
// for the exact moment a conflicting lease stops being valid or a deadline passes.
//
// Inputs and the effects they answer with:
//   request(op)            reply | admit (check the file, after a ReadIndex on a clerk) | propose
//   admitted(check)        the shell's verdict on an admitted open
//   proposed(pid, index)   the shell proposed a `propose` effect (or could not)
//   applied(pid, result)   that entry applied here (or was lost to another term)
//   peersRevoked(seq)      every other member answered a `revoke` effect (or one did not)
//   fenceAndRevoke         the minister asks this member to fence a range and revoke reads
//   started / woke / entriesApplied / tick / restaffed / clientGone / stop
//
// A proposal's continuations (what to do once it has an index, has applied, or was lost) are
// kept here as closures over the core's own state, keyed by the `pid` the shell reports back.

import type { FsErrorData } from '../fs/errors.js';
import type { LeaseEntry, LeaseGrant, LeaseSettings, WriteLeaseState } from './leases.js';
import { ReadLeases } from './lease-reads.js';
import {
  conflictsWith,
  Effects,
  type LeaseApplyResult,
  type LeaseCoreConfig,
  type LeaseEffect,
  type LeaseFacts,
  type LeaseOp,
  type OpenOp,
  type Requester,
  type RevokeRange,
  type Waiter,
} from './lease-types.js';

export type * from './lease-types.js';

interface Proposal<R> {
  reply: R | null;
  then: (r: LeaseApplyResult) => void;
  /** Proposed at this index. */
  onIndex?: (index: number) => void;
  /** Could not be proposed. */
  refused?: () => void;
  /** Will never apply (another term took its index, or this member stopped leading). */
  lost?: () => void;
}

export class LeaseCore<R, A = R> {
  private readonly fx = new Effects<R, A>();
  private readonly reads: ReadLeases<R, A>;
  private writers: Waiter<R>[] = [];
  private seq = 0;
  private leading = false;
  /** No write is granted before this (local ms): read leases this minister cannot ask about
   * (of members removed or cut off before it took office) run out first. */
  private graceUntil = Infinity;
  /** Write leases whose renewals are refused because a writer waits for their range. */
  private readonly revokedWrites = new Set<string>();
  private readonly releasing = new Set<string>();
  /** Write leases whose holder's release is proposed and not yet applied. */
  private readonly releaseProposed = new Set<string>();
  /** Grants by (client, request id), so a retried open gets the lease it was already given. */
  private readonly grantedFor = new Map<string, LeaseGrant>();
  private readonly proposals = new Map<number, Proposal<R>>();
  private pid = 0;

  constructor(private readonly cfg: LeaseCoreConfig) {
    this.reads = new ReadLeases(cfg, this.fx, { remember: (w, grant) => this.remember(w, grant), ownReadsGone: (seq) => this.ownReadsGone(seq) });
  }

  /** No writer waits, no proposal or release is under way: ticks find nothing to do here
   * but notice a change of leader (the shell watches that itself). */
  get quiet(): boolean {
    return this.writers.length === 0 && this.proposals.size === 0 && this.releasing.size === 0 && this.revokedWrites.size === 0;
  }

  private get s(): LeaseSettings {
    return this.cfg.settings;
  }

  // ---- requests -----------------------------------------------------------------------------

  request(now: number, f: LeaseFacts, from: Requester, op: LeaseOp, to: R): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      if (op.op === 'lease-open') this.open(from, op, to);
      else if (op.op === 'lease-renew') {
        if (op.mode === 'read') this.reads.renew(from, op.id, to);
        else this.renewWrite(from, op.id, to);
      } else if (op.mode === 'read') this.reads.release(from, op.id, to);
      else this.releaseWrite(from, op.id, to);
    });
  }

  private static range(op: OpenOp): { start: number; end: number } {
    return { start: op.start ?? 0, end: op.end === null || op.end === undefined ? Infinity : op.end };
  }

  private open(from: Requester, op: OpenOp, to: R): void {
    const { start, end } = LeaseCore.range(op);
    if (!(Number.isSafeInteger(start) && start >= 0 && (end === Infinity || (Number.isSafeInteger(end) && end > start)))) {
      this.fx.fail(to, 'EINVAL', `open ${op.path}: bad range [${start}, ${op.end ?? 'end'}) (want 0 <= start < end)`, op.path);
      return;
    }
    if (op.mode === 'write' && !this.fx.facts.leading) {
      this.fx.fail(to, 'EAGAIN', `not the minister of ${this.fx.facts.subtree}: retry`, op.path, true);
      return;
    }
    if (op.mode === 'read' && !this.reads.canGrant()) {
      this.fx.fail(to, 'EAGAIN', `member of ${this.fx.facts.subtree} is not caught up: try another`, op.path, true);
      return;
    }
    // The file must exist as of the request (linearizably: a clerk first confirms with the
    // minister that it has applied everything committed before).
    this.fx.push({ kind: 'admit', to, from, op, confirm: this.cfg.role !== 'minister' });
  }

  /** The shell checked an admitted open: 'unconfirmed' (the ReadIndex failed), the file's
   * problem, or null (go ahead). */
  admitted(now: number, f: LeaseFacts, to: R, from: Requester, op: OpenOp, check: FsErrorData | null | 'unconfirmed'): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      if (check === 'unconfirmed') this.fx.fail(to, 'EAGAIN', 'could not confirm with the minister: retry', op.path, true);
      else if (check) this.fx.answer(to, check);
      else this.openChecked(from, op, to);
    });
  }

  private renewWrite(from: Requester, id: string, to: R): void {
    if (!this.fx.facts.leading) {
      this.fx.fail(to, 'EAGAIN', 'not the minister: retry', from.path, true);
      return;
    }
    const writes = this.fx.facts.writes;
    const l = writes.leases.get(id);
    if (this.fx.notHolder(to, l, from, id)) return;
    if (!l || this.revokedWrites.has(id) || writes.validUntil(l, this.s.maxDriftMs) <= this.fx.now) {
      this.fx.fail(to, 'ESTALE', `lease ${id} is no longer valid (expired, released or revoked for a waiting writer): open the file again`, from.path);
      return;
    }
    this.propose({ op: 'lease.renew', id, ttlMs: this.s.ttlMs }, to, (r) => (r.ok ? this.fx.ok(to, { ttlMs: this.s.ttlMs }) : this.fx.answer(to, r.error)));
  }

  private releaseWrite(from: Requester, id: string, to: R): void {
    if (!this.fx.facts.leading) {
      this.fx.fail(to, 'EAGAIN', 'not the minister: retry', from.path, true);
      return;
    }
    if (this.fx.notHolder(to, this.fx.facts.writes.leases.get(id), from, id)) return;
    // The holder gave the range up: a waiter's grant may be proposed right behind the
    // release, to commit with it, rather than after it (one commit per hand-off, not
    // two). Safe because the grant is later in the same term's log: it cannot commit
    // unless the release does, and every member applies the release first.
    this.releaseProposed.add(id);
    this.propose({ op: 'lease.release', id }, to, () => {
      this.releaseProposed.delete(id);
      this.fx.ok(to, {});
    }, {
      lost: () => this.releaseProposed.delete(id),
      refused: () => this.releaseProposed.delete(id),
      onIndex: () => {
        if (this.writers.length > 0) this.pumpWriters();
      },
    });
  }

  private openChecked(from: Requester, op: OpenOp, to: R): void {
    const { start, end } = LeaseCore.range(op);
    const w: Waiter<R> = {
      seq: ++this.seq,
      clientId: from.clientId,
      notify: from.notify,
      path: op.path,
      start,
      end,
      deadline: op.deadlineMs === undefined || op.deadlineMs <= 0 ? Infinity : this.fx.now + op.deadlineMs,
      reply: to,
      state: 'waiting',
      arrivedAt: this.fx.now,
      reqId: op.reqId ?? '',
    };
    if (w.reqId && this.retried(w)) return;
    if (op.mode === 'write') this.openWrite(w, op.wait ?? true);
    else this.reads.open(w, op.wait ?? true);
  }

  /** A retry of an open this member already has: answer it where the first attempt would
   * have been answered (an abandoned first attempt must not queue, or hold, a second lease). */
  private retried(w: Waiter<R>): boolean {
    const key = `${w.clientId}\u0000${w.reqId}`;
    const granted = this.grantedFor.get(key);
    if (granted) {
      // Hand it over again, renewed first: the retry counts its lease from its own send time,
      // so the grantor's period must start after the retry arrived.
      if (granted.mode === 'read') {
        if (this.reads.regrant(granted, w.reply)) return true;
      } else if (this.fx.facts.leading && this.fx.facts.writes.leases.has(granted.id)) {
        this.propose({ op: 'lease.renew', id: granted.id, ttlMs: this.s.ttlMs }, w.reply, (r) =>
          r.ok ? this.fx.ok(w.reply, { ...granted, heldMs: Math.max(0, this.fx.now - w.arrivedAt) }) : this.fx.answer(w.reply, r.error),
        );
        return true;
      }
      this.grantedFor.delete(key);
      return false;
    }
    const pending = this.writers.find((x) => x.clientId === w.clientId && x.reqId === w.reqId) ?? this.reads.readers.find((x) => x.clientId === w.clientId && x.reqId === w.reqId);
    if (!pending) return false;
    // Answer the retry instead, and count the held time from its arrival: the client counts
    // its lease from the retry's send time.
    pending.reply = w.reply;
    pending.arrivedAt = w.arrivedAt;
    return true;
  }

  /** Remember what an open was answered with, for its retries (a bounded map). */
  private remember(w: Waiter<R>, grant: LeaseGrant): void {
    if (!w.reqId) return;
    this.grantedFor.set(`${w.clientId}\u0000${w.reqId}`, grant);
    if (this.grantedFor.size > 4096) this.grantedFor.delete(this.grantedFor.keys().next().value!);
  }

  // ---- log proposals ------------------------------------------------------------------------

  /** Propose a lease entry: `then` runs once it applied. With a `reply`, a refusal or a loss is
   * answered there (EAGAIN, to the new minister). */
  private propose(entry: LeaseEntry, reply: R | null, then: (r: LeaseApplyResult) => void, more: Omit<Proposal<R>, 'reply' | 'then'> = {}): void {
    const pid = ++this.pid;
    this.proposals.set(pid, { reply, then, ...more });
    this.fx.push({ kind: 'propose', pid, entry });
  }

  /** The shell proposed entry `pid` at `index`, or could not (`reason`). */
  proposed(now: number, f: LeaseFacts, pid: number, result: { ok: true; index: number } | { ok: false; reason: string }): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      const p = this.proposals.get(pid);
      if (!p) return;
      if (result.ok) {
        p.onIndex?.(result.index);
        return;
      }
      this.proposals.delete(pid);
      if (p.reply !== null) this.fx.fail(p.reply, 'EAGAIN', `minister cannot take lease changes now (${result.reason}): retry`, '', true);
      p.refused?.();
    });
  }

  /** Entry `pid` applied here with `result`, or (null) never will. */
  applied(now: number, f: LeaseFacts, pid: number, result: LeaseApplyResult | null): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      const p = this.proposals.get(pid);
      if (!p) return;
      this.proposals.delete(pid);
      if (result) {
        p.then(result);
        return;
      }
      p.lost?.();
      if (p.reply !== null) this.fx.fail(p.reply, 'EAGAIN', `lease change lost to a new minister: retry`, '', true);
    });
  }

  // ---- writes (minister) ------------------------------------------------------------------

  private openWrite(w: Waiter<R>, wait: boolean): void {
    if (!this.fx.facts.leading) {
      this.fx.fail(w.reply, 'EAGAIN', `not the minister of ${this.fx.facts.subtree}: retry`, w.path, true);
      return;
    }
    const now = this.fx.now;
    if (!wait) {
      const busy =
        now < this.graceUntil ||
        this.fx.facts.writes.conflictingWrites(w.clientId, w.path, w.start, w.end, now, this.s.maxDriftMs).length > 0 ||
        this.writers.some((x) => conflictsWith(x, w));
      if (busy) {
        this.fx.fail(w.reply, 'EBUSY', `open ${w.path}: the range is held or awaited by another client${now < this.graceUntil ? ' (a new minister waits out old leases first)' : ''}; retry later or wait`, w.path);
        return;
      }
    }
    this.writers.push(w);
    this.pumpWriters();
  }

  private pumpWriters(): void {
    if (!this.fx.facts.leading) return;
    const now = this.fx.now;
    const state = this.fx.facts.writes;
    let next = Infinity;
    const overdue = (w: Waiter<R>): boolean => w.state === 'waiting' && now >= w.deadline;
    if (this.writers.some(overdue)) {
      for (const w of this.writers.filter(overdue)) this.fx.fail(w.reply, 'ETIMEDOUT', `open ${w.path}: the range did not free before the deadline`, w.path);
      this.writers = this.writers.filter((w) => !overdue(w));
    }
    for (let i = 0; i < this.writers.length; i++) {
      const w = this.writers[i]!;
      if (w.state !== 'waiting') continue;
      next = Math.min(next, w.deadline);
      if (now < this.graceUntil) {
        next = Math.min(next, this.graceUntil);
        continue;
      }
      if (this.queuedBehind(i)) continue;
      const live = state.conflictingWrites(w.clientId, w.path, w.start, w.end, now, this.s.maxDriftMs).filter((l) => !this.releaseProposed.has(l.id));
      if (live.length > 0) {
        // Writers wait for writers (a lock, not a preemption), but the holders' renewals are
        // refused from now on: the range frees within one lease period at most, sooner when
        // the holder releases.
        for (const l of live) {
          next = Math.min(next, state.validUntil(l, this.s.maxDriftMs));
          this.revokedWrites.add(l.id);
        }
        continue;
      }
      this.startWrite(w);
    }
    this.expireWrites();
    for (const id of this.revokedWrites) if (!state.leases.has(id)) this.revokedWrites.delete(id);
    // A revoked write that has already run out is being released (expireWrites; tick retries):
    // its release applying wakes this. Waking for it meanwhile would spin every microsecond
    // while the release cannot commit (a wake storm of a million steps a second in the lease
    // simulation, seeds 4 and 6).
    for (const l of state.leases.values()) {
      const until = state.validUntil(l, this.s.maxDriftMs);
      if (this.revokedWrites.has(l.id) && until > now) next = Math.min(next, until);
    }
    this.fx.wake(next);
  }

  /** An earlier waiter conflicts with waiter `i`: writes are granted in arrival order. (An index
   * loop, not a copy of the queue per waiter: with hundreds of waiters on one file that was
   * O(n²) garbage on every pump.) */
  private queuedBehind(i: number): boolean {
    const w = this.writers[i]!;
    for (let j = 0; j < i; j++) if (conflictsWith(this.writers[j]!, w)) return true;
    return false;
  }

  /** Old write leases nobody renewed are released in the log, so every member forgets them. */
  private expireWrites(): void {
    const state = this.fx.facts.writes;
    for (const l of state.leases.values()) {
      if (state.validUntil(l, this.s.maxDriftMs) > this.fx.now || this.releasing.has(l.id)) continue;
      this.releasing.add(l.id);
      this.propose({ op: 'lease.release', id: l.id }, null, () => this.releasing.delete(l.id));
    }
  }

  /** Propose the grant and, at once, have every member (this one too) fence the range and
   * revoke its conflicting reads; the client gets the lease once both the grant has applied
   * and the reads are gone. One log entry for an uncontended lease. */
  private startWrite(w: Waiter<R>): void {
    w.state = 'revoking';
    const id = `${this.cfg.node}-w${w.seq}-${this.fx.facts.term}`;
    const end = w.end === Infinity ? null : w.end;
    const granted = (r: LeaseApplyResult): void => {
      if (!r.ok) {
        this.writers = this.writers.filter((x) => x !== w);
        this.fx.answer(w.reply, r.error);
        return;
      }
      w.grant = { id, path: w.path, mode: 'write', start: w.start, end, token: (r.value as { token: number }).token, ttlMs: this.s.ttlMs, grantedBy: this.cfg.node, heldMs: 0, driftRate: this.s.maxDriftMs / this.s.ttlMs };
      w.grantedAt = this.fx.now;
      if (w.readsGone && this.writers.includes(w)) this.finishWrite(w);
    };
    this.propose({ op: 'lease.grant', id, clientId: w.clientId, path: w.path, start: w.start, end, ttlMs: this.s.ttlMs, notify: w.notify }, null, granted, {
      refused: () => {
        this.writers = this.writers.filter((x) => x !== w);
        this.fx.fail(w.reply, 'EAGAIN', 'minister cannot take lease changes now: retry', w.path, true);
      },
      onIndex: (index) => {
        // A member answers once it has fenced the range and its conflicting reads are gone:
        // from then until the grant applies there, the fence refuses conflicting reads.
        const range: RevokeRange = { index, path: w.path, start: w.start, end: w.end, exceptClient: w.clientId };
        this.fx.push({ kind: 'revoke', seq: w.seq, peers: [...this.fx.facts.peers], range });
        this.reads.fence(range, { writer: w.seq });
      },
    });
  }

  /** Every other member answered the revocation of writer `seq` (or, `unreachable`, one did
   * not: its read leases run out within a lease period after it stops being caught up). */
  peersRevoked(now: number, f: LeaseFacts, seq: number, unreachable: boolean): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      const w = this.writers.find((x) => x.seq === seq);
      if (!w || w.state !== 'revoking') return;
      if (unreachable) {
        this.fx.push({ kind: 'recheck', seq, afterMs: this.s.ttlMs + this.s.maxDriftMs + this.cfg.catchUpWindowMs });
        return;
      }
      w.peersGone = true;
      this.maybeReadsGone(w);
    });
  }

  /** This member's conflicting reads for writer `seq` are gone. */
  private ownReadsGone(seq: number): void {
    const w = this.writers.find((x) => x.seq === seq);
    if (!w) return;
    w.ownGone = true;
    if (w.state === 'revoking') this.maybeReadsGone(w);
  }

  private maybeReadsGone(w: Waiter<R>): void {
    if (!w.ownGone || !w.peersGone || w.readsGone) return;
    w.readsGone = true;
    if (w.grant) this.finishWrite(w);
  }

  /** Reads are gone: hand the lease over (renewed first if revoking took a while, so the
   * holder gets a whole period from its grantor's point of view as well as its own). */
  private finishWrite(w: Waiter<R>): void {
    const grant = w.grant!;
    const done = (): void => {
      this.writers = this.writers.filter((x) => x !== w);
      // Held until the grant (or its renewal) committed: the holder's lease counts from then.
      grant.heldMs = Math.max(0, (w.grantedAt ?? w.arrivedAt) - w.arrivedAt);
      this.remember(w, grant);
      this.fx.ok(w.reply, grant);
      this.pumpWriters();
    };
    // (Also when a retry of the request arrived after the grant: its holder counts from then.)
    if (this.fx.now - (w.grantedAt ?? 0) < this.s.ttlMs / 3 && w.arrivedAt <= (w.grantedAt ?? 0)) {
      done();
      return;
    }
    const renewed = (r: LeaseApplyResult): void => {
      w.grantedAt = this.fx.now;
      if (r.ok) done();
      else {
        this.writers = this.writers.filter((x) => x !== w);
        this.fx.answer(w.reply, r.error);
      }
    };
    this.propose({ op: 'lease.renew', id: grant.id, ttlMs: this.s.ttlMs }, null, renewed, {
      refused: () => {
        this.writers = this.writers.filter((x) => x !== w);
        this.fx.fail(w.reply, 'EAGAIN', 'minister cannot take lease changes now: retry', w.path, true);
      },
    });
  }

  // ---- revocation (every member) ----------------------------------------------------------

  /** The minister asks: fence `range` until its grant applies here and revoke the reads this
   * member granted on it; `answer` hears once none of them can be valid any more. */
  fenceAndRevoke(now: number, f: LeaseFacts, range: RevokeRange, answer: A): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => this.reads.fence(range, { answer }));
  }

  // ---- time and membership ------------------------------------------------------------------

  /** This member's role started (anew after a crash, say): read leases it granted before are
   * forgotten, and waited out (lease-reads.ts). */
  started(now: number, f: LeaseFacts): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => this.reads.started());
  }

  /** The wake asked for came due. */
  woke(now: number, f: LeaseFacts): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      this.fx.wakeAt = Infinity;
      this.reads.checkRevokes();
      this.reads.pump();
      this.pumpWriters();
    });
  }

  /** After applied entries: grants and releases may unblock someone. */
  entriesApplied(now: number, f: LeaseFacts): LeaseEffect<R, A>[] {
    // Every applied batch comes here (a create's too): nothing waits and nothing is fenced in
    // the common case, which then costs no input.
    if (this.writers.length === 0 && this.reads.idle()) return [];
    return this.fx.run(now, f, () => this.afterApply());
  }

  private afterApply(): void {
    this.reads.afterApply();
    if (this.writers.length > 0) this.pumpWriters();
  }

  /** Every tick: notice leadership changes (and start the grace period). */
  tick(now: number, f: LeaseFacts): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      const leading = f.leading;
      if (leading && !this.leading) this.startGrace();
      if (!leading && this.leading) {
        for (const w of this.writers) this.fx.fail(w.reply, 'EAGAIN', 'the minister changed: retry', w.path, true);
        this.writers = [];
        this.graceUntil = Infinity;
      }
      this.leading = leading;
      if (leading) {
        this.renewPendingGrants();
        this.expireWrites();
      }
    });
  }

  /** A grant waiting for conflicting reads to go is renewed every third of a lease period.
   * Members refuse conflicting reads because of the grant only while it is valid there, and
   * revoking reads can take a whole read lease period (a holder that does not answer): a
   * grant left to expire meanwhile would let a member hand out a read that the write, renewed
   * only when handed over, then overlaps. (Lease simulation, seed 69 of 100.) */
  private renewPendingGrants(): void {
    for (const w of this.writers) {
      if (w.state !== 'revoking' || !w.grant || w.renewing || this.fx.now - (w.grantedAt ?? this.fx.now) < this.s.ttlMs / 3) continue;
      w.renewing = true;
      this.propose({ op: 'lease.renew', id: w.grant.id, ttlMs: this.s.ttlMs }, null, (r) => {
        w.renewing = false;
        if (r.ok) w.grantedAt = this.fx.now;
      });
    }
  }

  /** The ministry was re-staffed: members' read leases may include some this minister
   * cannot ask about any more. */
  restaffed(now: number, f: LeaseFacts): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      if (f.leading) this.startGrace();
    });
  }

  private startGrace(): void {
    // A brand-new ministry (nothing in its log but this minister's first entry) has never
    // handed out a lease: nothing to wait out.
    if (this.fx.facts.lastIndex <= 1) {
      this.graceUntil = this.fx.now;
      return;
    }
    this.graceUntil = this.fx.now + this.s.ttlMs + this.s.maxDriftMs + this.cfg.catchUpWindowMs;
    this.fx.wake(this.graceUntil);
  }

  /** The client's session here ended: drop its read leases and queued requests. */
  clientGone(now: number, f: LeaseFacts, clientId: string): LeaseEffect<R, A>[] {
    return this.fx.run(now, f, () => {
      const mine = (w: Waiter<R>) => w.clientId === clientId && w.state === 'waiting';
      for (const w of this.writers) if (mine(w)) this.fx.fail(w.reply, 'ECANCELED', 'session ended', w.path);
      this.writers = this.writers.filter((w) => !mine(w));
      this.reads.clientGone(clientId);
      this.reads.checkRevokes();
      this.afterApply();
    });
  }

  /** This member stops serving: every queued request is answered EAGAIN. Revocations still
   * pending stay unanswered: this member's read leases may still be valid at their holders, so
   * the minister must treat it as unreachable and wait them out. */
  stop(): LeaseEffect<R, A>[] {
    return this.fx.run(this.fx.now, null, () => {
      for (const w of this.writers) this.fx.fail(w.reply, 'EAGAIN', 'this member stopped serving: retry', w.path, true);
      this.writers = [];
      this.reads.stop();
      this.fx.wakeAt = Infinity;
    });
  }

  /** For tests: live lease counts. */
  /** See ReadLeases.believedUntil. */
  readsBelievedUntil(subtree: string, now: number): number {
    return this.reads.believedUntil(subtree, now);
  }

  counts(now: number, writes: WriteLeaseState): { reads: number; writes: number; waitingWriters: number } {
    return { reads: this.reads.live(now), writes: writes.leases.size, waitingWriters: this.writers.length };
  }
}
