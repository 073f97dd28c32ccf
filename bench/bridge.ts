// `npm run bench -- bridge [--json] [--messages N] [--asks N] [--ring false] [--same-loop false]`:
// actor → actor messages/s and ask round trips across the TCP bridge on loopback, beside the
// same through the in-process ring, in one run. The message is the mailbox bench's Ping (seq,
// sender, 16-byte payload); its envelope frame is about 40 bytes on the wire.
//
//   tcp, 2 threads    runtime `a` and runtime `b` on two worker threads, each with its own
//                     Bridge; source on a → sink on b over one TCP connection. The bench drives
//                     them from a third runtime (`main`, on the main thread) over the bridge too.
//   tcp, one loop     the same three runtimes and bridges, all on the main thread's event loop
//                     (both ends of the socket compete for one core: a lower bound).
//   ring              the mailbox bench's cross-thread ring (runMailboxBench), same actors.
//
// Goals (the bridge issue): ≥ 300,000 msgs/s per connection (Akka Artery ≈ 630,000 msgs/s of
// 100 bytes; classic Akka TCP remoting ≈ 20,000), ask round trip p50 ≤ 100 µs.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Bridge } from '../src/net/bridge.js';
import { MessageRegistry } from '../src/wire/registry.js';
import { RealDispatcher } from '../src/runtime/real-dispatcher.js';
import { LocalRuntime } from '../src/runtime/runtime.js';
import './actors.js';
import { runMailboxBench } from './mailbox.js';

const SECRET = Buffer.from('bench secret: not for production!');
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

interface SiteBoot {
  bridgeBench: true;
  location: string;
  roots: { name: string; behaviour: string; args?: unknown }[];
}

/** One end: a runtime with its bridge listening on an ephemeral loopback port. */
async function startSite(boot: SiteBoot): Promise<{ runtime: LocalRuntime; bridge: Bridge; addr: string }> {
  const runtime = new LocalRuntime({ location: boot.location, dispatcher: new RealDispatcher(), registry: MessageRegistry.standard() });
  // A source outruns any socket: let the queue hold a whole pass rather than drop (drops are
  // counted and would show as a stalled pass).
  const bridge = new Bridge({ runtime, secret: SECRET, listen: { host: '127.0.0.1', port: 0 }, maxQueueBytes: 1 << 30 }).install();
  await bridge.start();
  for (const r of boot.roots) runtime.spawnRoot(r.name, { behaviour: r.behaviour, args: r.args });
  return { runtime, bridge, addr: `127.0.0.1:${bridge.address!.port}` };
}

interface Site {
  addr: string;
  connect(location: string, addr: string): Promise<void>;
  stats(): Promise<{ sent: number; bytesSent: number; dropped: number }>;
  close(): Promise<void>;
}

// ---- worker side ---------------------------------------------------------------------------

if (!isMainThread && (workerData as SiteBoot | undefined)?.bridgeBench) {
  const site = await startSite(workerData as SiteBoot);
  const port = parentPort!;
  port.on('message', async (m: { op: string; location?: string; addr?: string }) => {
    if (m.op === 'connect') {
      site.bridge.connect(m.location!, m.addr!);
      await site.bridge.waitForPeer(m.location!);
      port.postMessage({ op: 'connected' });
    } else if (m.op === 'stats') {
      port.postMessage({ op: 'stats', stats: { ...site.bridge.stats } });
    } else if (m.op === 'close') {
      await site.bridge.stop();
      site.runtime.stopAll();
      port.postMessage({ op: 'closed' });
      port.close();
    }
  });
  port.postMessage({ op: 'ready', addr: site.addr });
}

// ---- main side -----------------------------------------------------------------------------

function startWorker(boot: SiteBoot): Worker {
  const url = new URL(`./bridge${ext}`, import.meta.url);
  if (ext === '.js') return new Worker(url, { workerData: boot });
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData: boot });
}

async function workerSite(boot: SiteBoot): Promise<Site> {
  const w = startWorker(boot);
  const next = (op: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMsg = (m: Record<string, unknown>) => {
        if (m.op !== op) return;
        w.off('message', onMsg);
        w.off('error', reject);
        resolve(m);
      };
      w.on('message', onMsg);
      w.once('error', reject);
    });
  const ready = await next('ready');
  return {
    addr: ready.addr as string,
    async connect(location, addr) {
      const p = next('connected');
      w.postMessage({ op: 'connect', location, addr });
      await p;
    },
    async stats() {
      const p = next('stats');
      w.postMessage({ op: 'stats' });
      return (await p).stats as { sent: number; bytesSent: number; dropped: number };
    },
    async close() {
      const p = next('closed');
      w.postMessage({ op: 'close' });
      await p;
      await w.terminate();
    },
  };
}

async function localSite(boot: SiteBoot): Promise<Site> {
  const s = await startSite(boot);
  return {
    addr: s.addr,
    async connect(location, addr) {
      s.bridge.connect(location, addr);
      await s.bridge.waitForPeer(location);
    },
    async stats() {
      return { ...s.bridge.stats };
    },
    async close() {
      await s.bridge.stop();
      s.runtime.stopAll();
    },
  };
}

export interface PathResult {
  path: string;
  msgsPerSec: number;
  askRoundTripUs: { p50: number; p99: number; samples: number };
  bytesPerMessage?: number;
  dropped?: number;
}

export interface BridgeBenchResult {
  messages: number;
  asks: number;
  paths: PathResult[];
  goals: { msgsPerSec: number; askP50Us: number; msgsMet: boolean; askMet: boolean };
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function tcpPath(label: string, threads: boolean, messages: number, asks: number): Promise<PathResult> {
  const make = threads ? workerSite : localSite;
  const b = await make({ bridgeBench: true, location: 'b', roots: [{ name: 'sink', behaviour: 'bench.sink' }, { name: 'echo', behaviour: 'bench.echo' }] });
  const a = await make({
    bridgeBench: true,
    location: 'a',
    roots: [
      { name: 'source', behaviour: 'bench.source', args: { target: 'b#/sink' } },
      { name: 'asker', behaviour: 'bench.asker', args: { target: 'b#/echo' } },
    ],
  });
  const main = await startSite({ bridgeBench: true, location: 'main', roots: [] });
  try {
    await a.connect('b', b.addr);
    main.bridge.connect('a', a.addr);
    main.bridge.connect('b', b.addr);
    await main.bridge.waitForPeer('a');
    await main.bridge.waitForPeer('b');
    const rt = main.runtime;
    const ask = <R>(to: string, msg: unknown, timeoutMs = 120_000) => rt.ask<R>(to, msg, { timeoutMs });
    let best = 0;
    // A warm-up pass, then the best of three (the machine is shared; the best is the capability).
    for (const count of [Math.min(messages, 200_000), messages, messages, messages]) {
      await ask('b#/sink', { type: 'govfs.runtime.Pong', seq: count });
      const t0 = performance.now();
      rt.ref('a#/source').tell({ type: 'govfs.runtime.Ping', seq: count, sender: 0 });
      await ask('b#/sink', { type: 'govfs.runtime.Pong', seq: 0 }, 300_000);
      const rate = count / ((performance.now() - t0) / 1000);
      if (count === messages) best = Math.max(best, rate);
    }
    const stats = await a.stats();
    await ask('a#/asker', { type: 'govfs.runtime.Ping', seq: Math.min(2_000, asks), sender: 0 }); // warm-up
    const reply = await ask<{ payload: Uint8Array }>('a#/asker', { type: 'govfs.runtime.Ping', seq: asks, sender: 0 });
    const p = reply.payload;
    const rtts = new Float64Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength)).sort();
    return {
      path: label,
      msgsPerSec: best,
      askRoundTripUs: { p50: quantile(rtts, 0.5), p99: quantile(rtts, 0.99), samples: rtts.length },
      bytesPerMessage: stats.bytesSent / Math.max(1, stats.sent),
      dropped: stats.dropped,
    };
  } finally {
    await main.bridge.stop();
    main.runtime.stopAll();
    await a.close();
    await b.close();
  }
}

const flag = (v: string | boolean | undefined, dflt: boolean) => (v === undefined ? dflt : v !== 'false' && v !== false);

export async function runBridgeBench(opts: { messages?: number; asks?: number; ring?: boolean; sameLoop?: boolean } = {}): Promise<BridgeBenchResult> {
  const messages = opts.messages ?? 1_000_000;
  const asks = opts.asks ?? 20_000;
  const paths: PathResult[] = [];
  paths.push(await tcpPath('TCP bridge, 2 worker threads', true, messages, asks));
  if (opts.sameLoop ?? true) paths.push(await tcpPath('TCP bridge, one event loop', false, messages, asks));
  if (opts.ring ?? true) {
    const r = await runMailboxBench({ messages, asks });
    paths.push({ path: 'in-process ring, 2 worker threads', msgsPerSec: r.ringMsgsPerSec, askRoundTripUs: r.askRoundTripUs });
  }
  const tcp = paths[0]!;
  return {
    messages,
    asks,
    paths,
    goals: { msgsPerSec: 300_000, askP50Us: 100, msgsMet: tcp.msgsPerSec >= 300_000, askMet: tcp.askRoundTripUs.p50 <= 100 },
  };
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);

export function formatBridgeBench(r: BridgeBenchResult): string {
  const rows = r.paths.map((p) => [
    p.path,
    `${fmt(p.msgsPerSec)} msgs/s`,
    `p50 ${p.askRoundTripUs.p50.toFixed(1)} µs`,
    `p99 ${p.askRoundTripUs.p99.toFixed(1)} µs`,
    p.bytesPerMessage ? `${p.bytesPerMessage.toFixed(1)} B/msg on the wire${p.dropped ? `, ${p.dropped} dropped` : ''}` : '',
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((x) => x[i]!.length)));
  const tcp = r.paths[0]!;
  return [
    `bridge benchmark (${r.messages.toLocaleString()} Pings per pass, best of 3; ${r.asks.toLocaleString()} sequential asks; loopback, 1 connection)`,
    ...rows.map((x) => `  ${x.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c)).join('  ')}`),
    '',
    `  goal ≥ ${fmt(r.goals.msgsPerSec)} msgs/s per connection: ${r.goals.msgsMet ? 'met' : 'NOT met'} (${fmt(tcp.msgsPerSec)}); ` +
      `reference: Akka Artery ≈ 630 k msgs/s of 100 B, classic Akka TCP remoting ≈ 20 k`,
    `  goal ask round trip p50 ≤ ${r.goals.askP50Us} µs: ${r.goals.askMet ? 'met' : 'NOT met'} (${tcp.askRoundTripUs.p50.toFixed(1)} µs)`,
  ].join('\n');
}

// The `npm run bench -- bridge` entry points.
export const describe = 'TCP bridge msgs/s and ask RTT on loopback vs the in-process ring (--messages N, --asks N, --ring false, --same-loop false)';
export const run = (o: Record<string, string | boolean | undefined>): Promise<BridgeBenchResult> =>
  runBridgeBench({
    messages: o.messages ? Number(o.messages) : undefined,
    asks: o.asks ? Number(o.asks) : undefined,
    ring: flag(o.ring, true),
    sameLoop: flag(o['same-loop'], true),
  });
export const format = (r: unknown): string => formatBridgeBench(r as BridgeBenchResult);
