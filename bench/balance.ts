// `npm run bench -- balance [--quick] [--json] [--nodes 10,30,100] [--seconds S] [--seed N] [--concurrent K] [--split-idle X] [--split-busy X] [--peak-falls] [--service-ms MS] [--fanout F] [--depth D]`
// (issue 16): the president's balancer at work, on the simulator with a modeled node capacity
// (SimOptions.cpu: every client request costs the node it reaches SERVICE_MS of CPU, served one
// at a time; each Raft append answer costs its minister APPEND_MS, so that every clerk costs
// the minister a little: equation 7's σ). The cluster starts with one ministry (a minister and
// two clerks); closed-loop clients (each: an operation, then THINK_MS) write and read in the
// leaf directories of a tree /t (fan-out FANOUT, depth DEPTH), 1.5× what all the nodes could
// carry as ministers. The balancer splits hot subtrees off into new ministries (write balancing) and
// grows clerks (read balancing). Halfway the load shifts to a second tree /u, and down to 1.25×
// one ministry's capacity: the ministries of /t go cold, /u has to be split off anew.
//
// Printed per simulated second: ministries, throughput (operations completed) and p99 latency,
// with balancing on beside the same run with it off (`govfs balance off`). Then the goal of the
// issue, checked: throughput reaches ≥ 0.7 × (ministries) × one ministry's capacity (measured:
// the balancing-off run's throughput while saturated), and after the shift p99 is back under
// 2× its unloaded value (measured first, one client on an idle cluster) within 10 s.

import { Cluster } from '../src/cluster.js';
import type { GovClient } from '../src/client/gov-client.js';
import { SeedTree } from '../src/runtime/random.js';

export const describe = 'balancer on the simulator: one ministry overloaded, throughput/p99 per second as it splits and grows (10/30/100 nodes), beside balancing off';

// 1 ms: a request's own CPU is 28% of an unloaded change, still more than on real nodes (bench
// peers: about 0.15 ms of CPU per remote create against 1.3 ms for a lone one). At 8 ms (75%)
// a change queued behind one other passed 2× the unloaded p99 whatever the balancer did.
const SERVICE_MS = 1;
const APPEND_MS = SERVICE_MS / 40;
const THINK_MS = 20;
// Fan-out 3: of three ministries on a binary tree one serves at least half of it (ministries
// are nested subtrees), so 10 nodes could not reach 0.7 × 3 ministries. Depth 4: 81 leaves,
// enough for the 33 ministries of 100 nodes.
const FANOUT = 3;
const DEPTH = 4;
// Latency-aware splits above 55% minister CPU (the planner's splitBusyAbove, off by default):
// the thesis's thresholds act on saturation, and a minister left at 77% kept p99 at 3× its
// unloaded value. Around 55-60% a minister's p99 passes 2× unloaded at 1 ms per request.
const SPLIT_BUSY = 0.55;

/** How a completed operation went (its client's counters): sent once and answered
 * (`direct`: any delay is queueing), or sent on after a redirect (a map change), paused on an
 * EAGAIN with retry_after_ms (a fenced subtree), retried otherwise, or after a timeout. */
export type OpPath = 'direct' | 'redirected' | 'paused' | 'retried' | 'timedOut';

export interface MinistrySecond {
  subtree: string;
  /** Operations completed in its subtree this second (by the map at the second's end). */
  ops: number;
  ministerCpu: number | null;
  clerkCpu: number | null;
}

export interface Second {
  t: number;
  ministries: number;
  clerks: number;
  ops: number;
  p99Ms: number;
  errors: number;
  /** The operations at or above this second's p99, by how they went. */
  tail: Record<OpPath, number>;
  perMinistry: MinistrySecond[];
}

export interface BalanceRun {
  nodes: number;
  balancing: boolean;
  clients: number;
  clientsAfter: number;
  seconds: Second[];
  /** The president's orders, in words (balancing on). */
  orders: string[];
}

export interface SizeResult {
  nodes: number;
  on: BalanceRun;
  off: BalanceRun;
  unloadedP99Ms: number;
  /** Mean latency of a change (create, rm) on the idle cluster: a queued change waits for it. */
  unloadedChangeMs: number;
  /** One ministry's capacity: the off run's mean ops/s over its saturated seconds. */
  oneMinistryOps: number;
  /** Best second of the on run before the shift: its ops/s and ministries, and the goal. */
  peak: { t: number; ops: number; ministries: number; goalOps: number; met: boolean };
  /** Seconds after the shift until p99 stays under 2× unloaded (null: not within the run). */
  recoverS: number | null;
  shiftAtS: number;
  /** The 10 s after the shift (balancing on): operations over 2× the unloaded p99, by how
   * they went, and the mean latency of each kind. */
  afterShift: { slow: Record<OpPath, number>; meanMs: Record<OpPath, number>; all: Record<OpPath, number>; reads: { n: number; slow: number; meanMs: number }; writes: { n: number; slow: number; meanMs: number } };
  /** From the 6th second after the shift to the end (balancing on): the medians of the busiest
   * minister's CPU and of the per-second p99 (what queueing at ministers leaves once the
   * migrations for the shift are done). */
  settled: { seconds: number; busiestCpu: number; p99Ms: number };
  /** Directory-granular bound at the peak second: one ministry's capacity over the largest
   * share of the operations any one ministry served (the hot set's split caps the sum). */
  peakBound: { maxShare: number; boundOps: number };
}

export interface BalanceResult {
  serviceMs: number;
  appendMs: number;
  thinkMs: number;
  concurrent: number;
  /** The hot trees' shape and the planner options the flags set (unset: the planner's default). */
  shape: { fanout: number; depth: number };
  planner: { splitIdle?: number; splitBusy?: number; peakFalls: boolean };
  sizes: SizeResult[];
}

function tree(root: string, depth: number, fanout: number): { dirs: string[]; leaves: string[] } {
  const dirs = [root];
  let level = [root];
  for (let d = 0; d < depth; d++) {
    level = level.flatMap((p) => Array.from({ length: fanout }, (_, i) => `${p}/${i}`));
    dirs.push(...level);
  }
  return { dirs, leaves: level };
}

const p99 = (xs: number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
};

/** Write-balancing options the flags set (write-balancer.ts): --split-idle X, --split-busy X,
 * --peak-falls; unset ones keep the planner's defaults. */
interface Knobs {
  concurrent: number;
  /** Modeled CPU per client request (--service-ms; default SERVICE_MS); a Raft append answer
   * costs 1/40 of it (APPEND_MS at the default). */
  serviceMs: number;
  splitIdle?: number;
  splitBusy?: number;
  peakFalls: boolean;
}

const appendMs = (k: Knobs): number => (k.serviceMs * APPEND_MS) / SERVICE_MS;

async function startCluster(nodes: number, seed: number, orders: string[], clock: { now(): number }, k: Knobs): Promise<Cluster> {
  const { Writable } = await import('node:stream');
  const { default: pino } = await import('pino');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.includes('"cause"')) continue;
        const o = JSON.parse(line) as { msg?: string; time?: number };
        orders.push(`${(clock.now() / 1000).toFixed(1)} s ${o.msg ?? line}`);
      }
      done();
    },
  });
  return Cluster.start({
    nodes,
    scheduler: 'sim',
    seed,
    network: { minLatencyMs: 0.2, maxLatencyMs: 1 },
    cpu: { serviceMs: { 'govfs.fs.FsRequest': k.serviceMs, 'govfs.raft.AppendResponse': appendMs(k) } },
    loadEveryMs: 250,
    balance: { settleMs: 750 },
    writeBalance: {
      mergeAfterMs: 2_000,
      retryAfterMs: 3_000,
      concurrent: k.concurrent,
      ...(k.splitIdle !== undefined && { splitWhenIdleAbove: k.splitIdle }),
      ...(k.splitBusy !== undefined && { splitBusyAbove: k.splitBusy }),
      ...(k.peakFalls && { splitOnlyIfPeakFalls: true }),
    },
    migrationTimeoutMs: 10_000,
    // A migration waits out the subtree's leases only when one could be believed (none here);
    // 1 s leases as before, so that the numbers compare with earlier runs.
    leaseTtlMs: 1_000,
    logger: pino({ level: 'info' }, sink),
  });
}

/** One client operation on a leaf of `leaves`: 3 in 4 change it, 1 in 4 read it. */
async function op(c: GovClient, leaves: string[], r: { next(): number; int(a: number, b: number): number }): Promise<{ dir: string; read: boolean }> {
  const dir = leaves[r.int(0, leaves.length - 1)]!;
  const x = r.next();
  if (x < 0.25) await c.stat(dir);
  else if (x < 0.625) await c.create(`${dir}/f${r.int(0, 7)}`).catch((e: { code?: string }) => {
    if (e.code !== 'EEXIST') throw e;
  });
  else await c.rm(`${dir}/f${r.int(0, 7)}`).catch((e: { code?: string }) => {
    if (e.code !== 'ENOENT') throw e;
  });
  return { dir, read: x < 0.25 };
}

const PATHS: OpPath[] = ['direct', 'redirected', 'paused', 'retried', 'timedOut'];
const zero = (): Record<OpPath, number> => ({ direct: 0, redirected: 0, paused: 0, retried: 0, timedOut: 0 });

function pathOf(before: GovClient['stats'], after: GovClient['stats']): OpPath {
  if (after.timeouts > before.timeouts) return 'timedOut';
  if (after.pauses > before.pauses) return 'paused';
  if (after.retries > before.retries) return 'retried';
  if (after.redirects > before.redirects) return 'redirected';
  return 'direct';
}

/** The subtree of `subtrees` that serves `path` (longest prefix). */
function ownerOf(subtrees: readonly string[], path: string): string {
  let best = '/';
  for (const s of subtrees) if ((path === s || path.startsWith(`${s}/`)) && s.length > best.length) best = s;
  return best;
}

interface Done {
  at: number;
  ms: number;
  path: OpPath;
  owner: string;
  read: boolean;
}

async function runOne(nodes: number, balancing: boolean, seconds: number, seed: number, knobs: Knobs, shape: { depth: number; fanout: number }): Promise<{ run: BalanceRun; unloadedP99Ms: number; unloadedChangeMs: number; done: Done[]; start: number }> {
  const orders: string[] = [];
  let start = 0;
  const clock = { now: (): number => 0 };
  const cluster = await startCluster(nodes, seed, orders, clock, knobs);
  clock.now = () => cluster.now() - start;
  const r = new SeedTree(seed).stream('bench-balance');
  const t = tree('/t', shape.depth, shape.fanout);
  const u = tree('/u', shape.depth, shape.fanout);
  const setup = cluster.client({ clientId: 'setup', requestTimeoutMs: 2_000, deadlineMs: 30_000 });
  // Off while the directories are made and the unloaded latency is measured (one busy client
  // may pass the split threshold for spare nodes): both runs start from one ministry.
  await cluster.balance(false);
  for (const d of [...t.dirs, ...u.dirs]) await setup.mkdir(d);
  // Unloaded: one client, one operation at a time.
  const lone: number[] = [];
  const loneChanges: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = cluster.now();
    const { read } = await op(setup, t.leaves, r);
    lone.push(cluster.now() - t0);
    if (!read) loneChanges.push(cluster.now() - t0);
  }
  // Before the shift, clients enough to offer 1.5× what every node serving as a minister could
  // carry (throughput shows capacity); after it, on /u, as many as offer 1.25× one ministry's
  // capacity (more than one can carry, within what the cluster can: p99 can recover).
  const ministriesMax = Math.floor((nodes - 1) / 3);
  const perClient = 1000 / (THINK_MS + knobs.serviceMs);
  const oneCapacity = 1000 / knobs.serviceMs / 0.75;
  const clients = Math.ceil((1.5 * ministriesMax * oneCapacity) / perClient);
  const clientsAfter = Math.min(clients, Math.ceil((1.25 * oneCapacity) / perClient));
  if (balancing) await cluster.balance(true);
  start = cluster.now();
  const end = start + seconds * 1000;
  const shiftAt = start + (seconds * 1000) / 2;
  const done: Done[] = [];
  let subtrees: string[] = ['/'];
  const errors: number[] = [];
  const client = async (i: number): Promise<void> => {
    const c = cluster.client({ clientId: `c${i}`, requestTimeoutMs: 3_000, deadlineMs: 10_000 });
    const rr = new SeedTree(seed).stream(`bench-balance:${i}`);
    while (cluster.now() < end) {
      const t0 = cluster.now();
      if (t0 >= shiftAt && i >= clientsAfter) return;
      const before = { ...c.stats };
      const leaves = t0 < shiftAt ? t.leaves : u.leaves;
      try {
        const { dir, read } = await op(c, leaves, rr);
        done.push({ at: cluster.now(), ms: cluster.now() - t0, path: pathOf(before, c.stats), owner: ownerOf(subtrees, dir), read });
      } catch {
        errors.push(cluster.now());
      }
      await cluster.runFor(THINK_MS);
    }
  };
  const staff: { at: number; ministries: number; clerks: number; loads: Omit<MinistrySecond, 'ops'>[] }[] = [];
  const watch = async (): Promise<void> => {
    while (cluster.now() < end) {
      await cluster.runFor(1_000);
      const st = await cluster.status().catch(() => null);
      if (!st) continue;
      subtrees = st.ministries.map((m) => m.subtree);
      staff.push({ at: cluster.now(), ministries: st.ministries.length, clerks: st.ministries.reduce((s, m) => s + m.clerks.length, 0), loads: st.ministries.map((m) => ({ subtree: m.subtree, ministerCpu: m.load?.ministerCpu ?? null, clerkCpu: m.load?.cpu ?? null })) });
    }
  };
  await Promise.all([...Array.from({ length: clients }, (_, i) => client(i)), watch()]);
  const rows: Second[] = [];
  for (let s = 0; s < seconds; s++) {
    const a = start + s * 1000;
    const in1 = done.filter((d) => d.at >= a && d.at < a + 1000);
    const st = staff.filter((x) => x.at <= a + 1000).at(-1);
    const p = p99(in1.map((d) => d.ms));
    const tail = zero();
    for (const d of in1) if (d.ms >= p) tail[d.path]++;
    const perMinistry = (st?.loads ?? []).map((l) => ({ ...l, ops: in1.filter((d) => d.owner === l.subtree).length }));
    rows.push({ t: s + 1, ministries: st?.ministries ?? 1, clerks: st?.clerks ?? 2, ops: in1.length, p99Ms: p, errors: errors.filter((e) => e >= a && e < a + 1000).length, tail, perMinistry });
  }
  await cluster.stop();
  return { run: { nodes, balancing, clients, clientsAfter, seconds: rows, orders }, unloadedP99Ms: p99(lone), unloadedChangeMs: loneChanges.reduce((a, x) => a + x, 0) / Math.max(1, loneChanges.length), done, start };
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<BalanceResult> {
  const quick = opts.quick === true;
  const sizes = typeof opts.nodes === 'string' ? opts.nodes.split(',').map(Number) : quick ? [10] : [10, 30, 100];
  const seed = typeof opts.seed === 'string' ? Number(opts.seed) : 1;
  // Migrations the balancer runs at once (--concurrent; the planner's default is 1).
  const concurrent = typeof opts.concurrent === 'string' ? Number(opts.concurrent) : 1;
  // Split a minister above this CPU while idle nodes could staff two new ministries (--split-idle;
  // the planner's default is 0.6).
  const splitIdle = typeof opts['split-idle'] === 'string' ? Number(opts['split-idle']) : undefined;
  // Latency-aware splits (--split-busy X: a minister above X splits whenever idle nodes can
  // staff a new ministry; 1 turns them off) and --peak-falls (no split while more ministers are
  // saturated than the idle nodes can split): options of the planner, off by its default.
  const splitBusy = typeof opts['split-busy'] === 'string' ? Number(opts['split-busy']) : SPLIT_BUSY;
  // --service-ms: a cheaper request means more clients for the same overload, and a request's
  // own CPU a smaller part of its latency (the simulations use 8 ms: fewer clients, faster).
  const serviceMs = typeof opts['service-ms'] === 'string' ? Number(opts['service-ms']) : SERVICE_MS;
  if (!(serviceMs > 0 && serviceMs <= 1_000)) throw new Error(`--service-ms ${String(opts['service-ms'])}: want a number of milliseconds in (0, 1000]`);
  if (!(splitBusy > 0 && splitBusy <= 1)) throw new Error(`--split-busy ${String(opts['split-busy'])}: want a share of a core in (0, 1] (1: no latency-aware splits)`);
  const knobs: Knobs = { concurrent, serviceMs, ...(splitIdle !== undefined && { splitIdle }), ...(splitBusy < 1 && { splitBusy }), peakFalls: opts['peak-falls'] === true };
  // The hot trees' shape (--fanout F --depth D; by default fan-out 3, depth 4: 81 leaf
  // directories; another fan-out alone gets the depth nearest 81 leaves).
  const fanout = typeof opts.fanout === 'string' ? Number(opts.fanout) : FANOUT;
  const depth = typeof opts.depth === 'string' ? Number(opts.depth) : fanout === FANOUT ? DEPTH : Math.max(1, Math.round(Math.log(FANOUT ** DEPTH) / Math.log(fanout)));
  if (!(Number.isInteger(fanout) && fanout >= 2 && Number.isInteger(depth) && depth >= 1 && fanout ** depth <= 4096)) throw new Error(`--fanout ${fanout} --depth ${depth}: want integers, fan-out at least 2, depth at least 1, at most 4096 leaves`);
  const shape = { fanout, depth };
  const out: SizeResult[] = [];
  for (const nodes of sizes) {
    const seconds = typeof opts.seconds === 'string' ? Number(opts.seconds) : quick ? 16 : nodes >= 100 ? 40 : 30;
    const on = await runOne(nodes, true, seconds, seed, knobs, shape);
    const off = await runOne(nodes, false, seconds, seed, knobs, shape);
    const half = Math.floor(seconds / 2);
    // The off run is saturated throughout (one ministry): its mean past the first second.
    const sat = off.run.seconds.slice(1, half);
    const oneMinistryOps = sat.reduce((s, x) => s + x.ops, 0) / Math.max(1, sat.length);
    // The best second before the shift among those with the most ministries the balancer made
    // (the goal's denominator: every ministry it created, whether or not it carries load).
    const most = Math.max(...on.run.seconds.slice(0, half).map((x) => x.ministries));
    const before = on.run.seconds.slice(0, half).filter((x) => x.ministries === most);
    const best = before.reduce((b, x) => (x.ops > b.ops ? x : b), before[0] ?? on.run.seconds[0]!);
    const served = best.perMinistry.reduce((m, x) => Math.max(m, x.ops), 0);
    const maxShare = best.ops > 0 ? served / best.ops : 1;
    const goalOps = 0.7 * best.ministries * oneMinistryOps;
    const limit = 2 * on.unloadedP99Ms;
    const after = on.run.seconds.slice(half);
    const firstGood = after.findIndex((x, i) => after.slice(i).every((y) => y.p99Ms > 0 && y.p99Ms < limit));
    // The tail after the shift: which operations were slow, and how they went.
    const shiftAt = on.start + half * 1000;
    const window = on.done.filter((d) => d.at >= shiftAt && d.at < shiftAt + 10_000);
    const all = zero();
    const slow = zero();
    const sum = zero();
    for (const d of window) {
      all[d.path]++;
      sum[d.path] += d.ms;
      if (d.ms >= limit) slow[d.path]++;
    }
    const kind = (read: boolean): { n: number; slow: number; meanMs: number } => {
      const xs = window.filter((d) => d.read === read);
      return { n: xs.length, slow: xs.filter((d) => d.ms >= limit).length, meanMs: xs.reduce((a, d) => a + d.ms, 0) / Math.max(1, xs.length) };
    };
    const meanMs = zero();
    for (const k of PATHS) meanMs[k] = all[k] > 0 ? sum[k] / all[k] : 0;
    const late = after.slice(5);
    const median = (xs: number[]): number => (xs.length === 0 ? 0 : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
    const settled = {
      seconds: late.length,
      busiestCpu: median(late.map((x) => Math.max(0, ...x.perMinistry.filter((m) => m.ops > 0).map((m) => m.ministerCpu ?? 0)))),
      p99Ms: median(late.map((x) => x.p99Ms)),
    };
    out.push({
      nodes,
      on: on.run,
      off: off.run,
      unloadedP99Ms: on.unloadedP99Ms,
      unloadedChangeMs: on.unloadedChangeMs,
      oneMinistryOps,
      peak: { t: best.t, ops: best.ops, ministries: best.ministries, goalOps, met: best.ops >= goalOps && best.ministries > 1 },
      recoverS: firstGood < 0 ? null : firstGood + 1,
      shiftAtS: half,
      afterShift: { slow, meanMs, all, reads: kind(true), writes: kind(false) },
      settled,
      peakBound: { maxShare, boundOps: oneMinistryOps / maxShare },
    });
  }
  return { serviceMs, appendMs: appendMs(knobs), thinkMs: THINK_MS, concurrent, shape, planner: { ...(splitIdle !== undefined && { splitIdle }), ...(splitBusy !== undefined && { splitBusy }), peakFalls: knobs.peakFalls }, sizes: out };
}

export function format(result: unknown): string {
  const r = result as BalanceResult;
  const lines = [`modeled CPU: ${r.serviceMs} ms per client request, ${r.appendMs} ms per Raft append answer at the minister; closed-loop clients, ${r.thinkMs} ms think time; at most ${r.concurrent} migration(s) at once`];
  const p = r.planner;
  const opts = [p.splitIdle !== undefined && `split above ${p.splitIdle} with idle nodes for two`, p.splitBusy !== undefined && `latency-aware splits above ${p.splitBusy}`, p.peakFalls && 'split only if the peak falls'].filter((x) => x);
  lines.push(`hot trees: fan-out ${r.shape.fanout}, depth ${r.shape.depth} (${r.shape.fanout ** r.shape.depth} leaf directories); planner: ${opts.length > 0 ? opts.join(', ') : "the thesis's thresholds only"}`);
  for (const s of r.sizes) {
    lines.push('', `${s.nodes} nodes, ${s.on.clients} clients on /t, after ${s.shiftAtS} s ${s.on.clientsAfter} on /u; unloaded p99 ${s.unloadedP99Ms.toFixed(1)} ms; one ministry carries ${s.oneMinistryOps.toFixed(0)} ops/s`);
    lines.push('   s | balancing on: ministries clerks   ops/s  p99 ms  errors | off:  ops/s  p99 ms');
    for (const [i, x] of s.on.seconds.entries()) {
      const o = s.off.seconds[i];
      const mark = x.t === s.shiftAtS + 1 ? ' <- shift' : '';
      lines.push(`${String(x.t).padStart(4)} | ${String(x.ministries).padStart(24)} ${String(x.clerks).padStart(6)} ${String(x.ops).padStart(7)} ${x.p99Ms.toFixed(0).padStart(7)} ${String(x.errors).padStart(7)} | ${String(o?.ops ?? '').padStart(10)} ${(o?.p99Ms ?? 0).toFixed(0).padStart(7)}${mark}`);
    }
    lines.push(`goal 1 (throughput ≥ 0.7 × ministries × one ministry's capacity): ${s.peak.met ? 'met' : 'NOT met'}: second ${s.peak.t}, ${s.peak.ops} ops/s with ${s.peak.ministries} ministries (goal ${s.peak.goalOps.toFixed(0)})`);
    lines.push(`   at that second the busiest ministry served ${(s.peakBound.maxShare * 100).toFixed(0)}% of the operations: with directory-granular splits the sum is capped near ${s.peakBound.boundOps.toFixed(0)} ops/s (${s.peak.ministries} ministries: ${s.on.seconds[s.peak.t - 1]!.perMinistry.map((m) => `${m.subtree} ${m.ops}/s${m.ministerCpu === null ? '' : ` (minister ${Math.round(m.ministerCpu * 100)}%)`}`).join(', ')})`);
    const sh = s.afterShift;
    lines.push(`   10 s after the shift, operations over 2× unloaded p99 by how they went (of all; mean ms): ${PATHS.map((k) => `${k} ${sh.slow[k]} (of ${sh.all[k]}; ${sh.meanMs[k].toFixed(0)})`).join(', ')}; reads ${sh.reads.slow} of ${sh.reads.n} (mean ${sh.reads.meanMs.toFixed(0)} ms), changes ${sh.writes.slow} of ${sh.writes.n} (mean ${sh.writes.meanMs.toFixed(0)} ms; unloaded ${s.unloadedChangeMs.toFixed(1)} ms)`);
    lines.push(`goal 2 (p99 under 2 × ${s.unloadedP99Ms.toFixed(1)} ms within 10 s of the shift): ${s.recoverS !== null && s.recoverS <= 10 ? 'met' : 'NOT met'}: ${s.recoverS === null ? 'not within the run' : `after ${s.recoverS} s`}`);
    // Why the settled p99 sits where it does: a minister serves one request at a time, so a
    // change that arrives behind another waits up to a whole service time.
    const behindOne = s.unloadedChangeMs + r.serviceMs;
    lines.push(`   settled (seconds ${s.shiftAtS + 6}-${s.shiftAtS + 5 + s.settled.seconds}): busiest minister ${Math.round(s.settled.busiestCpu * 100)}% CPU, p99 ${s.settled.p99Ms.toFixed(1)} ms (median per second); a change queued behind one other takes up to ${behindOne.toFixed(1)} ms, behind a second up to ${(behindOne + r.serviceMs).toFixed(1)} ms (2× unloaded p99: ${(2 * s.unloadedP99Ms).toFixed(1)} ms)`);
  }
  return lines.join('\n');
}
