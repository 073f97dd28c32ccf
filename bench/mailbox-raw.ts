// Raw cross-thread mailbox throughput: one producer worker → one consumer worker, the same small
// Ping envelope (seq, sender, 16-byte payload) through
//   ring        a ringbuf.js SPSC ring (RingSender → RingInbox): protobuf-encoded into ring memory,
//               decoded from it; the producer waits (without blocking) when the ring is full
//   clone       MessagePort.postMessage of the envelope object (structured clone)
//   bytes       MessagePort.postMessage of the protobuf-encoded envelope (encode, clone, decode)
// Each mode gets its own pair of workers, a warm-up pass, then `repeats` timed passes; the median
// counts. Time runs from the "go" sent to the producer until the consumer reports the last message.
//
//   npx tsx bench/mailbox-raw.ts [--json] [--messages N] [--repeats R] [--ring-bytes B]
//
// `runRawMailboxBench(opts)` runs the same from other code (e.g. `npm run bench -- mailbox`).

import { cpus } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { EnvelopeKind, MessageRegistry, type TypedMessage, type WireEnvelope } from '../src/wire/registry.js';
import {
  DEFAULT_RING_CAPACITY,
  RingInbox,
  type RingInboxStats,
  RingSender,
  type RingSenderStats,
  createRingChannel,
  type RingChannelShared,
} from '../src/runtime/ring-channel.js';
import { threadCpuMs } from './thread-cpu.js';

export type RawMailboxMode = 'ring' | 'clone' | 'bytes';

export interface RawMailboxBenchOptions {
  /** Messages per timed pass (default 500,000). */
  messages?: number;
  /** Messages of the untimed warm-up pass (default 100,000). */
  warmup?: number;
  /** Timed passes per mode; the median is reported (default 3). */
  repeats?: number;
  /** Ring capacity in bytes (default 1 MiB). */
  ringBytes?: number;
  /** Payload bytes of each Ping (default 16). */
  payloadBytes?: number;
  /** Modes to run (default all three). */
  modes?: RawMailboxMode[];
}

export interface RawMailboxModeResult {
  mode: RawMailboxMode;
  label: string;
  messages: number;
  /** Median over the timed passes. */
  msgsPerSec: number;
  elapsedMs: number;
  /** msgs/s of each timed pass. */
  passes: number[];
  /** Thread CPU time per message of the producer and of the consumer, least over the timed
   * passes (ns; NaN without Linux's /proc/thread-self). */
  cpuNs: { producer: number; consumer: number };
  /** Ring mode only: counters over all passes (warm-up included). */
  sender?: RingSenderStats;
  inbox?: RingInboxStats;
}

export interface RawMailboxBenchResult {
  bench: 'mailbox-raw';
  node: string;
  cpus: number;
  options: Required<Omit<RawMailboxBenchOptions, 'modes'>>;
  /** Encoded envelope size in bytes (without the 4-byte ring frame header). */
  envelopeBytes: number;
  /** One entry per mode run, in order. */
  modes: RawMailboxModeResult[];
  /** ring msgs/s ÷ clone msgs/s, and ÷ bytes msgs/s (when those modes ran). */
  ringVsClone?: number;
  ringVsBytes?: number;
}

const LABELS: Record<RawMailboxMode, string> = {
  ring: 'ring (protobuf in ring memory)',
  clone: 'postMessage (structured clone)',
  bytes: 'postMessage (protobuf bytes)',
};

interface WorkerData {
  mailboxRawBench: true;
  role: 'producer' | 'consumer';
  mode: RawMailboxMode;
  ring?: RingChannelShared;
  port?: MessagePort;
  payloadBytes: number;
}

function envelope(payloadBytes: number): WireEnvelope & { msg: TypedMessage & { seq: number } } {
  const payload = new Uint8Array(payloadBytes);
  for (let i = 0; i < payloadBytes; i++) payload[i] = (i * 37 + 11) & 0xff;
  return {
    to: 't1#/bench/sink',
    from: 't0#/bench/source',
    kind: EnvelopeKind.Tell,
    corr: 0,
    msg: { type: 'govfs.runtime.Ping', seq: 0, sender: 1, payload },
  };
}

// ---------------------------------------------------------------------------------------------
// Worker side

async function producerMain(data: WorkerData): Promise<void> {
  const port = parentPort!;
  const registry = MessageRegistry.standard();
  const env = envelope(data.payloadBytes);
  let seq = 0;
  let send: (count: number) => Promise<void>;
  let stats: () => unknown = () => undefined;
  if (data.mode === 'ring') {
    const sender = new RingSender(registry, data.ring!);
    stats = () => sender.stats;
    send = async (count) => {
      for (let i = 0; i < count; i++) {
        env.msg.seq = seq++;
        sender.send(env);
        if (sender.queued > 0) await sender.whenFlushed();
      }
    };
  } else if (data.mode === 'clone') {
    const out = data.port!;
    send = async (count) => {
      for (let i = 0; i < count; i++) {
        env.msg.seq = seq++;
        out.postMessage(env);
      }
    };
  } else {
    const out = data.port!;
    send = async (count) => {
      for (let i = 0; i < count; i++) {
        env.msg.seq = seq++;
        out.postMessage(registry.toBytes(env));
      }
    };
  }
  port.on('message', (m: { go?: number; exit?: boolean }) => {
    if (m.go !== undefined) {
      const cpu0 = threadCpuMs();
      void send(m.go).then(() => port.postMessage({ kind: 'sent', stats: stats(), cpuMs: threadCpuMs() - cpu0 }));
    }
    if (m.exit) {
      data.port?.close();
      port.close();
    }
  });
  port.postMessage({ kind: 'ready' });
}

function consumerMain(data: WorkerData): void {
  const port = parentPort!;
  const registry = MessageRegistry.standard();
  let received = 0;
  let target = Infinity;
  let nextSeq = 0;
  let outOfOrder = 0;
  let cpu0 = 0;
  let inbox: RingInbox | undefined;
  const stats = (): unknown => inbox?.stats;
  const got = (seq: number): void => {
    if (seq !== nextSeq) outOfOrder++;
    nextSeq = seq + 1;
    if (++received === target) {
      target = Infinity;
      // report after the current batch has settled its counters
      setImmediate(() => port.postMessage({ kind: 'done', received, outOfOrder, stats: stats(), cpuMs: threadCpuMs() - cpu0 }));
    }
  };
  if (data.mode === 'ring') {
    inbox = new RingInbox(registry, data.ring!, { onEnvelope: (env) => got((env.msg as TypedMessage & { seq: number }).seq) });
  } else if (data.mode === 'clone') {
    data.port!.on('message', (env: WireEnvelope) => got((env.msg as TypedMessage & { seq: number }).seq));
  } else {
    data.port!.on('message', (bytes: Uint8Array) => got((registry.decode(bytes).msg as TypedMessage & { seq: number }).seq));
  }
  port.on('message', (m: { expect?: number; exit?: boolean }) => {
    if (m.expect !== undefined) {
      target = received + m.expect;
      cpu0 = threadCpuMs();
      port.postMessage({ kind: 'armed' });
    }
    if (m.exit) {
      inbox?.close();
      data.port?.close();
      port.close();
    }
  });
  port.postMessage({ kind: 'ready' });
}

// ---------------------------------------------------------------------------------------------
// Main side

interface Msg {
  kind: string;
  [k: string]: unknown;
}

/** A worker running this file: the .ts source through tsx (registered inside the worker: Node 20
 * ignores `--import tsx` in a worker's execArgv), or the compiled .js. */
function startSelf(data: WorkerData, transfer: MessagePort[]): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); });`;
    return new Worker(code, { eval: true, workerData: data, transferList: transfer });
  }
  return new Worker(new URL(self), { workerData: data, transferList: transfer });
}

class Peer {
  private readonly inbox: Msg[] = [];
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  constructor(readonly worker: Worker) {
    worker.on('message', (m: Msg) => {
      this.inbox.push(m);
      this.waiter?.();
    });
    worker.on('error', (e) => {
      this.failure = e;
      this.waiter?.();
    });
    worker.on('exit', (code) => {
      this.failure ??= new Error(`bench worker exited (${code})`);
      this.waiter?.();
    });
  }
  async next(kind: string, ms = 120_000): Promise<Msg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.kind === kind);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`bench: no '${kind}' within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }
}

async function runMode(mode: RawMailboxMode, o: Required<Omit<RawMailboxBenchOptions, 'modes'>>): Promise<RawMailboxModeResult> {
  const base = { mailboxRawBench: true as const, mode, payloadBytes: o.payloadBytes };
  let pd: WorkerData;
  let cd: WorkerData;
  let pt: MessagePort[] = [];
  let ct: MessagePort[] = [];
  if (mode === 'ring') {
    const ring = createRingChannel({ capacity: o.ringBytes, label: 'producer->consumer' });
    pd = { ...base, role: 'producer', ring };
    cd = { ...base, role: 'consumer', ring };
  } else {
    const { port1, port2 } = new MessageChannel();
    pd = { ...base, role: 'producer', port: port1 };
    cd = { ...base, role: 'consumer', port: port2 };
    pt = [port1];
    ct = [port2];
  }
  const consumer = new Peer(startSelf(cd, ct));
  const producer = new Peer(startSelf(pd, pt));
  try {
    await Promise.all([consumer.next('ready'), producer.next('ready')]);
    const pass = async (count: number): Promise<{ ms: number; done: Msg; sent: Msg }> => {
      consumer.worker.postMessage({ expect: count });
      await consumer.next('armed');
      const t0 = performance.now();
      producer.worker.postMessage({ go: count });
      const done = await consumer.next('done');
      const ms = performance.now() - t0;
      const sent = await producer.next('sent');
      if (done.outOfOrder !== 0) throw new Error(`bench ${mode}: ${String(done.outOfOrder)} messages out of order`);
      return { ms, done, sent };
    };
    if (o.warmup > 0) await pass(o.warmup);
    const passes: number[] = [];
    const times: number[] = [];
    let last: { ms: number; done: Msg; sent: Msg } | undefined;
    const cpuNs = { producer: Infinity, consumer: Infinity };
    for (let r = 0; r < o.repeats; r++) {
      last = await pass(o.messages);
      times.push(last.ms);
      passes.push(o.messages / (last.ms / 1000));
      cpuNs.producer = Math.min(cpuNs.producer, ((last.sent.cpuMs as number) * 1e6) / o.messages);
      cpuNs.consumer = Math.min(cpuNs.consumer, ((last.done.cpuMs as number) * 1e6) / o.messages);
    }
    if (!(cpuNs.producer > 0 && cpuNs.consumer > 0 && Number.isFinite(cpuNs.producer + cpuNs.consumer))) cpuNs.producer = cpuNs.consumer = NaN;
    const sorted = [...times].sort((a, b) => a - b);
    const elapsedMs = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const result: RawMailboxModeResult = {
      mode,
      label: LABELS[mode],
      messages: o.messages,
      msgsPerSec: o.messages / (elapsedMs / 1000),
      elapsedMs,
      passes,
      cpuNs,
    };
    if (mode === 'ring' && last) {
      result.sender = last.sent.stats as RingSenderStats;
      result.inbox = last.done.stats as RingInboxStats;
    }
    return result;
  } finally {
    await Promise.all([consumer.worker.terminate(), producer.worker.terminate()]);
  }
}

export async function runRawMailboxBench(opts: RawMailboxBenchOptions = {}): Promise<RawMailboxBenchResult> {
  const o = {
    messages: opts.messages ?? 500_000,
    warmup: opts.warmup ?? 100_000,
    repeats: Math.max(1, opts.repeats ?? 3),
    ringBytes: opts.ringBytes ?? DEFAULT_RING_CAPACITY,
    payloadBytes: opts.payloadBytes ?? 16,
  };
  const modes = opts.modes ?? ['ring', 'clone', 'bytes'];
  const results: RawMailboxModeResult[] = [];
  for (const mode of modes) results.push(await runMode(mode, o));
  const rate = (m: RawMailboxMode): number | undefined => results.find((r) => r.mode === m)?.msgsPerSec;
  const ring = rate('ring');
  const clone = rate('clone');
  const bytes = rate('bytes');
  return {
    bench: 'mailbox-raw',
    node: process.version,
    cpus: cpus().length,
    options: o,
    envelopeBytes: MessageRegistry.standard().toBytes(envelope(o.payloadBytes)).length,
    modes: results,
    ringVsClone: ring && clone ? ring / clone : undefined,
    ringVsBytes: ring && bytes ? ring / bytes : undefined,
  };
}

export function formatRawMailboxBench(r: RawMailboxBenchResult): string {
  const lines: string[] = [];
  lines.push(
    `mailbox-raw: 1 producer worker -> 1 consumer worker, Ping envelope of ${r.envelopeBytes} bytes ` +
      `(${r.options.payloadBytes}-byte payload), ${r.options.messages.toLocaleString('en-US')} messages x ${r.options.repeats} ` +
      `(median), ring ${r.options.ringBytes} bytes, node ${r.node}, ${r.cpus} cpus`,
  );
  const w = Math.max(...r.modes.map((x) => x.label.length), 4);
  lines.push(`${'mode'.padEnd(w)}  ${'msgs/s'.padStart(12)}  ${'ms'.padStart(8)}  ${'vs clone'.padStart(8)}`);
  const clone = r.modes.find((x) => x.mode === 'clone')?.msgsPerSec;
  for (const x of r.modes) {
    const ratio = clone ? `${(x.msgsPerSec / clone).toFixed(2)}x` : '';
    lines.push(
      `${x.label.padEnd(w)}  ${Math.round(x.msgsPerSec).toLocaleString('en-US').padStart(12)}  ${x.elapsedMs.toFixed(1).padStart(8)}  ${ratio.padStart(8)}`,
    );
  }
  if (r.ringVsClone !== undefined) lines.push(`ring / postMessage(clone) = ${r.ringVsClone.toFixed(2)}x`);
  if (r.ringVsBytes !== undefined) lines.push(`ring / postMessage(bytes) = ${r.ringVsBytes.toFixed(2)}x`);
  const ring = r.modes.find((x) => x.mode === 'ring');
  if (ring?.inbox && ring.sender) {
    lines.push(
      `ring counters (all passes): consumer wake-ups ${ring.inbox.wakeups}, parks ${ring.inbox.parks}, yields ${ring.inbox.yields}; ` +
        `producer doorbell notifies ${ring.sender.doorbellNotifies}, waits for space ${ring.sender.spaceWaits}, ` +
        `messages queued ${ring.sender.queuedTotal}`,
    );
  }
  return lines.join('\n');
}

function argValue(args: string[], name: string): number | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const result = await runRawMailboxBench({
    messages: argValue(args, '--messages'),
    warmup: argValue(args, '--warmup'),
    repeats: argValue(args, '--repeats'),
    ringBytes: argValue(args, '--ring-bytes'),
  });
  if (args.includes('--json')) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${formatRawMailboxBench(result)}\n`);
}

if (!isMainThread && (workerData as Partial<WorkerData> | null)?.mailboxRawBench) {
  const data = workerData as WorkerData;
  if (data.role === 'producer') await producerMain(data);
  else consumerMain(data);
} else if (isMainThread && process.argv[1] && resolvePath(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
