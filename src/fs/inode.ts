// The in-memory form of a ministry's namespace (namespace.ts), shared with its snapshot codec
// (namespace-snapshot.ts).

import type { IntTable } from '../runtime/int-table.js';
import type { NodeKind, OpResult } from './namespace.js';

/** One inode. A file may be in several directories (hard links: the same object in each), so
 * the tree is a DAG of files under a tree of directories. */
export interface INode {
  /** Inode number, unique within the ministry, never reused; kept across renames. */
  ino: number;
  kind: NodeKind;
  /** Bytes of a file; the target's bytes of a symlink; unused (0) for a directory, FIFO, socket
   * or device node (which have no contents in govfs). */
  size: number;
  /** Birth time, ms. */
  btime: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Permission bits with setuid, setgid and sticky (07777); the type is `kind`. */
  mode: number;
  uid: number;
  gid: number;
  /** Links to a file or symlink (directories count theirs: 2 + subdirectories). */
  nlink: number;
  /** A device node's device number; 0 for every other kind. */
  rdev: number;
  /** A symlink's target, as given (never resolved here); null otherwise. */
  target: string | null;
  version: number;
  /** Entries of a directory; null for a file or symlink. */
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
    for (const k in x) {
      const v = x[k];
      if (typeof v === 'object' && v !== null) deepFreeze(v); // no call for the many primitives
    }
  }
  return x;
}
