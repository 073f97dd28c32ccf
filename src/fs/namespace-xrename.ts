// The namespace's halves of a rename across ministries (src/actors/rename-ledger.ts): the
// source checks and exports `from` (exportTree), later detaches it; the target checks `to`
// (graftCheck), later grafts the exported tree there. The checks are Namespace.rename's, with
// the caller's credentials, split between the two ends: at the source search permission on
// from's path, write and search on its parent, the sticky rule, and write permission on a
// moved directory (its '..' changes); at the target search on to's path, write and search on
// its parent, and the sticky rule for an entry it replaces. Kept apart from namespace.ts (under
// 600 lines); reaches the namespace only through `Tree`.

import { FsError, fsErrors } from './errors.js';
import { requireAccess, requireStickyOwner, msToNs, W_OK, X_OK, type Creds } from './access.js';
import type { INode } from './inode.js';
import { touch, type Tree } from './namespace-posix.js';
import { compareNames } from './subtree-map.js';
import { MAX_DEPTH, depthOf } from './path.js';

/** One node of a subtree a rename across ministries moves, with its POSIX attributes. Hard
 * links inside the moved tree are entries with the same `ino` (the source's inode number): the
 * target makes them one inode again. */
export type MovedNode = Pick<INode, 'kind' | 'ino' | 'size' | 'btime' | 'atimeNs' | 'mtimeNs' | 'ctimeNs' | 'mode' | 'uid' | 'gid'> & {
  /** A device node's device number (0 otherwise; absent from entries of before: 0). */
  rdev?: number;
  /** Relative to the moved path: '' for itself, 'x/y' below it. */
  path: string;
  /** A symlink's target; '' otherwise. */
  target: string;
};

/** Write and search permission on `parent`, and the sticky rule, to take `victim` out of it. */
function mayRemove(t: Tree, parent: INode, victim: INode, as: Creds, op: string, path: string, rel: readonly string[]): void {
  requireAccess(parent, as, W_OK | X_OK, op, path, t.abs(rel.slice(0, -1)));
  requireStickyOwner(parent, victim, as, op, path);
}

/** ENAMETOOLONG if directory `dir`, put at depth `at`, would hold anything deeper than
 * MAX_DEPTH. Walks `dir` without recursion and stops at the first node too deep; a rename that
 * does not move deeper needs no walk (everything there is within the limit already). */
export function notTooDeepBelow(dir: INode, at: number, op: string, path: string): void {
  const room = MAX_DEPTH - at;
  const stack: [INode, number][] = [[dir, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [n, d] = top;
    if (d > room) throw new FsError('ENAMETOOLONG', `${op} ${path}: would put a path ${at + d} levels deep, over the limit of ${MAX_DEPTH}`, path);
    if (n.children !== null) for (const c of n.children.values()) if (c.children !== null || d + 1 > room) stack.push([c, d + 1]);
  }
}

/** The source's check and export: `from` and everything below it, depth first (paths relative
 * to `from`, '' for itself). ENOENT/ENOTDIR, EACCES/EPERM, EBUSY for this ministry's root;
 * EXDEV for a file with hard links outside the moved tree (they cannot follow it). */
export function exportTree(t: Tree, from: string, as: Creds, to?: string): MovedNode[] {
  const rel = t.rel('rename', from);
  const top = t.resolve('rename', from, rel, as);
  if (rel.length === 0) throw fsErrors.busy('rename', from, 'the root of a ministry cannot be renamed');
  mayRemove(t, t.resolveParent('rename', from, rel, as), top, as, 'rename', from, rel);
  // A directory moving to another parent changes its '..': write permission on it (Linux).
  if (top.kind === 'dir') requireAccess(top, as, W_OK, 'rename', from, from);
  const out: MovedNode[] = [];
  const links = new Map<number, { node: INode; path: string; seen: number }>();
  const visit = (path: string, n: INode): void => {
    out.push({ path, kind: n.kind, ino: n.ino, size: n.children === null ? n.size : 0, btime: n.btime, atimeNs: n.atimeNs, mtimeNs: n.mtimeNs, ctimeNs: n.ctimeNs, mode: n.mode, uid: n.uid, gid: n.gid, rdev: n.rdev, target: n.target ?? '' });
    if (n.children === null) {
      const l = links.get(n.ino);
      if (l) l.seen++;
      else links.set(n.ino, { node: n, path, seen: 1 });
      return;
    }
    for (const name of [...n.children.keys()].sort(compareNames)) visit(path === '' ? name : `${path}/${name}`, n.children.get(name) as INode);
  };
  visit('', top);
  if (to !== undefined && top.kind === 'dir') notTooDeepBelow(top, depthOf(to), 'rename', to);
  for (const l of links.values()) {
    if (l.node.nlink > l.seen) {
      const at = l.path === '' ? from : `${from}/${l.path}`;
      const why = `${at} has ${l.node.nlink - l.seen} hard link(s) outside it, and hard links cannot cross ministries (copy and remove instead)`;
      throw new FsError('EXDEV', `rename ${from}: ${why}`, from);
    }
  }
  return out;
}

/** The target's check: may `to` become the moved node (a directory if `dir`)? Returns whether it
 * replaces what is there. EBUSY (this ministry's root), ENOENT/ENOTDIR, EACCES/EPERM, EISDIR,
 * ENOTEMPTY. */
export function graftCheck(t: Tree, from: string, to: string, dir: boolean, as: Creds): boolean {
  const op = `rename ${from} ->`;
  const rel = t.rel(op, to);
  if (rel.length === 0) throw fsErrors.busy(op, to, 'the root of a ministry cannot be replaced');
  const parent = t.resolveParent(op, to, rel, as);
  const dst = (parent.children as Map<string, INode>).get(rel[rel.length - 1] as string);
  if (dst !== undefined) mayRemove(t, parent, dst, as, op, to, rel);
  else requireAccess(parent, as, W_OK | X_OK, op, to, t.abs(rel.slice(0, -1)));
  if (dst === undefined) return false;
  if (!dir && dst.kind === 'dir') throw fsErrors.isDir(op, to, 'cannot replace a directory with a file');
  if (dir && dst.kind !== 'dir') throw fsErrors.notDir(op, to);
  if (dst.children !== null && dst.children.size > 0) throw fsErrors.notEmpty(op, to, 'only an empty directory can be replaced');
  return true;
}

/** The source's commit: `from` goes, with everything below it (exportTree found no link
 * outside it). Returns the new version. */
export function detach(t: Tree, from: string, now: number, as: Creds): number {
  const rel = t.rel('rename', from);
  const parent = t.resolveParent('rename', from, rel, as);
  const v = t.bump();
  (parent.children as Map<string, INode>).delete(rel[rel.length - 1] as string);
  touch(parent, now, v);
  return v;
}

/** The target's commit: `to` becomes the exported tree (new inode numbers here, one per linked
 * file, noted in `inos`: the source's -> this one's, for the files' layouts), replacing what is
 * there (graftCheck passed, and nothing changed it since). The moved node's ctime is the
 * rename's, as a local rename's. Returns the new version. */
export function graft(t: Tree, to: string, nodes: readonly MovedNode[], now: number, as: Creds, inos?: Map<number, number>): number {
  const rel = t.rel('rename', to);
  const parent = t.resolveParent('rename', to, rel, as);
  const name = rel[rel.length - 1] as string;
  const v = t.bump();
  const byPath = new Map<string, INode>();
  const byIno = new Map<number, INode>();
  for (const m of nodes) {
    const dir = m.kind === 'dir';
    let n = dir ? undefined : byIno.get(m.ino);
    if (n !== undefined) n.nlink++;
    else {
      n = {
        ino: t.newIno(),
        kind: m.kind,
        size: dir ? 0 : m.size,
        btime: m.btime,
        atimeNs: m.atimeNs,
        mtimeNs: m.mtimeNs,
        ctimeNs: m.path === '' ? msToNs(now) : m.ctimeNs,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
        nlink: 1,
        rdev: m.rdev ?? 0,
        target: m.kind === 'symlink' ? m.target : null,
        version: v,
        children: dir ? new Map() : null,
      };
      if (!dir) {
        byIno.set(m.ino, n);
        inos?.set(m.ino, n.ino);
      }
    }
    const cut = m.path.lastIndexOf('/');
    const up = m.path === '' ? undefined : byPath.get(cut < 0 ? '' : m.path.slice(0, cut));
    if (m.path !== '') up?.children?.set(m.path.slice(cut + 1), n);
    byPath.set(m.path, n);
  }
  const children = parent.children as Map<string, INode>;
  const dst = children.get(name);
  if (dst !== undefined && dst.children === null) {
    dst.nlink--;
    if (dst.nlink > 0) {
      dst.ctimeNs = msToNs(now);
      dst.version = v;
    }
  }
  children.set(name, byPath.get('') as INode);
  touch(parent, now, v);
  return v;
}
