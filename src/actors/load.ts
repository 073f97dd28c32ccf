// Load of a ministry member for the president's balancer (thesis 3.4, "Load balancing": "A
// load report contains CPU utilization for each node in the group and the popularity of each
// bit of metadata split into read and write"). Pure: times come in as arguments.
//
// Popularity is kept as in Ceph's MDS (thesis 2.5): exponentially decaying counters, one pair
// (reads, writes) per directory, every hit also counted at each ancestor up to the ministry's
// subtree (rolled up the tree, so a directory's count is its whole subtree's). The table is
// bounded: past `capacity` directories the coldest eighth goes, and since an ancestor's count is
// never below a descendant's, only leaves go and the ancestors of what stays are always kept.

import { depthOf, isValidPath, isWithin, parentOf } from '../fs/path.js';
import type { DirLoadMessage, MemberLoadMessage } from '../fs/requests.js';

/** How often members sample their load, and the president asks for it (default). */
export const LOAD_EVERY_MS = 1_000;

/** Default half-life of the popularity counters. */
export const POPULARITY_HALF_LIFE_MS = 5_000;

/** The half-life members count popularity with when they sample every `everyMs`: four samples
 * (at least a second), so that the planner sees a load that moved within a few reports (a 5 s
 * half-life showed a new hot spot at a quarter of its rate 2 s in, and had the planner split
 * subtrees the load had left), while one sample's noise still averages out. */
export function popularityHalfLife(everyMs: number): number {
  return Math.max(1_000, 4 * everyMs);
}
/** Default bound on the directories a member keeps counters for. */
export const POPULARITY_CAPACITY = 64;
/** Default number of hottest directories a load report carries. */
export const REPORT_TOP_K = 8;

/** A counter whose value halves every `halfLifeMs` (Ceph's DecayCounter). */
export class DecayingCounter {
  private value = 0;
  private at = 0;

  constructor(private readonly lambda: number) {}

  static withHalfLife(halfLifeMs: number): DecayingCounter {
    return new DecayingCounter(Math.LN2 / halfLifeMs);
  }

  hit(now: number, n = 1): void {
    this.value = this.get(now) + n;
    this.at = Math.max(this.at, now);
  }

  get(now: number): number {
    if (this.value === 0) return 0;
    const dt = now - this.at;
    return dt <= 0 ? this.value : this.value * Math.exp(-this.lambda * dt);
  }

  /** Hits per second this value stands for, in the steady state (value = rate / λ). */
  perSecond(now: number): number {
    return this.get(now) * this.lambda * 1_000;
  }
}

/** A directory's popularity (govfs.fs.DirLoad). */
export type DirLoad = DirLoadMessage;

/** What one member reports (govfs.fs.MemberLoad): its CPU utilisation (0..1), its read and
 * write rates, and its hottest directories. */
export type MemberLoad = MemberLoadMessage;

export type OpKind = 'read' | 'write';

/** A directory's counters, scaled to the table's epoch: the value at time t is
 * `reads * exp(-λ (t - epoch))` (see PopularityTable.grow). */
interface DirCounters {
  reads: number;
  writes: number;
  depth: number;
}

/** Past this exponent (a scale of e^50) the table rebases its counters on a new epoch, well
 * before a double loses precision or overflows. */
const MAX_SCALE_EXPONENT = 50;

export class PopularityTable {
  private readonly dirs = new Map<string, DirCounters>();
  private readonly reads: DecayingCounter;
  private readonly writes: DecayingCounter;
  private readonly halfLifeMs: number;
  private readonly capacity: number;
  private readonly lambda: number;
  /** The directories' counters are scaled to this time: a hit at `now` adds
   * exp(λ (now - epoch)), so one Math.exp per request serves every ancestor, instead of
   * decaying each ancestor's counter on its own (issue 15: exp per ancestor per request). */
  private epoch = 0;
  /** The latest time a hit came with (a hit is counted at it at least, as DecayingCounter does). */
  private latest = 0;
  /** Subtrees within this one that other ministries serve (see exclude). */
  private excluded: readonly string[] = [];

  constructor(
    private readonly subtree: string,
    opts: { halfLifeMs?: number; capacity?: number } = {},
  ) {
    this.halfLifeMs = opts.halfLifeMs ?? POPULARITY_HALF_LIFE_MS;
    this.capacity = Math.max(1, opts.capacity ?? POPULARITY_CAPACITY);
    this.reads = DecayingCounter.withHalfLife(this.halfLifeMs);
    this.writes = DecayingCounter.withHalfLife(this.halfLifeMs);
    this.lambda = Math.LN2 / this.halfLifeMs;
  }

  get size(): number {
    return this.dirs.size;
  }

  /** Count an operation in directory `dir` (and in each of its ancestors within the subtree).
   * A directory outside the subtree counts only in the totals; one in a subtree another
   * ministry serves (see exclude) counts nowhere. */
  hit(dir: string, kind: OpKind, now: number): void {
    // Counted before the namespace checks the request: a malformed path (a client's '/a//b',
    // '/a/', '') might never reach the subtree's root going up, so only valid ones count here.
    const valid = isValidPath(dir);
    if (valid && this.excluded.length > 0 && this.excluded.some((x) => isWithin(dir, x))) return;
    (kind === 'read' ? this.reads : this.writes).hit(now);
    if (!valid || !isWithin(dir, this.subtree)) return;
    const w = this.grow(now);
    for (let p: string | null = dir; p !== null; p = p === this.subtree ? null : parentOf(p)) {
      let c = this.dirs.get(p);
      if (!c) {
        c = { reads: 0, writes: 0, depth: depthOf(p) };
        this.dirs.set(p, c);
      }
      if (kind === 'read') c.reads += w;
      else c.writes += w;
    }
    if (this.dirs.size > this.capacity) this.evictColdest();
  }

  /** What a hit at `now` adds to a scaled counter: exp(λ (t - epoch)) for t = the latest
   * time seen. Rebases every counter on t first when that would grow too large. */
  private grow(now: number): number {
    if (now > this.latest) this.latest = now;
    let x = this.lambda * (this.latest - this.epoch);
    if (x > MAX_SCALE_EXPONENT) {
      const k = Math.exp(-x);
      for (const c of this.dirs.values()) {
        c.reads *= k;
        c.writes *= k;
      }
      this.epoch = this.latest;
      x = 0;
    }
    return Math.exp(x);
  }

  /** The factor that turns a scaled counter into its value at `now`. */
  private decayTo(now: number): number {
    return Math.exp(-this.lambda * (Math.max(now, this.latest) - this.epoch));
  }

  /** The coldest directories go, an eighth of the capacity at once (one sort per that many
   * new directories: a member serving more directories than the capacity found the coldest
   * by a scan of the table on every request); among equals the deepest (so never an ancestor
   * before its descendants), and never the subtree's root. Scaled counters share one epoch,
   * so they compare as they stand. */
  private evictColdest(): void {
    const keep = this.capacity - (this.capacity >> 3);
    const rows: { p: string; load: number; depth: number }[] = [];
    for (const [p, c] of this.dirs) if (p !== this.subtree) rows.push({ p, load: c.reads + c.writes, depth: c.depth });
    rows.sort((a, b) => a.load - b.load || b.depth - a.depth);
    for (let i = 0; i < rows.length && this.dirs.size > keep; i++) this.dirs.delete(rows[i]!.p);
  }

  /** Leave out the subtrees other ministries now serve (split off this one's): their counters
   * go, from the totals and every ancestor too, and their requests (a client's stale map) count
   * no more. Kept, they decayed only over seconds: the planner saw a minister that had split
   * off half its writes still carrying them, and split off the other half as if it were half,
   * leaving the minister nothing (bench balance, 10 nodes). A subtree no longer listed (merged
   * back) counts again from zero. */
  exclude(subtrees: readonly string[], now: number): void {
    const mine = subtrees.filter((x) => x !== this.subtree && isWithin(x, this.subtree));
    for (const x of mine) {
      if (this.excluded.includes(x)) continue;
      const c = this.dirs.get(x);
      if (c) {
        const k = this.decayTo(now);
        this.reads.hit(now, -Math.min(this.reads.get(now), c.reads * k));
        this.writes.hit(now, -Math.min(this.writes.get(now), c.writes * k));
        const { reads, writes } = c;
        for (let p = parentOf(x); p !== null && isWithin(p, this.subtree); p = p === this.subtree ? null : parentOf(p)) {
          const a = this.dirs.get(p);
          if (!a) continue;
          a.reads = Math.max(0, a.reads - reads);
          a.writes = Math.max(0, a.writes - writes);
        }
      }
      for (const p of [...this.dirs.keys()]) if (isWithin(p, x)) this.dirs.delete(p);
    }
    this.excluded = mine;
  }

  /** Whether directory `p` has counters. */
  has(p: string): boolean {
    return this.dirs.has(p);
  }

  readsPerSec(now: number): number {
    return this.reads.perSecond(now);
  }

  writesPerSec(now: number): number {
    return this.writes.perSecond(now);
  }

  /** The `k` hottest directories (reads plus writes), hottest first, deeper first among equals
   * (the subtree's root, which counts everything, tells nothing the totals do not). */
  top(k: number, now: number): DirLoad[] {
    const rows: (DirLoad & { depth: number })[] = [];
    const perSec = this.decayTo(now) * this.lambda * 1_000;
    for (const [path, c] of this.dirs) {
      if (path === this.subtree) continue;
      rows.push({ path, readsPerSec: c.reads * perSec, writesPerSec: c.writes * perSec, depth: c.depth });
    }
    rows.sort((a, b) => b.readsPerSec + b.writesPerSec - (a.readsPerSec + a.writesPerSec) || b.depth - a.depth || (a.path < b.path ? -1 : 1));
    return rows.slice(0, k).map(({ path, readsPerSec, writesPerSec }) => ({ path, readsPerSec, writesPerSec }));
  }
}

/** CPU utilisation between two readings of a host's busy time (ctx.clock.busy()), 0..1. */
export function utilisation(before: { activeMs: number; idleMs: number }, after: { activeMs: number; idleMs: number }): number {
  const active = after.activeMs - before.activeMs;
  const total = active + (after.idleMs - before.idleMs);
  return total > 0 ? Math.min(1, Math.max(0, active / total)) : 0;
}

/** The loads of several members summed per directory, hottest first, at most `k`. */
export function mergeHot(lists: readonly (readonly DirLoad[])[], k: number): DirLoad[] {
  const sum = new Map<string, DirLoad>();
  for (const list of lists) {
    for (const d of list) {
      const s = sum.get(d.path);
      if (s) {
        s.readsPerSec += d.readsPerSec;
        s.writesPerSec += d.writesPerSec;
      } else sum.set(d.path, { ...d });
    }
  }
  return [...sum.values()].sort((a, b) => b.readsPerSec + b.writesPerSec - (a.readsPerSec + a.writesPerSec) || (a.path < b.path ? -1 : 1)).slice(0, k);
}

/** A member's load, measured: its requests counted as they come, its CPU from the host's busy
 * time between two samples (Clock.busy()). */
export class LoadMeter {
  readonly table: PopularityTable;
  private last: { activeMs: number; idleMs: number } | null = null;

  constructor(subtree: string, opts: { halfLifeMs?: number; capacity?: number } = {}) {
    this.table = new PopularityTable(subtree, opts);
  }

  /** A request for `path`: a read (ls counts in the directory listed, anything else in its
   * parent directory) or a change. */
  request(path: string, kind: OpKind, listsPath: boolean, now: number): void {
    this.table.hit(listsPath ? path : (parentOf(path) ?? path), kind, now);
  }

  /** Leave out the subtrees other ministries serve (PopularityTable.exclude). */
  exclude(subtrees: readonly string[], now: number): void {
    this.table.exclude(subtrees, now);
  }

  /** The load since the last sample (CPU) and as the counters stand (rates, hot directories). */
  sample(now: number, busy: { activeMs: number; idleMs: number }, k = REPORT_TOP_K): MemberLoad {
    const cpu = this.last ? utilisation(this.last, busy) : 0;
    this.last = { activeMs: busy.activeMs, idleMs: busy.idleMs };
    return { cpu, readsPerSec: this.table.readsPerSec(now), writesPerSec: this.table.writesPerSec(now), hot: this.table.top(k, now) };
  }
}
