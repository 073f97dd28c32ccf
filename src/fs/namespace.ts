// The replicated namespace of ONE ministry: the directory tree of its subtree (rooted at
// `root`, e.g. '/' or '/a') plus the exactly-once client table, as a deterministic state
// machine. Every replica applies the same log entries (Ops) in the same order and ends in the
// same state with the same snapshot bytes.
//
// Rules, in short:
//   - Every mutation is an `Op`: plain JSON, carrying the time `now` (ms) chosen once by the
//     proposer (e.g. the minister's clock when it stamped the log entry), never read locally.
//   - `apply(op)` never throws for file-system errors or malformed ops: it returns
//     `{ ok: false, error: { code, message, path } }`, identically on every replica. Results
//     are frozen plain objects, safe to keep, to snapshot and to send.
//   - Reads (`ls`, `stat`, `exists`) are methods that throw FsError (they are not replicated).
//   - Paths are canonical absolute paths (see path.ts). A path outside `root` is answered
//     with EXDEV "not in this ministry", for reads and writes alike: the caller should route it
//     to the ministry owning it (SubtreeMap.lookup). A rename with either end outside `root`
//     is EXDEV too (across ministries: two halves, namespace-xrename.ts, rename-ledger.ts).
//   - The namespace knows nothing of other ministries. The caller (minister/clerk) must
//       * merge subtree roots of other ministries into listings: mergeListing(ns.ls(p),
//         map.childrenRoots(p)), so such a root appears as a directory;
//       * refuse (EXDEV) a rename whose source directory contains another ministry's root,
//         carry one whose target is in another ministry as two halves, and route an rmdir
//         spanning other ministries through the president's subtree delete. For the ministry
//         keeping the removed directory, the subtree delete is an rmdir with recursive: true.
//   - The root of the ministry always exists and cannot be removed or renamed (EBUSY).
//
// Versions: the namespace has a global `version`, +1 for every op that changes the tree. An
// inode's `version` is the global version of its last change, so it increases with every
// change to that inode and orders changes across inodes. A directory changes when an entry is
// added to or removed from it. Ops that change nothing (mkdir -p of an existing directory,
// create with exclusive: false of an existing file, rename of a path onto itself or onto
// another link of the same file, chown -1 -1) and client-table ops (ack, expireClients) do not
// bump versions.
//
// Times: btime = creation (ms), mtime = last change of content (a file's size, a directory's
// entries), ctime = last change of the inode (content or metadata, including being renamed or
// linked), atime = set by utimens only (as a noatime mount), as in POSIX, in nanoseconds from
// the entry's `now`. A directory's `size` is its number of entries.
//
// POSIX attributes (issue 18; access.ts, namespace-posix.ts): mode, uid, gid, link count;
// symlinks (never followed here: the kernel above a mount resolves them) and hard links within
// the ministry. A client op carries its caller's credentials (`as`, root when absent), and every
// op checks them as POSIX does (search permission on each directory of the path below the
// ministry's root, write permission on the parent, the sticky bit, owner-or-root rules): EACCES
// or EPERM. System ops (unsessioned) run as root.
//
// Exactly-once (RIFL): a client mutation is wrapped as { op: 'client', clientId, seq, acked,
// now, body }. A client numbers its requests with increasing `seq` (gaps allowed: one counter
// shared across ministries) and may have several in flight at once; `acked` says that every
// request of this client up to `acked` has its answer (or was given up). The table keeps one
// completion record per client, { acked, results, lastSeen }:
//   - `acked` rises to the highest the client sent; saved results at or below it are dropped.
//   - seq <= acked: ESTALE, never applied (a delayed duplicate of an answered request).
//   - seq with a saved result: return it, do not apply again.
//   - otherwise: apply and save the result (errors included).
//   - { op: 'ack', clientId, seq, now }: the same as `acked = seq` without a request.
//     With close: true the client ends its session and the whole record goes.
//   - { op: 'expireClients', now, ttlMs }: drop records with lastSeen + ttlMs <= now.
//     Any request or ack of a client refreshes lastSeen. A client whose record expired must
//     not retry with the same id (it would be taken as new); the session layer guarantees this
//     by expiring records only after the client's session has lapsed (with a margin for clock
//     drift), and the client starts a new session, with a new id, when it finds its own lapsed.
// A record holds at most as many results as the client had requests in flight.
//
// Around it: inode.ts (the in-memory tree and client records), namespace-snapshot.ts (the
// snapshot codec: equal states, equal bytes) and op-check.ts (validation of the ops applied).

import { FsError, fsErrors } from './errors.js';
import { depthOf, formatPath, isAncestor, parsePath } from './path.js';
import { compareNames } from './subtree-map.js';
import { IntTable } from '../runtime/int-table.js';
import { deepFreeze, type ClientState, type INode } from './inode.js';
import { decodeNamespace, encodeNamespace, type NamespaceState } from './namespace-snapshot.js';
import { checkOp, finite } from './op-check.js';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, R_OK, ROOT, permits, S_ISGID, W_OK, X_OK, msToNs, requireAccess, requireStickyOwner, type Creds } from './access.js';
import { applyPosix, dirAccess, newNode, statOf, touch, type Tree } from './namespace-posix.js';
import { detach, exportTree, graft, graftCheck, notTooDeepBelow, type MovedNode } from './namespace-xrename.js';
import type { AckOp, ClientOp, ClientRecord, DirEntry, ExpireClientsOp, MutationOp, NodeKind, Op, OpFail, OpResult, Stat } from './ns-types.js';

export { checkOp } from './op-check.js';

export * from './ns-types.js';
export type { MovedNode } from './namespace-xrename.js';

// ---------------------------------------------------------------------------------------------

export class Namespace {
  readonly root: string;
  private readonly rootSegs: readonly string[];
  private rootNode: INode;
  private _version = 0;
  private nextIno = 2;
  private readonly clients = new Map<string, ClientState>();
  /** What the POSIX attribute operations (namespace-posix.ts) reach of this namespace. */
  private readonly tree: Tree = {
    rel: (op, path) => this.rel(op, path),
    abs: (rel) => this.abs(rel),
    resolveParent: (op, path, rel, as) => this.resolveParent(op, path, rel, as),
    resolve: (op, path, rel, as) => this.resolve(op, path, rel, as),
    bump: () => ++this._version,
    version: () => this._version,
    newIno: () => this.nextIno++,
  };

  /** A fresh namespace: only the (empty) root directory, created at `now`, mode 0755, root's. */
  constructor(root = '/', options: { now?: number } = {}) {
    this.rootSegs = parsePath(root);
    this.root = root;
    const now = finite(options.now ?? 0, 'now', 'namespace');
    this.rootNode = newNode(1, 'dir', now, 0, DEFAULT_DIR_MODE, ROOT.uid, ROOT.gid);
  }

  /** The global version: +1 for every op that changed the tree. */
  get version(): number {
    return this._version;
  }

  // --- reads (throw FsError; `as` needs search permission on the path's directories) --------

  stat(path: string, as: Creds = ROOT): Stat {
    return statOf(this.resolve('stat', path, this.rel('stat', path), as));
  }

  exists(path: string): boolean {
    try {
      this.stat(path);
      return true;
    } catch (e) {
      if (e instanceof FsError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return false;
      throw e;
    }
  }

  /** The version of directory `path`, which changes whenever its listing may (ENOENT, ENOTDIR,
   * EACCES as ls): versions come from one counter, so (path, version) names one listing. */
  listingVersion(path: string, as: Creds = ROOT): number {
    return this.listable(path, as).version;
  }

  /** Entries of a directory, sorted by name. ENOTDIR for a file; EACCES without read permission. */
  ls(path: string, as: Creds = ROOT): DirEntry[] {
    const node = this.listable(path, as);
    return [...(node.children as Map<string, INode>).entries()]
      .sort((a, b) => compareNames(a[0], b[0]))
      .map(([name, n]) => ({ name, kind: n.kind }));
  }

  /** May `as` access `path` for `want` (R_OK | W_OK | X_OK bits)? (Throws as stat.) */
  may(path: string, as: Creds, want: number): boolean {
    return permits(this.resolve('access', path, this.rel('access', path), as), as, want);
  }

  /** Would `rmdir -r path` by `as` succeed now (a directory, not the root, and `as` may
   * remove it)? Throws as stat. */
  mayRemoveDir(path: string, as: Creds): boolean {
    const rel = this.rel('rmdir', path);
    if (rel.length === 0) return false;
    const node = this.resolve('rmdir', path, rel, as);
    if (node.children === null) return false;
    this.mayRemove(this.resolveParent('rmdir', path, rel, as), node, as, 'rmdir', path, rel);
    return true;
  }

  /** A symlink's target. EINVAL for anything else (as readlink(2)). */
  readlink(path: string, as: Creds = ROOT): string {
    const node = this.resolve('readlink', path, this.rel('readlink', path), as);
    if (node.target === null) throw fsErrors.invalid('readlink', path, 'not a symbolic link');
    return node.target;
  }

  private listable(path: string, as: Creds): INode {
    const node = this.resolve('ls', path, this.rel('ls', path), as);
    if (node.children === null) throw fsErrors.notDir('ls', path);
    requireAccess(node, as, R_OK, 'ls', path, path);
    return node;
  }

  /** Every path in the namespace with its kind, depth first, sorted (root first). */
  paths(): Array<{ path: string; kind: NodeKind }> {
    const out: Array<{ path: string; kind: NodeKind }> = [];
    const visit = (segs: string[], node: INode) => {
      out.push({ path: formatPath(segs), kind: node.kind });
      if (node.children === null) return;
      for (const name of [...node.children.keys()].sort(compareNames)) visit([...segs, name], node.children.get(name) as INode);
    };
    visit([...this.rootSegs], this.rootNode);
    return out;
  }

  /** The completion record of a client, if any (a copy). */
  client(clientId: string): ClientRecord | undefined {
    const r = this.clients.get(clientId);
    return r === undefined ? undefined : { acked: r.acked, results: new Map(r.results.sortedEntries()), lastSeen: r.lastSeen };
  }

  /** The saved result of a client's request, if it applied and is not yet acknowledged. */
  savedResult(clientId: string, seq: number): OpResult | undefined {
    return this.clients.get(clientId)?.results.get(seq);
  }

  private _lastClientOutcome: 'new' | 'saved' | 'stale' | null = null;
  /** How the last applied op was taken, if it was a `client` op: applied as new, answered from
   * its saved result, or refused as stale (for the duplicate-apply check of the replicas). */
  get lastClientOutcome(): 'new' | 'saved' | 'stale' | null {
    return this._lastClientOutcome;
  }

  clientIds(): string[] {
    return [...this.clients.keys()].sort(compareNames);
  }

  // --- the state machine ---------------------------------------------------------------------

  /** Apply one log entry. Never throws for file-system errors or malformed input: returns
   * { ok: false, error } instead, the same on every replica. `own`: `op` is a decoder's fresh
   * object of exactly its type's fields, which checkOp may keep. */
  apply(op: Op, own = false): OpResult {
    this._lastClientOutcome = null;
    return deepFreeze(this.applyInner(op as unknown, own));
  }

  private applyInner(x: unknown, own: boolean): OpResult {
    let op: Op;
    try {
      op = checkOp(x, own);
    } catch (e) {
      return fail(e);
    }
    switch (op.op) {
      case 'client':
        return this.applyClient(op);
      case 'ack':
        return this.applyAck(op);
      case 'expireClients':
        return this.applyExpire(op);
      default:
        return this.applyMutation(op, op.now, ROOT);
    }
  }

  private applyClient(op: ClientOp): OpResult {
    let rec = this.clients.get(op.clientId);
    if (rec === undefined) {
      rec = { acked: 0, results: new IntTable(8), lastSeen: op.now };
      this.clients.set(op.clientId, rec);
    }
    rec.lastSeen = Math.max(rec.lastSeen, op.now);
    raiseAcked(rec, op.acked ?? 0);
    if (op.seq <= rec.acked) {
      this._lastClientOutcome = 'stale';
      return fail(
        fsErrors.stale(
          `request #${op.seq} of client ${op.clientId}`,
          undefined,
          `the client already has the answers of its requests up to #${rec.acked} (a delayed duplicate, or given up; not applied)`,
        ),
      );
    }
    const saved = rec.results.get(op.seq);
    if (saved !== undefined) {
      this._lastClientOutcome = 'saved';
      return saved;
    }
    // Saved as is: apply() freezes it before anyone sees it.
    const result = this.applyMutation(op.body, op.now, op.as ?? ROOT);
    rec.results.set(op.seq, result);
    this._lastClientOutcome = 'new';
    return result;
  }

  private applyAck(op: AckOp): OpResult {
    const rec = this.clients.get(op.clientId);
    if (rec !== undefined) {
      if (op.close === true) this.clients.delete(op.clientId);
      else {
        rec.lastSeen = Math.max(rec.lastSeen, op.now);
        raiseAcked(rec, op.seq);
      }
    }
    return { ok: true, op: 'ack', version: this._version };
  }

  private applyExpire(op: ExpireClientsOp): OpResult {
    const expired: string[] = [];
    for (const [id, rec] of this.clients) if (rec.lastSeen + op.ttlMs <= op.now) expired.push(id);
    expired.sort(compareNames);
    for (const id of expired) this.clients.delete(id);
    return { ok: true, op: 'expireClients', version: this._version, expired };
  }

  private applyMutation(op: MutationOp, now: number, as: Creds): OpResult {
    try {
      switch (op.op) {
        case 'mkdir':
          return this.mkdir(op.path, op.parents === true, op.mode ?? DEFAULT_DIR_MODE, now, as);
        case 'create':
          return this.create(op.path, op.exclusive !== false, op.mode ?? DEFAULT_FILE_MODE, now, as);
        case 'rm':
          return this.rm(op.path, now, as);
        case 'rmdir':
          return this.rmdir(op.path, op.recursive === true, now, as);
        case 'rename':
          return this.rename(op.from, op.to, now, as);
        case 'setSize':
          return this.setSize(op.path, op.size, now, as, op.extend === true);
        default:
          return applyPosix(this.tree, op, now, as);
      }
    } catch (e) {
      return fail(e);
    }
  }

  // Each mutation validates everything first (throwing FsError) and only then changes state,
  // so a failed op leaves no trace.

  private mkdir(path: string, parents: boolean, mode: number, now: number, as: Creds): OpResult {
    const rel = this.rel('mkdir', path);
    let node = this.rootNode;
    let i = 0;
    for (; i < rel.length; i++) {
      dirAccess(this.tree, node, as, X_OK, 'mkdir', path, rel, i);
      const child = (node.children as Map<string, INode>).get(rel[i] as string);
      if (child === undefined) break;
      if (i === rel.length - 1) {
        if (child.kind === 'dir' && parents) return { ok: true, op: 'mkdir', version: this._version, created: [] };
        throw child.kind === 'dir'
          ? fsErrors.exists('mkdir', path, 'it is a directory; use parents: true to accept an existing one')
          : fsErrors.exists('mkdir', path, `a ${child.kind === 'symlink' ? 'symbolic link' : child.kind} has that name`);
      }
      if (child.children === null) throw fsErrors.notDir('mkdir', path, this.abs(rel.slice(0, i + 1)));
      node = child;
    }
    if (rel.length === 0) {
      if (parents) return { ok: true, op: 'mkdir', version: this._version, created: [] };
      throw fsErrors.exists('mkdir', path, 'it is the root of this ministry');
    }
    if (i < rel.length - 1 && !parents)
      throw fsErrors.notFound('mkdir', path, this.abs(rel.slice(0, i + 1)), 'create it first or use parents: true');
    // Write permission on the deepest existing directory; the ones made below are the caller's.
    dirAccess(this.tree, node, as, W_OK | X_OK, 'mkdir', path, rel, i);
    const v = ++this._version;
    touch(node, now, v);
    const created: string[] = [];
    for (; i < rel.length; i++) {
      const dir = this.newChild(node, 'dir', i === rel.length - 1 ? mode : DEFAULT_DIR_MODE, now, v, as);
      (node.children as Map<string, INode>).set(rel[i] as string, dir);
      created.push(this.abs(rel.slice(0, i + 1)));
      node = dir;
    }
    return { ok: true, op: 'mkdir', version: v, created };
  }

  /** A new node in `parent`: the caller's uid; the parent's gid if it is setgid (a directory
   * then inherits setgid too), else the caller's gid. */
  private newChild(parent: INode, kind: NodeKind, mode: number, now: number, v: number, as: Creds): INode {
    const sgid = (parent.mode & S_ISGID) !== 0;
    const bits = kind === 'dir' && sgid ? mode | S_ISGID : mode;
    return newNode(this.nextIno++, kind, now, v, bits, as.uid, sgid ? parent.gid : as.gid);
  }

  private create(path: string, exclusive: boolean, mode: number, now: number, as: Creds): OpResult {
    const rel = this.rel('create', path);
    if (rel.length === 0)
      throw exclusive ? fsErrors.exists('create', path, 'it is the root of this ministry') : fsErrors.isDir('create', path, 'it is the root of this ministry');
    const parent = this.resolveParent('create', path, rel, as);
    const name = rel[rel.length - 1] as string;
    const existing = (parent.children as Map<string, INode>).get(name);
    if (existing !== undefined) {
      if (existing.kind === 'dir') throw exclusive ? fsErrors.exists('create', path, 'a directory has that name') : fsErrors.isDir('create', path, 'a directory has that name');
      if (exclusive) throw fsErrors.exists('create', path, 'use exclusive: false to accept an existing file');
      return { ok: true, op: 'create', version: this._version, created: false, stat: statOf(existing) };
    }
    dirAccess(this.tree, parent, as, W_OK | X_OK, 'create', path, rel, rel.length - 1);
    const v = ++this._version;
    const file = this.newChild(parent, 'file', mode, now, v, as);
    (parent.children as Map<string, INode>).set(name, file);
    touch(parent, now, v);
    // Frozen here (its stat is already): apply()'s deepFreeze then has nothing to walk.
    return Object.freeze({ ok: true, op: 'create', version: v, created: true, stat: statOf(file) });
  }

  /** Write and search permission on `parent`, and the sticky rule, to take `victim` out of it. */
  private mayRemove(parent: INode, victim: INode, as: Creds, op: string, path: string, rel: readonly string[]): void {
    dirAccess(this.tree, parent, as, W_OK | X_OK, op, path, rel, rel.length - 1);
    requireStickyOwner(parent, victim, as, op, path);
  }

  private rm(path: string, now: number, as: Creds): OpResult {
    const rel = this.rel('rm', path);
    const node = this.resolve('rm', path, rel, as);
    if (node.kind === 'dir') throw fsErrors.isDir('rm', path, 'use rmdir');
    const parent = this.resolveParent('rm', path, rel, as);
    this.mayRemove(parent, node, as, 'rm', path, rel);
    const v = ++this._version;
    (parent.children as Map<string, INode>).delete(rel[rel.length - 1] as string);
    unlinked(node, now, v);
    touch(parent, now, v);
    return { ok: true, op: 'rm', version: v };
  }

  private rmdir(path: string, recursive: boolean, now: number, as: Creds): OpResult {
    const rel = this.rel('rmdir', path);
    if (rel.length === 0)
      throw fsErrors.busy('rmdir', path, 'the root of a ministry cannot be removed (a whole subtree is deleted through the president)');
    const node = this.resolve('rmdir', path, rel, as);
    if (node.children === null) throw fsErrors.notDir('rmdir', path);
    const parent = this.resolveParent('rmdir', path, rel, as);
    this.mayRemove(parent, node, as, 'rmdir', path, rel);
    if (node.children.size > 0 && !recursive) throw fsErrors.notEmpty('rmdir', path);
    const v = ++this._version;
    const removed = dropTree(node, now, v);
    (parent.children as Map<string, INode>).delete(rel[rel.length - 1] as string);
    touch(parent, now, v);
    return { ok: true, op: 'rmdir', version: v, removed };
  }

  private rename(from: string, to: string, now: number, as: Creds): OpResult {
    const fromRel = this.rel('rename', from);
    const toRel = this.rel('rename', to);
    const op = `rename ${from} ->`;
    const src = this.resolve('rename', from, fromRel, as);
    if (fromRel.length === 0) throw fsErrors.busy('rename', from, 'the root of a ministry cannot be renamed');
    if (toRel.length === 0) throw fsErrors.busy(op, to, 'the root of a ministry cannot be replaced');
    const dstParent = this.resolveParent(op, to, toRel, as);
    if (from === to) return { ok: true, op: 'rename', version: this._version, replaced: false };
    if (src.kind === 'dir' && isAncestor(from, to)) throw fsErrors.invalid(op, to, 'cannot move a directory into itself');
    const toName = toRel[toRel.length - 1] as string;
    const dst = (dstParent.children as Map<string, INode>).get(toName);
    // Two links of one file: nothing to do (POSIX).
    if (dst === src) return { ok: true, op: 'rename', version: this._version, replaced: false };
    const srcParent = this.resolveParent('rename', from, fromRel, as);
    this.mayRemove(srcParent, src, as, 'rename', from, fromRel);
    if (dst !== undefined) this.mayRemove(dstParent, dst, as, op, to, toRel);
    else dirAccess(this.tree, dstParent, as, W_OK | X_OK, op, to, toRel, toRel.length - 1);
    if (dst !== undefined) {
      if (src.kind !== 'dir' && dst.kind === 'dir') throw fsErrors.isDir(op, to, 'cannot replace a directory with a file');
      if (src.kind === 'dir' && dst.kind !== 'dir') throw fsErrors.notDir(op, to);
      if (dst.children !== null && dst.children.size > 0) throw fsErrors.notEmpty(op, to, 'only an empty directory can be replaced');
    }
    // A directory moving to another parent changes its '..': write permission on it (Linux).
    if (src.kind === 'dir' && srcParent !== dstParent) requireAccess(src, as, W_OK, 'rename', from, from);
    if (src.kind === 'dir' && toRel.length > fromRel.length) notTooDeepBelow(src, depthOf(to), op, to);
    const v = ++this._version;
    (srcParent.children as Map<string, INode>).delete(fromRel[fromRel.length - 1] as string);
    (dstParent.children as Map<string, INode>).set(toName, src);
    if (dst !== undefined) unlinked(dst, now, v);
    touch(srcParent, now, v);
    touch(dstParent, now, v);
    src.ctimeNs = msToNs(now);
    src.version = v;
    return { ok: true, op: 'rename', version: v, replaced: dst !== undefined };
  }

  private setSize(path: string, size: number, now: number, as: Creds, extend = false): OpResult {
    const rel = this.rel('setSize', path);
    if (!Number.isSafeInteger(size) || size < 0) throw fsErrors.invalid('setSize', path, `size must be a non-negative integer, got ${String(size)}`);
    const node = this.resolve('setSize', path, rel, as);
    if (node.kind === 'dir') throw fsErrors.isDir('setSize', path, 'only files have a size to set');
    if (node.kind !== 'file') throw fsErrors.invalid('setSize', path, `a ${node.kind === 'symlink' ? 'symbolic link' : node.kind} has no contents to size`);
    const v = ++this._version;
    node.size = extend ? Math.max(node.size, size) : size + 0;
    node.mtimeNs = node.ctimeNs = msToNs(now);
    node.version = v;
    return { ok: true, op: 'setSize', version: v, stat: statOf(node) };
  }

  // --- path resolution -----------------------------------------------------------------------

  /** Segments of `path` below this ministry's root; EINVAL if malformed, EXDEV if outside. */
  private rel(op: string, path: string): string[] {
    const segs = parsePath(path);
    const r = this.rootSegs;
    if (r.length === 0) return segs;
    if (segs.length < r.length || r.some((s, i) => segs[i] !== s)) throw fsErrors.crossDevice(op, path, this.root);
    return segs.slice(r.length);
  }

  private abs(rel: readonly string[]): string {
    return formatPath([...this.rootSegs, ...rel]);
  }

  /** The directory that holds (or would hold) the last segment of `rel`. `as` must may search
   * every directory on the way, that one included (EACCES, checked in path order). Symbolic
   * links are not followed (the kernel above a mount resolves them): one on the way is ENOTDIR. */
  private resolveParent(op: string, path: string, rel: readonly string[], as: Creds): INode {
    let node = this.rootNode;
    for (let i = 0; i < rel.length - 1; i++) {
      if (as.uid !== 0) dirAccess(this.tree, node, as, X_OK, op, path, rel, i);
      const child = (node.children as Map<string, INode>).get(rel[i] as string);
      if (child === undefined) throw fsErrors.notFound(op, path, this.abs(rel.slice(0, i + 1)));
      if (child.children === null) throw fsErrors.notDir(op, path, this.abs(rel.slice(0, i + 1)));
      node = child;
    }
    if (as.uid !== 0 && rel.length > 0) dirAccess(this.tree, node, as, X_OK, op, path, rel, rel.length - 1);
    return node;
  }

  private resolve(op: string, path: string, rel: readonly string[], as: Creds): INode {
    if (rel.length === 0) return this.rootNode;
    const parent = this.resolveParent(op, path, rel, as);
    const node = (parent.children as Map<string, INode>).get(rel[rel.length - 1] as string);
    if (node === undefined) throw fsErrors.notFound(op, path);
    return node;
  }

  // --- renames across ministries (src/actors/rename-ledger.ts) -------------------------------

  /** A client's request taken outside apply() (a rename across ministries is answered by a later
   * entry): its record is refreshed as applyClient does. 'stale' if the client already has the
   * answer, its saved result if it applied, undefined if it is new. */
  clientRequest(clientId: string, seq: number, acked: number, now: number): OpResult | 'stale' | undefined {
    let rec = this.clients.get(clientId);
    if (rec === undefined) this.clients.set(clientId, (rec = { acked: 0, results: new IntTable(8), lastSeen: now }));
    rec.lastSeen = Math.max(rec.lastSeen, now);
    raiseAcked(rec, acked);
    return seq <= rec.acked ? 'stale' : rec.results.get(seq);
  }

  /** Save the answer of a request taken by clientRequest (unless the client has it already). */
  saveResult(clientId: string, seq: number, result: OpResult): OpResult {
    const r = deepFreeze(result);
    const rec = this.clients.get(clientId);
    if (rec !== undefined && seq > rec.acked) rec.results.set(seq, r);
    return r;
  }

  // The halves (namespace-xrename.ts): the source checks `from` as `as` and exports its tree,
  // later detaches it; the target checks `to` (whether it replaces a node), later grafts.
  exportTree(from: string, as: Creds = ROOT, to?: string): MovedNode[] {
    return exportTree(this.tree, from, as, to);
  }
  graftCheck(from: string, to: string, dir: boolean, as: Creds = ROOT): boolean {
    return graftCheck(this.tree, from, to, dir, as);
  }
  detach(from: string, now: number): number {
    return detach(this.tree, from, now, ROOT);
  }
  graft(to: string, nodes: readonly MovedNode[], now: number, inos?: Map<number, number>): number {
    return graft(this.tree, to, nodes, now, ROOT, inos);
  }

  // --- snapshots (the codec: namespace-snapshot.ts) ------------------------------------------

  /** The whole replicated state as bytes (canonical: same state, same bytes). Binary: as JSON a
   * snapshot took about 1.2 µs and 100 bytes per file. */
  snapshot(): Uint8Array {
    return encodeNamespace({ root: this.root, version: this._version, nextIno: this.nextIno, rootNode: this.rootNode, clients: this.clients });
  }

  /** Rebuild from `snapshot()` bytes (or versions 1-2's JSON); EINVAL for corrupt input. */
  static restore(bytes: Uint8Array): Namespace {
    return Namespace.fromState(decodeNamespace(bytes));
  }

  /** The namespace a decoded snapshot holds (NamespaceDecoder, for a restore in steps). */
  static fromState(state: NamespaceState): Namespace {
    const ns = new Namespace(state.root);
    [ns.rootNode, ns._version, ns.nextIno] = [state.rootNode, state.version, state.nextIno];
    for (const [id, rec] of state.clients) ns.clients.set(id, rec);
    return ns;
  }
}

// ---------------------------------------------------------------------------------------------

/** The client has the answers of its requests up to `acked`: their saved results go. */
function raiseAcked(rec: ClientState, acked: number): void {
  if (acked <= rec.acked) return;
  // Saved results are all above the old acknowledgement.
  rec.results.deleteRange(rec.acked, acked);
  rec.acked = acked;
}

/** A link to `n` went: one link fewer, and its ctime changes while it still has others. */
function unlinked(n: INode, now: number, v: number): void {
  if (n.children !== null) return;
  n.nlink--;
  if (n.nlink > 0) {
    n.ctimeNs = msToNs(now);
    n.version = v;
  }
}

/** Count the nodes of a removed directory tree, and unlink its files (some may have links
 * elsewhere, which stay). */
function dropTree(root: INode, now: number, v: number): number {
  let count = 0;
  const stack = [root];
  for (let x = stack.pop(); x !== undefined; x = stack.pop()) {
    count++;
    if (x.children !== null) for (const c of x.children.values()) stack.push(c);
    else unlinked(x, now, v);
  }
  return count;
}

function fail(e: unknown): OpFail {
  if (e instanceof FsError) return { ok: false, error: e.toJSON() };
  throw e;
}
