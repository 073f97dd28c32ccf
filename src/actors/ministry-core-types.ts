// The types a ministry member's pure core (ministry-core.ts) takes and gives: its options, the
// requests, its inputs and effects. Cut out of ministry-core.ts to keep it under 600 lines.

import type { UncommittedCopies } from './uncommitted-copies.js';
import type { ClusterState, MinistryRecord } from './cluster-state.js';
import type { FsErrorCode, FsErrorData } from '../fs/errors.js';
import type { ClientOp, CrossRenameBeginMessage, CrossRenamePrepareMessage, MinistryInfo } from '../fs/requests.js';
import type { Vote } from './rename-ledger.js';
import type { ApplyOutcome } from '../raft/shell.js';
import type { Appointment, ProposeResult } from '../raft/types.js';
import type { ClientOutcome, MinistryNamespace } from './ministry-namespace.js';

/** What the core reads of its group log (the shell's RaftShell). */
export interface GroupLogView {
  readonly applied: number;
  readonly lastIndex: number;
  termAt(index: number): number | undefined;
  /** Perishable entries: every committed entry applied, the leader heard within a heartbeat. */
  caughtUp(): boolean;
  committed(index: number, term: number): boolean | 'unknown';
  leading(): boolean;
  /** Leading, and has applied an entry of its own term (its no-op): only then has it applied all
   * that its predecessors committed, which a new leader learns only by committing in its term. */
  settled(): boolean;
}

export interface MinistryCoreOptions {
  record: MinistryRecord;
  role: 'minister' | 'clerk';
  ns: MinistryNamespace;
  log: GroupLogView;
  /** This node's copy of the cluster log. */
  cluster: () => ClusterState;
  /** The configured static ministries (NodeConfig.ministries). */
  statics?: readonly { subtree: string }[];
  clientTtlMs?: number;
  /** Chunk size and replicas per chunk of new files (issue 17; layouts.ts has the defaults). */
  data?: { chunkBytes: number; replicas: number };
  /** How long a fenced subtree waits before it is handed over: every lease in it that could
   * still be believed has run out by then (lease TTL, drift bound, a clerk's catch-up window). */
  handoverWaitMs?: number;
  /** Copies proposed and not yet named by a layout, for their collection (issue 17). */
  copies?: UncommittedCopies;
}

/** A client's request, without its operation. */
export interface MinistryRequest {
  clientId: string;
  seq: number;
  acked: number;
  path: string;
  lastSeen: number;
  linearizable: boolean;
  ticketTo: string;
  mutation: boolean;
  /** Who asks (govfs.fs.PosixCreds); absent: root. Checked where it is used (request-op.ts). */
  creds?: unknown;
}

/** The request's operation as the shell read it (request-op.ts), or why it is not one (EINVAL,
 * or ENAMETOOLONG for a path longer than any path can be). */
export type RequestOp = { ok: true; op: ClientOp } | { ok: false; message: string; code?: FsErrorCode };

/** An answer to a client, before the shell puts it on the wire. */
export type MinistryAnswer =
  | { kind: 'result'; result: ClientOutcome; index: number; term?: number }
  | { kind: 'error'; error: FsErrorData; redirect?: MinistryInfo[]; index?: number; term?: number }
  | { kind: 'redirect'; redirect: MinistryInfo[] };

/** The tickets of one client, one message: seqs[i] got log index indexes[i] in `term`. */
export interface TicketBatch {
  to: string;
  clientId: string;
  term: number;
  seqs: number[];
  indexes: number[];
}

export type Resume =
  | { kind: 'proposed'; id: number; result: ProposeResult }
  | { kind: 'apply-outcome'; id: number; outcome: ApplyOutcome }
  | { kind: 'confirmed'; id: number; ok: boolean }
  | { kind: 'subtree-deleted'; id: number; ok: boolean; reason: string; index: number };

export type MinistryInput<R> =
  | { kind: 'request'; req: MinistryRequest; op: RequestOp; reply: R }
  | { kind: 'tick' }
  | { kind: 'applied' }
  | { kind: 'appointment'; record: MinistryRecord }
  | { kind: 'flush-tickets' }
  | { kind: 'stop' }
  /** The president asks this minister to prepare a rename across ministries (rename-core.ts). */
  | { kind: 'rename-prepare'; msg: CrossRenamePrepareMessage; reply: R }
  | Resume;

export type MinistryEffect<R> =
  | { kind: 'reply'; to: R; answer: MinistryAnswer }
  | { kind: 'ticket'; batch: TicketBatch }
  | { kind: 'flush-soon' }
  | { kind: 'appoint'; appointment: Appointment }
  /** id 0: no answer wanted. */
  | { kind: 'propose'; id: number; payload: Uint8Array }
  | { kind: 'when-applied'; id: number; index: number; term: number }
  | { kind: 'read-index'; id: number }
  | { kind: 'cluster-read-index'; id: number }
  | { kind: 'subtree-delete'; id: number; subtree: string; requester: string }
  /** Renames across ministries: ask the president to coordinate; answer its prepare. */
  | { kind: 'rename-begin'; msg: CrossRenameBeginMessage }
  | { kind: 'vote'; to: R; vote: Vote };

export type ErrorExtra = { redirect?: MinistryInfo[]; index?: number; term?: number };

/** What the core's parts (the rename host, the migration duties, the layout decisions: files
 * ministry-*.ts beside it) do through the core during the step running: they emit effects and
 * await their answers in the core's one table of pending answers, as the core does itself. */
export interface MemberStep<R> {
  now(): number;
  record(): MinistryRecord;
  readonly options: MinistryCoreOptions;
  emit(effect: MinistryEffect<R>): void;
  /** Keep `k` for the answer to an effect; returns the effect's id. */
  await(k: (r: Resume) => void): number;
  /** k(true) once this node has applied every cluster log entry committed before now. */
  confirmClusterLog(k: (ok: boolean) => void): void;
  fail(reply: R, code: FsErrorCode, message: string, path: string, extra?: ErrorExtra): void;
  /** A result, as of the group log position `index`. */
  answer(reply: R, result: ClientOutcome, index: number): void;
  /** An error's redirect to this ministry (the client retries with its members). */
  self(): ErrorExtra;
}
