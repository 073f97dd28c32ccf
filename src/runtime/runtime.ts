// The actor runtime of one location (one worker thread, or one simulated host): actor cells,
// mailboxes, the supervision tree, timers and asks. Schedulers plug in a `Dispatcher` (how
// time passes and when a ready actor runs) and a `Transport` (how an envelope reaches
// another location); everything else is shared, so actors behave the same under both.
//
// Around it: location.ts (what a scheduler plugs in), refs.ts (addresses, refs, envelopes),
// context.ts (an actor's context and its timers), asks.ts (pending asks and their deadlines),
// behaviours.ts (behaviours by name and the defaults a spawn starts from).
//
// long on purpose: ActorCell and LocalRuntime share their state (mailboxes, supervision, asks);
// the tracing hooks (trace.ts, issue 19.5) took it a few lines past 600.

import type { Logger } from 'pino';
import { EnvelopeKind, type MessageRegistry, type TypedMessage, type WireEnvelope } from '../wire/registry.js';
import { ActorStoppedError, EscalatedError, RuntimeError } from './errors.js';
import { Deque, SeededRandom, hashString } from './random.js';
import type { Storage } from './storage.js';
import { type WorkPool, inlinePool } from './work-pool.js';
import type { AskOptions, Behaviour, Cancel, Message, NamedBehaviour, Ref, Spawnable, SpawnOptions, SupervisorStrategy } from './types.js';
import { PendingAsks } from './asks.js';
import { ContextImpl } from './context.js';
import { DEFAULT_STRATEGY, defaultLogger, namedFactory, noStorage, toFactory } from './behaviours.js';
import { Envelope, RefImpl, splitAddress } from './refs.js';
import { traceSend, tracedTurn, tracer, typeOf } from './trace.js';
import type { Dispatcher, LocalRuntimeOptions, RootOptions, RuntimeCensus, Transport } from './location.js';
import type { AskFailedMessage, EscalateMessage, SpawnMessage, TerminatedMessage } from '../wire/messages.js';

export { registerBehaviour, namedFactory, strategy, defaultLogger } from './behaviours.js';
export { splitAddress } from './refs.js';
export { EscalatedError } from './errors.js';
export type { Dispatcher, LocalRuntimeOptions, RootOptions, RuntimeCensus, Transport } from './location.js';

const enum CellState {
  Running,
  Stopped,
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
  /** The trace of the last traced message this actor handled: its later turns (a batch that
   * carries the traced proposal, the apply that answers it) belong to it while it lives. */
  traceCarry = 0;

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
    if (tracer.on) this.traceCarry = tracedTurn(this.traceCarry, this.path, item instanceof Envelope ? item : null, item, (i) => this.invokeNow(i));
    else this.invokeNow(item);
  }

  private invokeNow(item: unknown): void {
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
    this.runtime.send(env.from, { type: 'govfs.runtime.AskFailed', code, message: (e as Error)?.message ?? String(e) } satisfies AskFailedMessage, this.address, EnvelopeKind.Reply, env.corr);
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
      this.runtime.send(this.remoteParent!, { type: 'govfs.runtime.Escalate', child: this.address, reason: String((error as Error)?.message ?? error) } satisfies EscalateMessage, this.address, EnvelopeKind.System, 0);
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
    const terminated = { type: 'govfs.runtime.Terminated', address: this.address } satisfies TerminatedMessage;
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



export class LocalRuntime {
  readonly location: string;
  readonly dispatcher: Dispatcher;
  readonly registry: MessageRegistry;
  readonly cells = new Map<string, ActorCell>();
  readonly log: Logger;
  transport: Transport;
  private readonly pending: PendingAsks;
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
    this.pending = new PendingAsks(this.dispatcher);
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
        } satisfies SpawnMessage,
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
    const trace = tracer.on ? traceSend(this.location, address, msg, from, kind, corr) : 0;
    const hash = address.indexOf('#');
    const location = hash < 0 ? '' : address.slice(0, hash);
    if (location === this.location) {
      this.deliverLocal(address.slice(hash + 1), address, from === '' && kind === EnvelopeKind.Tell && trace === 0 ? msg : new Envelope(msg, from, kind, corr, trace));
    } else if (kind === EnvelopeKind.Reply) {
      // A reply to an asker that cannot be reached any more (a client whose connection
      // closed) is a dead letter: the asker times out on its own; the replier, perhaps
      // outside any actor's turn (an abort listener), must not be thrown at.
      try {
        this.transport(location, { to: address, from, kind, corr, msg: msg as TypedMessage, trace });
      } catch (e) {
        if (!(e instanceof RuntimeError && e.code === 'EHOSTUNREACH')) throw e;
        this.deadLetters++;
        this.log.debug({ to: address, type: (msg as TypedMessage | undefined)?.type, err: e }, 'dead letter: reply to an unreachable asker');
      }
    } else {
      this.transport(location, { to: address, from, kind, corr, msg: msg as TypedMessage, trace });
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
    const trace = env.trace ?? 0;
    if (trace !== 0 && tracer.on && tracer.live(trace)) tracer.record(trace, 'recv', env.to, typeOf(env.msg), undefined, tracer.wokeAt, env.kind === EnvelopeKind.Reply ? env.corr : undefined);
    this.deliverLocal(path, env.to, env.from === '' && env.kind === EnvelopeKind.Tell && trace === 0 ? env.msg : new Envelope(env.msg, env.from, env.kind, env.corr, trace));
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
      if (env.trace !== 0 && tracer.on && tracer.live(env.trace)) tracer.record(env.trace, 'reply', address, typeOf(env.msg), undefined, undefined, env.corr);
      this.pending.complete(env.corr, env.msg);
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
  /** ctx.pool: inline unless the thread sets one (work-pool.ts). */ pool: WorkPool = inlinePool;

  deadLetter(address: string, item: unknown): void {
    this.deadLetters++;
    const env = item instanceof Envelope ? item : null;
    this.log.debug({ to: address, type: ((env ? env.msg : item) as { type?: string })?.type }, 'dead letter');
    if (env && env.kind === EnvelopeKind.Ask && env.from) {
      this.send(env.from, { type: 'govfs.runtime.AskFailed', code: 'ENOENT', message: `no actor at ${address}` } satisfies AskFailedMessage, address, EnvelopeKind.Reply, env.corr);
    }
  }

  /** Ask from an actor (`cell`) or from outside any actor (`cell` null). */
  ask<R>(address: string, msg: Message, opts: AskOptions, cell: ActorCell | null = null): Promise<R> {
    const corr = this.nextCorr++;
    return new Promise<R>((resolve, reject) => {
      this.pending.add(corr, { resolve: resolve as (v: unknown) => void, reject, cell, target: address, timeoutMs: opts.timeoutMs, raw: opts.raw === true });
      const from = cell ? cell.address : `${this.location}#/`;
      try {
        this.send(address, msg, from, EnvelopeKind.Ask, corr);
      } catch (e) {
        this.failAsk(corr, e);
      }
    });
  }

  /** Does the ask `corr` take its reply's body undecoded (AskOptions.raw)? */
  wantsRaw(corr: number): boolean {
    return this.pending.wantsRaw(corr);
  }

  failAsk(corr: number, error: unknown): void {
    this.pending.fail(corr, error);
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
    this.pending.failAll(new ActorStoppedError(`${this.location} (crashed)`));
  }

  get pendingAsks(): number {
    return this.pending.size;
  }

  /** What this runtime holds now, for leak checks (tests, status): its actors, its pending
   * asks and whether their shared deadline timer is set, and its actors' timers; `under` (a
   * path such as '/gateway') also counts the actors in that subtree and their asks and timers. */
  census(under?: string): RuntimeCensus {
    let timers = 0;
    const sub = { actors: 0, asks: 0, timers: 0 };
    for (const cell of this.cells.values()) {
      timers += cell.timers.size;
      if (under !== undefined && (cell.path === under || cell.path.startsWith(`${under}/`))) {
        sub.actors++;
        sub.asks += cell.asks.size;
        sub.timers += cell.timers.size;
      }
    }
    return { actors: this.cells.size, pendingAsks: this.pending.size, askTimer: this.pending.timerArmed, timers, ...(under !== undefined && { under: sub }) };
  }
}

