// The messages of src/wire/proto/log.proto (what the replicated logs and their snapshots hold),
// as TypeScript types, and their encoding on disk: one format byte, then the protobuf message.
//
// Why the format byte: older data folders hold JSON entries and snapshots (first byte '{',
// 0x7b) and, in ministry logs, hand-written binary client changes (first byte 0x01). A bare
// protobuf message could in principle start with any byte (and an empty one is no bytes at
// all, which the logs read as a no-op); behind 0x02 a new entry can never be taken for an old
// one. The readers (src/actors/cluster-state.ts, ministry-entry.ts, leases.ts) dispatch on it.
//
// The types follow protobufjs's static code generation (camelCase fields, a oneof's members
// optional, the oneof's name giving the member set); test/wire/log-codec.test.ts checks them,
// field by field, against log.proto. The schema is also registered in the message registry
// with every other .proto of src/wire/proto (MessageRegistry.standard).

import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { protoPath } from './registry.js'; // (also configures protobufjs: 64-bit fields as numbers)
import { DecodeError, EncodeError } from './errors.js';
import { DirectWriter } from './direct-writer.js';

/** A node's three times as (seconds, nanoseconds) pairs: a stat's and a moved node's on the wire. */
export interface TimePairs {
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

/** First byte of every log entry and snapshot encoded here. */
export const LOG_FORMAT_PROTOBUF = 0x02;

export interface AppointMsg { ministry: string; subtree: string; minister: string; clerks: string[]; clerksWanted: number }
export interface DownMsg { ministry: string; down: boolean }
export interface FenceMsg { ministry: string }
export interface DissolveMsg { ministry: string }
export type NoopMsg = Record<string, never>;
export interface BalanceMsg { on: boolean }
export interface MigrateStartMsg { id: string; subtree: string; from: string; to: string; minister: string; clerks: string[]; clerksWanted: number; why: string }
export interface MigrateHandoverMsg { id: string; namespace: Uint8Array; leaseToken: number }
export interface MapCommitMsg { id: string }
export interface MigrateAbortMsg { id: string; reason: string }
export interface CrossRenameDecisionMsg { txid: string; commit: boolean; retry: boolean; code: string; message: string; source: string; target: string; targetIndex: number; replaced: boolean }
export interface CrossRenameForgetMsg { txids: string[] }
export interface ClusterOrderMsg {
  crossRename?: CrossRenameDecisionMsg;
  crossRenameForget?: CrossRenameForgetMsg;
  appoint?: AppointMsg;
  down?: DownMsg;
  fence?: FenceMsg;
  dissolve?: DissolveMsg;
  noop?: NoopMsg;
  balance?: BalanceMsg;
  memberJoin?: MemberJoinMsg;
  memberLeave?: MemberLeaveMsg;
  memberGone?: MemberGoneMsg;
  migrateStart?: MigrateStartMsg;
  migrateHandover?: MigrateHandoverMsg;
  mapCommit?: MapCommitMsg;
  migrateAbort?: MigrateAbortMsg;
  /** (decoded) which member is set */
  order?: 'appoint' | 'down' | 'fence' | 'dissolve' | 'noop' | 'balance' | 'memberJoin' | 'memberLeave' | 'memberGone' | 'migrateStart' | 'migrateHandover' | 'mapCommit' | 'migrateAbort' | 'crossRename' | 'crossRenameForget';
}
export interface SubtreeMigrationRecordMsg {
  id: string;
  subtree: string;
  from: string;
  to: string;
  phase: number;
  split: boolean;
  namespace: Uint8Array;
  leaseToken: number;
  reason: string;
  startedAt: number;
}
export interface MemberJoinMsg { node: string; address: string; endpoint: string }
export interface MemberLeaveMsg { node: string }
export interface MemberGoneMsg { node: string }
export interface MinistryRecordMsg { id: string; subtree: string; minister: string; clerks: string[]; term: number; down: boolean; clerksWanted: number; fenced: boolean }
export interface ClusterSnapshotMsg { nodes: string[]; ministries: MinistryRecordMsg[]; termCounter: number; ministryCounter: number; applied: number; formed: string[]; balancingOff?: boolean; joined?: MemberJoinMsg[]; leaving?: string[]; removed?: string[]; migrations?: SubtreeMigrationRecordMsg[]; migrationCounter?: number; crossRenames?: CrossRenameDecisionMsg[] }

export interface MkdirMsg { path: string; parents: boolean; mode?: number | null }
export interface CreateMsg { path: string; exclusive?: boolean | null; mode?: number | null }
export interface PosixCallerMsg { uid: number; gid: number; groups: number[] }
export interface PosixChmodMsg { path: string; mode: number }
export interface PosixChownMsg { path: string; uid: number; gid: number }
export interface PosixUtimensMsg { path: string; atimeNow: boolean; atimeSec: number; atimeNsec: number; mtimeNow: boolean; mtimeSec: number; mtimeNsec: number }
export interface PosixSymlinkMsg { path: string; target: string }
export interface PosixLinkMsg { from: string; to: string }
export interface PosixMknodMsg { path: string; kind: string; mode?: number | null; rdev: number }
export interface RmMsg { path: string }
export interface RmdirMsg { path: string; recursive: boolean }
export interface RenameMsg { from: string; to: string }
export interface SetSizeMsg { path: string; size: number }
export interface ResizeFileMsg { path: string; size: number; extend: boolean; token: number }
export interface ClientChangeMsg {
  clientId: string;
  seq: number;
  acked: number;
  now: number;
  mkdir?: MkdirMsg;
  create?: CreateMsg;
  rm?: RmMsg;
  rmdir?: RmdirMsg;
  rename?: RenameMsg;
  setSize?: SetSizeMsg;
  chmod?: PosixChmodMsg;
  chown?: PosixChownMsg;
  utimens?: PosixUtimensMsg;
  symlink?: PosixSymlinkMsg;
  link?: PosixLinkMsg;
  mknod?: PosixMknodMsg;
  resizeFile?: ResizeFileMsg;
  /** (decoded) which member is set */
  change?: 'mkdir' | 'create' | 'rm' | 'rmdir' | 'rename' | 'setSize' | 'chmod' | 'chown' | 'utimens' | 'symlink' | 'link' | 'mknod' | 'resizeFile';
  /** Who asked; absent (decoded: null) for root. */
  caller?: PosixCallerMsg | null;
}
export interface ExpireClientsMsg { now: number; ttlMs: number }
export interface LeaseGrantMsg { id: string; clientId: string; path: string; start: number; end?: number | null; ttlMs: number; notify: string }
export interface LeaseRenewMsg { id: string; ttlMs: number }
export interface LeaseReleaseMsg { id: string }
export interface PlacedChunkMsg { index: number; chunkId: string; version: number; replicas: string[] }
export interface PlaceChunksMsg { ino: number; chunkSize: number; chunks: PlacedChunkMsg[] }
export interface ReplaceReplicaMsg { ino: number; chunk: PlacedChunkMsg | null; oldChunkId: string; token: number }
export interface DropGarbageMsg { chunkIds: string[] }
export interface FileChunksMsg { ino: number; chunkSize: number; chunks: PlacedChunkMsg[] }
export interface WriteGrantMsg { token: number; start: number; end: number }
export interface FileWriteGrantsMsg { ino: number; grants: WriteGrantMsg[] }
export interface LayoutsMsg { files: FileChunksMsg[]; garbage: PlacedChunkMsg[]; grants: FileWriteGrantsMsg[] }
export interface MigrationFenceMsg { id: string; subtree: string }
export interface MigrationInstallMsg { id: string; subtree: string; namespace: Uint8Array; leaseToken: number }
export interface MigrationDropMsg { id: string; subtree: string }
export interface MigrationUnfenceMsg { id: string }
export interface MigrationForgetMsg { ids: string[] }
export interface CrossRenameOutMsg { clientId: string; seq: number; acked: number; now: number; from: string; to: string; target: string; txid: string; caller?: PosixCallerMsg | null }
export interface CrossRenameNodeMsg extends TimePairs {
  path: string;
  dir: boolean;
  size: number;
  btime: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  symlink: boolean;
  target: string;
  /** "fifo" | "socket" | "chardev" | "blockdev"; "" (or absent, from before) for other kinds. */
  special?: string;
  rdev?: number;
}
export interface CrossRenameInMsg { txid: string; source: string; from: string; to: string; tree: CrossRenameNodeMsg[]; now: number; index: number; replaced: boolean; caller?: PosixCallerMsg | null; layouts?: Uint8Array; leaseToken?: number }
export interface CrossRenameEndMsg { decision: CrossRenameDecisionMsg; now: number }
export interface CrossRenameLedgerMsg { outs: CrossRenameOutMsg[]; ins: CrossRenameInMsg[]; ended: string[]; endedAt: number[] }
export interface MinistryEntryMsg {
  crossRenameOut?: CrossRenameOutMsg;
  crossRenameIn?: CrossRenameInMsg;
  crossRenameEnd?: CrossRenameEndMsg;
  client?: ClientChangeMsg;
  expireClients?: ExpireClientsMsg;
  leaseGrant?: LeaseGrantMsg;
  leaseRenew?: LeaseRenewMsg;
  leaseRelease?: LeaseReleaseMsg;
  placeChunks?: PlaceChunksMsg;
  replaceReplica?: ReplaceReplicaMsg;
  dropGarbage?: DropGarbageMsg;
  migrationFence?: MigrationFenceMsg;
  migrationInstall?: MigrationInstallMsg;
  migrationDrop?: MigrationDropMsg;
  migrationUnfence?: MigrationUnfenceMsg;
  migrationForget?: MigrationForgetMsg;
  /** (decoded) which member is set */
  entry?: 'client' | 'expireClients' | 'leaseGrant' | 'leaseRenew' | 'leaseRelease' | 'migrationFence' | 'migrationInstall' | 'migrationDrop' | 'migrationUnfence' | 'migrationForget' | 'placeChunks' | 'replaceReplica' | 'dropGarbage' | 'crossRenameOut' | 'crossRenameIn' | 'crossRenameEnd';
}
export interface MigrationMarkMsg { id: string; subtree: string; state: number }
export interface MigrationMarksMsg { marks: MigrationMarkMsg[] }
export interface HeldWriteLeaseMsg { id: string; clientId: string; notify: string; path: string; start: number; end?: number | null; token: number; ttlMs: number }
export interface WriteLeasesMsg { token: number; leases: HeldWriteLeaseMsg[] }

/** Every message of log.proto by its full name, with its TypeScript type. */
export interface LogMessages {
  'govfs.log.Appoint': AppointMsg;
  'govfs.log.Down': DownMsg;
  'govfs.log.Fence': FenceMsg;
  'govfs.log.Dissolve': DissolveMsg;
  'govfs.log.Noop': NoopMsg;
  'govfs.log.Balance': BalanceMsg;
  'govfs.log.MigrateStart': MigrateStartMsg;
  'govfs.log.MigrateHandover': MigrateHandoverMsg;
  'govfs.log.MapCommit': MapCommitMsg;
  'govfs.log.MigrateAbort': MigrateAbortMsg;
  'govfs.log.ClusterOrder': ClusterOrderMsg;
  'govfs.log.MemberJoin': MemberJoinMsg;
  'govfs.log.MemberLeave': MemberLeaveMsg;
  'govfs.log.MemberGone': MemberGoneMsg;
  'govfs.log.SubtreeMigrationRecord': SubtreeMigrationRecordMsg;
  'govfs.log.MinistryRecord': MinistryRecordMsg;
  'govfs.log.ClusterSnapshot': ClusterSnapshotMsg;
  'govfs.log.Mkdir': MkdirMsg;
  'govfs.log.Create': CreateMsg;
  'govfs.log.Rm': RmMsg;
  'govfs.log.Rmdir': RmdirMsg;
  'govfs.log.Rename': RenameMsg;
  'govfs.log.SetSize': SetSizeMsg;
  'govfs.log.ClientChange': ClientChangeMsg;
  'govfs.log.PosixCaller': PosixCallerMsg;
  'govfs.log.PosixChmod': PosixChmodMsg;
  'govfs.log.PosixChown': PosixChownMsg;
  'govfs.log.PosixUtimens': PosixUtimensMsg;
  'govfs.log.PosixSymlink': PosixSymlinkMsg;
  'govfs.log.PosixLink': PosixLinkMsg;
  'govfs.log.PosixMknod': PosixMknodMsg;
  'govfs.log.ExpireClients': ExpireClientsMsg;
  'govfs.log.LeaseGrant': LeaseGrantMsg;
  'govfs.log.LeaseRenew': LeaseRenewMsg;
  'govfs.log.LeaseRelease': LeaseReleaseMsg;
  'govfs.log.MigrationFence': MigrationFenceMsg;
  'govfs.log.MigrationInstall': MigrationInstallMsg;
  'govfs.log.MigrationDrop': MigrationDropMsg;
  'govfs.log.MigrationUnfence': MigrationUnfenceMsg;
  'govfs.log.MigrationForget': MigrationForgetMsg;
  'govfs.log.MinistryEntry': MinistryEntryMsg;
  'govfs.log.MigrationMark': MigrationMarkMsg;
  'govfs.log.MigrationMarks': MigrationMarksMsg;
  'govfs.log.HeldWriteLease': HeldWriteLeaseMsg;
  'govfs.log.WriteLeases': WriteLeasesMsg;
  'govfs.log.ResizeFile': ResizeFileMsg;
  'govfs.log.FileWriteGrants': FileWriteGrantsMsg;
  'govfs.log.WriteGrant': WriteGrantMsg;
  'govfs.log.PlacedChunk': PlacedChunkMsg;
  'govfs.log.PlaceChunks': PlaceChunksMsg;
  'govfs.log.ReplaceReplica': ReplaceReplicaMsg;
  'govfs.log.FileChunks': FileChunksMsg;
  'govfs.log.Layouts': LayoutsMsg;
  'govfs.log.DropGarbage': DropGarbageMsg;
  'govfs.log.CrossRenameDecision': CrossRenameDecisionMsg;
  'govfs.log.CrossRenameForget': CrossRenameForgetMsg;
  'govfs.log.CrossRenameOut': CrossRenameOutMsg;
  'govfs.log.CrossRenameNode': CrossRenameNodeMsg;
  'govfs.log.CrossRenameIn': CrossRenameInMsg;
  'govfs.log.CrossRenameEnd': CrossRenameEndMsg;
  'govfs.log.CrossRenameLedger': CrossRenameLedgerMsg;
}

let root: protobuf.Root | null = null;

/** log.proto, parsed once (on first use: a process that never touches a log never reads it). */
function logRoot(): protobuf.Root {
  if (root === null) {
    // Read with node:fs, not Root.loadSync: protobufjs finds no `fs` inside the esbuild bundle
    // of the command line (bin/govfs), where loadSync failed every cluster order.
    root = new protobuf.Root();
    protobuf.parse(readFileSync(protoPath('log.proto'), 'utf8'), root, { keepCase: false });
    root.resolveAll();
  }
  return root;
}

/** Encodes and decodes one message type of log.proto behind the format byte. */
const SCRATCH = new DirectWriter(512);
/** Records up to this many bytes are copied out of SCRATCH, which keeps its buffer. */
const SCRATCH_KEPT = 16 * 1024;

/** A decoded message's fields as a plain object, in its schema's order, defaults included
 * (protobufjs keeps those on the prototype, where a spread would not see them); repeated
 * fields copied, so that the result shares no array with the message. For cold records whose
 * TypeScript form is their fields as they are (cluster-log orders). */
export function ownFields(msg: object): Record<string, unknown> {
  const type = (msg as protobuf.Message).$type;
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    const v = (msg as Record<string, unknown>)[f.name];
    out[f.name] = Array.isArray(v) ? [...(v as unknown[])] : v;
  }
  return out;
}

export class LogCodec<K extends keyof LogMessages> {
  private typeCache: protobuf.Type | null = null;
  constructor(readonly name: K) {}

  private get type(): protobuf.Type {
    return (this.typeCache ??= logRoot().lookupType(this.name));
  }

  encode(msg: LogMessages[K]): Uint8Array {
    try {
      // One writer for every record (encoding never nests): protobufjs's own Writer leaves an
      // object per field behind, over a kilobyte per client change, written for every create.
      const w = SCRATCH.reset();
      w.uint32(LOG_FORMAT_PROTOBUF);
      this.type.encode(msg as unknown as Record<string, unknown>, w as unknown as protobuf.Writer);
      // A large record (a snapshot) leaves with the writer's buffer, which it does not keep; a
      // small one as a Buffer (from Node's pool), which decode reads without wrapping it.
      return w.len > SCRATCH_KEPT ? w.detach() : Buffer.from(w.view());
    } catch (e) {
      throw new EncodeError(`${this.name} does not encode: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Decode bytes that start with the format byte. Throws DecodeError on anything else; the
   * result is a protobufjs message (absent fields read as proto3 defaults). */
  decode(bytes: Uint8Array): LogMessages[K] {
    if (bytes.length === 0 || bytes[0] !== LOG_FORMAT_PROTOBUF) throw new DecodeError(`${this.name}: not a protobuf log record (first byte ${bytes[0] ?? 'none'})`);
    try {
      // Over a Buffer (a view, no copy) protobufjs reads strings natively; over a plain
      // Uint8Array its JavaScript decoder leaves arrays behind, for every string of every entry.
      const r = protobuf.Reader.create(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      r.pos = 1;
      return this.type.decode(r) as unknown as LogMessages[K];
    } catch (e) {
      throw new DecodeError(`${this.name}: undecodable: ${(e as Error).message}`, { cause: e });
    }
  }
}
