// The types of the namespace's state machine (namespace.ts re-exports them): what a stat says,
// the mutations a log entry carries, and what applying one gives. Cut out of namespace.ts when
// the POSIX attributes came (issue 18), to keep it under 600 lines.

import { FsError, type FsErrorData } from './errors.js';
import type { Creds } from './access.js';
import { compareNames } from './subtree-map.js';

/** The nodes the namespace only stores (issue 18): FIFOs, sockets and device nodes. The kernel
 * serves them, locally, on the host that opens one (as NFS and CephFS keep them). */
export type SpecialKind = 'fifo' | 'socket' | 'chardev' | 'blockdev';

export const SPECIAL_KINDS: readonly SpecialKind[] = ['fifo', 'socket', 'chardev', 'blockdev'];

export type NodeKind = 'dir' | 'file' | 'symlink' | SpecialKind;

export interface DirEntry {
  name: string;
  kind: NodeKind;
}

/** What a stat says in both its forms: the namespace's (Stat) and a client's (StatResult). */
export interface StatFields {
  /** Inode number, unique within the ministry, never reused; kept across renames. */
  ino: number;
  kind: NodeKind;
  /** Bytes for a file (or a symlink's target); number of entries for a directory. */
  size: number;
  /** ms (milliseconds of the nanosecond times). */
  ctime: number;
  mtime: number;
  version: number;
  /** st_mode: the type bits (S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, ...) and the permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
}

export interface Stat extends StatFields {
  /** ms (as ctime and mtime). */
  btime: number;
  /** A device node's device number (st_rdev, as Linux's makedev); 0 for every other kind. */
  rdev: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** The namespace mutations (the body of a log entry). Modes are permission bits (07777); a
 * node made without one gets 0755 (directory) or 0644 (file). */
export type MutationOp =
  | { op: 'mkdir'; path: string; parents?: boolean; mode?: number }
  | { op: 'create'; path: string; exclusive?: boolean; mode?: number }
  | { op: 'rm'; path: string }
  | { op: 'rmdir'; path: string; recursive?: boolean }
  | { op: 'rename'; from: string; to: string }
  /** extend: the larger of `size` and the file's size (a data write's end; issue 17). */
  | { op: 'setSize'; path: string; size: number; extend?: boolean; token?: number }
  | { op: 'chmod'; path: string; mode: number }
  /** -1 keeps the uid or gid. */
  | { op: 'chown'; path: string; uid: number; gid: number }
  /** null: the entry's time (`now`). */
  | { op: 'utimens'; path: string; atimeNs: bigint | null; mtimeNs: bigint | null }
  | { op: 'symlink'; path: string; target: string }
  /** A hard link `to` of the file at `from`. */
  | { op: 'link'; from: string; to: string }
  /** A FIFO, socket or device node (only root makes devices); `rdev` kept for devices only. */
  | { op: 'mknod'; path: string; kind: SpecialKind; mode?: number; rdev?: number };

type Stamped<T> = T extends unknown ? T & { now: number } : never;

/** An unsessioned mutation (e.g. ordered by the system: a subtree delete); runs as root. */
export type StampedMutationOp = Stamped<MutationOp>;

/** A client's mutation, applied at most once per (clientId, seq). */
export interface ClientOp {
  op: 'client';
  clientId: string;
  seq: number;
  /** Every request of this client up to `acked` has its answer (0: none said). */
  acked?: number;
  now: number;
  body: MutationOp;
  /** Who asks (permission checks); root when absent. */
  as?: Creds;
}

export interface AckOp {
  op: 'ack';
  clientId: string;
  seq: number;
  now: number;
  /** The client ends its session: forget it entirely. */
  close?: boolean;
}

export interface ExpireClientsOp {
  op: 'expireClients';
  now: number;
  ttlMs: number;
}

/** One replicated log entry's worth of namespace state change. */
export type Op = StampedMutationOp | ClientOp | AckOp | ExpireClientsOp;

export type OpOk =
  | { ok: true; op: 'mkdir'; version: number; created: string[] }
  | { ok: true; op: 'create'; version: number; created: boolean; stat: Stat }
  | { ok: true; op: 'rm'; version: number }
  | { ok: true; op: 'rmdir'; version: number; removed: number }
  /** Across ministries: the target's ministry and its prepare entry's index (read your writes). */
  | { ok: true; op: 'rename'; version: number; replaced: boolean; targetMinistry?: string; targetIndex?: number }
  | { ok: true; op: 'setSize' | 'chmod' | 'chown' | 'utimens' | 'symlink' | 'link' | 'mknod'; version: number; stat: Stat }
  | { ok: true; op: 'ack'; version: number }
  | { ok: true; op: 'expireClients'; version: number; expired: string[] };

export interface OpFail {
  ok: false;
  error: FsErrorData;
}

/** `version` is the namespace version right after the op (for a replayed result: then). */
export type OpResult = OpOk | OpFail;

export interface ClientRecord {
  /** Every request up to this one has its answer at the client: refused if it comes again. */
  acked: number;
  /** Saved results of requests above `acked`, by seq. */
  results: Map<number, OpResult>;
  lastSeen: number;
}

/** The success value of a result, or throw its error as an FsError. */
export function unwrap<R extends OpResult>(r: R): Extract<R, { ok: true }> {
  if (!r.ok) throw FsError.from(r.error);
  return r as Extract<R, { ok: true }>;
}

/**
 * A directory listing merged with the names of other ministries' subtree roots directly
 * inside it (SubtreeMap.childrenRoots): those appear as directories (replacing a same-named
 * local entry). Sorted by name, no duplicates.
 */
export function mergeListing(entries: readonly DirEntry[], extraDirNames: readonly string[]): DirEntry[] {
  const byName = new Map<string, DirEntry>();
  for (const e of entries) byName.set(e.name, { name: e.name, kind: e.kind });
  for (const n of extraDirNames) byName.set(n, { name: n, kind: 'dir' });
  return [...byName.values()].sort((a, b) => compareNames(a.name, b.name));
}
