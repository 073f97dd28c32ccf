// What a spawn starts from: behaviours registered by name (so that an actor can be placed on
// another thread or host), the default supervision strategy, the default logger, and the
// storage of a host that has none. Cut out of runtime.ts (issue 15, point 3).

import type { Logger } from 'pino';
import { RuntimeError } from './errors.js';
import { createLogger, envLogSettings } from './log.js';
import type { Storage } from './storage.js';
import type { Behaviour, Message, NamedBehaviour, Spawnable, SupervisorStrategy } from './types.js';

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

export function toFactory(b: Spawnable<unknown>): () => Behaviour<Message> {
  return typeof b === 'function' ? (b as () => Behaviour<Message>) : namedFactory(b);
}

export const DEFAULT_STRATEGY = {
  kind: 'one-for-one' as const,
  maxRestarts: 10,
  withinMs: 10_000,
  minBackoffMs: 10,
  maxBackoffMs: 2_000,
};

export function strategy(s: Partial<SupervisorStrategy> = {}): SupervisorStrategy {
  return { ...DEFAULT_STRATEGY, ...s };
}

/** The default logger: quiet unless GOVFS_LOG names a level (GOVFS_LOG_FILE: to that file). */
export function defaultLogger(): Logger {
  return createLogger(envLogSettings());
}

export const noStorage: Storage = new Proxy({} as Storage, {
  get(_t, prop) {
    if (prop === 'then') return undefined;
    return () => {
      throw new RuntimeError('ENODEV', 'this actor has no storage: give its host root one (spawnRoot({ storage }))');
    };
  },
});
