// The actor shell around the pure Raft core (core.ts): it runs the core inside an actor, on
// whatever runtime the actor is on (threads + lmdb, or the simulator).
//
//   - Ticks come from one timer (shell-ticks.ts: every tickMs while leading, at the election
//     deadline while following), or from the owner (ownerTicks); network messages are
//     whatever the owning actor forwards to handle(). Internal messages (ticks, "persisted") are objects owned by this
//     shell, so several shells (several logs) can live in one actor.
//   - One Ready at a time: its writes go into ctx.storage as one atomic batch, then
//     storage.sync(); the actor keeps handling messages meanwhile (proposals and responses
//     queue up in the core and form the next Ready: group commit). When the sync resolves
//     (ctx.pipeToSelf, back in the actor's turn) the shell sends the Ready's messages, serves
//     reads and calls advance(). Committed entries are applied as soon as they are known
//     (durable on a majority), without waiting for this node's own write, except behind a
//     snapshot or wipe that must be restored first.
//   - Storage layout under `storagePrefix`: see shell-storage.ts and log-store.ts.
//   - When `snapshotEntries` entries were applied since the last snapshot, and they hold at least
//     `snapshotLogRatio` times as many bytes as that snapshot, the state machine is snapshotted,
//     the core compacts, and the snapshot and the deletion of the entries it covers are written
//     in one batch. The byte rule keeps snapshots of a large state machine from costing more
//     than the log they replace: without it, a namespace of n files was encoded whole every
//     10,000 entries. At a ratio of 1, snapshots of a growing namespace still cost about a fifth
//     of each replica's apply time (measured, 2 ministries of creates); at 4 the log on disk is
//     at most about 4 snapshots long, and a restart replays at most that much.
//   - Perishable entries: each applied entry carries `committedAt`, the local time at which this
//     node first saw its commit index reach the entry; caughtUp() says whether the node has
//     applied everything its leader reported committed and heard from the leader within a
//     heartbeat interval.
//
// Around it: shell-types.ts (its options, the state machine interface, its status),
// shell-storage.ts (what it stores, read back and written per Ready), shell-waiting.ts
// (proposals and reads waiting to be applied, commit times) and shell-snapshots.ts (snapshots
// built off the thread). Over 600 lines: the ready loop, apply and compaction below read and
// move the same indices (applied, snapshot, stored) at every step; split, each would reach
// into the others' state.

import type { Cancel, Context } from '../runtime/types.js';
import { prefixed } from '../runtime/storage.js';
import { CorruptStorageError } from '../runtime/sealed.js';
import type { Storage, StorageOp } from '../runtime/storage.js';
import { RaftCore } from './core.js';
import { compactOps, encodeSnapshot } from './log-store.js';
import { K_SNAP, loadRaftState, needsSync, readyOps, type TermStarts } from './shell-storage.js';
import { ApplyWaiters, CommitTimes, PendingReads } from './shell-waiting.js';
import { TickSchedule } from './shell-ticks.js';
import { type MadeSnapshot, type SnapshotBuild, SnapshotMaker, madeFromSealed } from './shell-snapshots.js';
import type { AppliedEntry, ApplyOutcome, RaftShellOptions, RestoreSteps, ShellStatus, StateMachine } from './shell-types.js';

export type { AppliedEntry, ApplyOutcome, RaftShellOptions, RestoreSteps, ShellStatus, StateMachine } from './shell-types.js';
import { describeRaftEvent } from './events.js';
import {
  EntryKind,
  RAFT_MESSAGE_TYPES,
  type AppointResult,
  type Appointment,
  type ConfChange,
  type Entry,
  type ProposeResult,
  type RaftMessage,
  type Ready,
  type Snapshot,
  type SoftState,
  type TransferResult,
} from './types.js';

/** Ticks without another write after which a deferred commit index is written anyway: a
 * node restarted after a crash starts from the commit index it stored, and serves what it
 * applied once it has heard from its leader. */
const DEFERRED_FLUSH_TICKS = 2;
/** Followers whose last answer a leader keeps (heardFrom): a bound against made-up ids. */
const MAX_ANSWERED = 1024;
/** The longest a quiet follower's tick timer sleeps, in ticks (one that never campaigns parks:
 * TickSchedule.park). */
const MAX_SLEEP_TICKS = 20;

/** Internal messages of one shell (tick, persisted, persist failed, kick, a snapshot built). */
class ShellSignal {
  constructor(
    readonly owner: RaftShell,
    readonly kind: 'tick' | 'persisted' | 'failed' | 'kick' | 'built' | 'restore',
    readonly ready?: Ready,
    readonly error?: unknown,
    readonly build?: SnapshotBuild,
    readonly data?: Uint8Array,
  ) {}
}

const RAFT_TYPES = new Set<string>(RAFT_MESSAGE_TYPES);
/** Messages only a leader sends, which may leave before its own Ready is durable. */
const EARLY = new Set<string>(['govfs.raft.AppendEntries', 'govfs.raft.Heartbeat', 'govfs.raft.InstallSnapshot']);
const EMPTY = new Uint8Array(0);
/** A snapshot from the leader is restored in slices of this much of the thread's time (when the
 * state machine can restore in steps), so that the other actors on the thread go on meanwhile
 * (issue 19, point 4: a 55,000-file namespace took ~130 ms in one go). */
const RESTORE_SLICE_MS = 2;

export class RaftShell {
  readonly id: string;
  /** The group this log replicates (the stored hard state's, else opts.group). */
  private group: string;
  private readonly ctx: Context;
  private readonly opts: RaftShellOptions;
  private readonly st: Storage;
  private readonly sm: StateMachine;
  /** Snapshots, built off the thread when the state machine can replay (shell-snapshots.ts). */
  private readonly snapshots: SnapshotMaker;
  private readonly core: RaftCore;
  private readonly tickMs: number;
  private readonly heartbeatTicks: number;
  private readonly idleHeartbeatTicks: number;
  private readonly electionTicks: number;
  private readonly snapshotEntries: number;
  private readonly snapshotLogRatio: number;
  private readonly refs = new Map<string, { tell(m: unknown): void }>();
  private cancelTick: Cancel | undefined;
  /** The shell's own tick timer (null when the owner ticks it). */
  private readonly ticks: TickSchedule | null;
  private readonly tickSignal = new ShellSignal(this, 'tick');
  private stopped = false;
  private inFlight: Ready | undefined;
  /** A snapshot being restored in steps: the in-flight Ready's (a leader's), or with no Ready the
   * one stored here (at start). Nothing is applied until it is in; at start no Ready is made
   * either, and the owner holds what reads the state (see `ready`). */
  private restoring: { snapshot: Snapshot; ready: Ready | null; steps: RestoreSteps } | null = null;
  private kicked = false;
  /** Messages of the Ready in flight that wait for its sync. */
  private lateMessages: RaftMessage[] = [];
  /** A commit-index-only hard state not written yet (see pump), and for how many ticks. */
  private deferredOps: StorageOp[] | null = null;
  private deferredTicks = 0;
  /** Term and vote as last written (what needsSync compares against). */
  private persistedHs: { term: number; vote: string } = { term: 0, vote: '' };

  /** Last index applied to the state machine. */
  private appliedIndex = 0;
  private snapshotIndex = 0;
  /** Where the stored snapshot is, for the error if it does not restore. */
  private storedSnapshotKey = '';
  /** Size of the last snapshot taken or restored, and the entry bytes applied since. */
  private snapshotBytes = 0;
  private bytesSinceSnapshot = 0;
  /** Highest entry index in storage (to skip needless deletes on append). */
  private storedLast = 0;
  private readonly commitTimes = new CommitTimes();
  private lastLeaderContactAt = 0;
  /** While leading: when each follower last answered (heardFrom). */
  private readonly answeredAt = new Map<string, number>();
  /** Local time of the last tick, and the longest gap between two ticks since this node last
   * heard from its leader: a gap well over tickMs means this node's own thread was stalled. */
  private lastTickAt = 0;
  /** The leader last heard from (a silence is measured between messages of one leader). */
  private contactLeader = '';
  private maxTickGapMs = 0;
  private soft: SoftState;
  private readonly terms: TermStarts;
  private readonly waiters = new ApplyWaiters();
  private readonly reads = new PendingReads();
  private readSeq = 0;

  constructor(ctx: Context, opts: RaftShellOptions) {
    this.ctx = ctx;
    this.opts = opts;
    this.id = opts.id;
    this.sm = opts.stateMachine;
    this.snapshots = new SnapshotMaker(this.sm, () => ctx.pool);
    this.tickMs = opts.tickMs ?? 10;
    this.electionTicks = opts.electionTicks ?? 10;
    this.heartbeatTicks = opts.heartbeatTicks ?? 1;
    this.idleHeartbeatTicks = opts.idleHeartbeatTicks ?? this.heartbeatTicks;
    this.snapshotEntries = Math.max(1, opts.snapshotEntries ?? 10_000);
    this.snapshotLogRatio = Math.max(0, opts.snapshotLogRatio ?? 4);
    this.st = prefixed(ctx.storage, opts.storagePrefix);

    // Restore: hard state (with the group), snapshot, entries, term starts.
    const where = (key: string) => `raft ${opts.group} ${opts.storagePrefix}${key}`;
    const { hardState: hs, snapshot, entries, terms } = loadRaftState(this.st, where);
    this.terms = terms;
    this.snapshotBytes = snapshot?.data.length ?? 0;
    this.group = hs?.group || opts.group;
    if (hs) this.persistedHs = { term: hs.term, vote: hs.vote };
    this.core = new RaftCore(
      {
        id: opts.id,
        group: this.group,
        mode: opts.mode,
        voters: opts.voters,
        learners: opts.learners ?? [],
        randomInt: (lo, hi) => ctx.random.int(lo, hi),
        electionTicks: this.electionTicks,
        heartbeatTicks: this.heartbeatTicks,
        idleHeartbeatTicks: this.idleHeartbeatTicks,
        ...(opts.maxEntriesPerMsg !== undefined && { maxEntriesPerMsg: opts.maxEntriesPerMsg }),
        ...(opts.maxBytesPerMsg !== undefined && { maxBytesPerMsg: opts.maxBytesPerMsg }),
        ...(opts.maxInflight !== undefined && { maxInflight: opts.maxInflight }),
        ...(opts.snapshotChunkSize !== undefined && { snapshotChunkSize: opts.snapshotChunkSize }),
      },
      {
        hardState: hs ? { term: hs.term, vote: hs.vote, commit: hs.commit } : { term: 0, vote: '', commit: 0 },
        entries,
        ...(snapshot && { snapshot }),
        applied: snapshot?.index ?? 0,
      },
    );
    if (snapshot) {
      this.storedSnapshotKey = where(K_SNAP);
      // A state machine that restores in steps does so in slices of the thread, from the next
      // turn on (a restart behind a 55,000-file snapshot took 16-58 ms in one go).
      const steps = this.sm.restoreSteps?.(snapshot.data, snapshot.index);
      if (steps !== undefined) {
        this.restoring = { snapshot, ready: null, steps };
        ctx.self.tell(new ShellSignal(this, 'restore'));
      } else {
        try {
          this.sm.restore(snapshot.data, snapshot.index);
        } catch (e) {
          throw this.unreadable(e);
        }
        this.appliedIndex = snapshot.index;
      }
      this.snapshotIndex = snapshot.index;
      this.snapshots.reset(snapshot.data, snapshot.index);
      // Defensive: the term of the snapshot's own index is always known.
      if (this.terms.knownFrom > snapshot.index) this.terms.restored(snapshot.index, snapshot.term, false);
    }
    this.storedLast = entries.length > 0 ? entries[entries.length - 1]!.index : this.snapshotIndex;
    // Everything up to the durable commit index is known committed as of now.
    this.noteCommit();
    this.soft = this.core.softState();
    this.ticks = opts.ownerTicks ? null : new TickSchedule(this.tickMs, ctx.clock.now());
    this.armTick();
    ctx.signal.addEventListener('abort', () => this.stop(), { once: true });
    this.kick();
  }

  // ---- messages ---------------------------------------------------------------------------

  /** Feed one message the owning actor received. True if it was this shell's (a Raft message
   * of its group addressed to it, or one of its internal messages) and was consumed. */
  handle(msg: unknown): boolean {
    if (msg instanceof ShellSignal) {
      if (msg.owner !== this) return false;
      if (this.stopped) return true;
      switch (msg.kind) {
        case 'tick':
          this.onTimerTick();
          break;
        case 'kick':
          this.kicked = false;
          break;
        case 'persisted':
          this.finish(msg.ready!, true);
          break;
        case 'built':
          this.built(msg.build!, msg.data, msg.error);
          break;
        case 'restore':
          this.restoreOn();
          break;
        case 'failed':
          // Storage is broken: fail the actor (its supervisor restarts it over what is durable).
          throw msg.error instanceof Error ? msg.error : new Error(`raft ${this.id}: storage sync failed: ${String(msg.error)}`);
      }
      this.pump();
      this.armTick();
      return true;
    }
    if (typeof msg !== 'object' || msg === null) return false;
    const m = msg as RaftMessage;
    if (typeof m.type !== 'string' || !RAFT_TYPES.has(m.type)) return false;
    if (m.group !== this.group || m.to !== this.id) return false;
    if (this.stopped) return true;
    this.catchUp();
    this.core.step(m);
    this.logEvents();
    if (this.inFlight && !this.restoring) this.applyCommitted();
    if ((m.type === 'govfs.raft.HeartbeatResponse' || m.type === 'govfs.raft.AppendResponse') && this.soft.role === 'leader' && (this.answeredAt.has(m.from) || this.answeredAt.size < MAX_ANSWERED)) {
      this.answeredAt.set(m.from, this.ctx.clock.now());
    }
    if (
      (m.type === 'govfs.raft.AppendEntries' || m.type === 'govfs.raft.Heartbeat' || m.type === 'govfs.raft.InstallSnapshot') &&
      m.from === this.core.softState().leader
    ) {
      this.leaderContact(m.from);
    }
    // The kick batches what several queued messages make ready into one write. A heartbeat
    // (or its answer) writes nothing that needs a sync: its Ready goes out now, and one that
    // made nothing ready costs no extra turn (most of an idle cluster's turns were kicks).
    if (m.type === 'govfs.raft.Heartbeat' || m.type === 'govfs.raft.HeartbeatResponse') this.pump();
    else this.kick();
    this.armTick();
    return true;
  }

  /** One tick, for an owner that ticks this shell itself (RaftShellOptions.ownerTicks). */
  tick(): void {
    if (this.stopped) return;
    this.onTick();
    this.pump();
  }

  private onTick(): void {
    const now = this.ctx.clock.now();
    if (this.lastTickAt > 0) this.maxTickGapMs = Math.max(this.maxTickGapMs, now - this.lastTickAt);
    this.lastTickAt = now;
    this.ticked(1, now);
  }

  /** The shell's own timer fired (see armTick); how late it was is how stalled this thread was. */
  private onTimerTick(): void {
    const t = this.ticks;
    if (!t) return;
    this.cancelTick?.();
    this.cancelTick = undefined;
    const now = this.ctx.clock.now();
    if (t.armedAt !== Infinity) this.maxTickGapMs = Math.max(this.maxTickGapMs, this.tickMs + Math.max(0, now - t.armedAt));
    this.ticked(t.fired(now, this.core.ticksUntilDue()), now);
  }

  /** Before an input that may change when the next tick is due (a message, a proposal, a
   * read...): deliver the ticks a sleeping timer let pass, so that the core counts them under
   * the deadline it slept for. */
  private catchUp(): void {
    const t = this.ticks;
    if (t === null || !t.sleeping) return;
    const now = this.ctx.clock.now();
    this.ticked(t.beforeMessage(now, this.core.ticksUntilDue()), now);
  }

  private ticked(n: number, now: number): void {
    if (n <= 0) return;
    const beats = this.core.quietHeartbeats;
    for (let i = 0; i < n; i++) this.core.tick();
    if (this.core.quietHeartbeats !== beats) this.opts.onQuietHeartbeat?.();
    this.logEvents();
    this.reads.expire(now);
    if (this.deferredOps && !this.inFlight && (this.deferredTicks += n) >= DEFERRED_FLUSH_TICKS) this.flushDeferred();
  }

  /** Arm the tick timer for the next tick that does something: the next one while leading or
   * while reads or a deferred commit index wait on ticks, else the election deadline. A
   * timer already set earlier stays: it re-arms when it fires (so a heartbeat, which moves the
   * deadline later, costs no timer), except in a log that heartbeats rarely when quiet
   * (issue 19): there a follower's timer would fire about once per election timeout for
   * nothing, so the timer moves with the deadline (a cancelled timer costs no wake-up; the
   * simulator's logs heartbeat every tick and keep their timers as they were). */
  private armTick(): void {
    const t = this.ticks;
    if (!t || this.stopped) return;
    const quiet = this.reads.size === 0 && this.deferredOps === null;
    const due = this.core.ticksUntilDue();
    if (quiet && due === Infinity) {
      // A clerk (or learner) with nothing waiting: no timer at all, rather than one moved with
      // every heartbeat of its minister (issue 19: most of an idle clerk's timer work).
      if (t.isParked) return;
      this.cancelTick?.();
      this.cancelTick = undefined;
      t.park();
      return;
    }
    const at = t.nextAt(quiet ? Math.min(due, MAX_SLEEP_TICKS) : 1, this.ctx.clock.now());
    if (at >= t.armedAt && !(this.idleHeartbeatTicks > this.heartbeatTicks && t.armedAt !== Infinity && at > t.armedAt)) return;
    this.cancelTick?.();
    t.armedAt = at;
    this.cancelTick = this.ctx.clock.after(Math.max(0, at - this.ctx.clock.now()), this.tickSignal);
  }

  // ---- client operations -------------------------------------------------------------------

  /** Append `data` (leader only). On success the index is the ticket: it is final unless the
   * entry is overwritten by another term (ask committed(index, term) on any member). */
  propose(data: Uint8Array): ProposeResult {
    if (this.stopped) return { ok: false, reason: 'notLeader', leader: '', message: 'raft shell stopped' };
    this.catchUp();
    const r = this.core.propose(data);
    if (r.ok) this.kick();
    return r;
  }

  /** Call `cb` once the entry proposed at (index, term) is applied here, with the state
   * machine's result; or with ok:false if another term's entry took that index, this node
   * stopped leading (the entry may still commit: ask committed()), or the shell stopped. */
  whenApplied(index: number, term: number, cb: (outcome: ApplyOutcome) => void): void {
    if (this.stopped) return cb({ ok: false, reason: 'stopped', message: 'raft shell stopped' });
    if (index <= this.appliedIndex) {
      const c = this.committed(index, term);
      return cb(c === true ? { ok: true, result: undefined } : c === false ? { ok: false, reason: 'overwritten', message: `index ${index} holds another term's entry` } : { ok: false, reason: 'unknown', message: `index ${index} was applied before this node knew of the ticket` });
    }
    this.waiters.add(index, term, cb);
  }

  /** Has the ticket (index, term) committed? true: the entry of that term is committed at
   * that index; false: another term's entry is committed there (the ticket is void);
   * 'unknown': not committed here yet, or compacted past what this node remembers. */
  committed(index: number, term: number): boolean | 'unknown' {
    const commit = this.core.commitIndex();
    if (index <= 0 || index > commit) return 'unknown';
    const t = this.committedTermAt(index);
    if (t === undefined) return 'unknown';
    return t === term;
  }

  /** The state machine's state at the applied index, for a copy (a backup): the index and the
   * bytes, or a promise of them built off the thread (SnapshotMaker.copy). */
  copyState(): { index: number; state: Uint8Array | Promise<Uint8Array> } {
    // Mid-restore the snapshot being restored is the state (the view is based on it already).
    const s = this.restoring?.snapshot;
    if (s !== undefined) return { index: s.index, state: s.data.slice() };
    return { index: this.appliedIndex, state: this.snapshots.copy() };
  }

  /** Linearizable read: cb(true) once the leader confirmed (with a quorum) it still leads and
   * this node has applied the read index; cb(false) if that fails or takes longer than two
   * election timeouts (retry, perhaps on the leader). */
  readIndex(cb: (ok: boolean) => void): void {
    if (this.stopped) return cb(false);
    const ctx = `${this.id}:${++this.readSeq}`;
    this.catchUp();
    const r = this.core.readIndex(ctx);
    if (!r.ok) return cb(false);
    this.reads.add(ctx, cb, this.ctx.clock.now() + 2 * this.electionTicks * this.tickMs);
    this.armTick();
    this.kick();
  }

  appoint(a: Appointment): AppointResult {
    this.catchUp();
    const r = this.core.appoint(a);
    this.logEvents();
    this.kick();
    return r;
  }

  proposeConfChange(c: ConfChange): ProposeResult {
    this.catchUp();
    const r = this.core.proposeConfChange(c);
    if (r.ok) this.kick();
    return r;
  }

  transferLeadership(to: string): TransferResult {
    this.catchUp();
    const r = this.core.transferLeadership(to);
    if (r.ok && to !== this.id) this.ctx.log.info({ node: this.id, group: this.group, term: this.core.softState().term, to }, 'raft leadership transfer started');
    this.kick();
    return r;
  }

  /** Perishable entries: applied everything the leader reported committed, and heard from the
   * leader within a heartbeat interval (a quiet group's, which is the longer; plus one tick of
   * slack for timer phase); a leader is
   * caught up once it applied its commit index. */
  caughtUp(): boolean {
    if (this.stopped) return false;
    const s = this.soft;
    const commit = this.core.commitIndex();
    if (s.role === 'leader') return this.appliedIndex >= commit;
    if (s.leader === '') return false;
    const fresh = this.ctx.clock.now() - this.lastLeaderContactAt <= (this.idleHeartbeatTicks + 1) * this.tickMs;
    return fresh && this.appliedIndex >= Math.max(this.core.leaderCommitIndex(), commit);
  }

  status(): ShellStatus {
    const s = this.core.status();
    return { ...s, applied: this.appliedIndex, lastCommitAt: this.commitTimes.lastAt, lastLeaderContactAt: this.lastLeaderContactAt, caughtUp: this.caughtUp() };
  }

  softState(): SoftState {
    return this.core.softState();
  }

  /** While this member leads: when follower `id` last answered a heartbeat or an append (its
   * node is alive then), or undefined. */
  heardFrom(id: string): number | undefined {
    return this.soft.role === 'leader' ? this.answeredAt.get(id) : undefined;
  }

  // ---- cheap accessors (hot paths, invariant checkers) -------------------------------------

  get commitIndex(): number {
    return this.core.commitIndex();
  }
  get applied(): number {
    return this.appliedIndex;
  }
  get lastIndex(): number {
    return this.core.lastIndex();
  }
  get currentGroup(): string {
    return this.group;
  }
  get isStopped(): boolean {
    return this.stopped;
  }
  /** Term of the log entry at `index` (undefined if compacted or beyond the end). */
  termAt(index: number): number | undefined {
    return this.core.termAt(index);
  }
  /** Entries held in memory after the snapshot. */
  entries(): readonly Entry[] {
    return this.core.entries();
  }

  /** Cancel timers and fail what waits; also runs when the owning actor stops. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelTick?.();
    this.flushDeferred();
    this.waiters.fail(() => true, 'stopped', 'raft shell stopped');
    this.reads.failAll();
  }

  // ---- leadership log ----------------------------------------------------------------------

  /** A message from the leader: note the time, and (debug) a silence of over half an election
   * timeout before it, with how late this node's own ticks were meanwhile. */
  private leaderContact(leader: string): void {
    const now = this.ctx.clock.now();
    const silentMs = now - this.lastLeaderContactAt;
    const same = leader === this.contactLeader;
    this.contactLeader = leader;
    if (same && this.lastLeaderContactAt > 0 && 2 * silentMs > this.electionTicks * this.tickMs) {
      this.ctx.log.debug({ node: this.id, group: this.group, leader, silentMs, maxTickGapMs: this.maxTickGapMs }, 'raft leader heard again after a silence');
    }
    this.lastLeaderContactAt = now;
    this.maxTickGapMs = 0;
  }

  /** Log the core's leadership decisions (elections, their outcome, step-downs) at info, with
   * what led to them: how long the leader had been silent, and how late this node's ticks
   * were (a stalled thread counts no ticks, so its own stalls do not time elections out). */
  private logEvents(): void {
    const events = this.core.takeEvents();
    if (events.length === 0) return;
    const silentMs = this.lastLeaderContactAt > 0 ? Math.round(this.ctx.clock.now() - this.lastLeaderContactAt) : null;
    for (const e of events) {
      const { fields, text } = describeRaftEvent(e, { node: this.id, group: this.group, tickMs: this.tickMs, silentMs, maxTickGapMs: Math.round(this.maxTickGapMs) });
      this.ctx.log.info(fields, text);
      if (e.kind === 'campaign' && e.cause === 'electionTimeout') this.maxTickGapMs = 0;
    }
  }

  // ---- the ready loop -----------------------------------------------------------------------

  /** Write a deferred commit-index-only hard state (see pump). */
  private flushDeferred(): void {
    const ops = this.deferredOps;
    this.deferredOps = null;
    if (!ops) return;
    try {
      this.st.batch(ops);
    } catch (e) {
      // Stopping over storage that is already closed: the commit index is learnt again from
      // the leader, so nothing is lost; anything else is a storage failure.
      if (!this.stopped) throw e;
    }
  }

  /** Process the Ready at the end of this turn's batch of messages (so a burst of proposals
   * or responses forms one Ready): a self-message, never a timer. */
  private kick(): void {
    if (this.kicked || this.stopped || this.inFlight || this.restoring) return;
    this.kicked = true;
    this.ctx.self.tell(new ShellSignal(this, 'kick'));
  }

  private pump(): void {
    // (A restore at start makes no Ready until it is in: its committed entries apply after it.)
    while (!this.stopped && !this.inFlight && !this.restoring) {
      this.noteCommit();
      if (!this.core.hasReady()) return;
      const r = this.core.ready();
      this.inFlight = r;
      this.onSoftState(r.softState);
      // Committed entries are durable on a majority: apply them now, not after this node's
      // own write (unless a snapshot or wipe must be restored first).
      if (!r.snapshot && !r.wipe) this.applyRun(r.committed);
      const ops = this.persistOps(r);
      // A leader's replication messages go out at once, in parallel with its own write
      // (Raft dissertation 10.2.1): they promise nothing about this node's storage, the
      // leader's term is already durable (elected mode: persisted before its RequestVotes;
      // appointed mode: terms are never reused), and the core counts the leader's own copy
      // of new entries only after advance(). Everything else waits for the sync.
      let late = r.messages;
      if (r.messages.length > 0) {
        late = [];
        for (const m of r.messages) {
          if (EARLY.has(m.type)) this.send(m);
          else late.push(m);
        }
      }
      this.lateMessages = late;
      if (ops.length === 0 || !needsSync(r, this.persistedHs)) {
        // Nothing whose durability anyone relies on: a commit-index-only hard state (a lost
        // commit index is learnt again from the leader). It is not written on its own: with
        // lmdb every write is a commit with an fsync, which the next Ready's write would queue
        // behind (measured: +0.25 ms on every create and lease). It rides with the next write,
        // or is written once the log has been idle for two ticks, or when the shell stops.
        if (ops.length > 0) {
          this.deferredOps = ops;
          this.deferredTicks = 0;
        }
        this.finish(r, false);
        continue;
      }
      // A Ready that writes the hard state itself supersedes the deferred one.
      if (this.deferredOps && !r.hardState && !r.wipe) ops.unshift(...this.deferredOps);
      this.deferredOps = null;
      this.st.batch(ops);
      this.ctx.pipeToSelf(
        this.st.sync(),
        () => new ShellSignal(this, 'persisted', r),
        (e) => new ShellSignal(this, 'failed', undefined, e),
      );
    }
  }

  private persistOps(r: Ready): StorageOp[] {
    const hs = r.hardState || r.wipe ? (r.hardState ?? this.core.hardState()) : undefined;
    const { ops, storedLast } = readyOps(this.st, r, this.storedLast, hs);
    this.storedLast = storedLast;
    if (hs) this.persistedHs = { term: hs.term, vote: hs.vote };
    return ops;
  }

  /** While a Ready is in flight: apply what has committed since (see core.takeCommitted). */
  private applyCommitted(): void {
    this.noteCommit();
    const entries = this.core.takeCommitted();
    if (entries.length === 0) return;
    const soft = this.core.softState();
    this.opts.onPersisted?.({ wipe: false, group: this.group, entries: [], messages: [], committed: entries, readStates: [], softState: soft, commit: this.core.commitIndex(), leaderCommit: this.core.commitIndex() }, false);
    this.applyRun(entries);
    this.reads.serve(this.appliedIndex);
  }

  /** The Ready is durable: send, apply, serve reads, advance. */
  private finish(r: Ready, synced: boolean): void {
    if (r !== this.inFlight || this.stopped) return;
    this.opts.onPersisted?.(r, synced);
    for (const m of this.lateMessages) this.send(m);
    this.lateMessages = [];
    if (r.wipe) {
      this.group = r.group;
      if (this.sm.reset) this.sm.reset();
      else this.sm.restore(EMPTY, 0);
      this.appliedIndex = this.snapshotIndex = 0;
      this.snapshotBytes = this.bytesSinceSnapshot = 0;
      this.snapshots.reset(EMPTY, 0);
      this.terms.reset();
      this.commitTimes.reset();
      this.waiters.fail(() => true, 'unknown', 'this node moved to another group');
    }
    if (r.snapshot) {
      const s = r.snapshot;
      // Builds begun before are dropped: their base is gone.
      this.snapshots.reset(s.data, s.index);
      const steps = this.sm.restoreSteps?.(s.data, s.index);
      if (steps === undefined) this.sm.restore(s.data, s.index);
      else if (!this.restoreStep(steps)) {
        // The rest in later turns; the old state stays as it was until the last step.
        this.restoring = { snapshot: s, ready: r, steps };
        this.ctx.self.tell(new ShellSignal(this, 'restore'));
        return;
      }
    }
    this.finishApplying(r);
  }

  /** One slice of a restore in steps: true once it is done. */
  private restoreStep(steps: RestoreSteps): boolean {
    const until = this.ctx.clock.now() + RESTORE_SLICE_MS;
    return steps.step(() => this.ctx.clock.now() < until);
  }

  /** The next slice of the snapshot being restored, and the rest of its Ready once it is in. */
  private restoreOn(): void {
    const at = this.restoring;
    if (at === null) return;
    let done: boolean;
    try {
      done = this.restoreStep(at.steps);
    } catch (e) {
      throw at.ready === null ? this.unreadable(e) : e;
    }
    if (!done) {
      this.ctx.self.tell(new ShellSignal(this, 'restore'));
      return;
    }
    this.restoring = null;
    if (at.ready !== null) return this.finishApplying(at.ready);
    // The stored snapshot is in: the state is whole, at its index. What is known committed after
    // it applies in this turn too, before the owner hears of the state, as when a restart
    // restored in one go: the owner never acts on the snapshot's state alone while more is known
    // committed (a new minister would see open what its log has ended).
    this.appliedIndex = at.snapshot.index;
    this.pump();
    if (this.appliedIndex === at.snapshot.index) this.opts.afterApply?.();
    this.reads.serve(this.appliedIndex);
  }

  /** The stored snapshot passed its checksum (or predates them), yet the state machine cannot
   * read it: the node's storage is corrupt. */
  private unreadable(e: unknown): CorruptStorageError {
    return new CorruptStorageError(`${this.storedSnapshotKey} does not restore: ${(e as Error).message}`, { cause: e });
  }

  /** False while the snapshot stored here is restored in steps, at start: the state machine is
   * not whole yet, so an owner that reads it directly (a minister's reads under its lease) holds
   * those reads until afterApply. */
  get ready(): boolean {
    return this.restoring === null || this.restoring.ready !== null;
  }

  /** The rest of finish(): the snapshot (restored by now) and the committed entries applied,
   * reads served, the Ready advanced. */
  private finishApplying(r: Ready): void {
    if (r.snapshot) {
      const s = r.snapshot;
      this.appliedIndex = this.snapshotIndex = s.index;
      this.snapshotBytes = s.data.length;
      this.bytesSinceSnapshot = 0;
      this.terms.restored(s.index, s.term);
      this.waiters.fail((i) => i <= s.index, 'unknown', 'a snapshot from the leader covered this index; ask committed() on the leader');
    }
    this.applyRun(r.committed, r.snapshot !== undefined || r.wipe);
    for (const rs of r.readStates) this.reads.confirmed(rs.ctx, rs.index);
    this.core.advance(r);
    this.inFlight = undefined;
    this.reads.serve(this.appliedIndex);
    this.maybeCompact();
  }

  /** Apply a run of committed entries, then tell the owner once (afterApply), also when the
   * state was just restored or reset and the run is empty. */
  private applyRun(entries: readonly Entry[], restored = false): void {
    for (const e of entries) this.apply(e);
    if (entries.length > 0 || restored) this.opts.afterApply?.();
  }

  private apply(e: Entry): void {
    if (e.index <= this.appliedIndex) return;
    const at = this.commitTimes.timeOf(e.index, this.ctx.clock.now());
    this.appliedIndex = e.index;
    this.bytesSinceSnapshot += e.data.length;
    this.terms.applied(e.index, e.term);
    let result: unknown;
    if (e.kind === EntryKind.Normal) {
      const entry: AppliedEntry = { index: e.index, term: e.term, data: e.data, committedAt: at };
      result = this.sm.apply(entry);
      this.snapshots.applied(entry);
      this.opts.onApplied?.(entry, result);
    }
    this.waiters.applied(e.index, e.term, result);
  }

  private maybeCompact(): void {
    const since = this.appliedIndex - this.snapshotIndex;
    if (2 * since >= this.snapshotEntries) this.snapshots.approaching();
    if (this.snapshots.building || since < this.snapshotEntries) return;
    if (this.bytesSinceSnapshot < this.snapshotLogRatio * this.snapshotBytes) return;
    const index = this.appliedIndex;
    const bytes = this.bytesSinceSnapshot;
    const made = this.snapshots.make(index, bytes, this.core.snapshotMeta(index)!);
    if (!(made instanceof Promise)) {
      if (this.compactAt(index, made, bytes)) this.snapshots.reset(made.data, index);
      return;
    }
    const b = this.snapshots.building!;
    this.ctx.pipeToSelf(made, (data) => new ShellSignal(this, 'built', undefined, undefined, b, data), (e) => new ShellSignal(this, 'built', undefined, e ?? new Error('failed'), b));
  }

  /** A snapshot built off the thread came back (or failed): install it unless outdated. */
  private built(b: SnapshotBuild, sealed: Uint8Array | undefined, error: unknown): void {
    if (!this.snapshots.finished(b, error === undefined)) {
      if (error !== undefined) this.ctx.log.warn({ err: error, group: this.group, index: b.index }, 'raft snapshot built off the thread failed; the next is taken on the thread');
      return;
    }
    const made = madeFromSealed(sealed!, b.meta);
    if (this.compactAt(b.index, made, b.bytes)) {
      this.snapshots.installed(made.data, b.index);
      this.ctx.log.debug({ group: this.group, index: b.index, bytes: made.data.length }, 'raft snapshot built off the thread installed');
    } else this.snapshots.lost();
  }

  /** Compact the log at `index` with the state machine's snapshot there, which covers `bytes`
   * of the entry bytes applied since the last one. */
  private compactAt(index: number, made: MadeSnapshot, bytes: number): boolean {
    const res = this.core.compact(index, made.data);
    if (!res.ok) return false;
    this.snapshotIndex = index;
    this.snapshotBytes = made.data.length;
    this.bytesSinceSnapshot -= bytes;
    // Sealed off the thread for this term and membership, unless they changed since (an
    // appointment can change an appointed group's membership).
    const s = res.snapshot;
    const sealedFits = made.sealed !== null && made.meta !== null && made.meta.term === s.term && JSON.stringify(made.meta.membership) === JSON.stringify(s.membership);
    // Snapshot and the deletion of the entries it covers in one atomic batch: a crash keeps
    // both or neither. It becomes durable with the next Ready's sync.
    this.st.batch([{ op: 'put', key: K_SNAP, value: sealedFits ? made.sealed! : encodeSnapshot(s), owned: true }, ...compactOps(this.st, index)]);
    return true;
  }

  private onSoftState(s: SoftState): void {
    const prev = this.soft;
    if (s.role === prev.role && s.term === prev.term && s.leader === prev.leader && s.group === prev.group) return;
    this.soft = s;
    if (prev.role === 'leader' && (s.role !== 'leader' || s.term !== prev.term)) {
      this.waiters.fail(() => true, 'leadershipLost', 'this node stopped leading; the entry may still commit: ask committed(index, term)');
    }
    if (s.leader !== '' && s.leader !== prev.leader) {
      this.lastLeaderContactAt = this.ctx.clock.now();
      this.maxTickGapMs = 0;
      this.ctx.log.debug({ node: this.id, group: this.group, term: s.term, leader: s.leader }, 'raft leader known');
    }
    this.opts.onSoftState?.(s);
  }

  private send(m: RaftMessage): void {
    let ref = this.refs.get(m.to);
    if (!ref) {
      ref = this.ctx.ref(this.opts.addressOf(m.to));
      this.refs.set(m.to, ref);
    }
    try {
      ref.tell(m);
    } catch (e) {
      // An unreachable peer is a lost message, which Raft tolerates.
      this.ctx.log.debug({ err: e, to: m.to }, 'raft send failed');
      this.core.reportUnreachable(m.to);
    }
  }

  // ---- commit times and terms ----------------------------------------------------------

  private noteCommit(): void {
    this.commitTimes.note(this.core.commitIndex(), this.ctx.clock.now());
  }

  private committedTermAt(index: number): number | undefined {
    if (index > this.appliedIndex) return this.core.termAt(index);
    return this.terms.termAt(index);
  }
}
