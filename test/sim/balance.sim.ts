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
// ministry with fewer than a minister and two clerks. A third of the seeds put the root clerk
// that goes idle first on a one-core machine with a busy clerk of /hot (decoyMachines):
// checked, /hot never grows onto it while that machine stays busy (the spare-core rule).
//
//   npm run sim -- balance --seeds 20        one line per seed, replay with --seed S --verbose

import type { ClusterOrder } from '../../src/actors/cluster-state.js';
import type { GovClient } from '../../src/client/gov-client.js';
import { SeedTree } from '../../src/runtime/random.js';
import type { SimMachine } from '../../src/runtime/sim.js';
import { machineBusy } from '../../src/runtime/sim-cpu.js';
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
  newClerk?: string;
  /** Simulated time of the order, and the president that gave it. */
  at: number;
  by: string;
}

/** A third of the seeds put the clerk the cold root frees first (its last: balancer.ts) on a
 * one-core machine with a clerk of /hot, which its readers keep busy. Once freed, that node is
 * the first idle one (n1 … n9 order), so the spare-core rule (BalanceOptions.spareCores) must
 * pass it over and /hot grow with the idle node on a machine of its own instead; every other
 * node has a one-core machine of its own. The roles come from a first start of the same seed
 * (its election and appointments do not depend on machines). */
async function decoyMachines(seed: number): Promise<SimMachine[] | null> {
  if (new SeedTree(seed).stream('balance-sim:decoy').next() >= 1 / 3) return null;
  const probe = await startLoadedCluster(seed, { ...READ_CLUSTER, machines: [] }, () => {});
  const st = await probe.status();
  await probe.stop();
  const rootClerk = st.ministries.find((m) => m.subtree === '/')?.clerks.at(-1);
  const hotClerk = st.ministries.find((m) => m.subtree === '/hot')?.clerks[0];
  const shared = rootClerk !== undefined && hotClerk !== undefined ? [{ cores: 1, hosts: [rootClerk, hotClerk] }] : [];
  const placed = new Set(shared.flatMap((m) => m.hosts));
  return [...shared, ...Array.from({ length: READ_CLUSTER.nodes }, (_, i) => `n${i + 1}`).filter((n) => !placed.has(n)).map((n) => ({ cores: 1, hosts: [n] }))];
}

/** Samples of each shared machine's busy time, every SAMPLE_MS of simulated time. */
const SAMPLE_MS = 100;
/** With no fault of the new clerk, its machine or the president in the FAULT_FREE_MS before a
 * grow, the president's last report of the new clerk came with a probe of the last 200 ms
 * (loadEveryMs) and tells its machine's CPU over the 200 ms before that: inside the
 * REPORT_WINDOW_MS before the grow. If the machine was busier
 * than BUSY_FRACTION over every 200 ms there, that report showed less than half a core idle
 * (spareCores), and the grow broke the rule. (Over 200 ms windows at any offset: their mean is
 * lowest at offsets on the sample grid, so pairs of samples suffice.) */
const FAULT_FREE_MS = 1_500;
const REPORT_WINDOW_MS = 600;
const BUSY_FRACTION = 0.55;

/** Grows onto a node of a busy machine (ground truth from the sampled busy times). */
function busyGrows(decisions: readonly Decision[], machines: readonly SimMachine[], samples: ReadonlyMap<SimMachine, { at: number; activeMs: number }[]>, faults: readonly string[]): string[] {
  const out: string[] = [];
  // Each fault as the node it struck and the time it lasted: a kill until the restart, a cut-off
  // until the heal (fault-loop.ts).
  const struck: { id: string; from: number; to: number }[] = [];
  for (const f of faults) {
    const [t, what, id] = f.split(' ') as [string, string, string | undefined];
    if ((what === 'kill' || what === 'partition') && id) struck.push({ id, from: Number(t), to: Infinity });
    else if (what === 'restart' || what === 'heal') {
      const open = struck.findLast((x) => x.to === Infinity && (what === 'heal' || x.id === id));
      if (open) open.to = Number(t);
    }
  }
  for (const d of decisions) {
    if (d.cause !== 'readLoadHigh' || d.newClerk === undefined) continue;
    const m = machines.find((x) => x.hosts.includes(d.newClerk!));
    const s = m && samples.get(m);
    const involved = new Set([...(m?.hosts ?? []), d.by]);
    if (!m || !s || struck.some((x) => involved.has(x.id) && x.from <= d.at && x.to > d.at - FAULT_FREE_MS)) continue;
    // (The samples include one taken as the grow was ordered.)
    const window = s.filter((x) => x.at >= d.at - REPORT_WINDOW_MS - SAMPLE_MS && x.at <= d.at);
    if (window.length < REPORT_WINDOW_MS / SAMPLE_MS + 1 || window[0]!.at > d.at - REPORT_WINDOW_MS || window.at(-1)!.at !== d.at) continue;
    let busy = true;
    for (let i = 2; i < window.length && busy; i++) busy = (window[i]!.activeMs - window[i - 2]!.activeMs) / ((window[i]!.at - window[i - 2]!.at) * m.cores) > BUSY_FRACTION;
    if (busy) out.push(`${d.ministry} grew onto ${d.newClerk} at ${d.at.toFixed(0)} ms, whose machine (${m.hosts.join(', ')}, ${m.cores} core) had less than ${((1 - BUSY_FRACTION) * m.cores).toFixed(2)} of its cores idle over every 200 ms of the ${REPORT_WINDOW_MS} ms before`);
  }
  return out;
}

const READ_CLUSTER = { nodes: 9, rootClerks: 3, ministries: [{ subtree: '/hot', clerks: 2 }] };

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
  /** Decoy seeds: the shared machines, and how often the president's plan left an idle node
   * out for its busy machine. */
  decoy: { machines: string[]; refusals: number } | null;
}

/** `spareCores` overrides the rule's threshold (0: the rule off, for the test that its check
 * can fail). */
export async function runBalance(seed: number, opts: { faults?: boolean; ms?: number; spareCores?: number } = {}): Promise<BalanceRun> {
  const r = new SeedTree(seed).stream('balance-sim:workload');
  const decisions: Decision[] = [];
  const machines = await decoyMachines(seed);
  // Decoy seeds: the shared machines' busy time, sampled (and at each grow, as it is ordered).
  const shared = (machines ?? []).filter((m) => m.hosts.length > 1);
  const samples = new Map(shared.map((m) => [m, [] as { at: number; activeMs: number }[]]));
  let now = (): number => 0;
  let sample = (_m: SimMachine): void => {};
  const cluster = await startLoadedCluster(
    seed,
    {
      ...READ_CLUSTER,
      // (The read half: its ownership check knows only the static ministries. Splits and merges
      // are the write half's, write-balance.ts.)
      writeBalance: false,
      maxSteps: 5_000_000,
      ...(machines && { machines }),
      ...(opts.spareCores !== undefined && { balance: { settleMs: 600, spareCores: opts.spareCores } }),
    },
    (o) => {
      if (o.order && o.cause) decisions.push({ cause: o.cause, ministry: o.ministry ?? '', order: o.order, at: now(), by: o.node ?? '', ...(o.newClerk !== undefined && { newClerk: o.newClerk }) });
      const m = o.newClerk !== undefined ? shared.find((x) => x.hosts.includes(o.newClerk!)) : undefined;
      if (m) sample(m);
    },
  );
  const sim = cluster.sim!;
  now = () => cluster.now();
  sample = (m) => samples.get(m)!.push({ at: cluster.now(), activeMs: machineBusy(m, (h) => sim.host(h), cluster.now()).activeMs });
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
  // Decoy seeds: the shared machines' busy time, and the president's plan, sampled.
  let refusals = 0;
  const sampler = async (): Promise<void> => {
    for (let k = 0; shared.length > 0 && cluster.now() < end; k++) {
      for (const m of shared) sample(m);
      // Not awaited: a plan asked of a president that is down must not hold up the samples.
      if (k % 5 === 0) {
        void cluster.balancePlan().then(
          (plan) => {
            if (plan.some((line) => line.includes('not drawn on for balancing'))) refusals++;
          },
          () => {},
        );
      }
      await cluster.runFor(SAMPLE_MS);
    }
  };
  await Promise.all([...Array.from({ length: HOT_READERS }, (_, i) => hotReader(i)), coldReader(), writer(0), writer(1), checker(), faultLoop(), sampler()]);
  for (const v of busyGrows(decisions, shared, samples, faults)) violations.push(v);
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
  const decoy = machines && { machines: shared.map((m) => m.hosts.join('+')), refusals };
  const run = { decisions, history, violations, faults, reads, steps: sim.steps, traceHash: sim.traceHash, hot, cold, plan, decoy };
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
    const decoy = run.decoy ? `; decoy machines ${run.decoy.machines.join(' ')}, idle refused in ${run.decoy.refusals} plans` : '';
    const detail = `${run.history.length} checked ops, ${run.reads} reads; hot ${run.hot} grew ${grew}×, cold ${run.cold} shrank ${shrank}×, other grows ${grewAgain}${decoy}; ${run.faults.length} faults; ${run.steps} steps ${trace}`;
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
