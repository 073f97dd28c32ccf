// The read side of the pure lease core, on every member (minister and clerks): read leases are
// granted from local state, never logged, only while this member is caught up and no write
// lease on the range can be valid; and the reads conflicting with a write are revoked here
// (holders told; done once each is released or has run out) while the write's range is fenced.
// Part of LeaseCore (lease-core.ts), which drives it within its inputs.

import { isWithin } from '../fs/path.js';
import { rangesOverlap } from '../fs/ranges.js';
import { ReadLeaseTable, type LeaseGrant, type LeaseSettings } from './leases.js';
import { MIGRATION_RETRY_AFTER_MS } from './migration-core.js';
import { conflictsWith, type Effects, type LeaseCoreConfig, type Requester, type RevokeRange, type Waiter } from './lease-types.js';

/** Reads being revoked; when none is left, a local writer (by seq) or the minister hears. */
export type RevokeDone<A> = { writer: number } | { answer: A };

interface PendingRevoke<A> {
  ids: Set<string>;
  done: RevokeDone<A>;
  count: number;
  /** Not done before this (local ms): reads of this member's earlier life may be believed. */
  notBefore: number;
}

/** What the read side asks of the rest of the core. */
export interface ReadHooks<R> {
  /** Remember a grant for retries of the same open. */
  remember(w: Waiter<R>, grant: LeaseGrant): void;
  /** The conflicting reads granted here for writer `seq` are gone. */
  ownReadsGone(seq: number): void;
}

export class ReadLeases<R, A> {
  readonly table: ReadLeaseTable;
  /** Reads waiting for a conflicting write to end. */
  readers: Waiter<R>[] = [];
  private revokes: PendingRevoke<A>[] = [];
  /** Ranges of proposed write grants this member has not applied yet. */
  private fences: RevokeRange[] = [];
  /** Until when (local ms) read leases this member granted before it restarted may still be
   * believed: they were in memory only, so it cannot revoke them, only wait them out. */
  private forgottenUntil = -Infinity;

  constructor(
    private readonly cfg: LeaseCoreConfig,
    private readonly fx: Effects<R, A>,
    private readonly hooks: ReadHooks<R>,
  ) {
    this.table = new ReadLeaseTable(cfg.node);
  }

  private get s(): LeaseSettings {
    return this.cfg.settings;
  }

  /** This member (re)started: if it may have granted reads in an earlier life (its group log
   * held more than the appointment), they are believed for at most a lease period and the
   * drift bound from now (they were granted before). */
  started(): void {
    if (this.fx.facts.lastIndex > 1) this.forgottenUntil = this.fx.now + this.s.ttlMs + this.s.maxDriftMs;
  }

  canGrant(): boolean {
    return this.cfg.role === 'minister' ? this.fx.facts.leading : this.fx.facts.caughtUp;
  }

  renew(from: Requester, id: string, to: R): void {
    const l = this.table.leases.get(id);
    if (this.fx.notHolder(to, l, from, id)) return;
    if (!l || l.revoking || l.validUntil <= this.fx.now) {
      this.fx.fail(to, 'ESTALE', `lease ${id} is no longer valid${l?.revoking ? ' (revoked for a conflicting write)' : ''}: open the file again`, from.path);
      return;
    }
    // A fenced subtree's handover waits for its reads to run out: none is extended.
    if (this.fx.facts.moving?.(l.path) === true) {
      this.fx.fail(to, 'ESTALE', `lease ${id} is not renewed: ${l.path} is moving to another ministry; open the file again`, from.path);
      return;
    }
    l.validUntil = this.fx.now + this.s.ttlMs + this.s.maxDriftMs;
    this.fx.ok(to, { ttlMs: this.s.ttlMs });
  }

  release(from: Requester, id: string, to: R): void {
    if (this.fx.notHolder(to, this.table.leases.get(id), from, id)) return;
    this.table.leases.delete(id);
    this.checkRevokes();
    this.fx.ok(to, {});
  }

  /** A retry of an open already granted as `granted`: hand it over again, renewed (the retry
   * counts its lease from its own send time). False if it is gone or being revoked. */
  regrant(granted: LeaseGrant, to: R): boolean {
    const l = this.table.leases.get(granted.id);
    if (!l || l.revoking) return false;
    l.validUntil = this.fx.now + this.s.ttlMs + this.s.maxDriftMs;
    this.fx.ok(to, { ...granted, heldMs: 0 });
    return true;
  }

  private blocked(w: Waiter<R>): number | null {
    // A fenced range frees when the grant applies (afterApply runs then), not at a time.
    if (this.fences.some((f) => f.exceptClient !== w.clientId && f.path === w.path && rangesOverlap(f, w))) return Infinity;
    const state = this.fx.facts.writes;
    const writes = state.conflictingWrites(w.clientId, w.path, w.start, w.end, this.fx.now, this.s.maxDriftMs);
    if (writes.length === 0) return null;
    // Wake when the earliest conflicting write stops being valid (releases wake us on apply).
    return Math.min(...writes.map((l) => state.validUntil(l, this.s.maxDriftMs)));
  }

  open(w: Waiter<R>, wait: boolean): void {
    if (!this.canGrant()) {
      this.fx.fail(w.reply, 'EAGAIN', `member of ${this.fx.facts.subtree} is not caught up: try another`, w.path, true);
      return;
    }
    // (The shell's ownership check refuses these already; the rule is kept here too.)
    if (this.refusedMoving(w)) return;
    if (this.blocked(w) !== null || this.readers.some((x) => conflictsWith(x, w))) {
      if (!wait) {
        this.fx.fail(w.reply, 'EBUSY', `open ${w.path}: a write lease holds or awaits the range; retry later or wait`, w.path);
        return;
      }
      this.readers.push(w);
      this.pump();
      return;
    }
    this.grant(w);
  }

  /** A read that waited (behind a write) in a subtree fenced for a migration since it was
   * admitted is refused: the handover waits a lease period from the fence, so every read
   * there must have been granted before it. The client retries, and is redirected once the
   * subtree has moved. */
  private refusedMoving(w: Waiter<R>): boolean {
    if (this.fx.facts.moving?.(w.path) !== true) return false;
    this.fx.answer(w.reply, { code: 'EAGAIN', message: `open ${w.path}: it is moving to another ministry: retry`, path: w.path, retryAfterMs: MIGRATION_RETRY_AFTER_MS });
    return true;
  }

  private grant(w: Waiter<R>): void {
    const now = this.fx.now;
    const lease = this.table.grant({ clientId: w.clientId, notify: w.notify, path: w.path, start: w.start, end: w.end, token: this.fx.facts.writes.token, validUntil: now + this.s.ttlMs + this.s.maxDriftMs });
    const grant: LeaseGrant = { id: lease.id, path: w.path, mode: 'read', start: w.start, end: w.end === Infinity ? null : w.end, token: lease.token, ttlMs: this.s.ttlMs, grantedBy: this.cfg.node, heldMs: Math.max(0, now - w.arrivedAt), driftRate: this.s.maxDriftMs / this.s.ttlMs };
    this.hooks.remember(w, grant);
    this.fx.ok(w.reply, grant);
  }

  pump(): void {
    let next = Infinity;
    const still: Waiter<R>[] = [];
    for (const w of this.readers) {
      if (this.fx.now >= w.deadline) {
        this.fx.fail(w.reply, 'ETIMEDOUT', `open ${w.path}: the range did not free before the deadline`, w.path);
        continue;
      }
      if (!this.canGrant()) {
        still.push(w);
        continue;
      }
      if (this.refusedMoving(w)) continue;
      const blocked = this.blocked(w);
      if (blocked !== null || still.some((x) => conflictsWith(x, w))) {
        next = Math.min(next, blocked ?? Infinity, w.deadline);
        still.push(w);
        continue;
      }
      this.grant(w);
    }
    this.readers = still;
    this.fx.wake(next);
  }

  /** A write's grant was proposed at `range.index`: refuse conflicting reads until this member
   * has applied it (from then the grant refuses them, if it committed), and revoke the
   * conflicting reads granted so far. */
  fence(range: RevokeRange, done: RevokeDone<A>): void {
    if (this.fx.facts.applied < range.index) this.fences.push(range);
    this.revoke(range, done);
  }

  /** Revoke the read leases this member granted on the range (except the writer's own); `done`
   * hears once none of them can be valid any more. */
  private revoke(range: RevokeRange, done: RevokeDone<A>): void {
    const conflicting = this.table.conflicting(range.exceptClient, range.path, range.start, range.end, this.fx.now);
    for (const l of conflicting) {
      if (l.revoking) continue;
      l.revoking = true;
      if (l.notify) this.fx.push({ kind: 'notify', to: l.notify, clientId: l.clientId, leaseId: l.id, reason: 'a conflicting write was requested', grantedBy: this.cfg.node, mode: 'read', path: l.path });
    }
    // (Reads of an earlier life of this member are unknown here: waited out, as if listed.)
    const notBefore = this.forgottenUntil > this.fx.now ? this.forgottenUntil : -Infinity;
    if (conflicting.length === 0 && notBefore === -Infinity) {
      this.revoked(done, 0);
      return;
    }
    this.revokes.push({ ids: new Set(conflicting.map((l) => l.id)), done, count: conflicting.length, notBefore });
    this.fx.wake(Math.max(notBefore, ...conflicting.map((l) => l.validUntil)));
  }

  private revoked(done: RevokeDone<A>, count: number): void {
    if ('answer' in done) {
      this.fx.push({ kind: 'revoked', to: done.answer, count });
      return;
    }
    this.fx.push({ kind: 'ownRevoked', seq: done.writer });
    this.hooks.ownReadsGone(done.writer);
  }

  /** Finish the revocations whose reads are all released or run out. */
  checkRevokes(): void {
    const finished: PendingRevoke<A>[] = [];
    this.revokes = this.revokes.filter((r) => {
      for (const id of r.ids) {
        const l = this.table.leases.get(id);
        if (!l || l.validUntil <= this.fx.now) r.ids.delete(id);
      }
      if (r.ids.size > 0 || this.fx.now < r.notBefore) return true;
      finished.push(r);
      return false;
    });
    for (const r of finished) this.revoked(r.done, r.count);
  }

  /** Entries applied: fences up to the applied index lift, waiting reads may go ahead. */
  /** Nothing waits and nothing is fenced: an applied entry has nothing to do here. */
  idle(): boolean {
    return this.readers.length === 0 && this.fences.length === 0;
  }

  afterApply(): void {
    if (this.fences.length > 0) {
      const applied = this.fx.facts.applied;
      this.fences = this.fences.filter((f) => f.index > applied);
    }
    if (this.readers.length > 0) this.pump();
  }

  /** A client's session ended: its read leases go, its waiting reads are cancelled. */
  clientGone(clientId: string): void {
    for (const l of [...this.table.leases.values()]) if (l.clientId === clientId) this.table.leases.delete(l.id);
    for (const w of this.readers) if (w.clientId === clientId) this.fx.fail(w.reply, 'ECANCELED', 'session ended', w.path);
    this.readers = this.readers.filter((w) => w.clientId !== clientId);
  }

  /** This member stops serving: waiting reads are told to retry elsewhere. Revocations still
   * pending stay unanswered: this member's read leases may still be valid at their holders, so
   * the minister must treat it as unreachable and wait them out. */
  stop(): void {
    for (const w of this.readers) this.fx.fail(w.reply, 'EAGAIN', 'this member stopped serving: retry', w.path, true);
    this.readers = [];
    this.revokes = [];
    this.fences = [];
  }

  /** Read leases that may still be valid at `now`. */
  /** When the last read lease this member granted in `subtree` stops being believed (its
   * holder's TTL plus the drift bound; one of its earlier life is counted from its restart):
   * -Infinity if none is live, Infinity while a read in it
   * waits to be granted (it may be granted yet). */
  believedUntil(subtree: string, now: number): number {
    let until = this.forgottenUntil > now ? this.forgottenUntil : -Infinity;
    for (const w of this.readers) if (isWithin(w.path, subtree)) return Infinity;
    for (const l of this.table.leases.values()) if (l.validUntil > now && isWithin(l.path, subtree)) until = Math.max(until, l.validUntil);
    return until;
  }

  live(now: number): number {
    let n = 0;
    for (const l of this.table.leases.values()) if (l.validUntil > now) n++;
    return n;
  }
}
