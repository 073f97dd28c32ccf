// The in-memory form of a ministry's namespace (namespace.ts), shared with its snapshot codec
// (namespace-snapshot.ts).

import type { IntTable } from '../runtime/int-table.js';
import type { OpResult, Stat } from './namespace.js';

export interface INode extends Stat {
  /** Entries of a directory; null for a file. */
  children: Map<string, INode> | null;
}

/** A client's record as kept: results in an IntTable, not a Map, since one is saved and one
 * dropped for every change (see runtime/int-table.ts). */
export interface ClientState {
  acked: number;
  results: IntTable<OpResult>;
  lastSeen: number;
}

export function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Freeze a result (and everything in it) so that it is safe to keep, snapshot and send. */
export function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null && !Object.isFrozen(x)) {
    Object.freeze(x);
    // for-in rather than Object.values: no array per object (results are frozen on every replica
    // for every change, so this is on the hot path).
    for (const k in x) deepFreeze(x[k]);
  }
  return x;
}
