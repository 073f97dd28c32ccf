// Seeded pseudo random numbers (sfc32): small, fast, and identical on every platform, so a
// simulation seed replays exactly.

import type { Random } from './types.js';

/** Mix a string into a 32-bit seed (FNV-1a). */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88 ^ (stream >>> 0);
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  next(): number {
    return this.u32() / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** A derived generator, independent of this one's future draws. */
  fork(label: string): SeededRandom {
    return new SeededRandom(this.u32() ^ hashString(label), hashString(label, 7));
  }
}

/**
 * Streams that predate the seed tree keep the numbers they had, so every existing seed runs
 * exactly as before (the CI seed sets were sized by measurement against planted bugs).
 */
const FIXED_STREAMS: Readonly<Record<string, number>> = {
  // The simulator: hosts' clock drift and offsets, fsync latency.
  sim: 1,
  // The simulated network: loss, duplication, latency.
  net: 2,
  // Fsync faults (slow, failed) and the restarts after a failed one.
  disk: 3,
  // A Cluster's client ids; each client forks its own stream from it.
  clients: 99,
  // The sims' workloads and fault schedules (test/sim).
  'cluster-sim:workload': 77,
  'cluster-sim:profile': 78,
  'leases-sim:workload': 91,
  'leases-sim:profile': 92,
};

/**
 * The seeds of one run, as a tree: a root seed, and a stream for each consumer named by a
 * stable label ('net', 'disk', 'clients', 'cluster-sim:workload', ...). A stream depends only
 * on the root and its label, not on which other streams exist or how much they drew, so a new
 * consumer leaves every other stream as it was. A subtree (child) gives a part of the run,
 * such as a host, seeds of its own: each host's actors draw ctx.random from
 * child(hostName).root.
 */
export class SeedTree {
  constructor(readonly root: number) {}

  /** The stream named `label`: the same numbers for the same root and label, every time. */
  stream(label: string): SeededRandom {
    return new SeededRandom(this.root, FIXED_STREAMS[label] ?? hashString(label));
  }

  /** The tree below `label`. */
  child(label: string): SeedTree {
    return new SeedTree(hashString(label, this.root));
  }
}

const MIN_DEQUE = 8;
/** Capacity a drained deque keeps at most (slots). */
const MAX_KEPT_DEQUE = 1 << 14;

/** FIFO queue with O(1) push and shift (arrays shift in O(n)): a ring of power-of-two size.
 * A ring, not an array with a moving head: every actor's mailbox and the dispatcher's run queue
 * are one, and the array's push (growth) and compaction (slice) were a sixth of same-thread
 * delivery's time (profile of bench mailbox's same-thread pass). */
export class Deque<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(MIN_DEQUE);
  private mask = MIN_DEQUE - 1;
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    if (this.size > this.mask) this.grow();
    this.items[(this.head + this.size) & this.mask] = item;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const h = this.head;
    const item = this.items[h];
    this.items[h] = undefined;
    this.head = (h + 1) & this.mask;
    // A burst's room is given back once it has drained, beyond a modest size.
    if (--this.size === 0 && this.mask >= MAX_KEPT_DEQUE) this.reset();
    return item;
  }

  /** Put `item` first (a stash given back). */
  unshift(item: T): void {
    if (this.size > this.mask) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.items[this.head] = item;
    this.size++;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  clear(): T[] {
    const rest: T[] = [];
    for (let i = 0; i < this.size; i++) rest.push(this.items[(this.head + i) & this.mask] as T);
    this.reset();
    return rest;
  }

  private reset(): void {
    this.items = new Array<T | undefined>(MIN_DEQUE);
    this.mask = MIN_DEQUE - 1;
    this.head = 0;
    this.size = 0;
  }

  private grow(): void {
    const old = this.items;
    const n = old.length;
    const next = new Array<T | undefined>(n * 2);
    for (let i = 0; i < n; i++) next[i] = old[(this.head + i) & this.mask];
    this.items = next;
    this.mask = n * 2 - 1;
    this.head = 0;
  }
}
