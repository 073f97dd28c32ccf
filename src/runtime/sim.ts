// The `sim` scheduler: every actor of every simulated host on one thread, in virtual time,
// from one seed (DESIGN.md, "The sim scheduler"). Hosts talk over a simulated network that
// encodes every message as on the wire and may delay, drop, duplicate, reorder or partition
// it; hosts crash (their tree stops at once, un-synced writes are lost) and restart over their
// durable storage; clocks drift within a bound; fsyncs may be slow (a heavy tail) or fail,
// and a failed fsync crashes its host (see SimFsyncOptions). A trace hash summarises the run:
// the same seed gives the same hash. A run that stops advancing virtual time (a livelock)
// fails with its seed instead of hanging.

import type { Logger } from 'pino';
import { MessageRegistry, type WireEnvelope } from '../wire/registry.js';
import { RuntimeError } from './errors.js';
import { machineBusy, type SimCpuOptions, type SimMachine } from './sim-cpu.js';
export type { SimCpuOptions, SimMachine } from './sim-cpu.js';
import { MinHeap } from './heap.js';
import { Deque, SeedTree, hashString, type SeededRandom } from './random.js';
import { LocalRuntime, defaultLogger, type ActorCell, type Dispatcher } from './runtime.js';
import { SimStorage } from './storage-sim.js';
import type { Cancel, Message, Ref, Spawnable } from './types.js';

export interface SimNetworkOptions {
  /** One-way latency is drawn uniformly from [minLatencyMs, maxLatencyMs] ... */
  minLatencyMs: number;
  maxLatencyMs: number;
  /** ... and, with this probability, a long tail is added (exponential, mean tailMs). */
  tailProbability: number;
  tailMs: number;
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
}

/**
 * Simulated fsyncs. A failed fsync crashes its host at that moment, losing what was not yet
 * durable, and the host restarts after a while (as a supervisor would restart the process):
 * after a failed fsync the kernel may have dropped the dirty pages while reads still show
 * them ("fsyncgate", PostgreSQL 2018), so the only safe answer is to start again from what is
 * durable, having acknowledged nothing that was not.
 */
export interface SimFsyncOptions {
  /** Latency drawn uniformly from [minMs, maxMs] ... */
  minMs: number;
  maxMs: number;
  /** ... and, with this probability, a heavy tail is added (Lomax, shape 1.5, median about
   * 0.6 × slowMs, capped at 50 × slowMs): a disk busy with something else. */
  slowRate: number;
  slowMs: number;
  /** Probability that an fsync fails: its host crashes, and restarts after a delay drawn from
   * [restartMinMs, restartMaxMs]. */
  failRate: number;
  restartMinMs: number;
  restartMaxMs: number;
}

export const DEFAULT_FSYNC: SimFsyncOptions = { minMs: 0.05, maxMs: 0.5, slowRate: 0, slowMs: 0, failRate: 0, restartMinMs: 50, restartMaxMs: 500 };

/** Steps (actor turns and events) at one virtual instant after which a run is taken to be
 * livelocked: busy runs stay far below (measured: at most a few dozen). */
export const MAX_STEPS_PER_INSTANT = 100_000;

export interface SimOptions {
  seed: number;
  network?: Partial<SimNetworkOptions>;
  /** Bound on clock rate error per host, in parts per million (default 0: perfect clocks). */
  maxDriftPpm?: number;
  /** fsync latency, drawn uniformly (default 0.05-0.5 ms); shorthand for fsync.minMs/maxMs. */
  minFsyncMs?: number;
  maxFsyncMs?: number;
  fsync?: Partial<SimFsyncOptions>;
  /** Livelock guards: steps at one virtual instant (default MAX_STEPS_PER_INSTANT), and steps
   * in the whole run (default unbounded; a livelock that lets time creep on, e.g. a leader
   * and a follower re-sending the same entries for ever, only this one catches). */
  maxStepsPerInstant?: number;
  maxSteps?: number;
  /** The command that replays this run, named by errors (a livelock). */
  replay?: string;
  registry?: MessageRegistry;
  logger?: Logger;
  /** Modeled CPU, for load balancing (thesis 3.4): a message of a type named here costs the
   * host it reaches that many ms of service time. A host serves them one at a time, in
   * arrival order, so one offered more than it can serve saturates (its messages queue) and
   * its Clock.busy() shows it. Other messages cost nothing. Absent: no host is ever busy. */
  cpu?: SimCpuOptions;
  /** Hosts that share a machine's cores (a local cluster on worker threads): their
   * Clock.machineBusy() is the machine's, the modeled CPU of all its hosts against `cores`
   * (president's balancing, spareCores). A host in none is a machine of its own, whose
   * machineBusy() is null, as before. */
  machines?: SimMachine[];
  /** Called for every message handed to a host, as it arrives (for determinism tests). */
  onDeliver?: (delivery: SimDelivery) => void;
}


/** A message the simulated network delivered: when, between which hosts, and its bytes. */
export interface SimDelivery {
  time: number;
  from: string;
  to: string;
  type: string;
  bytes: Uint8Array;
}

export const RELIABLE_NETWORK: SimNetworkOptions = {
  minLatencyMs: 0.1,
  maxLatencyMs: 1,
  tailProbability: 0,
  tailMs: 0,
  dropRate: 0,
  duplicateRate: 0,
};

/** A lossy network for fault tests: drops, duplicates and reorders. */
export const UNRELIABLE_NETWORK: SimNetworkOptions = {
  minLatencyMs: 0.1,
  maxLatencyMs: 5,
  tailProbability: 0.05,
  tailMs: 20,
  dropRate: 0.05,
  duplicateRate: 0.02,
};

interface SimEvent {
  time: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
  /** The host whose code `fn` runs (a timer, a delivery, an fsync); null: any (a driver's). */
  host: SimHost | null;
}

/** Events run by (time, seq): ties in the order they were scheduled. */
function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export class SimHost {
  runtime!: LocalRuntime;
  up = false;
  /** Bumped on every crash, so a dead incarnation's timers never fire. */
  incarnation = 0;
  /** Local clock = offset + rate × true time. */
  rate = 1;
  offset = 0;
  root!: Ref;
  /** Modeled CPU (SimOptions.cpu): busy serving until this true time; ms served in all. */
  busyUntil = 0;
  busyMs = 0;
  startedAt = 0;
  /** Service booked over every incarnation, less what a crash cut short (for its machine). */
  lifeBusyMs = 0;

  constructor(
    readonly name: string,
    readonly behaviour: Spawnable<unknown>,
    public storage: SimStorage,
  ) {}

  /** Address of an actor on this host, from its path below the root. */
  address(path = ''): string {
    return `${this.name}#/${this.name}${path}`;
  }
}

export interface RunOptions {
  /** Stop as soon as this holds (checked between steps). */
  until?: () => boolean;
  /** Stop after this much virtual time. */
  forMs?: number;
  /** Safety net against livelock. */
  maxSteps?: number;
}

export class Simulation {
  readonly seed: number;
  /** Every stream of this run comes from this tree (see SeedTree). */
  readonly seeds: SeedTree;
  readonly random: SeededRandom;
  readonly registry: MessageRegistry;
  readonly log: Logger;
  network: SimNetworkOptions;
  private readonly netRandom: SeededRandom;
  /** Draws for fsync faults (slow, failed): a stream of their own, so turning them on leaves
   * every other draw of a seed as it was. */
  private readonly diskRandom: SeededRandom;
  readonly fsync: SimFsyncOptions;
  private readonly events = new MinHeap<SimEvent>(before);
  private readonly runQueue = new Deque<ActorCell>();
  private readonly hosts = new Map<string, SimHost>();
  /** Pairs of host names that cannot talk ("a|b", both orders). */
  private readonly cuts = new Set<string>();
  private time = 0;
  private seq = 0;
  private microtasks = false;
  private hashA = 0x811c9dc5;
  private hashB = 0x1b873593;
  private readonly opts: SimOptions;
  messagesSent = 0;
  messagesDropped = 0;
  messagesDuplicated = 0;
  fsyncsSlow = 0;
  fsyncsFailed = 0;
  /** Set once a run failed for good (a livelock): every later run() throws it again. */
  failure: RuntimeError | undefined;
  /** Steps taken in all; at the current virtual instant (the livelock guard), and the most so far. */
  steps = 0;
  private instantSteps = 0;
  maxInstantSteps = 0;
  private instantTime = -1;
  /** Called after every step: invariant checkers throw to fail the run. */
  readonly checks: (() => void)[] = [];
  /** Hosts whose code may have run since the checks last ran (see touched()); all of them
   * after promise continuations or a driver's code, which may touch any. */
  private readonly touchedHosts = new Set<string>();
  private touchedAll = true;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.seed = opts.seed;
    this.seeds = new SeedTree(opts.seed);
    this.random = this.seeds.stream('sim');
    this.netRandom = this.seeds.stream('net');
    this.diskRandom = this.seeds.stream('disk');
    this.fsync = { ...DEFAULT_FSYNC, ...(opts.minFsyncMs !== undefined ? { minMs: opts.minFsyncMs } : {}), ...(opts.maxFsyncMs !== undefined ? { maxMs: opts.maxFsyncMs } : {}), ...opts.fsync };
    this.registry = opts.registry ?? MessageRegistry.standard({ verify: true });
    this.log = opts.logger ?? defaultLogger();
    this.network = { ...RELIABLE_NETWORK, ...opts.network };
  }

  /** The machine `name` shares (SimOptions.machines), if any: its busy time. */
  private machineClock(name: string): Pick<Dispatcher, 'machineBusy'> {
    const m = this.opts.machines?.find((x) => x.hosts.includes(name));
    return m === undefined ? {} : { machineBusy: () => machineBusy(m, (h) => this.hosts.get(h), this.time) };
  }

  /** True (simulator) time in ms. */
  now(): number {
    return this.time;
  }

  get traceHash(): string {
    return (this.hashA >>> 0).toString(16).padStart(8, '0') + (this.hashB >>> 0).toString(16).padStart(8, '0');
  }

  /** Mix an observation into the trace hash. */
  trace(label: string): void {
    this.hashA = hashString(label, this.hashA ^ Math.floor(this.time * 1000));
    this.hashB = hashString(label, Math.imul(this.hashB ^ this.steps, 0x85ebca6b));
  }

  /** Run `fn` after `ms` of true time (for fault schedules and test drivers). */
  at(ms: number, fn: () => void): Cancel {
    return this.atHost(null, ms, fn);
  }

  /** `at` for code of one host only (its timers, deliveries, fsyncs): see touched(). */
  private atHost(host: SimHost | null, ms: number, fn: () => void): Cancel {
    const ev: SimEvent = { time: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false, host };
    this.events.push(ev);
    return () => {
      ev.cancelled = true;
    };
  }

  /** May code of host `name` have run since the checks (sim.checks) last ran? If not, its
   * actors' state is as those checks last saw it, and a check may reuse what it read of it
   * then: a step runs one actor turn or one event, of one host, and only promise
   * continuations and the test driver's own code (between steps) may touch any host (a run's
   * `until` is taken to only look). */
  touched(name: string): boolean {
    return this.touchedAll || this.touchedHosts.has(name);
  }

  /** The hosts touched() holds for, or null for every host: a check need not ask host by host. */
  touchedNames(): ReadonlySet<string> | null {
    return this.touchedAll ? null : this.touchedHosts;
  }

  addHost<M>(name: string, behaviour: Spawnable<M>, opts: { driftPpm?: number } = {}): SimHost {
    if (this.hosts.has(name)) throw new RuntimeError('EEXIST', `host ${name} already exists`);
    if (name.includes('#') || name.includes('/')) throw new RuntimeError('EINVAL', `bad host name "${name}"`);
    const host: SimHost = new SimHost(name, behaviour as Spawnable<unknown>, this.newStorage((): SimHost => host));
    const bound = (opts.driftPpm ?? this.opts.maxDriftPpm ?? 0) / 1e6;
    host.rate = 1 + (this.random.next() * 2 - 1) * bound;
    host.offset = this.random.int(0, 1_000_000);
    this.hosts.set(name, host);
    this.startHost(host);
    return host;
  }

  host(name: string): SimHost {
    const h = this.hosts.get(name);
    if (!h) throw new RuntimeError('ENOENT', `no simulated host ${name}`);
    return h;
  }

  get hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  get hostCount(): number {
    return this.hosts.size;
  }

  /** Set a host's clock rate (1 = perfect); tests use it to break the drift bound on purpose. */
  setClockRate(name: string, rate: number): void {
    const h = this.host(name);
    // Keep the local clock continuous at the moment the rate changes.
    h.offset = h.offset + h.rate * this.time - rate * this.time;
    h.rate = rate;
  }

  private newStorage(host: () => SimHost): SimStorage {
    return new SimStorage({
      onPromise: () => {
        this.microtasks = true;
      },
      scheduleSync: (flush: () => void) => {
        const h = host();
        const incarnation = h.incarnation;
        const f = this.fsync;
        let latency = f.minMs + this.random.next() * (f.maxMs - f.minMs);
        if (f.slowRate > 0 && this.diskRandom.next() < f.slowRate) {
          this.fsyncsSlow++;
          latency += Math.min(50 * f.slowMs, f.slowMs * (Math.pow(1 - this.diskRandom.next(), -1 / 1.5) - 1));
        }
        const fails = f.failRate > 0 && this.diskRandom.next() < f.failRate;
        this.atHost(h, latency, () => {
          if (h.incarnation !== incarnation || !h.up) return;
          if (fails) {
            this.fsyncsFailed++;
            this.trace(`fsync failed ${h.name}`);
            this.crash(h.name);
            const down = h.incarnation;
            this.atHost(h, f.restartMinMs + this.diskRandom.next() * (f.restartMaxMs - f.restartMinMs), () => {
              // Unless the test driver restarted (and maybe crashed) it meanwhile.
              if (h.incarnation === down && !h.up) this.restart(h.name);
            });
            return;
          }
          flush();
          this.microtasks = true;
        });
      },
    });
  }

  private startHost(host: SimHost): void {
    const incarnation = host.incarnation;
    const dispatcher: Dispatcher = {
      now: () => host.offset + host.rate * this.time,
      schedule: (ms, fn) =>
        this.atHost(host, ms / host.rate, () => {
          if (host.incarnation === incarnation) fn();
        }),
      ready: (cell) => {
        this.runQueue.push(cell);
      },
      asyncPending: () => {
        this.microtasks = true;
      },
      busy: () => {
        // Service already booked for later is not spent yet.
        const active = host.busyMs - Math.max(0, host.busyUntil - this.time);
        return { activeMs: active, idleMs: Math.max(0, this.time - host.startedAt - active) };
      },
      ...this.machineClock(host.name),
    };
    host.busyUntil = host.busyMs = 0;
    host.startedAt = this.time;
    const runtime = new LocalRuntime({
      location: host.name,
      dispatcher,
      registry: this.registry,
      transport: (location, env) => this.transmit(host, location, env),
      // Each host's actors draw from the host's subtree; a restart gets fresh streams.
      seed: this.seeds.child(host.name).root ^ incarnation,
      logger: this.log,
    });
    runtime.locationOfThread = () => host.name; // one thread: placement is ignored
    runtime.onInvoke = (cell, msg) => {
      this.trace(`${cell.address}<${(msg as { type?: string })?.type ?? typeof msg}`);
    };
    runtime.storageForHost = () => host.storage;
    host.runtime = runtime;
    host.up = true;
    host.root = runtime.spawnRoot(host.name, host.behaviour, { storage: host.storage, host: host.name });
    this.trace(`start ${host.name}`);
  }

  /** Crash a host: its tree stops at once (no hooks), un-synced writes are lost. */
  crash(name: string): void {
    const host = this.host(name);
    if (!host.up) return;
    host.up = false;
    host.lifeBusyMs -= Math.max(0, host.busyUntil - this.time);
    host.incarnation++;
    host.runtime.crash();
    host.storage.crash();
    this.trace(`crash ${name}`);
  }

  /** Start a crashed host again: its root behaviour over its durable storage. */
  restart(name: string): void {
    const host = this.host(name);
    if (host.up) return;
    host.storage = host.storage.reopen();
    this.startHost(host);
  }

  /** No messages pass between any host of `a` and any host of `b`. */
  partition(a: string[], b: string[]): void {
    for (const x of a) for (const y of b) if (x !== y) {
      this.cuts.add(`${x}|${y}`);
      this.cuts.add(`${y}|${x}`);
    }
    this.trace(`partition ${a.join(',')}/${b.join(',')}`);
  }

  /** Cut one host off from every other. */
  isolate(name: string): void {
    this.partition([name], this.hostNames.filter((h) => h !== name));
  }

  heal(): void {
    this.cuts.clear();
    this.trace('heal');
  }

  connected(a: string, b: string): boolean {
    return !this.cuts.has(`${a}|${b}`);
  }

  private transmit(from: SimHost, location: string, env: WireEnvelope): void {
    // Encoding happens at the sender, so an unencodable message fails there, as on the wire.
    const bytes = this.registry.toBytes(env);
    this.messagesSent++;
    const to = this.hosts.get(location);
    const net = this.network;
    if (!to || !this.connected(from.name, location) || this.netRandom.next() < net.dropRate) {
      this.messagesDropped++;
      return;
    }
    const copies = this.netRandom.next() < net.duplicateRate ? 2 : 1;
    if (copies > 1) this.messagesDuplicated++;
    for (let i = 0; i < copies; i++) {
      let latency = net.minLatencyMs + this.netRandom.next() * (net.maxLatencyMs - net.minLatencyMs);
      if (net.tailProbability > 0 && this.netRandom.next() < net.tailProbability) {
        latency += -Math.log(1 - this.netRandom.next()) * net.tailMs;
      }
      this.atHost(to, latency, () => {
        if (!to.up || !this.connected(from.name, location)) {
          this.messagesDropped++;
          return;
        }
        const cost = this.opts.cpu?.serviceMs[env.msg.type];
        if (cost !== undefined && cost > 0) return this.serve(to, cost, () => this.deliver(from, to, env, bytes));
        this.deliver(from, to, env, bytes);
      });
    }
  }

  /** Modeled CPU: `fn` runs once `to` has served everything booked before it, plus `cost`. */
  private serve(to: SimHost, cost: number, fn: () => void): void {
    const start = Math.max(this.time, to.busyUntil);
    to.busyUntil = start + cost;
    to.busyMs += cost;
    to.lifeBusyMs += cost;
    const incarnation = to.incarnation;
    this.atHost(to, to.busyUntil - this.time, () => {
      if (to.incarnation !== incarnation || !to.up) {
        this.messagesDropped++;
        return;
      }
      fn();
    });
  }

  private deliver(from: SimHost, to: SimHost, env: WireEnvelope, bytes: Uint8Array): void {
    this.opts.onDeliver?.({ time: this.time, from: from.name, to: to.name, type: env.msg.type, bytes });
    to.runtime.deliver(this.registry.decode(bytes, true));
  }

  /** A promise that resolves after `ms` of virtual time (for drivers outside any actor). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) =>
      this.at(ms, () => {
        this.microtasks = true;
        resolve();
      }),
    );
  }

  /** Ask an actor from outside the simulation (a test driver). */
  ask<R = Message>(address: string, msg: Message, timeoutMs = 5_000): Promise<R> {
    const location = address.slice(0, address.indexOf('#'));
    const host = this.host(location);
    if (!host.up) return Promise.reject(new RuntimeError('EHOSTDOWN', `host ${location} is down`));
    return host.runtime.ask<R>(address, msg, { timeoutMs });
  }

  /** Tell an actor from outside the simulation. */
  tell(address: string, msg: Message): void {
    const host = this.host(address.slice(0, address.indexOf('#')));
    if (host.up) host.runtime.ref(address).tell(msg);
  }

  /** Advance the simulation. Resolves true if `until` held (or no `until` was given and the
   * time ran out or nothing is left to do). */
  async run(opts: RunOptions = {}): Promise<boolean> {
    const deadline = opts.forMs !== undefined ? this.time + opts.forMs : Infinity;
    const maxSteps = opts.maxSteps ?? Infinity;
    let steps = 0;
    if (this.failure) throw this.failure;
    // The driver ran since the last step (and may have crashed, restarted or asked anyone).
    this.touchedAll = true;
    for (;;) {
      if (opts.until?.()) return true;
      if (steps++ >= maxSteps) throw new RuntimeError('ETIMEDOUT', `simulation did not finish within ${maxSteps} steps (seed ${this.seed})`);
      const cell = this.runQueue.shift();
      if (cell) {
        this.touchedHosts.add(cell.runtime.location);
        cell.run(1);
        this.stepDone();
        this.guardStep();
        continue;
      }
      // Let promise continuations run before virtual time moves on.
      if (this.microtasks) {
        this.microtasks = false;
        await new Promise<void>((r) => setImmediate(r));
        this.touchedAll = true;
        continue;
      }
      const ev = this.events.peek();
      if (!ev || ev.time > deadline) {
        if (deadline !== Infinity) this.time = deadline;
        return opts.until ? opts.until() : true;
      }
      this.events.pop();
      if (ev.cancelled) continue;
      this.time = ev.time;
      if (ev.host === null) this.touchedAll = true;
      else this.touchedHosts.add(ev.host.name);
      ev.fn();
      this.stepDone();
      this.guardStep();
    }
  }

  /** The livelock guards: virtual time must move on within maxStepsPerInstant steps (actors
   * that keep messaging each other, or timers of 0 ms, at one instant would otherwise spin
   * here for ever, and a test's own timeout never fires while this loop holds the thread),
   * and the whole run must end within maxSteps. */
  private guardStep(): void {
    if (this.steps > (this.opts.maxSteps ?? Infinity)) {
      this.fail(`${this.opts.maxSteps} steps in all (virtual time ${this.time.toFixed(1)} ms): a livelock, or a run far longer than it should be`);
    }
    if (this.time !== this.instantTime) {
      this.instantTime = this.time;
      this.instantSteps = 0;
      return;
    }
    const max = this.opts.maxStepsPerInstant ?? MAX_STEPS_PER_INSTANT;
    if (++this.instantSteps > this.maxInstantSteps) this.maxInstantSteps = this.instantSteps;
    if (this.instantSteps > max) this.fail(`${max} steps at virtual time ${this.time.toFixed(3)} ms without time moving on`);
  }

  private fail(what: string): never {
    const replay = this.opts.replay ? `; replay: ${this.opts.replay}` : '';
    // The trace hash tells whether a replay ran the same run.
    throw (this.failure = new RuntimeError('ELOOP', `livelock: ${what} (seed ${this.seed}, trace ${this.traceHash}${replay})`));
  }

  /** Run until `promise` settles (or the deadline in virtual ms passes), then return it. */
  async settle<T>(promise: Promise<T>, deadlineMs = 60_000): Promise<T> {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    watched.catch(() => {});
    this.microtasks = true;
    const ok = await this.run({ until: () => done, forMs: deadlineMs });
    if (!ok) throw new RuntimeError('ETIMEDOUT', `not settled within ${deadlineMs} ms of simulated time (seed ${this.seed})`);
    return watched;
  }

  private stepDone(): void {
    this.steps++;
    for (const check of this.checks) check();
    this.touchedAll = false;
    this.touchedHosts.clear();
  }

  /** Stop every host's actors (with hooks). */
  stop(): void {
    for (const h of this.hosts.values()) if (h.up) h.runtime.stopAll();
  }
}

