// Entry of a piscina worker of a WorkPool (work-pool-piscina.ts): imports the modules that
// register tasks (the behaviour modules the actor threads import), then runs tasks by name. A
// result that is (or holds) a Uint8Array of its own buffer is transferred back, not copied.

import { Piscina } from 'piscina';
import { runPoolTask } from './work-pool.js';

const { modules } = Piscina.workerData as { modules: string[] };
for (const m of modules) await import(m);

export default function run(job: { task: string; input: unknown }): unknown {
  const out = runPoolTask(job.task, job.input);
  return out instanceof Uint8Array && out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? Piscina.move(out) : out;
}
