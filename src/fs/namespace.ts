// (Over 600 lines: the renames across ministries need the private tree and client table of
// this state machine; splitting them off would expose both.)
//
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
//     is EXDEV too (a rename across ministries is two halves, exportTree/detach at the source
//     and graftCheck/graft at the target, coordinated by src/actors/rename-ledger.ts).
//   - The namespace knows nothing of other ministries. The caller (minister/clerk) must
//       * merge subtree roots of other ministries into listings: mergeListing(ns.ls(p),
//         map.childrenRoots(p)), so such a root appears as a directory;
//       * refuse (EXDEV) a rename whose source directory contains another ministry's root,
//         carry one whose target lies in another ministry as the two halves below, and route an rmdir
//         spanning other ministries through the president's subtree delete. For the ministry
//         keeping the removed directory, the subtree delete is an rmdir with recursive: true.
//   - The root of the ministry always exists and cannot be removed or renamed (EBUSY).
//
// Versions: the namespace has a global `version`, +1 for every op that changes the tree. An
// inode's `version` is the global version of its last change, so it increases with every
// change to that inode and orders changes across inodes. A directory changes when an entry is
// added to or removed from it. Ops that change nothing (mkdir -p of an existing directory,
// create with exclusive: false of an existing file, rename of a path onto itself) and
// client-table ops (ack, expireClients) do not bump versions.
//
// Times: btime = creation, mtime = last change of content (a file's size, a directory's
// entries), ctime = last change of the inode (content or metadata, including being renamed),
// as in POSIX. A directory's `size` is its number of entries.
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

import { FsError, fsErrors, type FsErrorData } from './errors.js';
import { formatPath, isAncestor, parsePath } from './path.js';
import { compareNames } from './subtree-map.js';
import { IntTable } from '../runtime/int-table.js';
import { deepFreeze, type ClientState, type INode } from './inode.js';
import { decodeNamespace, encodeNamespace } from './namespace-snapshot.js';
import { checkOp, finite } from './op-check.js';

export { checkOp } from './op-check.js';

export type NodeKind = 'dir' | 'file';

/** One node of a subtree a rename across ministries moves (Namespace.exportTree). */
export interface MovedNode {
  /** Relative to the moved path: '' for itself, 'x/y' below it. */
  path: string;
  dir: boolean;
  size: number;
  btime: number;
  mtime: number;
  ctime: number;
}

export interface DirEntry {
  name: string;
  kind: NodeKind;
}

export interface Stat {
  /** Inode number, unique within the ministry, never reused; kept across renames. */
  ino: number;
  kind: NodeKind;
  /** Bytes for a file; number of entries for a directory. */
  size: number;
  btime: number;
  ctime: number;
  mtime: number;
  version: number;
}

/** The namespace mutations (the body of a log entry). */
export type MutationOp =
  | { op: 'mkdir'; path: string; parents?: boolean }
  | { op: 'create'; path: string; exclusive?: boolean }
  | { op: 'rm'; path: string }
  | { op: 'rmdir'; path: string; recursive?: boolean }
  | { op: 'rename'; from: string; to: string }
  | { op: 'setSize'; path: string; size: number };

type Stamped<T> = T extends unknown ? T & { now: number } : never;

/** An unsessioned mutation (e.g. ordered by the system: a subtree delete). */
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
  | { ok: true; op: 'rename'; version: number; replaced: boolean; targetMinistry?: string; targetIndex?: number }
  | { ok: true; op: 'setSize'; version: number; stat: Stat }
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

// ---------------------------------------------------------------------------------------------

export class Namespace {
  readonly root: string;
  private readonly rootSegs: readonly string[];
  private rootNode: INode;
  private _version = 0;
  private nextIno = 2;
  private readonly clients = new Map<string, ClientState>();

  /** A fresh namespace: only the (empty) root directory, created at `now`. */
  constructor(root = '/', options: { now?: number } = {}) {
    this.rootSegs = parsePath(root);
    this.root = root;
    const now = finite(options.now ?? 0, 'now', 'namespace');
    this.rootNode = { ino: 1, kind: 'dir', size: 0, btime: now, ctime: now, mtime: now, version: 0, children: new Map() };
  }

  /** The global version: +1 for every op that changed the tree. */
  get version(): number {
    return this._version;
  }

  // --- reads (throw FsError) -----------------------------------------------------------------

  stat(path: string): Stat {
    return statOf(this.resolve('stat', path, this.rel('stat', path)));
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

  /** The version of directory `path`, which changes whenever its listing may (ENOENT, ENOTDIR as
   * ls): versions come from one counter, so (path, version) names one listing. */
  listingVersion(path: string): number {
    const node = this.resolve('ls', path, this.rel('ls', path));
    if (node.children === null) throw fsErrors.notDir('ls', path);
    return node.version;
  }

  /** Entries of a directory, sorted by name. ENOTDIR for a file. */
  ls(path: string): DirEntry[] {
    const node = this.resolve('ls', path, this.rel('ls', path));
    if (node.children === null) throw fsErrors.notDir('ls', path);
    return [...node.children.entries()]
      .sort((a, b) => compareNames(a[0], b[0]))
      .map(([name, n]) => ({ name, kind: n.kind }));
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

  /**
   * Apply one log entry. Never throws for file-system errors or malformed input: returns
   * { ok: false, error } instead, the same on every replica.
   */
  apply(op: Op): OpResult {
    this._lastClientOutcome = null;
    return deepFreeze(this.applyInner(op as unknown));
  }

  private applyInner(x: unknown): OpResult {
    let op: Op;
    try {
      op = checkOp(x);
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
        return this.applyMutation(op, op.now);
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
    const result = this.applyMutation(op.body, op.now);
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

  private applyMutation(op: MutationOp, now: number): OpResult {
    try {
      switch (op.op) {
        case 'mkdir':
          return this.mkdir(op.path, op.parents === true, now);
        case 'create':
          return this.create(op.path, op.exclusive !== false, now);
        case 'rm':
          return this.rm(op.path, now);
        case 'rmdir':
          return this.rmdir(op.path, op.recursive === true, now);
        case 'rename':
          return this.rename(op.from, op.to, now);
        case 'setSize':
          return this.setSize(op.path, op.size, now);
      }
    } catch (e) {
      return fail(e);
    }
  }

  // Each mutation validates everything first (throwing FsError) and only then changes state,
  // so a failed op leaves no trace.

  private mkdir(path: string, parents: boolean, now: number): OpResult {
    const rel = this.rel('mkdir', path);
    let node = this.rootNode;
    let i = 0;
    for (; i < rel.length; i++) {
      const child = (node.children as Map<string, INode>).get(rel[i] as string);
      if (child === undefined) break;
      if (i === rel.length - 1) {
        if (child.kind === 'dir' && parents) return { ok: true, op: 'mkdir', version: this._version, created: [] };
        throw child.kind === 'dir'
          ? fsErrors.exists('mkdir', path, 'it is a directory; use parents: true to accept an existing one')
          : fsErrors.exists('mkdir', path, 'a file has that name');
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
    const v = ++this._version;
    touch(node, now, v);
    const created: string[] = [];
    for (; i < rel.length; i++) {
      const dir: INode = { ino: this.nextIno++, kind: 'dir', size: 0, btime: now, ctime: now, mtime: now, version: v, children: new Map() };
      (node.children as Map<string, INode>).set(rel[i] as string, dir);
      created.push(this.abs(rel.slice(0, i + 1)));
      node = dir;
    }
    return { ok: true, op: 'mkdir', version: v, created };
  }

  private create(path: string, exclusive: boolean, now: number): OpResult {
    const rel = this.rel('create', path);
    if (rel.length === 0)
      throw exclusive ? fsErrors.exists('create', path, 'it is the root of this ministry') : fsErrors.isDir('create', path, 'it is the root of this ministry');
    const parent = this.resolveParent('create', path, rel);
    const name = rel[rel.length - 1] as string;
    const existing = (parent.children as Map<string, INode>).get(name);
    if (existing !== undefined) {
      if (existing.kind === 'dir') throw exclusive ? fsErrors.exists('create', path, 'a directory has that name') : fsErrors.isDir('create', path, 'a directory has that name');
      if (exclusive) throw fsErrors.exists('create', path, 'use exclusive: false to accept an existing file');
      return { ok: true, op: 'create', version: this._version, created: false, stat: statOf(existing) };
    }
    const v = ++this._version;
    const file: INode = { ino: this.nextIno++, kind: 'file', size: 0, btime: now, ctime: now, mtime: now, version: v, children: null };
    (parent.children as Map<string, INode>).set(name, file);
    touch(parent, now, v);
    return { ok: true, op: 'create', version: v, created: true, stat: statOf(file) };
  }

  private rm(path: string, now: number): OpResult {
    const rel = this.rel('rm', path);
    const node = this.resolve('rm', path, rel);
    if (node.kind === 'dir') throw fsErrors.isDir('rm', path, 'use rmdir');
    const parent = this.resolveParent('rm', path, rel);
    const v = ++this._version;
    (parent.children as Map<string, INode>).delete(rel[rel.length - 1] as string);
    touch(parent, now, v);
    return { ok: true, op: 'rm', version: v };
  }

  private rmdir(path: string, recursive: boolean, now: number): OpResult {
    const rel = this.rel('rmdir', path);
    if (rel.length === 0)
      throw fsErrors.busy('rmdir', path, 'the root of a ministry cannot be removed (a whole subtree is deleted through the president)');
    const node = this.resolve('rmdir', path, rel);
    if (node.children === null) throw fsErrors.notDir('rmdir', path);
    if (node.children.size > 0 && !recursive) throw fsErrors.notEmpty('rmdir', path);
    const parent = this.resolveParent('rmdir', path, rel);
    const removed = countNodes(node);
    const v = ++this._version;
    (parent.children as Map<string, INode>).delete(rel[rel.length - 1] as string);
    touch(parent, now, v);
    return { ok: true, op: 'rmdir', version: v, removed };
  }

  private rename(from: string, to: string, now: number): OpResult {
    const fromRel = this.rel('rename', from);
    const toRel = this.rel('rename', to);
    const op = `rename ${from} ->`;
    const src = this.resolve('rename', from, fromRel);
    if (fromRel.length === 0) throw fsErrors.busy('rename', from, 'the root of a ministry cannot be renamed');
    if (toRel.length === 0) throw fsErrors.busy(op, to, 'the root of a ministry cannot be replaced');
    const dstParent = this.resolveParent(op, to, toRel);
    if (from === to) return { ok: true, op: 'rename', version: this._version, replaced: false };
    if (src.kind === 'dir' && isAncestor(from, to)) throw fsErrors.invalid(op, to, 'cannot move a directory into itself');
    const toName = toRel[toRel.length - 1] as string;
    const dst = (dstParent.children as Map<string, INode>).get(toName);
    if (dst !== undefined) {
      if (src.kind === 'file' && dst.kind === 'dir') throw fsErrors.isDir(op, to, 'cannot replace a directory with a file');
      if (src.kind === 'dir' && dst.kind === 'file') throw fsErrors.notDir(op, to);
      if (dst.children !== null && dst.children.size > 0) throw fsErrors.notEmpty(op, to, 'only an empty directory can be replaced');
    }
    const srcParent = this.resolveParent('rename', from, fromRel);
    const v = ++this._version;
    (srcParent.children as Map<string, INode>).delete(fromRel[fromRel.length - 1] as string);
    (dstParent.children as Map<string, INode>).set(toName, src);
    touch(srcParent, now, v);
    touch(dstParent, now, v);
    src.ctime = now;
    src.version = v;
    return { ok: true, op: 'rename', version: v, replaced: dst !== undefined };
  }

  private setSize(path: string, size: number, now: number): OpResult {
    const rel = this.rel('setSize', path);
    if (!Number.isSafeInteger(size) || size < 0) throw fsErrors.invalid('setSize', path, `size must be a non-negative integer, got ${String(size)}`);
    const node = this.resolve('setSize', path, rel);
    if (node.kind === 'dir') throw fsErrors.isDir('setSize', path, 'only files have a size to set');
    const v = ++this._version;
    node.size = size + 0;
    node.mtime = now;
    node.ctime = now;
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

  /** The directory that holds (or would hold) the last segment of `rel`. */
  private resolveParent(op: string, path: string, rel: readonly string[]): INode {
    let node = this.rootNode;
    for (let i = 0; i < rel.length - 1; i++) {
      const child = (node.children as Map<string, INode>).get(rel[i] as string);
      if (child === undefined) throw fsErrors.notFound(op, path, this.abs(rel.slice(0, i + 1)));
      if (child.children === null) throw fsErrors.notDir(op, path, this.abs(rel.slice(0, i + 1)));
      node = child;
    }
    return node;
  }

  private resolve(op: string, path: string, rel: readonly string[]): INode {
    if (rel.length === 0) return this.rootNode;
    const parent = this.resolveParent(op, path, rel);
    const node = (parent.children as Map<string, INode>).get(rel[rel.length - 1] as string);
    if (node === undefined) throw fsErrors.notFound(op, path);
    return node;
  }


  // --- renames across ministries (src/actors/rename-ledger.ts) -------------------------------
  // Each ministry does its half in its own log: the source checks and exports `from`, later
  // detaches it; the target checks `to`, later grafts the tree there. Checks in rename's order.

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

  /** The source's check and export: `from` and everything below it, depth first (paths relative
   * to `from`, '' for itself). ENOENT/ENOTDIR, EBUSY for this ministry's root. */
  exportTree(from: string): MovedNode[] {
    const rel = this.rel('rename', from);
    const top = this.resolve('rename', from, rel);
    if (rel.length === 0) throw fsErrors.busy('rename', from, 'the root of a ministry cannot be renamed');
    const out: MovedNode[] = [];
    const visit = (path: string, n: INode): void => {
      out.push({ path, dir: n.children !== null, size: n.children === null ? n.size : 0, btime: n.btime, mtime: n.mtime, ctime: n.ctime });
      if (n.children !== null) for (const name of [...n.children.keys()].sort(compareNames)) visit(path === '' ? name : `${path}/${name}`, n.children.get(name) as INode);
    };
    visit('', top);
    return out;
  }

  /** The target's check: may `to` become a directory (`dir`) or a file? Returns whether it
   * replaces what is there. EBUSY (this ministry's root), ENOENT/ENOTDIR, EISDIR, ENOTEMPTY. */
  graftCheck(from: string, to: string, dir: boolean): boolean {
    const op = `rename ${from} ->`;
    const rel = this.rel(op, to);
    if (rel.length === 0) throw fsErrors.busy(op, to, 'the root of a ministry cannot be replaced');
    const dst = (this.resolveParent(op, to, rel).children as Map<string, INode>).get(rel[rel.length - 1] as string);
    if (dst === undefined) return false;
    if (!dir && dst.kind === 'dir') throw fsErrors.isDir(op, to, 'cannot replace a directory with a file');
    if (dir && dst.kind === 'file') throw fsErrors.notDir(op, to);
    if (dst.children !== null && dst.children.size > 0) throw fsErrors.notEmpty(op, to, 'only an empty directory can be replaced');
    return true;
  }

  /** The source's commit: `from` goes, with everything below it. Returns the new version. */
  detach(from: string, now: number): number {
    const rel = this.rel('rename', from);
    const parent = this.resolveParent('rename', from, rel);
    const v = ++this._version;
    (parent.children as Map<string, INode>).delete(rel[rel.length - 1] as string);
    touch(parent, now, v);
    return v;
  }

  /** The target's commit: `to` becomes the exported tree (new inode numbers here), replacing
   * what is there (graftCheck passed, and nothing changed it since). Returns the new version. */
  graft(to: string, nodes: readonly MovedNode[], now: number): number {
    const rel = this.rel('rename', to);
    const parent = this.resolveParent('rename', to, rel);
    const v = ++this._version;
    const byPath = new Map<string, INode>();
    for (const m of nodes) {
      const n: INode = { ino: this.nextIno++, kind: m.dir ? 'dir' : 'file', size: m.dir ? 0 : m.size, btime: m.btime, ctime: m.path === '' ? now : m.ctime, mtime: m.mtime, version: v, children: m.dir ? new Map() : null };
      const cut = m.path.lastIndexOf('/');
      const up = m.path === '' ? undefined : byPath.get(cut < 0 ? '' : m.path.slice(0, cut));
      if (m.path !== '') up?.children?.set(m.path.slice(cut + 1), n);
      byPath.set(m.path, n);
    }
    (parent.children as Map<string, INode>).set(rel[rel.length - 1] as string, byPath.get('') as INode);
    touch(parent, now, v);
    return v;
  }

  // --- snapshots (the codec: namespace-snapshot.ts) ------------------------------------------

  /** The whole replicated state as bytes (canonical: same state, same bytes). Binary, see
   * SNAPSHOT_MAGIC; as JSON a namespace of n files took about 1.2 µs and 100 bytes per file,
   * and a ministry's three replicas on one thread took their snapshots together. */
  snapshot(): Uint8Array {
    return encodeNamespace({ root: this.root, version: this._version, nextIno: this.nextIno, rootNode: this.rootNode, clients: this.clients });
  }

  /** Rebuild from `snapshot()` bytes, binary or the JSON of versions 1 and 2. EINVAL (naming
   * what is wrong) for corrupt input. */
  static restore(bytes: Uint8Array): Namespace {
    const state = decodeNamespace(bytes);
    const ns = new Namespace(state.root);
    ns.rootNode = state.rootNode;
    ns._version = state.version;
    ns.nextIno = state.nextIno;
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

function touch(dir: INode, now: number, v: number): void {
  dir.mtime = now;
  dir.ctime = now;
  dir.version = v;
}

function statOf(n: INode): Stat {
  return {
    ino: n.ino,
    kind: n.kind,
    size: n.children === null ? n.size : n.children.size,
    btime: n.btime,
    ctime: n.ctime,
    mtime: n.mtime,
    version: n.version,
  };
}

function countNodes(n: INode): number {
  let count = 0;
  const stack = [n];
  while (stack.length > 0) {
    const x = stack.pop() as INode;
    count++;
    if (x.children !== null) for (const c of x.children.values()) stack.push(c);
  }
  return count;
}

function fail(e: unknown): OpFail {
  if (e instanceof FsError) return { ok: false, error: e.toJSON() };
  throw e;
}
