// Work an actor hands off its thread (issue 19, point 4): CPU-heavy pure functions of bytes,
// such as building a snapshot from the last one and the log entries since. Actor code runs a
// task through `ctx.pool` and never imports piscina: on the threads scheduler each worker
// thread's pool is a piscina pool (work-pool-piscina.ts), whose workers import the same
// behaviour modules and so find the same tasks by name; under the simulator (and wherever no
// pool was given) tasks run inline, synchronously, so a simulated run stays deterministic and
// takes no extra threads.

import { RuntimeError } from './errors.js';

/** A named pure function, registered where it is defined (a module the pool's workers import
 * too). Its input and output must be structured-clonable. */
export interface PoolTask<I, O> {
  readonly name: string;
  readonly fn: (input: I) => O;
}

const tasks = new Map<string, (input: unknown) => unknown>();

/** Define a task (once per name, at module load). */
export function registerPoolTask<I, O>(name: string, fn: (input: I) => O): PoolTask<I, O> {
  const known = tasks.get(name);
  if (known !== undefined && known !== fn) throw new RuntimeError('EEXIST', `pool task "${name}" is registered twice`);
  tasks.set(name, fn as (input: unknown) => unknown);
  return { name, fn };
}

/** Run the registered task `name` here (the pool's workers call this). */
export function runPoolTask(name: string, input: unknown): unknown {
  const fn = tasks.get(name);
  if (fn === undefined) throw new RuntimeError('ENOENT', `no pool task "${name}" here (is the module that registers it among the pool's modules?)`);
  return fn(input);
}

export interface WorkPool {
  /** Tasks run inline: `run` returns the result itself, synchronously. */
  readonly inline: boolean;
  /** Run `task` on `input`; `transfer`: buffers of `input` handed over, not copied (the caller
   * must not use them afterwards). Inline pools return the result, others a promise of it. */
  run<I, O>(task: PoolTask<I, O>, input: I, transfer?: ArrayBuffer[]): O | Promise<O>;
  /** Get ready for tasks soon (start the workers now, in a turn of no consequence). */
  warm(): void;
  close(): Promise<void>;
}

/** Runs every task inline, on the caller's thread (the simulator's, and the default). */
export const inlinePool: WorkPool = {
  inline: true,
  run: (task, input) => task.fn(input),
  warm: () => {},
  close: async () => {},
};
