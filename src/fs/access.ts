// POSIX attributes of the namespace (issue 18): who a caller is, the mode bits, the permission
// rules the namespace applies, and times in nanoseconds. Pure: the namespace calls these on its
// inodes while it applies a log entry, so every replica decides alike.
//
// Times are nanoseconds since the epoch as bigint (a double cannot hold them exactly); a log
// entry's `now` is milliseconds (the minister's clock when it stamped the entry) and becomes
// nanoseconds here, never the replica's own clock.

import { fsErrors, FsError } from './errors.js';
import type { INode } from './inode.js';
import type { NodeKind, SpecialKind } from './ns-types.js';
import type { TimePairs } from '../wire/log-codec.js';

export type { TimePairs };

/** Who asks: the uid, the effective gid and the supplementary groups (as FUSE passes them). */
export interface Creds {
  uid: number;
  gid: number;
  groups: readonly number[];
}

/** The superuser, and what system changes (a subtree delete) and old clients run as. */
export const ROOT: Creds = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] });

/** At most this many supplementary groups are taken (Linux's NGROUPS_MAX is 65536; FUSE passes
 * only the caller's uid and gid, so a mount sends few). */
export const MAX_GROUPS = 256;

/** The type bits (S_IFMT) of each kind. */
export const TYPE_BITS: Readonly<Record<NodeKind, number>> = {
  dir: 0o040000,
  file: 0o100000,
  symlink: 0o120000,
  fifo: 0o010000,
  socket: 0o140000,
  chardev: 0o020000,
  blockdev: 0o060000,
};
export const S_IFMT = 0o170000;
export const { dir: S_IFDIR, file: S_IFREG, symlink: S_IFLNK, fifo: S_IFIFO, socket: S_IFSOCK, chardev: S_IFCHR, blockdev: S_IFBLK } = TYPE_BITS;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
/** The bits chmod sets: permissions, setuid, setgid, sticky. */
export const PERM_BITS = 0o7777;
const S_IXGRP = 0o010;

export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

/** Modes of nodes made without one (and of data folders from before modes were kept). */
export const DEFAULT_DIR_MODE = 0o755;
export const DEFAULT_FILE_MODE = 0o644;
export const SYMLINK_MODE = 0o777;

/** An id as POSIX has them: a 32-bit unsigned integer (-1, 2^32-1, is "keep" in chown). */
export function isId(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 0xffffffff;
}

/** Validate credentials from a request or a log entry: EINVAL naming what is wrong. */
export function checkCreds(x: unknown, op: string): Creds {
  const c = x as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null) throw fsErrors.invalid(op, undefined, 'credentials must be { uid, gid, groups }');
  if (!isId(c['uid']) || !isId(c['gid'])) throw fsErrors.invalid(op, undefined, `credentials: uid and gid must be integers in [0, 2^32-1), got ${String(c['uid'])} and ${String(c['gid'])}`);
  const groups = c['groups'] ?? [];
  if (!Array.isArray(groups) || groups.length > MAX_GROUPS || !groups.every(isId)) throw fsErrors.invalid(op, undefined, `credentials: groups must be at most ${MAX_GROUPS} ids`);
  return { uid: c['uid'], gid: c['gid'], groups: [...(groups as number[])] };
}

export function inGroup(c: Creds, gid: number): boolean {
  return c.gid === gid || c.groups.includes(gid);
}

/** May `c` access `n` for `want` (R_OK | W_OK | X_OK)? Root may do anything but execute a
 * file no one may execute (searching a directory it always may). */
export function permits(n: INode, c: Creds, want: number): boolean {
  if (c.uid === 0) return (want & X_OK) === 0 || n.children !== null || (n.mode & 0o111) !== 0;
  const bits = c.uid === n.uid ? n.mode >> 6 : inGroup(c, n.gid) ? n.mode >> 3 : n.mode;
  return (bits & want & 7) === want;
}

const WANTS = ['', 'execute', 'write', 'write and search', 'read', 'read and search', 'read and write', 'read, write and search'];

/** EACCES unless `c` may access directory or file `n` (at `at`) for `want`. */
export function requireAccess(n: INode, c: Creds, want: number, op: string, path: string, at: string): void {
  if (permits(n, c, want)) return;
  const what = n.children !== null && want === X_OK ? 'search' : WANTS[want];
  throw new FsError('EACCES', `${op} ${path}: permission denied (uid ${c.uid} may not ${what} ${at}, mode ${(n.mode & PERM_BITS).toString(8).padStart(4, '0')}, owner ${n.uid}:${n.gid})`, path);
}

/** The sticky-bit rule: in a sticky directory only the owner of an entry, of the directory, or
 * root may remove or rename it (EPERM, as Linux). */
export function requireStickyOwner(dir: INode, victim: INode, c: Creds, op: string, path: string): void {
  if ((dir.mode & S_ISVTX) === 0 || c.uid === 0 || c.uid === victim.uid || c.uid === dir.uid) return;
  throw new FsError('EPERM', `${op} ${path}: operation not permitted (the directory is sticky: only the owner of the entry (uid ${victim.uid}) or of the directory (uid ${dir.uid}) may remove it)`, path);
}

/** The kind mknod(2) makes for a mode's type bits, 'file' for S_IFREG or none (as Linux), or
 * null for a type mknod does not make (a directory, a symlink, no type at all). */
export function mknodKind(mode: number): SpecialKind | 'file' | null {
  switch (mode & S_IFMT) {
    case 0:
    case S_IFREG:
      return 'file';
    case S_IFIFO:
      return 'fifo';
    case S_IFSOCK:
      return 'socket';
    case S_IFCHR:
      return 'chardev';
    case S_IFBLK:
      return 'blockdev';
    default:
      return null;
  }
}

/** Mode bits as st_mode: the type bits and the permission bits. */
export function stMode(n: INode): number {
  return (n.children !== null ? S_IFDIR : TYPE_BITS[n.kind]) | (n.mode & PERM_BITS);
}

/** chown clears setuid on a non-directory, and setgid where group execute is set (Linux). */
export function killSuid(mode: number): number {
  let m = mode & ~S_ISUID;
  if ((m & S_IXGRP) !== 0) m &= ~S_ISGID;
  return m;
}

// ---- times ---------------------------------------------------------------------------------

const NS_PER_MS = 1_000_000n;

/** A log entry's `now` (ms, maybe fractional) as nanoseconds, exactly for whole milliseconds. */
export function msToNs(ms: number): bigint {
  // One change stamps several times with the same `now` (the new inode, its directory): the
  // last conversion is kept (BigInts are immutable), saving the BigInt arithmetic and garbage.
  if (ms === lastMs) return lastNs;
  const slot = (ms * 1000) & (TIME_SLOTS - 1);
  if (slotMs[slot] === ms) return recall(slot, ms);
  const ns = convert(ms);
  slotMs[slot] = ms;
  slotNs[slot] = ns;
  slotMsOut[slot] = lastNsIn === ns ? lastMsOut : NaN;
  slotPair[slot] = lastPairNs === ns ? lastPair : null;
  return ns;
}

/** Recent conversions, by the time (direct-mapped on its microseconds): the replicas of a
 * ministry on one thread (a minister and its clerks) stamp the same changes' times each, a
 * round or a few apart, so the last conversion alone serves only the second stamp of a change.
 * Each slot also holds what convert() left for nsToMs and nsToPair (NaN, null: nothing). */
const TIME_SLOTS = 512;
const slotMs = new Float64Array(TIME_SLOTS).fill(NaN);
const slotNs: bigint[] = new Array<bigint>(TIME_SLOTS).fill(0n);
const slotMsOut = new Float64Array(TIME_SLOTS);
const slotPair: (Readonly<{ sec: number; nsec: number }> | null)[] = new Array<Readonly<{ sec: number; nsec: number }> | null>(TIME_SLOTS).fill(null);

/** The conversion in `slot` (of `ms`), made the last one again, as convert() leaves it. */
function recall(slot: number, ms: number): bigint {
  lastMs = ms;
  lastNs = slotNs[slot]!;
  const out = slotMsOut[slot]!;
  if (!Number.isNaN(out)) {
    lastNsIn = lastNs;
    lastMsOut = out;
  }
  const pair = slotPair[slot]!;
  if (pair !== null) {
    lastPairNs = lastNs;
    lastPair = pair;
  }
  return lastNs;
}

function convert(ms: number): bigint {
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  lastNs = frac === 0 ? BigInt(whole) * NS_PER_MS : BigInt(whole) * NS_PER_MS + BigInt(frac); // (fewer BigInts)
  lastMs = ms;
  // The stat that follows converts it back (nsToMs, and nsToPair for the reply): both are
  // worked out here in doubles, without BigInt division and its garbage (every replica stamps
  // every change). They equal what those give for lastNs: whole and frac are exact integers,
  // frac in [0, 1e6), and r below is whole mod 1000 in [0, 1000), so every sum is exact.
  if (frac < 1e6 && whole >= 0) {
    lastNsIn = lastNs;
    lastMsOut = whole + frac / 1e6;
  }
  if (frac < 1e6) {
    const r = ((whole % 1000) + 1000) % 1000;
    lastPairNs = lastNs;
    lastPair = Object.freeze({ sec: (whole - r) / 1000 + 0, nsec: r * 1e6 + frac }); // (+ 0: never -0)
  }
  return lastNs;
}
let lastMs = 0;
let lastNs = 0n;

/** Nanoseconds as milliseconds (a double; exact for whole milliseconds). */
export function nsToMs(ns: bigint): number {
  if (ns === lastNsIn) return lastMsOut; // a stat's ctime and mtime are often the same
  const q = ns / NS_PER_MS;
  const r = ns % NS_PER_MS;
  lastMsOut = Number(q) + Number(r) / 1e6;
  lastNsIn = ns;
  return lastMsOut;
}
let lastNsIn = 0n;
let lastMsOut = 0;

/** Times a node can hold: whole seconds within a double's exact integers (the wire's seconds
 * are doubles), either side of the epoch. */
export const MAX_ABS_TIME_NS = BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000_000n;

/** Nanoseconds as a (seconds, nanoseconds) pair, nanoseconds in [0, 1e9) (the wire's form). */
export function nsToPair(ns: bigint): Readonly<{ sec: number; nsec: number }> {
  // A stat's three times are often one (a new file's): the last answer is kept (frozen, shared).
  if (ns === lastPairNs) return lastPair;
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  lastPairNs = ns;
  lastPair = Object.freeze({ sec: Number(sec), nsec: Number(nsec) });
  return lastPair;
}
let lastPairNs = 0n;
let lastPair: Readonly<{ sec: number; nsec: number }> = Object.freeze({ sec: 0, nsec: 0 });

export function timePairs(atimeNs: bigint, mtimeNs: bigint, ctimeNs: bigint): TimePairs {
  const a = nsToPair(atimeNs);
  const m = nsToPair(mtimeNs);
  const c = nsToPair(ctimeNs);
  return { atimeSec: a.sec, atimeNsec: a.nsec, mtimeSec: m.sec, mtimeNsec: m.nsec, ctimeSec: c.sec, ctimeNsec: c.nsec };
}

/** A (seconds, nanoseconds) pair as nanoseconds; null when it is not one. */
export function pairToNs(sec: unknown, nsec: unknown): bigint | null {
  if (typeof sec !== 'number' || !Number.isSafeInteger(sec) || typeof nsec !== 'number' || !Number.isInteger(nsec) || nsec < 0 || nsec >= 1e9) return null;
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
}
