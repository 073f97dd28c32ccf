// The pure Raft core: a synchronous, deterministic state machine in the style of etcd's raft.
// No I/O, no timers, no clock, no randomness of its own (election jitter comes from
// `config.randomInt`). The actor shell drives it:
//
//   inputs   tick() once per tick interval; step(msg) for each message received;
//            propose / proposeConfChange / readIndex / transferLeadership / appoint / compact.
//   outputs  ready(), when hasReady(): a batch of work for the shell.
//
// THE READY / ADVANCE CONTRACT. For each Ready, in this order:
//   1. If `wipe`: delete all stored Raft state of the node (it moved to another group).
//   2. Persist durably (one atomic batch, then sync):
//        - `snapshot`, if present: store it, delete every stored entry, and restore the state
//          machine from `snapshot.data`;
//        - `entries`: delete every stored entry with index >= entries[0].index, then store
//          them (a follower may replace a suffix of its log);
//        - `hardState`, if present.
//   3. Only then send `messages`. Every promise the core makes to others (a vote, an
//      acknowledged entry, a snapshot acknowledgement) is therefore durable before anyone
//      learns of it.
//   4. Apply `committed` in order; serve the reads of `readStates` once the state machine has
//      applied their index. A committed entry is durable on a majority, so unless the Ready
//      carries a snapshot or a wipe (whose restore comes first) the shell may apply `committed`
//      as soon as it has the Ready, without waiting for this node's own write; entries that
//      commit while the Ready is in flight come from takeCommitted(), to apply at once too.
//   5. Call advance(ready). Until then ready() throws and hasReady() is false: there is one
//      Ready in flight at a time, and everything proposed meanwhile forms the next batch
//      (many proposals, one persist). The leader counts its own copy of an entry towards the
//      commit quorum only once advance() reports it durable.
// A crash at any point loses only what was not yet persisted; restart with the stored state
// (`new RaftCore(config, durable)`), every node starting as a follower.
//
// Compaction: when the shell has snapshotted its state machine at applied index i, it calls
// compact(i, data), stores the returned Snapshot durably, and may then delete stored entries
// up to i. Lagging followers get that snapshot in InstallSnapshot chunks.
//
// Perishable entries (thesis 4.4): an entry became known committed at the input (step, tick,
// advance) after which commitIndex() first reached its index. The shell notes the local time
// whenever commitIndex() moves and stamps each entry of `Ready.committed` with the time of
// the first note at or above its index (or, more coarsely, with the time it took the Ready).
// `Ready.leaderCommit` / caughtUp() tell whether the node has applied everything its leader
// reported committed (leaders carry their commit index in every heartbeat).
//
// Appointed mode (Group Raft, thesis 4.4): no elections and no election timeouts. An outside
// authority appoints the leader of a term with appoint(); followers accept any leader with a
// term at least theirs and reject lower terms, which fences a replaced leader. The core relies
// only on the authority's terms being unique and increasing across all groups. Like a Raft
// vote, the authority must appoint a member whose log (lastTerm, lastIndex in status()) is at
// least as up-to-date as those of a majority of members, and should appoint every reachable
// member at once so they stop accepting the old leader. After a restart a node is a follower
// until it is appointed again.
//
// One file on purpose: Raft's rules (election, replication, commitment, ReadIndex, appointed
// mode, membership) read one another's state at every step, as in the paper's Figure 2; split,
// each rule would be a jump away from the state it guards.

import { RaftLog } from './log.js';
import {
  applyConfChange,
  cloneMembership,
  decodeConfChange,
  encodeConfChange,
  normalizeMembership,
  quorum,
  quorumIndex,
} from './membership.js';
import { Progress } from './progress.js';
import {
  EntryKind,
  type AppendEntries,
  type AppendResponse,
  type AppointResult,
  type Appointment,
  type CompactResult,
  type ConfChange,
  type DurableState,
  type Entry,
  type HardState,
  type Heartbeat,
  type HeartbeatResponse,
  type InstallSnapshot,
  type Membership,
  type ProposeResult,
  type RaftConfig,
  type RaftMessage,
  type ReadIndexRequest,
  type ReadIndexResult,
  type ReadState,
  type Ready,
  type RequestVote,
  type RaftEvent,
  type Role,
  type Snapshot,
  type SnapshotResponse,
  type SoftState,
  type Status,
  type StepDownCause,
  type TransferResult,
  type VoteResponse,
} from './types.js';
import { isValidMessage } from './validate.js';
import { snapshotBuffer } from './snapshot-buffer.js';

type Resolved = Required<Omit<RaftConfig, 'learners'>> & { learners: string[] };

function resolve(config: RaftConfig): Resolved {
  const elected = config.mode === 'elected';
  return {
    ...config,
    learners: config.learners ?? [],
    electionTicks: config.electionTicks ?? 10,
    heartbeatTicks: config.heartbeatTicks ?? 1,
    idleHeartbeatTicks: config.idleHeartbeatTicks ?? config.heartbeatTicks ?? 1,
    maxInflight: config.maxInflight ?? 64,
    maxEntriesPerMsg: config.maxEntriesPerMsg ?? 256,
    maxBytesPerMsg: config.maxBytesPerMsg ?? 1 << 20,
    preVote: elected && (config.preVote ?? true),
    checkQuorum: elected && (config.checkQuorum ?? true),
    snapshotChunkSize: config.snapshotChunkSize ?? 64 * 1024,
    maxSnapshotChunksInflight: config.maxSnapshotChunksInflight ?? 4,
  };
}

/** A read waiting for a quorum to confirm that this node still leads. */
interface PendingRead {
  ctx: string;
  /** Node that asked (this node for local reads). */
  from: string;
  /** Commit index when the read arrived: the read may be served once it is applied. */
  index: number;
  /** Heartbeat round whose acknowledgements confirm this read. */
  round: number;
  acks: Set<string>;
}

/** A snapshot being received chunk by chunk (volatile: a crash simply restarts the transfer). */
interface IncomingSnapshot {
  leader: string;
  term: number;
  index: number;
  snapshotTerm: number;
  totalSize: number;
  membership: Membership;
  /** The whole snapshot's buffer (snapshot-buffer.ts), filled as chunks come. */
  data: Uint8Array;
  received: number;
}

/** What a Ready handed out, to be confirmed by advance(). */
interface InFlight {
  ready: Ready;
  lastEntry: { index: number; term: number } | undefined;
  snapshotIndex: number | undefined;
  appliedTo: number;
  /** wipe() generation the Ready belongs to; a Ready of a wiped state confirms nothing. */
  generation: number;
}

const EMPTY = new Uint8Array(0);
const NO_EVENTS: RaftEvent[] = [];
/** Events kept for a shell that never takes them (a core driven directly, in tests). */
const MAX_EVENTS = 64;

export class RaftCore {
  readonly id: string;
  private readonly cfg: Resolved;
  private readonly mode: 'elected' | 'appointed';
  private group: string;

  // Durable state (mirrors HardState) and the log.
  private term = 0;
  private vote = '';
  private log: RaftLog;

  private role: Role = 'follower';
  private leader = '';
  /** Highest commit index the current leader reported (own commit when leading). */
  private leaderCommit = 0;

  // Membership: the latest ConfChange entry in the log wins (effective when appended).
  private baseMembership: Membership;
  private confEntries: { index: number; membership: Membership }[] = [];
  private membership: Membership;

  // Timers, counted in ticks.
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Quiet heartbeat rounds sent at the idle interval (RaftShellOptions.onQuietHeartbeat). */
  private quietBeats = 0;
  private randomizedElectionTimeout = 0;
  private transferElapsed = 0;

  // Candidate state.
  private votes = new Map<string, boolean>();

  // Leader state.
  private progress = new Map<string, Progress>();
  private leadTransferee = '';
  private readRound = 0;
  private readRoundPending = false;
  private pendingReads: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingCommit: { ctx: string; from: string }[] = [];

  // Follower state.
  private incoming: IncomingSnapshot | undefined;

  // Outputs.
  private msgs: RaftMessage[] = [];
  private readStates: ReadState[] = [];
  /** Leadership decisions not yet taken by the shell (takeEvents), newest last. */
  private events: RaftEvent[] = [];
  private wipePending = false;
  /** Hard state as of the last Ready (what the shell has, or is persisting). */
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private inFlight: InFlight | undefined;
  private generation = 0;

  constructor(config: RaftConfig, durable?: DurableState) {
    this.cfg = resolve(config);
    this.id = config.id;
    this.mode = config.mode;
    this.group = config.group;
    if (this.id === '') throw new Error('raft: config.id must not be empty');
    if (this.cfg.electionTicks < 2 || this.cfg.heartbeatTicks < 1 || this.cfg.heartbeatTicks >= this.cfg.electionTicks) {
      throw new Error('raft: need electionTicks >= 2 and 1 <= heartbeatTicks < electionTicks');
    }
    const idle = this.cfg.idleHeartbeatTicks;
    if (idle < this.cfg.heartbeatTicks || (this.mode === 'elected' && idle > this.cfg.heartbeatTicks && 2 * idle > this.cfg.electionTicks)) {
      throw new Error('raft: need heartbeatTicks <= idleHeartbeatTicks <= electionTicks / 2 (elected mode)');
    }
    if (this.cfg.maxInflight < 1 || this.cfg.snapshotChunkSize < 1 || this.cfg.maxSnapshotChunksInflight < 1) {
      throw new Error('raft: maxInflight, snapshotChunkSize and maxSnapshotChunksInflight must be >= 1');
    }

    // Restore from durable state.
    const hs = durable?.hardState ?? { term: 0, vote: '', commit: 0 };
    this.log = new RaftLog(durable?.snapshot, durable?.entries ?? []);
    this.term = hs.term;
    this.vote = hs.vote;
    this.log.committed = Math.min(Math.max(hs.commit, this.log.snapshotIndex), this.log.lastIndex());
    this.log.applied = Math.min(Math.max(durable?.applied ?? 0, this.log.snapshotIndex), this.log.committed);
    this.leaderCommit = this.log.committed;
    this.baseMembership = durable?.snapshot
      ? cloneMembership(durable.snapshot.membership)
      : normalizeMembership(this.cfg.voters, this.cfg.learners);
    for (const e of this.log.all()) this.noteConfEntry(e);
    this.membership = this.currentMembershipFromLog();

    this.prevHardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.becomeFollower(this.term, '');
    this.prevSoftState = this.softState();
  }

  /** How many quiet heartbeat rounds this node sent at the idle interval, as leader. */
  get quietHeartbeats(): number {
    return this.quietBeats;
  }

  // ---- inputs ----------------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** How many more tick() calls until one acts on its own: for a leader the next heartbeat or
   * check-quorum round while it is quiet (1 while anything waits on ticks: replication, reads,
   * a transfer, a snapshot), the ticks left of the election timeout for a member that may
   * campaign, Infinity for one that never campaigns. Ticks before that only count, so a shell
   * may deliver them late and together (an idle member's one timer, issue 19). */
  ticksUntilDue(): number {
    if (this.role === 'leader') {
      if (!this.quiet()) return 1;
      const heartbeat = this.cfg.idleHeartbeatTicks - this.heartbeatElapsed;
      const quorum = this.cfg.electionTicks - this.electionElapsed;
      return Math.max(1, Math.min(heartbeat, quorum));
    }
    if (this.mode !== 'elected' || !this.promotable()) return Infinity;
    return Math.max(1, this.randomizedElectionTimeout - this.electionElapsed);
  }

  /** Feed one received message. Messages for another node or group, malformed ones and stale
   * ones are ignored; step never throws on network input. */
  step(msg: RaftMessage): void {
    if (!isValidMessage(msg)) return;
    if (msg.to !== this.id || msg.from === this.id || msg.group !== this.group) return;
    const elected = this.mode === 'elected';
    if (!elected && (msg.type === 'govfs.raft.RequestVote' || msg.type === 'govfs.raft.VoteResponse' || msg.type === 'govfs.raft.TimeoutNow')) {
      return; // no elections in appointed mode
    }

    if (msg.term > this.term) {
      if (msg.type === 'govfs.raft.RequestVote') {
        // Check-quorum lease: while we hear from a leader, a candidate (perhaps one that was
        // partitioned away) must not depose it. Leadership transfer is exempt.
        const inLease = this.cfg.checkQuorum && this.leader !== '' && this.electionElapsed < this.cfg.electionTicks;
        if (inLease && !msg.transfer) {
          if (msg.preVote) this.send({ ...this.base('govfs.raft.VoteResponse', msg.from), granted: false, preVote: true });
          return;
        }
        // A pre-vote never changes anyone's term.
        if (!msg.preVote) this.becomeFollower(msg.term, '', 'higherTerm', msg.from);
      } else if (msg.type === 'govfs.raft.VoteResponse' && msg.preVote && msg.granted) {
        // A granted pre-vote carries the term we would campaign in; nothing to adopt.
      } else if (
        msg.type === 'govfs.raft.AppendEntries' ||
        msg.type === 'govfs.raft.Heartbeat' ||
        msg.type === 'govfs.raft.InstallSnapshot'
      ) {
        this.becomeFollower(msg.term, msg.from, 'higherTerm', msg.from);
      } else {
        this.becomeFollower(msg.term, '', 'higherTerm', msg.from);
      }
    } else if (msg.term < this.term) {
      if (msg.type === 'govfs.raft.AppendEntries' || msg.type === 'govfs.raft.Heartbeat' || msg.type === 'govfs.raft.InstallSnapshot') {
        // A stale leader: tell it our term so it steps down. Without this, a leader cut off
        // by check-quorum or replaced by appointment might never hear of the newer term.
        this.send({ ...this.base('govfs.raft.AppendResponse', msg.from), reject: true, index: 0, conflictTerm: 0, conflictIndex: 0 });
      } else if (msg.type === 'govfs.raft.RequestVote' && msg.preVote) {
        this.send({ ...this.base('govfs.raft.VoteResponse', msg.from), granted: false, preVote: true });
      }
      return;
    }

    switch (msg.type) {
      case 'govfs.raft.AppendEntries':
        if (this.acceptLeader(msg.from, msg.term)) this.handleAppend(msg);
        return;
      case 'govfs.raft.Heartbeat':
        if (this.acceptLeader(msg.from, msg.term)) this.handleHeartbeat(msg);
        return;
      case 'govfs.raft.InstallSnapshot':
        if (this.acceptLeader(msg.from, msg.term)) this.handleSnapshotChunk(msg);
        return;
      case 'govfs.raft.RequestVote':
        this.handleVoteRequest(msg);
        return;
      case 'govfs.raft.VoteResponse':
        this.handleVoteResponse(msg);
        return;
      case 'govfs.raft.TimeoutNow':
        if (this.role !== 'leader' && this.promotable()) this.campaign('vote', 'transfer');
        return;
      case 'govfs.raft.ReadIndexResponse':
        if (this.role === 'follower' && msg.from === this.leader) this.readStates.push({ index: msg.index, ctx: msg.readCtx });
        return;
      default:
        // The rest is for a leader; one that has stepped down drops them.
        if (this.role === 'leader') this.stepLeader(msg);
    }
  }

  /** A leader's messages: its followers' answers and their read-index requests. */
  private stepLeader(msg: AppendResponse | HeartbeatResponse | SnapshotResponse | ReadIndexRequest): void {
    if (msg.type === 'govfs.raft.AppendResponse') this.handleAppendResponse(msg);
    else if (msg.type === 'govfs.raft.HeartbeatResponse') this.handleHeartbeatResponse(msg);
    else if (msg.type === 'govfs.raft.SnapshotResponse') this.handleSnapshotResponse(msg);
    else this.handleReadIndexRequest(msg);
  }

  /** Append `data` to the log (leader only). The entry is sent with the next Ready. */
  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal();
    if (refused) return refused;
    const e = this.appendEntry(EntryKind.Normal, data);
    return { ok: true, index: e.index, term: e.term };
  }

  /** Propose a single-server membership change (elected mode, leader only). It takes effect
   * when appended; only one may be uncommitted at a time. */
  proposeConfChange(change: ConfChange): ProposeResult {
    if (this.mode === 'appointed') {
      return { ok: false, reason: 'invalid', leader: this.leader, message: 'in appointed mode membership comes from appoint()' };
    }
    const refused = this.refuseProposal();
    if (refused) return refused;
    if (this.lastConfIndex() > this.log.committed) {
      return { ok: false, reason: 'confChangePending', leader: this.id, message: 'a membership change is still uncommitted; retry after it commits' };
    }
    // A new leader must commit an entry of its own term before changing membership (the
    // single-server change fix from the Raft dissertation errata).
    if (!this.committedInCurrentTerm()) {
      return { ok: false, reason: 'notReady', leader: this.id, message: 'leader has not committed an entry of its term yet; retry shortly' };
    }
    const next = applyConfChange(this.membership, change);
    if (typeof next === 'string') return { ok: false, reason: 'invalid', leader: this.id, message: next };
    const e = this.appendEntry(EntryKind.ConfChange, encodeConfChange({ change, membership: next }));
    return { ok: true, index: e.index, term: e.term };
  }

  /** Ask for a linearizable read. The answer is a ReadState with this `ctx` in a later Ready
   * (on a follower, once the leader confirmed it). No answer means the read failed (the
   * leader changed or a message was lost): retry after a timeout. */
  readIndex(ctx: string): ReadIndexResult {
    if (typeof ctx !== 'string' || ctx === '') return { ok: false, reason: 'invalid', leader: this.leader, message: 'read ctx must be a non-empty string' };
    if (this.role === 'leader') {
      this.leaderRead(ctx, this.id);
      return { ok: true };
    }
    if (this.role === 'follower' && this.leader !== '') {
      this.send({ ...this.base('govfs.raft.ReadIndexRequest', this.leader), readCtx: ctx });
      return { ok: true };
    }
    return { ok: false, reason: 'notLeader', leader: '', message: 'no known leader; retry after an election' };
  }

  /** Hand leadership to `to` (elected mode): stop taking proposals, bring `to` up to date,
   * then tell it to campaign at once. Abandoned after an election timeout. */
  transferLeadership(to: string): TransferResult {
    if (this.mode === 'appointed') return { ok: false, reason: 'appointed', leader: this.leader, message: 'leaders are appointed in appointed mode' };
    if (this.role !== 'leader') return { ok: false, reason: 'notLeader', leader: this.leader, message: 'only the leader can transfer leadership' };
    if (to === this.id) return { ok: true };
    if (!this.membership.voters.includes(to)) return { ok: false, reason: 'invalid', leader: this.id, message: `${to} is not a voter` };
    this.leadTransferee = to;
    this.transferElapsed = 0;
    const pr = this.progress.get(to);
    if (pr && pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    return { ok: true };
  }

  /** Appointed mode: the authority installs `leader` for `term` with `members`. Called on
   * the appointee and on the other members. A different `group` wipes this node's state. */
  appoint(a: Appointment): AppointResult {
    if (this.mode !== 'appointed') return { ok: false, reason: 'invalid', message: 'appoint() is for appointed mode' };
    if (!Number.isSafeInteger(a.term) || a.term <= 0 || typeof a.leader !== 'string' || a.leader === '' || !Array.isArray(a.members)) {
      return { ok: false, reason: 'invalid', message: 'appointment needs a positive term, a leader and members' };
    }
    const group = a.group ?? this.group;
    // Check staleness before anything else: a late appointment (say, replayed from the
    // cluster log) must never wipe a newer group's state.
    if (a.term < this.term || (a.term === this.term && group !== this.group)) {
      return { ok: false, reason: 'staleTerm', message: `term ${a.term} is not newer than ${this.term}` };
    }
    if (a.term === this.term && this.leader !== '' && this.leader !== a.leader) {
      return { ok: false, reason: 'staleTerm', message: `term ${a.term} already has leader ${this.leader}` };
    }
    if (a.leader === this.id && a.term === this.term && this.role !== 'leader') {
      // We led this term before a restart. Leading it again could let acknowledgements sent
      // before the crash confirm new reads; the authority issues a new term instead.
      return { ok: false, reason: 'staleTerm', message: `term ${a.term} was already used; appoint with a new term` };
    }
    if (group !== this.group) this.wipe(group);
    const members = normalizeMembership(a.members.includes(a.leader) ? a.members : [...a.members, a.leader]);
    this.baseMembership = members;
    this.membership = cloneMembership(members);
    if (a.leader === this.id) {
      if (this.role === 'leader' && a.term === this.term) {
        this.syncProgress(true);
      } else {
        this.becomeFollower(a.term, '', 'appointed', a.leader);
        this.vote = this.id;
        this.becomeLeader();
      }
    } else if (a.term > this.term || this.leader !== a.leader) {
      this.becomeFollower(a.term, a.leader, 'appointed', a.leader);
    }
    return { ok: true };
  }

  /** The shell snapshotted its state machine at applied index `index`: fold the log up to
   * there into `data`. Store the returned snapshot durably before deleting entries. */
  compact(index: number, data: Uint8Array): CompactResult {
    if (!Number.isSafeInteger(index) || index <= this.log.snapshotIndex || index > this.log.applied) {
      return { ok: false, reason: 'invalid', message: `compact index ${index} must be in (${this.log.snapshotIndex}, ${this.log.applied}]` };
    }
    const snapshot: Snapshot = { index, term: this.log.term(index)!, membership: this.membershipAt(index), data };
    this.log.compact(snapshot);
    this.baseMembership = cloneMembership(snapshot.membership);
    this.confEntries = this.confEntries.filter((c) => c.index > index);
    return { ok: true, snapshot };
  }

  /** The transport could not reach `id`: stop streaming to it optimistically. */
  reportUnreachable(id: string): void {
    const pr = this.progress.get(id);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  // ---- outputs ---------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.inFlight) return false;
    this.flush();
    return (
      this.wipePending ||
      this.msgs.length > 0 ||
      this.log.unstableSnapshot !== undefined ||
      this.log.stableIndex < this.log.lastIndex() ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      this.log.committed > this.log.applied ||
      this.readStates.length > 0 ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  ready(): Ready {
    if (this.inFlight) throw new Error('raft: advance() the previous Ready before asking for another');
    this.flush();
    const entries = this.log.unstableEntries();
    const hs = this.hardState();
    const snapshot = this.log.unstableSnapshot;
    const committed = this.log.slice(this.log.applied + 1, this.log.committed);
    const ready: Ready = {
      wipe: this.wipePending,
      group: this.group,
      entries,
      messages: this.msgs,
      committed,
      readStates: this.readStates,
      softState: this.softState(),
      commit: this.log.committed,
      leaderCommit: this.role === 'leader' ? this.log.committed : this.leaderCommit,
    };
    if (!sameHardState(hs, this.prevHardState)) ready.hardState = hs;
    if (snapshot) ready.snapshot = snapshot;
    // Applied as soon as handed out (see 4. above), unless a restore must come first.
    const appliedNow = !snapshot && !ready.wipe;
    this.msgs = [];
    this.readStates = [];
    const last = entries[entries.length - 1];
    this.inFlight = {
      ready,
      lastEntry: last ? { index: last.index, term: last.term } : undefined,
      snapshotIndex: snapshot?.index,
      appliedTo: committed.length > 0 ? committed[committed.length - 1]!.index : this.log.applied,
      generation: this.generation,
    };
    if (appliedNow) this.log.applied = this.inFlight.appliedTo;
    return ready;
  }

  /** While a Ready (without snapshot or wipe) is in flight: the entries committed since it was
   * handed out, for the shell to apply at once (see 4. above). They count as applied. */
  takeCommitted(): Entry[] {
    const f = this.inFlight;
    if (!f || f.snapshotIndex !== undefined || f.ready.wipe || this.wipePending || f.generation !== this.generation) return [];
    if (this.log.committed <= this.log.applied) return [];
    const entries = this.log.slice(this.log.applied + 1, this.log.committed);
    this.log.applied = this.log.committed;
    return entries;
  }

  /** Leadership decisions since the last call (campaigns, wins, losses, step-downs), for the
   * shell to log. */
  takeEvents(): RaftEvent[] {
    if (this.events.length === 0) return NO_EVENTS;
    const out = this.events;
    this.events = [];
    return out;
  }

  /** The shell persisted, sent and applied `ready` (see the contract at the top). */
  advance(ready: Ready): void {
    const f = this.inFlight;
    if (!f || f.ready !== ready) throw new Error('raft: advance() must be given the Ready last returned by ready()');
    this.inFlight = undefined;
    if (ready.wipe) this.wipePending = false;
    this.prevSoftState = ready.softState;
    if (f.generation !== this.generation) return; // the node moved groups meanwhile
    if (f.snapshotIndex !== undefined) this.log.stableSnapshotTo(f.snapshotIndex);
    if (f.lastEntry) this.log.stableTo(f.lastEntry.index, f.lastEntry.term);
    if (f.appliedTo > this.log.applied) this.log.applied = f.appliedTo;
    if (ready.hardState) this.prevHardState = ready.hardState;
    // Our own copy of new entries is durable now: it may complete a quorum.
    if (this.role === 'leader') this.maybeCommit();
  }

  // ---- observation -----------------------------------------------------------------------

  softState(): SoftState {
    return { role: this.role, term: this.term, leader: this.leader, group: this.group };
  }

  /** This node's commit index; cheap, for the shell to note when commits become known. */
  commitIndex(): number {
    return this.log.committed;
  }

  /** Term of the entry at `index` (the snapshot's term at its index; 0 at index 0); undefined
   * if compacted away or beyond the end of the log. */
  /** What compact(index) would record of the log at `index` besides the data: its term and
   * membership (the shell seals a snapshot built off the thread with them). */
  snapshotMeta(index: number): { term: number; membership: Membership } | undefined {
    const term = this.log.term(index);
    return term === undefined ? undefined : { term, membership: this.membershipAt(index) };
  }

  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** The highest commit index a leader of the current term reported (this node's own when it
   * leads); cheap, for checks on every read (status() allocates). */
  leaderCommitIndex(): number {
    return this.role === 'leader' ? this.log.committed : this.leaderCommit;
  }

  /** This node's last log index (cheap; status() allocates). */
  lastIndex(): number {
    return this.log.lastIndex();
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Whether this node has applied everything its leader reported committed and heard from
   * that leader within `withinTicks` (default: one election timeout). */
  caughtUp(withinTicks: number = this.cfg.electionTicks): boolean {
    if (this.role === 'leader') return this.log.applied >= this.log.committed;
    return this.leader !== '' && this.electionElapsed < withinTicks && this.log.applied >= Math.max(this.leaderCommit, this.log.committed);
  }

  status(): Status {
    const s: Status = {
      id: this.id,
      group: this.group,
      mode: this.mode,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      leaderCommit: this.role === 'leader' ? this.log.committed : this.leaderCommit,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      snapshotIndex: this.log.snapshotIndex,
      membership: cloneMembership(this.membership),
      membershipIndex: this.mode === 'elected' ? this.lastConfIndex() : 0,
      leadTransferee: this.leadTransferee,
    };
    if (this.role === 'leader') {
      s.progress = {};
      for (const [id, pr] of this.progress) s.progress[id] = { match: pr.match, next: pr.next, state: pr.state, inflight: pr.inflight.length };
    }
    return s;
  }

  /** Entries currently held in memory after the snapshot (for tests and debugging). */
  entries(): readonly Entry[] {
    return this.log.all();
  }

  // ---- roles -----------------------------------------------------------------------------

  /** `cause` and `from` say why, should this node be leading (see StepDownCause); a leader
   * appointed again (`from` itself) does not step down, it only takes a new term. */
  private becomeFollower(term: number, leader: string, cause: StepDownCause = 'higherTerm', from = ''): void {
    if (this.role === 'leader' && from !== this.id) {
      const active = this.membership.voters.filter((v) => v === this.id || this.progress.get(v)?.recentActive);
      this.note({ kind: 'stepDown', term: this.term, cause, newTerm: Math.max(term, this.term), from, active });
    }
    if (term > this.term) {
      this.term = term;
      this.vote = '';
      this.leaderCommit = this.log.committed;
    }
    this.role = 'follower';
    this.leader = leader;
    this.resetTimers();
    this.votes.clear();
    this.clearLeaderState();
  }

  private becomePreCandidate(): void {
    this.role = 'preCandidate';
    this.leader = '';
    this.votes.clear();
    this.clearLeaderState();
  }

  private becomeCandidate(): void {
    this.term += 1;
    this.vote = this.id;
    this.leader = '';
    this.leaderCommit = this.log.committed;
    this.role = 'candidate';
    this.resetTimers();
    this.votes.clear();
    this.clearLeaderState();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    this.resetTimers();
    this.votes.clear();
    this.clearLeaderState();
    this.syncProgress(true);
    // The no-op lets this leader commit (and so learn the commit index of) everything before
    // it: Raft commits earlier terms' entries only by committing one of the current term.
    this.appendEntry(EntryKind.Noop, EMPTY);
  }

  private clearLeaderState(): void {
    this.progress.clear();
    this.leadTransferee = '';
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
    this.readRoundPending = false;
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.transferElapsed = 0;
    const e = this.cfg.electionTicks;
    const r = this.cfg.randomInt(e, 2 * e - 1);
    // Guard against a bad generator: the timeout must stay within [e, 2e-1].
    this.randomizedElectionTimeout = Number.isInteger(r) && r >= e && r <= 2 * e - 1 ? r : e;
  }

  /** Align a follower with the leader of its term; false if the sender cannot lead us. */
  private acceptLeader(from: string, term: number): boolean {
    if (this.role === 'leader') return false; // one leader per term: cannot happen
    if (this.role !== 'follower' || this.leader !== from) this.becomeFollower(term, from);
    this.electionElapsed = 0;
    return true;
  }

  private promotable(): boolean {
    return this.mode === 'elected' && this.membership.voters.includes(this.id);
  }

  // ---- elections -------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.mode !== 'elected' || !this.promotable()) return;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      const ticks = this.electionElapsed;
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'preVote' : 'vote', 'electionTimeout', ticks);
    }
  }

  private note(e: RaftEvent): void {
    if (this.events.length >= MAX_EVENTS) this.events.shift();
    this.events.push(e);
  }

  private campaign(kind: 'preVote' | 'vote', cause: 'electionTimeout' | 'preVoteWon' | 'transfer', ticks = 0): void {
    const transfer = cause === 'transfer';
    const lastLeader = this.leader;
    let voteTerm: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      this.resetTimers();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.note({ kind: 'campaign', term: voteTerm, preVote: kind === 'preVote', cause, ticks, lastLeader });
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    for (const v of this.membership.voters) {
      if (v === this.id) continue;
      this.send({
        ...this.base('govfs.raft.RequestVote', v),
        term: voteTerm,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        preVote: kind === 'preVote',
        transfer,
      });
    }
  }

  /** Returns true if the election was decided (won or lost). */
  private tallyVotes(): boolean {
    let granted = 0;
    let rejected = 0;
    for (const v of this.membership.voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const q = quorum(this.membership.voters.length);
    if (granted >= q) {
      if (this.role === 'preCandidate') {
        this.campaign('vote', 'preVoteWon');
      } else {
        this.note({ kind: 'won', term: this.term, votes: this.membership.voters.filter((v) => this.votes.get(v) === true) });
        this.becomeLeader();
      }
      return true;
    }
    if (rejected >= q) {
      const preVote = this.role === 'preCandidate';
      this.note({ kind: 'lost', term: preVote ? this.term + 1 : this.term, preVote, rejectedBy: this.membership.voters.filter((v) => this.votes.get(v) === false) });
      this.becomeFollower(this.term, '');
      return true;
    }
    return false;
  }

  private handleVoteRequest(m: RequestVote): void {
    const upToDate = this.log.isUpToDate(m.lastIndex, m.lastTerm);
    let grant: boolean;
    if (m.preVote) {
      // Would we vote for it in its next term? Our term does not change either way.
      grant = m.term > this.term && upToDate;
    } else {
      grant = m.term === this.term && (this.vote === m.from || (this.vote === '' && this.leader === '')) && upToDate;
      if (grant) {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
    }
    this.send({
      ...this.base('govfs.raft.VoteResponse', m.from),
      term: m.preVote && grant ? m.term : this.term,
      granted: grant,
      preVote: m.preVote,
    });
  }

  private handleVoteResponse(m: VoteResponse): void {
    if (m.preVote) {
      if (this.role !== 'preCandidate' || (m.granted && m.term !== this.term + 1)) return;
    } else if (this.role !== 'candidate' || m.term !== this.term) {
      return;
    }
    this.votes.set(m.from, m.granted);
    this.tallyVotes();
  }

  // ---- leader ----------------------------------------------------------------------------

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!this.quorumActive()) {
          // Cut off from a majority: stop acting as leader so clients go elsewhere.
          this.becomeFollower(this.term, '', 'checkQuorum');
          return;
        }
        for (const pr of this.progress.values()) pr.recentActive = false;
      }
    }
    if (this.leadTransferee !== '' && ++this.transferElapsed >= this.cfg.electionTicks) {
      this.leadTransferee = ''; // the target did not take over in time: resume
    }
    for (const [id, pr] of this.progress) {
      if (pr.state === 'snapshot' && pr.snap && ++pr.snap.idleTicks >= this.cfg.electionTicks) {
        // No progress on the transfer: resend from what the follower confirmed.
        pr.snap.idleTicks = 0;
        pr.snap.sent = pr.snap.acked;
        pr.snap.doneSent = false;
        this.sendSnapshotChunks(id, pr);
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      const quiet = this.quiet();
      if (this.heartbeatElapsed >= this.cfg.idleHeartbeatTicks || !quiet) {
        this.heartbeatElapsed = 0;
        if (quiet && this.cfg.idleHeartbeatTicks > this.cfg.heartbeatTicks) this.quietBeats++;
        this.broadcastHeartbeat();
      }
    }
  }

  /** Nothing for a heartbeat to carry but "still here": every follower replicates, has every
   * entry and was sent the commit index, and no read round or leadership transfer waits. */
  private quiet(): boolean {
    if (this.readRoundPending || this.pendingReads.length > 0 || this.leadTransferee !== '') return false;
    const last = this.log.lastIndex();
    const committed = this.log.committed;
    for (const pr of this.progress.values()) {
      if (pr.state !== 'replicate' || pr.match !== last || pr.sentCommit < committed) return false;
    }
    return true;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.membership.voters) {
      if (v === this.id || this.progress.get(v)?.recentActive) active++;
    }
    return active >= quorum(this.membership.voters.length);
  }

  private refuseProposal(): ProposeResult | undefined {
    if (this.role !== 'leader') {
      return { ok: false, reason: 'notLeader', leader: this.leader, message: this.leader ? `not the leader; try ${this.leader}` : 'no known leader; retry after an election' };
    }
    if (this.leadTransferee !== '') {
      return { ok: false, reason: 'transferring', leader: this.leadTransferee, message: `leadership is moving to ${this.leadTransferee}` };
    }
    if (!this.membership.voters.includes(this.id) && this.mode === 'elected') {
      return { ok: false, reason: 'removed', leader: '', message: 'this leader is being removed from the cluster' };
    }
    return undefined;
  }

  private appendEntry(kind: EntryKind, data: Uint8Array): Entry {
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, kind, data };
    this.log.append(e);
    if (this.noteConfEntry(e)) this.onMembershipChanged();
    // A single voter commits on its own, once advance() reports the entry durable.
    return e;
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Progress entries for every member but us (leader), keeping existing ones. Nodes being
   * removed keep theirs until the removal commits, so they still receive the entry that
   * tells them they were removed (and do not time out and campaign). */
  private syncProgress(prune: boolean): void {
    const members = new Set([...this.membership.voters, ...this.membership.learners]);
    members.delete(this.id);
    if (prune) for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      if (!this.progress.has(id)) this.progress.set(id, new Progress(this.log.lastIndex() + 1));
    }
  }

  /** Send what each follower lacks: pipelined appends, snapshot chunks, commit news, and a
   * pending read round. Called when a Ready is assembled, so proposals made since the last
   * Ready travel together. */
  private flush(): void {
    if (this.role !== 'leader') return;
    if (this.readRoundPending) {
      this.readRoundPending = false;
      this.readRound++;
      this.broadcastHeartbeat();
    }
    for (const [id, pr] of this.progress) {
      this.sendAppends(id, pr);
      if (pr.state !== 'snapshot') {
        const c = Math.min(pr.match, this.log.committed);
        if (c > pr.sentCommit) this.sendHeartbeat(id, pr);
      }
    }
  }

  private sendAppends(to: string, pr: Progress): void {
    const last = this.log.lastIndex();
    while (!pr.isPaused(this.cfg.maxInflight)) {
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined) {
        // What the follower needs was compacted away.
        this.startSnapshot(to, pr);
        return;
      }
      const entries = this.log.slice(pr.next, last, this.cfg.maxEntriesPerMsg, this.cfg.maxBytesPerMsg);
      // In probe state an empty append still finds where the follower's log matches ours.
      const probeEmpty = pr.state === 'probe' && pr.match < last;
      if (entries.length === 0 && !probeEmpty && !pr.sendEmpty) return;
      pr.sendEmpty = false;
      this.send({ ...this.base('govfs.raft.AppendEntries', to), prevIndex, prevTerm, entries, commit: this.log.committed });
      pr.sentCommit = Math.max(pr.sentCommit, Math.min(this.log.committed, prevIndex + entries.length));
      pr.sent(entries.length > 0 ? entries[entries.length - 1]!.index : prevIndex, entries.length);
      if (pr.state === 'probe') return;
    }
  }

  private sendHeartbeat(to: string, pr: Progress, quiet = this.answerless()): void {
    const commit = Math.min(pr.match, this.log.committed);
    pr.sentCommit = Math.max(pr.sentCommit, commit);
    pr.sentAtHeartbeat = pr.next - 1;
    this.send({ ...this.base('govfs.raft.Heartbeat', to), commit, leaderCommit: this.log.committed, readRound: this.readRound, quiet });
  }

  private broadcastHeartbeat(): void {
    const quiet = this.answerless();
    for (const [id, pr] of this.progress) this.sendHeartbeat(id, pr, quiet);
  }

  /** Whether a heartbeat now needs no answer: an answer marks the follower active (for
   * check-quorum, and the cluster log's shell tells the president who answered: elected logs
   * only), acknowledges a read round, or unpauses or repairs a follower that lags; none applies
   * to a quiet appointed leader (issue 19). */
  private answerless(): boolean {
    return this.mode !== 'elected' && this.quiet();
  }

  private startSnapshot(to: string, pr: Progress): void {
    const snap = this.log.snapshot;
    if (!snap) return; // nothing compacted without a snapshot; cannot happen
    pr.becomeSnapshot(snap);
    this.sendSnapshotChunks(to, pr);
  }

  private sendSnapshotChunks(to: string, pr: Progress): void {
    const t = pr.snap;
    if (!t) return;
    const { snapshot } = t;
    const total = snapshot.data.length;
    const chunk = this.cfg.snapshotChunkSize;
    const window = chunk * this.cfg.maxSnapshotChunksInflight;
    while (!t.doneSent && t.sent - t.acked < window) {
      const offset = t.sent;
      const end = Math.min(total, offset + chunk);
      const done = end === total;
      this.send({
        ...this.base('govfs.raft.InstallSnapshot', to),
        snapshotIndex: snapshot.index,
        snapshotTerm: snapshot.term,
        voters: [...snapshot.membership.voters],
        learners: [...snapshot.membership.learners],
        offset,
        totalSize: total,
        data: snapshot.data.subarray(offset, end),
        done,
      });
      t.sent = end;
      if (done) t.doneSent = true;
    }
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      if (pr.state === 'snapshot') return; // answers to appends sent before the snapshot
      const hint = this.nextFromHint(m);
      if (pr.state === 'replicate') {
        if (m.index <= pr.match) return; // stale
        pr.becomeProbe();
        pr.next = Math.max(pr.match + 1, Math.min(m.index, hint));
      } else if (!pr.maybeDecrTo(m.index, hint)) {
        return;
      }
      this.sendAppends(m.from, pr);
      return;
    }
    const moved = pr.maybeUpdate(m.index);
    if (pr.state === 'probe' && pr.match >= pr.next - 1) pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.snap && pr.match >= pr.snap.snapshot.index) pr.becomeReplicate();
    else if (pr.state === 'replicate') pr.freeInflightTo(m.index);
    if (moved) this.maybeCommit();
    if (this.role !== 'leader') return; // stepped down after committing our removal
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    this.sendAppends(m.from, pr);
  }

  /** Where the rejection hint says the follower's log may match ours. */
  private nextFromHint(m: AppendResponse): number {
    if (m.conflictTerm > 0) {
      // If we have entries of the follower's conflicting term, the logs agree up to our last
      // one of that term; otherwise skip the follower's whole run of that term.
      const j = this.log.lastIndexOfTerm(m.conflictTerm, m.index);
      if (j > 0) return j + 1;
    }
    return Math.max(1, m.conflictIndex);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.match < pr.sentAtHeartbeat) {
      // Entries sent before the heartbeat are still unacknowledged when its answer comes
      // back: they were probably lost. Send an empty append; a follower that lacks entries
      // rejects it, which puts us back into probing.
      if (pr.inflight.length >= this.cfg.maxInflight) pr.inflight.shift();
      pr.sendEmpty = true;
    }
    if (m.readRound > 0) this.ackReads(m.from, m.readRound);
  }

  private handleSnapshotResponse(m: SnapshotResponse): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    const t = pr.snap;
    if (pr.state !== 'snapshot' || !t || m.snapshotIndex !== t.snapshot.index) return;
    if (m.reject) {
      // The follower lost chunks (or the whole transfer, in a crash): resume where it is.
      t.acked = Math.min(m.offset, t.snapshot.data.length);
      t.sent = t.acked;
      t.doneSent = false;
      t.idleTicks = 0;
    } else if (m.offset > t.acked) {
      t.acked = Math.min(m.offset, t.snapshot.data.length);
      t.idleTicks = 0;
    }
    this.sendSnapshotChunks(m.from, pr);
  }

  private maybeCommit(): void {
    const matches = this.membership.voters.map((v) => (v === this.id ? this.log.stableIndex : (this.progress.get(v)?.match ?? 0)));
    const n = quorumIndex(matches);
    // Only entries of the current term are committed by counting replicas (Raft, 5.4.2).
    if (n <= this.log.committed || this.log.term(n) !== this.term) return;
    this.log.committed = n;
    this.leaderCommit = n;
    this.onLeaderCommit();
  }

  private onLeaderCommit(): void {
    // Once a membership change commits, stop replicating to the nodes it removed.
    if (this.lastConfIndex() <= this.log.committed) this.syncProgress(true);
    if (this.readsAwaitingCommit.length > 0 && this.committedInCurrentTerm()) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const r of waiting) this.leaderRead(r.ctx, r.from);
    }
    // A leader that removed itself leads until the removal commits, then hands over.
    if (this.mode === 'elected' && !this.membership.voters.includes(this.id) && this.lastConfIndex() <= this.log.committed) {
      let best = '';
      for (const [id, pr] of this.progress) {
        if (this.membership.voters.includes(id) && pr.match === this.log.lastIndex()) best = best === '' || id < best ? id : best;
      }
      if (best !== '') this.sendTimeoutNow(best);
      this.becomeFollower(this.term, '', 'removed', best);
    }
  }

  private sendTimeoutNow(to: string): void {
    this.send({ ...this.base('govfs.raft.TimeoutNow', to) });
  }

  // ---- reads -----------------------------------------------------------------------------

  private handleReadIndexRequest(m: ReadIndexRequest): void {
    if (m.readCtx === '') return;
    this.leaderRead(m.readCtx, m.from);
  }

  private leaderRead(ctx: string, from: string): void {
    // Until this leader commits an entry of its term it does not know the commit index.
    if (!this.committedInCurrentTerm()) {
      this.readsAwaitingCommit.push({ ctx, from });
      return;
    }
    const read: PendingRead = { ctx, from, index: this.log.committed, round: this.readRound + 1, acks: new Set() };
    if (this.membership.voters.includes(this.id)) read.acks.add(this.id);
    if (read.acks.size >= quorum(this.membership.voters.length)) {
      this.releaseRead(read);
      return;
    }
    this.pendingReads.push(read);
    this.readRoundPending = true;
  }

  private ackReads(from: string, round: number): void {
    if (!this.membership.voters.includes(from)) return;
    const q = quorum(this.membership.voters.length);
    const still: PendingRead[] = [];
    for (const r of this.pendingReads) {
      if (r.round <= round) r.acks.add(from);
      if (r.acks.size >= q) this.releaseRead(r);
      else still.push(r);
    }
    this.pendingReads = still;
  }

  private releaseRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, ctx: r.ctx });
    else this.send({ ...this.base('govfs.raft.ReadIndexResponse', r.from), readCtx: r.ctx, index: r.index });
  }

  // ---- follower --------------------------------------------------------------------------

  private handleAppend(m: AppendEntries): void {
    this.leaderCommit = Math.max(this.leaderCommit, m.commit);
    const reply = (fields: Pick<AppendResponse, 'reject' | 'index' | 'conflictTerm' | 'conflictIndex'>): void =>
      this.send({ ...this.base('govfs.raft.AppendResponse', m.from), ...fields });
    const committed = this.log.committed;
    if (m.prevIndex < committed) {
      // Our log matches the leader's up to our commit index anyway.
      reply({ reject: false, index: committed, conflictTerm: 0, conflictIndex: 0 });
      return;
    }
    if (!this.log.matchTerm(m.prevIndex, m.prevTerm)) {
      const last = this.log.lastIndex();
      if (m.prevIndex > last) {
        reply({ reject: true, index: m.prevIndex, conflictTerm: 0, conflictIndex: last + 1 });
      } else {
        const t = this.log.term(m.prevIndex)!;
        const first = Math.max(this.log.firstIndexOfTermAt(m.prevIndex), committed + 1);
        reply({ reject: true, index: m.prevIndex, conflictTerm: t, conflictIndex: first });
      }
      return;
    }
    const entries = m.entries;
    for (let i = 0; i < entries.length; i++) {
      // A leader's entries are contiguous and never newer than its term.
      if (entries[i]!.index !== m.prevIndex + 1 + i || entries[i]!.term > m.term) return;
    }
    const conflict = this.log.findConflict(entries);
    if (conflict !== 0) {
      // Committed entries are never rewritten; a leader asking for it is broken (or an
      // authority appointed a leader that lacks committed entries). Refuse.
      if (conflict <= committed) return;
      const removed = conflict <= this.log.lastIndex();
      // The bytes as they came, not copied: every transport hands over bytes of their own (a
      // ring's and the network's decoder copy bytes fields out of their buffers, the simulator
      // decodes every delivery afresh), and a leader on this thread shares its log's, which no
      // one changes. (A copy per entry was a new ArrayBuffer on every follower, and it kept a
      // follower on the leader's thread from sharing the leader's decoded entry.)
      const fresh = entries.slice(conflict - (m.prevIndex + 1)).map((e) => ({ term: e.term, index: e.index, kind: e.kind, data: e.data }));
      this.log.truncateAndAppend(fresh);
      if (removed) this.confEntries = this.confEntries.filter((c) => c.index < conflict);
      let changed = removed;
      for (let i = conflict; i <= this.log.lastIndex(); i++) changed = this.noteConfEntry(this.log.entry(i)!) || changed;
      if (changed) this.onMembershipChanged();
    }
    const lastNew = m.prevIndex + entries.length;
    this.commitTo(Math.min(m.commit, lastNew));
    reply({ reject: false, index: lastNew, conflictTerm: 0, conflictIndex: 0 });
  }

  private handleHeartbeat(m: Heartbeat): void {
    this.leaderCommit = Math.max(this.leaderCommit, m.leaderCommit);
    // The leader sends at most what it knows we match, so it is in our log.
    this.commitTo(Math.min(m.commit, this.log.lastIndex()));
    if (m.quiet !== true) this.send({ ...this.base('govfs.raft.HeartbeatResponse', m.from), readRound: m.readRound });
  }

  private commitTo(index: number): void {
    if (index > this.log.committed) this.log.committed = index;
  }

  private handleSnapshotChunk(m: InstallSnapshot): void {
    const ack = (offset: number, reject: boolean): void =>
      this.send({ ...this.base('govfs.raft.SnapshotResponse', m.from), snapshotIndex: m.snapshotIndex, offset, reject });
    const committed = this.log.committed;
    if (m.snapshotIndex <= committed) {
      // We already have everything it covers: tell the leader where we are.
      this.incoming = undefined;
      this.send({ ...this.base('govfs.raft.AppendResponse', m.from), reject: false, index: committed, conflictTerm: 0, conflictIndex: 0 });
      return;
    }
    let t = this.incoming;
    const same =
      t !== undefined && t.leader === m.from && t.term === m.term && t.index === m.snapshotIndex &&
      t.snapshotTerm === m.snapshotTerm && t.totalSize === m.totalSize;
    if (!same) {
      // A transfer from another leader, term or snapshot starts over from offset 0.
      if (m.offset !== 0) {
        this.incoming = undefined;
        ack(0, true);
        return;
      }
      const data = snapshotBuffer(m.totalSize);
      if (data === null) {
        this.incoming = undefined;
        ack(0, true);
        return;
      }
      t = {
        leader: m.from,
        term: m.term,
        index: m.snapshotIndex,
        snapshotTerm: m.snapshotTerm,
        totalSize: m.totalSize,
        membership: normalizeMembership(m.voters, m.learners),
        data,
        received: 0,
      };
      this.incoming = t;
    }
    const cur = t!;
    if (m.offset !== cur.received) {
      // A duplicate (behind) just reports progress; a gap (ahead) asks for a resend.
      ack(cur.received, m.offset > cur.received);
      return;
    }
    if (cur.received + m.data.length > cur.totalSize || (m.done && cur.received + m.data.length !== cur.totalSize)) {
      this.incoming = undefined;
      ack(0, true);
      return;
    }
    cur.data.set(m.data, cur.received);
    cur.received += m.data.length;
    if (!m.done) {
      ack(cur.received, false);
      return;
    }
    this.incoming = undefined;
    this.installSnapshot({ index: cur.index, term: cur.snapshotTerm, membership: cur.membership, data: cur.data });
    this.send({ ...this.base('govfs.raft.AppendResponse', m.from), reject: false, index: this.log.committed, conflictTerm: 0, conflictIndex: 0 });
  }

  private installSnapshot(s: Snapshot): void {
    if (this.log.matchTerm(s.index, s.term)) {
      // Our log already holds the snapshot's last entry: just commit up to it.
      this.commitTo(s.index);
      return;
    }
    this.log.restore(s);
    this.baseMembership = cloneMembership(s.membership);
    this.confEntries = [];
    this.onMembershipChanged();
  }

  // ---- membership ------------------------------------------------------------------------

  /** Record a ConfChange entry; returns whether it was one. */
  private noteConfEntry(e: Entry): boolean {
    if (e.kind !== EntryKind.ConfChange || this.mode !== 'elected') return false;
    const rec = decodeConfChange(e.data);
    if (!rec) return false; // undecodable: treated as a no-op everywhere, consistently
    this.confEntries.push({ index: e.index, membership: normalizeMembership(rec.membership.voters, rec.membership.learners) });
    return true;
  }

  private currentMembershipFromLog(): Membership {
    const last = this.confEntries[this.confEntries.length - 1];
    return cloneMembership(last ? last.membership : this.baseMembership);
  }

  private membershipAt(index: number): Membership {
    if (this.mode === 'appointed') return cloneMembership(this.membership);
    let m = this.baseMembership;
    for (const c of this.confEntries) if (c.index <= index) m = c.membership;
    return cloneMembership(m);
  }

  private lastConfIndex(): number {
    return this.confEntries.length > 0 ? this.confEntries[this.confEntries.length - 1]!.index : 0;
  }

  private onMembershipChanged(): void {
    if (this.mode !== 'elected') return;
    this.membership = this.currentMembershipFromLog();
    if (this.role === 'leader') {
      this.syncProgress(this.lastConfIndex() <= this.log.committed);
      if (this.leadTransferee !== '' && !this.membership.voters.includes(this.leadTransferee)) this.leadTransferee = '';
      // Fewer voters may mean a quorum already holds.
      this.maybeCommit();
    } else if (this.role === 'preCandidate' || this.role === 'candidate') {
      this.tallyVotes();
    }
  }

  // ---- group moves (appointed mode) ------------------------------------------------------

  private wipe(group: string): void {
    this.group = group;
    this.term = 0;
    this.vote = '';
    this.log = new RaftLog(undefined, []);
    this.leaderCommit = 0;
    this.baseMembership = { voters: [], learners: [] };
    this.confEntries = [];
    this.membership = { voters: [], learners: [] };
    this.incoming = undefined;
    this.msgs = [];
    this.readStates = [];
    this.becomeFollower(0, '', 'wiped');
    this.prevHardState = { term: 0, vote: '', commit: 0 };
    this.wipePending = true;
    this.generation++;
  }

  // ---- helpers ---------------------------------------------------------------------------

  private base<T extends RaftMessage['type']>(type: T, to: string): { type: T; from: string; to: string; term: number; group: string } {
    return { type, from: this.id, to, term: this.term, group: this.group };
  }

  private send(m: RaftMessage): void {
    this.msgs.push(m);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.term === b.term && a.leader === b.leader && a.group === b.group;
}
