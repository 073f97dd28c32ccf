// `govfs demo`: the actor runtime demo (tokens round a ring of worker threads).

import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { ThreadsScheduler } from '../runtime/threads.js';
import { intOption, parse, untilSignal } from './usage.js';


export async function demoCommand(argv: string[], help: string): Promise<void> {
  const { values } = parse(argv, { threads: { type: 'string' }, data: { type: 'string' }, seconds: { type: 'string' } }, false);
  if (values.help) return void console.log(help);
  const threads = intOption(values.threads, 'threads') ?? Math.max(2, availableParallelism());
  const dataDir = resolve(values.data ?? 'govfs-data-demo');
  mkdirSync(dataDir, { recursive: true });
  // The behaviours' module: src/demo/ring.ts in the sources, dist/cli/demo/ring.js in the bundle.
  const module = import.meta.url.endsWith('.ts') ? new URL('../demo/ring.ts', import.meta.url) : new URL('./demo/ring.js', import.meta.url);
  const sched = await ThreadsScheduler.start({ threads, modules: [module] });
  const names = Array.from({ length: threads }, (_, i) => `demo${i}`);
  const address = (i: number) => `t${i}#/${names[i]}`;
  for (let i = 0; i < threads; i++) {
    await sched.spawnRoot(names[i]!, { behaviour: 'govfs.demo.node', args: { index: i, next: address((i + 1) % threads) } }, { thread: i, storageDir: join(dataDir, names[i]!) });
  }
  for (let i = 0; i < threads; i++) for (let k = 0; k < 64; k++) sched.ref(address(i)).tell({ type: 'govfs.runtime.Ping', seq: k, sender: i });
  console.log(`govfs demo: ${threads} worker threads, data in ${dataDir}. Ctrl-C to stop.`);
  let last = 0;
  const report = async () => {
    const counts = await Promise.all(names.map((_, i) => sched.ask<{ seq: number; sender: number }>(address(i), { type: 'govfs.runtime.Pong', seq: 0 })));
    const handled = counts.reduce((s, c) => s + c.sender, 0);
    console.log(`${(handled - last).toLocaleString()} msgs/s across threads; laps per node: ${counts.map((c) => c.seq).join(', ')}`);
    last = handled;
  };
  const timer = setInterval(() => void report().catch(() => {}), 1_000);
  const stop = async () => {
    clearInterval(timer);
    await sched.stop();
  };
  if (values.seconds) setTimeout(() => process.kill(process.pid, 'SIGINT'), Number(values.seconds) * 1_000);
  await untilSignal(stop, 'the demo');
}

