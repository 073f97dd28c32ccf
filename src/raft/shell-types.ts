// What a RaftShell is given and what it answers: the state machine it applies to, its
// options, the outcome of a proposal and its status. Cut out of shell.ts (issue 15, point 3).

import type { PoolTask } from '../runtime/work-pool.js';
import type { SnapshotReplay } from './shell-snapshots.js';
import type { Ready, SoftState, Status } from './types.js';

export interface AppliedEntry {
  index: number;
  term: number;
  data: Uint8Array;
  /** Local time (ctx.clock.now(), ms) at which this node learned the entry was committed. */
  committedAt: number;
}

/** What the shell applies committed entries to. Only Normal entries reach `apply` (no-ops and
 * membership changes are Raft's own). */
export interface StateMachine {
  /** The result is handed to whoever proposed the entry on this node (whenApplied). */
  apply(entry: AppliedEntry): unknown;
  /** The state as of the last applied index. */
  snapshot(): Uint8Array;
  /** Replace the whole state with a snapshot taken at `index`. */
  restore(data: Uint8Array, index: number): void;
  /** restore() in steps, for a state too big to rebuild in one turn: the shell restores a
   * snapshot from its leader this way, in slices of its thread's time, and applies nothing
   * meanwhile. Until the last step the old state stays as it was; the last puts the whole new
   * state in place at once. */
  restoreSteps?(data: Uint8Array, index: number): RestoreSteps;
  /** Back to the empty state (the node moved to another group). Default: restore(empty, 0). */
  reset?(): void;
  /** Build snapshots off the actor thread (shell-snapshots.ts): a pool task that restores the
   * last snapshot (or, from empty bytes, the initial state for `context`), replays the Normal
   * entries applied since with their index and committedAt, and returns the bytes snapshot()
   * would give at the last of them. Without it, snapshot() runs on the actor thread. */
  replay?: { task: PoolTask<SnapshotReplay, Uint8Array>; context: unknown };
}

/** A restore under way (StateMachine.restoreSteps). */
export interface RestoreSteps {
  /** Restore on while `more()` says yes (asked often enough to keep a slice short): true once
   * the new state is in place. */
  step(more: () => boolean): boolean;
}

export interface RaftShellOptions {
  id: string;
  group: string;
  mode: 'elected' | 'appointed';
  voters: string[];
  learners?: string[];
  /** Actor address of peer `id`. */
  addressOf(id: string): string;
  /** Key prefix inside ctx.storage for this log (several logs may share a host's storage). */
  storagePrefix: string;
  stateMachine: StateMachine;
  /** Default 10. */
  tickMs?: number;
  /** The owning actor calls tick() every tickMs from a timer of its own (which it needs
   * anyway): one timer and one turn a tick instead of two (an idle cluster idles, issue 19). */
  ownerTicks?: boolean;
  /** Default 10 ticks. */
  electionTicks?: number;
  /** Default 1 tick. */
  heartbeatTicks?: number;
  /** Heartbeat interval of a quiet group (RaftConfig.idleHeartbeatTicks); default heartbeatTicks. */
  idleHeartbeatTicks?: number;
  /** Compact once this many entries were applied since the last snapshot (and they hold at
   * least `snapshotLogRatio` times as many bytes as that snapshot). Default 10,000. */
  snapshotEntries?: number;
  /** See snapshotEntries. Default 4. */
  snapshotLogRatio?: number;
  /** Most entries / bytes in one AppendEntries (core defaults 256 / 1 MiB). */
  maxEntriesPerMsg?: number;
  maxBytesPerMsg?: number;
  maxInflight?: number;
  snapshotChunkSize?: number;
  /** Role, leader or term changed. */
  onSoftState?(s: SoftState): void;
  /** This quiet leader sent a heartbeat round at its idle interval (idleHeartbeatTicks above
   * heartbeatTicks): other periodic messages to every member may go out with it (the
   * president's probe rounds, issue 19), so the members wake once for both. */
  onQuietHeartbeat?(): void;
  /** After each Normal entry is applied, with the state machine's result. */
  onApplied?(entry: AppliedEntry, result: unknown): void;
  /** Once after each run of entries applied together (a Ready's, or those committed while a
   * Ready is in flight), or a snapshot restored: for work that looks at the state as a whole
   * (waking readers, re-checking leases), done once per run rather than once per entry. */
  afterApply?(): void;
  /** Observation hook (tests, metrics): a Ready is about to be sent/applied; `synced` says
   * whether its writes (and all before them) were synced, or (a commit-index-only hard
   * state) merely written. Entries applied while a Ready is in flight come as a Ready with
   * only `committed`. */
  onPersisted?(ready: Ready, synced: boolean): void;
}

export type ApplyOutcome = { ok: true; result: unknown } | { ok: false; reason: 'overwritten' | 'leadershipLost' | 'unknown' | 'stopped'; message: string };

export interface ShellStatus extends Status {
  /** Index the state machine has applied (the shell's view; equals core's after advance). */
  applied: number;
  /** Local time the commit index last moved (0: never in this incarnation). */
  lastCommitAt: number;
  /** Local time this node last heard from its leader (its own clock when it leads). */
  lastLeaderContactAt: number;
  caughtUp: boolean;
}
