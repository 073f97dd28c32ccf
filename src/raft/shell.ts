// The actor shell around the pure Raft core (core.ts): it runs the core inside an actor, on
// whatever runtime the actor is on (threads + lmdb, or the simulator).
//
//   - Ticks come from ctx.clock.every(tickMs); network messages are whatever the owning actor
//     forwards to handle(). Internal messages (ticks, "persisted") are objects owned by this
//     shell, so several shells (several logs) can live in one actor.
//   - One Ready at a time: its writes go into ctx.storage as one atomic batch, then
//     storage.sync(); the actor keeps handling messages meanwhile (proposals and responses
//     queue up in the core and form the next Ready: group commit). When the sync resolves
//     (ctx.pipeToSelf, back in the actor's turn) the shell sends the Ready's messages, serves
//     reads and calls advance(). Committed entries are applied as soon as they are known
//     (durable on a majority), without waiting for this node's own write, except behind a
//     snapshot or wipe that must be restored first.
//   - Storage layout under `storagePrefix`: `hs` (hard state and group), `snap` (the last
//     snapshot), `terms` (first index of each term among applied entries, to answer
//     committed(index, term) for compacted tickets) and `e/<16-digit index>` (log segments, see log-store.ts).
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
// Over 600 lines for now: the shell's persistence ordering (fsync before acknowledging) and its
// message batching share one drain loop; splitting the snapshot transfer out is the next cut
// (architecture issue 15, point 3).

import type { Cancel, Context } from '../runtime/types.js';
import { IntTable } from '../runtime/int-table.js';
import { prefixed } from '../runtime/storage.js';
import { CorruptStorageError } from '../runtime/sealed.js';
import type { Storage, StorageOp } from '../runtime/storage.js';
import { RaftCore } from './core.js';
import { appendOps, clearOps, compactOps, loadEntries, decodeSnapshot, encodeSnapshot, json, parse } from './log-store.js';
import { describeRaftEvent } from './events.js';
import {
  EntryKind,
  RAFT_MESSAGE_TYPES,
  type AppointResult,
  type Appointment,
  type ConfChange,
  type Entry,
  type HardState,
  type ProposeResult,
  type RaftMessage,
  type Ready,
  type SoftState,
  type Status,
  type TransferResult,
} from './types.js';

/** Ticks without another write after which a deferred commit index is written anyway: a
 * node restarted after a crash starts from the commit index it stored, and serves what it
 * applied once it has heard from its leader. */
const DEFERRED_FLUSH_TICKS = 2;

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
  /** Back to the empty state (the node moved to another group). Default: restore(empty, 0). */
  reset?(): void;
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
  /** Default 10 ticks. */
  electionTicks?: number;
  /** Default 1 tick. */
  heartbeatTicks?: number;
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

/** Internal messages of one shell (tick, persisted, persist failed, kick). */
class ShellSignal {
  constructor(
    readonly owner: RaftShell,
    readonly kind: 'tick' | 'persisted' | 'failed' | 'kick',
    readonly ready?: Ready,
    readonly error?: unknown,
  ) {}
}

const RAFT_TYPES = new Set<string>(RAFT_MESSAGE_TYPES);
/** Messages only a leader sends, which may leave before its own Ready is durable. */
const EARLY = new Set<string>(['govfs.raft.AppendEntries', 'govfs.raft.Heartbeat', 'govfs.raft.InstallSnapshot']);
const EMPTY = new Uint8Array(0);

const K_HS = 'hs';
const K_SNAP = 'snap';
const K_TERMS = 'terms';
interface Waiter {
  term: number;
  cb: (o: ApplyOutcome) => void;
}

interface PendingRead {
  cb: (ok: boolean) => void;
  /** Read index, once the leader confirmed it. */
  index: number;
  deadline: number;
}

export class RaftShell {
  readonly id: string;
  private readonly ctx: Context;
  private readonly opts: RaftShellOptions;
  private readonly st: Storage;
  private readonly sm: StateMachine;
  private readonly core: RaftCore;
  private readonly tickMs: number;
  private readonly heartbeatTicks: number;
  private readonly electionTicks: number;
  private readonly snapshotEntries: number;
  private readonly snapshotLogRatio: number;
  private readonly refs = new Map<string, { tell(m: unknown): void }>();
  private cancelTick: Cancel | undefined;
  private stopped = false;
  private inFlight: Ready | undefined;
  private kicked = false;
  /** Messages of the Ready in flight that wait for its sync. */
  private lateMessages: RaftMessage[] = [];
  /** A commit-index-only hard state not written yet (see pump), and for how many ticks. */
  private deferredOps: StorageOp[] | null = null;
  private deferredTicks = 0;
  /** Term and vote as last written (what needsSync compares against). */
  private persistedHs: { term: number; vote: string } = { term: 0, vote: '' };

  private group: string;
  /** Last index applied to the state machine. */
  private appliedIndex = 0;
  private snapshotIndex = 0;
  /** Size of the last snapshot taken or restored, and the entry bytes applied since. */
  private snapshotBytes = 0;
  private bytesSinceSnapshot = 0;
  /** Highest entry index in storage (to skip needless deletes on append). */
  private storedLast = 0;
  /** (commit index, local time) whenever the commit index moved, oldest first. */
  private commitNotes: { index: number; at: number }[] = [];
  private notesHead = 0;
  private notedCommit = 0;
  private lastCommitAt = 0;
  private lastLeaderContactAt = 0;
  /** Local time of the last tick, and the longest gap between two ticks since this node last
   * heard from its leader: a gap well over tickMs means this node's own thread was stalled. */
  private lastTickAt = 0;
  /** The leader last heard from (a silence is measured between messages of one leader). */
  private contactLeader = '';
  private maxTickGapMs = 0;
  private soft: SoftState;
  /** First index of each term among applied entries; terms below `termsKnownFrom` are unknown. */
  private termStarts: { index: number; term: number }[] = [];
  private termsKnownFrom = 1;
  /** By log index (an IntTable, not a Map: see runtime/int-table.ts). */
  private waiters = new IntTable<Waiter[]>();
  private reads = new Map<string, PendingRead>();
  private readSeq = 0;

  constructor(ctx: Context, opts: RaftShellOptions) {
    this.ctx = ctx;
    this.opts = opts;
    this.id = opts.id;
    this.sm = opts.stateMachine;
    this.tickMs = opts.tickMs ?? 10;
    this.electionTicks = opts.electionTicks ?? 10;
    this.heartbeatTicks = opts.heartbeatTicks ?? 1;
    this.snapshotEntries = Math.max(1, opts.snapshotEntries ?? 10_000);
    this.snapshotLogRatio = Math.max(0, opts.snapshotLogRatio ?? 4);
    this.st = prefixed(ctx.storage, opts.storagePrefix);

    // Restore: hard state (with the group), snapshot, entries, term starts.
    const hsRaw = this.st.get(K_HS);
    const where = (key: string) => `raft ${opts.group} ${opts.storagePrefix}${key}`;
    const hs = hsRaw ? parse<HardState & { group: string }>(hsRaw, where(K_HS)) : undefined;
    const snapRaw = this.st.get(K_SNAP);
    const snapshot = snapRaw ? decodeSnapshot(snapRaw, where(K_SNAP)) : undefined;
    this.snapshotBytes = snapshot?.data.length ?? 0;
    const entries: Entry[] = [];
    entries.push(...loadEntries(this.st, snapshot?.index ?? 0));
    const termsRaw = this.st.get(K_TERMS);
    if (termsRaw) {
      const t = parse<{ from: number; starts: { index: number; term: number }[] }>(termsRaw, where(K_TERMS));
      this.termsKnownFrom = t.from;
      this.termStarts = t.starts;
    }
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
      try {
        this.sm.restore(snapshot.data, snapshot.index);
      } catch (e) {
        // It passed its checksum (or predates them), yet the state machine cannot read it.
        throw new CorruptStorageError(`${where(K_SNAP)} does not restore: ${(e as Error).message}`, { cause: e });
      }
      this.appliedIndex = this.snapshotIndex = snapshot.index;
      if (this.termsKnownFrom > snapshot.index) {
        // Defensive: the term of the snapshot's own index is always known.
        this.termsKnownFrom = snapshot.index;
        this.termStarts = [{ index: snapshot.index, term: snapshot.term }];
      }
    }
    this.storedLast = entries.length > 0 ? entries[entries.length - 1]!.index : this.snapshotIndex;
    // Everything up to the durable commit index is known committed as of now.
    this.noteCommit();
    this.soft = this.core.softState();
    this.cancelTick = ctx.clock.every(this.tickMs, new ShellSignal(this, 'tick'));
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
        case 'tick': {
          const now = this.ctx.clock.now();
          if (this.lastTickAt > 0) this.maxTickGapMs = Math.max(this.maxTickGapMs, now - this.lastTickAt);
          this.lastTickAt = now;
          this.core.tick();
          this.logEvents();
          this.expireReads();
          if (this.deferredOps && !this.inFlight && ++this.deferredTicks >= DEFERRED_FLUSH_TICKS) this.flushDeferred();
          break;
        }
        case 'kick':
          this.kicked = false;
          break;
        case 'persisted':
          this.finish(msg.ready!, true);
          break;
        case 'failed':
          // Storage is broken: fail the actor (its supervisor restarts it over what is durable).
          throw msg.error instanceof Error ? msg.error : new Error(`raft ${this.id}: storage sync failed: ${String(msg.error)}`);
      }
      this.pump();
      return true;
    }
    if (typeof msg !== 'object' || msg === null) return false;
    const m = msg as RaftMessage;
    if (typeof m.type !== 'string' || !RAFT_TYPES.has(m.type)) return false;
    if (m.group !== this.group || m.to !== this.id) return false;
    if (this.stopped) return true;
    this.core.step(m);
    this.logEvents();
    if (this.inFlight) this.applyCommitted();
    if (
      (m.type === 'govfs.raft.AppendEntries' || m.type === 'govfs.raft.Heartbeat' || m.type === 'govfs.raft.InstallSnapshot') &&
      m.from === this.core.softState().leader
    ) {
      this.leaderContact(m.from);
    }
    this.kick();
    return true;
  }

  // ---- client operations -------------------------------------------------------------------

  /** Append `data` (leader only). On success the index is the ticket: it is final unless the
   * entry is overwritten by another term (ask committed(index, term) on any member). */
  propose(data: Uint8Array): ProposeResult {
    if (this.stopped) return { ok: false, reason: 'notLeader', leader: '', message: 'raft shell stopped' };
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
    let list = this.waiters.get(index);
    if (!list) this.waiters.set(index, (list = []));
    list.push({ term, cb });
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

  /** Linearizable read: cb(true) once the leader confirmed (with a quorum) it still leads and
   * this node has applied the read index; cb(false) if that fails or takes longer than two
   * election timeouts (retry, perhaps on the leader). */
  readIndex(cb: (ok: boolean) => void): void {
    if (this.stopped) return cb(false);
    const ctx = `${this.id}:${++this.readSeq}`;
    const r = this.core.readIndex(ctx);
    if (!r.ok) return cb(false);
    this.reads.set(ctx, { cb, index: -1, deadline: this.ctx.clock.now() + 2 * this.electionTicks * this.tickMs });
    this.kick();
  }

  appoint(a: Appointment): AppointResult {
    const r = this.core.appoint(a);
    this.logEvents();
    this.kick();
    return r;
  }

  proposeConfChange(c: ConfChange): ProposeResult {
    const r = this.core.proposeConfChange(c);
    if (r.ok) this.kick();
    return r;
  }

  transferLeadership(to: string): TransferResult {
    const r = this.core.transferLeadership(to);
    if (r.ok && to !== this.id) this.ctx.log.info({ node: this.id, group: this.group, term: this.core.softState().term, to }, 'raft leadership transfer started');
    this.kick();
    return r;
  }

  /** Perishable entries: applied everything the leader reported committed, and heard from the
   * leader within a heartbeat interval (plus one tick of slack for timer phase); a leader is
   * caught up once it applied its commit index. */
  caughtUp(): boolean {
    if (this.stopped) return false;
    const s = this.soft;
    const commit = this.core.commitIndex();
    if (s.role === 'leader') return this.appliedIndex >= commit;
    if (s.leader === '') return false;
    const fresh = this.ctx.clock.now() - this.lastLeaderContactAt <= (this.heartbeatTicks + 1) * this.tickMs;
    return fresh && this.appliedIndex >= Math.max(this.core.leaderCommitIndex(), commit);
  }

  status(): ShellStatus {
    const s = this.core.status();
    return { ...s, applied: this.appliedIndex, lastCommitAt: this.lastCommitAt, lastLeaderContactAt: this.lastLeaderContactAt, caughtUp: this.caughtUp() };
  }

  softState(): SoftState {
    return this.core.softState();
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
    this.failWaiters(() => true, 'stopped', 'raft shell stopped');
    for (const r of this.reads.values()) r.cb(false);
    this.reads.clear();
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
    if (this.kicked || this.stopped || this.inFlight) return;
    this.kicked = true;
    this.ctx.self.tell(new ShellSignal(this, 'kick'));
  }

  private pump(): void {
    while (!this.stopped && !this.inFlight) {
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
      if (ops.length === 0 || !this.needsSync(r)) {
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

  /** Does anything of this Ready have to be durable before its messages go out and its
   * entries are applied? Entries, snapshots, wipes, and term or vote changes do; a hard state
   * whose only change is the commit index does not. */
  private needsSync(r: Ready): boolean {
    if (r.wipe || r.snapshot || r.entries.length > 0) return true;
    const hs = r.hardState;
    if (!hs) return false;
    const p = this.persistedHs;
    return hs.term !== p.term || hs.vote !== p.vote;
  }

  private persistOps(r: Ready): StorageOp[] {
    const ops: StorageOp[] = [];
    if (r.wipe) {
      ops.push({ op: 'delRange', start: '', end: '\uffff' });
      this.storedLast = 0;
    }
    if (r.snapshot) {
      ops.push(...clearOps());
      ops.push({ op: 'put', key: K_SNAP, value: encodeSnapshot(r.snapshot) });
      this.storedLast = r.snapshot.index;
    }
    if (r.entries.length > 0) {
      const first = r.entries[0]!.index;
      ops.push(...appendOps(this.st, r.entries, first <= this.storedLast));
      this.storedLast = r.entries[r.entries.length - 1]!.index;
    }
    if (r.hardState || r.wipe) {
      const hs = r.hardState ?? this.core.hardState();
      this.persistedHs = { term: hs.term, vote: hs.vote };
      ops.push({ op: 'put', key: K_HS, value: json({ term: hs.term, vote: hs.vote, commit: hs.commit, group: r.group }) });
    }
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
    this.serveReads();
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
      this.termStarts = [];
      this.termsKnownFrom = 1;
      this.commitNotes = [];
      this.notesHead = 0;
      this.notedCommit = 0;
      this.failWaiters(() => true, 'unknown', 'this node moved to another group');
    }
    if (r.snapshot) {
      const s = r.snapshot;
      this.sm.restore(s.data, s.index);
      this.appliedIndex = this.snapshotIndex = s.index;
      this.snapshotBytes = s.data.length;
      this.bytesSinceSnapshot = 0;
      this.termStarts = [{ index: s.index, term: s.term }];
      this.termsKnownFrom = s.index;
      this.st.put(K_TERMS, json({ from: this.termsKnownFrom, starts: this.termStarts }));
      this.failWaiters((i) => i <= s.index, 'unknown', 'a snapshot from the leader covered this index; ask committed() on the leader');
    }
    this.applyRun(r.committed, r.snapshot !== undefined || r.wipe);
    for (const rs of r.readStates) {
      const p = this.reads.get(rs.ctx);
      if (p) p.index = rs.index;
    }
    this.core.advance(r);
    this.inFlight = undefined;
    this.serveReads();
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
    const at = this.commitTime(e.index);
    this.appliedIndex = e.index;
    this.bytesSinceSnapshot += e.data.length;
    const last = this.termStarts[this.termStarts.length - 1];
    if (!last || last.term !== e.term) {
      this.termStarts.push({ index: e.index, term: e.term });
      this.st.put(K_TERMS, json({ from: this.termsKnownFrom, starts: this.termStarts }));
    }
    let result: unknown;
    if (e.kind === EntryKind.Normal) {
      const entry: AppliedEntry = { index: e.index, term: e.term, data: e.data, committedAt: at };
      result = this.sm.apply(entry);
      this.opts.onApplied?.(entry, result);
    }
    const list = this.waiters.get(e.index);
    if (list) {
      this.waiters.delete(e.index);
      for (const w of list) {
        if (w.term === e.term) w.cb({ ok: true, result });
        else w.cb({ ok: false, reason: 'overwritten', message: `index ${e.index} was taken by term ${e.term}; the proposal of term ${w.term} is void` });
      }
    }
  }

  private maybeCompact(): void {
    if (this.appliedIndex - this.snapshotIndex < this.snapshotEntries) return;
    if (this.bytesSinceSnapshot < this.snapshotLogRatio * this.snapshotBytes) return;
    const index = this.appliedIndex;
    const res = this.core.compact(index, this.sm.snapshot());
    if (!res.ok) return;
    this.snapshotIndex = index;
    this.snapshotBytes = res.snapshot.data.length;
    this.bytesSinceSnapshot = 0;
    // Snapshot and the deletion of the entries it covers in one atomic batch: a crash keeps
    // both or neither. It becomes durable with the next Ready's sync.
    this.st.batch([{ op: 'put', key: K_SNAP, value: encodeSnapshot(res.snapshot) }, ...compactOps(this.st, index)]);
  }

  private onSoftState(s: SoftState): void {
    const prev = this.soft;
    if (s.role === prev.role && s.term === prev.term && s.leader === prev.leader && s.group === prev.group) return;
    this.soft = s;
    if (prev.role === 'leader' && (s.role !== 'leader' || s.term !== prev.term)) {
      this.failWaiters(() => true, 'leadershipLost', 'this node stopped leading; the entry may still commit: ask committed(index, term)');
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

  // ---- commit times, reads, waiters ----------------------------------------------------------

  private noteCommit(): void {
    const c = this.core.commitIndex();
    if (c <= this.notedCommit) return;
    this.notedCommit = c;
    this.lastCommitAt = this.ctx.clock.now();
    this.commitNotes.push({ index: c, at: this.lastCommitAt });
  }

  /** Time of the first note at or above `index`. */
  private commitTime(index: number): number {
    const notes = this.commitNotes;
    while (this.notesHead < notes.length && notes[this.notesHead]!.index < index) this.notesHead++;
    if (this.notesHead > 1024) {
      this.commitNotes = notes.slice(this.notesHead);
      this.notesHead = 0;
    }
    return this.commitNotes[this.notesHead]?.at ?? this.ctx.clock.now();
  }

  private committedTermAt(index: number): number | undefined {
    if (index > this.appliedIndex) return this.core.termAt(index);
    if (index < this.termsKnownFrom) return undefined;
    let t: number | undefined;
    for (const s of this.termStarts) {
      if (s.index > index) break;
      t = s.term;
    }
    return t;
  }

  private serveReads(): void {
    for (const [ctx, r] of this.reads) {
      if (r.index >= 0 && r.index <= this.appliedIndex) {
        this.reads.delete(ctx);
        r.cb(true);
      }
    }
  }

  private expireReads(): void {
    if (this.reads.size === 0) return;
    const now = this.ctx.clock.now();
    for (const [ctx, r] of this.reads) {
      if (r.index < 0 && now > r.deadline) {
        this.reads.delete(ctx);
        r.cb(false);
      }
    }
  }

  private failWaiters(pred: (index: number) => boolean, reason: 'leadershipLost' | 'unknown' | 'stopped', message: string): void {
    for (const index of this.waiters.keyList().sort((a, b) => a - b)) {
      if (!pred(index)) continue;
      const list = this.waiters.get(index);
      if (!list) continue; // an earlier callback settled it
      this.waiters.delete(index);
      for (const w of list) w.cb({ ok: false, reason, message });
    }
  }
}
