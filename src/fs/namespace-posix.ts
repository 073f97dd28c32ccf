// The POSIX attribute operations of the namespace (issue 18): chmod, chown, utimens, symlink,
// link and mknod (FIFOs, sockets, device nodes: stored, never served), applied as namespace.ts
// applies the others (validate everything, then change), and the inode helpers both use. Kept
// apart so that namespace.ts stays under 600 lines; they reach the namespace only through `Tree`.

import { FsError, fsErrors } from './errors.js';
import {
  DEFAULT_FILE_MODE,
  PERM_BITS,
  S_ISGID,
  SYMLINK_MODE,
  W_OK,
  X_OK,
  inGroup,
  killSuid,
  mknodKind,
  msToNs,
  nsToMs,
  permits,
  requireAccess,
  stMode,
  type Creds,
} from './access.js';
import type { INode } from './inode.js';
/** A symbolic link's target, as Linux's PATH_MAX (the kernel refuses longer before a mount sees it). */
export const MAX_SYMLINK_BYTES = 4096;
import type { MutationOp, NodeKind, OpResult, SpecialKind, Stat } from './ns-types.js';

/** What the operations here use of a Namespace (its private path resolution and counters). */
export interface Tree {
  rel(op: string, path: string): string[];
  abs(rel: readonly string[]): string;
  resolveParent(op: string, path: string, rel: readonly string[], as: Creds): INode;
  resolve(op: string, path: string, rel: readonly string[], as: Creds): INode;
  /** The next namespace version (the change's). */
  bump(): number;
  /** The current one. */
  version(): number;
  newIno(): number;
}

type PosixOp = Extract<MutationOp, { op: 'chmod' | 'chown' | 'utimens' | 'symlink' | 'link' | 'mknod' }>;

export function applyPosix(t: Tree, op: PosixOp, now: number, as: Creds): OpResult {
  switch (op.op) {
    case 'chmod':
      return chmod(t, op.path, op.mode, now, as);
    case 'chown':
      return chown(t, op.path, op.uid, op.gid, now, as);
    case 'utimens':
      return utimens(t, op.path, op.atimeNs, op.mtimeNs, now, as);
    case 'symlink':
      return symlink(t, op.path, op.target, now, as);
    case 'link':
      return link(t, op.from, op.to, now, as);
    case 'mknod':
      return mknod(t, op.path, op.kind, op.mode ?? DEFAULT_FILE_MODE, op.rdev ?? 0, now, as);
  }
}

function eperm(op: string, path: string, why: string): FsError {
  return new FsError('EPERM', `${op} ${path}: operation not permitted (${why})`, path);
}

/** Only the owner or root changes the mode. A caller not in the file's group cannot set setgid
 * on it (cleared, as Linux does). */
function chmod(t: Tree, path: string, mode: number, now: number, as: Creds): OpResult {
  const node = t.resolve('chmod', path, t.rel('chmod', path), as);
  if (as.uid !== 0 && as.uid !== node.uid) throw eperm('chmod', path, `uid ${as.uid} does not own it (uid ${node.uid})`);
  let bits = mode & PERM_BITS;
  if (as.uid !== 0 && node.kind !== 'dir' && !inGroup(as, node.gid)) bits &= ~S_ISGID;
  return changed(t, node, now, () => {
    node.mode = bits;
  }, 'chmod');
}

/** Root may give a file to anyone; its owner may only change its group, to one it is in. -1
 * keeps a value; chown(-1, -1) changes nothing. Setuid (and setgid with group execute) of a
 * non-directory is cleared. */
function chown(t: Tree, path: string, uid: number, gid: number, now: number, as: Creds): OpResult {
  const node = t.resolve('chown', path, t.rel('chown', path), as);
  if (as.uid !== 0) {
    if (as.uid !== node.uid) throw eperm('chown', path, `uid ${as.uid} does not own it (uid ${node.uid})`);
    if (uid !== -1 && uid !== node.uid) throw eperm('chown', path, 'only root may give a file to another user');
    if (gid !== -1 && gid !== node.gid && !inGroup(as, gid)) throw eperm('chown', path, `uid ${as.uid} is not in group ${gid}`);
  }
  if (uid === -1 && gid === -1) return { ok: true, op: 'chown', version: t.version(), stat: statOf(node) };
  return changed(t, node, now, () => {
    if (uid !== -1) node.uid = uid;
    if (gid !== -1) node.gid = gid;
    if (node.kind !== 'dir') node.mode = killSuid(node.mode);
  }, 'chown');
}

/** Explicit times need the owner or root (EPERM); "now" also whoever may write it (EACCES). */
function utimens(t: Tree, path: string, atimeNs: bigint | null, mtimeNs: bigint | null, now: number, as: Creds): OpResult {
  const node = t.resolve('utimens', path, t.rel('utimens', path), as);
  if (as.uid !== 0 && as.uid !== node.uid) {
    if (atimeNs !== null || mtimeNs !== null) throw eperm('utimens', path, `only the owner (uid ${node.uid}) or root may set explicit times`);
    requireAccess(node, as, W_OK, 'utimens', path, path);
  }
  const at = msToNs(now);
  return changed(t, node, now, () => {
    node.atimeNs = atimeNs ?? at;
    node.mtimeNs = mtimeNs ?? at;
  }, 'utimens');
}

/** A symlink `path` holding `target`, never resolved here (the mount's kernel follows it). */
function symlink(t: Tree, path: string, target: string, now: number, as: Creds): OpResult {
  const rel = t.rel('symlink', path);
  const bytes = new TextEncoder().encode(target).length;
  if (bytes === 0) throw fsErrors.notFound('symlink', path, path, 'a symbolic link needs a target');
  if (bytes > MAX_SYMLINK_BYTES) throw new FsError('ENAMETOOLONG', `symlink ${path}: the target is ${bytes} bytes, over the limit of ${MAX_SYMLINK_BYTES}`, path);
  if (target.includes('\0')) throw fsErrors.invalid('symlink', path, 'the target holds a NUL character');
  if (rel.length === 0) throw fsErrors.exists('symlink', path, 'it is the root of this ministry');
  const parent = t.resolveParent('symlink', path, rel, as);
  const name = rel[rel.length - 1] as string;
  if ((parent.children as Map<string, INode>).has(name)) throw fsErrors.exists('symlink', path);
  dirAccess(t, parent, as, W_OK | X_OK, 'symlink', path, rel, rel.length - 1);
  const v = t.bump();
  const n = newNode(t.newIno(), 'symlink', now, v, SYMLINK_MODE, as.uid, (parent.mode & S_ISGID) !== 0 ? parent.gid : as.gid);
  n.target = target;
  n.size = bytes;
  (parent.children as Map<string, INode>).set(name, n);
  touch(parent, now, v);
  return { ok: true, op: 'symlink', version: v, stat: statOf(n) };
}

/** A hard link `to` of `from` (not a directory: EPERM, as Linux). Both in this ministry: the
 * minister refuses a target elsewhere with EXDEV before it gets here. */
function link(t: Tree, from: string, to: string, now: number, as: Creds): OpResult {
  const op = `link ${from} ->`;
  const fromRel = t.rel('link', from);
  const toRel = t.rel(op, to);
  const src = t.resolve('link', from, fromRel, as);
  if (toRel.length === 0) throw fsErrors.exists(op, to, 'it is the root of this ministry');
  const parent = t.resolveParent(op, to, toRel, as);
  const name = toRel[toRel.length - 1] as string;
  if ((parent.children as Map<string, INode>).has(name)) throw fsErrors.exists(op, to);
  if (src.kind === 'dir') throw eperm('link', from, 'a directory cannot have hard links');
  dirAccess(t, parent, as, W_OK | X_OK, op, to, toRel, toRel.length - 1);
  const v = t.bump();
  (parent.children as Map<string, INode>).set(name, src);
  src.nlink++;
  src.ctimeNs = msToNs(now);
  src.version = v;
  touch(parent, now, v);
  return { ok: true, op: 'link', version: v, stat: statOf(src) };
}

/** A FIFO, socket or device node at `path`, checked as create is (search, EEXIST, write on the
 * parent); a device needs root (EPERM, as Linux without CAP_MKNOD). Only a device keeps `rdev`. */
function mknod(t: Tree, path: string, kind: SpecialKind, mode: number, rdev: number, now: number, as: Creds): OpResult {
  const rel = t.rel('mknod', path);
  if (rel.length === 0) throw fsErrors.exists('mknod', path, 'it is the root of this ministry');
  const parent = t.resolveParent('mknod', path, rel, as);
  const name = rel[rel.length - 1] as string;
  if ((parent.children as Map<string, INode>).has(name)) throw fsErrors.exists('mknod', path);
  requireAccess(parent, as, W_OK | X_OK, 'mknod', path, t.abs(rel.slice(0, -1)));
  const device = kind === 'chardev' || kind === 'blockdev';
  if (device && as.uid !== 0) throw eperm('mknod', path, `only root may make a ${kind === 'chardev' ? 'character' : 'block'} device (uid ${as.uid})`);
  const v = t.bump();
  const n = newNode(t.newIno(), kind, now, v, mode, as.uid, (parent.mode & S_ISGID) !== 0 ? parent.gid : as.gid);
  if (device) n.rdev = rdev;
  (parent.children as Map<string, INode>).set(name, n);
  touch(parent, now, v);
  return { ok: true, op: 'mknod', version: v, stat: statOf(n) };
}

/** mknod's change from a request's st_mode and rdev: the kind from the mode's type bits; EINVAL for a type mknod does not make
 * here (a regular file is `create`, which the client library sends for it). */
export function mknodChange(path: string, mode: number, rdev: number): MutationOp {
  const kind = mknodKind(mode);
  if (kind === null || kind === 'file') throw fsErrors.invalid('mknod', path, `mode ${mode.toString(8)} is not a FIFO, socket or device (make files with create, directories with mkdir)`);
  if (!Number.isSafeInteger(rdev) || rdev < 0) throw fsErrors.invalid('mknod', path, `rdev must be a non-negative integer, got ${rdev}`);
  const op: MutationOp = { op: 'mknod', path, kind, mode: mode & 0o7777 };
  if (rdev !== 0 && (kind === 'chardev' || kind === 'blockdev')) op.rdev = rdev;
  return op;
}

/** Change `node`'s attributes as one version, its ctime to now. */
function changed(t: Tree, node: INode, now: number, change: () => void, op: 'chmod' | 'chown' | 'utimens'): OpResult {
  const v = t.bump();
  change();
  node.ctimeNs = msToNs(now);
  node.version = v;
  return { ok: true, op, version: v, stat: statOf(node) };
}

/** requireAccess on the directory at `rel[0, end)`, its path spelled out only for the error:
 * every change checks its parent, and nearly all pass. */
export function dirAccess(t: Tree, dir: INode, as: Creds, want: number, op: string, path: string, rel: readonly string[], end: number): void {
  if (!permits(dir, as, want)) requireAccess(dir, as, want, op, path, t.abs(rel.slice(0, end)));
}

// ---- inodes --------------------------------------------------------------------------------

export function newNode(ino: number, kind: NodeKind, now: number, version: number, mode: number, uid: number, gid: number): INode {
  const t = msToNs(now);
  return {
    ino,
    kind,
    size: 0,
    btime: now,
    atimeNs: t,
    mtimeNs: t,
    ctimeNs: t,
    mode: mode & PERM_BITS,
    uid,
    gid,
    nlink: 1,
    rdev: 0,
    target: null,
    version,
    children: kind === 'dir' ? new Map() : null,
  };
}

/** A directory's entries changed: its mtime and ctime are now. */
export function touch(dir: INode, now: number, v: number): void {
  dir.mtimeNs = dir.ctimeNs = msToNs(now);
  dir.version = v;
}

/** Frozen here (it holds no object), so that freezing a result that holds it walks none of its
 * fields (deepFreeze: every replica freezes every change's result). */
export function statOf(n: INode): Stat {
  let nlink = n.nlink;
  if (n.children !== null) {
    nlink = 2;
    for (const c of n.children.values()) if (c.children !== null) nlink++;
  }
  return Object.freeze({
    ino: n.ino,
    kind: n.kind,
    size: n.children === null ? n.size : n.children.size,
    btime: n.btime,
    ctime: nsToMs(n.ctimeNs),
    mtime: nsToMs(n.mtimeNs),
    version: n.version,
    mode: stMode(n),
    uid: n.uid,
    gid: n.gid,
    nlink,
    rdev: n.rdev,
    atimeNs: n.atimeNs,
    mtimeNs: n.mtimeNs,
    ctimeNs: n.ctimeNs,
  });
}
