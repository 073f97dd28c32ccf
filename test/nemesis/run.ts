// `npm run nemesis -- [--nodes 5] [--ministries 2] [--duration 120] [--faults kill,pause,...]
// [--seed S] [--clients 4] [--lease-clients 2] [--net auto|loopback|netns] [--out nemesis-out]`: one nemesis run
// over real `govfs node` processes (see nemesis.ts). Prints the summary table, writes the
// report under --out/seed-S/, and exits 1 if any anomaly was found.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAULT_KINDS, type FaultKind } from './faults.js';
import { checkFinalState, checkPerDirectory } from './check.js';
import { DEFAULTS, type RunResult, runNemesis } from './nemesis.js';
import { summary, writeReport } from './report.js';

const USAGE = `npm run nemesis -- [--nodes 5] [--ministries 2] [--duration 120] [--faults ${FAULT_KINDS.join(',')}]
                   [--seed S] [--clients 4] [--lease-clients 2] [--net auto|loopback|netns] [--out nemesis-out]
       npm run nemesis -- --check nemesis-out/seed-S/history.json   (check a saved history again)`;

/** Check a saved run's history again (after a change to the checker). */
function recheck(file: string): number {
  const saved = JSON.parse(readFileSync(file, 'utf8'), (_k, v: unknown) => (v === 'Infinity' ? Infinity : v)) as RunResult;
  const lin = checkPerDirectory(saved.history, saved.subtrees, 600_000);
  const finals = new Map<string, Set<string>>();
  for (const op of saved.history) {
    if (op.client === 'final' && op.outcome === 'ok' && op.input.op === 'ls') finals.set(op.input.path, new Set((op.output as { value: Array<{ name: string }> }).value.map((e) => e.name)));
  }
  const anomalies = [...lin.failures, ...checkFinalState(saved.history, finals)];
  console.log(`${file}: ${lin.checked} operations in ${lin.parts} directories; ${anomalies.length} anomalies`);
  for (const a of anomalies) console.log(`  ${a.kind}: ${a.detail}`);
  return anomalies.length === 0 ? 0 : 1;
}

function int(v: string | undefined, name: string, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}, got "${v}"\n${USAGE}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      nodes: { type: 'string' }, ministries: { type: 'string' }, duration: { type: 'string' }, faults: { type: 'string' },
      seed: { type: 'string' }, clients: { type: 'string' }, 'lease-clients': { type: 'string' }, net: { type: 'string' }, out: { type: 'string' }, check: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.check !== undefined) return recheck(values.check);
  const faults = (values.faults ?? FAULT_KINDS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  const bad = faults.filter((f) => !(FAULT_KINDS as readonly string[]).includes(f));
  if (bad.length) throw new Error(`unknown fault kind ${bad.join(', ')} (known: ${FAULT_KINDS.join(', ')})`);
  const net = values.net ?? 'auto';
  if (net !== 'auto' && net !== 'loopback' && net !== 'netns') throw new Error(`--net must be auto, loopback or netns, got "${net}"`);
  const seed = int(values.seed, 'seed', Math.floor(Math.random() * 1e9), 0);
  const r = await runNemesis({
    ...DEFAULTS,
    nodes: int(values.nodes, 'nodes', DEFAULTS.nodes, 3),
    ministries: int(values.ministries, 'ministries', DEFAULTS.ministries, 1),
    durationS: int(values.duration, 'duration', DEFAULTS.durationS, 1),
    clients: int(values.clients, 'clients', DEFAULTS.clients, 1),
    leaseClients: int(values['lease-clients'], 'lease-clients', DEFAULTS.leaseClients, 0),
    faults: faults as FaultKind[],
    seed,
    net,
    log: (l) => console.error(l),
  });
  console.log(summary(r));
  const out = writeReport(r, join(values.out ?? 'nemesis-out', `seed-${seed}`));
  console.log(`\nreport: ${out}/timeline.html, ${out}/history.json; replay: npm run nemesis -- --nodes ${r.options.nodes} --ministries ${r.options.ministries} --duration ${r.options.durationS} --faults ${faults.join(',')} --seed ${seed}`);
  return r.anomalies.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`nemesis: ${(e as Error).message}`);
    process.exit(1);
  },
);
