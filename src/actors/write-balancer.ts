// Write balancing (issue 16, thesis 3.4 and section 2.5 on Ceph's dynamic subtree
// partitioning), pure: a minister saturated by writes cannot be helped by more clerks (every
// change goes through it), so the president splits its hottest subtree off into a new ministry;
// a child ministry gone cold is merged back into its parent, freeing its nodes. Both are live
// migrations (migration-core.ts). Kept simple, and every decision says why:
//
// - split: the minister's CPU passes `splitAbove` (`splitWhenIdleAbove` while idle nodes could
//   staff two new ministries) with at least `minWritesPerSec` writes/s, and
//   one directory of its subtree (from the members' decaying per-directory counters) carries
//   between `minShare` and `maxShare` of the ministry's writes: the one nearest half. (All the
//   writes in one directory: splitting it off would move the hot spot, not spread it.) It takes
//   a minister and `minClerks` clerks from the idle nodes: with fewer idle, it waits. More
//   clerks if equation 7 (clerk-count.ts) wants more for the subtree's share of the reads and
//   writes, as far as idle nodes allow.
// - merge: a ministry that is not configured (a split made it), whose minister's CPU is below
//   `mergeBelow` and whose parent's minister would stay below half of `splitAbove` with its
//   load added: it gives its subtree back to its parent and is dissolved. Also, whatever the
//   parent's load, when a split waits for idle nodes (the write side of Figure 11: "If no
//   existing group can handle the work the president will try to create a new group"): else
//   a load that moved from one subtree to another left every node in ministries gone cold.
//
// One migration at a time by default (`concurrent`), more while many nodes are idle
// (concurrency), and none for a ministry still settling after a change or in a migration
// already.
//
// Two options, off by default (the thesis's thresholds alone decide then):
// - `splitOnlyIfPeakFalls`: no split while more ministers are saturated than the idle nodes
//   can split. Clients that spread their operations over the ministries (closed-loop, each
//   waiting for its answer) wait on the busiest: splitting one of two saturated ministries
//   halves a load that was not the limit and leaves the other as busy, so the throughput
//   stays where it was, and the nodes are better kept idle for the next load shift. (Clients
//   that each stay in one subtree would gain from it: hence an option.)
// - `splitBusyAbove`: latency-aware: split a minister above this CPU whenever idle nodes can
//   staff a new ministry; with too few idle, cold ministries carrying less than the split would
//   move are merged back for it. A single-server minister queues changes long before it
//   saturates (p99 under twice the unloaded latency needs it well below half busy).

import type { MinistryRecord } from './cluster-state.js';
import type { MinistryLoad } from './balancer.js';
import { clerkCount, type WriteCosts } from './clerk-count.js';

export interface WriteBalanceOptions {
  /** Split off a subtree when the minister's CPU passes this (default 90%). */
  splitAbove?: number;
  /** ... or this (default 60%) while idle nodes could staff two new ministries: nodes that do
   * nothing are better spent on a busy minister's queue (its clients' latency) than kept. */
  splitWhenIdleAbove?: number;
  /** ... and the ministry takes at least this many writes/s (default 5). */
  minWritesPerSec?: number;
  /** The subtree split off carries at least / at most this share of the writes (20% / 80%). */
  minShare?: number;
  maxShare?: number;
  /** Merge a split-off ministry back when its minister's CPU is below this (default 20%)... */
  mergeBelow?: number;
  /** ... and it has served at least this long (its load counters start at zero: default 4 s). */
  mergeAfterMs?: number;
  /** A ministry whose migration was aborted is left alone this long (default 10 s). */
  retryAfterMs?: number;
  /** Migrations the balancer keeps in flight at once, each between other ministries (default
   * 1: the simulations check 1 under faults; more is for `bench balance`). */
  concurrent?: number;
  /** Split only while the idle nodes can split every saturated minister (see above; default
   * false). */
  splitOnlyIfPeakFalls?: boolean;
  /** Latency-aware: split a minister above this CPU whenever the idle nodes can staff a new
   * ministry (default: off, 1). */
  splitBusyAbove?: number;
}

export const DEFAULT_WRITE_BALANCE: Required<WriteBalanceOptions> = { splitAbove: 0.9, splitWhenIdleAbove: 0.6, minWritesPerSec: 5, minShare: 0.2, maxShare: 0.8, mergeBelow: 0.2, mergeAfterMs: 4_000, retryAfterMs: 10_000, concurrent: 1, splitOnlyIfPeakFalls: false, splitBusyAbove: 1 };

export type WriteStep =
  | { kind: 'split'; ministry: MinistryRecord; subtree: string; why: string; clerks: number }
  | { kind: 'merge'; ministry: MinistryRecord; into: MinistryRecord; why: string };

export interface WriteBalanceInput {
  ministries: readonly MinistryRecord[];
  loads: ReadonlyMap<string, MinistryLoad>;
  idle: number;
  /** Clerks a new ministry starts with (the read balancer's minimum). */
  minClerks: number;
  judgeable: (m: MinistryRecord) => boolean;
  /** How long ministry `m` has served as it is (since its last appointment). */
  age: (m: MinistryRecord) => number;
  /** The ministry serving the parent directory of `subtree`. */
  parentOf: (m: MinistryRecord) => MinistryRecord | null;
  /** Subtrees configured as static ministries: never merged away. */
  statics: readonly string[];
  /** Whether ministry `m` is in a migration now (splitOnlyIfPeakFalls leaves it out). */
  inMigration?: (m: MinistryRecord) => boolean;
  /** Migrations in progress (fencing or handed): none starts while `concurrent` are. */
  migrating: number;
  options?: WriteBalanceOptions;
  /** The σ fit's costs (equation 7). */
  costs?: WriteCosts | null;
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

/** Migrations in flight at once: `concurrent`, or more while idle nodes could staff two new
 * ministries per migration (a large cluster under a load one ministry cannot carry splits its
 * ministries in parallel, doubling them each round, instead of one split at a time). */
export function concurrency(concurrent: number, idle: number, minClerks: number): number {
  return Math.max(concurrent, Math.floor(idle / (2 * (1 + minClerks))));
}

/** The minister CPU above which a split is wanted, with `idle` nodes idle. */
export function splitThreshold(o: Required<WriteBalanceOptions>, idle: number, minClerks: number): number {
  let above = o.splitAbove;
  if (idle >= 2 * (1 + minClerks)) above = Math.min(above, o.splitWhenIdleAbove);
  if (idle >= 1 + minClerks) above = Math.min(above, o.splitBusyAbove);
  return above;
}

/** With `splitOnlyIfPeakFalls`: why no split may start now (more saturated ministers than the
 * idle nodes can split, or a minister's load unknown), or null. Ministries in a migration are
 * not counted: a split already relieves them, or a merge is about to change them. */
function peakHolds(input: WriteBalanceInput, o: Required<WriteBalanceOptions>, above: number): { why: string; short: boolean } | null {
  // Only for the last idle nodes: with enough for two more ministries, splitting goes on
  // (bench balance, 100 nodes: held with 6 idle, 31 ministries stayed at 2,562 ops/s against
  // 3,917 without the option).
  if (!o.splitOnlyIfPeakFalls || input.idle >= 2 * (1 + input.minClerks)) return null;
  // Near saturation: 80% of splitAbove (whatever threshold idle nodes put in force), by the
  // mean of the minister's last samples (one sample's CPU is noisy: one of two saturated
  // ministers read 72% once, and the other was split as if it alone were the peak). A minister
  // with too few samples since its ministry changed counts as saturated (a ministry just split
  // off a saturated one ramps up from 0% in its first samples, and is saturated too), and so
  // does one whose latest sample passes the threshold in force (one the planner would split).
  const near = 0.8 * o.splitAbove;
  const busy = input.ministries.filter((m) => {
    if (input.inMigration?.(m)) return false;
    const l = input.loads.get(m.id);
    const cpu = l === undefined ? null : l.ministerCpuRecent === undefined ? (l.ministerCpu ?? null) : l.ministerCpuRecent;
    return cpu === null || (Math.max(cpu, (l!.ministerCpu ?? 0) > above ? 1 : 0) > near && l!.writesPerSec >= o.minWritesPerSec);
  });
  const splits = Math.floor(input.idle / (1 + input.minClerks));
  if (busy.length <= splits) return null;
  return { why: `write balancing: ${busy.length} ministers pass ${pct(near)} (near ${pct(o.splitAbove)}) or have not reported long enough (${busy.map((m) => m.id).join(', ')}), and ${input.idle} idle nodes can split ${splits} of them: splitting some would leave the busiest as busy (clients spread over the ministries wait on it), so none is split and the nodes stay idle`, short: true };
}

/** The mean of a minister's last three CPU samples, or null with fewer. */
export function meanCpu(samples: readonly { cpu: number }[]): number | null {
  return samples.length < 3 ? null : samples.slice(-3).reduce((s, c) => s + c.cpu, 0) / 3;
}

/** A minister's CPU by the mean of its last samples, or its latest sample before it has three
 * since its ministry last changed. */
function steady(l: MinistryLoad): number {
  return l.ministerCpuRecent ?? l.ministerCpu ?? 0;
}

/** Whether a minister is busy enough to split, and by which reading: its latest sample against
 * the saturation thresholds (90%, or 60% with idle nodes for two ministries), or the mean of its
 * last three samples against `splitBusyAbove` (a 250 ms sample of a minister at 14% read up to
 * 30%, and every split of a busy minister after a shift pauses its clients for a fence). */
function busier(l: MinistryLoad, o: Required<WriteBalanceOptions>, input: WriteBalanceInput, above: number): { cpu: number; above: number; mean: boolean; latency: boolean } | null {
  const cpu = l.ministerCpu ?? 0;
  const saturated = Math.max(above, splitThreshold({ ...o, splitBusyAbove: 1 }, input.idle, input.minClerks));
  if (cpu > saturated) return { cpu, above: saturated, mean: false, latency: false };
  if (above >= saturated) return null;
  const mean = l.ministerCpuRecent === undefined ? cpu : l.ministerCpuRecent;
  return mean !== null && mean > above ? { cpu: mean, above, mean: l.ministerCpuRecent !== undefined, latency: true } : null;
}

export function planWrites(input: WriteBalanceInput): { steps: WriteStep[]; notes: string[] } {
  const o = { ...DEFAULT_WRITE_BALANCE, ...input.options };
  const steps: WriteStep[] = [];
  const notes: string[] = [];
  const allowed = concurrency(o.concurrent, input.idle, input.minClerks);
  if (input.migrating >= allowed) return { steps, notes: [`write balancing: ${input.migrating} subtree migration${input.migrating === 1 ? ' is' : 's are'} in progress; nothing new starts`] };
  let short: string | undefined;
  // What a merge for a waiting split may add to its parent: anything for a saturated minister;
  // for a latency-aware one, less than the split would move off it (else the two could take
  // turns: a split, then its cold half merged back for the next).
  let shortMoves = 0;
  const above = splitThreshold(o, input.idle, input.minClerks);
  // A latency-aware split is wanted whatever the idle nodes: too few of them only make it wait,
  // and free cold ministries' nodes for it (Figure 11), as for a saturated minister. (With no
  // node idle, / at 77% beside a cold ministry kept its p99 at 3× unloaded: bench balance, 10
  // nodes after the shift.)
  const wanted = Math.min(above, o.splitBusyAbove);
  const held = peakHolds(input, o, above);
  if (held) {
    notes.push(held.why);
    // Cold ministries give their nodes back: with enough of them, every saturated one splits.
    if (held.short) {
      short = 'every saturated minister';
      shortMoves = Infinity;
    }
  }
  for (const m of input.ministries) {
    const load = input.loads.get(m.id);
    if (!load || load.ministerCpu == null || !input.judgeable(m)) continue;
    const over = busier(load, o, input, wanted);
    if (!held && over && load.writesPerSec >= o.minWritesPerSec) {
      const total = load.writesPerSec;
      const candidates = load.hot.filter((d) => d.path !== m.subtree && d.writesPerSec >= o.minShare * total && d.writesPerSec <= o.maxShare * total);
      candidates.sort((a, b) => Math.abs(a.writesPerSec / total - 0.5) - Math.abs(b.writesPerSec / total - 0.5) || (a.path < b.path ? -1 : 1));
      const best = candidates[0];
      const head = `${m.id} (${m.subtree}) minister CPU ${pct(over.cpu)}${over.mean ? ' (mean of its last 3 samples)' : ''} passes ${pct(over.above)}${over.above < o.splitAbove ? ` (${input.idle} nodes idle)` : ''} at ${total.toFixed(1)} writes/s`;
      if (!best) {
        notes.push(`${head}: no directory carries ${pct(o.minShare)}-${pct(o.maxShare)} of its writes (splitting would move the hot spot, not spread it)`);
      } else if (input.idle < 1 + input.minClerks) {
        notes.push(`${head}: would split ${best.path} off (${pct(best.writesPerSec / total)} of the writes), but ${input.idle} idle nodes are fewer than a minister and ${input.minClerks} clerks`);
        short ??= `${best.path} off ${m.id}`;
        shortMoves = Math.max(shortMoves, over.latency ? over.cpu * (best.writesPerSec / total) : Infinity);
      } else {
        // Equation 7 for the part split off: its share of the clerks' CPU and of the writes.
        const readShare = load.readsPerSec > 0 ? Math.min(1, best.readsPerSec / load.readsPerSec) : 0;
        const x = (load.ministerWritesPerSec ?? total) * (best.writesPerSec / total);
        const count = clerkCount({ R: (load.clerkCpu ?? 0) * m.clerks.length * readShare, ministerCpu: load.ministerCpu * (best.writesPerSec / total), writesPerSec: x, ministerReadsPerSec: 0, clerks: input.minClerks, minClerks: input.minClerks, costs: input.costs ?? null });
        const clerks = Math.min(count.clerks, input.idle - 1);
        steps.push({ kind: 'split', ministry: m, subtree: best.path, clerks, why: `${head}: ${best.path} carries ${pct(best.writesPerSec / total)} of the writes (${best.writesPerSec.toFixed(1)}/s): split it off into a new ministry of ${clerks} clerks (${count.text})` });
      }
    }
  }
  // Figure 11, for writes: a split that waits for nodes gets them from cold split-off
  // ministries, merged back whatever their parent's load (a cold subtree adds next to none).
  for (const m of input.ministries) {
    const load = input.loads.get(m.id);
    if (!load || load.ministerCpu == null || !input.judgeable(m)) continue;
    if (busier(load, o, input, wanted) && load.writesPerSec >= o.minWritesPerSec) continue;
    if (m.subtree === '/' || input.statics.includes(m.subtree) || load.ministerCpu >= o.mergeBelow || input.age(m) < o.mergeAfterMs) continue;
    const parent = input.parentOf(m);
    const pload = parent ? input.loads.get(parent.id) : undefined;
    if (!parent || !pload || pload.ministerCpu == null || !input.judgeable(parent)) continue;
    // (Half the split threshold in force: a merge must not bring back what a split would undo;
    // with splitBusyAbove, the one in force once this ministry's nodes are idle too.)
    const limit = wanted / 2;
    // (By the means of the last samples where known: one quiet sample must not merge back
    // what the latency-aware threshold split.)
    const combined = steady(pload) + steady(load);
    if (combined < limit || (short !== undefined && steady(load) < shortMoves)) {
      steps.push({ kind: 'merge', ministry: m, into: parent, why: `${m.id} (${m.subtree}) is cold (minister CPU ${pct(load.ministerCpu)}, below ${pct(o.mergeBelow)}; ${load.writesPerSec.toFixed(1)} writes/s): merged back into ${parent.id} (${parent.subtree}, minister CPU ${pct(pload.ministerCpu)}, ${pct(combined)} with it), its nodes go idle${combined < limit ? '' : ` for the split that waits for nodes (${short})`}` });
    }
  }
  // Splits before merges; the busiest minister's split first (the president takes the first
  // step: a latency-aware split of a minister at 50% had taken the idle nodes while one at 100%
  // waited, bench balance at 30 nodes), the coldest merge first.
  const cpuOf = (st: WriteStep): number => input.loads.get(st.ministry.id)?.ministerCpu ?? 0;
  steps.sort((a, b) => (a.kind === b.kind ? (a.kind === 'merge' ? cpuOf(a) - cpuOf(b) : cpuOf(b) - cpuOf(a)) : a.kind === 'split' ? -1 : 1));
  return { steps, notes };
}
