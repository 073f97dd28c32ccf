// `npm run bench -- trace-lease [--quick] [--json] [--ttl MS] [--cycles N]`: where an uncontended
// write lease's acquire goes, hop by hop (as trace-create does for a create): the cluster of
// `bench leases` (threads scheduler, lmdb with fsync, the client on the main thread), one client
// opening and releasing a write lease on one file; every open is traced, one at a time, and the
// critical path of each is lined up (bench/trace-path.ts).

import { loadavg } from 'node:os';
import { tracer } from '../src/runtime/trace.js';
import { startTarget } from './target.js';
import { criticalPaths, hopTable, quantile, roleNamer, type HopRow } from './trace-path.js';

export interface TraceLeaseResult {
  target: string;
  loadAvg: number[];
  untracedP50Ms: number;
  tracedP50Ms: number;
  traces: number;
  incomplete: number;
  pathP50Ms: number;
  hops: HopRow[];
}

const isOpen = (m: unknown): boolean => (m as { type?: string }).type === 'govfs.fs.FsRequest' && (m as { leaseOpen?: unknown }).leaseOpen != null;

export const describe = "where an uncontended write lease's acquire goes, hop by hop, threads + lmdb (--quick, --ttl MS, --cycles N)";

export async function run(o: Record<string, string | boolean | undefined>): Promise<TraceLeaseResult> {
  const ttlMs = typeof o.ttl === 'string' ? Number(o.ttl) : 100;
  const cycles = typeof o.cycles === 'string' ? Number(o.cycles) : o.quick === true ? 100 : 400;
  if (typeof o.server === 'string') throw new Error('trace-lease traces an in-process cluster only (no --server)');
  const target = await startTarget(o, { nodes: 4 });
  try {
    const sch = target.cluster?.threadsScheduler;
    if (!sch) throw new Error('trace-lease needs the threads scheduler');
    const roleOf = roleNamer(await target.status());
    const c = await target.client();
    const file = `/trace-lease-${Math.floor(performance.now())}`;
    await c.create(file);
    const cycle = async (trace: boolean): Promise<number> => {
      if (trace) tracer.arm(isOpen);
      const t0 = performance.now();
      const h = await c.open(file, { mode: 'write' });
      const ms = performance.now() - t0;
      await h.release();
      return ms;
    };
    for (let i = 0; i < cycles; i++) await cycle(false); // JIT, grace period
    const plain: number[] = [];
    for (let i = 0; i < cycles; i++) plain.push(await cycle(false));
    await sch.trace(true, ttlMs);
    const traced: number[] = [];
    for (let i = 0; i < cycles; i++) traced.push(await cycle(true));
    await sch.trace(false);
    const { paths, incomplete } = criticalPaths(await sch.traceDrain(), roleOf);
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    return {
      target: target.describe,
      loadAvg: loadavg(),
      untracedP50Ms: quantile(sorted(plain), 0.5),
      tracedP50Ms: quantile(sorted(traced), 0.5),
      traces: paths.length + incomplete,
      incomplete,
      pathP50Ms: quantile(sorted(paths.map((p) => p.totalMs)), 0.5),
      hops: hopTable(paths),
    };
  } finally {
    await target.close();
  }
}

const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-').padStart(8);

export function format(r: unknown): string {
  const x = r as TraceLeaseResult;
  const lines = [
    "where an uncontended write lease's acquire goes (critical path from the client's send to its answer)",
    `  on ${x.target}; load average ${x.loadAvg.map((l) => l.toFixed(2)).join(' ')}`,
    `  acquire p50 untraced ${x.untracedP50Ms.toFixed(3)} ms, traced ${x.tracedP50Ms.toFixed(3)} ms; ${x.traces} traces (${x.incomplete} not followed to the answer), path p50 ${x.pathP50Ms.toFixed(3)} ms`,
    `  ${'hop'.padEnd(72)} traces   p50 ms   p99 ms   share`,
  ];
  for (const h of x.hops.slice(0, 30)) lines.push(`  ${h.hop.slice(0, 72).padEnd(72)} ${String(h.traces).padStart(6)} ${f(h.p50Ms)} ${f(h.p99Ms)} ${`${(100 * h.share).toFixed(1)}%`.padStart(7)}`);
  return lines.join('\n');
}
