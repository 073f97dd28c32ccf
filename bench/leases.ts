// `npm run bench -- leases [--json] [--quick]`: capabilities as leases on the `threads`
// scheduler (lmdb, fsync on).
//   1. uncontended acquire + release of a write lease: latency p50/p99
//   2. the thesis's range-locking experiment (its section 5.2) done right: a file of 10 rows of
//      S bytes; W writers each write every row, with the data plane simulated by sleeping
//      (writes at 200 MB/s, as the thesis); lock-by-row (lock, write, release each row, in
//      random order) versus whole-file (lock the file, write all rows, release). Writing row n
//      costs one row of I/O here (the thesis's benchmark charged n+1 rows). Mean time per
//      writer, printed beside the thesis's (mislabelled: it is the writer sweep at 10 MB rows).
// Goals (issue 5): uncontended acquire p50 ≤ 1 ms; lock-by-row faster than whole-file for
// every W ≥ 2.

import type { GovClient } from '../src/fs/client.js';
import { progress, startTarget } from './target.js';

const MBPS = 200;
const ROWS = 10;
const THESIS = {
  writers: [1, 2, 4, 8, 16, 32],
  rangeByRowS: [2.83, 3.0, 3.52, 4.58, 7.29, 12.12],
  wholeFileS: [0.57, 0.82, 1.51, 2.65, 4.9, 9.6],
};

export interface LeasesResult {
  uncontended: { samples: number; acquireP50Ms: number; acquireP99Ms: number; releaseP50Ms: number; cycleP50Ms: number };
  sweep: { rowBytes: number; writers: number; byRowMeanMs: number; wholeFileMeanMs: number }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]!;

function shuffle<T>(a: T[]): T[] {
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [b[i], b[j]] = [b[j]!, b[i]!];
  }
  return b;
}

async function writer(c: GovClient, path: string, rowBytes: number, byRow: boolean): Promise<number> {
  const ioMs = (rowBytes / (MBPS * 1e6)) * 1000;
  const t0 = performance.now();
  if (byRow) {
    for (const row of shuffle([...Array(ROWS).keys()])) {
      const h = await c.open(path, { mode: 'write', range: [row * rowBytes, (row + 1) * rowBytes] });
      await sleep(ioMs);
      await h.release();
    }
  } else {
    const h = await c.open(path, { mode: 'write' });
    for (let row = 0; row < ROWS; row++) await sleep(ioMs);
    await h.release();
  }
  return performance.now() - t0;
}

export const describe = 'uncontended lease latency, and the thesis range-locking sweep (row vs whole-file) on threads + lmdb (--quick, --server host:port)';

export async function run(o: Record<string, string | boolean | undefined>): Promise<LeasesResult> {
  const quick = o.quick === true;
  const target = await startTarget(o, { nodes: 4 });
  try {
    const admin = await target.client();
    const base = `/leases-${Math.floor(performance.now())}`;
    await admin.mkdir(base);
    await admin.create(`${base}/u`);
    // The first write lease waits out the new minister's grace period.
    await (await admin.open(`${base}/u`, { mode: 'write' })).release();
    const acq: number[] = [];
    const rel: number[] = [];
    const cyc: number[] = [];
    for (let i = 0; i < (quick ? 100 : 500); i++) {
      const t0 = performance.now();
      const h = await admin.open(`${base}/u`, { mode: 'write' });
      const t1 = performance.now();
      await h.release();
      const t2 = performance.now();
      acq.push(t1 - t0);
      rel.push(t2 - t1);
      cyc.push(t2 - t0);
    }
    const sweep: LeasesResult['sweep'] = [];
    const sizes = quick ? [1_000, 1_000_000] : [1_000, 1_000_000, 10_000_000];
    const writersList = quick ? [1, 2, 8] : THESIS.writers;
    let file = 0;
    const pool = await Promise.all(Array.from({ length: Math.max(...writersList) }, () => target.client()));
    const tick = progress(sizes.length * writersList.length);
    for (const rowBytes of sizes) {
      for (const w of writersList) {
        const result = { rowBytes, writers: w, byRowMeanMs: 0, wholeFileMeanMs: 0 };
        for (const byRow of [true, false]) {
          const path = `${base}/mat${file++}`;
          await admin.create(path);
          const clients = pool.slice(0, w);
          const times = await Promise.all(clients.map((c) => writer(c, path, rowBytes, byRow)));
          const mean = times.reduce((a, b) => a + b, 0) / times.length;
          if (byRow) result.byRowMeanMs = mean;
          else result.wholeFileMeanMs = mean;
        }
        sweep.push(result);
        tick(`rows of ${rowBytes} B, ${w} writer(s)`);
      }
    }
    return {
      uncontended: { samples: acq.length, acquireP50Ms: q(acq, 0.5), acquireP99Ms: q(acq, 0.99), releaseP50Ms: q(rel, 0.5), cycleP50Ms: q(cyc, 0.5) },
      sweep,
    };
  } finally {
    await target.close();
  }
}

export function format(r: unknown): string {
  const x = r as LeasesResult;
  const u = x.uncontended;
  const lines = [
    'leases benchmark (threads scheduler, 4 nodes, lmdb with fsync)',
    '',
    `uncontended write lease: acquire p50 ${u.acquireP50Ms.toFixed(2)} ms, p99 ${u.acquireP99Ms.toFixed(2)} ms; release p50 ${u.releaseP50Ms.toFixed(2)} ms (${u.samples} cycles; goal acquire p50 <= 1 ms: ${u.acquireP50Ms <= 1 ? 'met' : 'NOT met'})`,
    `  (thesis: uncontended lock overhead about 1-2 ms)`,
    '',
    'range locking: mean time per writer, 10 rows, writes simulated at 200 MB/s',
    'row bytes   writers   by row (ms)   whole file (ms)   row locking wins?',
  ];
  for (const s of x.sweep) {
    lines.push(`${String(s.rowBytes).padStart(9)}   ${String(s.writers).padStart(7)}   ${s.byRowMeanMs.toFixed(1).padStart(11)}   ${s.wholeFileMeanMs.toFixed(1).padStart(15)}   ${s.byRowMeanMs < s.wholeFileMeanMs ? 'yes' : 'no'}`);
  }
  lines.push('', "the thesis's table (its figures are the writer sweep at 10 MB rows; row n charged n+1 rows of I/O):");
  lines.push(`writers               ${THESIS.writers.map((w) => String(w).padStart(6)).join('')}`);
  lines.push(`RangeByRow mean (s)   ${THESIS.rangeByRowS.map((v) => v.toFixed(2).padStart(6)).join('')}`);
  lines.push(`RangeWholeFile (s)    ${THESIS.wholeFileS.map((v) => v.toFixed(2).padStart(6)).join('')}`);
  const losses = x.sweep.filter((s) => s.writers >= 2 && s.byRowMeanMs >= s.wholeFileMeanMs);
  lines.push('', losses.length === 0 ? 'row locking beats whole-file for every W >= 2 (goal met)' : `row locking loses at: ${losses.map((s) => `${s.rowBytes} B x ${s.writers}`).join(', ')} (lock round trips cost more than the I/O they let overlap)`);
  return lines.join('\n');
}
