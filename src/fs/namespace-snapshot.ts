// The snapshot codec of a ministry's namespace (namespace.ts): the whole replicated state as
// canonical bytes (same state, same bytes), and back, from the binary format or the JSON of
// versions 1 and 2 (data folders written before keep restoring). Corrupt input is EINVAL
// naming what is wrong. Cut out of namespace.ts (issue 15, point 3).

import { FsError, isFsErrorCode } from './errors.js';
import { MAX_DEPTH, isStoredName, parsePath } from './path.js';
import { compareNames } from './subtree-map.js';
import { ByteReader, ByteWriter } from '../wire/bytes.js';
import { IntTable } from '../runtime/int-table.js';
import { deepFreeze, isCount, type ClientState, type INode } from './inode.js';
import { SPECIAL_KINDS, type OpResult, type SpecialKind } from './ns-types.js';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, PERM_BITS, isId, msToNs } from './access.js';

/** Binary snapshots (version 3 on) start with these bytes; JSON ones (1 and 2) with '{'. */
const SNAPSHOT_MAGIC = [0x00, 0x47, 0x4e, 0x53]; // "\0GNS"
/** 4: POSIX attributes, symlinks and hard links (issue 18); 3 still reads, with defaults. */
const BINARY_SNAPSHOT_VERSION = 4;
const SNAPSHOT_FORMAT = 'govfs.namespace';
const SNAPSHOT_VERSION = 2;

/** What a snapshot holds: the tree, the versions and the exactly-once client table. */
export interface NamespaceState {
  root: string;
  version: number;
  nextIno: number;
  rootNode: INode;
  clients: Map<string, ClientState>;
}

/** A state with an empty root directory at `root`; the caller fills it in. */
function emptyState(root: string, corrupt: (what: string) => FsError): NamespaceState {
  try {
    parsePath(root);
  } catch {
    throw corrupt('bad root path');
  }
  const rootNode = oldNode(1, 'dir', 0, 0, 0, 0, 0);
  return { root, version: 0, nextIno: 2, rootNode, clients: new Map() };
}

export function encodeNamespace(st: NamespaceState): Uint8Array {
  const w = new ByteWriter();
  w.bytes(SNAPSHOT_MAGIC);
  w.u8(BINARY_SNAPSHOT_VERSION);
  w.string(st.root);
  w.f64(st.version);
  w.f64(st.nextIno);
  writeNode(w, st.rootNode, new Set());
  const ids = [...st.clients.keys()].sort(compareNames);
  w.u32(ids.length);
  for (const id of ids) {
    const r = st.clients.get(id) as ClientState;
    const results = r.results.sortedEntries();
    w.string(id);
    w.f64(r.acked);
    w.f64(r.lastSeen);
    w.u32(results.length);
    for (const [seq, result] of results) {
      w.f64(seq);
      w.string(JSON.stringify(result, bigintOut));
    }
  }
  return w.finish();
}

/** Rebuild from `snapshot()` bytes, binary or the JSON of versions 1 and 2. EINVAL (naming
 * what is wrong) for corrupt input. */
export function decodeNamespace(bytes: Uint8Array): NamespaceState {
  return new NamespaceDecoder(bytes).step(always) as NamespaceState;
}

const always = (): boolean => true;

/** How many nodes (or clients) a decoder reads between two asks of `more()`: tens of µs, and
 * under a millisecond while the code is still cold (a process's first restore). */
const NODES_PER_ASK = 32;

/** A directory the decoder is inside of: the entries still to read. */
interface OpenDir {
  ino: number;
  children: Map<string, INode>;
  left: number;
  last: string;
}

/** A decoding that can stop and go on, so that a big namespace is restored in slices of its
 * thread's time (issue 19, point 4: a follower installing a 55,000-file snapshot held its actor
 * thread for ~130 ms in one go). The tree is read with a stack of open directories rather than
 * by recursion, so that it can stop between any two nodes. Snapshots of versions 1-3 (JSON, or
 * without POSIX attributes) are read whole in the first step: only data folders from before
 * them still hold such snapshots, and only once. */
export class NamespaceDecoder {
  private readonly corrupt = (what: string): FsError => new FsError('EINVAL', `corrupt namespace snapshot: ${what}`);
  private readonly r: ByteReader;
  private whole: NamespaceState | null = null;
  private state: NamespaceState | null = null;
  private c: ReadCtx | null = null;
  private readonly open: OpenDir[] = [];
  private treeDone = false;
  private clientsLeft = -1;

  constructor(private readonly bytes: Uint8Array) {
    this.r = new ByteReader(bytes, this.corrupt);
  }

  /** Read on while `more()` says so (asked every few hundred nodes): the whole state once the
   * snapshot is read, else null (call again). */
  step(more: () => boolean): NamespaceState | null {
    if (this.whole !== null) return this.whole;
    if (this.state === null && this.begin()) return this.whole;
    const st = this.state!;
    if (!this.treeDone && !this.readTree(more)) return null;
    if (!this.readClients(more)) return null;
    this.r.end();
    this.whole = st;
    return st;
  }

  /** The header. True when the snapshot was of an older format, and read whole. */
  private begin(): boolean {
    const { r, corrupt, bytes } = this;
    if (!SNAPSHOT_MAGIC.every((b, i) => bytes[i] === b)) {
      this.whole = decodeJson(bytes);
      return true;
    }
    r.at = SNAPSHOT_MAGIC.length;
    const v = r.u8();
    if (v !== BINARY_SNAPSHOT_VERSION && v !== 3) throw corrupt(`unsupported format version ${v}`);
    const ns = emptyState(r.string(), corrupt);
    const version = r.f64();
    const nextIno = r.f64();
    if (!isCount(version)) throw corrupt('bad version');
    if (!isCount(nextIno) || nextIno < 2) throw corrupt('bad nextIno');
    ns.version = version;
    ns.nextIno = nextIno;
    this.state = ns;
    if (v === 3) {
      this.rooted(readNodeV3(r, corrupt, new Set<number>(), nextIno, version, 0));
      this.readClients(always);
      r.end();
      this.whole = ns;
      return true;
    }
    this.c = { corrupt, links: new Map(), seen: new InodeSet(nextIno), nextIno, version };
    const root = this.readNode(0);
    this.rooted(root);
    this.treeDone = this.open.length === 0;
    if (this.treeDone) this.checkLinks();
    return false;
  }

  private rooted(root: INode): void {
    if (root.kind !== 'dir') throw this.corrupt('the root is not a directory');
    this.state!.rootNode = root;
  }

  /** Entries of the open directories, depth first. True once the tree is read. */
  private readTree(more: () => boolean): boolean {
    const { r, corrupt, open } = this;
    let n = 0;
    while (open.length > 0) {
      if (++n === NODES_PER_ASK) {
        n = 0;
        if (!more()) return false;
      }
      const dir = open[open.length - 1]!;
      if (dir.left === 0) {
        open.pop();
        continue;
      }
      const name = r.string();
      if ((dir.last !== '' && name <= dir.last) || !isStoredName(name)) throw corrupt(`inode ${dir.ino}: bad, repeated or unordered entry name`);
      dir.last = name;
      dir.left--;
      // The child goes in before its own entries are read: the same order of insertion.
      dir.children.set(name, this.readNode(open.length));
    }
    this.treeDone = true;
    this.checkLinks();
    return true;
  }

  private checkLinks(): void {
    for (const [ino, l] of this.c!.links) if (l.node.nlink !== l.refs) throw this.corrupt(`inode ${ino}: ${l.node.nlink} links counted, ${l.refs} found`);
  }

  /** The exactly-once table after the tree. True once it is read. */
  private readClients(more: () => boolean): boolean {
    const { r, corrupt } = this;
    const ns = this.state!;
    if (this.clientsLeft < 0) this.clientsLeft = r.u32();
    for (let n = 0; this.clientsLeft > 0; this.clientsLeft--) {
      if (++n === NODES_PER_ASK) {
        n = 0;
        if (!more()) return false;
      }
      const id = r.string();
      if (ns.clients.has(id)) throw corrupt(`client ${id} twice`);
      const acked = r.f64();
      const lastSeen = r.f64();
      if (!isCount(acked) || !Number.isFinite(lastSeen)) throw corrupt(`bad record of client ${id}`);
      const rec: ClientState = { acked, results: new IntTable(8), lastSeen };
      const k = r.u32();
      for (let i = 0; i < k; i++) {
        const seq = r.f64();
        let result: unknown;
        try {
          result = JSON.parse(r.string(), bigintIn);
        } catch {
          throw corrupt(`bad saved result of client ${id}`);
        }
        if (!isCount(seq) || seq <= acked || rec.results.has(seq) || !isResult(result)) throw corrupt(`bad saved result of client ${id}`);
        rec.results.set(seq, deepFreeze(upgradeResult(result)));
      }
      ns.clients.set(id, rec);
    }
    return true;
  }

  /** One node of version 4 at `depth` (see writeNode); a directory is opened, its entries are
   * read after. */
  private readNode(depth: number): INode {
    const { r, corrupt } = this;
    const c = this.c!;
    if (depth > MAX_DEPTH + 1) throw corrupt('tree too deep');
    const kind = r.u8();
    const ino = r.f64();
    if (kind === 3) {
      const l = c.links.get(ino);
      if (l === undefined) throw corrupt(`a link to inode ${String(ino)}, not a file with several links seen before`);
      l.refs++;
      return l.node;
    }
    if (!isCount(ino) || ino < 1 || ino >= c.nextIno || c.seen.has(ino)) throw corrupt(`bad or duplicate inode number ${String(ino)}`);
    c.seen.add(ino);
    const btime = r.f64();
    const v = r.f64();
    const atimeNs = readTime(r, corrupt, ino);
    const mtimeNs = readTime(r, corrupt, ino);
    const ctimeNs = readTime(r, corrupt, ino);
    const mode = r.u32();
    const uid = r.u32();
    const gid = r.u32();
    if (!Number.isFinite(btime) || !isCount(v) || v > c.version || mode > PERM_BITS || !isId(uid) || !isId(gid)) throw corrupt(`inode ${ino}: bad attributes`);
    // One object literal of one shape for every kind (a snapshot holds many).
    const node: INode = { ino, kind: 'dir', size: 0, btime, atimeNs, mtimeNs, ctimeNs, mode, uid, gid, nlink: 1, rdev: 0, target: null, version: v, children: null };
    if (kind === 0 || kind === 2 || kind === 4) {
      if (kind === 0) {
        node.kind = 'file';
        node.size = r.f64();
      } else if (kind === 4) {
        const special = SPECIAL_KINDS[r.u8()];
        node.rdev = r.f64();
        if (special === undefined || !isCount(node.rdev)) throw corrupt(`inode ${ino}: bad special kind or rdev`);
        node.kind = special;
      } else {
        node.kind = 'symlink';
        node.target = r.string();
        node.size = new TextEncoder().encode(node.target).length;
      }
      node.nlink = r.u32();
      if (!isCount(node.size) || node.nlink < 1) throw corrupt(`inode ${ino}: bad size or link count`);
      // Only nodes with several links are remembered, as the writer does (checkLinks counts
      // them): a map of every file cost a 55,000-file restore ~25 ms at its end.
      if (node.nlink > 1) c.links.set(ino, { node, refs: 1 });
      return node;
    }
    if (kind !== 1) throw corrupt(`inode ${ino}: bad kind ${kind}`);
    // Every entry takes at least 10 bytes: a count beyond what is left is corrupt.
    const count = r.u32();
    if (count > r.left / 10) throw corrupt(`inode ${ino}: ${count} entries in ${r.left} bytes`);
    node.children = new Map();
    this.open.push({ ino, children: node.children, left: count, last: '' });
    return node;
  }
}

/** Snapshots of format versions 1 and 2 were JSON. */
function decodeJson(bytes: Uint8Array): NamespaceState {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new FsError('EINVAL', `corrupt namespace snapshot: not UTF-8 JSON (${(e as Error).message})`, undefined, { cause: e });
  }
  const d = doc as Record<string, unknown>;
  const corrupt = (what: string) => new FsError('EINVAL', `corrupt namespace snapshot: ${what}`);
  if (typeof d !== 'object' || d === null || d['format'] !== SNAPSHOT_FORMAT) throw corrupt('not a govfs namespace snapshot');
  // Version 1 kept one result per client ({ lastSeq, lastResult }); it reads as version 2.
  if (d['v'] !== SNAPSHOT_VERSION && d['v'] !== 1) throw corrupt(`unsupported format version ${String(d['v'])}`);
  const ns = emptyState(d['root'] as string, corrupt);
  const version = d['version'];
  const nextIno = d['nextIno'];
  if (!isCount(version)) throw corrupt('bad version');
  if (!isCount(nextIno) || nextIno < 2) throw corrupt('bad nextIno');
  const seen = new Set<number>();
  const root = decodeNode(d['tree'], corrupt, seen, nextIno, version, 0);
  if (root.kind !== 'dir') throw corrupt('the root is not a directory');
  ns.rootNode = root;
  ns.version = version;
  ns.nextIno = nextIno;
  const clients = d['clients'];
  if (!Array.isArray(clients)) throw corrupt('bad client table');
  for (const e of clients) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || ns.clients.has(e[0])) throw corrupt('bad client entry');
    const r = e[1] as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || !Number.isFinite(r['lastSeen'])) throw corrupt(`bad record of client ${e[0]}`);
    const rec: ClientState = { acked: 0, results: new IntTable(8), lastSeen: r['lastSeen'] as number };
    if (d['v'] === 1) {
      const lr = r['lastResult'];
      if (!isCount(r['lastSeq']) || (lr !== null && !isResult(lr))) throw corrupt(`bad record of client ${e[0]}`);
      const last = r['lastSeq'] as number;
      rec.acked = lr === null ? last : Math.max(0, last - 1);
      if (lr !== null) rec.results.set(last, deepFreeze(upgradeResult(lr as OpResult)));
    } else {
      const results = r['results'];
      if (!isCount(r['acked']) || !Array.isArray(results)) throw corrupt(`bad record of client ${e[0]}`);
      rec.acked = r['acked'] as number;
      for (const x of results) {
        if (!Array.isArray(x) || x.length !== 2 || !isCount(x[0]) || x[0] <= rec.acked || rec.results.has(x[0]) || !isResult(x[1])) throw corrupt(`bad saved result of client ${e[0]}`);
        rec.results.set(x[0], deepFreeze(upgradeResult(x[1] as OpResult)));
      }
    }
    ns.clients.set(e[0], rec);
  }
  return ns;
}

/** Version 4's node: kind (0 file, 1 directory, 2 symlink, 3 another link of a file or
 * symlink written before: then only its ino, 4 a FIFO, socket or device node), ino, btime,
 * version, atime, mtime, ctime (each seconds and nanoseconds), mode, uid, gid, then a file's
 * size and link count, a symlink's target and link count, a special node's kind (its index in
 * SPECIAL_KINDS), rdev and link count, or a directory's entry count and its entries (name, node)
 * in name order. A node with several links is written in full where the walk meets it first.
 * (Kind 4 came later within version 4: a namespace without such nodes writes the same bytes as
 * before, so snapshots of either still load; only an older reader refuses a kind 4.) */
function writeNode(w: ByteWriter, n: INode, written: Set<number>): void {
  // Only nodes with several links are remembered (most have one: no set of every inode).
  if (n.children === null && n.nlink > 1) {
    if (written.has(n.ino)) {
      w.u8(3);
      w.f64(n.ino);
      return;
    }
    written.add(n.ino);
  }
  const special = SPECIAL_KINDS.indexOf(n.kind as SpecialKind);
  w.u8(n.children !== null ? 1 : n.kind === 'symlink' ? 2 : special >= 0 ? 4 : 0);
  w.f64(n.ino);
  w.f64(n.btime);
  w.f64(n.version);
  writeTime(w, n.atimeNs);
  writeTime(w, n.mtimeNs);
  writeTime(w, n.ctimeNs);
  w.u32(n.mode);
  w.u32(n.uid);
  w.u32(n.gid);
  if (n.children === null) {
    if (n.kind === 'symlink') w.string(n.target ?? '');
    else if (special >= 0) {
      w.u8(special);
      w.f64(n.rdev);
    } else w.f64(n.size);
    w.u32(n.nlink);
    return;
  }
  // Names sort by UTF-16 code units (compareNames), which is also the default sort's order.
  const names = [...n.children.keys()].sort();
  w.u32(names.length);
  for (const name of names) {
    w.string(name);
    writeNode(w, n.children.get(name) as INode, written);
  }
}

const NS_PER_S = 1_000_000_000n;

/** A time as seconds and nanoseconds in [0, 1e9) (nsToPair without its object: a snapshot
 * writes three per node). */
function writeTime(w: ByteWriter, t: bigint): void {
  // A node's three times are often one, and many nodes share a time: the last pair is kept.
  if (t !== lastTime) {
    let sec = t / NS_PER_S;
    let nsec = Number(t - sec * NS_PER_S);
    if (nsec < 0) {
      sec -= 1n;
      nsec += 1e9;
    }
    lastTime = t;
    lastSec = Number(sec);
    lastNsec = nsec;
  }
  w.f64(lastSec);
  w.f64(lastNsec);
}
let lastTime = 0n;
let lastSec = 0;
let lastNsec = 0;

/** The inode numbers below `limit` seen: a bitmap when that is at most 32 MiB (its pages are
 * only touched where numbers are), else a Set. A Set of 55,000 numbers cost a restore a
 * 4-5 ms pause where it grew (a fresh 1.5 MB table; see raft/snapshot-buffer.ts on fresh
 * pages). */
class InodeSet {
  private readonly bits: Uint8Array | null;
  private readonly set: Set<number> | null;

  constructor(limit: number) {
    const small = limit <= 2 ** 28;
    this.bits = small ? new Uint8Array(Math.ceil(limit / 8)) : null;
    this.set = small ? null : new Set();
  }

  has(ino: number): boolean {
    return this.bits !== null ? (this.bits[ino >>> 3]! & (1 << (ino & 7))) !== 0 : this.set!.has(ino);
  }

  add(ino: number): void {
    if (this.bits !== null) this.bits[ino >>> 3]! |= 1 << (ino & 7);
    else this.set!.add(ino);
  }
}

interface ReadCtx {
  corrupt: (what: string) => FsError;
  /** Files and symlinks with several links read so far, with the links to them found. */
  links: Map<number, { node: INode; refs: number }>;
  /** Every inode number read so far. */
  seen: InodeSet;
  nextIno: number;
  version: number;
}

/** A directory's entries: a count, then each name (in order, each once) and its node. Every
 * entry takes at least `minBytes`: a count beyond what is left is corrupt, and must not make a
 * loop run that long. */
function readEntries(r: ByteReader, corrupt: (what: string) => FsError, ino: number, minBytes: number, readChild: () => INode): Map<string, INode> {
  const count = r.u32();
  if (count > r.left / minBytes) throw corrupt(`inode ${ino}: ${count} entries in ${r.left} bytes`);
  const children = new Map<string, INode>();
  let last = '';
  for (let i = 0; i < count; i++) {
    const name = r.string();
    if ((i > 0 && name <= last) || !isStoredName(name)) throw corrupt(`inode ${ino}: bad, repeated or unordered entry name`);
    last = name;
    children.set(name, readChild());
  }
  return children;
}

/** A time: seconds (a double holding an integer) and nanoseconds in [0, 1e9). */
function readTime(r: ByteReader, corrupt: (what: string) => FsError, ino: number): bigint {
  const sec = r.f64();
  const nsec = r.f64();
  if (!Number.isSafeInteger(sec) || !Number.isInteger(nsec) || nsec < 0 || nsec >= 1e9) throw corrupt(`inode ${ino}: bad time`);
  // A node's three times are often one, and many nodes share a time: the last one read is
  // kept (BigInts are immutable), which spares most of a restore's BigInts and their GC.
  if (sec === readSec && nsec === readNsec) return readTimeNs;
  // Most times are whole milliseconds since the epoch: one BigInt of a safe integer.
  const ms = sec * 1000 + nsec / 1e6;
  readSec = sec;
  readNsec = nsec;
  readTimeNs = Number.isSafeInteger(ms) && nsec % 1e6 === 0 ? BigInt(ms) * 1_000_000n : BigInt(sec) * 1_000_000_000n + BigInt(nsec);
  return readTimeNs;
}
let readSec = 0;
let readNsec = 0;
let readTimeNs = 0n;

/** A node as versions 1-3 kept it (no POSIX attributes): 0755 or 0644, root's, one link,
 * accessed when born (atime changes only by utimens, so a node made now would say the same). */
function oldNode(ino: number, kind: 'dir' | 'file', btime: number, ctime: number, mtime: number, version: number, size: number): INode {
  return {
    ino,
    kind,
    size: kind === 'file' ? size : 0,
    btime,
    atimeNs: msToNs(btime),
    mtimeNs: msToNs(mtime),
    ctimeNs: msToNs(ctime),
    mode: kind === 'dir' ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE,
    uid: 0,
    gid: 0,
    nlink: 1,
    rdev: 0,
    target: null,
    version,
    children: kind === 'dir' ? new Map() : null,
  };
}

/** A saved result from before POSIX attributes (a file's stat without a mode): the stat a
 * file of old data has now, so that a retry is answered as a new request would be. One from
 * before rdev gets rdev 0, in statOf's key order, so that its replica's bytes are a live one's. */
function upgradeResult(r: OpResult): OpResult {
  if (!r.ok || !('stat' in r) || typeof r.stat !== 'object' || r.stat === null) return r;
  if (typeof r.stat.mode === 'number') {
    if (r.stat.rdev !== undefined) return r;
    const { ino, kind, size, btime, ctime, mtime, version, mode, uid, gid, nlink, atimeNs, mtimeNs, ctimeNs } = r.stat;
    return { ...r, stat: { ino, kind, size, btime, ctime, mtime, version, mode, uid, gid, nlink, rdev: 0, atimeNs, mtimeNs, ctimeNs } };
  }
  const st = r.stat as unknown as { ino: number; size: number; btime: number; ctime: number; mtime: number; version: number };
  const n = oldNode(st.ino, 'file', st.btime, st.ctime, st.mtime, st.version, st.size);
  return { ...r, stat: { ...st, kind: 'file', mode: 0o100000 | n.mode, uid: 0, gid: 0, nlink: 1, rdev: 0, atimeNs: n.atimeNs, mtimeNs: n.mtimeNs, ctimeNs: n.ctimeNs } };
}

/** Saved results hold times as bigint, which JSON has not: { "$ns": "digits" }. */
function bigintOut(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? { $ns: v.toString() } : v;
}

function bigintIn(_key: string, v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const ns = (v as { $ns?: unknown }).$ns;
  return typeof ns === 'string' && /^-?[0-9]{1,30}$/.test(ns) ? BigInt(ns) : v;
}

function readNodeV3(r: ByteReader, corrupt: (what: string) => FsError, seen: Set<number>, nextIno: number, version: number, depth: number): INode {
  if (depth > MAX_DEPTH + 1) throw corrupt('tree too deep');
  const kind = r.u8();
  const ino = r.f64();
  if (!isCount(ino) || ino < 1 || ino >= nextIno || seen.has(ino)) throw corrupt(`bad or duplicate inode number ${String(ino)}`);
  seen.add(ino);
  const btime = r.f64();
  const ctime = r.f64();
  const mtime = r.f64();
  const v = r.f64();
  if (!Number.isFinite(btime) || !Number.isFinite(ctime) || !Number.isFinite(mtime)) throw corrupt(`inode ${ino}: bad time`);
  if (!isCount(v) || v > version) throw corrupt(`inode ${ino}: bad version`);
  if (kind === 0) {
    const size = r.f64();
    if (!isCount(size)) throw corrupt(`inode ${ino}: bad size`);
    return oldNode(ino, 'file', btime, ctime, mtime, v, size);
  }
  if (kind !== 1) throw corrupt(`inode ${ino}: bad kind ${kind}`);
  const children = readEntries(r, corrupt, ino, 50, () => readNodeV3(r, corrupt, seen, nextIno, version, depth + 1));
  const dir = oldNode(ino, 'dir', btime, ctime, mtime, v, 0);
  dir.children = children;
  return dir;
}

function decodeNode(
  x: unknown,
  corrupt: (what: string) => FsError,
  seen: Set<number>,
  nextIno: number,
  version: number,
  depth: number,
): INode {
  const o = x as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || depth > MAX_DEPTH + 1) throw corrupt('bad tree node');
  const ino = o['ino'];
  if (!isCount(ino) || ino < 1 || ino >= nextIno || seen.has(ino)) throw corrupt(`bad or duplicate inode number ${String(ino)}`);
  seen.add(ino);
  for (const f of ['btime', 'ctime', 'mtime']) if (!Number.isFinite(o[f])) throw corrupt(`inode ${ino}: bad ${f}`);
  if (!isCount(o['version']) || (o['version'] as number) > version) throw corrupt(`inode ${ino}: bad version`);
  const node = (kind: 'dir' | 'file', size: number) => oldNode(ino, kind, o['btime'] as number, o['ctime'] as number, o['mtime'] as number, o['version'] as number, size);
  if (o['kind'] === 'file') {
    if (!isCount(o['size'])) throw corrupt(`inode ${ino}: bad size`);
    return node('file', o['size'] as number);
  }
  if (o['kind'] !== 'dir' || !Array.isArray(o['entries'])) throw corrupt(`inode ${ino}: bad kind or entries`);
  const children = new Map<string, INode>();
  for (const e of o['entries'] as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || children.has(e[0])) throw corrupt(`inode ${ino}: bad entry`);
    if (!isStoredName(e[0])) throw corrupt(`inode ${ino}: bad entry name`);
    children.set(e[0], decodeNode(e[1], corrupt, seen, nextIno, version, depth + 1));
  }
  const dir = node('dir', 0);
  dir.children = children;
  return dir;
}

function isResult(x: unknown): x is OpResult {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  if (r['ok'] === true) return typeof r['op'] === 'string' && isCount(r['version']);
  if (r['ok'] === false) {
    const e = r['error'] as Record<string, unknown> | null;
    return typeof e === 'object' && e !== null && isFsErrorCode(e['code']) && typeof e['message'] === 'string';
  }
  return false;
}
