// The `threads` scheduler: W worker threads, each a LocalRuntime, joined by one SPSC ring per
// ordered pair of threads (the main thread is one more member of the mesh, so it can ask
// actors directly). comlink carries the rare control calls; every actor message goes through
// the rings (DESIGN.md, "Placement", "Mailboxes", "Control channel").

import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Logger } from 'pino';
import { EnvelopeKind, MessageRegistry } from '../wire/registry.js';
import { RuntimeError } from './errors.js';
import { RealDispatcher } from './real-dispatcher.js';
import { RingInbox, RingSender, createRingMesh, sidePorts } from './ring-channel.js';
import { createLogger, envLogSettings, type LogSettings } from './log.js';
import { LocalRuntime } from './runtime.js';
import type { WorkerBoot, WorkerControl, WorkerStats } from './thread-worker.js';
import type { Message, NamedBehaviour, Ref } from './types.js';
import { tracer, type TraceEvent } from './trace.js';

export interface ThreadsOptions {
  /** Worker threads (default: the number of cores). */
  threads?: number;
  /** Modules (file URLs or paths) each worker imports to register its behaviours. */
  modules?: (string | URL)[];
  /** Bytes per ring (default 1 MiB). */
  ringCapacity?: number;
  seed?: number;
  /** Every thread's log (default GOVFS_LOG / GOVFS_LOG_FILE; quiet without them). */
  log?: LogSettings;
  /** Only the level of `log` (kept for callers that set only that). */
  logLevel?: string;
  /** The main thread's logger (default: one from `log`). */
  logger?: Logger;
}

export const MAIN_LOCATION = 'main';

function workerEntry(): { url: URL; tsx: boolean } {
  const here = import.meta.url;
  const tsx = here.endsWith('.ts');
  return { url: new URL(tsx ? './thread-worker.ts' : './thread-worker.js', here), tsx };
}

/** Start a worker on the compiled entry, or on the TypeScript one through tsx (a worker does
 * not inherit `--import tsx`, so it registers tsx's hooks itself before loading the entry). */
/** Actor messages are short-lived objects: a roomy young generation keeps scavenges rare
 * (measured: same-thread delivery goes from ~5 to ~10 M msgs/s with 64 MiB semi-spaces). */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 192 };

/** Let each isolate's old generation grow to 4x what a full GC left live (V8's own factor for
 * large heaps) before the next one, unless the process was started with its own setting. V8
 * counts the ArrayBuffers allocated since the last full GC against that limit and wants a young
 * generation's worth of room (up to 64 MiB here) besides: a chunk store's worker (~15 MB live)
 * allocating 2-3 MiB of buffers per MiB stored ran a full GC every few MiB, a third of all the
 * CPU a sequential write cost (issue 17: `npm run bench -- data`, 38 full GCs for 128 MiB, about
 * 8 ms per MiB written; 13 for 512 MiB with this). A V8 flag is process-wide and read at each
 * GC, so the main thread's isolate grows the same way (bounded by --max-old-space-size). */
let heapGrowthSet = false;
function setHeapGrowth(): void {
  if (heapGrowthSet) return;
  heapGrowthSet = true;
  if (/--heap-growing-percent/.test(`${process.execArgv.join(' ')} ${process.env['NODE_OPTIONS'] ?? ''}`)) return;
  setFlagsFromString('--heap-growing-percent=300');
}

function startWorker(boot: WorkerBoot): Worker {
  setHeapGrowth();
  const { url, tsx } = workerEntry();
  // The rings' side channels (large payloads) move to the worker with its boot data.
  const transferList = sidePorts(boot.sides);
  if (!tsx) return new Worker(url, { workerData: boot, transferList, resourceLimits: WORKER_LIMITS });
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData: boot, transferList, resourceLimits: WORKER_LIMITS });
}

export class ThreadsScheduler {
  /** The main thread's runtime (location `main`): asks from outside go from here. */
  readonly runtime: LocalRuntime;
  readonly threads: number;
  private readonly workers: Worker[];
  private readonly controls: Comlink.Remote<WorkerControl>[];
  private readonly inbox: RingInbox;
  private readonly senders: Map<string, RingSender>;
  private stopped = false;

  private constructor(runtime: LocalRuntime, workers: Worker[], controls: Comlink.Remote<WorkerControl>[], inbox: RingInbox, senders: Map<string, RingSender>) {
    this.runtime = runtime;
    this.workers = workers;
    this.controls = controls;
    this.inbox = inbox;
    this.senders = senders;
    this.threads = workers.length;
  }

  static async start(opts: ThreadsOptions = {}): Promise<ThreadsScheduler> {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new RuntimeError('EINVAL', `threads must be a positive integer, got ${threads}`);
    const names = [...Array.from({ length: threads }, (_, i) => `t${i}`), MAIN_LOCATION];
    const mesh = createRingMesh(threads + 1, { capacity: opts.ringCapacity, names });
    const modules = (opts.modules ?? []).map((m) => (m instanceof URL ? m.href : m.startsWith('file:') ? m : new URL(m, `file://${process.cwd()}/`).href));
    const seed = opts.seed ?? (Math.random() * 2 ** 32) >>> 0;
    const base = opts.log ?? envLogSettings();
    // Workers' stderr is a pipe to this thread: whether it is a terminal is decided here.
    const log: LogSettings = { ...base, level: opts.logLevel ?? base.level, pretty: base.pretty ?? (!base.file && process.stderr.isTTY === true) };
    const registry = MessageRegistry.standard();

    const workers = names.slice(0, threads).map((_, index) =>
      startWorker({ index, names, rings: mesh.forThread(index), sides: mesh.sidesForThread(index), modules, seed: (seed + index * 7919) >>> 0, log }),
    );
    const mainIndex = threads;
    const mainRings = mesh.forThread(mainIndex);
    const mainSides = mesh.sidesForThread(mainIndex);
    const senders = new Map<string, RingSender>();
    mainRings.outgoing.forEach((ring, j) => {
      if (ring) senders.set(names[j]!, new RingSender(registry, ring, mainSides.outgoing[j], 'end-of-turn'));
    });
    const runtime = new LocalRuntime({
      location: MAIN_LOCATION,
      dispatcher: new RealDispatcher(),
      registry,
      seed,
      logger: opts.logger ?? createLogger(log, { thread: MAIN_LOCATION }),
      transport: (to, env) => {
        const s = senders.get(to);
        if (!s) throw new RuntimeError('EHOSTUNREACH', `no thread "${to}" (this scheduler runs t0..t${threads - 1})`);
        s.send(env);
      },
    });
    const inbox = new RingInbox(registry, mainRings.incoming.filter((r): r is NonNullable<typeof r> => r !== null), {
      sides: mainSides.incoming.filter((_, j) => mainRings.incoming[j] !== null),
      onEnvelope: (env) => runtime.deliver(env),
      onError: (err) => runtime.log.error({ err }, 'ring inbox error'),
      // Replies for asks that only pass them on (clients' connection actors) stay encoded.
      raw: (kind, corr, type) => kind === EnvelopeKind.Reply && type !== 'govfs.runtime.AskFailed' && runtime.wantsRaw(corr),
    });
    const controls = workers.map((w) => Comlink.wrap<WorkerControl>(nodeEndpoint(w)));
    const failures = workers.map(
      (w, i) =>
        new Promise<never>((_, reject) => {
          w.once('error', (e) => reject(new RuntimeError('EFAULT', `worker t${i} failed to start: ${e.message}`, { cause: e })));
        }),
    );
    const scheduler = new ThreadsScheduler(runtime, workers, controls, inbox, senders);
    try {
      // A first round trip proves each worker loaded its modules and is serving.
      await Promise.race([Promise.all(controls.map((c) => c.stats())), ...failures]);
    } catch (e) {
      await scheduler.stop();
      throw e;
    }
    for (const f of failures) f.catch(() => {});
    return scheduler;
  }

  /** Start a host's root actor on a worker thread; `storageDir` gives it lmdb storage (its own
   * environment, or with `storageName` its database in an environment shared there). */
  async spawnRoot<M = Message>(name: string, spec: NamedBehaviour, opts: { thread?: number; storageDir?: string; storageName?: string; host?: string } = {}): Promise<Ref<M>> {
    const thread = opts.thread ?? 0;
    const control = this.controls[thread];
    if (!control) throw new RuntimeError('EINVAL', `no thread ${thread} (this scheduler runs 0..${this.threads - 1})`);
    const address = await control.spawnRoot(name, spec, { storageDir: opts.storageDir, storageName: opts.storageName, host: opts.host });
    return this.runtime.ref<M>(address);
  }

  async stopRoot(name: string, thread: number): Promise<void> {
    await this.controls[thread]?.stopRoot(name);
  }

  ref<M = Message>(address: string): Ref<M> {
    return this.runtime.ref<M>(address);
  }

  ask<R = Message>(target: Ref | string, msg: Message, timeoutMs = 5_000): Promise<R> {
    return this.runtime.ask<R>(typeof target === 'string' ? target : target.address, msg, { timeoutMs });
  }

  async stats(): Promise<WorkerStats[]> {
    return Promise.all(this.controls.map((c) => c.stats()));
  }

  /** Request tracing (trace.ts) on or off on every thread, each trace followed `ttlMs`;
   * arm it with `tracer.arm` on this thread. */
  async trace(on: boolean, ttlMs?: number): Promise<void> {
    await Promise.all(this.controls.map((c) => c.trace(on, ttlMs)));
    tracer.enable(on, MAIN_LOCATION, ttlMs);
  }

  /** Every thread's trace events so far (taken from their buffers), in time order. */
  async traceDrain(): Promise<TraceEvent[]> {
    const all = [...tracer.drain(), ...(await Promise.all(this.controls.map((c) => c.traceDrain()))).flat()];
    return all.sort((a, b) => a.t - b.t);
  }

  /** Each worker's event-loop time so far, busy and idle (ms), read from the main thread
   * without a round trip (Worker.performance), for metrics of every thread. */
  eventLoopTimes(): { location: string; activeMs: number; idleMs: number }[] {
    return this.workers.map((w, i) => {
      const u = w.performance.eventLoopUtilization();
      return { location: `t${i}`, activeMs: u.active, idleMs: u.idle };
    });
  }

  /** Stop every actor, flush the rings, close storages and end the workers. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.runtime.stopAll();
    await Promise.allSettled(this.controls.map((c) => c.shutdown()));
    for (const c of this.controls) c[Comlink.releaseProxy]();
    this.inbox.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
