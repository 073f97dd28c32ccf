// Randomized runs of a whole GovFS cluster on the simulator: concurrent clients doing namespace
// operations while nodes (ministers, clerks, the president) crash, restart and are partitioned.
// Checked on every step: never two members leading one ministry's group log in the same term,
// no client change applied twice. Checked at the end: the recorded client history is
// linearizable against a model of the namespace (so every acknowledged change survived).
//
//   npm run sim -- cluster --seeds 50        one line per seed, replay with --seed S --verbose

import { Cluster } from '../../src/cluster.js';
import type { MinistryInspection } from '../../src/actors/ministry.js';
import { SeededRandom } from '../../src/runtime/random.js';
import type { GovClient } from '../../src/fs/client.js';

export const describe = 'a 5-node cluster under crashes, restarts and partitions; history checked for linearizability';

export interface HistoryOp {
  client: string;
  input: { op: string; path?: string; from?: string; to?: string; parents?: boolean; recursive?: boolean };
  output: { ok: true; value?: unknown } | { ok: false; code: string };
  call: number;
  ret: number;
}

export interface ClusterRun {
  history: HistoryOp[];
  steps: number;
  faults: string[];
  traceHash: string;
}

const DIRS = ['/a', '/b', '/a/c'];
const FILES = ['/a/f1', '/a/f2', '/b/f3', '/f4', '/a/c/f5'];

function randomOp(r: SeededRandom): HistoryOp['input'] {
  const x = r.next();
  const pick = <T>(a: T[]): T => a[r.int(0, a.length - 1)]!;
  if (x < 0.15) return { op: 'mkdir', path: pick(DIRS), parents: r.next() < 0.3 };
  if (x < 0.35) return { op: 'create', path: pick(FILES) };
  if (x < 0.45) return { op: 'rm', path: pick(FILES) };
  if (x < 0.5) return { op: 'rmdir', path: pick(DIRS), recursive: r.next() < 0.3 };
  if (x < 0.58) return { op: 'rename', from: pick(FILES), to: pick(FILES) };
  if (x < 0.85) return { op: 'ls', path: pick(['/', ...DIRS]) };
  return { op: 'stat', path: pick([...DIRS, ...FILES]) };
}

async function perform(c: GovClient, input: HistoryOp['input'], linearizable: boolean): Promise<HistoryOp['output']> {
  try {
    switch (input.op) {
      case 'mkdir':
        await c.mkdir(input.path!, { parents: input.parents });
        return { ok: true };
      case 'create':
        await c.create(input.path!);
        return { ok: true };
      case 'rm':
        await c.rm(input.path!);
        return { ok: true };
      case 'rmdir':
        await c.rmdir(input.path!, { recursive: input.recursive });
        return { ok: true };
      case 'rename':
        await c.rename(input.from!, input.to!);
        return { ok: true };
      case 'ls':
        return { ok: true, value: (await c.ls(input.path!, { linearizable })).map((e) => e.name).sort() };
      default:
        return { ok: true, value: (await c.stat(input.path!, { linearizable })).kind };
    }
  } catch (e) {
    return { ok: false, code: (e as { code?: string }).code ?? 'EIO' };
  }
}

/** Outcomes that say nothing about whether a change happened. */
const UNKNOWN = new Set(['ETIMEDOUT', 'EUNAVAILABLE', 'EAGAIN', 'EIO']);

export async function runCluster(seed: number, opts: { clients?: number; opsPerClient?: number; faults?: boolean; verbose?: boolean } = {}): Promise<ClusterRun> {
  const r = new SeededRandom(seed, 77);
  const cluster = await Cluster.start({ nodes: 5, scheduler: 'sim', seed, network: { minLatencyMs: 0.2, maxLatencyMs: 2 } });
  const sim = cluster.sim!;
  const faults: string[] = [];
  // Invariants on every step.
  sim.checks.push(() => {
    const leaders = new Map<string, string>();
    for (const name of cluster.nodeIds) {
      const host = sim.host(name);
      if (!host.up) continue;
      const cell = host.runtime.cells.get(`/${name}/role`);
      const b = cell?.behaviour as { inspect?: () => MinistryInspection | null } | undefined;
      const info = b?.inspect?.();
      if (!info) continue;
      if (info.duplicateApplies > 0) throw new Error(`seed ${seed}: ${name} applied a client change twice`);
      if (!info.leading) continue;
      const key = `${info.ministry}@${info.term}`;
      const other = leaders.get(key);
      if (other) throw new Error(`seed ${seed}: two ministers in ministry ${info.ministry} term ${info.term}: ${other} and ${name}`);
      leaders.set(key, name);
    }
  });
  const history: HistoryOp[] = [];
  const nClients = opts.clients ?? 3;
  const perClient = opts.opsPerClient ?? 40;
  let running = nClients;
  const workers = Array.from({ length: nClients }, (_, i) => {
    const c = cluster.client({ clientId: `w${i}`, requestTimeoutMs: 300, deadlineMs: 4_000 });
    return (async () => {
      for (let k = 0; k < perClient; k++) {
        const input = randomOp(r);
        const call = cluster.now();
        const linearizable = r.next() < 0.6;
        const output = await perform(c, input, linearizable);
        const ret = cluster.now();
        const mutation = input.op !== 'ls' && input.op !== 'stat';
        // Default reads promise read-your-writes, not linearizability: only linearizable reads
        // go into the history that is checked against the model.
        if (!mutation && !linearizable) {
          // exercised, not checked here
        } else if (!output.ok && UNKNOWN.has(output.code)) {
          // A change with an unknown outcome may have happened at any time after its call;
          // a failed read tells nothing.
          if (mutation) history.push({ client: c.clientId, input, output, call, ret: Infinity });
        } else {
          history.push({ client: c.clientId, input, output, call, ret });
        }
        await cluster.runFor(r.int(0, 60));
      }
      running--;
    })();
  });
  // Faults while the clients run: at most two nodes down at a time.
  const faultLoop = (async () => {
    if (opts.faults === false) return;
    const down = new Set<string>();
    while (running > 0) {
      await cluster.runFor(r.int(100, 400));
      const x = r.next();
      const ids = cluster.nodeIds;
      if (x < 0.3 && down.size < 2) {
        const id = ids[r.int(0, ids.length - 1)]!;
        if (!down.has(id)) {
          down.add(id);
          faults.push(`${cluster.now().toFixed(0)} kill ${id}`);
          await cluster.kill(id);
        }
      } else if (x < 0.6 && down.size > 0) {
        const id = [...down][r.int(0, down.size - 1)]!;
        down.delete(id);
        faults.push(`${cluster.now().toFixed(0)} restart ${id}`);
        await cluster.restart(id);
      } else if (x < 0.8) {
        const shuffled = [...ids].sort(() => r.next() - 0.5);
        const cut = r.int(1, 2);
        faults.push(`${cluster.now().toFixed(0)} partition ${shuffled.slice(0, cut).join(',')}`);
        cluster.partition(shuffled.slice(0, cut), shuffled.slice(cut));
      } else {
        faults.push(`${cluster.now().toFixed(0)} heal`);
        cluster.heal();
      }
    }
    cluster.heal();
    for (const id of down) await cluster.restart(id);
  })();
  await Promise.all([...workers, faultLoop]);
  // Settle, then read everything back linearizably: every acknowledged change must show.
  const reader = cluster.client({ clientId: 'final', requestTimeoutMs: 500, deadlineMs: 30_000 });
  for (const path of ['/', ...DIRS]) {
    const call = cluster.now();
    const output = await perform(reader, { op: 'ls', path }, true);
    if (!output.ok && UNKNOWN.has(output.code)) throw new Error(`seed ${seed}: the cluster did not recover (ls ${path}: ${output.code}); faults: ${faults.join('; ')}`);
    history.push({ client: 'final', input: { op: 'ls', path }, output, call, ret: cluster.now() });
  }
  const run = { history, steps: sim.steps, faults, traceHash: sim.traceHash };
  await cluster.stop();
  return run;
}

export async function runSeed(seed: number, opts: { verbose: boolean }): Promise<{ ok: boolean; error?: string; detail?: string }> {
  try {
    const run = await runCluster(seed, { verbose: opts.verbose });
    const { checkHistory } = await import('./cluster-check.js');
    const verdict = checkHistory(run.history);
    if (opts.verbose) console.log(run.faults.join('\n'));
    if (verdict.ok !== true) return { ok: false, error: `history not linearizable: ${verdict.reason}` };
    return { ok: true, detail: `${run.history.length} ops, ${run.faults.length} faults, ${run.steps} steps` };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
