// The context an actor's handlers get (`Context`): its refs, clock and timers, storage,
// randomness, asks and replies, all bound to one incarnation of one cell, so that a restart or
// a stop cancels the old incarnation's timers at once. Cut out of runtime.ts (issue 15, point 3).

import type { Logger } from 'pino';
import { EnvelopeKind } from '../wire/registry.js';
import { ActorStoppedError } from './errors.js';
import type { SeededRandom } from './random.js';
import type { Storage } from './storage.js';
import type { WorkPool } from './work-pool.js';
import type { AskOptions, Cancel, Clock, Context, Message, Ref, Spawnable, SpawnOptions } from './types.js';
import type { ActorCell } from './runtime.js';
import type { WatchMessage } from '../wire/messages.js';
import { Envelope } from './refs.js';
import { traceNow, tracer, typeOf } from './trace.js';

/** A one-shot timer set during a traced turn carries the trace on when it is this short (a
 * batching timer on the request's path); longer ones (elections, leases) are not its doing. */
const TRACE_TIMER_MAX_MS = 50;

export class ContextImpl implements Context<Message> {
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
      const trace = tracer.on && !repeat && ms <= TRACE_TIMER_MAX_MS ? tracer.current : 0;
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
        if (trace !== 0 && tracer.live(trace)) {
          tracer.record(trace, 'timer', cell.path, typeOf(msg), ms);
          cell.enqueue(new Envelope(msg, '', EnvelopeKind.Tell, 0, trace));
        } else cell.enqueue(msg);
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
      busy: () => rt.dispatcher.busy?.() ?? { activeMs: 0, idleMs: rt.dispatcher.now() },
      machineBusy: () => rt.dispatcher.machineBusy?.() ?? null,
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
  get pool(): WorkPool {
    return this.cell.runtime.pool;
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

  stash(): void {
    this.cell.stashCurrent();
  }

  unstashAll(): void {
    this.cell.unstashAll();
  }

  pipeToSelf<T>(promise: Promise<T>, onOk: (value: T) => Message, onErr: (err: unknown) => Message): void {
    const cell = this.cell;
    const incarnation = cell.incarnation;
    const trace = tracer.on ? tracer.current : 0;
    const piped = trace === 0 ? 0 : traceNow();
    const deliver = (msg: Message): void => {
      if (cell.incarnation !== incarnation || cell.stopped) return;
      if (trace !== 0 && tracer.live(trace)) {
        tracer.record(trace, 'piped', cell.path, typeOf(msg), traceNow() - piped);
        cell.enqueue(new Envelope(msg, '', EnvelopeKind.Tell, 0, trace));
      } else cell.enqueue(msg);
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
    this.cell.runtime.send(ref.address, { type: 'govfs.runtime.Watch', watcher: this.cell.address } satisfies WatchMessage, this.cell.address, EnvelopeKind.System, 0);
  }
}
