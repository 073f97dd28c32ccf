// `npm run bench -- bigmsg [--json] [--mib N] [--window W]`: large messages (issue 17, point 5;
// docs/data-path.md), MB/s for 64 KiB, 1 MiB and 8 MiB messages, each beside the raw transport
// doing the same in the same run:
//   thread   main thread → an actor on a worker thread (asks of a ChunkWrite, W in flight),
//            the payload copied once (`copied`) or handed over and moved (`moved`, a fresh
//            buffer per message), beside a plain postMessage of the same bytes to a worker
//            (structured clone: one copy) answered with a one-byte message.
//   tcp      node a → an actor on node b over the bridge on loopback (both in this process),
//            and a client connection → that actor, beside a raw socket on loopback carrying
//            length-prefixed messages of the same size, each collected into one buffer and
//            answered with one byte.
// MB/s counts payload bytes (10^6 bytes per MB); the best of 3 passes of --mib MiB each
// (default 128) per row.

import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { ClientConnection } from '../src/client/connection.js';
import { Bridge } from '../src/net/bridge.js';
import { RealDispatcher } from '../src/runtime/real-dispatcher.js';
import { handOver } from '../src/runtime/ring-side.js';
import { LocalRuntime } from '../src/runtime/runtime.js';
import { ThreadsScheduler } from '../src/runtime/threads.js';
import type { Context, Message } from '../src/runtime/types.js';
import { MessageRegistry, type TypedMessage } from '../src/wire/registry.js';
import pino from 'pino';

const SIZES = [64 * 1024, 1024 * 1024, 8 * 1024 * 1024];
const SECRET = Buffer.from('bench secret of at least 16 bytes');

export interface BigMsgRow {
  path: string;
  size: number;
  mbPerSec: number;
}
export interface BigMsgResult {
  mibPerPass: number;
  window: number;
  rows: BigMsgRow[];
}

/** Send `count` messages with at most `window` in flight; resolves after the last answer. */
async function pump(count: number, window: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

async function best(size: number, mib: number, window: number, send: (i: number) => Promise<unknown>): Promise<number> {
  const count = Math.max(4, Math.round((mib * 1024 * 1024) / size));
  await pump(Math.min(count, 8), window, send); // warm-up
  let top = 0;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    await pump(count, window, send);
    const s = (performance.now() - t0) / 1000;
    top = Math.max(top, (count * size) / 1e6 / s);
  }
  return top;
}

const POST_WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => parentPort.postMessage(m.byteLength & 1));
`;

async function threadRows(mib: number, window: number): Promise<BigMsgRow[]> {
  const rows: BigMsgRow[] = [];
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const sched = await ThreadsScheduler.start({ threads: 1, modules: [new URL(`./bigmsg.actors${ext}`, import.meta.url)] });
  const worker = new Worker(POST_WORKER, { eval: true });
  try {
    const sink = await sched.spawnRoot('sink', { behaviour: 'bench.big-sink' }, { thread: 0 });
    for (const size of SIZES) {
      const data = new Uint8Array(size).fill(7);
      const write = (d: Uint8Array): Message => ({ type: 'govfs.data.ChunkWrite', chunkId: 'c', version: 0, token: 0, offset: 0, data: d });
      rows.push({ path: 'thread: ring, payload copied once', size, mbPerSec: await best(size, mib, window, () => sched.ask(sink, write(data), 60_000)) });
      rows.push({ path: 'thread: ring, payload moved (fresh buffer each)', size, mbPerSec: await best(size, mib, window, () => sched.ask(sink, write(handOver(new Uint8Array(size))), 60_000)) });
      // postMessage answers in order: one queue of waiters.
      const waiters: (() => void)[] = [];
      const onMsg = (): void => waiters.shift()?.();
      worker.on('message', onMsg);
      rows.push({
        path: 'thread: raw postMessage (structured clone)',
        size,
        mbPerSec: await best(size, mib, window, () => new Promise<void>((r) => {
          waiters.push(r);
          worker.postMessage(data);
        })),
      });
      worker.off('message', onMsg);
    }
  } finally {
    await worker.terminate();
    await sched.stop();
  }
  return rows;
}

/** A raw loopback socket pair: [u32 length][bytes] messages, each collected into one buffer and
 * answered with one byte. */
async function rawSocket(): Promise<{ send: (d: Uint8Array) => Promise<void>; close: () => void }> {
  const server: Server = createServer((s: Socket) => {
    let parts: Buffer[] = [];
    let have = 0;
    let want = -1;
    s.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      have += chunk.length;
      for (;;) {
        if (want < 0) {
          if (have < 4) return;
          const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
          want = all.readUInt32BE(0);
          parts = [all.subarray(4)];
          have -= 4;
        }
        if (have < want) return;
        const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
        const msg = all.subarray(0, want); // in one buffer (concat copied the reads into it)
        parts = [all.subarray(want)];
        have -= want;
        want = -1;
        s.write(Buffer.of(msg.length & 1));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const c = netConnect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((r) => c.once('connect', r));
  const waiters: (() => void)[] = [];
  c.on('data', (b: Buffer) => {
    for (let i = 0; i < b.length; i++) waiters.shift()?.();
  });
  return {
    send: (d) =>
      new Promise<void>((r) => {
        waiters.push(r);
        const h = Buffer.alloc(4);
        h.writeUInt32BE(d.length, 0);
        c.write(h);
        c.write(d);
      }),
    close: () => {
      c.destroy();
      server.close();
    },
  };
}

async function tcpRows(mib: number, window: number): Promise<BigMsgRow[]> {
  const rows: BigMsgRow[] = [];
  const registry = MessageRegistry.standard();
  const logger = pino({ level: 'silent' });
  const mk = (location: string): LocalRuntime => new LocalRuntime({ location, dispatcher: new RealDispatcher(), registry, logger });
  const ra = mk('a');
  const rb = mk('b');
  const bb = new Bridge({ runtime: rb, secret: SECRET, listen: { host: '127.0.0.1', port: 0 }, clients: { allowTarget: (to) => to === 'b#/sink', allowTypes: ['govfs.data.ChunkWrite'], maxQueueBytes: 256 * 1024 * 1024 } }).install();
  await bb.start();
  const addr = `${bb.address!.host}:${bb.address!.port}`;
  const ba = new Bridge({ runtime: ra, secret: SECRET, peers: { b: addr } }).install();
  await ba.start();
  await ba.waitForPeer('b');
  rb.spawnRoot('sink', () => ({
    receive(ctx: Context, msg: Message) {
      const m = msg as { chunkId: string; data: Uint8Array };
      ctx.reply({ type: 'govfs.data.ChunkWritten', chunkId: m.chunkId, version: 0, size: m.data.length });
    },
  }));
  const client = await ClientConnection.open(addr);
  const raw = await rawSocket();
  try {
    for (const size of SIZES) {
      const data = new Uint8Array(size).fill(9);
      const write: TypedMessage = { type: 'govfs.data.ChunkWrite', chunkId: 'c', version: 0, token: 0, offset: 0, data };
      rows.push({ path: 'tcp: bridge, node → node', size, mbPerSec: await best(size, mib, window, () => ra.ask('b#/sink', write, { timeoutMs: 60_000 })) });
      rows.push({ path: 'tcp: client connection → node', size, mbPerSec: await best(size, mib, window, () => client.ask('b#/sink', write, 60_000)) });
      rows.push({ path: 'tcp: raw socket (length-prefixed)', size, mbPerSec: await best(size, mib, window, () => raw.send(data)) });
    }
  } finally {
    raw.close();
    await client.close();
    await ba.stop();
    await bb.stop();
    ra.stopAll();
    rb.stopAll();
  }
  return rows;
}

export async function runBigMsgBench(opts: { mib?: number; window?: number } = {}): Promise<BigMsgResult> {
  const mib = opts.mib ?? 128;
  const window = opts.window ?? 4;
  const rows = [...(await threadRows(mib, window)), ...(await tcpRows(mib, window))];
  return { mibPerPass: mib, window, rows };
}

function sizeName(n: number): string {
  return n >= 1024 * 1024 ? `${n / 1024 / 1024} MiB` : `${n / 1024} KiB`;
}

export function formatBigMsgBench(r: BigMsgResult): string {
  const paths = [...new Set(r.rows.map((x) => x.path))];
  const w = Math.max(...paths.map((p) => p.length));
  const head = `  ${'path'.padEnd(w)}  ${SIZES.map((s) => sizeName(s).padStart(10)).join('  ')}`;
  const lines = paths.map((p) => `  ${p.padEnd(w)}  ${SIZES.map((s) => `${(r.rows.find((x) => x.path === p && x.size === s)?.mbPerSec ?? NaN).toFixed(0)} MB/s`.padStart(10)).join('  ')}`);
  return [`large messages (MB/s of payload, best of 3 passes of ${r.mibPerPass} MiB, ${r.window} in flight)`, head, ...lines].join('\n');
}

export const describe = 'large messages thread-to-thread (ring side channel) and over TCP (parts) vs raw postMessage/socket (--mib N, --window W)';
export const run = (o: Record<string, string | boolean | undefined>): Promise<BigMsgResult> =>
  runBigMsgBench({ mib: o.mib ? Number(o.mib) : undefined, window: o.window ? Number(o.window) : undefined });
export const format = (r: unknown): string => formatBigMsgBench(r as BigMsgResult);
