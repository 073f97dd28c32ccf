// What a RaftShell keeps under its storage prefix, apart from the log segments (log-store.ts):
// `hs` (hard state and group), `snap` (the last snapshot) and `terms` (first index of each term
// among applied entries, to answer committed(index, term) for compacted tickets). Cut out of
// shell.ts (issue 15, point 3).

import type { Storage, StorageOp } from '../runtime/storage.js';
import { appendOps, clearOps, decodeSnapshot, encodeSnapshot, json, loadEntries, parse } from './log-store.js';
import type { Entry, HardState, Ready, Snapshot } from './types.js';

export const K_HS = 'hs';
export const K_SNAP = 'snap';
export const K_TERMS = 'terms';

/** The durable state of one log as it was found in storage. */
export interface StoredRaftState {
  hardState: (HardState & { group: string }) | undefined;
  snapshot: Snapshot | undefined;
  entries: Entry[];
  terms: TermStarts;
}

/** Read a log's durable state; `where(key)` names a record in errors. Throws
 * CorruptStorageError (from parse/decodeSnapshot/loadEntries) for a damaged record. */
export function loadRaftState(st: Storage, where: (key: string) => string): StoredRaftState {
  const hsRaw = st.get(K_HS);
  const hardState = hsRaw ? parse<HardState & { group: string }>(hsRaw, where(K_HS)) : undefined;
  const snapRaw = st.get(K_SNAP);
  const snapshot = snapRaw ? decodeSnapshot(snapRaw, where(K_SNAP)) : undefined;
  const entries: Entry[] = [];
  entries.push(...loadEntries(st, snapshot?.index ?? 0));
  const terms = new TermStarts(st);
  const termsRaw = st.get(K_TERMS);
  if (termsRaw) {
    const t = parse<{ from: number; starts: { index: number; term: number }[] }>(termsRaw, where(K_TERMS));
    terms.knownFrom = t.from;
    terms.starts = t.starts;
  }
  return { hardState, snapshot, entries, terms };
}

/** First index of each term among applied entries; terms below `knownFrom` are unknown. Every
 * change is written to `terms` (made durable with the shell's next sync). */
export class TermStarts {
  starts: { index: number; term: number }[] = [];
  knownFrom = 1;

  constructor(private readonly st: Storage) {}

  /** An entry of `term` at `index` was applied. */
  applied(index: number, term: number): void {
    const last = this.starts[this.starts.length - 1];
    if (last && last.term === term) return;
    this.starts.push({ index, term });
    this.save();
  }

  /** The state is now a snapshot at (index, term): only its own term is known. */
  restored(index: number, term: number, save = true): void {
    this.starts = [{ index, term }];
    this.knownFrom = index;
    if (save) this.save();
  }

  /** The node moved to another group: nothing is known. */
  reset(): void {
    this.starts = [];
    this.knownFrom = 1;
  }

  /** The term of the applied entry at `index`, if known. */
  termAt(index: number): number | undefined {
    if (index < this.knownFrom) return undefined;
    let t: number | undefined;
    for (const s of this.starts) {
      if (s.index > index) break;
      t = s.term;
    }
    return t;
  }

  private save(): void {
    this.st.put(K_TERMS, json({ from: this.knownFrom, starts: this.starts }));
  }
}

/** Does anything of this Ready have to be durable before its messages go out and its entries
 * are applied? Entries, snapshots, wipes, and term or vote changes (against `persisted`, the
 * term and vote as last written) do; a hard state whose only change is the commit index does
 * not. */
export function needsSync(r: Ready, persisted: { term: number; vote: string }): boolean {
  if (r.wipe || r.snapshot || r.entries.length > 0) return true;
  const hs = r.hardState;
  if (!hs) return false;
  return hs.term !== persisted.term || hs.vote !== persisted.vote;
}

/** The storage ops that persist a Ready (one atomic batch): a wipe, a snapshot replacing every
 * entry, the entries (replacing a suffix when the first is at or below `storedLast`, the
 * highest stored index), and `hardState` when given. Returns the new highest stored index. */
export function readyOps(st: Storage, r: Ready, storedLast: number, hardState: HardState | undefined): { ops: StorageOp[]; storedLast: number } {
  const ops: StorageOp[] = [];
  if (r.wipe) {
    ops.push({ op: 'delRange', start: '', end: '\uffff' });
    storedLast = 0;
  }
  if (r.snapshot) {
    ops.push(...clearOps());
    // Owned: a fresh buffer, or the received one, written nowhere else (no 6 MB copy).
    ops.push({ op: 'put', key: K_SNAP, value: encodeSnapshot(r.snapshot), owned: true });
    storedLast = r.snapshot.index;
  }
  if (r.entries.length > 0) {
    const first = r.entries[0]!.index;
    ops.push(...appendOps(st, r.entries, first <= storedLast));
    storedLast = r.entries[r.entries.length - 1]!.index;
  }
  if (hardState) {
    const hs = hardState;
    ops.push({ op: 'put', key: K_HS, value: json({ term: hs.term, vote: hs.vote, commit: hs.commit, group: r.group }) });
  }
  return { ops, storedLast };
}
