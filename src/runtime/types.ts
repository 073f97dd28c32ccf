// The contracts every actor is written against (DESIGN.md, "Runtime contracts").
// Both schedulers (`sim` and `threads`) implement exactly these; actor code never sees which.

import type { Logger } from 'pino';
import type { Storage } from './storage.js';
import type { WorkPool } from './work-pool.js';

/** A message is any value; messages that may cross a thread or host carry `type`, the
 * full name of their protobuf message (see src/wire/proto and `MessageRegistry`). */
export type Message = unknown;

/** A location-transparent handle on an actor. `address` is stable and may travel inside
 * messages (as a string); `ctx.ref(address)` turns it back into a Ref. */
export interface Ref<M = Message> {
  readonly address: string;
  tell(msg: M): void;
}

export interface Clock {
  /** Milliseconds on this host's clock (virtual and possibly drifting under `sim`). */
  now(): number;
  /** Deliver `msg` to self after `ms`; cancelled when the actor stops. */
  after(ms: number, msg: Message): Cancel;
  /** Deliver `msg` to self every `ms`; cancelled when the actor stops. */
  every(ms: number, msg: Message): Cancel;
  /** How busy this host's thread has been since it started, for load reports (thesis 3.4):
   * real, the event loop's utilisation (`performance.eventLoopUtilization`, shared by every
   * node on the thread); under `sim`, the modeled service time of what the host handled
   * (SimOptions.cpu; always idle without it). Compare two readings (load.ts, utilisation). */
  busy(): BusyTime;
  /** How busy this node's machine has been, all its cores together, since it started: real,
   * the operating system's CPU times (`os.cpus()`); null under `sim`, where each host is a
   * machine of its own and busy() says it all. Nodes that share a machine (a local cluster on
   * worker threads) share this: an idle one there has no CPU of its own to offer (president's
   * balancing, `spareCores`). */
  machineBusy(): MachineBusy | null;
}

/** Cumulative ms a machine's cores spent running and idle, summed over its `cores`. */
export interface MachineBusy extends BusyTime {
  cores: number;
}

/** Cumulative ms a thread spent running and idle. */
export interface BusyTime {
  activeMs: number;
  idleMs: number;
}

export type Cancel = () => void;

/** Seeded, per-actor pseudo random numbers. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number;
  /** A 32-bit unsigned integer. */
  u32(): number;
}

export interface AskOptions {
  timeoutMs: number;
  /** The reply, unless a failure, may arrive with its body still encoded (a RawMessage,
   * src/wire/registry.ts) when it comes through a ring: for an asker that only passes it on
   * (a client's connection actor), which saves decoding and encoding it again. */
  raw?: boolean;
}

export type SupervisionDirective = 'restart' | 'stop' | 'escalate' | 'resume';

export interface SupervisorStrategy {
  /** 'one-for-one' restarts only the failed child; 'one-for-all' restarts all children. */
  kind: 'one-for-one' | 'one-for-all';
  /** What to do with a child that threw. Default: restart. */
  decide?: (error: unknown, child: string) => SupervisionDirective;
  /** At most `maxRestarts` within `withinMs`, then escalate. Default 10 in 10 s. */
  maxRestarts?: number;
  withinMs?: number;
  /** Backoff before the n-th consecutive restart: min(maxBackoffMs, minBackoffMs * 2^(n-1)). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** How to create an actor. A factory closure works on the spawning thread; a named behaviour
 * (registered with `registerBehaviour`) can be placed on any thread or host. */
export type Spawnable<M> = (() => Behaviour<M>) | NamedBehaviour;

export interface NamedBehaviour {
  behaviour: string;
  /** Structured-clonable arguments for the registered factory. */
  args?: unknown;
}

export interface SpawnOptions {
  /** Worker thread to run on (`threads` scheduler); defaults to the parent's thread. */
  thread?: number;
  /** How this actor supervises its own children. */
  strategy?: SupervisorStrategy;
}

export interface Context<M = Message> {
  readonly self: Ref<M>;
  readonly parent: Ref | null;
  /** Path of this actor from its host's root, e.g. `/node/clerk/session-3`. */
  readonly path: string;
  /** The host (node) this actor lives on. */
  readonly host: string;
  /** Aborted when this actor stops (for any reason, including a restart). */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly storage: Storage;
  /** Where CPU-heavy pure work goes off this thread (work-pool.ts): piscina workers on the
   * threads scheduler, inline under the simulator. */
  readonly pool: WorkPool;
  /** The sender of the message being handled, when it was sent by an actor. */
  readonly sender: Ref | null;

  spawn<C>(name: string, behaviour: Spawnable<C>, opts?: SpawnOptions): Ref<C>;
  stop(ref: Ref): void;
  /** Children by name. */
  child<C = Message>(name: string): Ref<C> | undefined;
  /** Ask and wait for a reply; rejects with `AskTimeoutError` after `timeoutMs`, or
   * `ActorStoppedError` if this actor stops first. */
  ask<R = Message>(ref: Ref, msg: Message, opts: AskOptions): Promise<R>;
  /** Answer the ask being handled (no-op for a plain tell). */
  reply(msg: Message): void;
  /** Pass the message being handled on to `ref` as if its sender had sent it there: an ask's
   * reply then goes straight back to the asker. */
  forward(ref: Ref, msg?: Message): void;
  /** Keep the ask being handled open and answer it later, from another turn (e.g. once a
   * proposal commits). The returned function is a no-op for a plain tell. */
  deferReply(): (msg: Message) => void;
  /** Set the message being handled aside, as it came (an ask's reply still goes to its asker),
   * until `unstashAll()`: e.g. while a state being restored is not whole yet. */
  stash(): void;
  /** Put every stashed message back at the front of the mailbox, in the order they came (a
   * restart does this too). */
  unstashAll(): void;
  /** Deliver the outcome of a promise back into this actor's mailbox, in turn. */
  pipeToSelf<T>(promise: Promise<T>, onOk: (value: T) => M, onErr: (err: unknown) => M): void;
  /** Resolve an address received inside a message. */
  ref<C = Message>(address: string): Ref<C>;
  /** Watch another actor: `{ type: 'govfs.runtime.Terminated', address }` arrives when it stops. */
  watch(ref: Ref): void;
}

export interface Behaviour<M = Message> {
  started?(ctx: Context<M>): void | Promise<void>;
  /** One message at a time. If it returns a promise, the next message waits for it. */
  receive(ctx: Context<M>, msg: M): void | Promise<void>;
  stopped?(ctx: Context<M>): void;
}

/** Sent to a watcher when a watched actor stops. */
export interface Terminated {
  type: 'govfs.runtime.Terminated';
  address: string;
}
