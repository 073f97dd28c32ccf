// `npm run bench -- metrics-cost [--seconds S] [--rounds K]`: the CPU that serving /metrics
// (and the web view's poll) costs a cluster, measured as CPU time rather than throughput, which
// on a loaded machine varies by tens of percent from run to run (see `meta --metrics`). An
// idle in-process cluster (5 nodes, threads + lmdb) is measured for S seconds (default 15)
// without the ops server, then S seconds with it (status poll every second, /metrics scraped
// every second), K times (default 2) in alternating order: the process's CPU time (every
// thread: user + system) and each thread's event-loop busy time, per second.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../src/cluster.js';
import { OpsServer } from '../src/ops/http.js';
import { clusterSource } from '../src/ops/source.js';

export interface CostRow {
  metrics: 'on' | 'off';
  seconds: number;
  /** CPU ms per second of the whole process. */
  cpuMsPerSec: number;
  /** Event-loop busy ms per second, by thread. */
  busyMsPerSec: Record<string, number>;
}

export const describe = 'CPU cost of --metrics on an idle cluster: process CPU and thread busy time per second, off and on (--seconds 15, --rounds 2)';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(cluster: Cluster, seconds: number, metrics: 'on' | 'off'): Promise<CostRow> {
  let ops: OpsServer | null = null;
  let scraping = false;
  let scraper: Promise<void> = Promise.resolve();
  if (metrics === 'on') {
    ops = await OpsServer.start(clusterSource(cluster), { metrics: { host: '127.0.0.1', port: 0 } });
    scraping = true;
    scraper = (async () => {
      while (scraping) {
        await fetch(`http://${ops!.addresses.metrics}/metrics`).then((r) => r.text());
        await sleep(1_000);
      }
    })();
  }
  await sleep(2_000); // settle
  const busy = async () => Object.fromEntries((await clusterSource(cluster).threads()).map((t) => [t.thread, t.activeMs]));
  const [cpu0, busy0, t0] = [process.cpuUsage(), await busy(), performance.now()];
  await sleep(seconds * 1000);
  const [cpu, busy1, dt] = [process.cpuUsage(cpu0), await busy(), (performance.now() - t0) / 1000];
  scraping = false;
  await scraper;
  await ops?.stop();
  const busyMsPerSec = Object.fromEntries(Object.entries(busy1).map(([k, v]) => [k, (v - (busy0[k] ?? 0)) / dt]));
  return { metrics, seconds: dt, cpuMsPerSec: (cpu.user + cpu.system) / 1000 / dt, busyMsPerSec };
}

export async function run(o: Record<string, string | boolean | undefined>): Promise<CostRow[]> {
  const seconds = typeof o.seconds === 'string' ? Number(o.seconds) : 15;
  const rounds = typeof o.rounds === 'string' ? Number(o.rounds) : 2;
  const dataDir = mkdtempSync(join(tmpdir(), 'govfs-metrics-cost-'));
  const cluster = await Cluster.start({ nodes: 5, scheduler: 'threads', threads: 1, dataDir, listen: '127.0.0.1:0' });
  const rows: CostRow[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const m of r % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) rows.push(await measure(cluster, seconds, m));
    }
  } finally {
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

export function format(r: unknown): string {
  const rows = r as CostRow[];
  const threads = [...new Set(rows.flatMap((x) => Object.keys(x.busyMsPerSec)))].sort();
  const lines = ['CPU of an idle 5-node cluster (1 worker thread), per second of wall time', `metrics  seconds  process CPU ms/s  ${threads.map((t) => `${t} busy ms/s`.padStart(14)).join(' ')}`];
  for (const x of rows) lines.push(`${x.metrics.padEnd(7)}  ${x.seconds.toFixed(1).padStart(7)}  ${x.cpuMsPerSec.toFixed(1).padStart(16)}  ${threads.map((t) => (x.busyMsPerSec[t] ?? 0).toFixed(1).padStart(14)).join(' ')}`);
  const mean = (m: 'on' | 'off') => {
    const xs = rows.filter((x) => x.metrics === m).map((x) => x.cpuMsPerSec);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const d = mean('on') - mean('off');
  lines.push(`metrics on costs ${d.toFixed(1)} ms of CPU per second (${(d / 10).toFixed(2)}% of one core): mean ${mean('off').toFixed(1)} off, ${mean('on').toFixed(1)} on`);
  return lines.join('\n');
}
