// `npm run sim -- NAME [--seeds N] [--from S] [--seed S] [--verbose] [--each]`: randomized
// fault schedules of test/sim/NAME.sim.ts over many seeds; prints pass/fail per seed (over 50
// seeds only failures, unless --each), and for each failure the command that replays it.
// A simulation module exports:
//   describe: string
//   runSeed(seed: number, opts: { verbose: boolean }): Promise<{ ok: boolean; error?: string; detail?: string }>

import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface SimModule {
  describe: string;
  runSeed(seed: number, opts: { verbose: boolean }): Promise<{ ok: boolean; error?: string; detail?: string }>;
}

const here = new URL('.', import.meta.url);
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { seeds: { type: 'string' }, from: { type: 'string' }, seed: { type: 'string' }, verbose: { type: 'boolean' }, each: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  const names = readdirSync(here).filter((f) => f.endsWith(`.sim${ext}`)).map((f) => f.slice(0, -`.sim${ext}`.length));
  const name = positionals[0];
  if (!name || values.help || !names.includes(name)) {
    console.error(`usage: npm run sim -- NAME [--seeds N] [--from S] [--seed S] [--verbose]\n\nsimulations: ${names.join(', ') || '(none)'}`);
    process.exitCode = name && !values.help ? 2 : 0;
    return;
  }
  const sim = (await import(new URL(`./${name}.sim${ext}`, here).href)) as SimModule;
  const seeds = values.seed !== undefined ? [Number(values.seed)] : Array.from({ length: Number(values.seeds ?? 200) }, (_, i) => Number(values.from ?? 1) + i);
  let failed = 0;
  const t0 = Date.now();
  for (const seed of seeds) {
    const w0 = Date.now();
    const c0 = process.cpuUsage();
    const r = await sim.runSeed(seed, { verbose: values.verbose ?? false });
    // Wall and CPU time of the seed (on a shared machine the CPU time is the one to compare).
    const cpu = process.cpuUsage(c0);
    const took = `[${((Date.now() - w0) / 1000).toFixed(1)} s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s]`;
    if (r.ok) {
      if (values.verbose || values.each || seeds.length <= 50) console.log(`seed ${seed}: pass${r.detail ? ` (${r.detail})` : ''} ${took}`);
    } else {
      failed++;
      console.log(`seed ${seed}: FAIL ${r.error ?? ''} ${took}\n  replay: npm run sim -- ${name} --seed ${seed} --verbose`);
    }
  }
  console.log(`${name}: ${seeds.length - failed} passed, ${failed} failed (${seeds.length} seeds, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  if (failed > 0) process.exitCode = 1;
}

await main();
