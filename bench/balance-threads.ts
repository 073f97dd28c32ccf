// `npm run bench -- balance-threads [--json] [--nodes 7] [--threads 2] [--clients 32] [--seconds 20] [--depth 3] [--split-above X]`
// (issue 16, the second table): the balancer on the `threads` scheduler, real CPU, no modeled
// capacity. A cluster starts with one ministry (a minister and two clerks; the other nodes
// idle) on `--threads` worker threads; closed-loop clients on the main thread (no think time)
// create, remove and stat in the leaf directories of a binary tree /t, all of them at once, as
// fast as the cluster answers: more than one minister can carry on this machine. Printed per
// second: ministries, operations completed and p99, with balancing on beside the same run with
// it off. `--split-above X` lowers the planner's 90% (a minister's thread rarely gets there
// while the clients' thread and other processes take the cores). Not in the test suite (a run takes ~2 × (seconds + 10) s of wall time).
//
// What it can show: whether splitting the hot tree into ministries whose ministers run on
// other worker threads raises throughput and lowers p99 when real CPU is the limit, and how
// long the split takes in real time. What it cannot: nodes share `--threads` worker threads
// (two on a 2-core machine) and the clients share the cores with them, so two ministries can
// at best use the second core; a node's CPU report is its thread's, shared by every node on
// it; and other processes on the machine (other helpers' test runs) take cores too, so the
// numbers move from run to run.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../src/cluster.js';
import { SeedTree } from '../src/runtime/random.js';

export const describe = 'balancer on worker threads with real CPU: one ministry overloaded, throughput/p99 per second as it splits, beside balancing off';

export interface ThreadSecond {
  t: number;
  ministries: number;
  /** Each ministry's minister and subtree, at the second's end. */
  ministers: string[];
  ops: number;
  p99Ms: number;
  errors: number;
}

export interface ThreadsRun {
  balancing: boolean;
  seconds: ThreadSecond[];
  orders: string[];
  /** The balancer's plan each second (its lines on ministers and what it does next). */
  plans: { t: number; lines: string[] }[];
}

export interface BalanceThreadsResult {
  nodes: number;
  threads: number;
  clients: number;
  splitAbove?: number;
  cores: number;
  loadAverage: number;
  on: ThreadsRun;
  off: ThreadsRun;
}

const p99 = (xs: number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
};

function leavesOf(root: string, depth: number): { dirs: string[]; leaves: string[] } {
  const dirs = [root];
  let level = [root];
  for (let d = 0; d < depth; d++) {
    level = level.flatMap((p) => [`${p}/0`, `${p}/1`]);
    dirs.push(...level);
  }
  return { dirs, leaves: level };
}

async function runOne(balancing: boolean, o: { nodes: number; threads: number; clients: number; seconds: number; depth: number; splitAbove?: number }): Promise<ThreadsRun> {
  const dir = mkdtempSync(join(tmpdir(), 'govfs-balance-threads-'));
  const orders: string[] = [];
  const { Writable } = await import('node:stream');
  const { default: pino } = await import('pino');
  let start = Date.now();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.includes('"cause"') || !line.includes('orders')) continue;
        const m = JSON.parse(line) as { msg?: string };
        orders.push(`${((Date.now() - start) / 1000).toFixed(1)} s ${m.msg ?? line}`);
      }
      done();
    },
  });
  const cluster = await Cluster.start({
    nodes: o.nodes,
    scheduler: 'threads',
    threads: o.threads,
    dataDir: dir,
    loadEveryMs: 500,
    balance: { settleMs: 1_500 },
    writeBalance: { mergeAfterMs: 4_000, retryAfterMs: 5_000, ...(o.splitAbove !== undefined && { splitAbove: o.splitAbove }) },
    migrationTimeoutMs: 10_000,
    leaseTtlMs: 1_000,
    logger: pino({ level: 'info' }, sink),
  });
  try {
    const setup = cluster.client({ clientId: 'setup', deadlineMs: 30_000 });
    await cluster.balance(false);
    const t = leavesOf('/t', o.depth);
    for (const d of t.dirs) await setup.mkdir(d);
    if (balancing) await cluster.balance(true);
    start = Date.now();
    const end = start + o.seconds * 1000;
    const done: { at: number; ms: number }[] = [];
    const errors: number[] = [];
    const client = async (i: number): Promise<void> => {
      const c = cluster.client({ clientId: `c${i}`, requestTimeoutMs: 3_000, deadlineMs: 10_000 });
      const r = new SeedTree(1).stream(`balance-threads:${i}`);
      while (Date.now() < end) {
        const leaf = t.leaves[r.int(0, t.leaves.length - 1)]!;
        const x = r.next();
        const t0 = Date.now();
        try {
          if (x < 0.25) await c.stat(leaf);
          else if (x < 0.625) await c.create(`${leaf}/f${i}-${r.int(0, 7)}`).catch((e: { code?: string }) => {
            if (e.code !== 'EEXIST') throw e;
          });
          else await c.rm(`${leaf}/f${i}-${r.int(0, 7)}`).catch((e: { code?: string }) => {
            if (e.code !== 'ENOENT') throw e;
          });
          done.push({ at: Date.now(), ms: Date.now() - t0 });
        } catch {
          errors.push(Date.now());
        }
      }
    };
    const staff: { at: number; ministers: string[] }[] = [];
    const plans: { t: number; lines: string[] }[] = [];
    const watch = async (): Promise<void> => {
      while (Date.now() < end) {
        await cluster.runFor(1_000);
        const st = await cluster.status().catch(() => null);
        if (st) staff.push({ at: Date.now(), ministers: st.ministries.map((m) => `${m.subtree}:${m.minister}${m.load?.ministerCpu == null ? '' : `(${Math.round(m.load.ministerCpu * 100)}%)`}`) });
        // (Worker threads' logs do not reach this logger: the plan says what the balancer sees.)
        const plan = await cluster.balancePlan().catch(() => []);
        plans.push({ t: Math.round((Date.now() - start) / 1000), lines: plan.filter((l) => !l.startsWith('equation 7') && /minister CPU|^next|^then|in progress|not drawn on/.test(l)) });
      }
    };
    await Promise.all([...Array.from({ length: o.clients }, (_, i) => client(i)), watch()]);
    const seconds: ThreadSecond[] = [];
    for (let s = 0; s < o.seconds; s++) {
      const a = start + s * 1000;
      const in1 = done.filter((d) => d.at >= a && d.at < a + 1000);
      const st = staff.filter((x) => x.at <= a + 1000).at(-1);
      seconds.push({ t: s + 1, ministries: st?.ministers.length ?? 1, ministers: st?.ministers ?? [], ops: in1.length, p99Ms: p99(in1.map((d) => d.ms)), errors: errors.filter((e) => e >= a && e < a + 1000).length });
    }
    return { balancing, seconds, orders, plans };
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<BalanceThreadsResult> {
  const num = (k: string, d: number): number => (typeof opts[k] === 'string' ? Number(opts[k]) : d);
  const o = { nodes: num('nodes', 7), threads: num('threads', 2), clients: num('clients', 32), seconds: num('seconds', 20), depth: num('depth', 3), ...(typeof opts['split-above'] === 'string' && { splitAbove: Number(opts['split-above']) }) };
  const { availableParallelism, loadavg } = await import('node:os');
  const loadAverage = loadavg()[0]!;
  const on = await runOne(true, o);
  const off = await runOne(false, o);
  return { ...o, cores: availableParallelism(), loadAverage, on, off };
}

export function format(result: unknown): string {
  const r = result as BalanceThreadsResult;
  const lines = [`threads scheduler, real CPU: ${r.nodes} nodes on ${r.threads} worker threads, ${r.clients} closed-loop clients (no think time) on the main thread; split above ${Math.round((r.splitAbove ?? 0.9) * 100)}% minister CPU; ${r.cores} cores, load average ${r.loadAverage.toFixed(1)} at the start (other processes share them)`];
  lines.push('   s | balancing on: ministries   ops/s  p99 ms errors | off:  ops/s  p99 ms | ministers (on)');
  for (const [i, x] of r.on.seconds.entries()) {
    const f = r.off.seconds[i];
    lines.push(`${String(x.t).padStart(4)} | ${String(x.ministries).padStart(24)} ${String(x.ops).padStart(7)} ${String(x.p99Ms).padStart(7)} ${String(x.errors).padStart(6)} | ${String(f?.ops ?? '').padStart(10)} ${String(f?.p99Ms ?? '').padStart(7)} | ${x.ministers.join(' ')}`);
  }
  const mean = (xs: ThreadSecond[]): number => xs.reduce((s, x) => s + x.ops, 0) / Math.max(1, xs.length);
  const half = Math.floor(r.on.seconds.length / 2);
  lines.push(`second half: balancing on ${mean(r.on.seconds.slice(half)).toFixed(0)} ops/s, off ${mean(r.off.seconds.slice(half)).toFixed(0)} ops/s`);
  if (r.on.orders.length > 0) lines.push('orders (balancing on):', ...r.on.orders.map((x) => `  ${x}`));
  lines.push('the balancer\'s plan (balancing on), where it changed:');
  let last = '';
  for (const p of r.on.plans) {
    const text = p.lines.join(' | ');
    if (text !== last) lines.push(`  ${p.t} s: ${text || '(nothing about ministers)'}`);
    last = text;
  }
  return lines.join('\n');
}
