// The govfs command line. Only parses arguments and calls the library.

import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ThreadsScheduler } from '../src/runtime/threads.js';

const HELP = `govfs — a strongly consistent distributed file system control plane

Usage:
  govfs demo [--threads W] [--data DIR]   run the actor runtime demo on worker threads
  govfs help                               this text

The GovFS cluster commands (cluster, node, ls, mkdir, ...) arrive with the control plane.`;

const DEMO_HELP = `govfs demo [--threads W] [--data DIR]

Starts W worker threads (default: one per core), one demo node on each, with lmdb storage
under DIR (default ./govfs-data). The nodes pass tokens round a ring through the
ring-buffer mailboxes and count laps durably; run it again and the counts carry on.
Prints throughput once a second. Ctrl-C stops it cleanly.`;

async function demo(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { threads: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean', short: 'h' }, seconds: { type: 'string' } },
  });
  if (values.help) {
    console.log(DEMO_HELP);
    return;
  }
  const threads = values.threads ? Number(values.threads) : Math.max(2, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got "${values.threads}"`);
  const dataDir = resolve(values.data ?? 'govfs-data');
  mkdirSync(dataDir, { recursive: true });
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const sched = await ThreadsScheduler.start({ threads, modules: [new URL(`../src/actors/demo${ext}`, import.meta.url)] });
  const names = Array.from({ length: threads }, (_, i) => `demo${i}`);
  const address = (i: number) => `t${i}#/${names[i]}`;
  for (let i = 0; i < threads; i++) {
    await sched.spawnRoot(names[i]!, { behaviour: 'govfs.demo.node', args: { index: i, next: address((i + 1) % threads) } }, { thread: i, storageDir: join(dataDir, names[i]!) });
  }
  // A few tokens per node keep every ring busy.
  for (let i = 0; i < threads; i++) for (let k = 0; k < 64; k++) sched.ref(address(i)).tell({ type: 'govfs.runtime.Ping', seq: k, sender: i });
  console.log(`govfs demo: ${threads} worker threads, data in ${dataDir}. Ctrl-C to stop.`);
  let last = 0;
  let stopping = false;
  const report = async () => {
    const counts = await Promise.all(names.map((_, i) => sched.ask<{ seq: number; sender: number }>(address(i), { type: 'govfs.runtime.Pong', seq: 0 })));
    const handled = counts.reduce((s, c) => s + c.sender, 0);
    console.log(`${(handled - last).toLocaleString()} msgs/s across threads; laps per node: ${counts.map((c) => c.seq).join(', ')}`);
    last = handled;
  };
  const timer = setInterval(() => void report().catch(() => {}), 1_000);
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    console.log('stopping...');
    await sched.stop();
    console.log('stopped cleanly.');
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  if (values.seconds) setTimeout(() => void stop(), Number(values.seconds) * 1_000);
}

async function main(): Promise<void> {
  const [command = 'help', ...rest] = process.argv.slice(2);
  switch (command) {
    case 'demo':
      return demo(rest);
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP);
      return;
    default:
      console.error(`govfs: unknown command "${command}"\n\n${HELP}`);
      process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  console.error(`govfs: ${(e as Error).message}`);
  process.exitCode = 1;
});
