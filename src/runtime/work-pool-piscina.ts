// A WorkPool on piscina worker threads (see work-pool.ts): one per actor thread, with one worker
// by default. The worker starts on warm() (or the first task) and then stays: starting a worker
// costs its caller's thread several milliseconds (measured 3-20 ms on a loaded 2-core machine),
// which is the stall the pool is there to avoid, so the shell warms the pool ahead of the first
// snapshot, and a node that never gets near one never starts it.

import { Piscina } from 'piscina';
import type { PoolTask, WorkPool } from './work-pool.js';

export interface PiscinaPoolOptions {
  /** Default 1: the work it takes is rare (snapshots) and the machine's cores run actors. */
  maxThreads?: number;
}

function workerFile(): string {
  const here = import.meta.url;
  return new URL(here.endsWith('.ts') ? './pool-worker-tsx.mjs' : './pool-worker.js', here).href;
}

export class PiscinaPool implements WorkPool {
  readonly inline = false;
  private pool: Piscina | null = null;

  constructor(
    /** Modules (file URLs) that register the tasks: the actor threads' behaviour modules. */
    private readonly modules: string[],
    private readonly opts: PiscinaPoolOptions = {},
  ) {}

  warm(): void {
    if (this.pool !== null) return;
    const threads = this.opts.maxThreads ?? 1;
    this.pool = new Piscina({ filename: workerFile(), workerData: { modules: this.modules }, minThreads: threads, maxThreads: threads, idleTimeout: Infinity });
  }

  run<I, O>(task: PoolTask<I, O>, input: I, transfer?: ArrayBuffer[]): Promise<O> {
    this.warm();
    return this.pool!.run({ task: task.name, input }, transfer ? { transferList: transfer } : {}) as Promise<O>;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.destroy();
  }
}
