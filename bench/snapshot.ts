// `npm run bench -- snapshot [--files N] [--quick] [--json]` (issue 19, item 4): what a
// namespace snapshot of N files (default 55,000) costs the thread that takes it, and what
// handing the work to a piscina pool would cost that thread instead.
//   encode / decode          Namespace.snapshot() and Namespace.restore(): today both run on
//                            the ministry's actor thread (the Raft shell's compaction, and
//                            a follower installing a snapshot)
//   loop stall               the longest event-loop delay on this thread while it encodes
//   clone of the tree        structuredClone of the inode tree: the "cheap frozen copy" a
//                            pool would need, since a worker cannot read this thread's objects
//   pool round trip          the encoded bytes posted to a piscina worker that decodes and
//                            re-encodes them: the caller's thread only copies bytes
// Times are the median of the runs (wall clock; on a loaded machine read them as upper bounds).

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Namespace } from '../src/fs/namespace.js';

export const describe = 'a namespace snapshot of 55k files: encode/decode time, the actor-thread stall, and a piscina pool round trip';

export interface SnapshotResult {
  files: number;
  bytes: number;
  encodeMs: number;
  decodeMs: number;
  stallMs: number;
  cloneMs: number;
  pool: { roundTripMs: number; decodeMs: number; encodeMs: number; ranOnThread: number; callerThread: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(runs: number, fn: () => void): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    fn();
    t.push(performance.now() - a);
  }
  return median(t);
}

function build(files: number): Namespace {
  const ns = new Namespace('/', { now: 1 });
  const perDir = 1000;
  for (let d = 0; d * perDir < files; d++) {
    ns.apply({ op: 'mkdir', path: `/d${d}`, now: 1 });
    for (let f = 0; f < perDir && d * perDir + f < files; f++) ns.apply({ op: 'create', path: `/d${d}/file-${f}`, now: 1 });
  }
  return ns;
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<SnapshotResult> {
  const files = Number(opts.files ?? 55_000);
  const runs = opts.quick ? 3 : 7;
  const ns = build(files);
  let bytes = ns.snapshot();
  const encodeMs = time(runs, () => void (bytes = ns.snapshot()));
  const decodeMs = time(runs, () => void Namespace.restore(bytes));
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 20));
  const ticker = setInterval(() => {}, 1);
  for (let i = 0; i < runs; i++) {
    ns.snapshot();
    await new Promise((r) => setTimeout(r, 5));
  }
  clearInterval(ticker);
  h.disable();
  const stallMs = h.max / 1e6;
  const tree = (ns as unknown as { rootNode: unknown }).rootNode;
  const cloneMs = time(runs, () => void structuredClone(tree));
  const pool = new Piscina({ filename: new URL(`./snapshot-pool-task${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href, maxThreads: 1 });
  try {
    const trips: number[] = [];
    let last = { threadId: 0, bytes: 0, decodeMs: 0, encodeMs: 0 };
    for (let i = 0; i < runs; i++) {
      const a = performance.now();
      last = (await pool.run(bytes.slice())) as typeof last;
      trips.push(performance.now() - a);
    }
    if (last.bytes !== bytes.length) throw new Error(`the pool re-encoded ${last.bytes} bytes, not ${bytes.length}`);
    return {
      files, bytes: bytes.length, encodeMs, decodeMs, stallMs, cloneMs,
      pool: { roundTripMs: median(trips), decodeMs: last.decodeMs, encodeMs: last.encodeMs, ranOnThread: last.threadId, callerThread: threadId },
    };
  } finally {
    await pool.destroy();
  }
}

export function format(r: SnapshotResult): string {
  const f = (x: number) => `${x.toFixed(1)} ms`;
  return [
    `namespace snapshot of ${r.files} files: ${(r.bytes / 1e6).toFixed(1)} MB`,
    `  encode on the actor thread        ${f(r.encodeMs)}`,
    `  decode (restore) on the thread     ${f(r.decodeMs)}`,
    `  longest event-loop stall (encode)  ${f(r.stallMs)}   (goal: ≤ 5 ms)`,
    `  structuredClone of the tree        ${f(r.cloneMs)}   (what handing a copy to a worker costs the thread)`,
    `  piscina round trip of the bytes    ${f(r.pool.roundTripMs)}   (decode ${f(r.pool.decodeMs)} + encode ${f(r.pool.encodeMs)} on worker thread ${r.pool.ranOnThread}; caller thread ${r.pool.callerThread})`,
  ].join('\n');
}
