// `npm run mutants -- [ID ...] [--json] [--budget S] [--sim [--seeds N]] [--baseline] [--list]`
//
// Plants each bug of test/mutants/list.ts, one at a time, in a copy of this worktree (src, test,
// bench, bin and the configs, in a temporary folder, node_modules linked) and reports whether
// `npm test`'s own test files catch it, which one, and how fast:
//
// - default: runs the mutant's test files with vitest (the same seed sets as `npm test`), in
//   order, until one fails (with --bail=1, and GOVFS_FAIL_FAST=1 so that the seed loops stop
//   at their first failing seed). A mutant counts as caught only if a test fails within the budget
//   (`--budget`, seconds per mutant, default 600): a run still going then (a livelock) is
//   killed and counts as not caught.
// - `--sim`: runs `npm run sim -- NAME --seeds N` (default 100) for each simulation meant to
//   catch it, and reports which seeds fail: the first failing seed is how many seeds CI needs.
// - `--baseline`: the same, once without any mutant first (every test must pass).
//
// Exit status 1 if some mutant was not caught (or a baseline run failed), 2 on bad usage or a
// mutant whose text is no longer in the source.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MUTANTS, type Mutant } from './list.js';

const ROOT = realpathSync(new URL('../..', import.meta.url).pathname);
// scripts/: bin/govfs builds the command line's bundle with it (test/cli).
const COPIED = ['src', 'test', 'bench', 'bin', 'scripts', 'package.json', 'tsconfig.json', 'vitest.config.ts'];

interface TestOutcome {
  caught: boolean;
  /** The test file that failed, or why none did. */
  by: string;
  seconds: number;
  detail: string;
}

interface SimOutcome {
  sim: string;
  seeds: number;
  failing: number[];
  /** The seed that never finished within the budget, if one hung. */
  hungAt: number | null;
  seconds: number;
  firstError: string;
}

/** A copy of the worktree with `mutant` planted (none for a baseline). */
function plant(mutant: Mutant | null): string {
  const dir = mkdtempSync(join(tmpdir(), `govfs-mutant-${mutant?.id ?? 'baseline'}-`));
  for (const p of COPIED) if (existsSync(join(ROOT, p))) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(dir, 'node_modules'));
  for (const e of mutant?.edits ?? []) {
    const path = join(dir, e.file);
    const text = readFileSync(path, 'utf8');
    const n = text.split(e.find).length - 1;
    if (n !== 1) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mutant ${mutant!.id}: the text to replace is found ${n} times in ${e.file} (want once; bring test/mutants/list.ts in step with the code): ${JSON.stringify(e.find)}`);
    }
    writeFileSync(path, text.replace(e.find, () => e.replace));
  }
  return dir;
}

/** The command running now and the copy it runs in: killed and removed if this runner is. */
let running: { pid: number | undefined; dir: string } | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (running?.pid !== undefined) {
      try {
        process.kill(-running.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (running) rmSync(running.dir, { recursive: true, force: true });
    process.exit(130);
  });
}

/** Run a command in `cwd` in a process group of its own; kill the group after `ms`. Calls
 * `onLine` for each line of its standard output. */
function run(cwd: string, cmd: string, args: string[], ms: number, onLine: (line: string) => void = () => {}, env: Record<string, string> = {}): Promise<{ code: number | null; timedOut: boolean; output: string; seconds: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...env } });
    running = { pid: child.pid, dir: cwd };
    let output = '';
    let partial = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => {
      const s = b.toString();
      output += s;
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.stderr.on('data', (b: Buffer) => {
      output += b.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      running = null;
      if (partial) onLine(partial);
      resolve({ code, timedOut, output, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

/** The first line of a vitest failure worth showing. */
function failureLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trim());
  // A seed loop's failure names its seed and reason ("seed 5: invariant violated: ...").
  const seed = lines.find((l) => /^[+"'\s-]*"?seed \d+: /.test(l));
  const hit = seed?.replace(/^[+\s-]*"/, '') ?? lines.find((l) => /^(AssertionError|Error|TypeError|SyntaxError)\b|invariant violated|expected/.test(l)) ?? lines.find((l) => l.startsWith('FAIL')) ?? '';
  return hit.slice(0, 200);
}

async function runTests(dir: string, tests: string[], budgetMs: number): Promise<TestOutcome> {
  const t0 = Date.now();
  const vitest = join(dir, 'node_modules', '.bin', 'vitest');
  for (const file of tests) {
    const left = budgetMs - (Date.now() - t0);
    if (left <= 0) break;
    // Stop at the first failing test, and the seed loops at their first failing seed.
    const r = await run(dir, vitest, ['run', '--bail=1', file], left, undefined, { GOVFS_FAIL_FAST: '1' });
    if (r.timedOut) return { caught: false, by: `${file} still running after the budget (hangs)`, seconds: (Date.now() - t0) / 1000, detail: '' };
    if (r.code !== 0) {
      // A file that does not even load (the edit broke the syntax) catches nothing.
      if (/Transform failed|SyntaxError|Failed to load/.test(r.output) && !/Tests\s+\d+ failed/.test(r.output)) {
        throw new Error(`the planted edit does not load in ${file}: ${failureLine(r.output)}`);
      }
      return { caught: true, by: file, seconds: (Date.now() - t0) / 1000, detail: failureLine(r.output) };
    }
  }
  return { caught: false, by: 'no test failed', seconds: (Date.now() - t0) / 1000, detail: '' };
}

async function runSim(dir: string, sim: string, seeds: number, budgetMs: number): Promise<SimOutcome> {
  const failing: number[] = [];
  let last = 0;
  let firstError = '';
  const r = await run(dir, join(dir, 'node_modules', '.bin', 'tsx'), ['test/sim/run.ts', sim, '--seeds', String(seeds), '--each'], budgetMs, (line) => {
    const m = /^seed (\d+): (pass|FAIL)(.*)$/.exec(line);
    if (!m) return;
    last = Number(m[1]);
    if (m[2] === 'FAIL') {
      failing.push(last);
      if (!firstError) firstError = m[3]!.trim().slice(0, 200);
    }
  });
  if (!r.timedOut && r.code !== 0 && r.code !== 1) firstError ||= failureLine(r.output);
  return { sim, seeds, failing, hungAt: r.timedOut ? last + 1 : null, seconds: r.seconds, firstError };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      budget: { type: 'string' },
      sim: { type: 'boolean' },
      seeds: { type: 'string' },
      baseline: { type: 'boolean' },
      list: { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log('usage: npm run mutants -- [ID ...] [--json] [--budget SECONDS] [--sim [--seeds N]] [--baseline] [--list] [--keep]');
    return;
  }
  if (values.list) {
    for (const m of MUTANTS) console.log(`${pad(m.id, 28)} ${m.what}\n${' '.repeat(29)}tests: ${m.tests.join(', ')}; sims: ${m.sims.join(', ') || '-'}`);
    return;
  }
  const unknown = positionals.filter((p) => !MUTANTS.some((m) => m.id === p));
  if (unknown.length > 0) {
    console.error(`no mutant ${unknown.join(', ')} (npm run mutants -- --list)`);
    process.exitCode = 2;
    return;
  }
  const chosen = positionals.length > 0 ? MUTANTS.filter((m) => positionals.includes(m.id)) : MUTANTS;
  const budgetMs = Number(values.budget ?? 600) * 1000;
  const seeds = Number(values.seeds ?? 100);
  const rows: Record<string, unknown>[] = [];
  const say = (s: string): void => {
    if (!values.json) console.log(s);
  };
  let bad = false;
  const targets: (Mutant | null)[] = [...(values.baseline ? [null] : []), ...chosen];
  // Every planted edit must apply before anything runs.
  for (const m of chosen) rmSync(plant(m), { recursive: true, force: true });
  if (values.sim) say(`${pad('mutant', 28)} ${pad('sim', 10)} ${pad('failing seeds', 34)} first  time`);
  else say(`${pad('mutant', 28)} caught  ${pad('by', 36)} time`);
  for (const m of targets) {
    const id = m?.id ?? '(baseline)';
    const dir = plant(m);
    try {
      if (values.sim) {
        const sims = m ? m.sims : [...new Set(chosen.flatMap((x) => x.sims))];
        for (const sim of sims) {
          const o = await runSim(dir, sim, seeds, budgetMs);
          const caught = o.failing.length > 0;
          if (m ? !caught : caught || o.hungAt !== null) bad = true;
          rows.push({ mutant: id, ...o });
          const list = `${o.failing.length}/${o.seeds}: ${o.failing.slice(0, 8).join(',')}${o.failing.length > 8 ? ',…' : ''}${o.hungAt !== null ? ` hung at ${o.hungAt}` : ''}`;
          say(`${pad(id, 28)} ${pad(sim, 10)} ${pad(list, 34)} ${pad(String(o.failing[0] ?? '-'), 6)} ${o.seconds.toFixed(0)} s${o.firstError ? `  ${o.firstError.slice(0, 100)}` : ''}`);
        }
      } else {
        const tests = m ? m.tests : [...new Set(chosen.flatMap((x) => x.tests))];
        const o = await runTests(dir, tests, m ? budgetMs : budgetMs * tests.length);
        if (m ? !o.caught : o.caught) bad = true;
        rows.push({ mutant: id, ...o });
        say(`${pad(id, 28)} ${pad(m ? (o.caught ? 'yes' : 'NO') : o.caught ? 'FAILS' : 'passes', 7)} ${pad(o.by, 36)} ${o.seconds.toFixed(0)} s${o.detail ? `  ${o.detail.slice(0, 100)}` : ''}`);
      }
    } finally {
      if (!values.keep) rmSync(dir, { recursive: true, force: true });
      else say(`  (kept ${dir})`);
    }
  }
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  if (bad) process.exitCode = 1;
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exitCode = 2;
});
