// Every ministry log entry, as protobuf: govfs.log.MinistryEntry (src/wire/proto/log.proto), a
// oneof of a client's change (itself a oneof of mkdir, create, rm, rmdir, rename, setSize and
// the POSIX chmod, chown, utimens, symlink, link, mknod, with the caller's credentials), the
// expiry of silent clients, and write-lease grant, renewal and release. Behind the format byte
// 0x02 (src/wire/log-codec.ts says why).
//
// Older logs are still read: a client change in the hand-written binary form (tag 0x01,
// ministry-entry-legacy.ts) and anything in JSON ('{'). That binary form was made because, as
// JSON, parsing the entry was about a sixth of each replica's apply time. Protobuf costs about
// what it did. Encode + decode of a create entry into the namespace's op, `npm run bench --
// log-entry` (median of rounds), three runs on 2 cores shared with other work (load 12-16):
// binary 3.1-5.1 µs, protobuf 3.5-4.9 µs (0.95-1.12x binary), JSON 6.6-8.8 µs; a plain loop
// over one entry at lower load: binary 0.70 µs, protobuf 0.74 µs. Sizes: 62 bytes against 58
// (JSON 136). Well within the 1.5x that would have kept the binary form as an exception.

import { FsError } from '../fs/errors.js';
import { isId, nsToPair, pairToNs, PERM_BITS, timePairs } from '../fs/access.js';
import { SPECIAL_KINDS, type ExpireClientsOp, type MutationOp, type ClientOp as NsClientOp, type Op, type SpecialKind } from '../fs/namespace.js';
import { DecodeError } from '../wire/errors.js';
import { LogCodec, LOG_FORMAT_PROTOBUF, type ClientChangeMsg, type MinistryEntryMsg, type DropGarbageMsg, type PlaceChunksMsg, type ReplaceReplicaMsg } from '../wire/log-codec.js';
import { CLIENT_CHANGE_TAG, decodeClientChange } from './ministry-entry-legacy.js';
import type { LeaseEntry } from './leases.js';
import type { CrossRenameDecisionMsg, CrossRenameInMsg, CrossRenameNodeMsg, CrossRenameOutMsg, PosixCallerMsg } from '../wire/log-codec.js';
import type { Creds } from '../fs/access.js';
import type { MovedNode } from '../fs/namespace.js';

/** The two phases of a rename across ministries (rename-ledger.ts), with the caller's
 * credentials (root when absent), checked at each end. */
export type CrossRenameEntry =
  | ({ op: 'xrename.out'; as?: Creds } & Omit<CrossRenameOutMsg, 'caller'>)
  | ({ op: 'xrename.in'; tree: MovedNode[]; as?: Creds } & Omit<CrossRenameInMsg, 'caller' | 'tree'>)
  | { op: 'xrename.end'; decision: CrossRenameDecisionMsg; now: number };

/** A file layout's change (issue 17; layouts.ts), decided by the minister. */
export type LayoutEntry = ({ op: 'layout.place' } & PlaceChunksMsg) | ({ op: 'layout.replace' } & ReplaceReplicaMsg) | ({ op: 'layout.gc' } & DropGarbageMsg);

/** A live subtree migration's entries in a ministry log (ministry-migrations.ts). */
export type MigrationEntry =
  | { op: 'migration.fence'; id: string; subtree: string }
  | { op: 'migration.install'; id: string; subtree: string; namespace: Uint8Array; leaseToken: number }
  | { op: 'migration.drop'; id: string; subtree: string }
  | { op: 'migration.unfence'; id: string }
  /** (`id` is '': the entry names `ids`.) */
  | { op: 'migration.forget'; id: ''; ids: string[] };

/** What a ministry's log holds. (Older logs in JSON may hold any namespace Op.) */
export type MinistryLogEntry = NsClientOp | ExpireClientsOp | LeaseEntry | MigrationEntry | LayoutEntry | CrossRenameEntry;

const ENTRY = new LogCodec('govfs.log.MinistryEntry');
const JSON_START = 0x7b;
const dec = new TextDecoder();

/** Client changes decoded on this thread, by the very bytes they came as: a minister's entry
 * and, on a thread that hosts its clerks too, the same bytes in their logs (local messages are
 * not copied). Each is decoded once, not once per replica (every replica decoded every change:
 * about a third of a replica's apply). Only client changes: the namespace keeps none of their
 * objects and changes them only to normalise them in place, the same way each time (checkOp),
 * while lease and rename entries go to appliers that may keep them. Bytes read from storage or
 * from another thread are new objects, decoded as ever.
 *
 * The last DECODED_KEPT of them, in a Map (oldest out first): a WeakMap of every entry a log
 * still held cost more than the decoding it saved (its ephemerons are work for every GC). A
 * clerk applies an entry within a few rounds of its minister, far fewer entries than that. */
const decodedHere = new Map<Uint8Array, NsClientOp>();
const DECODED_KEPT = 4_096;
/** The keys of decodedHere in the order they came, round a ring (the slot of the next is the oldest). */
const keptOrder: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(DECODED_KEPT).fill(undefined);
let keptNext = 0;

function keepDecoded(bytes: Uint8Array, entry: NsClientOp): void {
  const oldest = keptOrder[keptNext];
  if (oldest !== undefined) decodedHere.delete(oldest);
  keptOrder[keptNext] = bytes;
  keptNext = (keptNext + 1) % DECODED_KEPT;
  decodedHere.set(bytes, entry);
}

export function encodeMinistryEntry(e: MinistryLogEntry): Uint8Array {
  const msg = toMsg(e);
  const bytes = ENTRY.encode(msg);
  // A create (most changes) proposed here is applied here first: from the message it was
  // encoded from, as decoding gives it, when nothing in it changes on the wire.
  if (msg.client?.create !== undefined && createRoundTrips(msg.client)) keepDecoded(bytes, fromChangeMsg(msg.client));
  return bytes;
}

/** Is a create's message what decoding its bytes gives? Not for a string with a lone surrogate
 * (written as U+FFFD) or a mode that is no uint32; nor, to be safe, for a -0 (were an encoder
 * to leave it out as a zero, it would read back as 0, which a snapshot tells apart). */
function createRoundTrips(c: ClientChangeMsg): boolean {
  const x = c.create!;
  const caller = c.caller;
  return (
    wellFormed(c.clientId) && wellFormed(x.path) && notMinusZero(c.seq) && notMinusZero(c.acked) && notMinusZero(c.now) &&
    (x.mode === undefined || x.mode === null || x.mode >>> 0 === x.mode) &&
    (caller === undefined || caller === null || (notMinusZero(caller.uid) && notMinusZero(caller.gid) && caller.groups.every(notMinusZero)))
  );
}

const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();
const notMinusZero = (n: number): boolean => !Object.is(n, -0);

/** The entry in `data`, of any form a ministry log has held. Throws FsError EINVAL when it is
 * none. A JSON entry is returned as parsed: applying it checks it, as it always did. */
export function decodeMinistryEntry(data: Uint8Array): MinistryLogEntry | Op {
  switch (data[0]) {
    case LOG_FORMAT_PROTOBUF: {
      const known = decodedHere.get(data);
      if (known !== undefined) return known;
      let m: MinistryEntryMsg;
      try {
        m = ENTRY.decode(data);
      } catch (e) {
        if (e instanceof DecodeError) throw malformed(e.message);
        throw e;
      }
      const entry = fromMsg(m);
      if (entry.op === 'client') keepDecoded(data, entry);
      return entry;
    }
    case CLIENT_CHANGE_TAG:
      return decodeClientChange(data);
    case JSON_START:
      try {
        return JSON.parse(dec.decode(data)) as MinistryLogEntry | Op;
      } catch {
        throw malformed('bad JSON');
      }
    default:
      throw malformed(`unknown format ${data[0]}`);
  }
}

function toMsg(e: MinistryLogEntry): MinistryEntryMsg {
  switch (e.op) {
    case 'client':
      return { client: toChangeMsg(e) };
    case 'expireClients':
      return { expireClients: { now: e.now, ttlMs: e.ttlMs } };
    case 'lease.grant':
      return { leaseGrant: { id: e.id, clientId: e.clientId, path: e.path, start: e.start, end: e.end, ttlMs: e.ttlMs, notify: e.notify ?? '' } };
    case 'lease.renew':
      return { leaseRenew: { id: e.id, ttlMs: e.ttlMs } };
    case 'lease.release':
      return { leaseRelease: { id: e.id } };
    case 'migration.fence':
      return { migrationFence: { id: e.id, subtree: e.subtree } };
    case 'migration.install':
      return { migrationInstall: { id: e.id, subtree: e.subtree, namespace: e.namespace, leaseToken: e.leaseToken } };
    case 'migration.drop':
      return { migrationDrop: { id: e.id, subtree: e.subtree } };
    case 'migration.unfence':
      return { migrationUnfence: { id: e.id } };
    case 'migration.forget':
      return { migrationForget: { ids: e.ids } };
    case 'layout.place':
      return { placeChunks: { ino: e.ino, chunkSize: e.chunkSize, chunks: e.chunks } };
    case 'layout.gc':
      return { dropGarbage: { chunkIds: e.chunkIds } };
    case 'layout.replace':
      return { replaceReplica: { ino: e.ino, chunk: e.chunk, oldChunkId: e.oldChunkId, token: e.token } };
    case 'xrename.out': {
      const { op: _op, as, ...m } = e;
      return { crossRenameOut: { ...m, caller: callerMsg(as) } };
    }
    case 'xrename.in': {
      const { op: _op, as, tree, ...m } = e;
      return { crossRenameIn: { ...m, tree: tree.map(movedToMsg), caller: callerMsg(as) } };
    }
    case 'xrename.end':
      return { crossRenameEnd: { decision: e.decision, now: e.now } };
  }
}

function toChangeMsg(c: NsClientOp): ClientChangeMsg {
  const m: ClientChangeMsg = { clientId: c.clientId, seq: c.seq, acked: c.acked ?? 0, now: c.now };
  const b = c.body;
  switch (b.op) {
    case 'mkdir':
      m.mkdir = { path: b.path, parents: b.parents === true };
      if (b.mode !== undefined) m.mkdir.mode = b.mode;
      break;
    case 'create':
      m.create = b.exclusive === undefined ? { path: b.path } : { path: b.path, exclusive: b.exclusive };
      if (b.mode !== undefined) m.create.mode = b.mode;
      break;
    case 'rm':
      m.rm = { path: b.path };
      break;
    case 'rmdir':
      m.rmdir = { path: b.path, recursive: b.recursive === true };
      break;
    case 'rename':
      m.rename = { from: b.from, to: b.to };
      break;
    case 'setSize':
      // A data write's or truncate's size (issue 17) has its own case; a plain setSize, as before.
      if (b.extend !== undefined) m.resizeFile = { path: b.path, size: b.size, extend: b.extend, token: b.token ?? 0 };
      else m.setSize = { path: b.path, size: b.size };
      break;
    case 'chmod':
      m.chmod = { path: b.path, mode: b.mode };
      break;
    case 'chown':
      m.chown = { path: b.path, uid: b.uid, gid: b.gid };
      break;
    case 'utimens': {
      const a = b.atimeNs === null ? { sec: 0, nsec: 0 } : nsToPair(b.atimeNs);
      const t = b.mtimeNs === null ? { sec: 0, nsec: 0 } : nsToPair(b.mtimeNs);
      m.utimens = { path: b.path, atimeNow: b.atimeNs === null, atimeSec: a.sec, atimeNsec: a.nsec, mtimeNow: b.mtimeNs === null, mtimeSec: t.sec, mtimeNsec: t.nsec };
      break;
    }
    case 'symlink':
      m.symlink = { path: b.path, target: b.target };
      break;
    case 'link':
      m.link = { from: b.from, to: b.to };
      break;
    case 'mknod':
      m.mknod = { path: b.path, kind: b.kind, rdev: b.rdev ?? 0 };
      if (b.mode !== undefined) m.mknod.mode = b.mode;
      break;
  }
  if (c.as !== undefined) m.caller = { uid: c.as.uid, gid: c.as.gid, groups: [...c.as.groups] };
  return m;
}

/** A utimens time from the log: null for "now"; an impossible pair is refused when applied. */
function timeOf(now: boolean, sec: number, nsec: number): bigint | null {
  if (now) return null;
  const t = pairToNs(sec, nsec);
  if (t === null) throw malformed('a utimens time that is not (seconds, nanoseconds)');
  return t;
}

/** The members of MinistryEntry's `entry` and ClientChange's `change` (log.proto; a test checks
 * these lists against it). */
export const ENTRY_MEMBERS = ['client', 'expireClients', 'leaseGrant', 'leaseRenew', 'leaseRelease', 'migrationFence', 'migrationInstall', 'migrationDrop', 'migrationUnfence', 'migrationForget', 'placeChunks', 'replaceReplica', 'dropGarbage', 'crossRenameOut', 'crossRenameIn', 'crossRenameEnd'] as const satisfies readonly NonNullable<MinistryEntryMsg['entry']>[];
export const CHANGE_MEMBERS = ['mkdir', 'create', 'rm', 'rmdir', 'rename', 'setSize', 'chmod', 'chown', 'utimens', 'symlink', 'link', 'mknod', 'resizeFile'] as const satisfies readonly NonNullable<ClientChangeMsg['change']>[];

/** The case of a decoded oneof, as protobufjs's virtual getter (`read`) gives it, without the
 * Object.keys array that getter makes on every read (two per entry, on every replica): when one
 * member is set it is that one; when several are (bytes no encoder of ours writes) the getter
 * decides, as before. */
function oneofCase<K extends string>(m: object, members: readonly K[], read: () => K | undefined): K | undefined {
  const fields = m as Record<string, unknown>;
  let found: K | undefined;
  for (const k of members) {
    const v = fields[k];
    if (v === undefined || v === null) continue;
    if (found !== undefined) return read();
    found = k;
  }
  return found;
}

function fromMsg(m: MinistryEntryMsg): MinistryLogEntry {
  switch (oneofCase(m, ENTRY_MEMBERS, () => m.entry)) {
    case 'client':
      return fromChangeMsg(m.client!);
    case 'expireClients':
      return { op: 'expireClients', now: m.expireClients!.now, ttlMs: m.expireClients!.ttlMs };
    case 'leaseGrant': {
      const g = m.leaseGrant!;
      return { op: 'lease.grant', id: g.id, clientId: g.clientId, path: g.path, start: g.start, end: g.end ?? null, ttlMs: g.ttlMs, notify: g.notify };
    }
    case 'leaseRenew':
      return { op: 'lease.renew', id: m.leaseRenew!.id, ttlMs: m.leaseRenew!.ttlMs };
    case 'leaseRelease':
      return { op: 'lease.release', id: m.leaseRelease!.id };
    case 'migrationFence':
      return { op: 'migration.fence', id: m.migrationFence!.id, subtree: m.migrationFence!.subtree };
    case 'migrationInstall': {
      const x = m.migrationInstall!;
      return { op: 'migration.install', id: x.id, subtree: x.subtree, namespace: x.namespace, leaseToken: x.leaseToken };
    }
    case 'migrationDrop':
      return { op: 'migration.drop', id: m.migrationDrop!.id, subtree: m.migrationDrop!.subtree };
    case 'migrationUnfence':
      return { op: 'migration.unfence', id: m.migrationUnfence!.id };
    case 'migrationForget':
      return { op: 'migration.forget', id: '', ids: [...m.migrationForget!.ids] };
    case 'placeChunks': {
      const p = m.placeChunks!;
      return { op: 'layout.place', ino: p.ino, chunkSize: p.chunkSize, chunks: p.chunks };
    }
    case 'dropGarbage':
      return { op: 'layout.gc', chunkIds: [...m.dropGarbage!.chunkIds] };
    case 'replaceReplica':
      return { op: 'layout.replace', ino: m.replaceReplica!.ino, chunk: m.replaceReplica!.chunk ?? null, oldChunkId: m.replaceReplica!.oldChunkId, token: m.replaceReplica!.token };
    case 'crossRenameOut': {
      const o = m.crossRenameOut!;
      return withCaller({ op: 'xrename.out', clientId: o.clientId, seq: o.seq, acked: o.acked, now: o.now, from: o.from, to: o.to, target: o.target, txid: o.txid }, o.caller);
    }
    case 'crossRenameIn': {
      const i = m.crossRenameIn!;
      const tree = i.tree.map(movedFromMsg);
      const inn: Extract<CrossRenameEntry, { op: 'xrename.in' }> = withCaller({ op: 'xrename.in', txid: i.txid, source: i.source, from: i.from, to: i.to, tree, now: i.now, index: i.index, replaced: i.replaced }, i.caller);
      // (Absent from entries written before layouts were carried: none.)
      if (i.layouts !== undefined && i.layouts.length > 0) inn.layouts = i.layouts;
      if (i.leaseToken !== undefined && i.leaseToken > 0) inn.leaseToken = i.leaseToken;
      return inn;
    }
    case 'crossRenameEnd': {
      const d = m.crossRenameEnd!.decision;
      if (!d) throw malformed('a rename end without its decision');
      return { op: 'xrename.end', now: m.crossRenameEnd!.now, decision: { txid: d.txid, commit: d.commit, retry: d.retry, code: d.code, message: d.message, source: d.source, target: d.target, targetIndex: d.targetIndex, replaced: d.replaced } };
    }
    default:
      throw malformed('an entry of no known kind');
  }
}

function fromChangeMsg(c: ClientChangeMsg): NsClientOp {
  const op: NsClientOp = { op: 'client', clientId: c.clientId, seq: c.seq, now: c.now, body: changeBody(c) };
  if (c.acked !== 0) op.acked = c.acked;
  // (Checked when applied, as every field: the namespace refuses a malformed caller, EINVAL.)
  if (c.caller !== null && c.caller !== undefined) op.as = { uid: c.caller.uid, gid: c.caller.gid, groups: [...c.caller.groups] };
  return op;
}

function changeBody(c: ClientChangeMsg): MutationOp {
  switch (oneofCase(c, CHANGE_MEMBERS, () => c.change)) {
    case 'mkdir': {
      const x = c.mkdir!;
      return x.mode === null || x.mode === undefined ? { op: 'mkdir', path: x.path, parents: x.parents } : { op: 'mkdir', path: x.path, parents: x.parents, mode: x.mode };
    }
    case 'create': {
      const x = c.create!;
      const op: Extract<MutationOp, { op: 'create' }> = x.exclusive === null || x.exclusive === undefined ? { op: 'create', path: x.path } : { op: 'create', path: x.path, exclusive: x.exclusive };
      if (x.mode !== null && x.mode !== undefined) op.mode = x.mode;
      return op;
    }
    case 'chmod':
      return { op: 'chmod', path: c.chmod!.path, mode: c.chmod!.mode };
    case 'chown':
      return { op: 'chown', path: c.chown!.path, uid: c.chown!.uid, gid: c.chown!.gid };
    case 'utimens': {
      const u = c.utimens!;
      return { op: 'utimens', path: u.path, atimeNs: timeOf(u.atimeNow, u.atimeSec, u.atimeNsec), mtimeNs: timeOf(u.mtimeNow, u.mtimeSec, u.mtimeNsec) };
    }
    case 'symlink':
      return { op: 'symlink', path: c.symlink!.path, target: c.symlink!.target };
    case 'link':
      return { op: 'link', from: c.link!.from, to: c.link!.to };
    case 'mknod': {
      // (The kind is checked when applied, as every field: EINVAL there.)
      const x = c.mknod!;
      const op: Extract<MutationOp, { op: 'mknod' }> = { op: 'mknod', path: x.path, kind: x.kind as SpecialKind };
      if (x.mode !== null && x.mode !== undefined) op.mode = x.mode;
      if (x.rdev !== 0) op.rdev = x.rdev;
      return op;
    }
    case 'rm':
      return { op: 'rm', path: c.rm!.path };
    case 'rmdir':
      return { op: 'rmdir', path: c.rmdir!.path, recursive: c.rmdir!.recursive };
    case 'rename':
      return { op: 'rename', from: c.rename!.from, to: c.rename!.to };
    case 'setSize':
      return { op: 'setSize', path: c.setSize!.path, size: c.setSize!.size };
    case 'resizeFile':
      return c.resizeFile!.token > 0 ? { op: 'setSize', path: c.resizeFile!.path, size: c.resizeFile!.size, extend: c.resizeFile!.extend, token: c.resizeFile!.token } : { op: 'setSize', path: c.resizeFile!.path, size: c.resizeFile!.size, extend: c.resizeFile!.extend };
    default:
      throw malformed('a client change of no known kind');
  }
}

function callerMsg(as: Creds | undefined): PosixCallerMsg | null {
  return as === undefined ? null : { uid: as.uid, gid: as.gid, groups: [...as.groups] };
}

/** (The ledger checks the credentials before it uses them, as the namespace does a client op's.) */
function withCaller<T extends Extract<CrossRenameEntry, { as?: Creds }>>(e: T, c: PosixCallerMsg | null | undefined): T {
  if (c !== null && c !== undefined) e.as = { uid: c.uid, gid: c.gid, groups: [...c.groups] };
  return e;
}

/** A moved node on the wire: times as (sec, nsec), a symlink's target beside a flag. */
export function movedToMsg(n: MovedNode): CrossRenameNodeMsg {
  return {
    path: n.path,
    dir: n.kind === 'dir',
    size: n.size,
    btime: n.btime,
    ino: n.ino,
    mode: n.mode,
    uid: n.uid,
    gid: n.gid,
    symlink: n.kind === 'symlink',
    target: n.target,
    special: SPECIAL_KINDS.includes(n.kind as SpecialKind) ? n.kind : '',
    rdev: n.rdev ?? 0,
    ...timePairs(n.atimeNs, n.mtimeNs, n.ctimeNs),
  };
}

/** A moved node from the wire; EINVAL for one no namespace could hold (a peer's bad bytes). */
export function movedFromMsg(m: CrossRenameNodeMsg): MovedNode {
  const atimeNs = pairToNs(m.atimeSec, m.atimeNsec);
  const mtimeNs = pairToNs(m.mtimeSec, m.mtimeNsec);
  const ctimeNs = pairToNs(m.ctimeSec, m.ctimeNsec);
  if (atimeNs === null || mtimeNs === null || ctimeNs === null) throw malformed(`moved node ${m.path}: bad times`);
  if (!isId(m.uid) || !isId(m.gid) || !Number.isInteger(m.mode) || m.mode < 0 || m.mode > PERM_BITS || !Number.isFinite(m.btime)) throw malformed(`moved node ${m.path}: bad attributes`);
  if (m.dir && m.symlink) throw malformed(`moved node ${m.path}: both a directory and a symlink`);
  const special = m.special ?? '';
  const rdev = m.rdev ?? 0;
  if (special !== '' && (m.dir || m.symlink || !SPECIAL_KINDS.includes(special as SpecialKind))) throw malformed(`moved node ${m.path}: bad special kind ${JSON.stringify(special).slice(0, 40)}`);
  if (!Number.isSafeInteger(rdev) || rdev < 0) throw malformed(`moved node ${m.path}: bad rdev`);
  const kind = m.dir ? 'dir' : m.symlink ? 'symlink' : special !== '' ? (special as SpecialKind) : 'file';
  return { path: m.path, kind, ino: m.ino, size: m.size, btime: m.btime, atimeNs, mtimeNs, ctimeNs, mode: m.mode, uid: m.uid, gid: m.gid, rdev, target: m.symlink ? m.target : '' };
}

function malformed(why: string): FsError {
  return new FsError('EINVAL', `undecodable log entry: ${why}`);
}
