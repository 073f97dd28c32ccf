// `npm run bench -- rename [--n N] [--json]` (issue 16, point 5): what a rename across
// ministries costs beside one inside a ministry. A cluster of two ministries ("/" and "/a"),
// on the simulator (virtual time: the protocol's own latency, its message rounds and log
// commits, without CPU) and on worker threads with lmdb (wall clock, on whatever load the
// machine has). One client renames a file back and forth N times (default 100): within /a,
// and between /a and /. Median and p99 per rename.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../src/cluster.js';

export const describe = 'rename latency inside one ministry vs across two (two-phase commit), sim and threads';

export interface RenameRow {
  scheduler: 'sim' | 'threads';
  kind: 'inside' | 'across';
  n: number;
  medianMs: number;
  p99Ms: number;
}

async function measure(cluster: Cluster, n: number, across: boolean): Promise<number[]> {
  const fs = cluster.client();
  const a = '/a/f';
  const b = across ? '/f' : '/a/g';
  await fs.create(a);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = cluster.now();
    try {
      await (i % 2 === 0 ? fs.rename(a, b) : fs.rename(b, a));
    } catch (e) {
      throw new Error(`rename ${i} (${across ? 'across' : 'inside'}): ${String(e)}`);
    }
    times.push(cluster.now() - t0);
  }
  await fs.rm(n % 2 === 0 ? a : b);
  return times.sort((x, y) => x - y);
}

export async function run(o: Record<string, string | boolean | undefined>): Promise<RenameRow[]> {
  const n = Number(o['n'] ?? 100);
  const rows: RenameRow[] = [];
  for (const scheduler of ['sim', 'threads'] as const) {
    const dataDir = scheduler === 'threads' ? mkdtempSync(join(tmpdir(), 'govfs-bench-rename-')) : undefined;
    const cluster = await Cluster.start({ nodes: 8, scheduler, seed: 1, ministries: [{ subtree: '/a', clerks: 2 }], ...(dataDir ? { dataDir, threads: 2 } : {}) });
    try {
      for (const kind of ['inside', 'across'] as const) {
        const t = await measure(cluster, n, kind === 'across');
        rows.push({ scheduler, kind, n, medianMs: t[Math.floor(t.length / 2)]!, p99Ms: t[Math.min(t.length - 1, Math.floor(t.length * 0.99))]! });
      }
    } finally {
      await cluster.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return rows;
}

export function format(rows: RenameRow[]): string {
  const lines = ['scheduler  rename   n     median ms   p99 ms'];
  for (const r of rows) lines.push(`${r.scheduler.padEnd(10)} ${r.kind.padEnd(8)} ${String(r.n).padEnd(5)} ${r.medianMs.toFixed(2).padStart(9)}   ${r.p99Ms.toFixed(2).padStart(7)}`);
  return lines.join('\n');
}
