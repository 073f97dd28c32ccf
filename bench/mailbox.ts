// `npm run bench -- mailbox [--json] [--messages N]`: the actor runtime's mailboxes, measured
// side by side in one run on the same small message (a Ping: seq, sender, 16-byte payload):
//   same-thread   actor → actor on one worker thread (passed by reference), the source sending
//                 64 per turn (an actor's batch); and as a flood, 10,000 per turn: the source's
//                 run (64 turns) queues 640,000 at once, so the pass measures a backlog of up to
//                 all N messages (their GC as they outlive the young generation), not delivery
//   ring          actor → actor across two worker threads (protobuf into a SPSC ring)
//   postMessage   the same message across two threads with MessagePort.postMessage
//   ask           round trip of an ask across threads, p50/p99
// Goals (issues 2, 19): ring ≥ 5× postMessage, same-thread ≥ 10 M msgs/s. Each delivery row also
// gets its threads' CPU time per message (Linux), which a loaded machine does not change.

import { ThreadsScheduler } from '../src/runtime/threads.js';
import { runRawMailboxBench } from './mailbox-raw.js';
import { CPU_QUERY } from './actors.js';

export interface MailboxBenchResult {
  messages: number;
  sameThreadMsgsPerSec: number;
  /** The same with the source sending 10,000 per turn (a flood; see the header). */
  sameThreadFloodMsgsPerSec: number;
  ringMsgsPerSec: number;
  postMessageMsgsPerSec: number;
  ringOverPostMessage: number;
  rawRingMsgsPerSec: number;
  askRoundTripUs: { p50: number; p99: number; samples: number };
  /** Thread CPU time per message, least over the timed passes (NaN where Linux's
   * /proc/thread-self is missing): what the runtime costs, however loaded the machine is. */
  cpuNsPerMessage: { sameThread: number; ringSender: number; ringReceiver: number; postMessageSender: number; postMessageReceiver: number };
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** CPU time per message of each side (ns; NaN without /proc/thread-self): the least over the
 * timed passes. On a loaded machine the rate is the machine's; this is the runtime's. */
export interface CpuPerMessage {
  sourceNs: number;
  sinkNs: number;
}

async function cpuMs(sched: ThreadsScheduler, ref: Parameters<ThreadsScheduler['ask']>[0]): Promise<number> {
  const r = await sched.ask<{ seq: number }>(ref, { type: 'govfs.runtime.Ping', seq: 0, sender: CPU_QUERY });
  return Number(r.seq) - 1;
}

async function deliveryRate(sched: ThreadsScheduler, name: string, sourceThread: number, sinkThread: number, n: number, perTurn = 10_000): Promise<{ rate: number; cpu: CpuPerMessage }> {
  const sink = await sched.spawnRoot(`${name}-sink`, { behaviour: 'bench.sink' }, { thread: sinkThread });
  const source = await sched.spawnRoot(`${name}-source`, { behaviour: 'bench.source', args: { target: sink.address, perTurn } }, { thread: sourceThread });
  let best = 0;
  const cpu = { sourceNs: Infinity, sinkNs: Infinity };
  // A warm-up pass, then the best of three (the machine is shared; the best is the capability).
  for (const count of [Math.min(n, 200_000), n, n, n]) {
    await sched.ask(sink, { type: 'govfs.runtime.Pong', seq: count }); // armed before the source starts
    const [src0, sink0] = [await cpuMs(sched, source), await cpuMs(sched, sink)];
    const t0 = performance.now();
    source.tell({ type: 'govfs.runtime.Ping', seq: count, sender: 0 });
    await sched.ask(sink, { type: 'govfs.runtime.Pong', seq: 0 }, 120_000);
    const rate = count / ((performance.now() - t0) / 1000);
    const [src1, sink1] = [await cpuMs(sched, source), await cpuMs(sched, sink)];
    if (count !== n) continue;
    best = Math.max(best, rate);
    if (src0 >= 0 && sink0 >= 0) {
      cpu.sourceNs = Math.min(cpu.sourceNs, ((src1 - src0) * 1e6) / count);
      cpu.sinkNs = Math.min(cpu.sinkNs, ((sink1 - sink0) * 1e6) / count);
    }
  }
  await sched.stopRoot(`${name}-source`, sourceThread);
  await sched.stopRoot(`${name}-sink`, sinkThread);
  return { rate: best, cpu: { sourceNs: Number.isFinite(cpu.sourceNs) ? cpu.sourceNs : NaN, sinkNs: Number.isFinite(cpu.sinkNs) ? cpu.sinkNs : NaN } };
}

export async function runMailboxBench(opts: { messages?: number; asks?: number } = {}): Promise<MailboxBenchResult> {
  const messages = opts.messages ?? 2_000_000;
  const asks = opts.asks ?? 20_000;
  const sched = await ThreadsScheduler.start({ threads: 2, modules: [new URL(`./actors${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)] });
  try {
    const same = await deliveryRate(sched, 'same', 0, 0, messages, 64);
    const flood = await deliveryRate(sched, 'flood', 0, 0, messages);
    const ring = await deliveryRate(sched, 'cross', 0, 1, messages);
    const sameThreadMsgsPerSec = same.rate;
    const ringMsgsPerSec = ring.rate;
    const echo = await sched.spawnRoot('echo', { behaviour: 'bench.echo' }, { thread: 1 });
    const asker = await sched.spawnRoot('asker', { behaviour: 'bench.asker', args: { target: echo.address } }, { thread: 0 });
    await sched.ask(asker, { type: 'govfs.runtime.Ping', seq: 2_000, sender: 0 }, 60_000); // warm-up
    const reply = await sched.ask<{ payload: Uint8Array }>(asker, { type: 'govfs.runtime.Ping', seq: asks, sender: 0 }, 120_000);
    const p = reply.payload;
    const rtts = new Float64Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength)).sort();
    const raw = await runRawMailboxBench({ messages: Math.min(messages, 1_000_000), modes: ['ring', 'clone'] });
    const mode = (m: string) => raw.modes.find((r) => r.mode === m)?.msgsPerSec ?? NaN;
    const postMessageMsgsPerSec = mode('clone');
    const clone = raw.modes.find((r) => r.mode === 'clone')?.cpuNs;
    return {
      messages,
      sameThreadMsgsPerSec,
      sameThreadFloodMsgsPerSec: flood.rate,
      ringMsgsPerSec,
      postMessageMsgsPerSec,
      ringOverPostMessage: ringMsgsPerSec / postMessageMsgsPerSec,
      rawRingMsgsPerSec: mode('ring'),
      askRoundTripUs: { p50: quantile(rtts, 0.5), p99: quantile(rtts, 0.99), samples: rtts.length },
      // (same thread: source and sink share the thread, so both read its whole CPU time)
      cpuNsPerMessage: {
        sameThread: same.cpu.sinkNs,
        ringSender: ring.cpu.sourceNs,
        ringReceiver: ring.cpu.sinkNs,
        postMessageSender: clone?.producer ?? NaN,
        postMessageReceiver: clone?.consumer ?? NaN,
      },
    };
  } finally {
    await sched.stop();
  }
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);

export function formatMailboxBench(r: MailboxBenchResult): string {
  const c = r.cpuNsPerMessage;
  const rows: [string, string, string][] = [
    ['same-thread delivery (actor → actor)', `${fmt(r.sameThreadMsgsPerSec)} msgs/s`, 'goal ≥ 10 M msgs/s (the source sends 64 per turn)'],
    ['same-thread, a flood (10,000 per turn)', `${fmt(r.sameThreadFloodMsgsPerSec)} msgs/s`, 'a backlog of up to all the messages: mostly their GC'],
    ['cross-thread ring (actor → actor)', `${fmt(r.ringMsgsPerSec)} msgs/s`, ''],
    ['cross-thread postMessage (same message)', `${fmt(r.postMessageMsgsPerSec)} msgs/s`, ''],
    ['ring / postMessage', `${r.ringOverPostMessage.toFixed(2)}×`, 'goal ≥ 5×'],
    ['raw ring, no actors (reference)', `${fmt(r.rawRingMsgsPerSec)} msgs/s`, ''],
    ['CPU per message: same-thread', `${r.cpuNsPerMessage.sameThread.toFixed(0)} ns`, `≈ ${fmt(1e9 / r.cpuNsPerMessage.sameThread)} msgs/s on a free core`],
    ['CPU per message: ring sender / receiver', `${r.cpuNsPerMessage.ringSender.toFixed(0)} / ${r.cpuNsPerMessage.ringReceiver.toFixed(0)} ns`, `≈ ${fmt(1e9 / Math.max(r.cpuNsPerMessage.ringSender, r.cpuNsPerMessage.ringReceiver))} msgs/s on two free cores`],
    ['CPU per message: postMessage sender / receiver', `${c.postMessageSender.toFixed(0)} / ${c.postMessageReceiver.toFixed(0)} ns`, `ring / postMessage by CPU (the busier side): ${(Math.max(c.postMessageSender, c.postMessageReceiver) / Math.max(c.ringSender, c.ringReceiver)).toFixed(2)}×`],
    ['ask round trip across threads', `p50 ${r.askRoundTripUs.p50.toFixed(1)} µs, p99 ${r.askRoundTripUs.p99.toFixed(1)} µs`, `${r.askRoundTripUs.samples} asks`],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  return [`mailbox benchmark (${r.messages.toLocaleString()} messages per delivery pass, 2 worker threads)`, ...rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`)].join('\n');
}

// The `npm run bench -- mailbox` entry points.
export const describe = 'same-thread vs ring vs postMessage delivery, ask round trips (--messages N, --asks N)';
export const run = (o: Record<string, string | boolean | undefined>): Promise<MailboxBenchResult> =>
  runMailboxBench({ messages: o.messages ? Number(o.messages) : undefined, asks: o.asks ? Number(o.asks) : undefined });
export const format = (r: unknown): string => formatMailboxBench(r as MailboxBenchResult);
