// `npm run bench -- NAME [--json] [--OPTION VALUE ...]`: runs bench/NAME.ts, prints its table
// (or, with --json, its result as JSON). A benchmark module exports:
//   describe: string                       one line for the list of benchmarks
//   run(opts): Promise<Result>             options are the --flags given, as strings/booleans
//   format(result): string                 the table
//   clientSemiSpaceMb?: number             run in a Node whose semi-spaces are this many MiB
// `meta` and `leases` ask for 1 MiB semi-spaces: their clients run on the main thread, where
// each scavenge pauses every request in flight, and a 16 MiB young generation takes 2-5 ms to
// scavenge. That Node also scavenges on one thread (--no-parallel-scavenge): on 2 cores, with
// the cluster's worker thread busy, parallel scavenges waited for helper threads that had no
// core, for up to 9 ms. 30 ls clients at 2 ministries over 5 s, ls p99 / ls per second:
//   Node's defaults                          0.68-0.73 ms   141-143 k
//   1 MiB semi-spaces                        0.57 ms        123-125 k
//   1 MiB, scavenging on one thread          0.51-0.52 ms   130 k
// The flags reach the worker threads too, where 1 MiB semi-spaces halve ring throughput, so the
// other benchmarks run with Node's defaults (mailbox's cross-thread ring: 1.45 M msgs/s with
// them, 0.75 M with 1 MiB; --no-parallel-scavenge alone changes neither it nor creates/s).

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `--flag` → true, `--name value` → 'value', everything else positional. */
function parseOptions(argv: string[]): { values: Record<string, string | boolean>; positionals: string[] } {
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const next = argv[i + 1];
    if (inline !== undefined) values[name] = inline;
    else if (next !== undefined && !next.startsWith('--') && name !== 'json' && name !== 'help' && name !== 'quick') values[name] = argv[++i]!;
    else values[name] = true;
  }
  return { values, positionals };
}

interface BenchModule {
  describe: string;
  run(opts: Record<string, string | boolean | undefined>): Promise<unknown>;
  format(result: unknown): string;
  clientSemiSpaceMb?: number;
}

/** Run this command again in a Node with `mb` MiB semi-spaces, scavenging on one thread, with
 * `gc()` (a benchmark may collect between its measurements); its exit code. */
function rerunWithSemiSpace(mb: number): number {
  const flags = [`--max-semi-space-size=${mb}`, `--min-semi-space-size=${mb}`, '--no-parallel-scavenge', '--expose-gc'];
  const r = spawnSync(process.execPath, [...process.execArgv, ...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, GOVFS_BENCH_CHILD: '1' },
  });
  return r.status ?? 1;
}

const here = new URL('.', import.meta.url);
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const skip = new Set(['run', 'actors', 'mailbox-raw', 'target']);

function available(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`))
    .map((f) => f.slice(0, -ext.length))
    .filter((n) => !skip.has(n) && !n.includes('.'))
    .sort();
}

async function main(): Promise<void> {
  const { values, positionals } = parseOptions(process.argv.slice(2));
  const name = positionals[0];
  const names = available();
  if (!name || values.help || !names.includes(name)) {
    const list: string[] = [];
    for (const n of names) {
      const m = (await import(new URL(`./${n}${ext}`, here).href)) as Partial<BenchModule>;
      list.push(`  ${n.padEnd(10)} ${m.describe ?? ''}`);
    }
    console.error(`usage: npm run bench -- NAME [--json] [options]\n\nbenchmarks:\n${list.join('\n')}`);
    if (name && !names.includes(name)) {
      console.error(`\nno benchmark named "${name}"`);
      process.exitCode = 2;
    }
    return;
  }
  const bench = (await import(new URL(`./${name}${ext}`, here).href)) as BenchModule;
  if (bench.clientSemiSpaceMb !== undefined && process.env.GOVFS_BENCH_CHILD !== '1' && !process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) {
    process.exitCode = rerunWithSemiSpace(bench.clientSemiSpaceMb);
    return;
  }
  const result = await bench.run(values as Record<string, string | boolean | undefined>);
  console.log(values.json ? JSON.stringify({ bench: name, node: process.version, date: new Date().toISOString(), result }, null, 2) : bench.format(result));
}

await main();
