// Read balancing (thesis 3.4, issue 16) on the simulator: 9 nodes with a modeled CPU (every
// client request costs the node it reaches SERVICE_MS, served one at a time, so a node
// saturates), a root ministry of a minister and three clerks and a static ministry "/hot" of a
// minister and two clerks, under a skewed, read-heavy workload: most reads go to "/hot", a few
// to the rest, while writers change both, and nodes crash, restart and are cut off.
//
// Checked on every step (as in cluster.sim.ts): never two ministers in one ministry and term,
// no client change applied twice, no ministry applying a change outside the paths it owns (so
// no two ministries serve one path). Checked at the end: the history of the writers and the
// linearizable readers is linearizable per ministry; the balancer grew "/hot" (an order with
// cause readLoadHigh for it) and shrank the root (readLoadLow); no balancing order left a
// ministry with fewer than a minister and two clerks.
//
//   npm run sim -- balance --seeds 20        one line per seed, replay with --seed S --verbose

import type { ClusterOrder } from '../../src/actors/cluster-state.js';
import type { GovClient } from '../../src/client/gov-client.js';
import { SeedTree } from '../../src/runtime/random.js';
import { killRestartCutOff } from './fault-loop.js';
import { recordOp, startLoadedCluster, violationList, watchMinisters } from './cluster-watch.js';
import type { HistoryOp } from './cluster.sim.js';
import { watchOwnership } from './ownership-invariant.js';
import { judgeWriteBalance, runWriteBalance } from './write-balance.js';

export const describe = 'read balancing: a hot ministry grows, a cold one shrinks (never below a minister and two clerks); then write balancing: a saturated minister has a hot subtree split off, cold ones are merged back (live migration); under crashes and partitions; per-step invariants and linearizability';

/** Closed-loop readers of /hot: more than its clerks can serve. */
const HOT_READERS = 16;

interface Decision {
  cause: string;
  ministry: string;
  order: ClusterOrder;
}

export interface BalanceRun {
  decisions: Decision[];
  history: HistoryOp[];
  violations: string[];
  faults: string[];
  reads: number;
  steps: number;
  traceHash: string;
  hot: string;
  cold: string;
  /** The president's plan at the end (`govfs balance plan`). */
  plan: string[];
}

export async function runBalance(seed: number, opts: { faults?: boolean; ms?: number } = {}): Promise<BalanceRun> {
  const r = new SeedTree(seed).stream('balance-sim:workload');
  const decisions: Decision[] = [];
  const cluster = await startLoadedCluster(
    seed,
    {
      nodes: 9,
      rootClerks: 3,
      ministries: [{ subtree: '/hot', clerks: 2 }],
      // (The read half: its ownership check knows only the static ministries. Splits and merges
      // are the write half's, write-balance.ts.)
      writeBalance: false,
      maxSteps: 5_000_000,
    },
    (o) => {
      if (o.order && o.cause) decisions.push({ cause: o.cause, ministry: o.ministry ?? '', order: o.order });
    },
  );
  const sim = cluster.sim!;
  const { violations, violate } = violationList();
  sim.checks.push(watchMinisters(cluster, violate));
  sim.checks.push(watchOwnership(cluster, ['/hot'], violate).check);

  const history: HistoryOp[] = [];
  const runMs = opts.ms ?? 9_000;
  const end = cluster.now() + runMs;
  let reads = 0;
  const call = async (c: GovClient, input: HistoryOp['input'], linearizable: boolean, record: boolean): Promise<void> => {
    const t0 = cluster.now();
    let output: HistoryOp['output'];
    try {
      if (input.op === 'mkdir') output = (await c.mkdir(input.path!), { ok: true });
      else if (input.op === 'create') output = (await c.create(input.path!), { ok: true });
      else if (input.op === 'rm') output = (await c.rm(input.path!), { ok: true });
      else if (input.op === 'ls') output = { ok: true, value: (await c.ls(input.path!, { linearizable })).map((e) => e.name).sort() };
      else output = { ok: true, value: (await c.stat(input.path!, { linearizable })).kind };
    } catch (e) {
      output = { ok: false, code: (e as { code?: string }).code ?? 'EIO' };
    }
    if (input.op === 'ls' || input.op === 'stat') reads++;
    if (record) recordOp(history, { client: c.clientId, input, output, call: t0, ret: cluster.now() }, input.op !== 'ls' && input.op !== 'stat', linearizable);
  };
  const setup = cluster.client({ clientId: 'setup', requestTimeoutMs: 500, deadlineMs: 10_000 });
  for (const d of ['/hot/a', '/hot/b', '/cold']) await call(setup, { op: 'mkdir', path: d }, false, true);
  const files = ['/hot/a/f1', '/hot/b/f2', '/hot/f3', '/cold/f4', '/f5'];
  // Skewed: HOT_READERS readers of /hot (plain reads, not recorded: they are the load), one of the
  // rest; two writers and a linearizable reader whose operations are recorded and checked.
  const hotReader = async (i: number): Promise<void> => {
    const c = cluster.client({ clientId: `hot${i}`, requestTimeoutMs: 300, deadlineMs: 2_000 });
    while (cluster.now() < end) await call(c, { op: r.next() < 0.5 ? 'ls' : 'stat', path: ['/hot', '/hot/a', '/hot/b'][r.int(0, 2)]! }, false, false);
  };
  const coldReader = async (): Promise<void> => {
    const c = cluster.client({ clientId: 'cold', requestTimeoutMs: 300, deadlineMs: 2_000 });
    while (cluster.now() < end) {
      await call(c, { op: 'ls', path: r.next() < 0.5 ? '/' : '/cold' }, false, false);
      await cluster.runFor(r.int(50, 150));
    }
  };
  const writer = async (i: number): Promise<void> => {
    const c = cluster.client({ clientId: `w${i}`, requestTimeoutMs: 300, deadlineMs: 3_000 });
    while (cluster.now() < end) {
      const path = files[r.int(0, files.length - 1)]!;
      await call(c, { op: r.next() < 0.6 ? 'create' : 'rm', path }, false, true);
      await cluster.runFor(r.int(20, 200));
    }
  };
  const checker = async (): Promise<void> => {
    const c = cluster.client({ clientId: 'lin', requestTimeoutMs: 300, deadlineMs: 3_000 });
    while (cluster.now() < end) {
      await call(c, { op: 'ls', path: ['/', '/hot', '/hot/a', '/hot/b', '/cold'][r.int(0, 4)]! }, true, true);
      await cluster.runFor(r.int(20, 200));
    }
  };
  const faults: string[] = [];
  const faultLoop = async (): Promise<void> => {
    if (opts.faults === false) return;
    // Faults for the first half of the run (the last one over by 1.7 s later at most): after
    // that, at least 2.8 s without faults for the balancer to act in, if it has not yet.
    const faultsEnd = end - runMs / 2;
    await killRestartCutOff(cluster, r, faults, faultsEnd, [300, 900]);
  };
  await Promise.all([...Array.from({ length: HOT_READERS }, (_, i) => hotReader(i)), coldReader(), writer(0), writer(1), checker(), faultLoop()]);
  // Read everything back linearizably: every acknowledged change must show.
  const final = cluster.client({ clientId: 'final', requestTimeoutMs: 500, deadlineMs: 20_000 });
  for (const path of ['/', '/hot', '/hot/a', '/hot/b', '/cold']) {
    const t0 = cluster.now();
    try {
      const value = (await final.ls(path, { linearizable: true })).map((e) => e.name).sort();
      history.push({ client: 'final', input: { op: 'ls', path }, output: { ok: true, value }, call: t0, ret: cluster.now() });
    } catch (e) {
      throw new Error(`seed ${seed}: the cluster did not recover (ls ${path}: ${(e as { code?: string }).code}); faults: ${faults.join('; ')}`);
    }
  }
  const plan = await cluster.balancePlan().catch((e: Error) => [`(no plan: ${e.message})`]);
  const st = await cluster.status();
  const hot = st.ministries.find((m) => m.subtree === '/hot')?.id ?? '?';
  const cold = st.ministries.find((m) => m.subtree === '/')?.id ?? '?';
  const run = { decisions, history, violations, faults, reads, steps: sim.steps, traceHash: sim.traceHash, hot, cold, plan };
  await cluster.stop();
  return run;
}

/** `GOVFS_BALANCE_ONLY=reads` or `writes` runs one half only (both by default). */
const ONLY = process.env['GOVFS_BALANCE_ONLY'] ?? '';

export async function runSeed(seed: number, opts: { verbose: boolean }): Promise<{ ok: boolean; error?: string; detail?: string }> {
  if (ONLY === 'writes') return writeHalf(seed, opts, '');
  try {
    const run = await runBalance(seed);
    if (opts.verbose) console.log([...run.faults, ...run.decisions.map((d) => `${d.cause} ${d.ministry}: ${JSON.stringify(d.order)}`), 'plan at the end:', ...run.plan].join('\n'));
    const trace = `(trace ${run.traceHash})`;
    if (run.violations.length > 0) return { ok: false, error: `invariant violated: ${run.violations.join('; ')} ${trace}` };
    const { checkHistory } = await import('./cluster-check.js');
    const verdict = checkHistory(run.history, ['/', '/hot'], ['/', '/hot']);
    if (verdict.ok !== true) return { ok: false, error: `history not linearizable: ${verdict.reason} ${trace}` };
    const balancing = run.decisions.filter((d) => d.cause === 'readLoadHigh' || d.cause === 'readLoadLow' || d.cause === 'freedForHotMinistry');
    const tooSmall = balancing.find((d) => d.order.order === 'appoint' && d.order.clerks.length < 2);
    if (tooSmall) return { ok: false, error: `a balancing order left ${tooSmall.ministry} with ${JSON.stringify(tooSmall.order)} ${trace}` };
    const grew = balancing.filter((d) => d.cause === 'readLoadHigh' && d.ministry === run.hot).length;
    const shrank = balancing.filter((d) => (d.cause === 'readLoadLow' || d.cause === 'freedForHotMinistry') && d.ministry === run.cold).length;
    if (grew === 0) return { ok: false, error: `the hot ministry ${run.hot} never grew (${balancing.length} balancing orders) ${trace}` };
    if (shrank === 0) return { ok: false, error: `the cold ministry ${run.cold} never shrank (${balancing.length} balancing orders) ${trace}` };
    const grewAgain = balancing.filter((d) => d.cause === 'readLoadHigh' && d.ministry !== run.hot).length;
    const detail = `${run.history.length} checked ops, ${run.reads} reads; hot ${run.hot} grew ${grew}×, cold ${run.cold} shrank ${shrank}×, other grows ${grewAgain}; ${run.faults.length} faults; ${run.steps} steps ${trace}`;
    return ONLY === 'reads' ? { ok: true, detail } : await writeHalf(seed, opts, `${detail}; `);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Write balancing (write-balance.ts): splits and merges by live migration. */
async function writeHalf(seed: number, opts: { verbose: boolean }, before: string): Promise<{ ok: boolean; error?: string; detail?: string }> {
  try {
    const writes = await runWriteBalance(seed);
    if (opts.verbose) console.log([...writes.faults, ...writes.orders].join('\n'));
    const bad = await judgeWriteBalance(writes);
    if (bad !== null) return { ok: false, error: `write balancing: ${bad}` };
    const count = (split: boolean, phase: string): number => writes.migrations.filter((g) => g.split === split && g.phase === phase).length;
    return { ok: true, detail: `${before}writes: ${writes.history.length} checked ops, ${count(true, 'committed')} splits and ${count(false, 'committed')} merges committed, ${writes.migrations.filter((g) => g.phase === 'aborted').length} aborted, ${writes.faults.length} faults (trace ${writes.traceHash})` };
  } catch (e) {
    return { ok: false, error: `write balancing: ${(e as Error).message}` };
  }
}
