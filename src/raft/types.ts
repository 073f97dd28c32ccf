// Types of the pure Raft core (see core.ts for the ready/advance contract).
//
// Wire messages mirror src/wire/proto/raft.proto one to one: `type` is the protobuf full name,
// fields are camelCase, integers are plain numbers, bytes are Uint8Array, repeated fields are
// arrays. After decoding, absent scalars are proto3 defaults (0, '', false, []), so the core
// gives 0 and '' a meaning everywhere: term 0 and index 0 mean "none / before the first entry",
// id '' means "nobody".

/** What an entry carries. Values equal the proto enum `govfs.raft.EntryKind`. */
export const EntryKind = {
  /** Application data, handed to the state machine. */
  Normal: 0,
  /** Appended by each new leader so it can commit an entry of its own term at once. */
  Noop: 1,
  /** A single-server membership change; `data` is `encodeConfChange(...)`. */
  ConfChange: 2,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface Entry {
  term: number;
  index: number;
  kind: EntryKind;
  data: Uint8Array;
}

/** Must be durable before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  /** Who this node voted for in `term` ('' = nobody). */
  vote: string;
  commit: number;
}

/** Voters decide elections and commits; learners only receive the log. */
export interface Membership {
  voters: string[];
  learners: string[];
}

/** A state machine snapshot covering every entry up to and including `index`. */
export interface Snapshot {
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** Membership as of `index`. */
  membership: Membership;
  data: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state, for the shell and for observers. */
export interface SoftState {
  role: Role;
  term: number;
  /** Known leader of `term` ('' = unknown). */
  leader: string;
  group: string;
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  index: number;
  ctx: string;
}

/** A single-server membership change. */
export type ConfChangeOp = 'addVoter' | 'removeVoter' | 'addLearner' | 'promoteLearner';
export interface ConfChange {
  op: ConfChangeOp;
  node: string;
}

// ---- wire messages ---------------------------------------------------------------------

interface MessageBase {
  from: string;
  to: string;
  term: number;
  /** The Raft group (log) this message belongs to; a core drops other groups' messages. */
  group: string;
}

/** Leader → follower: entries after (prevIndex, prevTerm), and the leader's commit index. */
export interface AppendEntries extends MessageBase {
  type: 'govfs.raft.AppendEntries';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

/** Follower → leader. On success `index` is the last index known to match the leader. On
 * rejection `index` is the rejected prevIndex, and the hint lets the leader skip a whole term
 * at a time: `conflictTerm` is the follower's term at prevIndex (0 if its log is shorter) and
 * `conflictIndex` the first index of that term in its log (or its last index + 1). */
export interface AppendResponse extends MessageBase {
  type: 'govfs.raft.AppendResponse';
  reject: boolean;
  index: number;
  conflictTerm: number;
  conflictIndex: number;
}

/** Candidate → voters. A pre-vote carries the term the candidate would campaign in, without
 * anyone (candidate or voter) changing term. `transfer` marks a campaign started by
 * TimeoutNow, which voters honour even while they hear from a leader. */
export interface RequestVote extends MessageBase {
  type: 'govfs.raft.RequestVote';
  lastIndex: number;
  lastTerm: number;
  preVote: boolean;
  transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  type: 'govfs.raft.VoteResponse';
  granted: boolean;
  preVote: boolean;
}

/** One chunk of a snapshot, `data` holding bytes [offset, offset + data.length) of a
 * snapshot of `totalSize` bytes. `done` marks the last chunk. */
export interface InstallSnapshot extends MessageBase {
  type: 'govfs.raft.InstallSnapshot';
  snapshotIndex: number;
  snapshotTerm: number;
  voters: string[];
  learners: string[];
  offset: number;
  totalSize: number;
  data: Uint8Array;
  done: boolean;
}

/** Follower → leader after each chunk: `offset` is how many bytes it holds of that snapshot.
 * `reject` says the chunk did not fit (gap, or unknown transfer) and the leader must resend
 * from `offset`. The end of a transfer is acknowledged with an AppendResponse instead. */
export interface SnapshotResponse extends MessageBase {
  type: 'govfs.raft.SnapshotResponse';
  snapshotIndex: number;
  offset: number;
  reject: boolean;
}

/** Leader → transfer target: campaign now. */
export interface TimeoutNow extends MessageBase {
  type: 'govfs.raft.TimeoutNow';
}

/** Leader → follower, every heartbeat interval, on commit progress and for read rounds.
 * `commit` is what the follower may commit (min of its match and the leader's commit);
 * `leaderCommit` is the leader's own commit index (for "caught up"). */
export interface Heartbeat extends MessageBase {
  type: 'govfs.raft.Heartbeat';
  commit: number;
  leaderCommit: number;
  readRound: number;
  /** No answer needed (raft.proto): a quiet leader that checks no quorum. */
  quiet: boolean;
}

export interface HeartbeatResponse extends MessageBase {
  type: 'govfs.raft.HeartbeatResponse';
  readRound: number;
}

/** Follower → leader: a read the follower's client asked for. */
export interface ReadIndexRequest extends MessageBase {
  type: 'govfs.raft.ReadIndexRequest';
  readCtx: string;
}

/** Leader → follower: the read index for `readCtx`, confirmed by a quorum. */
export interface ReadIndexResponse extends MessageBase {
  type: 'govfs.raft.ReadIndexResponse';
  readCtx: string;
  index: number;
}

export type RaftMessage =
  | AppendEntries
  | AppendResponse
  | RequestVote
  | VoteResponse
  | InstallSnapshot
  | SnapshotResponse
  | TimeoutNow
  | Heartbeat
  | HeartbeatResponse
  | ReadIndexRequest
  | ReadIndexResponse;

export type RaftMessageType = RaftMessage['type'];

export const RAFT_MESSAGE_TYPES: readonly RaftMessageType[] = [
  'govfs.raft.AppendEntries',
  'govfs.raft.AppendResponse',
  'govfs.raft.RequestVote',
  'govfs.raft.VoteResponse',
  'govfs.raft.InstallSnapshot',
  'govfs.raft.SnapshotResponse',
  'govfs.raft.TimeoutNow',
  'govfs.raft.Heartbeat',
  'govfs.raft.HeartbeatResponse',
  'govfs.raft.ReadIndexRequest',
  'govfs.raft.ReadIndexResponse',
];

// ---- configuration, restore, outputs ------------------------------------------------------

export interface RaftConfig {
  id: string;
  /** The log this core runs: 'cluster' for the president's log, a ministry id otherwise. */
  group: string;
  mode: 'elected' | 'appointed';
  /** Bootstrap membership, used only while neither the log nor a snapshot holds one. A node
   * that joins an existing cluster starts with no voters and learns its membership from the
   * leader. In appointed mode membership comes from `appoint`. */
  voters: string[];
  learners?: string[];
  /** Uniform integer in [lo, hi], inclusive; seeded by the caller. */
  randomInt: (lo: number, hi: number) => number;
  /** Ticks without a leader before a follower campaigns (randomized in [e, 2e-1]). Default 10. */
  electionTicks?: number;
  /** Ticks between leader heartbeats. Default 1. */
  heartbeatTicks?: number;
  /** Ticks between heartbeats while the group is quiet: every follower has every entry and
   * the latest commit index, and no read or transfer waits (an idle cluster then costs near
   * nothing). Any change brings heartbeats back to `heartbeatTicks`. Default heartbeatTicks
   * (no backoff); in elected mode at most electionTicks / 2, so check-quorum and followers'
   * election timers still hear from the leader in time. */
  idleHeartbeatTicks?: number;
  /** Per follower, the most AppendEntries in flight (unacknowledged). Default 64. */
  maxInflight?: number;
  /** Bounds of one AppendEntries (at least one entry is always sent). Defaults 256 / 1 MiB. */
  maxEntriesPerMsg?: number;
  maxBytesPerMsg?: number;
  /** Default true (elected mode only). */
  preVote?: boolean;
  /** Default true (elected mode only). */
  checkQuorum?: boolean;
  /** Bytes per InstallSnapshot chunk. Default 64 KiB. */
  snapshotChunkSize?: number;
  /** Per follower, the most InstallSnapshot chunks in flight. Default 4. */
  maxSnapshotChunksInflight?: number;
}

/** What the shell restores from its durable store on start. */
export interface DurableState {
  hardState: HardState;
  /** Every stored entry after the snapshot, in index order, contiguous. */
  entries: Entry[];
  snapshot?: Snapshot;
  /** Index the shell's state machine has applied (default: the snapshot's index); committed
   * entries after it are handed out again in `Ready.committed`. */
  applied?: number;
}

export interface Ready {
  /** Delete all stored Raft state of this node (log, hard state, snapshot) before persisting
   * the rest of this Ready: the node was appointed into another group (see `group`). */
  wipe: boolean;
  /** The group of this Ready (changes only with `wipe`). */
  group: string;
  /** Persist if present. */
  hardState?: HardState;
  /** Persist (and restore the state machine from) if present, before `entries`. It replaces
   * the whole stored log: delete every stored entry. */
  snapshot?: Snapshot;
  /** Persist: first delete every stored entry with index >= entries[0].index, then write. */
  entries: Entry[];
  /** Send after the above is durable. */
  messages: RaftMessage[];
  /** Apply in order after the above is durable. */
  committed: Entry[];
  readStates: ReadState[];
  softState: SoftState;
  /** This node's commit index, and the highest commit index a leader of the current term
   * told it about (its own when leader). The node is caught up once it has applied
   * `leaderCommit` (see RaftCore.caughtUp). */
  commit: number;
  leaderCommit: number;
}

/** Why a leader stopped leading: a message of a higher term (`from` sent it), check-quorum
 * (fewer than a majority heard from within an election timeout), an appointment of another
 * leader, its own removal from the voters, or a move to another group. */
export type StepDownCause = 'higherTerm' | 'checkQuorum' | 'appointed' | 'removed' | 'wiped';

/** A leadership decision of the core, for the shell to log (the core itself does no I/O).
 * `term` is the term the event happened in (a campaign's: the term it asks votes for). */
export type RaftEvent =
  | {
      kind: 'campaign';
      term: number;
      preVote: boolean;
      /** electionTimeout: no message from a leader for `ticks` ticks; preVoteWon: a majority
       * would vote, so the real vote follows; transfer: the leader asked this node to take over. */
      cause: 'electionTimeout' | 'preVoteWon' | 'transfer';
      ticks: number;
      /** The leader this node followed until then ('' if none). */
      lastLeader: string;
    }
  | { kind: 'won'; term: number; votes: string[] }
  | { kind: 'lost'; term: number; preVote: boolean; rejectedBy: string[] }
  | { kind: 'stepDown'; term: number; cause: StepDownCause; newTerm: number; from: string; active: string[] };

export type NotLeaderReason = 'notLeader' | 'transferring' | 'removed';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: NotLeaderReason | 'confChangePending' | 'notReady' | 'invalid'; leader: string; message: string };

export type ReadIndexResult =
  | { ok: true }
  | { ok: false; reason: 'notLeader' | 'invalid'; leader: string; message: string };

export type TransferResult =
  | { ok: true }
  | { ok: false; reason: 'notLeader' | 'invalid' | 'appointed'; leader: string; message: string };

export type AppointResult = { ok: true } | { ok: false; reason: 'staleTerm' | 'invalid'; message: string };

export type CompactResult = { ok: true; snapshot: Snapshot } | { ok: false; reason: 'invalid'; message: string };

/** A leader appointment by the outside authority (appointed mode). */
export interface Appointment {
  /** From the authority's single counter: unique and higher than any before, across groups. */
  term: number;
  leader: string;
  members: string[];
  /** The group the appointment is for; defaults to the core's group. A different group makes
   * the core drop its whole state (Ready.wipe) and start fresh in that group. */
  group?: string;
}

export interface Status {
  id: string;
  group: string;
  mode: 'elected' | 'appointed';
  role: Role;
  term: number;
  vote: string;
  leader: string;
  commit: number;
  applied: number;
  leaderCommit: number;
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  snapshotIndex: number;
  membership: Membership;
  /** Index of the ConfChange entry that set `membership` (0: bootstrap, snapshot or
   * appointment). The change is committed once `commit` reaches it. */
  membershipIndex: number;
  /** Leader only: per peer, replication state. */
  progress?: Record<string, { match: number; next: number; state: 'probe' | 'replicate' | 'snapshot'; inflight: number }>;
  leadTransferee: string;
}
