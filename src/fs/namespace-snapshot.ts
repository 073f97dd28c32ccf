// The snapshot codec of a ministry's namespace (namespace.ts): the whole replicated state as
// canonical bytes (same state, same bytes), and back, from the binary format or the JSON of
// versions 1 and 2 (data folders written before keep restoring). Corrupt input is EINVAL
// naming what is wrong. Cut out of namespace.ts (issue 15, point 3).

import { FsError, isFsErrorCode } from './errors.js';
import { isStoredName, parsePath } from './path.js';
import { compareNames } from './subtree-map.js';
import { ByteReader, ByteWriter } from '../wire/bytes.js';
import { IntTable } from '../runtime/int-table.js';
import { deepFreeze, isCount, type ClientState, type INode } from './inode.js';
import type { OpResult } from './namespace.js';

/** Binary snapshots (version 3 on) start with these bytes; JSON ones (1 and 2) with '{'. */
const SNAPSHOT_MAGIC = [0x00, 0x47, 0x4e, 0x53]; // "\0GNS"
const BINARY_SNAPSHOT_VERSION = 3;
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
  const rootNode: INode = { ino: 1, kind: 'dir', size: 0, btime: 0, ctime: 0, mtime: 0, version: 0, children: new Map() };
  return { root, version: 0, nextIno: 2, rootNode, clients: new Map() };
}

export function encodeNamespace(st: NamespaceState): Uint8Array {
  const w = new ByteWriter();
  w.bytes(SNAPSHOT_MAGIC);
  w.u8(BINARY_SNAPSHOT_VERSION);
  w.string(st.root);
  w.f64(st.version);
  w.f64(st.nextIno);
  writeNode(w, st.rootNode);
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
      w.string(JSON.stringify(result));
    }
  }
  return w.finish();
}

/** Rebuild from `snapshot()` bytes, binary or the JSON of versions 1 and 2. EINVAL (naming
 * what is wrong) for corrupt input. */
export function decodeNamespace(bytes: Uint8Array): NamespaceState {
  const corrupt = (what: string) => new FsError('EINVAL', `corrupt namespace snapshot: ${what}`);
  if (!SNAPSHOT_MAGIC.every((b, i) => bytes[i] === b)) return decodeJson(bytes);
  const r = new ByteReader(bytes, corrupt);
  r.at = SNAPSHOT_MAGIC.length;
  const v = r.u8();
  if (v !== BINARY_SNAPSHOT_VERSION) throw corrupt(`unsupported format version ${v}`);
  const ns = emptyState(r.string(), corrupt);
  const version = r.f64();
  const nextIno = r.f64();
  if (!isCount(version)) throw corrupt('bad version');
  if (!isCount(nextIno) || nextIno < 2) throw corrupt('bad nextIno');
  const root = readNode(r, corrupt, new Set<number>(), nextIno, version, 0);
  if (root.kind !== 'dir') throw corrupt('the root is not a directory');
  ns.rootNode = root;
  ns.version = version;
  ns.nextIno = nextIno;
  const clients = r.u32();
  for (let i = 0; i < clients; i++) {
    const id = r.string();
    if (ns.clients.has(id)) throw corrupt(`client ${id} twice`);
    const acked = r.f64();
    const lastSeen = r.f64();
    if (!isCount(acked) || !Number.isFinite(lastSeen)) throw corrupt(`bad record of client ${id}`);
    const rec: ClientState = { acked, results: new IntTable(8), lastSeen };
    const n = r.u32();
    for (let k = 0; k < n; k++) {
      const seq = r.f64();
      let result: unknown;
      try {
        result = JSON.parse(r.string());
      } catch {
        throw corrupt(`bad saved result of client ${id}`);
      }
      if (!isCount(seq) || seq <= acked || rec.results.has(seq) || !isResult(result)) throw corrupt(`bad saved result of client ${id}`);
      rec.results.set(seq, deepFreeze(result));
    }
    ns.clients.set(id, rec);
  }
  r.end();
  return ns;
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
      if (lr !== null) rec.results.set(last, deepFreeze(lr as OpResult));
    } else {
      const results = r['results'];
      if (!isCount(r['acked']) || !Array.isArray(results)) throw corrupt(`bad record of client ${e[0]}`);
      rec.acked = r['acked'] as number;
      for (const x of results) {
        if (!Array.isArray(x) || x.length !== 2 || !isCount(x[0]) || x[0] <= rec.acked || rec.results.has(x[0]) || !isResult(x[1])) throw corrupt(`bad saved result of client ${e[0]}`);
        rec.results.set(x[0], deepFreeze(x[1] as OpResult));
      }
    }
    ns.clients.set(e[0], rec);
  }
  return ns;
}

/** A node: kind (0 file, 1 directory), ino, btime, ctime, mtime, version, then a file's size
 * or a directory's entry count and its entries (name, node) in name order. */
function writeNode(w: ByteWriter, n: INode): void {
  w.u8(n.children === null ? 0 : 1);
  w.f64(n.ino);
  w.f64(n.btime);
  w.f64(n.ctime);
  w.f64(n.mtime);
  w.f64(n.version);
  if (n.children === null) {
    w.f64(n.size);
    return;
  }
  // Names sort by UTF-16 code units (compareNames), which is also the default sort's order.
  const names = [...n.children.keys()].sort();
  w.u32(names.length);
  for (const name of names) {
    w.string(name);
    writeNode(w, n.children.get(name) as INode);
  }
}

function readNode(r: ByteReader, corrupt: (what: string) => FsError, seen: Set<number>, nextIno: number, version: number, depth: number): INode {
  if (depth > 4096) throw corrupt('tree too deep');
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
    return { ino, kind: 'file', size, btime, ctime, mtime, version: v, children: null };
  }
  if (kind !== 1) throw corrupt(`inode ${ino}: bad kind ${kind}`);
  const count = r.u32();
  // Every entry takes at least 50 bytes: a count beyond what is left is corrupt, and must not
  // make a loop run that long.
  if (count > r.left / 50) throw corrupt(`inode ${ino}: ${count} entries in ${r.left} bytes`);
  const children = new Map<string, INode>();
  let last = '';
  for (let i = 0; i < count; i++) {
    const name = r.string();
    if ((i > 0 && name <= last) || !isStoredName(name)) throw corrupt(`inode ${ino}: bad, repeated or unordered entry name`);
    last = name;
    children.set(name, readNode(r, corrupt, seen, nextIno, version, depth + 1));
  }
  return { ino, kind: 'dir', size: 0, btime, ctime, mtime, version: v, children };
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
  if (typeof o !== 'object' || o === null || depth > 4096) throw corrupt('bad tree node');
  const ino = o['ino'];
  if (!isCount(ino) || ino < 1 || ino >= nextIno || seen.has(ino)) throw corrupt(`bad or duplicate inode number ${String(ino)}`);
  seen.add(ino);
  for (const f of ['btime', 'ctime', 'mtime']) if (!Number.isFinite(o[f])) throw corrupt(`inode ${ino}: bad ${f}`);
  if (!isCount(o['version']) || (o['version'] as number) > version) throw corrupt(`inode ${ino}: bad version`);
  const base = { ino, btime: o['btime'] as number, ctime: o['ctime'] as number, mtime: o['mtime'] as number, version: o['version'] as number };
  if (o['kind'] === 'file') {
    if (!isCount(o['size'])) throw corrupt(`inode ${ino}: bad size`);
    return { ...base, kind: 'file', size: o['size'] as number, children: null };
  }
  if (o['kind'] !== 'dir' || !Array.isArray(o['entries'])) throw corrupt(`inode ${ino}: bad kind or entries`);
  const children = new Map<string, INode>();
  for (const e of o['entries'] as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || children.has(e[0])) throw corrupt(`inode ${ino}: bad entry`);
    if (!isStoredName(e[0])) throw corrupt(`inode ${ino}: bad entry name`);
    children.set(e[0], decodeNode(e[1], corrupt, seen, nextIno, version, depth + 1));
  }
  return { ...base, kind: 'dir', size: 0, children };
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
