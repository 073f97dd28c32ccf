// `npm run bench -- lone [--quick] [--json] [--burst N] [--creates N] [--seconds S] [--threads W]`: one client
// alone (issue 19's lone-client row), over time. A few hundred creates one at a time, then
// listings of a 10-file directory back to back for S seconds; per 200 ms window the listing
// p50, and (Linux) on which CPU the client's thread and the cluster's worker thread last ran
// and how long each waited on the run queue per time it was scheduled.
//
// Why: right after a burst of creates a lone ls took 2-9 ms p50 for 1-2 s, then 0.1 ms. No hop
// of a traced ls waits on govfs work in that time (the clerk answers in microseconds); the
// milliseconds are the two doorbell wake-ups, and /proc shows both threads runnable but not
// running (run-queue wait ~2 ms per wake-up) whenever they sit on different CPUs of a machine
// with other work on every CPU: a wake-up then waits for the other CPU's running task's slice.
// Once the scheduler has pulled them onto one CPU (wake-affine, after some hundreds of
// ping-pongs) a wake-up hands the CPU over at once. This benchmark shows it per window.

import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { quantile } from './trace-path.js';

/** One thread's counters from /proc: the CPU it last ran on, ms run, ms waited runnable, times scheduled. */
interface ThreadSample {
  cpu: number;
  runMs: number;
  waitMs: number;
  slices: number;
}

function sampleThread(tid: number): ThreadSample | null {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [run, wait, slices] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    // Field 39 (processor) is the 37th after the command's closing parenthesis.
    return { cpu: Number(f[36]), runMs: run! / 1e6, waitMs: wait! / 1e6, slices: slices! };
  } catch {
    return null;
  }
}

/** The thread besides this one that has run the most: with one worker thread, the worker. */
function busiestOtherThread(): number | null {
  let best: number | null = null;
  let most = -1;
  try {
    for (const t of readdirSync('/proc/self/task')) {
      const tid = Number(t);
      if (tid === process.pid) continue;
      const s = sampleThread(tid);
      if (s && s.runMs > most) [best, most] = [tid, s.runMs];
    }
  } catch {
    return null;
  }
  return best;
}

export interface LoneSample {
  /** ms since the listings began. */
  t: number;
  ms: number;
  /** Did the client's thread and the worker last run on the same CPU (null: not known)? */
  sameCpu: boolean | null;
}

export interface LoneWindow {
  fromMs: number;
  n: number;
  p50Ms: number;
  p99Ms: number;
  /** Share of the listings whose threads last ran on one CPU (NaN: not known). */
  sameCpuShare: number;
  p50SameMs: number;
  p50OtherMs: number;
  /** Run-queue wait per time scheduled in this window, client thread and worker (NaN: not known). */
  mainWaitMs: number;
  workerWaitMs: number;
  /** Share of the window the client's thread and the worker thread ran (busy with anything). */
  mainBusy: number;
  workerBusy: number;
}

/** Listings grouped into windows of `windowMs`, in time order. */
export function loneWindows(samples: readonly LoneSample[], windowMs: number): Omit<LoneWindow, 'mainWaitMs' | 'workerWaitMs' | 'mainBusy' | 'workerBusy'>[] {
  const groups = new Map<number, LoneSample[]>();
  for (const s of samples) {
    const k = Math.floor(s.t / windowMs);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(s);
  }
  const p50 = (list: LoneSample[]): number => quantile(list.map((s) => s.ms).sort((a, b) => a - b), 0.5);
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, g]) => {
      const ms = g.map((s) => s.ms).sort((a, b) => a - b);
      const known = g.filter((s) => s.sameCpu !== null);
      const same = known.filter((s) => s.sameCpu === true);
      return {
        fromMs: k * windowMs,
        n: g.length,
        p50Ms: quantile(ms, 0.5),
        p99Ms: quantile(ms, 0.99),
        sameCpuShare: known.length === 0 ? NaN : same.length / known.length,
        p50SameMs: p50(same),
        p50OtherMs: p50(known.filter((s) => s.sameCpu === false)),
      };
    });
}

export interface LoneResult {
  target: string;
  loadAvg: number[];
  creates: { n: number; p50Ms: number; p99Ms: number };
  ls: { n: number; p50Ms: number; p50SameMs: number; p50OtherMs: number };
  windows: LoneWindow[];
}

export const describe = 'one client alone over time: creates one at a time, then ls back to back; per 200 ms window the p50 and whether client and worker shared a CPU (--quick, --burst N, --creates N, --seconds S)';

const WINDOW_MS = 200;

export async function run(o: Record<string, string | boolean | undefined>): Promise<LoneResult> {
  const quick = o.quick === true;
  const createCount = typeof o.creates === 'string' ? Number(o.creates) : 200;
  const seconds = typeof o.seconds === 'string' ? Number(o.seconds) : quick ? 2 : 3;
  if (typeof o.server === 'string') throw new Error('lone watches the threads of an in-process cluster (no --server)');
  // Imported here, so that the test of loneWindows does not load a cluster.
  const { startTarget } = await import('./target.js');
  const target = await startTarget({ threads: '1', ...o }, { nodes: 4 });
  try {
    const c = await target.client();
    // Listed: 10 files; created: elsewhere, so that the listing stays 10 entries long.
    const dir = `/lone-${Math.floor(performance.now())}`;
    const into = `${dir}-creates`;
    await c.mkdir(dir);
    await c.mkdir(into);
    for (let f = 0; f < 10; f++) await c.create(`${dir}/f${f}`);
    for (let i = 0; i < 200; i++) await c.ls(dir); // JIT
    // --burst N: first N creates from 9 clients, 32 in flight each (as bench meta's create phases).
    const burst = typeof o.burst === 'string' ? Number(o.burst) : 0;
    if (burst > 0) {
      const writers = await Promise.all(Array.from({ length: 9 }, () => target.client()));
      let next = 0;
      await Promise.all(writers.map((w, id) => Promise.all(Array.from({ length: 32 }, async () => {
        for (let i = next++; i < burst; i = next++) await w.create(`${into}/b${id}-${i}`);
      }))));
    }
    const created: number[] = [];
    for (let i = 0; i < createCount; i++) {
      const s = performance.now();
      await c.create(`${into}/c${i}`);
      created.push(performance.now() - s);
    }
    const worker = busiestOtherThread();
    const samples: LoneSample[] = [];
    const waits: { t: number; main: ThreadSample | null; worker: ThreadSample | null }[] = [];
    const t0 = performance.now();
    for (let next = 0; performance.now() - t0 < seconds * 1000; ) {
      const s = performance.now();
      if (s - t0 >= next) {
        waits.push({ t: s - t0, main: sampleThread(process.pid), worker: worker === null ? null : sampleThread(worker) });
        next += WINDOW_MS;
      }
      await c.ls(dir);
      const ms = performance.now() - s;
      // Read after the listing, outside the time measured.
      const a = sampleThread(process.pid);
      const b = worker === null ? null : sampleThread(worker);
      samples.push({ t: s - t0, ms, sameCpu: a && b ? a.cpu === b.cpu : null });
    }
    waits.push({ t: performance.now() - t0, main: sampleThread(process.pid), worker: worker === null ? null : sampleThread(worker) });
    type Mark = (typeof waits)[number] | undefined;
    const busyShare = (x: Mark, y: Mark, who: 'main' | 'worker'): number => {
      const [a, b] = [x?.[who], y?.[who]];
      return a && b && y!.t > x!.t ? (b.runMs - a.runMs) / (y!.t - x!.t) : NaN;
    };
    const perSlice = (x: ThreadSample | null, y: ThreadSample | null): number => (x && y && y.slices > x.slices ? (y.waitMs - x.waitMs) / (y.slices - x.slices) : NaN);
    const windows = loneWindows(samples, WINDOW_MS).map((w, i) => ({
      ...w,
      mainWaitMs: perSlice(waits[i]?.main ?? null, waits[i + 1]?.main ?? null),
      workerWaitMs: perSlice(waits[i]?.worker ?? null, waits[i + 1]?.worker ?? null),
      mainBusy: busyShare(waits[i], waits[i + 1], 'main'),
      workerBusy: busyShare(waits[i], waits[i + 1], 'worker'),
    }));
    const all = loneWindows(samples.map((s) => ({ ...s, t: 0 })), 1)[0]!;
    const sorted = [...created].sort((a, b) => a - b);
    return {
      target: target.describe,
      loadAvg: loadavg(),
      creates: { n: created.length, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) },
      ls: { n: all.n, p50Ms: all.p50Ms, p50SameMs: all.p50SameMs, p50OtherMs: all.p50OtherMs },
      windows,
    };
  } finally {
    await target.close();
  }
}

const f = (x: number, w = 7): string => (Number.isFinite(x) ? x.toFixed(3) : '-').padStart(w);

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '-').padStart(4);

export function format(r: unknown): string {
  const x = r as LoneResult;
  const lines = [
    `one client alone on ${x.target}; load average ${x.loadAvg.map((l) => l.toFixed(2)).join(' ')}`,
    `  ${x.creates.n} creates one at a time: p50 ${f(x.creates.p50Ms)} ms, p99 ${f(x.creates.p99Ms)} ms`,
    `  then ${x.ls.n} ls back to back: p50 ${f(x.ls.p50Ms)} ms; p50 with the client and the worker last on one CPU ${f(x.ls.p50SameMs)} ms, on two ${f(x.ls.p50OtherMs)} ms`,
    `  ${'from ms'.padStart(7)} ${'ls'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'1 CPU'.padStart(6)} ${'p50 1'.padStart(7)} ${'p50 2'.padStart(7)}  busy client / worker, run-queue wait per wake-up client / worker (ms)`,
  ];
  for (const w of x.windows) {
    const share = Number.isFinite(w.sameCpuShare) ? `${(100 * w.sameCpuShare).toFixed(0)}%` : '-';
    lines.push(`  ${String(w.fromMs).padStart(7)} ${String(w.n).padStart(6)} ${f(w.p50Ms)} ${f(w.p99Ms)} ${share.padStart(6)} ${f(w.p50SameMs)} ${f(w.p50OtherMs)}  ${pct(w.mainBusy)} / ${pct(w.workerBusy)} ${f(w.mainWaitMs)} / ${f(w.workerWaitMs)}`);
  }
  return lines.join('\n');
}
