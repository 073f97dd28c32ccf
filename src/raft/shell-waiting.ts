// What waits on a RaftShell: proposals waiting for their entry to apply, linearizable reads
// waiting for their read index, and the local times at which commit indices became known (for
// perishable entries). Cut out of shell.ts (issue 15, point 3).

import { IntTable } from '../runtime/int-table.js';
import type { ApplyOutcome } from './shell-types.js';

interface Waiter {
  term: number;
  cb: (o: ApplyOutcome) => void;
}

/** Proposals waiting for the entry at their index, by log index (an IntTable, not a Map: see
 * runtime/int-table.ts). Mostly one per index, kept as it is; several in an array. */
export class ApplyWaiters {
  private waiters = new IntTable<Waiter | Waiter[]>();

  add(index: number, term: number, cb: (o: ApplyOutcome) => void): void {
    const had = this.waiters.get(index);
    const w: Waiter = { term, cb };
    if (had === undefined) this.waiters.set(index, w);
    else if (Array.isArray(had)) had.push(w);
    else this.waiters.set(index, [had, w]);
  }

  /** The entry of `term` at `index` was applied with `result`. */
  applied(index: number, term: number, result: unknown): void {
    const had = this.waiters.get(index);
    if (had === undefined) return;
    this.waiters.delete(index);
    if (!Array.isArray(had)) return settle(had, index, term, result);
    for (const w of had) settle(w, index, term, result);
  }

  /** Fail the waiters of every index `pred` accepts, lowest index first. */
  fail(pred: (index: number) => boolean, reason: 'leadershipLost' | 'unknown' | 'stopped', message: string): void {
    for (const index of this.waiters.keyList().sort((a, b) => a - b)) {
      if (!pred(index)) continue;
      const had = this.waiters.get(index);
      if (had === undefined) continue; // an earlier callback settled it
      this.waiters.delete(index);
      for (const w of Array.isArray(had) ? had : [had]) w.cb({ ok: false, reason, message });
    }
  }
}

function settle(w: Waiter, index: number, term: number, result: unknown): void {
  if (w.term === term) w.cb({ ok: true, result });
  else w.cb({ ok: false, reason: 'overwritten', message: `index ${index} was taken by term ${term}; the proposal of term ${w.term} is void` });
}

interface PendingRead {
  cb: (ok: boolean) => void;
  /** Read index, once the leader confirmed it. */
  index: number;
  deadline: number;
}

/** Linearizable reads by their read context. */
export class PendingReads {
  private reads = new Map<string, PendingRead>();

  get size(): number {
    return this.reads.size;
  }

  add(ctx: string, cb: (ok: boolean) => void, deadline: number): void {
    this.reads.set(ctx, { cb, index: -1, deadline });
  }

  /** The leader confirmed the read `ctx` at `index`. */
  confirmed(ctx: string, index: number): void {
    const p = this.reads.get(ctx);
    if (p) p.index = index;
  }

  /** Answer the confirmed reads whose index is applied. */
  serve(applied: number): void {
    for (const [ctx, r] of this.reads) {
      if (r.index >= 0 && r.index <= applied) {
        this.reads.delete(ctx);
        r.cb(true);
      }
    }
  }

  /** Fail the unconfirmed reads past their deadline. */
  expire(now: number): void {
    if (this.reads.size === 0) return;
    for (const [ctx, r] of this.reads) {
      if (r.index < 0 && now > r.deadline) {
        this.reads.delete(ctx);
        r.cb(false);
      }
    }
  }

  failAll(): void {
    for (const r of this.reads.values()) r.cb(false);
    this.reads.clear();
  }
}

/** (commit index, local time) whenever the commit index moved, oldest first. */
export class CommitTimes {
  private notes: { index: number; at: number }[] = [];
  private head = 0;
  private noted = 0;
  /** Local time the commit index last moved (0: never in this incarnation). */
  lastAt = 0;

  /** The commit index is `commit` as of `now`. */
  note(commit: number, now: number): void {
    if (commit <= this.noted) return;
    this.noted = commit;
    this.lastAt = now;
    this.notes.push({ index: commit, at: now });
  }

  /** Time of the first note at or above `index` (`now` if there is none); indices are asked
   * for in increasing order. */
  timeOf(index: number, now: number): number {
    const notes = this.notes;
    while (this.head < notes.length && notes[this.head]!.index < index) this.head++;
    if (this.head > 1024) {
      this.notes = notes.slice(this.head);
      this.head = 0;
    }
    return this.notes[this.head]?.at ?? now;
  }

  /** The node moved to another group: forget the notes (not lastAt). */
  reset(): void {
    this.notes = [];
    this.head = 0;
    this.noted = 0;
  }
}
