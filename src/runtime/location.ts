// What a scheduler plugs into the runtime of one location (runtime.ts): how time passes and
// when a ready actor runs (Dispatcher), how an envelope reaches another location (Transport),
// and the options a location and a root actor start with. Cut out of runtime.ts (issue 15,
// point 3).

import type { Logger } from 'pino';
import type { MessageRegistry, WireEnvelope } from '../wire/registry.js';
import type { Storage } from './storage.js';
import type { BusyTime, Cancel, MachineBusy, SpawnOptions } from './types.js';
import type { ActorCell } from './runtime.js';

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
  /** How busy this location's thread has been (Clock.busy); absent: never busy. */
  busy?(): BusyTime;
  /** How busy the machine's cores have been (Clock.machineBusy); absent: not known. */
  machineBusy?(): MachineBusy;
}

/** Carries an envelope to another location; throws EncodeError for what cannot travel. */
export type Transport = (location: string, env: WireEnvelope) => void;

export interface RootOptions extends SpawnOptions {
  /** Logical host (node) name for logs and `ctx.host`; defaults to the root's name. */
  host?: string;
  storage?: Storage;
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

/** LocalRuntime.census: counts of what a runtime holds. */
export interface RuntimeCensus {
  actors: number;
  /** Asks awaiting a reply, from actors or from outside any actor. */
  pendingAsks: number;
  /** The one timer that times pending asks out is set (it is cleared when none is pending). */
  askTimer: boolean;
  /** Timers actors armed with ctx.clock.after / every and have not cancelled. */
  timers: number;
  /** The same for the actors at and below the path given. */
  under?: { actors: number; asks: number; timers: number };
}
