// Read balancing (thesis 3.4, "Load balancing", "Read balancing", Figure 11), pure: from the
// ministries, their members' load reports and the idle pool, what the president should do now
// and why. The president core (president-core.ts) carries out the first step, one order at a
// time, after re-staffing failed members (which always comes first); `govfs balance plan`
// shows the whole assessment.
//
// The rules, each in the thesis's words:
// - grow: "A group under high relative read load has average clerk CPU utilization passing
//   95%. The president then issues a Raft message assigning an idle node to the group if one
//   is available." The new clerk serves no read before it has caught up (ministry-core.ts).
// - free (Figure 11): with no idle node, "The president removes [...] clerks from the
//   ministries under the lightest read load and queues the load report. After the clerk
//   removal is committed the load report is enqueued": the hot ministry then grows from the
//   node freed. A ministry gives a clerk only while it keeps at least minClerks and its own
//   average clerk CPU would stay below the grow threshold (else the clerk would bounce back).
// - shrink: "A ministries read load is low if it could lose a clerk without average clerk CPU
//   utilization rising above 85%." [...] "This only works if a ministry has at least three
//   members. To shrink a ministry the President issues a Raft message unassigning a clerk."
// - how many: equation 7, n_c = (R − W + 1)/(1 + σ) with σ measured (clerk-count.ts). The
//   thresholds above decide when a ministry changes; equation 7 how far: a ministry keeps at
//   least n_c clerks (rounded) (no shrink, no clerk freed below it), and a grow says how many it wants.

import type { MinistryRecord } from './cluster-state.js';
import type { DirLoad } from './load.js';
import { clerkCount, type ClerkCount, type WriteCosts } from './clerk-count.js';

export interface BalanceOptions {
  /** Grow a ministry whose average clerk CPU passes this (thesis: 95%). */
  growAbove?: number;
  /** Shrink a ministry that could lose a clerk without its average clerk CPU rising above
   * this (thesis: 85%). */
  shrinkBelow?: number;
  /** Clerks every ministry keeps whatever its load (thesis: at least three members). */
  minClerks?: number;
  /** After a balancing order, leave the ministry alone this long: its new member has to catch
   * up, and its load reports to show the new staff (default 3,000 ms). */
  settleMs?: number;
  /** Balancing (a grow, a split) draws only on idle nodes whose machine had at least this many
   * cores idle at their last load report (default 0.5). An idle node on a machine busy with
   * other nodes (a local cluster on worker threads) has no CPU to add: a ministry there only
   * adds replication between threads that then take turns on the cores (bench balance-threads,
   * 2 cores at 85-95%: a split took throughput to 0.41-0.57x of no balancing). Counted in cores,
   * not as a share: 10% of 2 cores cannot carry a minister, 10% of 32 can. Failed members are
   * replaced from every idle node whatever its machine. */
  spareCores?: number;
}

export const DEFAULT_BALANCE: Required<BalanceOptions> = { growAbove: 0.95, shrinkBelow: 0.85, minClerks: 2, settleMs: 3_000, spareCores: 0.5 };

/** A ministry's load, from the reports of its current appointment's members. */
export interface MinistryLoad {
  /** Average CPU of its clerks (0..1); null while some clerk has not reported. */
  clerkCpu: number | null;
  /** Its minister's CPU (0..1; null while it has not reported): writes all go through it. */
  ministerCpu?: number | null;
  /** Its minister's mean CPU over its last three samples since the ministry last changed, null
   * before three (one 250 ms sample of a saturated minister read 72%, one of a half-loaded one
   * 92%). */
  ministerCpuRecent?: number | null;
  /** The minister's own request rates (equation 7's W and the σ fit). */
  ministerReadsPerSec?: number;
  ministerWritesPerSec?: number;
  cpu: number;
  readsPerSec: number;
  writesPerSec: number;
  hot: DirLoad[];
}

export type BalanceStep =
  | { kind: 'grow'; ministry: MinistryRecord; node: string; why: string; count?: ClerkCount }
  | { kind: 'shrink'; ministry: MinistryRecord; clerk: string; why: string }
  /** Figure 11: free `clerk` of `ministry` for the hot ministry `for`. */
  | { kind: 'free'; ministry: MinistryRecord; clerk: string; for: string; why: string };

export interface BalanceInput {
  ministries: readonly MinistryRecord[];
  loads: ReadonlyMap<string, MinistryLoad>;
  /** Idle nodes that answer, on a machine with CPU to spare (BalanceOptions.idleMachineBelow). */
  idle: readonly string[];
  /** Idle nodes left out of `idle`, their machine busy. While there are any, no clerk is freed
   * for a hot ministry (Figure 11): the machines are full, and the freed node would be one more
   * idle node on a busy machine. */
  busyIdle?: number;
  /** Ministries that may be judged now: healthy, settled, not being re-staffed. */
  judgeable: (m: MinistryRecord) => boolean;
  options?: BalanceOptions;
  /** The costs the σ fit measured (clerk-count.ts), if any. */
  costs?: WriteCosts | null;
}

export interface BalancePlan {
  /** What to do, most urgent first (the president does the first). */
  steps: BalanceStep[];
  /** One line per ministry: its load and the verdict. */
  notes: string[];
  /** Hot ministries waiting for a clerk to be freed (Figure 11's queued load reports). */
  queued: string[];
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

/** Average clerk CPU of a ministry of `n` clerks at `cpu` once it has `n2` clerks. */
function scaled(cpu: number, n: number, n2: number): number {
  return n2 <= 0 ? Infinity : (cpu * n) / n2;
}

/** Equation 7 for a judged ministry of `n` clerks (clerk-count.ts). */
function countOf(load: MinistryLoad, n: number, minClerks: number, costs: WriteCosts | null): ClerkCount {
  return clerkCount({ R: (load.clerkCpu ?? 0) * n, ministerCpu: load.ministerCpu ?? 0, writesPerSec: load.ministerWritesPerSec ?? load.writesPerSec, ministerReadsPerSec: load.ministerReadsPerSec ?? 0, clerks: n, minClerks, costs });
}

export function planBalance(input: BalanceInput): BalancePlan {
  const o = { ...DEFAULT_BALANCE, ...input.options };
  const notes: string[] = [];
  const hot: { m: MinistryRecord; cpu: number }[] = [];
  const cold: { m: MinistryRecord; cpu: number; after: number }[] = [];
  const donors: { m: MinistryRecord; load: MinistryLoad; after: number }[] = [];
  const counts = new Map<string, ClerkCount>();
  for (const m of input.ministries) {
    const load = input.loads.get(m.id);
    const label = `${m.id} (${m.subtree}, ${m.clerks.length} clerks)`;
    if (!input.judgeable(m)) {
      notes.push(`${label}: not judged now (re-staffing, settling after a change, or not yet reporting)`);
      continue;
    }
    if (!load || load.clerkCpu === null) {
      notes.push(`${label}: waiting for every clerk's load report`);
      continue;
    }
    const n = m.clerks.length;
    const cpu = load.clerkCpu;
    const after = scaled(cpu, n, n - 1);
    const count = countOf(load, n, o.minClerks, input.costs ?? null);
    counts.set(m.id, count);
    const rates = `clerk CPU ${pct(cpu)}, ${load.readsPerSec.toFixed(1)} reads/s, ${load.writesPerSec.toFixed(1)} writes/s`;
    if (cpu > o.growAbove) {
      hot.push({ m, cpu });
      notes.push(`${label}: ${rates}: above ${pct(o.growAbove)}, wants another clerk (${Math.max(n + 1, count.clerks)} by ${count.text})`);
      continue;
    }
    if (n - 1 >= Math.max(o.minClerks, count.clerks)) {
      donors.push({ m, load, after });
      if (after <= o.shrinkBelow) {
        cold.push({ m, cpu, after });
        notes.push(`${label}: ${rates}: could lose a clerk at ${pct(after)} (not above ${pct(o.shrinkBelow)}): shrink (${count.text})`);
        continue;
      }
    } else if (n - 1 >= o.minClerks && after <= o.shrinkBelow) {
      notes.push(`${label}: ${rates}: could lose a clerk at ${pct(after)}, but keeps ${n}: ${count.text}`);
      continue;
    }
    notes.push(`${label}: ${rates}: balanced (${count.text})`);
  }
  hot.sort((a, b) => b.cpu - a.cpu || (a.m.id < b.m.id ? -1 : 1));
  const steps: BalanceStep[] = [];
  const queued: string[] = [];
  const idle = [...input.idle];
  // Donors by lightest read load per clerk (Figure 11), each giving at most one clerk per plan.
  const lightest = donors
    .filter((d) => d.after < o.growAbove)
    .sort((a, b) => a.load.readsPerSec / a.m.clerks.length - b.load.readsPerSec / b.m.clerks.length || (a.m.id < b.m.id ? -1 : 1));
  const given = new Set<string>();
  for (const { m, cpu } of hot) {
    const node = idle.shift();
    const count = counts.get(m.id)!;
    if (node !== undefined) {
      const want = Math.max(m.clerks.length + 1, count.clerks);
      steps.push({ kind: 'grow', ministry: m, node, count, why: `${m.id} (${m.subtree}) average clerk CPU ${pct(cpu)} passes ${pct(o.growAbove)}: idle ${node} joins as clerk ${m.clerks.length + 1} of the ${want} wanted (${count.text})` });
      continue;
    }
    queued.push(m.id);
    if ((input.busyIdle ?? 0) > 0) continue;
    const donor = lightest.find((d) => !given.has(d.m.id));
    if (!donor) continue;
    given.add(donor.m.id);
    const clerk = donor.m.clerks[donor.m.clerks.length - 1]!;
    steps.push({
      kind: 'free',
      ministry: donor.m,
      clerk,
      for: m.id,
      why: `${m.id} (${m.subtree}) average clerk CPU ${pct(cpu)} passes ${pct(o.growAbove)} and no node is idle: ${donor.m.id} (${donor.m.subtree}), under the lightest read load (${(donor.load.readsPerSec / donor.m.clerks.length).toFixed(1)} reads/s per clerk), frees clerk ${clerk} (its clerk CPU to ${pct(donor.after)}); ${m.id}'s request is queued`,
    });
  }
  for (const { m, cpu, after } of cold) {
    if (given.has(m.id)) continue;
    const clerk = m.clerks[m.clerks.length - 1]!;
    steps.push({ kind: 'shrink', ministry: m, clerk, why: `${m.id} (${m.subtree}) could lose clerk ${clerk} with average clerk CPU ${pct(cpu)} → ${pct(after)}, not above ${pct(o.shrinkBelow)}: ${clerk} goes idle` });
  }
  return { steps, notes, queued };
}
