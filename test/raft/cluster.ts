// Raft groups on the real runtime's deterministic Simulation: one simulated host per member,
// each host's root a `raftNodeBehaviour` (RaftShell + KvStateMachine) over SimStorage, every
// message encoded as on the wire, crashes that lose un-synced writes, partitions, drops,
// duplicates and reordering. Invariants are checked after every simulation step
// (sim.checks) and at every durable Ready / applied entry:
//   - at most one leader per term (per group);
//   - log matching: an (index, term) always holds the same entry, preceded by the same term;
//   - leader completeness: a leader's log holds every entry committed in an earlier term;
//   - state machine safety: every node applies the same entry (and reaches the same state
//     hash) at each index;
//   - commit and applied never decrease within an incarnation, the durable commit never
//     decreases across incarnations, and acknowledged proposals are committed with their term.

import { EntryKind, type Entry, type Ready, type SoftState } from '../../src/raft/index.js';
import { raftNodeBehaviour, type RaftNodeArgs, type RaftNodeHandle } from './kv-node.js';
import { Simulation, type SimNetworkOptions, type SimOptions } from '../../src/runtime/sim.js';

export class InvariantViolation extends Error {}

export interface ClusterOptions {
  seed: number;
  n: number;
  mode?: 'elected' | 'appointed';
  network?: Partial<SimNetworkOptions>;
  maxDriftPpm?: number;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** A quiet leader's heartbeat interval (default heartbeatTicks: no backoff). */
  idleHeartbeatTicks?: number;
  snapshotEntries?: number;
  /** Default 1 here (the shell's is 4): snapshots come often, so tests exercise them. */
  snapshotLogRatio?: number;
  snapshotChunkSize?: number;
  maxEntriesPerMsg?: number;
  /** Restore snapshots in this many turns at least (RaftNodeArgs.restoreSteps). */
  restoreSteps?: number;
  /** More simulator options: fsync faults, livelock guards, the replay command. */
  sim?: Omit<SimOptions, 'seed' | 'network' | 'maxDriftPpm'>;
}

const te = new TextEncoder();
const td = new TextDecoder();

function fnvBytes(h: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619) >>> 0;
  return h;
}
const entrySig = (e: Entry): string => `${e.term}/${e.kind}/${fnvBytes(2166136261, e.data)}/${e.data.length}`;

export interface ProposeOutcome {
  ok: boolean;
  index: number;
  term: number;
  reason: string;
  leader: string;
}

interface NodeTrack {
  commit: number;
  applied: number;
}

export class RaftCluster {
  readonly sim: Simulation;
  readonly ids: string[];
  readonly opts: ClusterOptions;
  /** The live incarnation of each node (undefined while its host is down). */
  readonly handles = new Map<string, RaftNodeHandle>();
  private readonly track = new Map<string, NodeTrack>();
  private readonly durableCommit = new Map<string, number>();
  private readonly writtenCommit = new Map<string, number>();
  private readonly leaderOfTerm = new Map<string, string>();
  /** group/index → entrySig of the entry committed there. */
  readonly committedAt = new Map<string, string>();
  /** group/index/term → entry content and preceding term. */
  private readonly logEntries = new Map<string, { sig: string; prev: number | undefined }>();
  /** group/index → state hash after applying (Normal entries). */
  private readonly hashAt = new Map<string, number>();
  /** Acknowledged proposals: (index, term) the client was told applied. */
  readonly acked: { index: number; term: number; value: string; group: string }[] = [];
  readonly log: string[] = [];
  verbose = false;
  violation: Error | undefined;
  authorityTerm = 0;

  constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.ids = Array.from({ length: opts.n }, (_, i) => `n${i + 1}`);
    this.sim = new Simulation({ ...opts.sim, seed: opts.seed, network: opts.network ?? {}, maxDriftPpm: opts.maxDriftPpm ?? 100 });
    const peers: Record<string, string> = {};
    for (const id of this.ids) peers[id] = this.address(id);
    for (const id of this.ids) {
      const args: RaftNodeArgs = {
        id,
        group: 'g',
        mode: opts.mode ?? 'elected',
        voters: opts.mode === 'appointed' ? [] : this.ids,
        peers,
        tickMs: opts.tickMs ?? 10,
        electionTicks: opts.electionTicks ?? 10,
        heartbeatTicks: opts.heartbeatTicks ?? 2,
        idleHeartbeatTicks: opts.idleHeartbeatTicks,
        snapshotEntries: opts.snapshotEntries ?? 10_000,
        snapshotLogRatio: opts.snapshotLogRatio ?? 1,
        snapshotChunkSize: opts.snapshotChunkSize,
        maxEntriesPerMsg: opts.maxEntriesPerMsg,
        restoreSteps: opts.restoreSteps,
      };
      this.sim.addHost(id, () =>
        raftNodeBehaviour(args, {
          started: (h) => this.onStarted(h),
          onPersisted: (h, r, synced) => this.guard(() => this.onPersisted(h, r, synced)),
        }),
      );
    }
    this.sim.checks.push(() => this.checkStep());
  }

  address(id: string): string {
    return `${id}#/${id}`;
  }

  note(s: string): void {
    const line = `[${this.sim.now().toFixed(1)}] ${s}`;
    this.log.push(line);
    if (this.verbose) console.log(line);
  }

  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.violation ??= e as Error;
      throw e;
    }
  }

  // ---- invariants ------------------------------------------------------------------------

  private onStarted(h: RaftNodeHandle): void {
    this.handles.set(h.id, h);
    this.track.set(h.id, { commit: h.shell.commitIndex, applied: h.shell.applied });
    h.onSoftState = (s) => this.guard(() => this.onSoftState(h, s));
  }

  private live(id: string): RaftNodeHandle | undefined {
    const h = this.handles.get(id);
    if (!h || h.shell.isStopped || !this.sim.host(id).up) return undefined;
    return h;
  }

  liveHandles(): RaftNodeHandle[] {
    return this.ids.map((id) => this.live(id)).filter((h): h is RaftNodeHandle => h !== undefined);
  }

  private fail(msg: string): never {
    const e = new InvariantViolation(`${msg} (seed ${this.opts.seed}, t=${this.sim.now().toFixed(1)})`);
    this.violation ??= e;
    throw e;
  }

  private onSoftState(h: RaftNodeHandle, s: SoftState): void {
    if (this.verbose) this.note(`${h.id} ${s.role} term ${s.term} leader ${s.leader || '-'}`);
    if (s.role !== 'leader') return;
    const key = `${s.group}/${s.term}`;
    const other = this.leaderOfTerm.get(key);
    if (other !== undefined && other !== h.id) this.fail(`two leaders in term ${s.term}: ${other} and ${h.id}`);
    this.leaderOfTerm.set(key, h.id);
    this.checkLeaderCompleteness(h, s.group, s.term);
  }

  private checkLeaderCompleteness(h: RaftNodeHandle, group: string, term: number): void {
    const st = h.shell;
    for (const [k, sig] of this.committedAt) {
      const slash = k.lastIndexOf('/');
      if (k.slice(0, slash) !== group) continue;
      const index = Number(k.slice(slash + 1));
      const t = Number(sig.slice(0, sig.indexOf('/')));
      if (t > term) continue;
      const have = st.termAt(index);
      if (have === undefined) {
        if (index > st.lastIndex) this.fail(`leader completeness: leader ${h.id} of term ${term} lacks committed index ${index} (its log ends at ${st.lastIndex})`);
        continue; // compacted into its snapshot: committed there
      }
      if (have !== t) this.fail(`leader completeness: leader ${h.id} of term ${term} has term ${have} at committed index ${index} (term ${t})`);
    }
  }

  private onPersisted(h: RaftNodeHandle, r: Ready, synced: boolean): void {
    const g = r.group;
    if (r.wipe) {
      this.track.set(h.id, { commit: 0, applied: 0 });
      this.durableCommit.set(h.id, 0);
      this.writtenCommit.set(h.id, 0);
    }
    // The durable commit index never goes back. Commit-only hard states are written without
    // a sync; they become durable with the next synced Ready (storage keeps issue order).
    const durable = this.durableCommit.get(h.id) ?? 0;
    const written = r.hardState ? r.hardState.commit : (this.writtenCommit.get(h.id) ?? durable);
    if (r.hardState && r.hardState.commit < durable) this.fail(`${h.id}: commit index written ${r.hardState.commit} is below the durable ${durable}`);
    this.writtenCommit.set(h.id, written);
    if (synced) this.durableCommit.set(h.id, Math.max(durable, written));
    // Log matching: (index, term) identifies the entry and the term before it.
    const first = r.entries[0];
    let prev = first ? h.shell.termAt(first.index - 1) : undefined;
    for (const e of r.entries) {
      const key = `${g}/${e.index}/${e.term}`;
      const sig = entrySig(e);
      const seen = this.logEntries.get(key);
      if (seen) {
        if (seen.sig !== sig) this.fail(`log matching: ${h.id} holds a different entry at index ${e.index} term ${e.term}`);
        if (seen.prev !== undefined && prev !== undefined && seen.prev !== prev) {
          this.fail(`log matching: ${h.id} has term ${prev} before (${e.index}, ${e.term}), another node had ${seen.prev}`);
        }
      } else {
        this.logEntries.set(key, { sig, prev });
      }
      prev = e.term;
    }
    // State machine safety: one entry per index, everywhere.
    for (const e of r.committed) {
      const key = `${g}/${e.index}`;
      const sig = entrySig(e);
      const seen = this.committedAt.get(key);
      if (seen === undefined) {
        this.committedAt.set(key, sig);
        // A leader of a later term must hold it.
        for (const l of this.liveHandles()) {
          const s = l.shell.softState();
          if (s.role === 'leader' && s.group === g && s.term > e.term) {
            const t = l.shell.termAt(e.index);
            if (t !== undefined && t !== e.term) this.fail(`leader completeness: leader ${l.id} (term ${s.term}) has term ${t} at newly committed ${e.index}`);
          }
        }
      } else if (seen !== sig) {
        this.fail(`state machine safety: ${h.id} applies ${sig} at ${e.index}, another node applied ${seen}`);
      }
    }
  }

  /** After every simulation step. */
  private checkStep(): void {
    if (this.violation) throw this.violation;
    const leaders = new Map<string, string>();
    for (const id of this.ids) {
      const h = this.live(id);
      if (!h) continue;
      const st = h.shell;
      const t = this.track.get(id)!;
      const c = st.commitIndex;
      const a = st.applied;
      if (c < t.commit) this.fail(`${id}: commit index went back from ${t.commit} to ${c}`);
      if (a < t.applied) this.fail(`${id}: applied index went back from ${t.applied} to ${a}`);
      if (a > c) this.fail(`${id}: applied ${a} beyond commit ${c}`);
      t.commit = c;
      t.applied = a;
      const s = st.softState();
      if (s.role === 'leader') {
        const key = `${s.group}/${s.term}`;
        const other = leaders.get(key) ?? this.leaderOfTerm.get(key);
        if (other !== undefined && other !== id) this.fail(`two leaders in term ${s.term}: ${other} and ${id}`);
        leaders.set(key, id);
      }
      // State hash agreement at the applied index.
      if (a > 0 && h.sm.applied === a) {
        const key = `${s.group}/${a}`;
        const hh = this.hashAt.get(key);
        if (hh === undefined) this.hashAt.set(key, h.sm.hash);
        else if (hh !== h.sm.hash) this.fail(`state machine safety: ${id} state hash differs at applied index ${a}`);
      }
    }
  }

  /** End-of-run checks: every acknowledged proposal is committed, with its term. */
  checkAcked(): void {
    for (const a of this.acked) {
      const sig = this.committedAt.get(`${a.group}/${a.index}`);
      if (sig === undefined) this.fail(`acknowledged proposal ${a.value} at ${a.index} is not known committed`);
      if (Number(sig.slice(0, sig.indexOf('/'))) !== a.term) this.fail(`acknowledged proposal ${a.value} at ${a.index} (term ${a.term}) was replaced by ${sig}`);
    }
  }

  // ---- observation ------------------------------------------------------------------------

  leader(): RaftNodeHandle | undefined {
    let best: RaftNodeHandle | undefined;
    for (const h of this.liveHandles()) {
      const s = h.shell.softState();
      if (s.role === 'leader' && (!best || s.term > best.shell.softState().term)) best = h;
    }
    return best;
  }

  /** A leader that a majority of live, connected members follow in its term. */
  stableLeader(): RaftNodeHandle | undefined {
    const l = this.leader();
    if (!l) return undefined;
    const s = l.shell.softState();
    let n = 0;
    for (const h of this.liveHandles()) {
      const hs = h.shell.softState();
      if (hs.term === s.term && hs.leader === l.id && this.sim.connected(h.id, l.id)) n++;
    }
    return n > this.ids.length / 2 ? l : undefined;
  }

  /** Virtual-time sleep for driver tasks running beside sim.run. The Simulation lets promise
   * continuations run only when something flagged them (storage syncs, asks), so flag it. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) =>
      this.sim.at(ms, () => {
        (this.sim as unknown as { microtasks: boolean }).microtasks = true;
        resolve();
      }),
    );
  }

  async runUntil(pred: () => boolean, maxMs: number): Promise<boolean> {
    return this.sim.run({ until: pred, forMs: maxMs });
  }

  async runFor(ms: number): Promise<void> {
    await this.sim.run({ forMs: ms });
  }

  async waitLeader(maxMs = 5_000): Promise<RaftNodeHandle> {
    const ok = await this.runUntil(() => this.stableLeader() !== undefined, maxMs);
    if (!ok) throw new Error(`no stable leader within ${maxMs} ms (seed ${this.opts.seed})`);
    return this.stableLeader()!;
  }

  /** One line per node, for failure reports. */
  describeNodes(): string {
    return this.ids
      .map((id) => {
        const h = this.live(id);
        if (!h) return `${id}: down`;
        const s = h.shell.status();
        const inFlight = (h.shell as unknown as { inFlight?: unknown }).inFlight !== undefined;
        return `${id}: ${s.role} term ${s.term} vote ${s.vote || '-'} leader ${s.leader || '-'} commit ${s.commit} applied ${s.applied} last ${s.lastIndex}/${s.lastTerm} snap ${s.snapshotIndex}${inFlight ? ' READY-IN-FLIGHT' : ''}`;
      })
      .join('\n');
  }

  // ---- clients ---------------------------------------------------------------------------

  private seq = 0;

  /** Ask node `id` to propose `value`; resolves with its answer (after apply) or a failure. */
  propose(id: string, value: string, timeoutMs = 2_000): Promise<ProposeOutcome> {
    const p = this.sim
      .ask<{ ok: boolean; index: number; term: number; reason: string; leader: string }>(this.address(id), { type: 'govfs.raft.ClientPropose', data: te.encode(value) }, timeoutMs)
      .then(
        (r) => {
          const out = { ok: r.ok, index: r.index, term: r.term, reason: r.reason, leader: r.leader };
          if (r.ok) this.acked.push({ index: r.index, term: r.term, value, group: this.handles.get(id)?.shell.currentGroup ?? 'g' });
          return out;
        },
        (e: unknown) => ({ ok: false, index: 0, term: 0, reason: (e as { code?: string }).code ?? String(e), leader: '' }),
      );
    return p;
  }

  /** Propose through whoever leads, retrying, until `count` values are applied; returns them. */
  async proposeAndWait(count: number, maxMs = 10_000, prefix = 'v'): Promise<string[]> {
    const values: string[] = [];
    const deadline = this.sim.now() + maxMs;
    while (values.length < count) {
      if (this.sim.now() > deadline) throw new Error(`proposals did not commit within ${maxMs} ms (seed ${this.opts.seed}): ${values.length}/${count}`);
      const l = this.stableLeader() ?? this.leader();
      if (!l) {
        await this.runFor(20);
        continue;
      }
      const n = ++this.seq;
      const v = `${prefix}${n}=${n}`;
      const r = await this.sim.settle(this.propose(l.id, v), 10_000);
      if (r.ok) values.push(v);
      else await this.runFor(10);
    }
    return values;
  }

  /** Run until every live node has applied the same, highest commit index. */
  async converge(maxMs = 10_000): Promise<void> {
    const done = (): boolean => {
      const hs = this.liveHandles();
      if (hs.length === 0) return true;
      const c = Math.max(...hs.map((h) => h.shell.commitIndex));
      return hs.every((h) => h.shell.commitIndex === c && h.shell.applied === c && h.shell.lastIndex === this.stableLeader()?.shell.lastIndex);
    };
    if (!(await this.runUntil(done, maxMs))) {
      const st = this.liveHandles().map((h) => `${h.id}: ${h.shell.softState().role} t${h.shell.softState().term} commit ${h.shell.commitIndex} applied ${h.shell.applied} last ${h.shell.lastIndex}`);
      throw new Error(`no convergence within ${maxMs} ms (seed ${this.opts.seed}): ${st.join('; ')}`);
    }
    const hs = this.liveHandles();
    const h0 = hs[0]!;
    for (const h of hs) {
      if (h.sm.hash !== h0.sm.hash || h.sm.applied !== h0.sm.applied) throw new InvariantViolation(`${h.id} and ${h0.id} differ after converging (seed ${this.opts.seed})`);
    }
  }

  /** Index at which `value` is applied on node `id` (via its KV: values are 'key=value'). */
  kv(id: string, key: string): string | undefined {
    return this.handles.get(id)?.sm.kv.get(key);
  }

  appliedValues(id: string): number {
    return this.handles.get(id)?.sm.count ?? 0;
  }

  // ---- faults ------------------------------------------------------------------------------

  crash(id: string): void {
    this.note(`crash ${id}`);
    this.sim.crash(id);
    this.handles.delete(id);
  }

  restart(id: string): void {
    this.note(`restart ${id}`);
    this.sim.restart(id);
  }

  isolate(id: string): void {
    this.note(`isolate ${id}`);
    this.sim.isolate(id);
  }

  partition(a: string[], b: string[]): void {
    this.note(`partition ${a.join(',')} | ${b.join(',')}`);
    this.sim.partition(a, b);
  }

  heal(): void {
    this.note('heal');
    this.sim.heal();
  }

  /** What a correct authority (the president) appoints: of the members it can reach, the one
   * whose log is most up to date (lastTerm, then lastIndex), as a Raft vote would choose. */
  mostUpToDate(candidates: string[]): string {
    let best = '';
    let bt = -1;
    let bi = -1;
    for (const id of candidates) {
      const h = this.live(id);
      if (!h) continue;
      const s = h.shell.status();
      if (s.lastTerm > bt || (s.lastTerm === bt && s.lastIndex > bi)) [best, bt, bi] = [id, s.lastTerm, s.lastIndex];
    }
    return best;
  }

  /** Appointed mode: the authority appoints `leader` with a fresh term; told to `reach`. */
  async appoint(leader: string, members: string[] = this.ids, reach: string[] = members): Promise<number> {
    return this.sim.settle(this.appointAsync(leader, members, reach), 5_000);
  }

  /** appoint() for driver tasks that run while the simulation runs (no nested settle). */
  async appointAsync(leader: string, members: string[] = this.ids, reach: string[] = members): Promise<number> {
    const term = ++this.authorityTerm;
    this.note(`appoint ${leader} term ${term}`);
    const asks = reach.map((id) =>
      this.sim
        .ask<{ ok: boolean; reason: string }>(this.address(id), { type: 'govfs.raft.ClientAppoint', term, leader, members, group: '' }, 1_000)
        .catch(() => ({ ok: false, reason: 'unreachable' })),
    );
    await Promise.all(asks);
    return term;
  }
}

export const seeds = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

export { EntryKind, td };
