// `npm run bench -- data [--mib M] [--rounds R] [--json]` (issue 17): file contents through a
// cluster on worker threads (3 nodes, so every chunk has a replica on each; lmdb in a temp
// folder on this disk): sequential writeFile and readFile of an M MiB file (default 32), with
// the client's pieces (192 KiB each) sent one after another (window 1) or four at a time
// (window 4), rounds alternating. Each piece goes to the three replicas in parallel in both.
// Prints the median MiB/s of each.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../src/cluster.js';

export const describe = 'file contents: sequential write and read MiB/s, 3 replicas on one disk, client window 1 vs 4';

export interface DataResult {
  mib: number;
  rounds: number;
  rows: { window: number; writeMiBs: number[]; readMiBs: number[] }[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export async function run(opts: Record<string, string | boolean | undefined>): Promise<DataResult> {
  const mib = Number(opts['mib'] ?? 32);
  const rounds = Number(opts['rounds'] ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'govfs-bench-data-'));
  const cluster = await Cluster.start({ nodes: 3, scheduler: 'threads', threads: 2, dataDir: dir });
  try {
    const data = Uint8Array.from({ length: mib << 20 }, (_, i) => (i * 7 + (i >> 11)) % 256);
    const rows = [1, 4].map((window) => ({ window, writeMiBs: [] as number[], readMiBs: [] as number[] }));
    for (let r = 0; r < rounds; r++) {
      for (const row of rows) {
        const fs = cluster.client({ dataWindow: row.window, dataTimeoutMs: 30_000 });
        const path = `/w${row.window}-${r}`;
        let t = performance.now();
        await fs.writeFile(path, data);
        row.writeMiBs.push(mib / ((performance.now() - t) / 1000));
        t = performance.now();
        const back = await fs.readFile(path);
        row.readMiBs.push(mib / ((performance.now() - t) / 1000));
        if (back.length !== data.length) throw new Error(`read ${back.length} bytes of ${data.length}`);
        await fs.rm(path);
      }
    }
    return { mib, rounds, rows };
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function format(r: DataResult): string {
  const lines = [`${r.mib} MiB file, ${r.rounds} rounds, 3 replicas (median [all] MiB/s)`, 'window  write                      read'];
  for (const row of r.rows) {
    lines.push(`${String(row.window).padEnd(8)}${`${median(row.writeMiBs).toFixed(1)} [${row.writeMiBs.map((x) => x.toFixed(1)).join(', ')}]`.padEnd(27)}${median(row.readMiBs).toFixed(1)} [${row.readMiBs.map((x) => x.toFixed(1)).join(', ')}]`);
  }
  return lines.join('\n');
}
