// The file-system requests clients send and ministries answer: the TypeScript mirror of the
// govfs.fs.FsRequest / FsReply messages and their `oneof`s (src/wire/proto/govfs.proto; field
// for field, camelCase as protobufjs decodes them: test/wire/fs-messages.test.ts checks every
// one against the .proto by round trips through the registry). Shared by the client library
// (src/client/gov-client.ts) and the ministries (src/actors/), so neither imports the other.
//
// A `oneof` is a discriminated union here: `op` (a request) or `result` (a reply) names the
// case, and the field of that name holds the message. protobufjs gives a decoded message that
// name as a virtual field (a getter on its prototype); a sender sets it itself, and the encoder
// ignores it. Servers never trust it: src/actors/request-op.ts finds the case from the fields.

import type { FsErrorData } from './errors.js';
import type { LeaseMode } from './ranges.js';

export interface MinistryInfo {
  id: string;
  subtree: string;
  minister: string;
  clerks: string[];
  term: number;
  down: boolean;
}

// ---- FsRequest.op -------------------------------------------------------------------------

export interface MkdirOp {
  path: string;
  parents: boolean;
}
export interface CreateOp {
  path: string;
}
export interface RmOp {
  path: string;
}
export interface RmdirOp {
  path: string;
  recursive: boolean;
}
export interface RenameOp {
  from: string;
  to: string;
}
export interface LsOp {
  path: string;
}
export interface StatOp {
  path: string;
}
export interface LeaseOpenOp {
  path: string;
  mode: LeaseMode;
  start: number;
  /** Infinity: to the end of the file. */
  end: number;
  wait: boolean;
  /** 0: no deadline. */
  deadlineMs: number;
  reqId: string;
}
export interface LeaseRenewOp {
  id: string;
  mode: LeaseMode;
}
export interface LeaseReleaseOp {
  id: string;
  mode: LeaseMode;
}

/** FsRequest's `oneof op`. */
export type FsOp =
  | { op: 'mkdir'; mkdir: MkdirOp }
  | { op: 'create'; create: CreateOp }
  | { op: 'rm'; rm: RmOp }
  | { op: 'rmdir'; rmdir: RmdirOp }
  | { op: 'rename'; rename: RenameOp }
  | { op: 'ls'; ls: LsOp }
  | { op: 'stat'; stat: StatOp }
  | { op: 'leaseOpen'; leaseOpen: LeaseOpenOp }
  | { op: 'leaseRenew'; leaseRenew: LeaseRenewOp }
  | { op: 'leaseRelease'; leaseRelease: LeaseReleaseOp };

export type FsOpCase = FsOp['op'];

/** The members of `oneof op`, in field order. */
export const FS_OP_CASES: readonly FsOpCase[] = ['mkdir', 'create', 'rm', 'rmdir', 'rename', 'ls', 'stat', 'leaseOpen', 'leaseRenew', 'leaseRelease'];

/** A client request to any node. `seq` numbers a client's mutations (exactly-once); `lastSeen`
 * is the highest index of the ministry's log this client has seen (read your writes);
 * `ticketTo` the address that receives the ticket before the change commits. */
export interface FsRequestFields {
  type: 'govfs.fs.FsRequest';
  clientId: string;
  seq: number;
  path: string;
  lastSeen: number;
  linearizable: boolean;
  ticketTo: string;
  mutation: boolean;
  acked: number;
}

export type FsRequestMessage = FsRequestFields & FsOp;

// ---- FsReply.result -----------------------------------------------------------------------

export type EntryKind = 'file' | 'dir';

export interface DirEntry {
  name: string;
  kind: EntryKind;
}
export interface StatResult {
  kind: EntryKind;
  /** Bytes for a file; number of entries for a directory. */
  size: number;
  ctime: number;
  mtime: number;
  version: number;
}
export interface LsResult {
  entries: DirEntry[];
}
export interface MkdirResult {
  version: number;
  created: string[];
}
export interface CreateResult {
  version: number;
  created: boolean;
  stat: StatResult;
}
export interface RmResult {
  version: number;
}
export interface RmdirResult {
  version: number;
  removed: number;
}
export interface RenameResult {
  version: number;
  replaced: boolean;
}
export interface LeaseGrantResult {
  id: string;
  path: string;
  mode: LeaseMode;
  start: number;
  /** Infinity: to the end of the file. */
  end: number;
  token: number;
  ttlMs: number;
  grantedBy: string;
  heldMs: number;
  driftRate: number;
}
export interface LeaseRenewResult {
  ttlMs: number;
}
export type LeaseReleaseResult = Record<string, never>;

/** FsReply's `oneof result`: the same case names as the request's `op`. */
export type FsResult =
  | { result: 'mkdir'; mkdir: MkdirResult }
  | { result: 'create'; create: CreateResult }
  | { result: 'rm'; rm: RmResult }
  | { result: 'rmdir'; rmdir: RmdirResult }
  | { result: 'rename'; rename: RenameResult }
  | { result: 'ls'; ls: LsResult }
  | { result: 'stat'; stat: StatResult }
  | { result: 'leaseOpen'; leaseOpen: LeaseGrantResult }
  | { result: 'leaseRenew'; leaseRenew: LeaseRenewResult }
  | { result: 'leaseRelease'; leaseRelease: LeaseReleaseResult };

export interface FsReplyFields {
  type: 'govfs.fs.FsReply';
  ok: boolean;
  error?: FsErrorData | null;
  /** Set when this node does not serve the path: go there (and cache the map). */
  redirect?: MinistryInfo[];
  /** Log index of the change (or the applied index of a read). */
  index?: number;
  term?: number;
  ministry?: string;
}

/** A reply: its result when ok, none otherwise. */
export type FsReplyMessage = FsReplyFields & (FsResult | { result?: undefined });

export interface TicketInfo {
  seq: number;
  index: number;
  term: number;
  ministry: string;
}

// ---- what a ministry works on ---------------------------------------------------------------

/** A namespace operation of a request, flattened: `op` its case, and the operation's fields
 * (src/actors/request-op.ts makes one from a validated request; the minister stamps a change
 * with the log's time when it proposes it). */
export type ClientOp =
  | { op: 'mkdir'; path: string; parents?: boolean }
  | { op: 'create'; path: string }
  | { op: 'rm'; path: string }
  | { op: 'rmdir'; path: string; recursive?: boolean }
  | { op: 'rename'; from: string; to: string }
  | { op: 'ls'; path: string }
  | { op: 'stat'; path: string };

/** A lease operation of a request, flattened the same way. */
export type LeaseOp =
  | ({ op: 'lease-open' } & LeaseOpenOp)
  | ({ op: 'lease-renew' } & LeaseRenewOp)
  | ({ op: 'lease-release' } & LeaseReleaseOp);
