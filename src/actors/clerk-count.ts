// How many clerks a ministry should have: equation 7 of the thesis (3.4, "Load balancing",
// "Trade off"), with its σ measured from the load reports. Pure.
//
// The thesis models a ministry's capacity in units of one node's CPU:
//   r = n_c              (1)  read capacity: each clerk serves reads with its whole CPU
//   w = 1 − σ·n_c        (2)  write capacity: the minister's CPU, less σ per clerk, "the
//                             communication overhead added by an extra clerk"
// and asks for equal spare capacity on both sides (δ = w − W = r − R), hence
//   n_c = (R − W + 1) / (1 + σ)   (7)
//
// What govfs measures for each term (from the members' load reports, load.ts):
// - R: the ministry's read load, the sum of its clerks' CPU (each clerk's capacity is 1).
// - W: the minister's CPU spent on writes themselves, a·x for x writes/s.
// - σ: the minister's CPU spent per clerk on replicating those writes, b·x. So the thesis's
//   σ·n_c is the part of the minister's CPU that grows with the number of clerks, and at
//   saturation W = 1 − σ·n_c exactly as in (2).
// The costs a (per write) and b (per write, per clerk) come from a least-squares fit over the
// ministers' reports of the whole cluster: minister CPU u = a·x + b·n·x + c·y (n clerks, y reads
// the minister served itself). A write costs the same software the same in every ministry, and
// ministries of different sizes (or one ministry before and after it grew) separate a from b.
// Until reports from two sizes have come in, b is unknown: σ is taken as 0 (which only makes
// n_c larger, never smaller) and W is the minister's whole CPU for writes, and the plan says so.

/** One minister's load report, for the fit. */
export interface MinisterSample {
  /** Clerks of its ministry. */
  clerks: number;
  writesPerSec: number;
  /** Reads the minister served itself (linearizable ones, redirects). */
  readsPerSec: number;
  /** Its CPU, 0..1. */
  cpu: number;
}

/** The fitted costs, in CPU seconds per operation. */
export interface WriteCosts {
  /** Per write, whatever the number of clerks. */
  perWrite: number;
  /** Per write and clerk (replication), or null while the reports came from one size only. */
  perWritePerClerk: number | null;
  /** Per read the minister served. */
  perRead: number;
  samples: number;
  /** The ministry sizes (clerks) the samples came from. */
  sizes: number[];
}

/** Equation 7 for one ministry, with its terms. */
export interface ClerkCount {
  R: number;
  W: number;
  sigma: number;
  /** (R − W + 1) / (1 + σ), unrounded. */
  nc: number;
  /** n_c rounded to the nearest whole clerk, never below the minimum. */
  clerks: number;
  /** Whether σ was measured (false: taken as 0, see above). */
  measured: boolean;
  /** The equation with its numbers, for the log and `govfs balance plan`. */
  text: string;
}

/** Equation 7: n_c = (R − W + 1) / (1 + σ). */
export function equation7(R: number, W: number, sigma: number): number {
  return (R - W + 1) / (1 + sigma);
}

const f2 = (x: number): string => x.toFixed(2);

/** Solve the 3×3 system `m·v = r` (Gaussian elimination with pivoting); null if singular. */
function solve3(m: number[][], r: number[]): number[] | null {
  const a = m.map((row, i) => [...row, r[i]!]);
  for (let col = 0; col < 3; col++) {
    let p = col;
    for (let i = col + 1; i < 3; i++) if (Math.abs(a[i]![col]!) > Math.abs(a[p]![col]!)) p = i;
    if (Math.abs(a[p]![col]!) < 1e-12) return null;
    [a[col], a[p]] = [a[p]!, a[col]!];
    for (let i = 0; i < 3; i++) {
      if (i === col) continue;
      const k = a[i]![col]! / a[col]![col]!;
      for (let j = col; j < 4; j++) a[i]![j]! -= k * a[col]![j]!;
    }
  }
  return a.map((row, i) => row[3]! / row[i]!);
}

/** Least squares of u = Σ coef·feature over the rows, for the features picked. */
function fit(rows: readonly { f: number[]; u: number }[], pick: boolean[]): number[] | null {
  const idx = pick.flatMap((p, i) => (p ? [i] : []));
  const m = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (i === j ? 1 : 0) * (idx.includes(i) ? 0 : 1)));
  const r = [0, 0, 0];
  for (const { f, u } of rows) {
    for (const i of idx) {
      r[i]! += f[i]! * u;
      for (const j of idx) m[i]![j]! += f[i]! * f[j]!;
    }
  }
  return solve3(m, r);
}

/** The σ meter: the last `capacity` minister samples of the cluster and the fit over them. */
export class SigmaMeter {
  private readonly samples: MinisterSample[] = [];

  constructor(private readonly capacity = 120) {}

  /** A minister's report; one with (almost) no writes tells nothing of their cost. */
  add(s: MinisterSample): void {
    if (!(s.writesPerSec >= 1) || !(s.cpu >= 0) || !(s.readsPerSec >= 0) || s.clerks < 0) return;
    this.samples.push(s);
    if (this.samples.length > this.capacity) this.samples.shift();
  }

  costs(): WriteCosts | null {
    if (this.samples.length < 3) return null;
    const sizes = [...new Set(this.samples.map((s) => s.clerks))].sort((a, b) => a - b);
    const rows = this.samples.map((s) => ({ f: [s.writesPerSec, s.clerks * s.writesPerSec, s.readsPerSec], u: s.cpu }));
    const reads = this.samples.some((s) => s.readsPerSec > 0);
    // Per clerk only from two sizes or more; minister reads only if it served any.
    const perClerk = sizes.length >= 2;
    const v = fit(rows, [true, perClerk, reads]) ?? fit(rows, [true, false, false]);
    if (!v) return null;
    const [a, b, c] = v as [number, number, number];
    return { perWrite: Math.max(0, a), perWritePerClerk: perClerk ? Math.max(0, b) : null, perRead: Math.max(0, c), samples: this.samples.length, sizes };
  }
}

/** Equation 7 for a ministry of `clerks` clerks whose clerks' CPU sums to `R`, whose minister
 * runs at `ministerCpu` with `writesPerSec` and `ministerReadsPerSec`; `costs` from SigmaMeter. */
export function clerkCount(input: { R: number; ministerCpu: number; writesPerSec: number; ministerReadsPerSec: number; clerks: number; minClerks: number; costs: WriteCosts | null }): ClerkCount {
  const { R, writesPerSec: x, costs } = input;
  const measured = costs !== null && costs.perWritePerClerk !== null;
  const sigma = measured ? costs.perWritePerClerk! * x : 0;
  // W: the fitted cost of the writes alone; without a fit, the minister's CPU less the reads.
  const readsCpu = costs ? costs.perRead * input.ministerReadsPerSec : 0;
  const W = measured ? Math.min(1, costs.perWrite * x) : Math.max(0, Math.min(1, input.ministerCpu - readsCpu));
  const nc = equation7(R, W, sigma);
  const clerks = Math.max(input.minClerks, Math.round(nc));
  const how = measured
    ? `σ ${sigma.toFixed(3)} measured (${(costs.perWritePerClerk! * 1000).toFixed(3)} ms of minister CPU per write per clerk at ${x.toFixed(1)} writes/s, fitted on ${costs.samples} reports from ministries of ${costs.sizes.join(', ')} clerks)`
    : costs === null
      ? 'σ taken as 0 (not measured yet: too few ministers have reported writes)'
      : `σ taken as 0 (not measured yet: reports from ministries of ${costs.sizes.join(', ')} clerks only, it needs two sizes)`;
  return { R, W, sigma, nc, clerks, measured, text: `equation 7: n_c = (R − W + 1)/(1 + σ) = (${f2(R)} − ${f2(W)} + 1)/(1 + ${sigma.toFixed(3)}) = ${f2(nc)} → ${clerks} clerks; ${how}` };
}
