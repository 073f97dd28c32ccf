// `npm run bench -- trace-create [--quick] [--json] [--ttl MS] [--seconds S] [--every N]`: where a create's
// time goes (issue 19, point 5). The in-process cluster of `bench meta --ministries 1` (threads
// scheduler, lmdb with fsync, clients on the main thread); a lone client, then 9 clients with
// one create in flight each. Each runs untraced first (the reference latency), then with
// request tracing on (src/runtime/trace.ts), one create traced at a time, and prints the
// traced creates' critical path hop by hop (bench/trace-path.ts): per hop the p50/p99 ms per
// create and its share of the total. Also the raw cost of a 4 KiB write + fdatasync on the same
// disk, measured in the same run, and the process's CPU time per create.

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tracer, type TraceEvent } from '../src/runtime/trace.js';
import type { GovClient } from '../src/client/gov-client.js';
import { startTarget } from './target.js';
import { criticalPaths, hopTable, quantile, roleNamer, type HopRow } from './trace-path.js';

export interface LatencySummary {
  creates: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface TracePhase {
  label: string;
  clients: number;
  untraced: LatencySummary;
  traced: LatencySummary;
  /** CPU time of the whole process (every thread) per create, tracing off and on. */
  cpuMsPerCreate: { untraced: number; traced: number };
  traces: number;
  /** Traces whose path could not be followed to the answer (expired, redirected). */
  incomplete: number;
  /** Client-side latency of the creates client 0 armed a trace for (with a lone client, exactly
   * the traced ones; with 9, any client's next create may have taken the trace). */
  armedP50Ms: number;
  /** The traced creates' latency from the client's send to its answer. */
  pathP50Ms: number;
  pathP99Ms: number;
  hops: HopRow[];
  /** Every fsync wait (leader and clerks, on the path or not). */
  fsync: { n: number; p50Ms: number; p99Ms: number };
  /** Every doorbell wake-up: a traced send to a parked thread until it ran. */
  wake: { n: number; p50Ms: number; p99Ms: number };
}

export interface TraceCreateResult {
  target: string;
  rawFsync: { n: number; p50Ms: number; p99Ms: number };
  loadAvg: number[];
  ttlMs: number;
  phases: TracePhase[];
}

/** 4 KiB written and fdatasync'ed `n` times in a fresh file in the temporary folder. */
function measureFsync(n: number): { n: number; p50Ms: number; p99Ms: number } {
  const dir = mkdtempSync(join(tmpdir(), 'govfs-fsync-'));
  const fd = openSync(join(dir, 'f'), 'w');
  const block = Buffer.alloc(4096, 7);
  const lat: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      writeSync(fd, block, 0, block.length, i * block.length);
      fdatasyncSync(fd);
      lat.push(performance.now() - s);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  lat.sort((a, b) => a - b);
  return { n, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99) };
}

function summary(values: number[]): { n: number; p50Ms: number; p99Ms: number } {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99) };
}

const isCreate = (m: unknown): boolean => (m as { type?: string }).type === 'govfs.fs.FsRequest' && (m as { create?: unknown }).create != null;

/** `clients` creating files back to back for `ms`; client 0 arms a trace before every
 * `traceEvery`-th create of its own (any client's next create may take it). By count, not by
 * time: arming when some time had passed picked, more often than not, the create after a slow
 * one, itself slow (measured: armed creates p50 13 ms where the run's p50 was 2.4 ms). */
async function creates(clients: GovClient[], dir: string, tag: string, ms: number, traceEvery: number | null): Promise<{ lat: number[]; armed: number[]; secs: number; cpuMs: number }> {
  const lat: number[] = [];
  const armed: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + ms;
  await Promise.all(
    clients.map(async (c, id) => {
      for (let i = 0; performance.now() < until; i++) {
        const arm = traceEvery !== null && id === 0 && i % traceEvery === traceEvery - 1;
        if (arm) tracer.arm(isCreate);
        const s = performance.now();
        await c.create(`${dir}/${tag}${id}-${i}`);
        lat.push(performance.now() - s);
        if (arm) armed.push(lat.at(-1)!);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { lat, armed, secs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function latencies(r: { lat: number[]; secs: number }): LatencySummary {
  const s = [...r.lat].sort((a, b) => a - b);
  return { creates: s.length, perSec: s.length / r.secs, p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99) };
}

export const describe = "where a create's time goes: traced creates hop by hop, a lone client and 9 clients x 1 in flight, threads + lmdb (--quick, --ttl MS, --seconds S, --every N)";

export async function run(o: Record<string, string | boolean | undefined>): Promise<TraceCreateResult> {
  const quick = o.quick === true;
  const ttlMs = typeof o.ttl === 'string' ? Number(o.ttl) : 100;
  const seconds = typeof o.seconds === 'string' ? Number(o.seconds) : quick ? 2 : 6;
  // Traces may overlap when creates are fast; an actor carries only the newest, so the older
  // one may then not be followed to its answer (counted as such).
  const every = typeof o.every === 'string' ? Math.max(1, Number(o.every)) : 10;
  if (typeof o.server === 'string') throw new Error('trace-create traces an in-process cluster only (no --server)');
  const rawFsync = measureFsync(quick ? 100 : 400);
  const target = await startTarget(o, { nodes: 4 });
  const phases: TracePhase[] = [];
  try {
    const sch = target.cluster?.threadsScheduler;
    if (!sch) throw new Error('trace-create needs the threads scheduler');
    const roleOf = roleNamer(await target.status());
    const dir = `/trace-${Math.floor(performance.now())}`;
    const setup = await target.client();
    await setup.mkdir(dir);
    for (const [label, n] of [['lone client', 1], ['9 clients x 1 in flight', 9]] as const) {
      const clients = await Promise.all(Array.from({ length: n }, () => target.client()));
      await creates(clients, dir, `warm${n}-`, quick ? 300 : 1_500, null); // JIT; each client learns the minister
      const plain = await creates(clients, dir, `plain${n}-`, seconds * 1000, null);
      await sch.trace(true, ttlMs);
      const traced = await creates(clients, dir, `traced${n}-`, seconds * 1000, every);
      await sch.trace(false);
      const events: TraceEvent[] = await sch.traceDrain();
      const { paths, incomplete } = criticalPaths(events, roleOf);
      const totals = paths.map((p) => p.totalMs).sort((a, b) => a - b);
      const sends = new Map<string, TraceEvent[]>();
      for (const e of events) if (e.kind === 'send') (sends.get(`${e.trace} ${e.where} ${e.what}`) ?? sends.set(`${e.trace} ${e.where} ${e.what}`, []).get(`${e.trace} ${e.where} ${e.what}`)!).push(e);
      const wakes: number[] = [];
      for (const e of events) {
        if (e.kind !== 'recv' || e.wokeAt === undefined) continue;
        const sent = (sends.get(`${e.trace} ${e.where} ${e.what}`) ?? []).filter((s) => s.t <= e.t && s.thread !== e.thread).at(-1);
        if (sent && e.wokeAt > sent.t) wakes.push(e.wokeAt - sent.t);
      }
      phases.push({
        label,
        clients: n,
        untraced: latencies(plain),
        traced: latencies(traced),
        cpuMsPerCreate: { untraced: plain.cpuMs / plain.lat.length, traced: traced.cpuMs / traced.lat.length },
        traces: paths.length + incomplete,
        incomplete,
        armedP50Ms: quantile([...traced.armed].sort((a, b) => a - b), 0.5),
        pathP50Ms: quantile(totals, 0.5),
        pathP99Ms: quantile(totals, 0.99),
        hops: hopTable(paths),
        fsync: summary(events.filter((e) => e.kind === 'piped' && e.what === 'ShellSignal.persisted').map((e) => e.ms ?? 0)),
        wake: summary(wakes),
      });
      process.stderr.write(`${label}: ${paths.length} traces\n`);
    }
  } finally {
    await target.close();
  }
  return { target: target.describe, rawFsync, loadAvg: loadavg(), ttlMs, phases };
}

const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-').padStart(8);

export function format(r: unknown): string {
  const x = r as TraceCreateResult;
  const lines = [
    "where a create's time goes (traced creates, critical path from the client's send to its answer)",
    `  on ${x.target}; load average ${x.loadAvg.map((l) => l.toFixed(2)).join(' ')} (other work on the machine moves these figures)`,
    `  raw disk: 4 KiB write + fdatasync p50 ${x.rawFsync.p50Ms.toFixed(3)} ms, p99 ${x.rawFsync.p99Ms.toFixed(3)} ms (${x.rawFsync.n} in a row, same run)`,
  ];
  for (const p of x.phases) {
    lines.push('', `${p.label}:`);
    lines.push(`  untraced: ${p.untraced.creates} creates, ${p.untraced.perSec.toFixed(0)}/s, p50 ${p.untraced.p50Ms.toFixed(3)} ms, p99 ${p.untraced.p99Ms.toFixed(3)} ms, CPU ${p.cpuMsPerCreate.untraced.toFixed(3)} ms/create (all threads)`);
    lines.push(`  traced:   ${p.traced.creates} creates, ${p.traced.perSec.toFixed(0)}/s, p50 ${p.traced.p50Ms.toFixed(3)} ms, p99 ${p.traced.p99Ms.toFixed(3)} ms, CPU ${p.cpuMsPerCreate.traced.toFixed(3)} ms/create`);
    lines.push(`  ${p.traces} traces (${p.incomplete} not followed to the answer); their path p50 ${p.pathP50Ms.toFixed(3)} ms, p99 ${p.pathP99Ms.toFixed(3)} ms; client 0's armed creates p50 ${p.armedP50Ms.toFixed(3)} ms`);
    lines.push(`  every fsync wait (storage sync: a node's journal write, leader and clerks): n ${p.fsync.n}, p50 ${p.fsync.p50Ms.toFixed(3)} ms, p99 ${p.fsync.p99Ms.toFixed(3)} ms; every doorbell wake-up: n ${p.wake.n}, p50 ${p.wake.p50Ms.toFixed(3)} ms, p99 ${p.wake.p99Ms.toFixed(3)} ms`);
    lines.push(`  ${'hop'.padEnd(72)} traces   p50 ms   p99 ms   share`);
    const shown = p.hops.slice(0, 18);
    for (const h of shown) lines.push(`  ${h.hop.slice(0, 72).padEnd(72)} ${String(h.traces).padStart(6)} ${f(h.p50Ms)} ${f(h.p99Ms)} ${`${(100 * h.share).toFixed(1)}%`.padStart(7)}`);
    const rest = p.hops.slice(shown.length);
    if (rest.length) lines.push(`  ${`(${rest.length} more hops)`.padEnd(72)} ${''.padStart(6)} ${''.padStart(8)} ${''.padStart(8)} ${`${(100 * rest.reduce((a, h) => a + h.share, 0)).toFixed(1)}%`.padStart(7)}`);
  }
  return lines.join('\n');
}
