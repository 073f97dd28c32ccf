// `npm run bench -- NAME [--json] [--OPTION VALUE ...]`: runs bench/NAME.ts, prints its table
// (or, with --json, its result as JSON). A benchmark module exports:
//   describe: string                       one line for the list of benchmarks
//   run(opts): Promise<Result>             options are the --flags given, as strings/booleans
//   format(result): string                 the table
//   nodeFlags?: string[]                    run in a Node started with these flags
// `meta` asks for --expose-gc: it collects garbage before each measurement (see fullGc
// there); and for 64 MiB semi-spaces on its clients' (main) thread, the young generation the
// worker threads have anyway (see nodeFlags there). It and `leases` once ran with 1 MiB
// semi-spaces, scavenging on one thread, to shorten the scavenges that pause every request in
// flight on the clients' thread; that was when every ls reply outlived its scavenges (see
// src/runtime/int-table.ts). Those flags reach the worker threads too, where the small young
// generation cost a quarter of the creates (2 ministries: 9.0-9.1 k creates/s per ministry
// with it, 11.3-11.7 k without) and halved the mailbox ring.

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
    else if (next !== undefined && !next.startsWith('--') && name !== 'json' && name !== 'help' && name !== 'quick' && name !== 'metrics' && name !== 'remote' && name !== 'remote-only') values[name] = argv[++i]!;
    else values[name] = true;
  }
  return { values, positionals };
}

interface BenchModule {
  describe: string;
  run(opts: Record<string, string | boolean | undefined>): Promise<unknown>;
  format(result: unknown): string;
  nodeFlags?: string[];
}

/** Run this command again in a Node started with `flags` too; its exit code. */
function rerunWith(flags: string[]): number {
  const r = spawnSync(process.execPath, [...process.execArgv, ...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, GOVFS_BENCH_CHILD: '1' },
  });
  return r.status ?? 1;
}

const here = new URL('.', import.meta.url);
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const skip = new Set(['run', 'actors', 'mailbox-raw', 'target', 'snapshot-pool-task', 'processes', 'trace-path']);
/** Short names for benchmarks whose file says more (`npm run bench -- chunks`). */
const aliases: Record<string, string> = { chunks: 'chunk-store' };

function available(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`))
    .map((f) => f.slice(0, -ext.length))
    .filter((n) => !skip.has(n) && !n.includes('.'))
    .sort();
}

async function main(): Promise<void> {
  const { values, positionals } = parseOptions(process.argv.slice(2));
  const given = positionals[0];
  const name = given === undefined ? undefined : (aliases[given] ?? given);
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
  const missing = (bench.nodeFlags ?? []).filter((f) => !process.execArgv.includes(f));
  if (missing.length > 0 && process.env.GOVFS_BENCH_CHILD !== '1') {
    process.exitCode = rerunWith(missing);
    return;
  }
  const result = await bench.run(values as Record<string, string | boolean | undefined>);
  console.log(values.json ? JSON.stringify({ bench: name, node: process.version, date: new Date().toISOString(), result }, null, 2) : bench.format(result));
}

await main();
