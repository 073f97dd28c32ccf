// `npm run bench -- meta [--json] [--quick]`: the thesis's metadata workloads (its section 5.1)
// on the `threads` scheduler with lmdb storage (fsync on), printed beside the thesis's medians.
//   ls      30 clients, each listing every ministry's directory (10 files each) back to back,
//           in batch order (all requests for one directory, then the next) and stride order
//           (rotating through the directories), over 1-5 ministries; 2,000 times per directory
//           and 6,000 in all per client
//   create  9 clients, each creating files under /(id mod n), over 1-5 ministries, after 2 s of
//           warm-up: first 200 each, one create at a time per client (as the thesis's
//           clients), then 4,800 each with `--window K` creates in flight per client (default
//           32; RIFL keeps a result per request, so a client may pipeline its changes and each
//           still applies exactly once)
//   lone    one client alone: creates one at a time, then listings of a 10-file directory (p50)
//   --remote  the same workloads again in the same run, over TCP: the cluster also listens on
//           127.0.0.1, and a child process (this benchmark with --server) runs the clients with
//           connect(); printed beside the in-process rows, with the ratio remote / in-process
//   --remote-only  the remote workloads alone: this process's main thread is then only the
//           cluster's client gateway, for a profile of it (`node --cpu-prof --import tsx
//           bench/run.ts meta --quick --remote-only`, or `perf record -g -t PID` with
//           `node --perf-basic-prof`)
// Static ministries as in the thesis: one at /, the others at /1 ... /(n-1), 2 clerks each.
// Goals (issue 4): creates ≥ 1,000× the thesis's ≈ 13 creates/s per ministry; ls p99 ≤ 1 ms.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BenchTarget, progress, startTarget } from './target.js';

const THESIS_LS: Record<number, { batch: [number, number]; stride: [number, number] }> = {
  1: { batch: [0.188, 0.431], stride: [0.187, 0.432] },
  2: { batch: [0.507, 0.897], stride: [0.498, 0.863] },
  3: { batch: [0.33, 1.203], stride: [0.344, 1.169] },
  4: { batch: [0.312, 1.512], stride: [0.328, 1.474] },
  5: { batch: [0.3, 1.814], stride: [0.319, 1.781] },
};
const THESIS_CREATE_P50: Record<number, number> = { 1: 675, 2: 374, 3: 225, 4: 150, 5: 150 };

export interface MetaRow {
  ministries: number;
  workload: 'ls-batch' | 'ls-stride' | 'create' | 'create-pipe' | 'lone-create' | 'lone-ls';
  /** How the clients reached the cluster (--remote): in process, or over TCP with connect(). */
  via?: 'in-process' | 'remote';
  /** Creates in flight per client (create workloads). */
  window?: number;
  /** Where it ran (BenchTarget.describe). */
  target: string;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  thesisP50Ms: number;
  thesisP99Ms: number | null;
  /** With --metrics: whether this run served /metrics (scraped every second) or not. */
  metrics?: 'on' | 'off';
  /** Operations of the whole run, warm-ups included (the same on each of its rows). */
  runOps?: number;
  /** --remote: CPU time of the cluster's main thread (the client gateway) per remote
   * operation of the run, in µs: less sensitive to a loaded machine than rates. */
  gatewayCpuUsPerOp?: number;
}

/** Every client operation of this process's runs, warm-ups included. */
let opsDone = 0;

/** CPU time (user + system) of this process's main thread so far, in ms (Linux; NaN elsewhere). */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

function q(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

/** Start each measurement with the clients' heap collected (bench/run.ts gives `gc` to the
 * Node it runs meta in), so that none pays for the garbage of the one before. (The slow first
 * ls order of each configuration was not this: the warm-up below cured it, a full GC alone
 * did not.) */
function fullGc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function runFor(n: number, quick: boolean, o: Record<string, string | boolean | undefined>, metrics?: 'on' | 'off', alsoRemote?: (target: BenchTarget) => Promise<MetaRow[]>): Promise<MetaRow[]> {
  const wanted = Array.from({ length: n - 1 }, (_, i) => ({ subtree: `/${i + 1}`, clerks: 2 }));
  const target = await startTarget(o, { nodes: 1 + 3 * n, ministries: wanted, metrics: metrics === 'on', listen: alsoRemote !== undefined });
  const rows: MetaRow[] = [];
  try {
    // --remote-only: this process only serves (its main thread is the gateway alone, to
    // profile: node --cpu-prof, or perf record -t PID).
    if (alsoRemote && o['remote-only'] === true) return await alsoRemote(target);
    // Against a running cluster: whatever ministries it has besides "/".
    const ministries = (await target.status()).ministries.filter((m) => m.subtree !== '/').map((m) => ({ subtree: m.subtree }));
    n = ministries.length + 1;
    // 30 clients at most run at once: one pool, handed out round robin.
    const pool = await Promise.all(Array.from({ length: 30 }, () => target.client()));
    let next = 0;
    const cluster = { client: () => pool[next++ % pool.length]! };
    const tag = `/0-${Math.floor(performance.now())}`;
    const dirs = [tag, ...ministries.map((m) => `${m.subtree}${tag}`)];
    const setup = cluster.client();
    for (const d of dirs) await setup.mkdir(d, { parents: true });
    for (const d of dirs) for (let f = 0; f < 10; f++) await setup.create(`${d}/f${f}`);
    // Each client lists every directory 2,000 times, and makes 6,000 listings at least: at one
    // ministry, 2,000 per client is 0.7 s of measurement, in which one major GC of the clients'
    // thread (a 2-7 ms pause for all 30) moves the p99 by half a millisecond.
    const perDir = quick ? 200 : Math.max(2_000, Math.ceil(6_000 / dirs.length));
    // Warm up (JIT, caches of the subtree map, the young generation's sizing) before anything
    // is timed: the first second of a run is several times slower at the tail. For 2 s at
    // least: after 1,000 listings per client (0.25 s) the first measured order was still the
    // slower one (ls p99 at 1 ministry, where both orders are the same workload: 0.76-0.98 ms
    // first, 0.61-0.70 ms second).
    const warmUntil = performance.now() + (quick ? 200 : 2_000);
    // Each client's first listing of each directory is linearizable: a plain read by a client
    // that has not seen the setup's changes may be served by a clerk that has not applied them
    // yet (README "Reads may be stale"; ENOENT here once nodes stopped sharing one commit).
    await Promise.all(Array.from({ length: 30 }, () => cluster.client()).map(async (c) => {
      for (let i = 0; i < (quick ? 200 : 1_000) || performance.now() < warmUntil; i++, opsDone++) await c.ls(dirs[i % dirs.length]!, i < dirs.length ? { linearizable: true } : undefined);
    }));
    for (const order of ['batch', 'stride'] as const) {
      fullGc();
      const clients = Array.from({ length: 30 }, () => cluster.client());
      const lat: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        clients.map(async (c) => {
          for (let i = 0; i < perDir * dirs.length; i++) {
            const dir = order === 'batch' ? dirs[Math.floor(i / perDir)]! : dirs[i % dirs.length]!;
            const s = performance.now();
            await c.ls(dir);
            opsDone++;
            lat.push(performance.now() - s);
          }
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      const t = THESIS_LS[n]![order];
      rows.push({ target: target.describe, ministries: n, workload: `ls-${order}`, ops: lat.length, opsPerSec: lat.length / secs, p50Ms: q(lat, 0.5), p99Ms: q(lat, 0.99), thesisP50Ms: t[0], thesisP99Ms: t[1] });
    }
    const perClient = quick ? 50 : 200;
    const window = Math.max(1, Number(o.window ?? 32));
    /** 9 clients creating `count` files each under their directory, `w` in flight per client
     * (`w` lanes, each one create at a time), or for `ms` at least; the latencies. */
    const creates = async (label: string, w: number, count: number, ms = 0): Promise<number[]> => {
      const writers = Array.from({ length: 9 }, () => cluster.client());
      const lat: number[] = [];
      const until = performance.now() + ms;
      await Promise.all(
        writers.map(async (c, id) => {
          const dir = dirs[id % n]!;
          let next = 0;
          await Promise.all(Array.from({ length: w }, async () => {
            for (let i = next++; i < count || performance.now() < until; i = next++) {
              const s = performance.now();
              await c.create(`${dir}/${label}${id}-${i}`);
              opsDone++;
              lat.push(performance.now() - s);
            }
          }));
        }),
      );
      return lat;
    };
    // Warm the create path up (JIT) for 2 s first, as the listings were: the first 14,400
    // pipelined creates of a fresh cluster ran at two thirds of the rate of the next ones.
    await creates('warm', window, 0, quick ? 200 : 2_000);
    // Pipelined: 4,800 per client (43,200 in all, a few seconds), so that the rate includes
    // the snapshots taken along the way.
    for (const [w, count] of [[1, perClient], [window, perClient * 24]] as const) {
      fullGc();
      const t0 = performance.now();
      const lat = await creates(`w${w}-`, w, count);
      const secs = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      rows.push({ target: target.describe, ministries: n, workload: w === 1 ? 'create' : 'create-pipe', window: w, ops: lat.length, opsPerSec: lat.length / secs, p50Ms: q(lat, 0.5), p99Ms: q(lat, 0.99), thesisP50Ms: THESIS_CREATE_P50[n]!, thesisP99Ms: null });
    }
    // One client alone (issue 19's "lone client" row): the latency of one operation with
    // nothing else in flight.
    const lone = pool[0]!;
    // A directory of 10 files of its own: the ones above have had every create of this run
    // (listing one of those measured a listing of 11,000 entries and more: 2-9 ms).
    const loneDir = `${dirs[dirs.length - 1]!}-lone`;
    await setup.mkdir(loneDir);
    for (let f = 0; f < 10; f++) await setup.create(`${loneDir}/f${f}`);
    for (const workload of ['lone-create', 'lone-ls'] as const) {
      const once = (name: string): Promise<unknown> => (workload === 'lone-create' ? lone.create(`${dirs[0]}/${name}`) : lone.ls(loneDir));
      // Untimed first, as every row above: right after the phase before, the client's thread
      // and the worker that answers often sit on different CPUs, and on a machine with other
      // work on both each of the two wake-ups of a request waits ~2 ms for the other CPU
      // (lone ls p50 2-9 ms for 1-2 s, then 0.1 ms; `npm run bench -- lone` shows it). The
      // scheduler pulls them onto one CPU after some hundreds of round trips.
      for (let i = 0, until = performance.now() + (quick ? 1_000 : 2_000); performance.now() < until; i++) await once(`lone-warm-${i}`);
      fullGc();
      const lat: number[] = [];
      const t0 = performance.now();
      for (let i = 0; i < (quick ? 200 : 1_000); i++) {
        const s = performance.now();
        await once(`lone-${i}`);
        opsDone++;
        lat.push(performance.now() - s);
      }
      const secs = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      rows.push({ target: target.describe, ministries: n, workload, ops: lat.length, opsPerSec: lat.length / secs, p50Ms: q(lat, 0.5), p99Ms: q(lat, 0.99), thesisP50Ms: workload === 'lone-create' ? THESIS_CREATE_P50[n]! : THESIS_LS[n]!.batch[0], thesisP99Ms: null });
    }
    for (const r of rows) r.runOps = opsDone;
    if (alsoRemote) rows.push(...(await alsoRemote(target)));
  } finally {
    await target.close();
  }
  return rows;
}

/** `gc()`, to collect between measurements (see bench/run.ts); and for the main thread, where
 * the benchmark's 30 clients run, the roomy young generation the worker threads already have
 * (WORKER_LIMITS in src/runtime/threads.ts). With Node's default (16 MiB semi-spaces) the
 * clients allocate about 3.4 KB per ls and scavenge ~30 times a second, and a scavenge that
 * catches 30 requests in flight is what set ls p99: 0.80-0.82 ms against 0.62-0.70 ms with
 * 64 MiB, at 3 and 5 ministries (creates unchanged). */
export const nodeFlags = ['--expose-gc', '--max-semi-space-size=64'];

export const describe = 'the thesis ls/create workloads over 1-5 ministries on threads + lmdb (--quick, --ministries 1,3, --window 32, --server host:port, --metrics [--rounds K]: each with /metrics off and on, --remote: also over TCP, --remote-only: only over TCP)';

export async function run(o: Record<string, string | boolean | undefined>): Promise<MetaRow[]> {
  const quick = o.quick === true;
  const counts = typeof o.server === 'string' ? [0] : typeof o.ministries === 'string' ? o.ministries.split(',').map(Number) : quick ? [1, 3] : [1, 2, 3, 4, 5];
  const rows: MetaRow[] = [];
  // --metrics: every configuration twice, without and with metrics served and scraped, in
  // turns (off first, then on first) so that a drift of the machine's load favours neither.
  // `--rounds K` repeats each pair K times (alternating which goes first) for medians.
  const rounds = o.metrics === true && typeof o.rounds === 'string' ? Math.max(1, Number(o.rounds)) : 1;
  const pairs = (i: number): ('on' | 'off')[] => Array.from({ length: rounds }, (_, r) => ((i + r) % 2 ? ['on', 'off'] as const : ['off', 'on'] as const)).flat();
  const modes: ('on' | 'off' | undefined)[][] = o.metrics === true && typeof o.server !== 'string' ? counts.map((_, i) => pairs(i)) : counts.map(() => [undefined]);
  const tick = progress(modes.flat().length);
  const remote = (o.remote === true || o['remote-only'] === true) && typeof o.server !== 'string' ? (target: BenchTarget) => remoteRows(target.address!, o) : undefined;
  for (const [i, n] of counts.entries()) {
    for (const m of modes[i]!) {
      const r = (await runFor(n, quick, o, m, remote)).map((x) => (remote && !x.via ? { ...x, via: 'in-process' as const } : x));
      rows.push(...(m ? r.map((x) => ({ ...x, metrics: m })) : r));
      tick(`${n === 0 ? o.server as string : `${n} ministr${n === 1 ? 'y' : 'ies'}`}${m ? `, metrics ${m}` : ''}`);
    }
  }
  return rows;
}

/** The same workloads over TCP against the cluster at `address`: this benchmark again in a
 * child process (`--server address --json`), whose clients use connect(). A child, not this
 * process, so that the clients do not share the main thread with the cluster's gateway (as a
 * remote user would not). Spawned, not spawnSync'd: this process keeps serving meanwhile. */
async function remoteRows(address: string, o: Record<string, string | boolean | undefined>): Promise<MetaRow[]> {
  const args = [...process.execArgv, fileURLToPath(new URL(`./run${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)), 'meta', '--server', address, '--json'];
  if (o.quick === true) args.push('--quick');
  if (typeof o.window === 'string') args.push('--window', o.window);
  const cpu0 = mainThreadCpuMs();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, GOVFS_BENCH_CHILD: '1' } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`the remote clients (bench meta --server ${address}) exited with ${code}`);
  const cpuMs = mainThreadCpuMs() - cpu0;
  const rows = (JSON.parse(out) as { result: MetaRow[] }).result;
  return rows.map((x) => ({ ...x, via: 'remote' as const, gatewayCpuUsPerOp: (1000 * cpuMs) / (x.runOps ?? NaN) }));
}

/** With --remote: each workload's remote throughput and p50 against the in-process one. */
function remoteCost(rows: MetaRow[]): string[] {
  const remote = rows.filter((x) => x.via === 'remote');
  if (remote.length === 0) return [];
  const lines = ['', 'remote (connect() over TCP, clients in a child process) against in-process, same cluster, same run', `the gateway (the cluster's main thread) used ${remote[0]!.gatewayCpuUsPerOp!.toFixed(1)} µs of CPU per remote operation (${remote[0]!.runOps} operations, warm-ups included)`, 'ministries  workload     ops/s in-proc  ops/s remote  ratio   p50 ms in-proc  p50 ms remote  p99 ms remote'];
  for (const r of remote) {
    const l = rows.find((x) => x.via === 'in-process' && x.workload === r.workload && x.ministries === r.ministries);
    if (!l) continue;
    lines.push(`${String(r.ministries).padEnd(10)}  ${r.workload.padEnd(11)}  ${l.opsPerSec.toFixed(0).padStart(13)}  ${r.opsPerSec.toFixed(0).padStart(12)}  ${(r.opsPerSec / l.opsPerSec).toFixed(2).padStart(5)}  ${l.p50Ms.toFixed(3).padStart(14)}  ${r.p50Ms.toFixed(3).padStart(13)}  ${r.p99Ms.toFixed(3).padStart(13)}`);
  }
  return lines;
}

/** With --metrics: each workload's median throughput and p99 without and with metrics. */
function metricsCost(rows: MetaRow[]): string[] {
  if (!rows.some((x) => x.metrics === 'off')) return [];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const lines = ['', 'metrics cost (the same workload without and with /metrics served and scraped every second; medians of the runs)', 'ministries  workload     runs  ops/s off   ops/s on   change   p99 ms off  p99 ms on'];
  const keys = [...new Set(rows.filter((x) => x.metrics).map((x) => `${x.ministries} ${x.workload}`))];
  let logSum = 0;
  for (const key of keys) {
    const of = (m: 'on' | 'off') => rows.filter((x) => x.metrics === m && `${x.ministries} ${x.workload}` === key);
    const [a, b] = [of('off'), of('on')];
    if (a.length === 0 || b.length === 0) continue;
    const [offOps, onOps] = [median(a.map((x) => x.opsPerSec)), median(b.map((x) => x.opsPerSec))];
    logSum += Math.log(onOps / offOps);
    const change = (100 * (onOps - offOps)) / offOps;
    const [n, workload] = key.split(' ') as [string, string];
    lines.push(`${n.padEnd(10)}  ${workload.padEnd(11)}  ${String(a.length).padStart(4)}  ${offOps.toFixed(0).padStart(9)}  ${onOps.toFixed(0).padStart(9)}  ${`${change >= 0 ? '+' : ''}${change.toFixed(1)}%`.padStart(7)}  ${median(a.map((x) => x.p99Ms)).toFixed(3).padStart(10)} ${median(b.map((x) => x.p99Ms)).toFixed(3).padStart(10)}`);
  }
  const total = 100 * (Math.exp(logSum / keys.length) - 1);
  lines.push(`geometric mean of the workloads' ops/s ratios: ${total >= 0 ? '+' : ''}${total.toFixed(1)}% with metrics (goal: no more than 3% slower)`);
  return lines;
}

export function format(r: unknown): string {
  const rows = r as MetaRow[];
  const lines = ['metadata benchmark beside the thesis (DAS-5, Ethernet)', ...[...new Set(rows.map((x) => x.target))].map((t) => `  on ${t}`), ''];
  lines.push('ministries  workload     ops      ops/s      p50 ms   p99 ms   | thesis p50 ms  p99 ms');
  for (const x of rows) {
    lines.push(
      `${String(x.ministries).padEnd(10)}  ${`${x.workload}${x.metrics ? ` (metrics ${x.metrics})` : ''}${x.via === 'remote' ? ' (remote)' : ''}`.padEnd(11)}  ${String(x.ops).padEnd(7)}  ${x.opsPerSec.toFixed(0).padStart(8)}  ${x.p50Ms.toFixed(3).padStart(8)} ${x.p99Ms.toFixed(3).padStart(8)}   | ${x.thesisP50Ms.toFixed(3).padStart(12)} ${x.thesisP99Ms === null ? '     -' : x.thesisP99Ms.toFixed(3).padStart(7)}`,
    );
  }
  const creates = rows.filter((x) => x.workload.startsWith('create'));
  lines.push('');
  lines.push("create: 9 clients; 'create' has one create in flight per client, 'create-pipe' the --window (RIFL: a result per request)");
  for (const c of creates) {
    const perMinistry = c.opsPerSec / c.ministries;
    lines.push(`${c.workload}, ${c.ministries} ministr${c.ministries === 1 ? 'y' : 'ies'}, ${c.window ?? 1} in flight per client: ${perMinistry.toFixed(0)} creates/s per ministry = ${(perMinistry / 13).toFixed(0)}× the thesis's ≈13/s (goal ≥ 1000× = 13,000/s)`);
  }
  const ls = rows.filter((x) => x.workload.startsWith('ls'));
  lines.push(`ls p99 worst ${Math.max(...ls.map((x) => x.p99Ms)).toFixed(3)} ms (goal ≤ 1 ms)`);
  lines.push(...metricsCost(rows));
  lines.push(...remoteCost(rows));
  return lines.join('\n');
}
