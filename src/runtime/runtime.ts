// The actor runtime of one location (one worker thread, or one simulated host): actor cells,
// mailboxes, the supervision tree, timers and asks. Schedulers plug in a `Dispatcher` (how
// time passes and when a ready actor runs) and a `Transport` (how an envelope reaches
// another location); everything else is shared, so actors behave the same under both.
//
// Around it: actor-cell.ts (one actor: mailbox, turns, supervision of its children),
// location.ts (what a scheduler plugs in), refs.ts (addresses, refs, envelopes), context.ts
// (an actor's context and its timers), asks.ts (pending asks and their deadlines),
// behaviours.ts (behaviours by name and the defaults a spawn starts from).

import type { Logger } from 'pino';
import { EnvelopeKind, type MessageRegistry, type TypedMessage, type WireEnvelope } from '../wire/registry.js';
import { ActorStoppedError, RuntimeError } from './errors.js';
import { ActorCell } from './actor-cell.js';
import { SeededRandom, hashString } from './random.js';
import type { Storage } from './storage.js';
import { type WorkPool, inlinePool } from './work-pool.js';
import type { AskOptions, Message, NamedBehaviour, Ref, Spawnable, SpawnOptions, SupervisorStrategy } from './types.js';
import { PendingAsks } from './asks.js';
import { DEFAULT_STRATEGY, defaultLogger, namedFactory, noStorage, toFactory } from './behaviours.js';
import { Envelope, RefImpl, splitAddress } from './refs.js';
import { traceSend, tracer, typeOf } from './trace.js';
import type { Dispatcher, LocalRuntimeOptions, RootOptions, RuntimeCensus, Transport } from './location.js';
import type { AskFailedMessage, SpawnMessage } from '../wire/messages.js';

export { registerBehaviour, namedFactory, strategy, defaultLogger } from './behaviours.js';
export { splitAddress } from './refs.js';
export { EscalatedError } from './errors.js';
export { ActorCell } from './actor-cell.js';
export type { Dispatcher, LocalRuntimeOptions, RootOptions, RuntimeCensus, Transport } from './location.js';

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
    if (this.isHere(address, hash)) {
      this.deliverLocal(address.slice(hash + 1), address, from === '' && kind === EnvelopeKind.Tell && trace === 0 ? msg : new Envelope(msg, from, kind, corr, trace));
      return;
    }
    const location = hash < 0 ? '' : this.locationOf(address, hash);
    if (kind === EnvelopeKind.Reply) {
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
    const hash = env.to.indexOf('#');
    if (!this.isHere(env.to, hash)) {
      try {
        this.transport(splitAddress(env.to).location, env);
      } catch (e) {
        this.deadLetters++;
        this.log.debug({ to: env.to, type: env.msg?.type, err: e }, 'dead letter: no route onwards');
      }
      return;
    }
    const trace = env.trace ?? 0;
    if (trace !== 0 && tracer.on && tracer.live(trace)) tracer.record(trace, 'recv', env.to, typeOf(env.msg), undefined, tracer.wokeAt, env.kind === EnvelopeKind.Reply ? env.corr : undefined);
    this.deliverLocal(env.to.slice(hash + 1), env.to, env.from === '' && env.kind === EnvelopeKind.Tell && trace === 0 ? env.msg : new Envelope(env.msg, env.from, env.kind, env.corr, trace));
  }

  /** Locations of the addresses sent to lately: a slice per send was a new string whose hash the
   * transport's lookup then computed again (profile of a ring's sender). Bounded. */
  private readonly locations = new Map<string, string>();

  private locationOf(address: string, hash: number): string {
    let location = this.locations.get(address);
    if (location === undefined) {
      if (this.locations.size >= 4096) this.locations.clear();
      location = address.slice(0, hash);
      this.locations.set(address, location);
    }
    return location;
  }

  /** Is `address` (its '#' at `hash`) on this location? Told without cutting the location out
   * of it: this runs for every message sent and received. */
  private isHere(address: string, hash: number): boolean {
    return hash < 0 ? this.location === '' : hash === this.location.length && address.startsWith(this.location);
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

