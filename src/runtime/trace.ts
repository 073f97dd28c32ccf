// Opt-in request tracing (issue 19, point 5): follows one request through every hop it causes —
// ring crossings, mailbox waits, actor turns, timers, storage writes and their fsync — and keeps
// timestamped events in a buffer per thread, which a benchmark collects and lines up.
//
// Off by default; when off every hook is one branch on `tracer.on`. A trace starts when an ask
// from outside any actor matches the armed predicate (`tracer.arm`). From then on the trace id
// rides on the envelope (`WireEnvelope.trace`, across threads and hosts) and is "current"
// while an actor handles a traced message, so that everything that turn sends, the timers it
// sets (`ctx.clock.after`) and the promises it pipes to itself (`ctx.pipeToSelf`, such as a
// storage sync) carry the trace on. Under load one traced turn causes the next (a leader's
// response turn sends the next append) without end, so a trace lives `ttlMs` from its start
// (the id is its start time, in 0.1 ms units) and is dropped, unrecorded, after that.
// Timestamps are performance.timeOrigin + performance.now(),
// so the threads of one process agree to a few microseconds.

import { EnvelopeKind } from '../wire/registry.js';

/** What happened. */
export type TraceKind =
  /** An envelope left an actor (or the outside world) for `where`. */
  | 'send'
  /** An envelope arrived on this thread from another one (decoded off its ring). */
  | 'recv'
  /** An actor began handling the message; `ms` is how long it waited in its mailbox. */
  | 'run'
  /** The actor's turn ended (a synchronous handler returned). */
  | 'done'
  /** A timer set during a traced turn fired; `ms` is the delay it was set for. */
  | 'timer'
  /** A promise piped back to the actor settled (a storage sync: the fsync is done). */
  | 'piped'
  /** A storage write was issued (lmdb commits it, with its fsync, on its write thread). */
  | 'write'
  /** A reply reached the asker outside any actor (the client received its answer). */
  | 'reply';

/** Default life of a trace (TraceSettings.ttlMs). */
export const TRACE_TTL_MS = 200;

export interface TraceEvent {
  trace: number;
  /** ms since the Unix epoch, sub-ms resolution, comparable across the process's threads. */
  t: number;
  /** The location (thread) it happened on: t0, t1, ..., main. */
  thread: string;
  kind: TraceKind;
  /** An actor path or address. */
  where: string;
  /** A message type. */
  what: string;
  /** For `run`: mailbox wait; `timer`: the delay set; `piped`: time since it was piped. */
  ms?: number;
  /** For `recv`: when this thread last woke from its doorbell wait, if this drain followed a wake. */
  wokeAt?: number;
  /** For the ask that started a trace, and for replies (`send`, `recv`, `reply`): the ask's
   * correlation id. */
  corr?: number;
}

/** A trace buffer holds at most this many events; later ones are counted in `dropped`. */
const MAX_EVENTS = 200_000;

export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

class Tracer {
  /** The one branch every hook takes when tracing is off. */
  on = false;
  /** The trace of the turn (or outside send) being run on this thread; 0 for none. */
  current = 0;
  /** This thread's location, stamped on its events. */
  location = '';
  /** When this thread's ring inbox last woke from a doorbell wait (0 once it parks again). */
  wokeAt = 0;
  dropped = 0;
  /** How long after its start a trace is still followed (see the top comment). */
  ttlMs = TRACE_TTL_MS;
  private lastId = 0;
  private events: TraceEvent[] = [];
  private armed: ((msg: unknown) => boolean) | null = null;
  private armedCount = 0;
  /** Traces started here, newest last. */
  readonly started: number[] = [];

  /** Turn tracing on or off for this thread (each thread has its own tracer). */
  enable(on: boolean, location?: string, ttlMs?: number): void {
    this.on = on;
    if (location !== undefined) this.location = location;
    if (ttlMs !== undefined) this.ttlMs = ttlMs;
    if (!on) {
      this.current = 0;
      this.armed = null;
    }
  }

  /** Trace the next `count` asks sent from outside any actor whose message passes `pred`. */
  arm(pred: (msg: unknown) => boolean, count = 1): void {
    this.armed = pred;
    this.armedCount = count;
  }

  /** Called for an ask sent from outside any actor: the id of a new trace, or 0. */
  maybeStart(msg: unknown): number {
    if (this.armed === null || !this.armed(msg)) return 0;
    if (--this.armedCount <= 0) this.armed = null;
    // Its start time (unique among the traces one thread starts, the only starter in practice).
    let id = stamp(traceNow());
    if (id <= this.lastId && this.lastId - id < 0x40000000) id = (this.lastId + 1) & 0x7fffffff;
    if (id === 0) id = 1;
    this.lastId = id;
    this.started.push(id);
    return id;
  }

  /** Whether `trace` is still within its life (see the top comment). */
  live(trace: number): boolean {
    return ((stamp(traceNow()) - trace) & 0x7fffffff) <= this.ttlMs * 10;
  }

  record(trace: number, kind: TraceKind, where: string, what: string, ms?: number, wokeAt?: number, corr?: number): void {
    if (this.events.length >= MAX_EVENTS) {
      this.dropped++;
      return;
    }
    const e: TraceEvent = { trace, t: traceNow(), thread: this.location, kind, where, what };
    if (ms !== undefined) e.ms = ms;
    if (wokeAt) e.wokeAt = wokeAt;
    if (corr) e.corr = corr;
    this.events.push(e);
  }

  /** The events recorded so far on this thread, emptying the buffer. */
  drain(): TraceEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  get size(): number {
    return this.events.length;
  }
}

/** A time as a trace id: 0.1 ms units, 31 bits (wraps every 2.5 days). */
function stamp(t: number): number {
  return Math.floor(t * 10) & 0x7fffffff;
}

/** This thread's tracer (module state is per thread: each worker loads its own copy). */
export const tracer = new Tracer();

/** The type of a message, for trace events. */
export function typeOf(msg: unknown): string {
  if (typeof msg === 'string') return msg;
  if (typeof msg !== 'object' || msg === null) return typeof msg;
  const m = msg as { type?: unknown; kind?: unknown };
  if (typeof m.type === 'string') return m.type;
  // An actor's own signal (a class instance such as the Raft shell's): its class and kind.
  const name = (msg as object).constructor?.name ?? 'object';
  return typeof m.kind === 'string' ? `${name}.${m.kind}` : name;
}

/** LocalRuntime.send with tracing on: the trace a send belongs to (the current turn's, or a new
 * one for an armed ask from outside any actor at `location`), recorded; 0 for none. */
export function traceSend(location: string, address: string, msg: unknown, from: string, kind: EnvelopeKind, corr: number): number {
  const trace = tracer.current;
  if (trace !== 0) {
    // A reply names its ask, so that the path finder tells one client's answer from another's.
    tracer.record(trace, 'send', address, typeOf(msg), undefined, undefined, kind === EnvelopeKind.Reply ? corr : undefined);
    return trace;
  }
  if (kind !== EnvelopeKind.Ask || from !== `${location}#/`) return 0;
  const started = tracer.maybeStart(msg);
  if (started !== 0) tracer.record(started, 'send', address, typeOf(msg), undefined, undefined, corr);
  return started;
}

/** An actor's turn with tracing on (`env`: the item when it is an envelope): a live traced
 * message's trace, or else the one the actor carries (`carry`), is current for the turn, so that
 * what it sends carries it on. Returns the trace the actor carries from now on. */
export function tracedTurn(carry: number, path: string, env: { trace: number; at: number; msg: unknown } | null, item: unknown, invoke: (item: unknown) => void): number {
  const own = env !== null && env.trace !== 0 && tracer.live(env.trace);
  const trace = own ? env.trace : carry !== 0 && tracer.live(carry) ? carry : 0;
  if (trace === 0) {
    invoke(item);
    return 0;
  }
  const what = typeOf(env ? env.msg : item);
  tracer.current = trace;
  // No mailbox wait for an untraced message run in a carried trace (its queuing was not seen).
  tracer.record(trace, 'run', path, what, own ? traceNow() - env.at : undefined);
  try {
    invoke(item);
  } finally {
    tracer.record(trace, 'done', path, what);
    tracer.current = 0;
  }
  return trace;
}
