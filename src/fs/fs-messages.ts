// The govfs.fs messages other than FsRequest and FsReply (src/fs/requests.ts): between nodes
// and to clients, tickets, probes, load reports, balancing, membership, status, subtree delete,
// renames across ministries, lease revocations. Checked against govfs.proto with every other
// message by test/wire/every-message.test.ts. requests.ts re-exports them all, so that an
// import of a message from there still finds it.

import type { LeaseMode } from './ranges.js';
import type { MinistryInfo } from './requests.js';

/** govfs.fs.Ticket: a minister tells a client its changes have log indexes (see the .proto). */
export interface TicketMessage {
  type: 'govfs.fs.Ticket';
  clientId: string;
  seq: number;
  index: number;
  term: number;
  ministry: string;
  moreSeqs: number[];
  moreIndexes: number[];
}

export interface TicketStatusRequestMessage {
  type: 'govfs.fs.TicketStatusRequest';
  ministry: string;
  index: number;
  term: number;
}

export interface TicketStatusMessage {
  type: 'govfs.fs.TicketStatus';
  status: 'committed' | 'lost' | 'unknown';
}

export interface NodeProbeMessage {
  type: 'govfs.fs.NodeProbe';
  clusterTerm?: number;
  /** Also report the member's load (thesis 3.4). */
  load?: boolean;
}

/** govfs.fs.DirLoad: a directory's popularity, decaying counters of the operations in its subtree. */
export interface DirLoadMessage {
  path: string;
  readsPerSec: number;
  writesPerSec: number;
}

/** govfs.fs.MemberLoad: a member's host CPU utilisation (0..1) since its last report, its
 * request rates and its hottest directories. */
export interface MemberLoadMessage {
  cpu: number;
  readsPerSec: number;
  writesPerSec: number;
  hot: DirLoadMessage[];
}

/** govfs.fs.BalanceRequest: `govfs balance on|off|plan`, to any node (passed on to the president). */
export interface BalanceRequestMessage {
  type: 'govfs.fs.BalanceRequest';
  action: string;
  /** split, merge: the subtree (decoded: '' without). */
  path?: string;
}

/** govfs.fs.SubtreeMigration: a live subtree migration in `govfs status`. */
export interface SubtreeMigrationInfo {
  id: string;
  subtree: string;
  from: string;
  to: string;
  phase: 'fencing' | 'handed' | 'committed' | 'aborted';
  split: boolean;
  reason: string;
}

/** govfs.fs.MigrationQuery: the president asks a ministry member about a migration. */
export interface MigrationQueryMessage {
  type: 'govfs.fs.MigrationQuery';
  migration: string;
}

/** govfs.fs.MigrationProgress: the member's answer; `namespace` set when `ready`. */
export interface MigrationProgressMessage {
  type: 'govfs.fs.MigrationProgress';
  migration: string;
  ministry: string;
  state: string;
  reason: string;
  namespace?: Uint8Array;
  leaseToken?: number;
}

/** govfs.fs.BalanceReply: the president's answer; `plan` its assessment, one line per ministry,
 * then its steps; `index` the cluster log index of an on/off order. */
export interface BalanceReplyMessage {
  type: 'govfs.fs.BalanceReply';
  ok: boolean;
  balancing: boolean;
  plan: string[];
  reason: string;
  index: number;
}

/** govfs.fs.MemberRequest: `govfs node add|remove`, to any node (passed on to the president). */
export interface MemberRequestMessage {
  type: 'govfs.fs.MemberRequest';
  action: string;
  node: string;
  address: string;
  endpoint: string;
}

/** govfs.fs.MemberReply: the president's answer; `index` the cluster log index of its order. */
export interface MemberReplyMessage {
  type: 'govfs.fs.MemberReply';
  ok: boolean;
  code: string;
  reason: string;
  index: number;
}

/** govfs.fs.MinistryCopyRequest: `govfs backup` asks a ministry's state at one index. */
export interface MinistryCopyRequestMessage {
  type: 'govfs.fs.MinistryCopyRequest';
  ministry: string;
}

/** govfs.fs.MinistryCopy: the minister's copy (ministry snapshot bytes) at applied `index`. */
export interface MinistryCopyMessage {
  type: 'govfs.fs.MinistryCopy';
  ok: boolean;
  code: string;
  reason: string;
  index: number;
  term: number;
  state: Uint8Array;
}

/** govfs.fs.NodeReport: a node's answer to a NodeProbe. */
export interface NodeReportMessage {
  type: 'govfs.fs.NodeReport';
  id: string;
  role: 'president' | 'minister' | 'clerk' | 'idle';
  ministry: string;
  groupTerm: number;
  commit: number;
  applied: number;
  lastIndex: number;
  lastTerm: number;
  caughtUp: boolean;
  leading: boolean;
  commitTerm: number;
  /** When the probe asked for it and the node serves a ministry (decoded: null without). */
  load?: MemberLoadMessage | null;
  /** A minister's chunks (issue 17): all, those short of replicas, replicas per node. */
  chunks?: number;
  chunksShort?: number;
  chunkHolders?: ChunkHolderMessage[];
  /** The CPU of this node's machine, all its cores (0..1), between its last two load probes,
   * and its number of cores (0 or absent: not measured). */
  machineCpu?: number;
  machineCores?: number;
}

/** govfs.fs.ChunkHolder: how many chunks of a ministry's files a node holds a replica of. */
export interface ChunkHolderMessage {
  node: string;
  chunks: number;
}

export interface StatusRequestMessage {
  type: 'govfs.fs.StatusRequest';
}

export interface ClusterStatusMessage {
  type: 'govfs.fs.ClusterStatus';
  president: string;
  clusterTerm: number;
  ministries: MinistryInfo[];
  idle: string[];
  nodes: Omit<NodeReportMessage, 'type'>[];
  shortStaffed: string[];
  /** The president's automatic balancer is on. */
  balancing: boolean;
  /** The cluster log's voters and learners, and members being removed (older nodes: absent). */
  voters?: string[];
  learners?: string[];
  leaving?: string[];
  /** Live subtree migrations in progress, and the last finished. */
  migrations?: SubtreeMigrationInfo[];
}

export interface SubtreeDeleteMessage {
  type: 'govfs.fs.SubtreeDelete';
  subtree: string;
  /** Ministry id of the asking minister (never dissolved). */
  requester: string;
}

export interface SubtreeDeletedMessage {
  type: 'govfs.fs.SubtreeDeleted';
  ok: boolean;
  /** Cluster log index of the last dissolve order. */
  index?: number;
  reason?: string;
}

/** A rename across ministries: the source's minister asks the president to coordinate `txid`
 * (sent again until the decision is in the cluster log). `entry`: the target's prepare entry. */
export interface CrossRenameBeginMessage {
  type: 'govfs.fs.CrossRenameBegin';
  txid: string;
  source: string;
  target: string;
  to: string;
  entry: Uint8Array;
  /** Transactions whose end the sender (`source`) applied (rename-core.ts): reported again
   * while their decision is in the cluster state; may come alone, with `txid` ''. */
  ended?: string[];
}

/** The president to the target's minister: log `entry` (phase one) and vote. */
export interface CrossRenamePrepareMessage {
  type: 'govfs.fs.CrossRenamePrepare';
  txid: string;
  entry: Uint8Array;
}

export interface CrossRenameVoteMessage {
  type: 'govfs.fs.CrossRenameVote';
  ok: boolean;
  /** No for now (busy, not the minister): the president aborts, the client retries. */
  retry: boolean;
  /** No for good: the target's error code and message. */
  code: string;
  message: string;
  /** The prepare entry's index in the target's group log. */
  index: number;
  replaced: boolean;
}

export interface LeaseRevokedMessage {
  type: 'govfs.fs.LeaseRevoked';
  clientId: string;
  leaseId: string;
  reason: string;
  grantedBy: string;
  mode: LeaseMode;
  path: string;
}

export interface RevokeReadsMessage {
  type: 'govfs.fs.RevokeReads';
  path: string;
  start: number;
  /** Infinity: to the end of the file. */
  end: number;
  exceptClient: string;
  index: number;
}

export interface ReadsRevokedMessage {
  type: 'govfs.fs.ReadsRevoked';
  revoked: number;
}
