// `govfs bench`: `ops` against a running cluster, or the in-process benchmarks of bench/ in a
// child process.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RemoteGovClient } from '../client/connect.js';
import { CLIENT_OPTIONS, openClient, table } from './client-commands.js';
import { intOption, parse } from './usage.js';


class Progress {
  private last = 0;
  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly enabled = process.stderr.isTTY,
  ) {}
  tick(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`);
    if (done >= this.total) process.stderr.write('\n');
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
}

async function benchOps(argv: string[], help: string): Promise<void> {
  const { values } = parse(argv, { ...CLIENT_OPTIONS, ops: { type: 'string' }, clients: { type: 'string' }, json: { type: 'boolean' } }, false);
  if (values.help) return void console.log(help);
  const ops = intOption(values.ops, 'ops') ?? 2000;
  const nClients = intOption(values.clients, 'clients') ?? 8;
  const clients = await Promise.all(Array.from({ length: nClients }, () => openClient(values as { server?: string[] })));
  try {
    const dir = `/bench-${Date.now().toString(36)}`;
    await clients[0]!.mkdir(dir);
    const phase = async (label: string, n: number, op: (c: RemoteGovClient, i: number) => Promise<unknown>) => {
      const lat: number[] = [];
      const progress = new Progress(n, label.padEnd(6));
      let next = 0;
      let done = 0;
      const t0 = performance.now();
      await Promise.all(clients.map(async (c) => {
        for (let i = next++; i < n; i = next++) {
          const s = performance.now();
          await op(c, i);
          lat.push(performance.now() - s);
          progress.tick(++done);
        }
      }));
      const secs = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      return { phase: label, ops: n, seconds: +secs.toFixed(3), opsPerSec: Math.round(n / secs), p50ms: +percentile(lat, 50).toFixed(2), p99ms: +percentile(lat, 99).toFixed(2) };
    };
    const results = [
      await phase('create', ops, (c, i) => c.create(`${dir}/f${i}`)),
      await phase('stat', ops, (c, i) => c.stat(`${dir}/f${i}`)),
      await phase('ls', Math.max(1, Math.floor(ops / 100)), (c) => c.ls(dir)),
    ];
    if (values.json) console.log(JSON.stringify({ bench: 'ops', server: clients[0]!.server, clients: nClients, results }, null, 2));
    else console.log(table([['PHASE', 'OPS', 'SECONDS', 'OPS/S', 'P50 MS', 'P99 MS'], ...results.map((r) => [r.phase, String(r.ops), String(r.seconds), String(r.opsPerSec), String(r.p50ms), String(r.p99ms)])]));
    await clients[0]!.rmdir(dir, { recursive: true }).catch(() => {});
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

export async function benchCommand(argv: string[], help: string): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') return void console.log(help);
  if (name === 'ops') return benchOps(rest, help);
  // The in-process benchmarks: bench/run.ts through tsx, in a child process.
  // Two folders up from src/cli/bench.ts, and from the bundle's dist/cli/ alike.
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const runner = join(root, 'bench', 'run.ts');
  if (!existsSync(runner)) throw new Error(`the in-process benchmarks need a checkout (no ${runner})`);
  const args = name === 'list' ? [runner, '--help'] : [runner, name, ...rest];
  const code = await new Promise<number>((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: 'inherit', cwd: root });
    child.on('exit', (c, sig) => res(c ?? (sig ? 1 : 0)));
  });
  process.exitCode = code;
}

