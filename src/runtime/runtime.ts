// The actor runtime of one location (one worker thread, or one simulated host): actor cells,
// mailboxes, the supervision tree, timers and asks. Schedulers plug in a `Dispatcher` (how
// time passes and when a ready actor runs) and a `Transport` (how an envelope reaches
// another location); everything else is shared, so actors behave the same under both.
//
// Over 600 lines for now: cells, supervision, timers and asks share the cell's lifecycle (a
// stop cancels all of them at once); asks and timers are the next cut (architecture issue 15,
// point 3).

import pino, { type Logger } from 'pino';
import { EnvelopeKind, type MessageRegistry, type TypedMessage, type WireEnvelope } from '../wire/registry.js';
import { ActorStoppedError, AskTimeoutError, RuntimeError } from './errors.js';
import { Deque, SeededRandom, hashString } from './random.js';
import { IntTable } from './int-table.js';
import type { Storage } from './storage.js';
import type {
  AskOptions,
  Behaviour,
  Cancel,
  Clock,
  Context,
  Message,
  NamedBehaviour,
  Ref,
  Spawnable,
  SpawnOptions,
  SupervisorStrategy,
} from './types.js';

/** How time passes and when work runs, provided by a scheduler. */
export interface Dispatcher {
  /** This location's clock, in ms. */
  now(): number;
  /** How late an ask may time out, in ms, so that asks share timers (0: exactly on time). */
  readonly askTimeoutSlackMs?: number;
  /** Run `fn` after `ms` of this location's clock. */
  schedule(ms: number, fn: () => void): Cancel;
  /** `cell` has work: call `cell.run()` soon. */
  ready(cell: ActorCell): void;
  /** A promise the runtime settled may have continuations queued (the simulator drains
   * microtasks before letting virtual time advance). */
  asyncPending(): void;
}

/** Carries an envelope to another location; throws EncodeError for what cannot travel. */
export type Transport = (location: string, env: WireEnvelope) => void;

/** A mailbox entry with a sender, an ask correlation or a system kind. A plain same-location
 * tell is queued as the message itself: passed by reference, never encoded, nothing allocated. */
class Envelope {
  constructor(
    readonly msg: Message,
    readonly from: string,
    readonly kind: EnvelopeKind,
    readonly corr: number,
  ) {}
}

interface PendingAsk {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  cell: ActorCell | null;
  target: string;
  timeoutMs: number;
}

/**
 * When pending asks time out: one timer for all of them, not one each. Almost every ask is
 * answered long before its deadline, and a timer per ask cost a timer-list insertion and
 * removal and about 0.4 KB that lived long enough to reach the old generation. Deadlines are
 * grouped into buckets `slackMs` wide (rounded up: an ask never times out early); an answered
 * ask's entry stays in its bucket and is skipped when the bucket comes due.
 */
class AskDeadlines {
  private readonly buckets = new Map<number, number[]>();
  /** Bucket times, ascending. */
  private readonly due: number[] = [];
  private armedAt = Infinity;
  private cancel: Cancel | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly slackMs: number,
    private readonly expire: (corr: number) => void,
  ) {}

  add(timeoutMs: number, corr: number): void {
    const deadline = this.dispatcher.now() + Math.max(0, timeoutMs);
    const at = this.slackMs > 0 ? Math.ceil(deadline / this.slackMs) * this.slackMs : deadline;
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(at, bucket);
      // Usually the latest: deadlines mostly grow with the clock.
      let i = this.due.length;
      while (i > 0 && this.due[i - 1]! > at) i--;
      this.due.splice(i, 0, at);
    }
    bucket.push(corr);
    if (at < this.armedAt) this.arm(at);
  }

  private arm(at: number): void {
    this.cancel?.();
    this.armedAt = at;
    this.cancel = this.dispatcher.schedule(Math.max(0, at - this.dispatcher.now()), this.fire);
  }

  private readonly fire = (): void => {
    this.cancel = undefined;
    this.armedAt = Infinity;
    const now = this.dispatcher.now();
    while (this.due.length > 0 && this.due[0]! <= now) {
      const at = this.due.shift()!;
      const bucket = this.buckets.get(at)!;
      this.buckets.delete(at);
      for (const corr of bucket) this.expire(corr);
    }
    if (this.due.length > 0) this.arm(this.due[0]!);
  };

  /** Forget every deadline (the runtime crashed or stopped). */
  clear(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.armedAt = Infinity;
    this.buckets.clear();
    this.due.length = 0;
  }
}

const behaviourRegistry = new Map<string, (args: unknown) => Behaviour<never>>();

/** Make a behaviour spawnable by name, so it can be placed on any thread or host. */
export function registerBehaviour<M, A = unknown>(name: string, factory: (args: A) => Behaviour<M>): void {
  behaviourRegistry.set(name, factory as (args: unknown) => Behaviour<never>);
}

export function namedFactory(spec: NamedBehaviour): () => Behaviour<never> {
  const factory = behaviourRegistry.get(spec.behaviour);
  if (!factory) throw new RuntimeError('ENOENT', `no behaviour registered as "${spec.behaviour}"`);
  return () => factory(spec.args);
}

export function splitAddress(address: string): { location: string; path: string } {
  const i = address.indexOf('#');
  if (i < 0) throw new RuntimeError('EINVAL', `malformed actor address "${address}" (want location#/path)`);
  return { location: address.slice(0, i), path: address.slice(i + 1) };
}

const DEFAULT_STRATEGY = {
  kind: 'one-for-one' as const,
  maxRestarts: 10,
  withinMs: 10_000,
  minBackoffMs: 10,
  maxBackoffMs: 2_000,
};

/** A child's failure escalated past the restart limit. */
export class EscalatedError extends RuntimeError {
  constructor(child: string, cause: unknown) {
    super('EFAULT', `child ${child} failed too often: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

class RefImpl<M> implements Ref<M> {
  /** The target's cell when it lives on this location (resolved on first use). */
  private cell: ActorCell | null | undefined;
  constructor(
    private readonly runtime: LocalRuntime,
    readonly address: string,
  ) {}
  tell(msg: M): void {
    let cell = this.cell;
    if (cell === undefined || (cell !== null && cell.stopped)) cell = this.cell = this.runtime.localCell(this.address);
    if (cell !== null) cell.enqueue(msg);
    else this.runtime.send(this.address, msg, '', EnvelopeKind.Tell, 0);
  }
  toString(): string {
    return this.address;
  }
  toJSON(): string {
    return this.address;
  }
}

const enum CellState {
  Running,
  Stopped,
}

export interface RootOptions extends SpawnOptions {
  /** Logical host (node) name for logs and `ctx.host`; defaults to the root's name. */
  host?: string;
  storage?: Storage;
}

export class ActorCell {
  readonly address: string;
  readonly children = new Map<string, ActorCell>();
  /** Children placed on other locations. */
  readonly remoteChildren = new Map<string, string>();
  readonly watchers = new Set<string>();
  /** Plain tells as the message itself, everything else as an `Envelope`. */
  readonly mailbox = new Deque<unknown>();
  behaviour!: Behaviour<Message>;
  ctx!: ContextImpl;
  state = CellState.Running;
  /** Suspended while a failure is being handled or a restart backs off. */
  suspended = false;
  /** A receive that returned a promise is still running. */
  busy = false;
  scheduled = false;
  current: Envelope | null = null;
  /** The message being handled (for `forward` of a plain tell). */
  currentMsg: unknown = undefined;
  timers = new Set<Cancel>();
  asks = new Set<number>();
  restartTimes: number[] = [];
  incarnation = 0;

  constructor(
    readonly runtime: LocalRuntime,
    readonly name: string,
    readonly path: string,
    readonly parent: ActorCell | null,
    /** Address of a parent on another location (cross-thread spawn). */
    readonly remoteParent: string | null,
    readonly factory: () => Behaviour<Message>,
    readonly strategy: SupervisorStrategy,
    readonly host: string,
    readonly storage: Storage,
  ) {
    this.address = `${runtime.location}#${path}`;
  }

  get stopped(): boolean {
    return this.state === CellState.Stopped;
  }

  start(): void {
    this.incarnation++;
    this.ctx = new ContextImpl(this);
    try {
      this.behaviour = this.factory();
      const r = this.behaviour.started?.(this.ctx);
      if (r && typeof (r as Promise<void>).then === 'function') this.awaitTurn(r as Promise<void>);
    } catch (e) {
      this.fail(e);
    }
  }

  /** Queue a plain tell (the message itself) or an envelope. */
  enqueue(item: unknown): void {
    if (this.state === CellState.Stopped) {
      this.runtime.deadLetter(this.address, item);
      return;
    }
    this.mailbox.push(item);
    if (!this.scheduled) this.wake();
  }

  wake(): void {
    if (!this.scheduled && !this.busy && !this.suspended && this.mailbox.length > 0) {
      this.scheduled = true;
      this.runtime.dispatcher.ready(this);
    }
  }

  /** Called by the dispatcher: handle a batch of messages, one at a time. */
  run(budget = 64): void {
    this.scheduled = false;
    while (budget-- > 0 && this.state === CellState.Running && !this.busy && !this.suspended) {
      if (this.mailbox.length === 0) return;
      this.invoke(this.mailbox.shift());
    }
    this.wake();
  }

  private invoke(item: unknown): void {
    const env = item instanceof Envelope ? item : null;
    const msg = env ? env.msg : item;
    this.current = env;
    this.currentMsg = msg;
    this.runtime.onInvoke?.(this, msg);
    let result: void | Promise<void>;
    try {
      result = this.behaviour.receive(this.ctx, msg);
    } catch (e) {
      this.current = null;
      if (env) this.replyFailure(env, e);
      this.fail(e);
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      this.awaitTurn(result as Promise<void>, env ?? undefined);
    } else {
      this.current = null;
    }
  }

  /** The next message waits until an asynchronous handler has finished. */
  private awaitTurn(p: Promise<void>, env?: Envelope): void {
    this.busy = true;
    const incarnation = this.incarnation;
    this.runtime.dispatcher.asyncPending();
    p.then(
      () => {
        if (this.incarnation !== incarnation || this.stopped) return;
        this.busy = false;
        this.current = null;
        this.runtime.dispatcher.asyncPending();
        this.wake();
      },
      (e: unknown) => {
        if (this.incarnation !== incarnation || this.stopped) return;
        this.busy = false;
        this.current = null;
        if (env) this.replyFailure(env, e);
        this.runtime.dispatcher.asyncPending();
        this.fail(e);
      },
    );
  }

  /** An ask whose handler threw gets a failure instead of waiting for its timeout. */
  private replyFailure(env: Envelope, e: unknown): void {
    if (env.kind !== EnvelopeKind.Ask || !env.from) return;
    const code = e instanceof RuntimeError || (e as { code?: unknown })?.code ? String((e as { code: unknown }).code) : 'EFAULT';
    this.runtime.send(env.from, { type: 'govfs.runtime.AskFailed', code, message: (e as Error)?.message ?? String(e) }, this.address, EnvelopeKind.Reply, env.corr);
  }

  /** This actor threw: its parent decides what happens next. */
  fail(error: unknown): void {
    if (this.stopped) return;
    this.suspended = true;
    this.runtime.actorFailures++;
    this.runtime.lastActorFailure = error;
    this.runtime.onActorFailure?.(this.path, error);
    if (this.parent) {
      this.parent.childFailed(this, error);
    } else if (this.remoteParent) {
      // A child on another thread is supervised here with the strategy it was given.
      this.superviseSelf(error);
    } else {
      this.runtime.rootFailed(this, error);
    }
  }

  private superviseSelf(error: unknown): void {
    const directive = this.decide(this.strategy, error);
    if (directive === 'resume') {
      this.suspended = false;
      this.wake();
    } else if (directive === 'restart' && this.withinIntensity(this.strategy, this)) {
      this.scheduleRestart([this], this.strategy);
    } else {
      this.runtime.send(this.remoteParent!, { type: 'govfs.runtime.Escalate', child: this.address, reason: String((error as Error)?.message ?? error) }, this.address, EnvelopeKind.System, 0);
      this.stop();
    }
  }

  private decide(strategy: SupervisorStrategy, error: unknown): string {
    return strategy.decide ? strategy.decide(error, this.name) : 'restart';
  }

  childFailed(child: ActorCell, error: unknown): void {
    const strategy = this.strategy;
    const directive = strategy.decide ? strategy.decide(error, child.name) : 'restart';
    this.runtime.log.debug({ child: child.path, err: error, directive }, 'child failed');
    switch (directive) {
      case 'resume':
        child.suspended = false;
        child.wake();
        return;
      case 'stop':
        child.stop();
        return;
      case 'escalate':
        this.fail(error);
        return;
      case 'restart': {
        if (!this.withinIntensity(strategy, child)) {
          this.fail(new EscalatedError(child.path, error));
          return;
        }
        const group = strategy.kind === 'one-for-all' ? [...this.children.values()] : [child];
        this.scheduleRestart(group, strategy, child);
        return;
      }
    }
  }

  /** Records a restart of `child`; false once it exceeds N restarts in T ms. */
  private withinIntensity(strategy: SupervisorStrategy, child: ActorCell): boolean {
    const now = this.runtime.dispatcher.now();
    const within = strategy.withinMs ?? DEFAULT_STRATEGY.withinMs;
    const max = strategy.maxRestarts ?? DEFAULT_STRATEGY.maxRestarts;
    child.restartTimes = child.restartTimes.filter((t) => now - t < within);
    if (child.restartTimes.length >= max) return false;
    child.restartTimes.push(now);
    return true;
  }

  private scheduleRestart(group: ActorCell[], strategy: SupervisorStrategy, failed: ActorCell = group[0]!): void {
    const n = failed.restartTimes.length;
    const min = strategy.minBackoffMs ?? DEFAULT_STRATEGY.minBackoffMs;
    const max = strategy.maxBackoffMs ?? DEFAULT_STRATEGY.maxBackoffMs;
    const backoff = Math.min(max, min * 2 ** Math.max(0, n - 1));
    for (const c of group) {
      c.suspended = true;
      // The old incarnation ends now (its timers, asks and children); the new one starts
      // after the backoff.
      c.endIncarnation();
    }
    const restart = (): void => {
      for (const c of group) if (!c.stopped) c.restartNow();
    };
    if (backoff <= 0) restart();
    else this.runtime.dispatcher.schedule(backoff, restart);
  }

  private restartNow(): void {
    this.suspended = false;
    this.start();
    this.wake();
  }

  /** Ends the current incarnation: children stopped deepest first, signal aborted, timers
   * and asks cancelled, `stopped` hook run. */
  private endIncarnation(runHooks = true): void {
    for (const child of [...this.children.values()].reverse()) child.stop(runHooks);
    for (const address of this.remoteChildren.values()) {
      this.runtime.send(address, { type: 'govfs.runtime.Stop' }, this.address, EnvelopeKind.System, 0);
    }
    this.remoteChildren.clear();
    this.incarnation++;
    for (const cancel of this.timers) cancel();
    this.timers.clear();
    for (const corr of this.asks) this.runtime.failAsk(corr, new ActorStoppedError(this.path));
    this.asks.clear();
    this.busy = false;
    this.current = null;
    this.ctx.abort();
    if (runHooks) {
      try {
        this.behaviour?.stopped?.(this.ctx);
      } catch (e) {
        this.runtime.log.warn({ actor: this.path, err: e }, 'stopped hook threw');
      }
    }
  }

  /** Stop this actor and its subtree. Idempotent. `runHooks` is false for a host crash. */
  stop(runHooks = true): void {
    if (this.stopped) return;
    this.endIncarnation(runHooks);
    this.state = CellState.Stopped;
    this.runtime.cells.delete(this.path);
    this.parent?.children.delete(this.name);
    for (const env of this.mailbox.clear()) this.runtime.deadLetter(this.address, env);
    const terminated = { type: 'govfs.runtime.Terminated', address: this.address };
    for (const w of this.watchers) this.runtime.send(w, terminated, this.address, EnvelopeKind.Tell, 0);
    if (this.remoteParent) this.runtime.send(this.remoteParent, terminated, this.address, EnvelopeKind.System, 0);
    this.watchers.clear();
  }

  /** Runtime-level messages (stop, watch, remote spawn) addressed to this actor. */
  system(env: Envelope): void {
    const msg = env.msg as TypedMessage;
    switch (msg.type) {
      case 'govfs.runtime.Stop':
        this.stop();
        return;
      case 'govfs.runtime.Watch':
        if (this.stopped) this.runtime.send(String(msg.watcher), { type: 'govfs.runtime.Terminated', address: this.address }, this.address, EnvelopeKind.Tell, 0);
        else this.watchers.add(String(msg.watcher));
        return;
      case 'govfs.runtime.Terminated':
        for (const [name, address] of this.remoteChildren) if (address === msg.address) this.remoteChildren.delete(name);
        return;
      case 'govfs.runtime.Escalate':
        this.fail(new RuntimeError('EFAULT', `remote child ${String(msg.child)} escalated: ${String(msg.reason)}`));
        return;
      default:
        this.runtime.log.warn({ actor: this.path, type: msg.type }, 'unknown system message');
    }
  }
}

class ContextImpl implements Context<Message> {
  private readonly controller = new AbortController();
  private rng: SeededRandom | null = null;
  private logger: Logger | null = null;
  readonly clock: Clock;
  readonly self: Ref<Message>;
  readonly parent: Ref | null;

  constructor(private readonly cell: ActorCell) {
    const rt = cell.runtime;
    this.self = rt.ref(cell.address);
    this.parent = cell.parent ? rt.ref(cell.parent.address) : cell.remoteParent ? rt.ref(cell.remoteParent) : null;
    const incarnation = cell.incarnation;
    const arm = (ms: number, msg: Message, repeat: boolean): Cancel => {
      let cancelTimer: Cancel = () => {};
      let cancelled = false;
      const cancel: Cancel = () => {
        cancelled = true;
        cancelTimer();
        cell.timers.delete(cancel);
      };
      const fire = (): void => {
        if (cancelled || cell.incarnation !== incarnation || cell.stopped) return;
        if (repeat) cancelTimer = rt.dispatcher.schedule(ms, fire);
        else cell.timers.delete(cancel);
        cell.enqueue(msg);
      };
      if (cell.stopped || cell.incarnation !== incarnation) return () => {};
      cancelTimer = rt.dispatcher.schedule(ms, fire);
      cell.timers.add(cancel);
      return cancel;
    };
    this.clock = {
      now: () => rt.dispatcher.now(),
      after: (ms, msg) => arm(ms, msg, false),
      every: (ms, msg) => arm(Math.max(ms, 0.001), msg, true),
    };
  }

  get path(): string {
    return this.cell.path;
  }
  get host(): string {
    return this.cell.host;
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get storage(): Storage {
    return this.cell.storage;
  }
  get random(): SeededRandom {
    this.rng ??= this.cell.runtime.randomFor(this.cell.path, this.cell.incarnation);
    return this.rng;
  }
  get log(): Logger {
    this.logger ??= this.cell.runtime.log.child({ host: this.cell.host, actor: this.cell.path });
    return this.logger;
  }
  get sender(): Ref | null {
    const from = this.cell.current?.from;
    return from ? this.cell.runtime.ref(from) : null;
  }

  abort(): void {
    this.controller.abort(new ActorStoppedError(this.cell.path));
  }

  spawn<C>(name: string, behaviour: Spawnable<C>, opts: SpawnOptions = {}): Ref<C> {
    return this.cell.runtime.spawnChild(this.cell, name, behaviour, opts) as Ref<C>;
  }

  stop(ref: Ref): void {
    this.cell.runtime.stopAddress(ref.address, this.cell.address);
  }

  child<C>(name: string): Ref<C> | undefined {
    const c = this.cell.children.get(name);
    if (c) return this.cell.runtime.ref<C>(c.address);
    const remote = this.cell.remoteChildren.get(name);
    return remote ? this.cell.runtime.ref<C>(remote) : undefined;
  }

  ask<R>(ref: Ref, msg: Message, opts: AskOptions): Promise<R> {
    if (this.cell.stopped) return Promise.reject(new ActorStoppedError(this.cell.path));
    return this.cell.runtime.ask<R>(ref.address, msg, opts, this.cell);
  }

  reply(msg: Message): void {
    const env = this.cell.current;
    if (!env || env.kind !== EnvelopeKind.Ask || !env.from) return;
    this.cell.runtime.send(env.from, msg, this.cell.address, EnvelopeKind.Reply, env.corr);
  }

  forward(ref: Ref, msg?: Message): void {
    const env = this.cell.current;
    if (!env) {
      ref.tell(msg === undefined ? this.cell.currentMsg : msg);
      return;
    }
    this.cell.runtime.send(ref.address, msg === undefined ? env.msg : msg, env.from, env.kind, env.corr);
  }

  deferReply(): (msg: Message) => void {
    const env = this.cell.current;
    if (!env || env.kind !== EnvelopeKind.Ask || !env.from) return () => {};
    const { from, corr } = env;
    const address = this.cell.address;
    const runtime = this.cell.runtime;
    let answered = false;
    return (msg) => {
      if (answered) return;
      answered = true;
      runtime.send(from, msg, address, EnvelopeKind.Reply, corr);
    };
  }

  pipeToSelf<T>(promise: Promise<T>, onOk: (value: T) => Message, onErr: (err: unknown) => Message): void {
    const cell = this.cell;
    const incarnation = cell.incarnation;
    const deliver = (msg: Message): void => {
      if (cell.incarnation !== incarnation || cell.stopped) return;
      cell.enqueue(msg);
    };
    cell.runtime.dispatcher.asyncPending();
    promise.then(
      (v) => deliver(onOk(v)),
      (e) => deliver(onErr(e)),
    );
  }

  ref<C>(address: string): Ref<C> {
    return this.cell.runtime.ref<C>(address);
  }

  watch(ref: Ref): void {
    this.cell.runtime.send(ref.address, { type: 'govfs.runtime.Watch', watcher: this.cell.address }, this.cell.address, EnvelopeKind.System, 0);
  }
}

export interface LocalRuntimeOptions {
  /** This runtime's location: the part of an address before `#`. */
  location: string;
  dispatcher: Dispatcher;
  registry: MessageRegistry;
  transport?: Transport;
  seed?: number;
  logger?: Logger;
}

/** The default logger: quiet unless GOVFS_LOG names a level. */
export function defaultLogger(): Logger {
  return pino({ level: process.env.GOVFS_LOG ?? 'silent' });
}

const noStorage: Storage = new Proxy({} as Storage, {
  get(_t, prop) {
    if (prop === 'then') return undefined;
    return () => {
      throw new RuntimeError('ENODEV', 'this actor has no storage: give its host root one (spawnRoot({ storage }))');
    };
  },
});

export class LocalRuntime {
  readonly location: string;
  readonly dispatcher: Dispatcher;
  readonly registry: MessageRegistry;
  readonly cells = new Map<string, ActorCell>();
  readonly log: Logger;
  transport: Transport;
  /** Pending asks by correlation id (an IntTable, not a Map: see int-table.ts). */
  private readonly pending = new IntTable<PendingAsk>();
  private readonly askDeadlines: AskDeadlines;
  private nextCorr = 1;
  private readonly seed: number;
  deadLetters = 0;
  /** Actors of this runtime whose handler threw (each one then went to its supervisor), and
   * the last such error: what a peer or client sends must never get this far (tests check). */
  actorFailures = 0;
  lastActorFailure: unknown = undefined;
  /** Observers (the simulator's trace) see every message an actor handles. */
  onInvoke: ((cell: ActorCell, msg: Message) => void) | null = null;
  /** Called whenever an actor's handler throws, before its supervisor decides (the host
   * process watches for storage faults this way). */
  onActorFailure: ((path: string, error: unknown) => void) | null = null;
  /** Called when a root actor fails (nothing above it to escalate to). */
  onRootFailure: ((path: string, error: unknown) => void) | null = null;

  constructor(opts: LocalRuntimeOptions) {
    this.location = opts.location;
    this.dispatcher = opts.dispatcher;
    this.registry = opts.registry;
    this.transport =
      opts.transport ??
      ((location) => {
        throw new RuntimeError('EHOSTUNREACH', `no route from ${this.location} to location ${location}`);
      });
    this.seed = opts.seed ?? 1;
    this.log = opts.logger ?? defaultLogger();
    this.askDeadlines = new AskDeadlines(this.dispatcher, this.dispatcher.askTimeoutSlackMs ?? 0, (corr) => {
      const p = this.pending.get(corr);
      if (p) this.failAsk(corr, new AskTimeoutError(p.target, p.timeoutMs));
    });
  }

  randomFor(path: string, incarnation: number): SeededRandom {
    return new SeededRandom(this.seed ^ hashString(path), incarnation);
  }

  ref<M = Message>(address: string): Ref<M> {
    return new RefImpl<M>(this, address);
  }

  /** Start a root actor (a host's tree) on this location. */
  spawnRoot<M>(name: string, behaviour: Spawnable<M>, opts: RootOptions = {}): Ref<M> {
    const path = `/${name}`;
    if (this.cells.has(path)) throw new RuntimeError('EEXIST', `root actor ${path} already exists on ${this.location}`);
    const cell = new ActorCell(this, name, path, null, null, toFactory(behaviour), opts.strategy ?? DEFAULT_STRATEGY, opts.host ?? name, opts.storage ?? noStorage);
    this.cells.set(path, cell);
    cell.start();
    return this.ref<M>(cell.address);
  }

  /** Start an actor placed here by a parent on another location. */
  spawnRemoteChild(parentAddress: string, name: string, spec: NamedBehaviour, strategy: SupervisorStrategy, host: string, storage: Storage = noStorage): ActorCell {
    const { path: parentPath } = splitAddress(parentAddress);
    const path = `${parentPath}/${name}`;
    const existing = this.cells.get(path);
    if (existing) return existing;
    const cell = new ActorCell(this, name, path, null, parentAddress, namedFactory(spec), strategy, host, storage);
    this.cells.set(path, cell);
    cell.start();
    return cell;
  }

  spawnChild(parent: ActorCell, name: string, behaviour: Spawnable<unknown>, opts: SpawnOptions): Ref {
    if (parent.stopped) throw new ActorStoppedError(parent.path);
    if (!/^[A-Za-z0-9_.:@$-]+$/.test(name)) throw new RuntimeError('EINVAL', `bad actor name "${name}" (letters, digits and _.:@$- only)`);
    if (parent.children.has(name) || parent.remoteChildren.has(name)) {
      throw new RuntimeError('EEXIST', `actor ${parent.path} already has a child named "${name}"`);
    }
    const strategy: SupervisorStrategy = opts.strategy ?? DEFAULT_STRATEGY;
    const target = opts.thread === undefined ? this.location : this.locationOfThread(opts.thread);
    if (target !== this.location) {
      if (typeof behaviour === 'function') {
        throw new RuntimeError('EINVAL', `spawning "${name}" on thread ${opts.thread} needs a registered behaviour name, not a closure`);
      }
      const { decide: _decide, ...portable } = strategy;
      const address = `${target}#${parent.path}/${name}`;
      parent.remoteChildren.set(name, address);
      this.send(
        `${target}#/`,
        {
          type: 'govfs.runtime.Spawn',
          parent: parent.address,
          name,
          behaviour: behaviour.behaviour,
          argsJson: JSON.stringify(behaviour.args ?? null),
          strategyJson: JSON.stringify({ ...portable, host: parent.host }),
        },
        parent.address,
        EnvelopeKind.System,
        0,
      );
      return this.ref(address);
    }
    const cell = new ActorCell(this, name, `${parent.path}/${name}`, parent, null, toFactory(behaviour), strategy, parent.host, parent.storage);
    parent.children.set(name, cell);
    this.cells.set(cell.path, cell);
    cell.start();
    return this.ref(cell.address);
  }

  /** Maps a thread number to a location; the threads scheduler overrides it. */
  locationOfThread: (thread: number) => string = (thread) => `t${thread}`;

  stopAddress(address: string, from: string): void {
    const { location, path } = splitAddress(address);
    if (location === this.location) this.cells.get(path)?.stop();
    else this.send(address, { type: 'govfs.runtime.Stop' }, from, EnvelopeKind.System, 0);
  }

  /** Route a message: same location by reference, elsewhere through the transport. */
  send(address: string, msg: Message, from: string, kind: EnvelopeKind, corr: number): void {
    const hash = address.indexOf('#');
    const location = hash < 0 ? '' : address.slice(0, hash);
    if (location === this.location) {
      this.deliverLocal(address.slice(hash + 1), address, from === '' && kind === EnvelopeKind.Tell ? msg : new Envelope(msg, from, kind, corr));
    } else if (kind === EnvelopeKind.Reply) {
      // A reply to an asker that cannot be reached any more (a client whose connection
      // closed) is a dead letter: the asker times out on its own; the replier, perhaps
      // outside any actor's turn (an abort listener), must not be thrown at.
      try {
        this.transport(location, { to: address, from, kind, corr, msg: msg as TypedMessage });
      } catch (e) {
        if (!(e instanceof RuntimeError && e.code === 'EHOSTUNREACH')) throw e;
        this.deadLetters++;
        this.log.debug({ to: address, type: (msg as TypedMessage | undefined)?.type, err: e }, 'dead letter: reply to an unreachable asker');
      }
    } else {
      this.transport(location, { to: address, from, kind, corr, msg: msg as TypedMessage });
    }
  }

  /** An envelope that arrived from another location. One addressed to a third location (a
   * reply from a worker thread to a network client whose connection this location holds) is
   * passed on through the transport; if there is no route it is dropped as a dead letter. */
  deliver(env: WireEnvelope): void {
    const { location, path } = splitAddress(env.to);
    if (location !== this.location) {
      try {
        this.transport(location, env);
      } catch (e) {
        this.deadLetters++;
        this.log.debug({ to: env.to, type: env.msg?.type, err: e }, 'dead letter: no route onwards');
      }
      return;
    }
    this.deliverLocal(path, env.to, env.from === '' && env.kind === EnvelopeKind.Tell ? env.msg : new Envelope(env.msg, env.from, env.kind, env.corr));
  }

  /** The cell at `address` if it lives on this location, else null. */
  localCell(address: string): ActorCell | null {
    const hash = address.indexOf('#');
    if (address.slice(0, hash) !== this.location) return null;
    return this.cells.get(address.slice(hash + 1)) ?? null;
  }

  private deliverLocal(path: string, address: string, item: unknown): void {
    if (!(item instanceof Envelope)) {
      const cell = this.cells.get(path);
      if (cell) cell.enqueue(item);
      else this.deadLetter(address, item);
      return;
    }
    const env = item;
    if (env.kind === EnvelopeKind.Reply) {
      this.completeAsk(env.corr, env.msg);
      return;
    }
    if (env.kind === EnvelopeKind.System && path === '/') {
      this.systemAtRoot(env);
      return;
    }
    const cell = this.cells.get(path);
    if (!cell) {
      this.deadLetter(address, env);
      return;
    }
    if (env.kind === EnvelopeKind.System) cell.system(env);
    else cell.enqueue(env);
  }

  private systemAtRoot(env: Envelope): void {
    const msg = env.msg as TypedMessage;
    if (msg.type !== 'govfs.runtime.Spawn') return;
    try {
      const { host, ...strategy } = JSON.parse(String(msg.strategyJson || '{}')) as SupervisorStrategy & { host?: string };
      const args = JSON.parse(String(msg.argsJson || 'null')) as unknown;
      this.spawnRemoteChild(String(msg.parent), String(msg.name), { behaviour: String(msg.behaviour), args }, { ...DEFAULT_STRATEGY, ...strategy }, host ?? String(msg.name), this.storageForHost(host ?? '') ?? noStorage);
    } catch (e) {
      this.log.error({ err: e, parent: msg.parent, name: msg.name }, 'remote spawn failed');
    }
  }

  /** Storage of a host whose actors live on this location (set by the scheduler). */
  storageForHost: (host: string) => Storage | undefined = () => undefined;

  deadLetter(address: string, item: unknown): void {
    this.deadLetters++;
    const env = item instanceof Envelope ? item : null;
    this.log.debug({ to: address, type: ((env ? env.msg : item) as { type?: string })?.type }, 'dead letter');
    if (env && env.kind === EnvelopeKind.Ask && env.from) {
      this.send(env.from, { type: 'govfs.runtime.AskFailed', code: 'ENOENT', message: `no actor at ${address}` }, address, EnvelopeKind.Reply, env.corr);
    }
  }

  /** Ask from an actor (`cell`) or from outside any actor (`cell` null). */
  ask<R>(address: string, msg: Message, opts: AskOptions, cell: ActorCell | null = null): Promise<R> {
    const corr = this.nextCorr++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(corr, { resolve: resolve as (v: unknown) => void, reject, cell, target: address, timeoutMs: opts.timeoutMs });
      this.askDeadlines.add(opts.timeoutMs, corr);
      cell?.asks.add(corr);
      const from = cell ? cell.address : `${this.location}#/`;
      try {
        this.send(address, msg, from, EnvelopeKind.Ask, corr);
      } catch (e) {
        this.failAsk(corr, e);
      }
    });
  }

  private completeAsk(corr: number, msg: Message): void {
    const p = this.pending.get(corr);
    if (!p) return; // late reply to an ask that timed out or whose actor stopped
    this.pending.delete(corr);
    p.cell?.asks.delete(corr);
    // No ask left: drop the timer, which would otherwise keep the thread alive until it fires.
    if (this.pending.size === 0) this.askDeadlines.clear();
    const m = msg as TypedMessage;
    if (m && m.type === 'govfs.runtime.AskFailed') p.reject(new RuntimeError(String(m.code || 'EFAULT'), `ask to ${p.target} failed: ${String(m.message)}`));
    else p.resolve(msg);
    this.dispatcher.asyncPending();
  }

  failAsk(corr: number, error: unknown): void {
    const p = this.pending.get(corr);
    if (!p) return;
    this.pending.delete(corr);
    p.cell?.asks.delete(corr);
    if (this.pending.size === 0) this.askDeadlines.clear();
    p.reject(error);
    this.dispatcher.asyncPending();
  }

  rootFailed(cell: ActorCell, error: unknown): void {
    this.log.error({ actor: cell.path, err: error }, 'root actor failed; stopping its tree');
    cell.stop();
    this.onRootFailure?.(cell.path, error);
  }

  /** Stop every actor (children first), running their `stopped` hooks. */
  stopAll(): void {
    for (const cell of [...this.cells.values()]) if (!cell.parent) cell.stop();
  }

  /** A crash: every actor ends at once, no hooks run, pending asks fail. */
  crash(): void {
    for (const cell of [...this.cells.values()]) if (!cell.parent) cell.stop(false);
    for (const corr of this.pending.keyList()) this.failAsk(corr, new ActorStoppedError(`${this.location} (crashed)`));
    this.askDeadlines.clear();
  }

  get pendingAsks(): number {
    return this.pending.size;
  }
}

function toFactory(b: Spawnable<unknown>): () => Behaviour<Message> {
  return typeof b === 'function' ? (b as () => Behaviour<Message>) : namedFactory(b);
}

export function strategy(s: Partial<SupervisorStrategy> = {}): SupervisorStrategy {
  return { ...DEFAULT_STRATEGY, ...s };
}
