// The in-memory Raft log: an optional snapshot followed by contiguous entries. Entries up to
// `stableIndex` are known durable (the shell persisted them and called advance); later ones
// are "unstable" and go out in the next Ready. A snapshot received from a leader is unstable
// until advanced too.

import type { Entry, Snapshot } from './types.js';

export class RaftLog {
  /** Index and term of the last entry folded into the snapshot (0, 0 without one). */
  snapshotIndex: number;
  snapshotTerm: number;
  /** The snapshot itself, kept to send to lagging followers. */
  snapshot: Snapshot | undefined;
  /** entries[i].index === snapshotIndex + 1 + i */
  private entries: Entry[];
  /** Entries with index <= stableIndex are durable. */
  stableIndex: number;
  /** Installed from a leader; not yet durable. */
  unstableSnapshot: Snapshot | undefined;
  committed: number;
  applied: number;

  constructor(snapshot: Snapshot | undefined, entries: Entry[]) {
    this.snapshot = snapshot;
    this.snapshotIndex = snapshot?.index ?? 0;
    this.snapshotTerm = snapshot?.term ?? 0;
    this.entries = [];
    // Restored entries must continue the snapshot without gaps; keep the valid prefix.
    let expect = this.snapshotIndex + 1;
    for (const e of entries) {
      if (e.index < expect) continue;
      if (e.index !== expect) break;
      this.entries.push(e);
      expect++;
    }
    this.stableIndex = this.lastIndex();
    this.unstableSnapshot = undefined;
    this.committed = this.snapshotIndex;
    this.applied = this.snapshotIndex;
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    const n = this.entries.length;
    return n === 0 ? this.snapshotTerm : this.entries[n - 1]!.term;
  }

  /** Term of the entry at `index`; 0 for index 0; undefined if compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  /** Entries with index in [lo, hi], bounded by count and bytes (at least one if any). */
  slice(lo: number, hi: number, maxCount = Infinity, maxBytes = Infinity): Entry[] {
    lo = Math.max(lo, this.firstIndex());
    hi = Math.min(hi, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi && out.length < maxCount; i++) {
      const e = this.entries[i - this.snapshotIndex - 1]!;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction: is (lastTerm, lastIndex) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  append(entry: Entry): void {
    this.entries.push(entry);
  }

  /** Index of the first entry of `entries` that is not already in the log with the same
   * term, or 0 if all are. Entries at or below the snapshot are taken as matching (they are
   * committed). */
  findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (e.index <= this.snapshotIndex) continue;
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** Replace everything from `entries[0].index` on with `entries`. */
  truncateAndAppend(entries: Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0]!.index;
    if (from <= this.snapshotIndex || from > this.lastIndex() + 1) {
      throw new Error(`raft log: cannot append at ${from} (snapshot ${this.snapshotIndex}, last ${this.lastIndex()})`);
    }
    this.entries.length = from - this.snapshotIndex - 1;
    for (const e of entries) this.entries.push(e);
    // Rewritten entries must be persisted again.
    if (this.stableIndex >= from) this.stableIndex = from - 1;
  }

  /** Entries the shell has not persisted yet. */
  unstableEntries(): Entry[] {
    return this.entries.slice(this.stableIndex - this.snapshotIndex);
  }

  /** The shell persisted entries up to (index, term). Ignored if the log changed since. */
  stableTo(index: number, term: number): void {
    if (index > this.stableIndex && this.matchTerm(index, term)) this.stableIndex = index;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot !== undefined && this.unstableSnapshot.index === index) this.unstableSnapshot = undefined;
  }

  /** First index of the run of entries with the same term as `index` (for rejection hints). */
  firstIndexOfTermAt(index: number): number {
    const t = this.term(index);
    let i = index;
    while (i - 1 > this.snapshotIndex && this.term(i - 1) === t) i--;
    return i;
  }

  /** Largest index <= `from` whose entry has term `term`, or 0 if none is in the log. */
  lastIndexOfTerm(term: number, from: number): number {
    let i = Math.min(from, this.lastIndex());
    while (i > this.snapshotIndex && this.term(i)! > term) i--;
    if (i >= this.snapshotIndex && this.term(i) === term && i > 0) return i;
    return 0;
  }

  /** Drop entries up to `snapshot.index` (which must be in the log) in favour of the snapshot. */
  compact(snapshot: Snapshot): void {
    const drop = snapshot.index - this.snapshotIndex;
    this.entries = this.entries.slice(drop);
    this.snapshot = snapshot;
    this.snapshotIndex = snapshot.index;
    this.snapshotTerm = snapshot.term;
    if (this.stableIndex < snapshot.index) this.stableIndex = snapshot.index;
  }

  /** Install a leader's snapshot: the whole log is replaced by it. */
  restore(snapshot: Snapshot): void {
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotIndex = snapshot.index;
    this.snapshotTerm = snapshot.term;
    this.stableIndex = snapshot.index;
    this.unstableSnapshot = snapshot;
    this.committed = snapshot.index;
    // The state machine is restored from the snapshot when the shell persists it.
    this.applied = snapshot.index;
  }

  /** Every entry in the log, for membership scans and tests. */
  all(): readonly Entry[] {
    return this.entries;
  }
}
