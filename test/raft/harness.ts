// A deterministic multi-node simulator for the Raft core: N cores, a simulated network with
// latency, loss, duplication, reordering and partitions, crashes that lose everything not yet
// persisted, restarts from the durable store, and invariant checks after every event.
// Everything is driven by one seeded PRNG, so a failing seed replays exactly.

import { MinHeap } from '../../src/runtime/heap.js';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import {
  EntryKind,
  RaftCore,
  type DurableState,
  type Entry,
  type HardState,
  type RaftConfig,
  type RaftMessage,
  type ReadState,
  type Ready,
  type Snapshot,
} from '../../src/raft/index.js';

// ---- seeded randomness -------------------------------------------------------------------

/** mulberry32: small, fast, good enough for simulation. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

// ---- wire codec (for runs where every message goes through protobuf) ---------------------

export const PROTO_PATH = fileURLToPath(new URL('../../src/wire/proto/raft.proto', import.meta.url));
let protoRoot: protobuf.Root | undefined;
export function protoTypes(): protobuf.Root {
  protoRoot ??= protobuf.loadSync(PROTO_PATH);
  return protoRoot;
}

/** Encode with protobufjs and decode back into a plain message, as the runtime does. */
export function wireRoundTrip(msg: RaftMessage): { msg: RaftMessage; bytes: number } {
  const T = protoTypes().lookupType(msg.type);
  const err = T.verify(msg);
  if (err) throw new Error(`message ${msg.type} does not verify against raft.proto: ${err}`);
  const buf = T.encode(T.fromObject(msg)).finish();
  const obj = T.toObject(T.decode(buf), { longs: Number, defaults: true, arrays: true }) as Record<string, unknown>;
  return { msg: { ...obj, type: msg.type } as unknown as RaftMessage, bytes: buf.length };
}

// ---- durable store -----------------------------------------------------------------------

/** What survives a crash: only what a Ready persisted (before its messages were sent). */
export class Store {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  group: string;
  constructor(group: string) {
    this.group = group;
  }

  lastIndex(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.index : (this.snapshot?.index ?? 0);
  }

  termAt(index: number): number | undefined {
    const base = this.snapshot?.index ?? 0;
    if (index === base) return this.snapshot?.term ?? 0;
    return this.entries[index - base - 1]?.term;
  }

  persist(r: Ready): void {
    if (r.wipe) {
      this.hardState = { term: 0, vote: '', commit: 0 };
      this.snapshot = undefined;
      this.entries = [];
    }
    this.group = r.group;
    if (r.snapshot) {
      this.snapshot = r.snapshot;
      this.entries = [];
    }
    if (r.entries.length > 0) {
      const first = r.entries[0]!.index;
      const base = this.snapshot?.index ?? 0;
      if (first <= base || first > this.lastIndex() + 1) {
        throw new Error(`store: Ready entries start at ${first} but the store holds (${base}, ${this.lastIndex()}]`);
      }
      this.entries.length = first - base - 1;
      for (const e of r.entries) this.entries.push(e);
    }
    if (r.hardState) {
      if (r.hardState.commit < this.hardState.commit && !r.wipe) {
        throw new Error(`invariant: durable commit went back from ${this.hardState.commit} to ${r.hardState.commit}`);
      }
      if (r.hardState.term < this.hardState.term && !r.wipe) {
        throw new Error(`invariant: durable term went back from ${this.hardState.term} to ${r.hardState.term}`);
      }
      this.hardState = { ...r.hardState };
    }
  }

  compact(s: Snapshot): void {
    this.snapshot = s;
    this.entries = this.entries.filter((e) => e.index > s.index);
  }

  load(applied: number): DurableState {
    const d: DurableState = { hardState: { ...this.hardState }, entries: [...this.entries], applied };
    if (this.snapshot) d.snapshot = this.snapshot;
    return d;
  }
}

// ---- state machine -----------------------------------------------------------------------

const te = new TextEncoder();
const td = new TextDecoder();
export const enc = (s: string): Uint8Array => te.encode(s);
export const dec = (b: Uint8Array): string => td.decode(b);

function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function entryKey(e: Entry): string {
  return `${e.term}/${e.kind}/${dec(e.data)}`;
}

/** Snapshot data is JSON, optionally followed by a newline and padding. */
function parseSnapshot(data: Uint8Array): { applied: number; hash: number } {
  const nl = data.indexOf(10);
  return JSON.parse(dec(nl >= 0 ? data.subarray(0, nl) : data)) as { applied: number; hash: number };
}

/** Folds every applied entry into a running hash: equal hashes at an index mean equal
 * histories up to it. */
class StateMachine {
  applied = 0;
  hash = 2166136261;
  apply(e: Entry): void {
    this.applied = e.index;
    this.hash = fnv(this.hash, `${e.index}:${entryKey(e)};`);
  }
  snapshot(): Uint8Array {
    return enc(JSON.stringify({ applied: this.applied, hash: this.hash }));
  }
  restore(data: Uint8Array, index: number): void {
    const v = parseSnapshot(data);
    if (v.applied !== index) throw new Error(`snapshot data is for ${v.applied}, metadata says ${index}`);
    this.applied = v.applied;
    this.hash = v.hash;
  }
}

// ---- simulation --------------------------------------------------------------------------

export interface SimOptions {
  seed: number;
  ids: string[];
  /** Voters of the bootstrap membership (default: ids). */
  voters?: string[];
  mode?: 'elected' | 'appointed';
  group?: string;
  /** Overrides for every node's RaftConfig. */
  config?: Partial<Omit<RaftConfig, 'id' | 'randomInt'>>;
  tickMs?: number;
  latency?: [number, number];
  drop?: number;
  duplicate?: number;
  /** Pass every message through protobuf encode/decode. */
  wire?: boolean;
  /** Compact once a node has applied this many entries past its snapshot (0: never). */
  snapshotEvery?: number;
  /** Probability, per Ready, of crashing after persisting and before sending. */
  crashMidReady?: number;
  /** Pad snapshots with this many bytes (to make chunked transfers long). */
  snapshotPadding?: number;
  /** Keep each link in order (like TCP); otherwise random latencies reorder messages. */
  fifo?: boolean;
}

export class SimNode {
  core: RaftCore | undefined;
  readonly store: Store;
  sm = new StateMachine();
  /** Monotonic per lifetime (reset by crash/restart or a group move). */
  lastCommit = 0;
  lastApplied = 0;
  lastRole = '';
  lastTerm = 0;
  nextTick = 0;
  constructor(
    readonly id: string,
    group: string,
  ) {
    this.store = new Store(group);
  }
  get up(): boolean {
    return this.core !== undefined;
  }
}

interface Event {
  at: number;
  seq: number;
  node: string;
  msg?: RaftMessage;
}

const less = (a: Event, b: Event): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

export class InvariantError extends Error {}

export class Sim {
  readonly rng: Prng;
  readonly opts: Required<Omit<SimOptions, 'voters' | 'config'>> & { voters: string[]; config: SimOptions['config'] };
  readonly nodes = new Map<string, SimNode>();
  now = 0;
  private seq = 0;
  private queue = new MinHeap<Event>(less);
  /** Directed links that drop everything ("a>b"). */
  private blocked = new Set<string>();
  /** fifo: the latest delivery time scheduled on each link. */
  private linkClock = new Map<string, number>();
  drop: number;
  duplicate: number;
  crashMidReady: number;
  /** Messages sent, by type. */
  readonly sent = new Map<string, number>();
  /** Message types seen on the wire (for the codec test). */
  readonly wireTypes = new Set<string>();
  /** Hook called for every message as it is sent (tests may inspect or count). */
  onSend: ((m: RaftMessage) => void) | undefined;
  /** Hook called for every ReadState a node's Ready hands out. */
  onReadState: ((node: string, r: ReadState) => void) | undefined;

  // Invariant bookkeeping, per group.
  private leaderOfTerm = new Map<number, string>();
  private entryAt = new Map<string, string>(); // group/index/term → entry key
  private prevTermOf = new Map<string, number>(); // group/index/term → term at index-1
  /** group → index → entry key of the entry applied there (state machine safety). */
  readonly applied = new Map<string, Map<number, string>>();
  private hashAt = new Map<string, Map<number, number>>();
  /** group → data → index where it was applied. */
  readonly appliedIndexOf = new Map<string, Map<string, number>>();
  readonly maxAppliedIndex = new Map<string, number>();
  private proposalSeq = 0;
  /** Appointed mode: the authority's single term counter. */
  authorityTerm = 0;
  /** Group moves seen, per node (Ready.wipe). */
  readonly wipes = new Map<string, number>();

  constructor(o: SimOptions) {
    this.rng = new Prng(o.seed);
    this.opts = {
      seed: o.seed,
      ids: o.ids,
      voters: o.voters ?? o.ids,
      mode: o.mode ?? 'elected',
      group: o.group ?? 'cluster',
      config: o.config,
      tickMs: o.tickMs ?? 10,
      latency: o.latency ?? [1, 5],
      drop: o.drop ?? 0,
      duplicate: o.duplicate ?? 0,
      wire: o.wire ?? false,
      snapshotEvery: o.snapshotEvery ?? 0,
      crashMidReady: o.crashMidReady ?? 0,
      snapshotPadding: o.snapshotPadding ?? 0,
      fifo: o.fifo ?? false,
    };
    this.drop = this.opts.drop;
    this.duplicate = this.opts.duplicate;
    this.crashMidReady = this.opts.crashMidReady;
    for (const id of o.ids) this.addNode(id, this.opts.voters, this.opts.group);
  }

  // ---- nodes -----------------------------------------------------------------------------

  configFor(id: string, voters: string[], group: string): RaftConfig {
    const rng = new Prng(this.opts.seed * 7919 + [...id].reduce((h, c) => h * 31 + c.charCodeAt(0), 7) + this.now);
    return {
      id,
      group,
      mode: this.opts.mode,
      voters,
      electionTicks: 10,
      heartbeatTicks: 2,
      ...this.opts.config,
      randomInt: (lo, hi) => rng.int(lo, hi),
    };
  }

  /** Add a node; it starts with `voters` as its bootstrap membership (use [] for a node that
   * joins a running cluster). */
  addNode(id: string, voters: string[] = [], group = this.opts.group): SimNode {
    const n = new SimNode(id, group);
    this.nodes.set(id, n);
    this.startCore(n, voters, group);
    return n;
  }

  private voterMemo = new Map<string, string[]>();

  private startCore(n: SimNode, voters: string[], group: string): void {
    this.voterMemo.set(n.id, voters);
    const applied = n.store.snapshot?.index ?? 0;
    n.sm = new StateMachine();
    if (n.store.snapshot) n.sm.restore(n.store.snapshot.data, n.store.snapshot.index);
    n.core = new RaftCore(this.configFor(n.id, voters, n.store.group || group), n.store.load(applied));
    n.lastCommit = 0;
    n.lastApplied = n.sm.applied;
    n.lastRole = '';
    n.lastTerm = 0;
    n.nextTick = this.now + this.rng.int(1, this.opts.tickMs);
    this.schedule(n.nextTick, n.id);
    this.drain(n);
  }

  node(id: string): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: string): RaftCore {
    const c = this.node(id).core;
    if (!c) throw new Error(`node ${id} is down`);
    return c;
  }

  /** Stop a node at once: its memory (log tail not persisted, state machine) is lost. */
  crash(id: string): void {
    const n = this.node(id);
    n.core = undefined;
  }

  restart(id: string): void {
    const n = this.node(id);
    if (n.up) return;
    this.startCore(n, this.voterMemo.get(id) ?? [], n.store.group);
  }

  upIds(): string[] {
    return [...this.nodes.values()].filter((n) => n.up).map((n) => n.id);
  }

  // ---- network ---------------------------------------------------------------------------

  isolate(id: string): void {
    for (const o of this.nodes.keys()) {
      if (o === id) continue;
      this.blocked.add(`${id}>${o}`);
      this.blocked.add(`${o}>${id}`);
    }
  }

  /** Cut the cluster into the given sides (nodes not listed are cut from everyone). */
  partition(...sides: string[][]): void {
    this.blocked.clear();
    const sideOf = new Map<string, number>();
    sides.forEach((s, i) => s.forEach((id) => sideOf.set(id, i)));
    for (const a of this.nodes.keys()) {
      for (const b of this.nodes.keys()) {
        if (a !== b && (sideOf.get(a) === undefined || sideOf.get(a) !== sideOf.get(b))) this.blocked.add(`${a}>${b}`);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  linked(a: string, b: string): boolean {
    return !this.blocked.has(`${a}>${b}`);
  }

  private transmit(m: RaftMessage): void {
    this.sent.set(m.type, (this.sent.get(m.type) ?? 0) + 1);
    this.onSend?.(m);
    if (!this.linked(m.from, m.to) || !this.nodes.has(m.to)) return;
    if (this.rng.chance(this.drop)) return;
    let msg = m;
    if (this.opts.wire) {
      msg = wireRoundTrip(m).msg;
      this.wireTypes.add(m.type);
    }
    const copies = this.rng.chance(this.duplicate) ? 2 : 1;
    const [lo, hi] = this.opts.latency;
    for (let i = 0; i < copies; i++) {
      let at = this.now + this.rng.int(lo, hi);
      if (this.opts.fifo) {
        const link = `${m.from}>${m.to}`;
        at = Math.max(at, this.linkClock.get(link) ?? 0);
        this.linkClock.set(link, at);
      }
      this.schedule(at, m.to, msg);
    }
  }

  private schedule(at: number, node: string, msg?: RaftMessage): void {
    const e: Event = { at, seq: this.seq++, node };
    if (msg) e.msg = msg;
    this.queue.push(e);
  }

  // ---- running ---------------------------------------------------------------------------

  /** Process one event; returns false if there is none. */
  stepOnce(): boolean {
    const e = this.queue.pop();
    if (!e) return false;
    this.now = Math.max(this.now, e.at);
    const n = this.nodes.get(e.node);
    if (!n || !n.core) return true;
    if (e.msg) {
      if (!this.linked(e.msg.from, e.msg.to)) return true; // cut while in flight
      n.core.step(e.msg);
    } else {
      if (e.at !== n.nextTick) return true; // a tick from a previous lifetime
      n.core.tick();
      n.nextTick = this.now + this.opts.tickMs;
      this.schedule(n.nextTick, n.id);
    }
    this.drain(n);
    return true;
  }

  runFor(ms: number, each?: () => void): void {
    const end = this.now + ms;
    while (this.queue.size > 0 && this.queue.peek()!.at <= end) {
      this.stepOnce();
      each?.();
    }
    this.now = end;
  }

  /** Run until `pred` holds (checked after every event); false on timeout. */
  runUntil(pred: () => boolean, maxMs: number): boolean {
    const end = this.now + maxMs;
    if (pred()) return true;
    while (this.queue.size > 0 && this.queue.peek()!.at <= end) {
      this.stepOnce();
      if (pred()) return true;
    }
    this.now = end;
    return pred();
  }

  /** Hand every pending Ready of `n` to its shell: persist, send, apply, advance. */
  drain(n: SimNode): void {
    let guard = 0;
    while (n.core && n.core.hasReady()) {
      if (++guard > 1000) throw new Error(`node ${n.id}: hasReady() never settles`);
      const core = n.core;
      const r = core.ready();
      this.checkReady(n, r);
      n.store.persist(r);
      if (this.rng.chance(this.crashMidReady)) {
        this.crash(n.id); // persisted, but nothing sent or applied
        return;
      }
      for (const m of r.messages) this.transmit(m);
      if (r.wipe) {
        this.wipes.set(n.id, (this.wipes.get(n.id) ?? 0) + 1);
        n.sm = new StateMachine();
        n.lastApplied = 0;
        n.lastCommit = 0;
      }
      if (r.snapshot) n.sm.restore(r.snapshot.data, r.snapshot.index);
      this.checkSnapshotRestore(n, r);
      for (const e of r.committed) this.apply(n, r.group, e);
      for (const rs of r.readStates) this.onReadState?.(n.id, rs);
      core.advance(r);
      this.maybeCompact(n, r.group);
    }
  }

  private apply(n: SimNode, group: string, e: Entry): void {
    if (e.index !== n.sm.applied + 1) {
      throw new InvariantError(`node ${n.id} applies ${e.index} after ${n.sm.applied}`);
    }
    n.sm.apply(e);
    const key = entryKey(e);
    const at = mapOf(this.applied, group);
    const prev = at.get(e.index);
    if (prev !== undefined && prev !== key) {
      throw new InvariantError(`state machine safety: ${n.id} applies ${key} at ${e.index}, another node applied ${prev}`);
    }
    at.set(e.index, key);
    const hashes = mapOf(this.hashAt, group);
    const h = hashes.get(e.index);
    if (h !== undefined && h !== n.sm.hash) throw new InvariantError(`state machine safety: ${n.id} history differs at ${e.index}`);
    hashes.set(e.index, n.sm.hash);
    if (e.kind === EntryKind.Normal) mapOf(this.appliedIndexOf, group).set(dec(e.data), e.index);
    if (e.index > (this.maxAppliedIndex.get(group) ?? 0)) this.maxAppliedIndex.set(group, e.index);
    if (n.sm.applied < n.lastApplied) throw new InvariantError(`${n.id}: applied went back`);
    n.lastApplied = n.sm.applied;
  }

  private maybeCompact(n: SimNode, group: string): void {
    const every = this.opts.snapshotEvery;
    const core = n.core;
    if (every <= 0 || !core) return;
    const base = n.store.snapshot?.index ?? 0;
    if (n.sm.applied - base < every) return;
    let data = n.sm.snapshot();
    if (this.opts.snapshotPadding > 0) {
      const padded = new Uint8Array(data.length + 1 + this.opts.snapshotPadding);
      padded.set(data);
      padded[data.length] = 10;
      data = padded;
    }
    const res = core.compact(n.sm.applied, data);
    if (!res.ok) throw new Error(`compact failed: ${res.message}`);
    if (res.snapshot.term !== n.store.termAt(res.snapshot.index)) throw new InvariantError(`${n.id}: snapshot term mismatch`);
    n.store.compact(res.snapshot);
    void group;
  }

  // ---- invariants ------------------------------------------------------------------------

  private checkReady(n: SimNode, r: Ready): void {
    const g = r.group;
    // Election safety: at most one leader per term (terms are global in appointed mode).
    if (r.softState.role === 'leader') {
      const other = this.leaderOfTerm.get(r.softState.term);
      if (other !== undefined && other !== n.id) {
        throw new InvariantError(`two leaders in term ${r.softState.term}: ${other} and ${n.id}`);
      }
      if (other === undefined) {
        this.leaderOfTerm.set(r.softState.term, n.id);
        this.checkLeaderCompleteness(n, g);
      }
    }
    // Commit never decreases within a lifetime.
    if (!r.wipe && r.commit < n.lastCommit) throw new InvariantError(`${n.id}: commit went back ${n.lastCommit} → ${r.commit}`);
    n.lastCommit = r.wipe ? r.commit : Math.max(n.lastCommit, r.commit);
    // Log matching, checked as entries are written: an (index, term) always carries the same
    // entry, preceded by the same term; by induction equal (index, term) means equal prefixes.
    const store = n.store;
    let prevTerm: number | undefined;
    if (r.entries.length > 0) {
      const first = r.entries[0]!.index;
      const base = r.snapshot ? r.snapshot.index : r.wipe ? 0 : (store.snapshot?.index ?? 0);
      prevTerm = first - 1 === base ? (r.snapshot ? r.snapshot.term : r.wipe ? 0 : (store.snapshot?.term ?? 0)) : store.termAt(first - 1);
    }
    for (const e of r.entries) {
      const k = `${g}/${e.index}/${e.term}`;
      const key = entryKey(e);
      const seen = this.entryAt.get(k);
      if (seen !== undefined && seen !== key) throw new InvariantError(`log matching: two entries at ${k}: ${seen} vs ${key}`);
      this.entryAt.set(k, key);
      if (prevTerm === undefined) throw new InvariantError(`${n.id}: entry ${e.index} written after a gap`);
      const pt = this.prevTermOf.get(k);
      if (pt !== undefined && pt !== prevTerm) throw new InvariantError(`log matching: ${k} preceded by term ${prevTerm} on ${n.id}, ${pt} elsewhere`);
      this.prevTermOf.set(k, prevTerm);
      if (e.term < prevTerm) throw new InvariantError(`${n.id}: terms decrease in the log at ${e.index}`);
      prevTerm = e.term;
    }
    // Committed entries must be durable (here or in this very Ready) before they are applied.
    const last = r.entries.length > 0 ? r.entries[r.entries.length - 1]!.index : store.lastIndex();
    for (const e of r.committed) {
      if (e.index > Math.max(last, store.lastIndex())) throw new InvariantError(`${n.id}: applies ${e.index} before persisting it`);
    }
  }

  private checkSnapshotRestore(n: SimNode, r: Ready): void {
    if (!r.snapshot) return;
    const h = mapOf(this.hashAt, r.group).get(r.snapshot.index);
    if (h !== undefined && h !== n.sm.hash) throw new InvariantError(`${n.id}: installed snapshot at ${r.snapshot.index} has a different history`);
    if (n.sm.applied < n.lastApplied) throw new InvariantError(`${n.id}: snapshot moved applied back`);
    n.lastApplied = n.sm.applied;
  }

  /** A new leader holds every entry applied anywhere (Raft's leader completeness). */
  checkLeaderCompleteness(n: SimNode, group: string): void {
    const core = n.core!;
    const st = core.status();
    const applied = this.applied.get(group);
    if (!applied) return;
    const maxApplied = this.maxAppliedIndex.get(group) ?? 0;
    if (st.lastIndex < maxApplied) {
      throw new InvariantError(`leader completeness: ${n.id} leads term ${st.term} with last index ${st.lastIndex} < applied ${maxApplied}`);
    }
    const byIndex = new Map(core.entries().map((e) => [e.index, e]));
    for (const [i, key] of applied) {
      if (i <= st.snapshotIndex) continue;
      const e = byIndex.get(i);
      if (!e || entryKey(e) !== key) {
        throw new InvariantError(`leader completeness: ${n.id} (term ${st.term}) lacks committed entry ${i} (${key})`);
      }
    }
    if (st.snapshotIndex > 0) {
      const h = this.hashAt.get(group)?.get(st.snapshotIndex);
      const mine = n.store.snapshot;
      if (h !== undefined && mine && mine.index === st.snapshotIndex) {
        const v = parseSnapshot(mine.data);
        if (v.hash !== h) throw new InvariantError(`leader completeness: ${n.id}'s snapshot differs`);
      }
    }
  }

  /** Full pairwise log matching over the in-memory logs of the nodes that are up. */
  checkLogMatching(): void {
    const ups = [...this.nodes.values()].filter((n) => n.core);
    for (let a = 0; a < ups.length; a++) {
      for (let b = a + 1; b < ups.length; b++) {
        const A = ups[a]!.core!;
        const B = ups[b]!.core!;
        if (A.softState().group !== B.softState().group) continue;
        const ea = new Map(A.entries().map((e) => [e.index, e]));
        const eb = B.entries();
        // Find the highest index where both have the same term; everything before must match.
        let top = 0;
        for (const e of eb) {
          const x = ea.get(e.index);
          if (x && x.term === e.term) top = Math.max(top, e.index);
        }
        for (const e of eb) {
          if (e.index > top) continue;
          const x = ea.get(e.index);
          if (x && entryKey(x) !== entryKey(e)) {
            throw new InvariantError(`log matching: ${ups[a]!.id} and ${ups[b]!.id} agree at ${top} but differ at ${e.index}`);
          }
        }
      }
    }
  }

  // ---- clients -------------------------------------------------------------------------

  /** The node that is leader with the highest term among nodes that are up (group-wide). */
  leader(group = this.opts.group): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      const s = n.core?.softState();
      if (s && s.role === 'leader' && s.group === group && (!best || s.term > best.core!.softState().term)) best = n;
    }
    return best;
  }

  /** A leader that has committed an entry of its term and is recognised by a majority of up
   * voters. */
  stableLeader(group = this.opts.group): SimNode | undefined {
    const l = this.leader(group);
    if (!l) return undefined;
    const st = l.core!.status();
    const snap = l.store.snapshot;
    const commitTerm = l.core!.entries().find((e) => e.index === st.commit)?.term ?? (snap && snap.index === st.commit ? snap.term : -1);
    if (commitTerm !== st.term) return undefined;
    let agree = 0;
    for (const v of st.membership.voters) {
      const s = this.nodes.get(v)?.core?.softState();
      if (s && s.leader === l.id && s.term === st.term) agree++;
    }
    return agree >= Math.floor(st.membership.voters.length / 2) + 1 ? l : undefined;
  }

  waitStableLeader(maxMs = 5000, group = this.opts.group): SimNode {
    let l: SimNode | undefined;
    if (!this.runUntil(() => (l = this.stableLeader(group)) !== undefined, maxMs)) {
      throw new Error(`no stable leader within ${maxMs} ms (seed ${this.opts.seed})`);
    }
    return l!;
  }

  /** Propose a fresh value at the current leader (if any). */
  propose(group = this.opts.group): { value: string; index: number; term: number; node: string } | undefined {
    const l = this.leader(group);
    if (!l) return undefined;
    const value = `v${this.opts.seed}-${++this.proposalSeq}`;
    const r = l.core!.propose(enc(value));
    if (!r.ok) return undefined;
    this.drain(l);
    return { value, index: r.index, term: r.term, node: l.id };
  }

  /** The highest commit index any node (up or down) has reached: committed, cluster-wide. */
  maxCommit(group = this.opts.group): number {
    let m = 0;
    for (const n of this.nodes.values()) {
      if (n.store.group === group) m = Math.max(m, n.store.hardState.commit);
      const st = n.core?.softState().group === group ? n.core.hardState() : undefined;
      if (st) m = Math.max(m, st.commit);
    }
    return m;
  }

  /** How many nodes that are up have applied `value`. */
  appliedCount(value: string, group = this.opts.group): number {
    const i = this.appliedIndexOf.get(group)?.get(value);
    if (i === undefined) return 0;
    let c = 0;
    for (const n of this.nodes.values()) if (n.core && n.core.softState().group === group && n.sm.applied >= i) c++;
    return c;
  }

  /** Index at which `value` was applied (undefined if nowhere). */
  appliedIndex(value: string, group = this.opts.group): number | undefined {
    return this.appliedIndexOf.get(group)?.get(value);
  }

  waitApplied(value: string, count: number, maxMs = 5000, group = this.opts.group): boolean {
    return this.runUntil(() => this.appliedCount(value, group) >= count, maxMs);
  }

  /** Propose `value`-like entries until one commits on `count` nodes (retrying across leader
   * changes, like a client). Returns the value that committed. */
  proposeAndWait(count: number, maxMs = 10_000, group = this.opts.group): string {
    const end = this.now + maxMs;
    while (this.now < end) {
      const p = this.propose(group);
      if (p && this.waitApplied(p.value, count, 1500, group)) return p.value;
      if (!p) this.runFor(50);
    }
    throw new Error(`no value committed on ${count} nodes within ${maxMs} ms (seed ${this.opts.seed})`);
  }

  // ---- appointed mode: the outside authority --------------------------------------------

  /** The authority appoints a leader for `group` among `members`, reaching the nodes in
   * `reach` (default: all up). It picks the most up-to-date reachable member, as a vote
   * would, and needs a majority of members reachable. Returns the appointee. */
  appoint(group: string, members: string[], opts: { reach?: string[]; leader?: string; extra?: string[] } = {}): string | undefined {
    const reach = (opts.reach ?? this.upIds()).filter((id) => this.nodes.get(id)?.up);
    const candidates = members.filter((m) => reach.includes(m));
    if (candidates.length < Math.floor(members.length / 2) + 1) return undefined;
    let leader = opts.leader;
    if (leader === undefined) {
      let best: { id: string; t: number; i: number } | undefined;
      for (const id of candidates) {
        const core = this.core(id);
        const st = core.status();
        // A member of another group has nothing of this group's log.
        const [t, i] = st.group === group ? [st.lastTerm, st.lastIndex] : [0, 0];
        if (!best || t > best.t || (t === best.t && i > best.i)) best = { id, t, i };
      }
      leader = best!.id;
    }
    const term = ++this.authorityTerm;
    for (const id of [...candidates, ...(opts.extra ?? [])]) {
      const r = this.core(id).appoint({ term, leader, members, group });
      if (!r.ok) throw new Error(`appoint(${id}) failed: ${r.message}`);
      this.drain(this.node(id));
    }
    return leader;
  }
}

function mapOf<K, V>(m: Map<string, Map<K, V>>, g: string): Map<K, V> {
  let x = m.get(g);
  if (!x) m.set(g, (x = new Map()));
  return x;
}
