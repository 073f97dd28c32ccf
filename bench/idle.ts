// `npm run bench -- idle [--seconds S] [--quick] [--json]` (issue 19, item 3): what an idle
// cluster costs. Starts one `govfs cluster` (5 nodes on worker threads) and five `govfs node`
// processes (one cluster over loopback TCP), waits until both serve, then reads each process's
// CPU time (all its threads: /proc/PID/task/TID/schedstat in ns, else user + system ticks of
// /proc/.../stat) over S seconds (default 30; --quick 10) in which no client asks anything.
// CPU time, unlike wall-clock throughput, stays meaningful on a loaded machine. Each node
// process is shown with its role. Goals: the cluster ≤ 2% of one core, each node ≤ 0.5%.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/client/connect.js';
import { Proc, freePorts } from './processes.js';

export const describe = 'CPU an idle `govfs cluster` and idle `govfs node` processes use (goal ≤ 2% / ≤ 0.5% of a core)';

const TICKS_PER_S = 100; // USER_HZ on Linux
const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];

export interface IdleRow {
  name: string;
  pid: number;
  cpuMs: number;
  /** Percent of one core over the measured seconds. */
  percent: number;
  /** The busiest threads (by name, summed): where the CPU went. */
  threads: { name: string; cpuMs: number }[];
}

export interface IdleResult {
  seconds: number;
  rows: IdleRow[];
  cluster: IdleRow;
  nodeMeanPercent: number;
}

/** utime + stime of a /proc stat line, in clock ticks (the comm field may hold spaces). */
function statTicks(line: string): { name: string; ticks: number } {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  const f = line.slice(close + 2).split(' ');
  return { name: line.slice(open + 1, close), ticks: Number(f[11]) + Number(f[12]) };
}

/** Per-thread CPU time of process `pid` in clock ticks (fractional: from schedstat's ns where
 * the kernel has it, as a 30 s idle node's few hundred ms are only tens of whole ticks):
 * tid → { name, ticks }. */
function threadTicks(pid: number): Map<string, { name: string; ticks: number }> {
  const out = new Map<string, { name: string; ticks: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const t = statTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      if (Number.isFinite(ns)) t.ticks = (ns / 1e9) * TICKS_PER_S;
      out.set(tid, t);
    } catch {
      // the thread ended (or no schedstat: the ticks of stat stay)
    }
  }
  return out;
}

/** Each node's role (president, minister, clerk, idle) as `govfs status` shows it. */
async function roles(servers: string[]): Promise<Map<string, string>> {
  const client = await connect(servers, { deadlineMs: 10_000 });
  try {
    const st = await client.status();
    return new Map(st.nodes.map((n) => [n.id, n.role]));
  } catch {
    return new Map();
  } finally {
    await client.close();
  }
}

function row(name: string, pid: number, before: Map<string, { name: string; ticks: number }>, after: Map<string, { name: string; ticks: number }>, seconds: number): IdleRow {
  const byName = new Map<string, number>();
  let total = 0;
  for (const [tid, a] of after) {
    const d = a.ticks - (before.get(tid)?.ticks ?? 0);
    total += d;
    byName.set(a.name, (byName.get(a.name) ?? 0) + d);
  }
  const ms = (t: number) => (t * 1000) / TICKS_PER_S;
  const threads = [...byName].filter(([, t]) => t > 0).sort((x, y) => y[1] - x[1]).slice(0, 4).map(([n, t]) => ({ name: n, cpuMs: ms(t) }));
  return { name, pid, cpuMs: ms(total), percent: (ms(total) / (seconds * 1000)) * 100, threads };
}

/** Wait until the node processes at `servers` form a cluster (a president, the root ministry
 * with its two clerks, every node up). Also used by idle-count.ts. */
export async function untilServes(servers: string[], deadlineMs: number): Promise<void> {
  const client = await connect(servers, { deadlineMs });
  try {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const st = await client.status().catch(() => null);
      const root = st?.ministries.find((m) => m.subtree === '/');
      if (st?.president && root && !root.down && root.clerks.length === 2 && st.nodes.every((n) => n.up)) return;
      if (Date.now() > deadline) throw new Error('the node processes did not form a cluster in time');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await client.close();
  }
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<IdleResult> {
  const seconds = Number(opts.seconds ?? (opts.quick ? 10 : 30));
  // Build the command line once, before several processes would race to.
  const { ensureCli } = (await import(new URL('../scripts/build-cli.mjs', import.meta.url).href)) as { ensureCli: () => Promise<void> };
  await ensureCli();
  const dir = mkdtempSync(join(tmpdir(), 'govfs-idle-'));
  const procs: Proc[] = [];
  try {
    const ports = await freePorts(IDS.length + 1);
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'the secret of the idle bench nodes\n');
    const peers = IDS.map((id, i) => `${id}=127.0.0.1:${ports[i + 1]}`).join(',');
    const cluster = Proc.govfs(['cluster', '--data', join(dir, 'cluster'), '--listen', `127.0.0.1:${ports[0]}`]);
    procs.push(cluster);
    const nodes = IDS.map((id) => Proc.govfs(['node', '--id', id, '--peers', peers, '--data', join(dir, id), '--secret-file', secretFile]));
    procs.push(...nodes);
    await cluster.waitFor(/^ready:/m, 120_000);
    await Promise.all(nodes.map((p) => p.waitFor(/listening on/, 60_000)));
    const servers = IDS.map((_, i) => `127.0.0.1:${ports[i + 1]}`);
    await untilServes(servers, 120_000);
    // Let elections, appointments and catch-up finish: an idle cluster is one with nothing to do.
    await new Promise((r) => setTimeout(r, 3000));
    const role = await roles(servers);
    const names = ['cluster', ...IDS.map((id) => `${id} ${role.get(id) ?? ''}`.trim())];
    const before = procs.map((p) => threadTicks(p.child.pid!));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = procs.map((p) => threadTicks(p.child.pid!));
    const measured = (performance.now() - t0) / 1000;
    const rows = procs.map((p, i) => row(names[i]!, p.child.pid!, before[i]!, after[i]!, measured));
    const nodeRows = rows.slice(1);
    return { seconds: measured, rows, cluster: rows[0]!, nodeMeanPercent: nodeRows.reduce((s, r) => s + r.percent, 0) / nodeRows.length };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function format(r: IdleResult): string {
  const lines = [`idle CPU over ${r.seconds.toFixed(1)} s (% of one core; goal: cluster ≤ 2%, node ≤ 0.5%)`, ''];
  lines.push(`${'process'.padEnd(14)} ${'cpu ms'.padStart(8)} ${'% core'.padStart(7)}  busiest threads`);
  for (const x of r.rows) {
    lines.push(`${x.name.padEnd(14)} ${x.cpuMs.toFixed(0).padStart(8)} ${x.percent.toFixed(2).padStart(7)}  ${x.threads.map((t) => `${t.name} ${t.cpuMs.toFixed(0)}`).join(', ')}`);
  }
  lines.push('', `cluster ${r.cluster.percent.toFixed(2)}% (goal ≤ 2%), node mean ${r.nodeMeanPercent.toFixed(2)}% (goal ≤ 0.5%)`);
  return lines.join('\n');
}
