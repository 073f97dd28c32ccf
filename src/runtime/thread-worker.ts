// Entry point of one worker thread of the `threads` scheduler: a LocalRuntime whose
// cross-thread messages travel through the ring mesh, and a comlink control channel to the
// main thread (spawn a host root, stop it, read stats, shut down).

import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { createLogger, type LogSettings } from './log.js';
import { watchEventLoop } from './loop-lag.js';
import { MessageRegistry } from '../wire/registry.js';
import { RuntimeError } from './errors.js';
import { RealDispatcher } from './real-dispatcher.js';
import { RingInbox, RingSender, type ThreadRings, type ThreadSides } from './ring-channel.js';
import { LocalRuntime } from './runtime.js';
import { PiscinaPool } from './work-pool-piscina.js';
import type { Storage } from './storage.js';
import { LmdbStorage } from './storage-lmdb.js';
import { JournaledStorage } from './storage-journal.js';
import { openNodeStorage } from './storage-node.js';
import { storageFaultMessage } from './storage-faults.js';
import { isCorruptStorageError } from './sealed.js';
import type { NamedBehaviour } from './types.js';
import { tracer, type TraceEvent } from './trace.js';

export interface WorkerBoot {
  index: number;
  /** Location names by mesh index. */
  names: string[];
  rings: ThreadRings;
  /** The rings' side channels (large payloads; in the transferList). */
  sides: ThreadSides;
  /** Modules that register behaviours (file URLs). */
  modules: string[];
  seed: number;
  /** The process's --log and --log-file: every thread logs as the main thread does. */
  log: LogSettings;
}

export interface WorkerStats {
  location: string;
  actors: number;
  deadLetters: number;
  sent: number;
  received: number;
  queued: number;
  queuedMax: number;
  parks: number;
  wakeups: number;
  doorbellNotifies: number;
}

/** The control API a worker exposes to the main thread over comlink. */
export interface WorkerControl {
  /** `storageName`: the host's database in the environment shared at `storageDir`
   * (LmdbStorage.openShared); without it the host has the environment to itself. Either is
   * made durable by a journal of the node's own (storage-node.ts). */
  spawnRoot(name: string, spec: NamedBehaviour, opts: { storageDir?: string; storageName?: string; host?: string }): Promise<string>;
  stopRoot(name: string): Promise<void>;
  stats(): Promise<WorkerStats>;
  /** Request tracing on this thread on or off (trace.ts); and its events so far, taken. */
  trace(on: boolean, ttlMs?: number): Promise<void>;
  traceDrain(): Promise<TraceEvent[]>;
  shutdown(): Promise<void>;
}

const boot = workerData as WorkerBoot;
for (const m of boot.modules) await import(m);

const registry = MessageRegistry.standard();
const location = boot.names[boot.index]!;
const senders = new Map<string, RingSender>();
boot.rings.outgoing.forEach((ring, j) => {
  if (ring) senders.set(boot.names[j]!, new RingSender(registry, ring, boot.sides.outgoing[j]));
});
const logger = createLogger(boot.log, { thread: location });
const stopLagWatch = watchEventLoop(logger);
const runtime = new LocalRuntime({
  location,
  dispatcher: new RealDispatcher(),
  registry,
  seed: boot.seed,
  logger,
  transport: (to, env) => {
    // Locations that are not threads (network clients, other hosts) are reached through the
    // main thread, which holds the TCP bridge.
    const sender = senders.get(to) ?? senders.get('main');
    if (!sender) throw new RuntimeError('EHOSTUNREACH', `no ring from ${location} to ${to}`);
    sender.send(env);
  },
});
// Snapshots and other heavy pure work leave this thread (issue 19, point 4).
runtime.pool = new PiscinaPool(boot.modules);
const storages = new Map<string, Storage>();
runtime.storageForHost = (host) => storages.get(host);
// A value found corrupt (or a full disk) by any actor of a node fails that node's storage.
runtime.onActorFailure = (path, error) => {
  const root = runtime.cells.get(`/${path.split('/')[1]}`);
  const storage = root && storages.get(root.host);
  const fatal = isCorruptStorageError(error) || (error instanceof RuntimeError && error.code === 'ENOSPC');
  if (fatal && (storage instanceof JournaledStorage || storage instanceof LmdbStorage)) storage.fail(error);
};
const inbox = new RingInbox(
  registry,
  boot.rings.incoming.filter((r): r is NonNullable<typeof r> => r !== null),
  {
    sides: boot.sides.incoming.filter((_, j) => boot.rings.incoming[j] !== null),
    onEnvelope: (env) => runtime.deliver(env),
    onError: (err) => logger.error({ err }, 'ring inbox error'),
  },
);

const control: WorkerControl = {
  async spawnRoot(name, spec, opts) {
    const host = opts.host ?? name;
    let storage: Storage | undefined;
    if (opts.storageDir) {
      const own = openNodeStorage(opts.storageDir, opts.storageName);
      const dir = opts.storageDir;
      // As govfs node does: a node whose storage fails (a full disk, a value failing its
      // checksum) says so once; its storage refuses every later read and write, so the node
      // acknowledges, votes and serves nothing more, and the others carry on.
      own.onFault((e) => process.stderr.write(`govfs: node ${host}: ${storageFaultMessage(dir, e)}\n`));
      storage = own;
      storages.set(host, storage);
    }
    return runtime.spawnRoot(name, spec, { host, storage }).address;
  },
  async stopRoot(name) {
    const root = runtime.cells.get(`/${name}`);
    root?.stop();
    // The host's storage closes with it, so a later spawnRoot can open it again.
    const host = root?.host ?? name;
    const storage = storages.get(host);
    storages.delete(host);
    await storage?.close();
  },
  async stats() {
    let sent = 0;
    let queued = 0;
    let queuedMax = 0;
    let doorbellNotifies = 0;
    for (const s of senders.values()) {
      sent += s.stats.sent;
      queued += s.queued;
      queuedMax = Math.max(queuedMax, s.stats.queuedMax);
      doorbellNotifies += s.stats.doorbellNotifies;
    }
    return {
      location,
      actors: runtime.cells.size,
      deadLetters: runtime.deadLetters,
      sent,
      received: inbox.stats.received,
      queued,
      queuedMax,
      parks: inbox.stats.parks,
      wakeups: inbox.stats.wakeups,
      doorbellNotifies,
    };
  },
  async trace(on, ttlMs) {
    tracer.enable(on, location, ttlMs);
  },
  async traceDrain() {
    return tracer.drain();
  },
  async shutdown() {
    stopLagWatch();
    runtime.stopAll();
    await Promise.all([...senders.values()].map((s) => s.whenFlushed()));
    inbox.close();
    for (const s of storages.values()) await s.close();
    storages.clear();
    await LmdbStorage.closeShared();
    await runtime.pool.close();
  },
};

Comlink.expose(control, nodeEndpoint(parentPort!));
