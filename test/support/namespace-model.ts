// A sequential model of one govfs ministry's namespace, for the linearizability checker
// (./linearizability.ts). It follows src/fs/namespace.ts (Namespace.apply / ls / stat)
// rule for rule, including the ORDER in which errors are checked, so that the error code of
// a failed operation is the one the real namespace gives. test/support/namespace-model.test.ts
// checks that on thousands of random operations against the real Namespace.
//
// What an output may say:
//   - { ok: false, code }: the operation failed with that FsError code (and changed nothing);
//   - { ok: true } for a mutation (any `value` is ignored);
//   - ls: { ok: true, value } where value is the listing: an array of names (strings) or of
//     { name, kind } entries; compared as a set of names (and kinds, when entries carry them),
//     whatever their order;
//   - stat: { ok: true, value } where value is the kind ('file' | 'dir') or an object with a
//     `kind` field (a Stat); only the kind is compared. No value: only success is checked.
//
// Codes that say nothing about the namespace (ETIMEDOUT, EUNAVAILABLE, ...) are not modelled:
// record such an operation with ret = Infinity (outcome unknown) instead.
//
// Ministries: `namespaceModel({ root })` models the ministry whose subtree is `root`: paths
// outside it are EXDEV, its root always exists and cannot be removed or renamed (EBUSY).
// `otherRoots` (the other ministries' subtree roots) are merged into listings as directories,
// as MinistryNamespace.read does. `partitionByMinistry` splits a history by ministry and
// `checkNamespaceByMinistry` checks each part against its ministry's model.
//
// Other ministries' roots below this one ("mounts") also shape this ministry's answers, as the
// minister's checks in src/actors/ministry-core.ts do before the namespace sees the change:
//   - rename whose target another ministry serves, or whose source holds a mount: EXDEV;
//   - rmdir of a directory holding a mount: ENOTEMPTY without `recursive`; with it, the
//     president's subtree delete dissolves those ministries first (thesis Figure 9), then the
//     directory goes. The model drops the mounts when the rmdir succeeds; a failed rmdir
//     leaves them (the minister only asks for the subtree delete when the directory is there).
//     The dissolutions come first, so a reader may see the directory without the mounts
//     before it goes: splitByMinistry adds an `unmount` per dissolved ministry, within the
//     rmdir's call and return, which may take effect before the rmdir itself.
// The state keeps the live mounts (as `MOUNT + root` keys, which no path collides with).

import { isAncestor, isWithin, parsePath } from '../../src/fs/path.js';
import { checkLinearizable, type CheckOptions, type CheckResult, type Model, type Operation } from './linearizability.js';

/** FIFOs, sockets and device nodes (mknod): stored like files, never served. */
export type SpecialKind = 'fifo' | 'socket' | 'chardev' | 'blockdev';
export type NodeKind = 'file' | 'dir' | 'symlink' | SpecialKind;

/** Who asks (POSIX credentials); root when an input has none. */
export interface NsCreds {
  uid: number;
  gid: number;
  groups: readonly number[];
}

type As = { as?: NsCreds };

export type NsInput =
  | ({ op: 'mkdir'; path: string; parents?: boolean; mode?: number } & As)
  | ({ op: 'create'; path: string; exclusive?: boolean; mode?: number } & As)
  | ({ op: 'rm'; path: string } & As)
  | ({ op: 'rmdir'; path: string; recursive?: boolean } & As)
  | ({ op: 'rename'; from: string; to: string } & As)
  | ({ op: 'ls'; path: string } & As)
  | ({ op: 'stat'; path: string } & As)
  | ({ op: 'chmod'; path: string; mode: number } & As)
  | ({ op: 'chown'; path: string; uid: number; gid: number } & As)
  /** Only whether it may: times are not modelled. `explicit`: given times (else now). */
  | ({ op: 'utimens'; path: string; explicit: boolean } & As)
  | ({ op: 'symlink'; path: string; target: string } & As)
  | ({ op: 'readlink'; path: string } & As)
  | ({ op: 'link'; from: string; to: string } & As)
  /** The device number is not modelled (stat compares kinds and attributes). */
  | ({ op: 'mknod'; path: string; kind: SpecialKind; mode?: number; rdev?: number } & As)
  /** Not a client call: the dissolution of the ministry rooted at `path` by a subtree delete
   * (splitByMinistry adds one per ministry an `rmdir -r` dissolves). */
  | { op: 'unmount'; path: string };

export type NsOutput = { ok: true; value?: unknown } | { ok: false; code: string };

/**
 * The tree, as string keys and values (treated as immutable: a step that changes it returns a
 * new map):
 *   - a path (the ministry root included, always a directory) → `dir MODE UID GID`, or
 *     `file #N` / `symlink #N` for the inode N it links to (hard links share one);
 *   - `#N` → `MODE UID GID NLINK TARGET` of inode N (a file's TARGET is empty);
 *   - `#next` → the next inode number; `mount:ROOT` → another ministry's live root.
 */
export type NsState = ReadonlyMap<string, string>;

export type NsOperation = Operation<NsInput, NsOutput>;

export interface NamespaceModelOptions {
  /** The ministry's subtree root (default '/'). */
  root?: string;
  /** Other ministries' subtree roots: shown as directories in the listing of their parent. */
  otherRoots?: readonly string[];
}

/** What stat says in the model: enough to tell modes, owners and links apart. */
export interface NsStat {
  kind: NodeKind;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
}

/** What the real namespace answers: the new state, and success (with a value) or an error code. */
export type NsAnswer =
  | { state: NsState; ok: true; value?: NsStat | string | Array<{ name: string; kind: NodeKind }> }
  | { state: NsState; ok: false; code: string };

class Fail {
  constructor(readonly code: string) {}
}

/** State key prefix of a live mount (another ministry's root below this ministry's root). */
const MOUNT = 'mount:';
const ROOT_CREDS: NsCreds = { uid: 0, gid: 0, groups: [] };
const S_ISVTX = 0o1000;
const S_ISGID = 0o2000;
const S_ISUID = 0o4000;
const TYPE_BITS: Record<NodeKind, number> = { dir: 0o040000, file: 0o100000, symlink: 0o120000, fifo: 0o010000, socket: 0o140000, chardev: 0o020000, blockdev: 0o060000 };

function mounts(state: NsState): string[] {
  const out: string[] = [];
  for (const k of state.keys()) if (k.startsWith(MOUNT)) out.push(k.slice(MOUNT.length));
  return out;
}

/** Live mounts strictly inside `path` (the minister's `nested`). */
function nestedMounts(state: NsState, path: string): string[] {
  return mounts(state).filter((m) => m !== path && isWithin(m, path));
}

function wellFormed(path: string): boolean {
  try {
    parsePath(path);
    return true;
  } catch {
    return false;
  }
}

function join(segs: readonly string[]): string {
  return '/' + segs.join('/');
}

const isPath = (k: string): boolean => k.charCodeAt(0) === 0x2f;

/** A node of the model: its kind and attributes, wherever they are kept. */
interface Node {
  kind: NodeKind;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  target: string;
  /** The inode key of a file or symlink. */
  ino?: string;
}

function nodeAt(state: NsState, path: string): Node | undefined {
  const v = state.get(path);
  if (v === undefined) return undefined;
  const [kind, a, b, c] = v.split(' ') as [NodeKind, string, string?, string?];
  if (kind === 'dir') return { kind, mode: Number(a), uid: Number(b), gid: Number(c), nlink: 2, target: '' };
  const attrs = (state.get(a) as string).split(' ');
  return { kind, mode: Number(attrs[0]), uid: Number(attrs[1]), gid: Number(attrs[2]), nlink: Number(attrs[3]), target: attrs.slice(4).join(' '), ino: a };
}

/** Write `n`'s attributes back (into the path for a directory, the inode for the others). */
function putNode(next: Map<string, string>, path: string, n: Node): void {
  if (n.kind === 'dir') next.set(path, `dir ${n.mode} ${n.uid} ${n.gid}`);
  else next.set(n.ino as string, `${n.mode} ${n.uid} ${n.gid} ${n.nlink} ${n.target}`);
}

/** A new file, symlink or special inode at `path`. */
function newInode(next: Map<string, string>, path: string, kind: Exclude<NodeKind, 'dir'>, mode: number, uid: number, gid: number, target: string): void {
  const n = Number(next.get('#next') ?? '1');
  next.set('#next', String(n + 1));
  next.set(path, `${kind} #${n}`);
  next.set(`#${n}`, `${mode} ${uid} ${gid} 1 ${target}`);
}

/** One link of the inode at `path` goes (the path entry itself is the caller's). */
function unlink(next: Map<string, string>, state: NsState, path: string): void {
  const n = nodeAt(state, path);
  if (n === undefined || n.kind === 'dir') return;
  const cur = (next.get(n.ino as string) as string).split(' ');
  const links = Number(cur[3]) - 1;
  if (links === 0) next.delete(n.ino as string);
  else next.set(n.ino as string, [cur[0], cur[1], cur[2], String(links), ...cur.slice(4)].join(' '));
}

function inGroup(c: NsCreds, gid: number): boolean {
  return c.gid === gid || c.groups.includes(gid);
}

/** POSIX access: root may do all but execute a file no one may; else owner, group, other bits. */
function may(n: Node, c: NsCreds, want: number): boolean {
  if (c.uid === 0) return (want & 1) === 0 || n.kind === 'dir' || (n.mode & 0o111) !== 0;
  const bits = c.uid === n.uid ? n.mode >> 6 : inGroup(c, n.gid) ? n.mode >> 3 : n.mode;
  return (bits & want & 7) === want;
}

function need(n: Node, c: NsCreds, want: number): void {
  if (!may(n, c, want)) throw new Fail('EACCES');
}

/** The names directly inside `dir`, with kinds, sorted in code-unit order. */
function listing(state: NsState, dir: string): Array<{ name: string; kind: NodeKind }> {
  const out: Array<{ name: string; kind: NodeKind }> = [];
  const prefix = dir === '/' ? '/' : dir + '/';
  for (const [p, v] of state) {
    if (isPath(p) && p.length > prefix.length && p.startsWith(prefix) && p.indexOf('/', prefix.length) < 0) out.push({ name: p.slice(prefix.length), kind: v.split(' ')[0] as NodeKind });
  }
  return out.sort((a, b) => cmp(a.name, b.name));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function hasChildren(state: NsState, dir: string): boolean {
  const prefix = dir === '/' ? '/' : dir + '/';
  for (const p of state.keys()) if (isPath(p) && p.length > prefix.length && p.startsWith(prefix)) return true;
  return false;
}

/** A sequential interpreter with Namespace's exact rules (for root `root`), POSIX included. */
export class NsSpec {
  readonly root: string;
  private readonly rootSegs: readonly string[];
  private readonly otherRoots: readonly string[];

  constructor(options: NamespaceModelOptions = {}) {
    this.root = options.root ?? '/';
    this.rootSegs = parsePath(this.root);
    this.otherRoots = [...(options.otherRoots ?? [])].filter((r) => r !== this.root);
  }

  initial(): NsState {
    const state = new Map<string, string>([[this.root, 'dir 493 0 0']]);
    for (const r of this.otherRoots) if (isWithin(r, this.root)) state.set(MOUNT + r, 'dir');
    return state;
  }

  /** Is `path` served by this ministry (not outside its root, not inside a live mount)? */
  private serves(state: NsState, path: string): boolean {
    return isWithin(path, this.root) && !mounts(state).some((m) => m !== this.root && isWithin(path, m));
  }

  /** Does directory `dir` hold entries of this ministry (not only other ministries' roots and
   * what is below them: in a whole-namespace state those are there too)? */
  hasOwnChildren(state: NsState, dir: string): boolean {
    const others = mounts(state).filter((m) => m !== this.root && m !== dir && isWithin(m, dir));
    const prefix = dir === '/' ? '/' : dir + '/';
    for (const p of state.keys()) if (isPath(p) && p.length > prefix.length && p.startsWith(prefix) && !others.some((m) => isWithin(p, m))) return true;
    return false;
  }

  /** Apply `input` to `state` as Namespace would. */
  apply(state: NsState, input: NsInput): NsAnswer {
    try {
      return this.applyInner(state, input);
    } catch (e) {
      if (e instanceof Fail) return { state, ok: false, code: e.code };
      throw e;
    }
  }

  /** Path segments below the root: EINVAL if malformed, EXDEV if outside (Namespace.rel). */
  rel(path: string): string[] {
    let segs: string[];
    try {
      segs = parsePath(path);
    } catch {
      throw new Fail('EINVAL');
    }
    const r = this.rootSegs;
    if (segs.length < r.length || r.some((s, i) => segs[i] !== s)) throw new Fail('EXDEV');
    return segs.slice(r.length);
  }

  abs(rel: readonly string[]): string {
    return join([...this.rootSegs, ...rel]);
  }

  /** Namespace.resolveParent: search permission on each directory looked in, every ancestor
   * below the root must exist and be a directory. */
  resolveParent(state: NsState, rel: readonly string[], as: NsCreds): string {
    for (let i = 0; i < rel.length - 1; i++) {
      if (as.uid !== 0) need(nodeAt(state, this.abs(rel.slice(0, i))) as Node, as, 1);
      const n = nodeAt(state, this.abs(rel.slice(0, i + 1)));
      if (n === undefined) throw new Fail('ENOENT');
      if (n.kind !== 'dir') throw new Fail('ENOTDIR');
    }
    if (as.uid !== 0 && rel.length > 0) need(nodeAt(state, this.abs(rel.slice(0, -1))) as Node, as, 1);
    return this.abs(rel.slice(0, -1));
  }

  /** Namespace.resolve: the node at `rel`. */
  resolve(state: NsState, rel: readonly string[], as: NsCreds): Node {
    if (rel.length === 0) return nodeAt(state, this.root) as Node;
    this.resolveParent(state, rel, as);
    const n = nodeAt(state, this.abs(rel));
    if (n === undefined) throw new Fail('ENOENT');
    return n;
  }

  /** Write and search permission on the parent, and the sticky rule (EPERM). */
  mayRemove(state: NsState, parent: string, victim: Node, as: NsCreds): void {
    const dir = nodeAt(state, parent) as Node;
    need(dir, as, 3);
    if ((dir.mode & S_ISVTX) !== 0 && as.uid !== 0 && as.uid !== victim.uid && as.uid !== dir.uid) throw new Fail('EPERM');
  }

  /** The gid of a new node in `parent`, and whether a new directory inherits setgid. */
  private inherit(state: NsState, parent: string, as: NsCreds): { gid: number; sgid: boolean } {
    const p = nodeAt(state, parent) as Node;
    const sgid = (p.mode & S_ISGID) !== 0;
    return { gid: sgid ? p.gid : as.gid, sgid };
  }

  private stat(state: NsState, path: string, n: Node): NsStat {
    let nlink = n.nlink;
    if (n.kind === 'dir') {
      nlink = 2;
      // (Not other ministries' roots, which a whole-namespace state holds: not in this one.)
      for (const e of listing(state, path)) if (e.kind === 'dir' && !state.has(MOUNT + (path === '/' ? '' : path) + '/' + e.name)) nlink++;
    }
    return { kind: n.kind, mode: TYPE_BITS[n.kind] | n.mode, uid: n.uid, gid: n.gid, nlink };
  }

  private applyInner(state: NsState, input: NsInput): NsAnswer {
    const as = input.op === 'unmount' ? ROOT_CREDS : (input.as ?? ROOT_CREDS);
    switch (input.op) {
      case 'mkdir': {
        const rel = this.rel(input.path);
        const parents = input.parents === true;
        let i = 0;
        for (; i < rel.length; i++) {
          need(nodeAt(state, this.abs(rel.slice(0, i))) as Node, as, 1);
          const n = nodeAt(state, this.abs(rel.slice(0, i + 1)));
          if (n === undefined) break;
          if (i === rel.length - 1) {
            if (n.kind === 'dir' && parents) return { state, ok: true };
            throw new Fail('EEXIST');
          }
          if (n.kind !== 'dir') throw new Fail('ENOTDIR');
        }
        if (rel.length === 0) {
          if (parents) return { state, ok: true };
          throw new Fail('EEXIST');
        }
        if (i < rel.length - 1 && !parents) throw new Fail('ENOENT');
        need(nodeAt(state, this.abs(rel.slice(0, i))) as Node, as, 3);
        const next = new Map(state);
        for (; i < rel.length; i++) {
          const { gid, sgid } = this.inherit(next, this.abs(rel.slice(0, i)), as);
          const mode = (i === rel.length - 1 ? (input.mode ?? 0o755) : 0o755) | (sgid ? S_ISGID : 0);
          next.set(this.abs(rel.slice(0, i + 1)), `dir ${mode} ${as.uid} ${gid}`);
        }
        return { state: next, ok: true };
      }
      case 'create': {
        const rel = this.rel(input.path);
        const exclusive = input.exclusive !== false;
        if (rel.length === 0) throw new Fail(exclusive ? 'EEXIST' : 'EISDIR');
        const parent = this.resolveParent(state, rel, as);
        const path = this.abs(rel);
        const existing = nodeAt(state, path);
        if (existing !== undefined) {
          if (existing.kind === 'dir') throw new Fail(exclusive ? 'EEXIST' : 'EISDIR');
          if (exclusive) throw new Fail('EEXIST');
          return { state, ok: true };
        }
        need(nodeAt(state, parent) as Node, as, 3);
        const next = new Map(state);
        newInode(next, path, 'file', input.mode ?? 0o644, as.uid, this.inherit(state, parent, as).gid, '');
        return { state: next, ok: true };
      }
      case 'rm': {
        const rel = this.rel(input.path);
        const n = this.resolve(state, rel, as);
        if (n.kind === 'dir') throw new Fail('EISDIR');
        const parent = this.resolveParent(state, rel, as);
        this.mayRemove(state, parent, n, as);
        const next = new Map(state);
        unlink(next, state, this.abs(rel));
        next.delete(this.abs(rel));
        return { state: next, ok: true };
      }
      case 'rmdir': {
        // The minister's check before the namespace's (ministry-core.ts, change).
        const nested = nestedMounts(state, input.path);
        if (nested.length > 0 && input.recursive !== true) throw new Fail('ENOTEMPTY');
        const rel = this.rel(input.path);
        if (rel.length === 0) throw new Fail('EBUSY');
        const n = this.resolve(state, rel, as);
        if (n.kind !== 'dir') throw new Fail('ENOTDIR');
        const parent = this.resolveParent(state, rel, as);
        this.mayRemove(state, parent, n, as);
        const path = this.abs(rel);
        if (input.recursive !== true && hasChildren(state, path)) throw new Fail('ENOTEMPTY');
        const next = new Map(state);
        for (const p of state.keys()) {
          if (!isPath(p) || !isWithin(p, path)) continue;
          unlink(next, next, p);
          next.delete(p);
        }
        // The subtree delete dissolved the ministries below.
        for (const m of nested) next.delete(MOUNT + m);
        return { state: next, ok: true };
      }
      case 'rename':
        return this.rename(state, input.from, input.to, as);
      case 'ls': {
        const rel = this.rel(input.path);
        const n = this.resolve(state, rel, as);
        if (n.kind !== 'dir') throw new Fail('ENOTDIR');
        need(n, as, 4);
        const path = this.abs(rel);
        const entries = listing(state, path);
        const extra = mounts(state).filter((r) => r !== path && isAncestor(path, r) && r.indexOf('/', path === '/' ? 1 : path.length + 1) < 0);
        if (extra.length === 0) return { state, ok: true, value: entries };
        const byName = new Map(entries.map((e) => [e.name, e.kind] as const));
        for (const r of extra) byName.set(r.slice(r.lastIndexOf('/') + 1), 'dir');
        const merged = [...byName].map(([name, kind]) => ({ name, kind })).sort((a, b) => cmp(a.name, b.name));
        return { state, ok: true, value: merged };
      }
      case 'stat': {
        const rel = this.rel(input.path);
        return { state, ok: true, value: this.stat(state, this.abs(rel), this.resolve(state, rel, as)) };
      }
      case 'readlink': {
        const n = this.resolve(state, this.rel(input.path), as);
        if (n.kind !== 'symlink') throw new Fail('EINVAL');
        return { state, ok: true, value: n.target };
      }
      case 'chmod': {
        const rel = this.rel(input.path);
        const n = this.resolve(state, rel, as);
        if (as.uid !== 0 && as.uid !== n.uid) throw new Fail('EPERM');
        if (input.mode < 0 || input.mode > 0o7777) throw new Fail('EINVAL');
        let mode = input.mode;
        if (as.uid !== 0 && n.kind !== 'dir' && !inGroup(as, n.gid)) mode &= ~S_ISGID;
        const next = new Map(state);
        putNode(next, this.abs(rel), { ...n, mode });
        return { state: next, ok: true };
      }
      case 'chown': {
        const rel = this.rel(input.path);
        const n = this.resolve(state, rel, as);
        const { uid, gid } = input;
        if (as.uid !== 0) {
          if (as.uid !== n.uid) throw new Fail('EPERM');
          if (uid !== -1 && uid !== n.uid) throw new Fail('EPERM');
          if (gid !== -1 && gid !== n.gid && !inGroup(as, gid)) throw new Fail('EPERM');
        }
        if (uid === -1 && gid === -1) return { state, ok: true };
        let mode = n.mode;
        if (n.kind !== 'dir') {
          mode &= ~S_ISUID;
          if ((mode & 0o010) !== 0) mode &= ~S_ISGID;
        }
        const next = new Map(state);
        putNode(next, this.abs(rel), { ...n, mode, uid: uid === -1 ? n.uid : uid, gid: gid === -1 ? n.gid : gid });
        return { state: next, ok: true };
      }
      case 'utimens': {
        const n = this.resolve(state, this.rel(input.path), as);
        if (as.uid !== 0 && as.uid !== n.uid) {
          if (input.explicit) throw new Fail('EPERM');
          need(n, as, 2);
        }
        return { state, ok: true };
      }
      case 'symlink': {
        const rel = this.rel(input.path);
        if (input.target === '') throw new Fail('ENOENT');
        if (rel.length === 0) throw new Fail('EEXIST');
        const parent = this.resolveParent(state, rel, as);
        if (nodeAt(state, this.abs(rel)) !== undefined) throw new Fail('EEXIST');
        need(nodeAt(state, parent) as Node, as, 3);
        const next = new Map(state);
        newInode(next, this.abs(rel), 'symlink', 0o777, as.uid, this.inherit(state, parent, as).gid, input.target);
        return { state: next, ok: true };
      }
      case 'mknod': {
        // As create (search, EEXIST, write on the parent), then a device needs root.
        const rel = this.rel(input.path);
        if (rel.length === 0) throw new Fail('EEXIST');
        const parent = this.resolveParent(state, rel, as);
        if (nodeAt(state, this.abs(rel)) !== undefined) throw new Fail('EEXIST');
        need(nodeAt(state, parent) as Node, as, 3);
        if ((input.kind === 'chardev' || input.kind === 'blockdev') && as.uid !== 0) throw new Fail('EPERM');
        const next = new Map(state);
        newInode(next, this.abs(rel), input.kind, input.mode ?? 0o644, as.uid, this.inherit(state, parent, as).gid, '');
        return { state: next, ok: true };
      }
      case 'link': {
        // The minister's check (ministry-core.ts): the new name in another ministry.
        if (wellFormed(input.from) && wellFormed(input.to) && !this.serves(state, input.to)) throw new Fail('EXDEV');
        const fromRel = this.rel(input.from);
        const toRel = this.rel(input.to);
        const src = this.resolve(state, fromRel, as);
        if (toRel.length === 0) throw new Fail('EEXIST');
        const parent = this.resolveParent(state, toRel, as);
        const to = this.abs(toRel);
        if (nodeAt(state, to) !== undefined) throw new Fail('EEXIST');
        if (src.kind === 'dir') throw new Fail('EPERM');
        need(nodeAt(state, parent) as Node, as, 3);
        const next = new Map(state);
        next.set(to, `${src.kind} ${src.ino as string}`);
        putNode(next, to, { ...src, nlink: src.nlink + 1 });
        return { state: next, ok: true };
      }
      case 'unmount': {
        const next = new Map(state);
        next.delete(MOUNT + input.path);
        return { state: next, ok: true };
      }
    }
  }

  private rename(state: NsState, fromPath: string, toPath: string, as: NsCreds): NsAnswer {
    // The minister's checks before the namespace's (ministry-core.ts, change): the target in
    // another ministry, or a source holding another ministry's root.
    // (Only for well-formed paths: the client refuses malformed ones before sending.)
    if (wellFormed(fromPath) && wellFormed(toPath)) {
      if (!this.serves(state, toPath)) throw new Fail('EXDEV');
      if (nestedMounts(state, fromPath).length > 0) throw new Fail('EXDEV');
    }
    const fromRel = this.rel(fromPath);
    const toRel = this.rel(toPath);
    const src = this.resolve(state, fromRel, as);
    if (fromRel.length === 0) throw new Fail('EBUSY');
    if (toRel.length === 0) throw new Fail('EBUSY');
    const dstParent = this.resolveParent(state, toRel, as);
    const from = this.abs(fromRel);
    const to = this.abs(toRel);
    if (from === to) return { state, ok: true };
    if (src.kind === 'dir' && isAncestor(from, to)) throw new Fail('EINVAL');
    const dst = nodeAt(state, to);
    // Two links of one file: nothing to do.
    if (dst !== undefined && dst.ino !== undefined && dst.ino === src.ino) return { state, ok: true };
    const srcParent = this.resolveParent(state, fromRel, as);
    this.mayRemove(state, srcParent, src, as);
    if (dst !== undefined) this.mayRemove(state, dstParent, dst, as);
    else need(nodeAt(state, dstParent) as Node, as, 3);
    if (dst !== undefined) {
      if (src.kind !== 'dir' && dst.kind === 'dir') throw new Fail('EISDIR');
      if (src.kind === 'dir' && dst.kind !== 'dir') throw new Fail('ENOTDIR');
      if (dst.kind === 'dir' && this.hasOwnChildren(state, to)) throw new Fail('ENOTEMPTY');
    }
    if (src.kind === 'dir' && srcParent !== dstParent) need(src, as, 2);
    return { state: move(state, from, to), ok: true };
  }
}

/**
 * ONE model of the whole namespace, every ministry's tree in one state: an operation is
 * answered by the ministry serving its path (the longest live subtree holding it) with that
 * ministry's rules (NsSpec), and a rename whose two names two ministries serve is one atomic
 * step, with the checks of the two-phase commit in its order (src/actors/rename-ledger.ts,
 * src/fs/namespace-xrename.ts), with the caller's credentials at both ends: the minister's (a
 * source holding another ministry's root: EXDEV), the source's (search permission on from's
 * path, ENOENT, ENOTDIR, EBUSY for its root, write and search on its parent and the sticky
 * rule, write on a moved directory, EXDEV for a file with hard links outside the moved tree),
 * then the target's (EBUSY for its root, search on to's path, ENOENT, ENOTDIR, write and search
 * on its parent, the sticky rule for a replaced entry, and what the name may replace: EISDIR,
 * ENOTDIR, ENOTEMPTY). The moved nodes keep their attributes and the links among them.
 * `unmount` (a subtree delete dissolving a ministry) drops it with everything below it: the
 * ministry above, which serves those paths from then on, has nothing there.
 */
export class WholeNsSpec {
  private readonly specs = new Map<string, NsSpec>();

  constructor(readonly subtrees: readonly string[]) {}

  initial(): NsState {
    // (A ministry's root is made by its Namespace: 0755, root's.)
    const state = new Map<string, string>([['/', 'dir 493 0 0']]);
    for (const s of this.subtrees) if (s !== '/') state.set(s, 'dir 493 0 0').set(MOUNT + s, 'dir');
    return state;
  }

  /** The ministry serving `path` now. */
  servingRoot(state: NsState, path: string): string {
    let best = '/';
    for (const m of mounts(state)) if (m.length > best.length && isWithin(path, m)) best = m;
    return best;
  }

  private spec(root: string): NsSpec {
    let s = this.specs.get(root);
    if (!s) this.specs.set(root, (s = new NsSpec({ root, otherRoots: this.subtrees })));
    return s;
  }

  apply(state: NsState, input: NsInput): NsAnswer {
    if (input.op === 'unmount') {
      if (!state.has(MOUNT + input.path)) return { state, ok: true };
      const next = new Map(state);
      next.delete(MOUNT + input.path);
      for (const p of state.keys()) {
        if (!isPath(p) || !isWithin(p, input.path)) continue;
        unlink(next, next, p);
        next.delete(p);
      }
      return { state: next, ok: true };
    }
    if (input.op === 'rename' && wellFormed(input.from) && wellFormed(input.to)) {
      const source = this.servingRoot(state, input.from);
      const target = this.servingRoot(state, input.to);
      if (source !== target) {
        try {
          return this.crossRename(state, input.from, input.to, input.as ?? ROOT_CREDS, this.spec(source), this.spec(target));
        } catch (e) {
          if (e instanceof Fail) return { state, ok: false, code: e.code };
          throw e;
        }
      }
    }
    const path = opPath(input);
    return this.spec(wellFormed(path) ? this.servingRoot(state, path) : '/').apply(state, input);
  }

  private crossRename(state: NsState, from: string, to: string, as: NsCreds, source: NsSpec, target: NsSpec): NsAnswer {
    if (nestedMounts(state, from).length > 0) throw new Fail('EXDEV');
    // The source (exportTree).
    const fromRel = source.rel(from);
    const src = source.resolve(state, fromRel, as);
    if (fromRel.length === 0) throw new Fail('EBUSY');
    source.mayRemove(state, source.resolveParent(state, fromRel, as), src, as);
    if (src.kind === 'dir') need(src, as, 2);
    const inside = new Map<string, number>();
    for (const p of state.keys()) {
      if (!isPath(p) || !isWithin(p, from)) continue;
      const n = nodeAt(state, p) as Node;
      if (n.ino !== undefined) inside.set(n.ino, (inside.get(n.ino) ?? 0) + 1);
    }
    for (const [ino, count] of inside) if (Number((state.get(ino) as string).split(' ')[3]) > count) throw new Fail('EXDEV');
    // The target (graftCheck).
    const toRel = target.rel(to);
    if (toRel.length === 0) throw new Fail('EBUSY');
    const parent = target.resolveParent(state, toRel, as);
    const dst = nodeAt(state, to);
    if (dst !== undefined) target.mayRemove(state, parent, dst, as);
    else need(nodeAt(state, parent) as Node, as, 3);
    if (dst !== undefined) {
      if (src.kind !== 'dir' && dst.kind === 'dir') throw new Fail('EISDIR');
      if (src.kind === 'dir' && dst.kind !== 'dir') throw new Fail('ENOTDIR');
      if (dst.kind === 'dir' && target.hasOwnChildren(state, to)) throw new Fail('ENOTEMPTY');
    }
    return { state: move(state, from, to), ok: true };
  }
}

/** `from` (and all below it) becomes `to`, replacing it (one link of it goes). Inodes keep
 * their keys: links among the moved names stay links. */
function move(state: NsState, from: string, to: string): NsState {
  const next = new Map(state);
  if (state.has(to)) unlink(next, state, to);
  next.delete(to);
  const moved: Array<[string, string]> = [];
  for (const [p, v] of state) {
    if (isPath(p) && isWithin(p, from)) {
      next.delete(p);
      moved.push([to + p.slice(from.length), v]);
    }
  }
  for (const [p, v] of moved) next.set(p, v);
  return next;
}

/** Does the observed value of a successful read agree with the expected one? A stat may be
 * observed as a kind or as an object, whose mode, uid, gid and nlink are compared when given. */
function sameValue(input: NsInput, expected: NsAnswer & { ok: true }, observed: unknown): boolean {
  if (observed === undefined) return true;
  if (input.op === 'stat') {
    const want = expected.value as NsStat;
    if (typeof observed !== 'object' || observed === null) return observed === want.kind;
    const o = observed as Partial<NsStat>;
    return (['kind', 'mode', 'uid', 'gid', 'nlink'] as const).every((k) => o[k] === undefined || o[k] === want[k]);
  }
  if (input.op === 'readlink') return observed === expected.value;
  if (input.op === 'ls') {
    if (!Array.isArray(observed)) return false;
    const want = expected.value as Array<{ name: string; kind: NodeKind }>;
    if (observed.length !== want.length) return false;
    const got: Array<{ name: string; kind?: unknown }> = observed.map((x: unknown) =>
      typeof x === 'string' ? { name: x } : { name: String((x as { name?: unknown }).name), kind: (x as { kind?: unknown }).kind },
    );
    got.sort((a, b) => cmp(a.name, b.name));
    return got.every((g, i) => g.name === want[i]?.name && (g.kind === undefined || g.kind === want[i]?.kind));
  }
  return true;
}

/** The tree as a reader sees it: paths (directories with a trailing /), mounts named. */
function shown(state: NsState): string[] {
  return [...state]
    .filter(([p]) => isPath(p) || p.startsWith(MOUNT))
    .sort((a, b) => cmp(a[0], b[0]))
    .map(([p, v]) => (p.startsWith(MOUNT) ? `${p} (another ministry)` : v.startsWith('dir') && p !== '/' ? p + '/' : p));
}

function canonical(state: NsState): string {
  // Inode numbers are never observed: number them by the first path that links to each.
  const paths: Array<[string, string]> = [];
  const rest: string[] = [];
  for (const e of state) {
    const k = e[0];
    if (isPath(k)) paths.push(e);
    else if (k.startsWith(MOUNT)) rest.push(`${k} (another ministry)`);
  }
  paths.sort((a, b) => cmp(a[0], b[0]));
  const ino = new Map<string, number>();
  const out: string[] = [];
  for (const [p, v] of paths) {
    const sp = v.indexOf(' #');
    if (sp < 0 || v.startsWith('dir')) {
      out.push(`${p} ${v}`);
      continue;
    }
    const old = v.slice(sp + 1);
    let n = ino.get(old);
    if (n === undefined) {
      ino.set(old, (n = ino.size));
      out.push(`${p} ${v.slice(0, sp)} ${state.get(old) as string}`);
    } else out.push(`${p} ${v.slice(0, sp)} =${n}`);
  }
  rest.sort();
  return out.join('\n') + '\n' + rest.join('\n');
}

export function describeNsInput(input: NsInput): string {
  switch (input.op) {
    case 'mkdir':
      return `mkdir${input.parents === true ? ' -p' : ''} ${input.path}`;
    case 'create':
      return `create${input.exclusive === false ? ' (non-exclusive)' : ''} ${input.path}`;
    case 'rmdir':
      return `rmdir${input.recursive === true ? ' -r' : ''} ${input.path}`;
    case 'rename':
      return `rename ${input.from} -> ${input.to}`;
    case 'link':
      return `link ${input.from} -> ${input.to}`;
    case 'unmount':
      return `(subtree delete dissolves the ministry at ${input.path})`;
    default:
      return `${input.op} ${input.path}`;
  }
}

export function describeNsOutput(output: NsOutput): string {
  if (!output.ok) return output.code;
  if (output.value === undefined) return 'ok';
  return `ok ${JSON.stringify(output.value)}`;
}

/** The linearizability model of one ministry's namespace (see the header). */
export function namespaceModel(options: NamespaceModelOptions = {}): Model<NsState, NsInput, NsOutput> {
  return modelOf(new NsSpec(options));
}

/** The linearizability model of the whole namespace, every ministry in one state (WholeNsSpec). */
export function wholeNamespaceModel(subtrees: readonly string[]): Model<NsState, NsInput, NsOutput> {
  return modelOf(new WholeNsSpec(subtrees));
}

function modelOf(spec: { initial(): NsState; apply(state: NsState, input: NsInput): NsAnswer }): Model<NsState, NsInput, NsOutput> {
  const hashes = new WeakMap<NsState, string>();
  return {
    init: () => spec.initial(),
    step(state, input, output) {
      const a = spec.apply(state, input);
      if (!a.ok) return { ok: !output.ok && output.code === a.code, state };
      if (!output.ok) return { ok: false, state };
      return { ok: sameValue(input, a, output.value), state: a.state };
    },
    stepUnknown: (state, input) => spec.apply(state, input).state,
    hash(state) {
      let h = hashes.get(state);
      if (h === undefined) {
        h = canonical(state);
        hashes.set(state, h);
      }
      return h;
    },
    describe: (state) => `{ ${shown(state).join(', ')} }`,
    describeOperation: (input, output) => `${describeNsInput(input)} => ${describeNsOutput(output)}`,
    explain(state, input) {
      const a = spec.apply(state, input);
      if (!a.ok) return `the model answers ${a.code}`;
      if (a.value === undefined) return 'the model answers ok';
      const value = Array.isArray(a.value) ? a.value.map((e) => e.name) : a.value;
      return `the model answers ok ${JSON.stringify(value)}`;
    },
  };
}

/** The path that decides which ministry serves an operation (a rename's or link's `from`). */
export function opPath(input: NsInput): string {
  return input.op === 'rename' || input.op === 'link' ? input.from : input.path;
}

/** The ministry (subtree root) serving `path`: the longest subtree root it lies within. */
export function ministryOf(path: string, subtrees: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const s of subtrees) if (isWithin(path, s) && (best === undefined || s.length > best.length)) best = s;
  return best;
}

/** The ministries an `rmdir -r` of `path` dissolves: those rooted strictly inside it, other
 * than the one serving it. */
function dissolvedBy(path: string, subtrees: readonly string[]): string[] {
  const serving = ministryOf(path, subtrees);
  return subtrees.filter((s) => s !== path && s !== serving && isWithin(s, path));
}

/**
 * Split a history by the ministry serving each operation (longest subtree prefix of its path;
 * a rename's `from`): one part per entry of `subtrees`, in that order (possibly empty). The
 * parts are independent (P-compositionality): each ministry is its own linearizable object.
 * Throws for an operation that no subtree serves.
 *
 * A ministry can be dissolved by a subtree delete: an `rmdir` with `recursive` of a directory
 * strictly above its root, served by another ministry. From then on its paths are served by
 * the ministry above it. So for a subtree S, with T0 the first call of such an rmdir and T1
 * the first return of one that succeeded, an operation on a path in S is
 *   - in S's part if it returned before T0 (S certainly served it), or if its outcome is
 *     unknown and it was called before T0 (it may have applied in S);
 *   - in the part of the ministry above S if it was called after T1 (S was gone), or if its
 *     outcome is unknown and it was called after T0 (a retry may have reached the ministry
 *     above once S was dissolved; such an operation is optional, so adding it is sound);
 *   - otherwise (a known outcome overlapping [T0, T1]: S may have served it, its effect then
 *     deleted with S, or the ministry above once S was gone) in both parts as an operation of
 *     unknown outcome (sound: it may apply, with any answer, or not), and listed in
 *     `unchecked` since its answer is checked against neither model.
 * Only one level of dissolution is followed: the ministry above S is taken as never dissolved
 * while it serves S's paths.
 */
export function splitByMinistry(history: readonly NsOperation[], subtrees: readonly string[], survivors?: readonly string[]): { parts: NsOperation[][]; unchecked: NsOperation[] } {
  const parts = subtrees.map((): NsOperation[] => []);
  const unchecked: NsOperation[] = [];
  const index = new Map(subtrees.map((s, i) => [s, i] as const));
  const windows = new Map<string, { t0: number; t1: number }>();
  // Ministries known to have lived through the run: no subtree delete dissolved them, so an
  // rmdir -r holding one did not happen (it dissolves before it removes); one whose outcome
  // the client does not know is dropped, and nothing overlaps a delete of them.
  const lived = new Set(survivors ?? []);
  if (lived.size > 0) {
    history = history.filter((op) => {
      const i = op.input;
      if (i.op !== 'rmdir' || i.recursive !== true || op.ret !== Infinity) return true;
      if (!dissolvedBy(i.path, subtrees).some((s) => lived.has(s))) return true;
      unchecked.push(op);
      return false;
    });
  }
  for (const s of subtrees) {
    if (lived.has(s)) {
      windows.set(s, { t0: Infinity, t1: Infinity });
      continue;
    }
    let t0 = Infinity;
    let t1 = Infinity;
    for (const op of history) {
      const i = op.input;
      if (i.op !== 'rmdir' || i.recursive !== true || !dissolvedBy(i.path, subtrees).includes(s)) continue;
      t0 = Math.min(t0, op.call);
      if (op.output.ok && op.ret !== Infinity) t1 = Math.min(t1, op.ret);
    }
    windows.set(s, { t0, t1 });
  }
  const put = (m: string | undefined, op: NsOperation): void => {
    if (m === undefined) throw new Error(`partitionByMinistry: no ministry serves ${opPath(op.input)} (subtrees: ${subtrees.join(', ')})`);
    (parts[index.get(m) as number] as NsOperation[]).push(op);
  };
  for (const op of history) {
    const path = opPath(op.input);
    const m = ministryOf(path, subtrees);
    const w = m === undefined ? undefined : windows.get(m);
    if (m === undefined || w === undefined || w.t0 === Infinity) {
      put(m, op);
      continue;
    }
    const above = ministryOf(path, subtrees.filter((s) => s !== m));
    const unknown = op.ret === Infinity;
    if (unknown) {
      if (op.call < w.t0) put(m, op);
      if (above !== undefined) put(above, op);
    } else if (op.ret < w.t0) put(m, op);
    else if (op.call > w.t1 && above !== undefined) put(above, op);
    else {
      // Overlapping the delete: it took effect in this ministry (and was then deleted with
      // it), or in the one above after the dissolution, or (failed) nowhere. Each side sees
      // it as an operation whose outcome it does not know. A read with an unknown outcome
      // constrains nothing and only widens the search: it is left out.
      unchecked.push(op);
      if (op.input.op === 'ls' || op.input.op === 'stat' || op.input.op === 'readlink') continue;
      const maybe: NsOperation = { ...op, ret: Infinity };
      put(m, maybe);
      if (above !== undefined) put(above, maybe);
    }
  }
  // Each ministry a (maybe) successful rmdir -r dissolves vanishes from the parent's listings
  // before the directory goes (thesis Figure 9): a step of its own within the rmdir's window.
  for (const op of history) {
    const i = op.input;
    if (i.op !== 'rmdir' || i.recursive !== true || (!op.output.ok && op.ret !== Infinity)) continue;
    const m = ministryOf(i.path, subtrees);
    if (m === undefined || m === i.path) continue;
    for (const s of dissolvedBy(i.path, subtrees)) {
      if (lived.has(s)) continue;
      put(m, { client: op.client, input: { op: 'unmount', path: s }, output: { ok: true }, call: op.call, ret: op.ret });
    }
  }
  return { parts, unchecked };
}

/** splitByMinistry's parts (see there). */
export function partitionByMinistry(history: readonly NsOperation[], subtrees: readonly string[]): NsOperation[][] {
  return splitByMinistry(history, subtrees).parts;
}

/**
 * Check a multi-ministry history: each ministry's part against namespaceModel({ root,
 * otherRoots }). The first failing (or timed-out) part decides; `ministry` names it.
 */
export function checkNamespaceByMinistry(
  history: readonly NsOperation[],
  subtrees: readonly string[],
  opts: CheckOptions & { survivors?: readonly string[] } = {},
): CheckResult<NsState, NsInput, NsOutput> & { ministry?: string; unchecked?: number } {
  const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
  const { parts, unchecked } = splitByMinistry(history, subtrees, opts.survivors);
  for (let i = 0; i < parts.length; i++) {
    const root = subtrees[i] as string;
    const left = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
    const r = checkLinearizable(namespaceModel({ root, otherRoots: subtrees }), parts[i] as NsOperation[], left === undefined ? {} : { timeoutMs: left });
    if (r.ok !== true) return r.ok === false ? { ...r, reason: `ministry ${root}: ${r.reason}`, ministry: root } : { ...r, ministry: root };
  }
  return { ok: true, unchecked: unchecked.length };
}

/**
 * Check a multi-ministry history against ONE model of the whole namespace (WholeNsSpec): a
 * rename across ministries is one atomic step. Subtree deletes as in splitByMinistry: an
 * `unmount` per ministry a (maybe) successful `rmdir -r` dissolves, within its call and return;
 * an unknown `rmdir -r` that would have dissolved a ministry that `survivors` says lived
 * through the run did not happen (counted in `unchecked`).
 */
export function checkWholeNamespace(
  history: readonly NsOperation[],
  subtrees: readonly string[],
  opts: CheckOptions & { survivors?: readonly string[] } = {},
): CheckResult<NsState, NsInput, NsOutput> & { unchecked?: number } {
  const lived = new Set(opts.survivors ?? []);
  let unchecked = 0;
  const ops: NsOperation[] = [];
  // A subtree delete's window per dissolved ministry (splitByMinistry's T0 and T1): an operation
  // on its paths overlapping it may have been served by it (and its completion record deleted
  // with it: a retry is answered afresh by the ministry above) or by the one above. Its answer
  // is checked against neither: a change counts as of unknown outcome, a read is left out.
  const windows: { s: string; t0: number; t1: number }[] = [];
  for (const s of subtrees) {
    if (s === '/' || lived.has(s)) continue;
    let t0 = Infinity;
    let t1 = Infinity;
    for (const op of history) {
      const i = op.input;
      if (i.op !== 'rmdir' || i.recursive !== true || !dissolvedBy(i.path, subtrees).includes(s)) continue;
      t0 = Math.min(t0, op.call);
      if (op.output.ok && op.ret !== Infinity) t1 = Math.min(t1, op.ret);
    }
    if (t0 !== Infinity) windows.push({ s, t0, t1 });
  }
  for (let op of history) {
    const i = op.input;
    const deletes = i.op === 'rmdir' && i.recursive === true ? dissolvedBy(i.path, subtrees) : [];
    if (deletes.length > 0 && op.ret === Infinity && deletes.some((s) => lived.has(s))) {
      unchecked++;
      continue;
    }
    const paths = 'from' in i ? [i.from, i.to] : [i.path];
    const overlapping = windows.some((w) => op.ret >= w.t0 && op.call <= w.t1 && paths.some((p) => isWithin(p, w.s)));
    if (overlapping && op.ret !== Infinity) {
      unchecked++;
      if (i.op === 'ls' || i.op === 'stat' || i.op === 'readlink') continue;
      op = { ...op, ret: Infinity };
    }
    // The client keeps its session (read-your-writes, monotonic reads) per ministry, as the
    // per-ministry check sees it: a plain read need not show what the client saw or changed in
    // another ministry (seed 1022 of the cluster sim: a stale clerk of /d/m after a create in /a).
    ops.push({ ...op, sessionScope: paths.map((p) => ministryOf(p, subtrees) ?? '/') });
    if (i.op !== 'rmdir' || (!op.output.ok && op.ret !== Infinity)) continue;
    for (const s of deletes) if (!lived.has(s)) ops.push({ client: op.client, input: { op: 'unmount', path: s }, output: { ok: true }, call: op.call, ret: op.ret, sessionScope: [s] });
  }
  const r = checkLinearizable(wholeNamespaceModel(subtrees), ops, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
  return r.ok === true ? { ...r, unchecked } : r;
}
