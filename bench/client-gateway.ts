// `npm run bench -- client-gateway [--clients 30] [--depth 1] [--seconds 3] [--lone 2000]
// [--worker]`: remote client asks per second through one node's client gateway on loopback,
// against a node root that answers at once (so the gateway's cost shows, not Raft's): on the
// gateway's own thread, or with `--worker` on a worker thread, as in `govfs cluster` (the
// gateway on the main thread, the nodes on workers: each ask crosses the rings there and back).
// The clients (ClientConnections) run in a child process, as remote users do not share the
// gateway's thread: `clients` of them keep `depth` asks in flight each for `seconds`, after a
// second of warm-up; then one client alone asks `lone` times, one at a time. Prints asks/s, the
// round trip's p50 and p99, and the CPU time per ask of the serving process's main thread (the
// gateway, and the root unless --worker; /proc, 10 ms ticks) and of the whole process (user +
// system): on a busy machine steadier than rates.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Bridge } from '../src/net/bridge.js';
import { ClientConnection } from '../src/client/connection.js';
import { MessageRegistry } from '../src/wire/registry.js';
import { RealDispatcher } from '../src/runtime/real-dispatcher.js';
import { LocalRuntime } from '../src/runtime/runtime.js';
import { ThreadsScheduler } from '../src/runtime/threads.js';

export const describe = "a client gateway alone: asks/s, p50/p99 and CPU per ask, clients in a child process, the node root on the gateway's thread or a worker (--clients 30 --depth 1 --seconds 3 --lone N --worker)";

interface Options {
  clients: number;
  depth: number;
  seconds: number;
  lone: number;
  worker: boolean;
}

interface Phase {
  /** CPU time of the clients' process per ask, µs. */
  clientCpuUsPerAsk: number;
  asks: number;
  secs: number;
  p50ms: number;
  p99ms: number;
}

/** The client side (the child): a loaded phase, then the lone client; one JSON line per phase,
 * each after a line `start <phase>` the parent measures its CPU from. */
async function runClients(address: string, target: string, { clients, depth, seconds, lone }: Options): Promise<void> {
  const conns = await Promise.all(Array.from({ length: clients }, () => ClientConnection.open(address)));
  const probe = { type: 'govfs.fs.NodeProbe' };
  const phase = async (name: string, lanes: number, until: (done: number, now: number) => boolean): Promise<void> => {
    // A second of warm-up (JIT) before the measured part.
    const warmUntil = performance.now() + 1000;
    await Promise.all(conns.slice(0, lanes === 1 ? 1 : clients).flatMap((c) => Array.from({ length: lanes === 1 ? 1 : depth }, async () => {
      while (performance.now() < warmUntil) await c.ask(target, probe, 10_000);
    })));
    process.stdout.write(`start ${name}\n`);
    const cpu0 = process.cpuUsage();
    const lat: number[] = [];
    const t0 = performance.now();
    await Promise.all(conns.slice(0, lanes === 1 ? 1 : clients).flatMap((c) => Array.from({ length: lanes === 1 ? 1 : depth }, async () => {
      while (!until(lat.length, performance.now())) {
        const t = performance.now();
        await c.ask(target, probe, 10_000);
        lat.push(performance.now() - t);
      }
    })));
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const clientCpuUsPerAsk = +((cpu.user + cpu.system) / lat.length).toFixed(2);
    lat.sort((a, b) => a - b);
    const pct = (p: number): number => +lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))]!.toFixed(3);
    process.stdout.write(`${JSON.stringify({ phase: name, asks: lat.length, secs, p50ms: pct(50), p99ms: pct(99), clientCpuUsPerAsk } satisfies Phase & { phase: string })}\n`);
  };
  const end = performance.now() + 1000 + seconds * 1000;
  await phase('loaded', clients * depth, (_, now) => now > end + 1000);
  if (lone > 0) await phase('lone', 1, (done) => done >= lone);
  await Promise.all(conns.map((c) => c.close()));
}

/** CPU time (user + system) of this process and of its main thread so far, in µs (the main
 * thread's from /proc, in 10 ms ticks: Linux only, NaN elsewhere). */
function cpuUs(): { all: number; main: number } {
  const c = process.cpuUsage();
  let main = NaN;
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    main = (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    // not Linux
  }
  return { all: c.user + c.system, main };
}

/** The node root that answers: here, or on a worker thread (--worker). */
async function startNode(onWorker: boolean): Promise<{ runtime: LocalRuntime; target: string; stop: () => Promise<void>; wakeups?: () => Promise<number> }> {
  if (!onWorker) {
    const runtime = new LocalRuntime({ location: 'n1', dispatcher: new RealDispatcher(), registry: MessageRegistry.standard() });
    const reply = { type: 'govfs.fs.NodeReport', id: 'n1', role: 'clerk' };
    runtime.spawnRoot('n1', () => ({ receive: (ctx) => ctx.reply(reply) }));
    return { runtime, target: 'n1#/n1', stop: async () => runtime.stopAll() };
  }
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const sched = await ThreadsScheduler.start({ threads: 1, modules: [new URL(`./client-gateway.actors${ext}`, import.meta.url)] });
  const ref = await sched.spawnRoot('n1', { behaviour: 'bench.probe-node' }, { thread: 0 });
  const wakeups = async (): Promise<number> => (await sched.stats()).reduce((n, s) => n + s.wakeups, 0);
  return { runtime: sched.runtime, target: ref.address, stop: () => sched.stop(), wakeups };
}

export interface GatewayRow extends Phase {
  node: 'gateway thread' | 'worker thread';
  phase: string;
  clients: number;
  depth: number;
  asksPerSec: number;
  /** CPU time per ask of the serving process's main thread (the gateway) and of the whole process, µs. */
  mainCpuUsPerAsk: number;
  processCpuUsPerAsk: number;
  /** --worker: times the worker was woken (its doorbell notified) per ask. */
  workerWakeupsPerAsk?: number;
}

export async function run(o: Record<string, string | boolean | undefined>): Promise<GatewayRow[]> {
  const opts: Options = { clients: Number(o.clients ?? 30), depth: Number(o.depth ?? 1), seconds: Number(o.seconds ?? 3), lone: Number(o.lone ?? 2000), worker: o.worker === true };
  const { clients, depth } = opts;
  const onWorker = opts.worker;
  const { runtime, target, stop, wakeups } = await startNode(onWorker);
  const bridge = new Bridge({ runtime, secret: Buffer.alloc(32, 1), listen: { host: '127.0.0.1', port: 0 }, maxHandshakesPerAddress: 1024, clients: { maxClientsPerAddress: 1024, allowTarget: (to) => to === target } }).install();
  await bridge.start();
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, JSON.stringify({ ...opts, address: `127.0.0.1:${bridge.address!.port}`, target })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  let cpu0 = cpuUs();
  let wake0: Promise<number> = Promise.resolve(0);
  const rows: GatewayRow[] = [];
  const wakes: Promise<void>[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      if (line.startsWith('start ')) {
        cpu0 = cpuUs();
        if (wakeups) wake0 = wakeups();
      } else {
        const p = JSON.parse(line) as Phase & { phase: string };
        // (The CPU of the phase, read when its result arrives: the asks are all answered by then.)
        const cpu = cpuUs();
        const lonePhase = p.phase === 'lone';
        const row: GatewayRow = { node: onWorker ? 'worker thread' : 'gateway thread', clients: lonePhase ? 1 : clients, depth: lonePhase ? 1 : depth, ...p, asksPerSec: Math.round(p.asks / p.secs), mainCpuUsPerAsk: +((cpu.main - cpu0.main) / p.asks).toFixed(2), processCpuUsPerAsk: +((cpu.all - cpu0.all) / p.asks).toFixed(2) };
        rows.push(row);
        if (wakeups) {
          const from = wake0;
          wakes.push(Promise.all([from, wakeups()]).then(([a, b]) => void (row.workerWakeupsPerAsk = +((b - a) / p.asks).toFixed(3))));
        }
      }
    }
  });
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  await Promise.all(wakes);
  await bridge.stop();
  await stop();
  if (code !== 0) throw new Error(`the clients exited with ${code}`);
  return rows;
}

export function format(r: unknown): string {
  const lines = ['node root       phase   clients x depth  asks/s    p50 ms   p99 ms   gateway thread µs/ask  process µs/ask  worker wake-ups/ask  clients µs/ask'];
  for (const x of r as GatewayRow[]) {
    lines.push(`${x.node.padEnd(14)}  ${x.phase.padEnd(6)}  ${`${x.clients} x ${x.depth}`.padEnd(15)}  ${String(x.asksPerSec).padStart(6)}  ${x.p50ms.toFixed(3).padStart(7)}  ${x.p99ms.toFixed(3).padStart(7)}  ${x.mainCpuUsPerAsk.toFixed(1).padStart(21)}  ${x.processCpuUsPerAsk.toFixed(1).padStart(14)}  ${x.workerWakeupsPerAsk === undefined ? '-' : x.workerWakeupsPerAsk.toFixed(3).padStart(19)}  ${x.clientCpuUsPerAsk.toFixed(1).padStart(14)}`);
  }
  return lines.join('\n');
}

// The clients' end: this file run as a script by run() (its one argument says what to do).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = JSON.parse(process.argv[2]!) as Options & { address: string; target: string };
  await runClients(o.address, o.target, o);
}
