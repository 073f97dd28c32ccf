// Write balancing by live subtree migration (issue 16), the second half of
// `npm run sim -- balance`: 12 nodes with a modeled CPU, one root ministry, and writers
// hammering two directories of it (/w/a, /w/b) until its minister saturates: the balancer must
// split a hot directory off into a new ministry. Halfway the hot spot moves to /w/c and /w/d:
// the ministries split off go cold and are merged back (or others split). Nodes crash, restart
// and are cut off throughout the first two thirds, any role, mid-migration included.
//
// Checked on every step: never two ministers in one ministry and term; no client change applied
// twice by a replica; never two ministries that would take a change to the same path at the
// same moment (every settled minister is asked, for every path of the workload); no two valid
// leases of different clients conflict (lease holders open read and write leases on files in
// the hot directories throughout, so across every migration of them). At the end:
// the recorded history (writers and a linearizable reader, then a final read of everything) is
// linearizable per directory against the namespace model, whichever ministry served each
// operation, so no acknowledged change was lost and none applied twice; at least one split
// committed.

import type { GovClient } from '../../src/client/gov-client.js';
import { SeedTree } from '../../src/runtime/random.js';
import { killRestartCutOff } from './fault-loop.js';
import { recordOp, startLoadedCluster, violationList, watchMinisters } from './cluster-watch.js';
import { LeaseInvariant } from '../support/lease-invariant.js';
import type { HistoryOp } from './cluster.sim.js';

const WRITERS = 10;
/** Clients that hold leases on files of the hot directories (LEASE_FILES), each on its host. */
const LEASE_HOLDERS = 3;
const LEASE_FILES = ['/w/a/l0', '/w/b/l0', '/w/c/l0', '/w/d/l0'];
/** Directories of the workload: each its own part of the linearizability check. */
export const WRITE_DIRS = ['/w', '/w/a', '/w/b', '/w/c', '/w/d', '/r'];

export interface WriteBalanceRun {
  history: HistoryOp[];
  violations: string[];
  faults: string[];
  /** The migrations as the cluster shows them at the end (phase, kind, subtree). */
  migrations: { id: string; subtree: string; phase: string; split: boolean; reason: string }[];
  ministries: string[];
  /** The president's orders, in words. */
  orders: string[];
  steps: number;
  traceHash: string;
}

export async function runWriteBalance(seed: number, opts: { faults?: boolean; ms?: number } = {}): Promise<WriteBalanceRun> {
  const r = new SeedTree(seed).stream('balance-sim:writes');
  const orders: string[] = [];
  // The president's orders with their causes, in words.
  const cluster = await startLoadedCluster(seed, { nodes: 12, rootClerks: 2, leaseTtlMs: 1_000, migrationTimeoutMs: 8_000, maxSteps: 8_000_000 }, (o, line) => orders.push(o.msg ?? line));
  const sim = cluster.sim!;
  const { violations, violate } = violationList();
  sim.checks.push(watchMinisters(cluster, violate, [...WRITE_DIRS, ...WRITE_DIRS.map((d) => `${d}/f0`)]));

  const history: HistoryOp[] = [];
  const runMs = opts.ms ?? 14_000;
  const start = cluster.now();
  const end = start + runMs;
  const call = async (c: GovClient, input: HistoryOp['input'], linearizable: boolean): Promise<void> => {
    const t0 = cluster.now();
    let output: HistoryOp['output'];
    try {
      if (input.op === 'create') output = (await c.create(input.path!), { ok: true });
      else if (input.op === 'rm') output = (await c.rm(input.path!), { ok: true });
      else output = { ok: true, value: (await c.ls(input.path!, { linearizable })).map((e) => e.name).sort() };
    } catch (e) {
      output = { ok: false, code: (e as { code?: string }).code ?? 'EIO' };
    }
    recordOp(history, { client: c.clientId, input, output, call: t0, ret: cluster.now() }, input.op !== 'ls', linearizable);
  };
  // The directories, before anything is recorded (each is the root of its part of the check).
  const setup = cluster.client({ clientId: 'setup', requestTimeoutMs: 500, deadlineMs: 20_000 });
  for (const d of WRITE_DIRS) await setup.mkdir(d, { parents: true });
  // (Recorded: the directories' contents are checked against the model.)
  for (const f of LEASE_FILES) await call(setup, { op: 'create', path: f }, false);
  const leases = new LeaseInvariant(cluster);
  let granted = 0;
  const holder = async (i: number): Promise<void> => {
    const c = cluster.client({ host: `l${i}`, clientId: `l${i}`, requestTimeoutMs: 300, deadlineMs: 2_000 });
    leases.watch(c, `l${i}`);
    while (cluster.now() < end) {
      try {
        const h = await c.open(LEASE_FILES[r.int(0, LEASE_FILES.length - 1)]!, { mode: r.next() < 0.5 ? 'read' : 'write', deadlineMs: 1_500 });
        granted++;
        await cluster.runFor(r.int(50, 1_500));
        await h.release();
      } catch {
        // EBUSY, EAGAIN while fenced, ETIMEDOUT under faults: the invariant is what counts
      }
      await cluster.runFor(r.int(0, 200));
    }
  };
  const writer = async (i: number): Promise<void> => {
    const c = cluster.client({ clientId: `w${i}`, requestTimeoutMs: 300, deadlineMs: 3_000 });
    while (cluster.now() < end) {
      // The hot spot: /w/a and /w/b, then /w/c and /w/d; now and then the cold /r.
      const late = cluster.now() - start > runMs / 2;
      const dir = r.next() < 0.05 ? '/r' : late ? (r.next() < 0.5 ? '/w/c' : '/w/d') : r.next() < 0.5 ? '/w/a' : '/w/b';
      await call(c, { op: r.next() < 0.55 ? 'create' : 'rm', path: `${dir}/f${r.int(0, 3)}` }, false);
      await cluster.runFor(r.int(0, 10));
    }
  };
  const checker = async (): Promise<void> => {
    const c = cluster.client({ clientId: 'lin', requestTimeoutMs: 300, deadlineMs: 3_000 });
    while (cluster.now() < end) {
      await call(c, { op: 'ls', path: WRITE_DIRS[r.int(0, WRITE_DIRS.length - 1)]! }, true);
      await cluster.runFor(r.int(20, 150));
    }
  };
  const faults: string[] = [];
  const faultLoop = async (): Promise<void> => {
    if (opts.faults === false) return;
    const faultsEnd = start + (runMs * 2) / 3;
    await killRestartCutOff(cluster, r, faults, faultsEnd, [400, 1_200]);
  };
  await Promise.all([...Array.from({ length: WRITERS }, (_, i) => writer(i)), ...Array.from({ length: LEASE_HOLDERS }, (_, i) => holder(i)), checker(), faultLoop()]);
  for (const v of leases.violations) violate(`leases: ${v}`);
  if (granted === 0) violate('no lease was granted: the lease check saw nothing');
  // Everything read back linearizably: every acknowledged change must show.
  const final = cluster.client({ clientId: 'final', requestTimeoutMs: 500, deadlineMs: 30_000 });
  for (const path of WRITE_DIRS) {
    const t0 = cluster.now();
    try {
      const value = (await final.ls(path, { linearizable: true })).map((e) => e.name).sort();
      history.push({ client: 'final', input: { op: 'ls', path }, output: { ok: true, value }, call: t0, ret: cluster.now() });
    } catch (e) {
      const st = await cluster.status().catch(() => null);
      throw new Error(`seed ${seed} (writes): the cluster did not recover (ls ${path}: ${(e as Error).message}); faults: ${faults.join('; ')}; orders: ${orders.join(' | ')}; migrations ${JSON.stringify(st?.migrations)}; ministries ${JSON.stringify(st?.ministries.map((m) => [m.id, m.subtree, m.minister, m.clerks]))}`);
    }
  }
  const st = await cluster.status();
  const run: WriteBalanceRun = {
    history,
    violations,
    faults,
    migrations: st.migrations.map((g) => ({ id: g.id, subtree: g.subtree, phase: g.phase, split: g.split, reason: g.reason })),
    ministries: st.ministries.map((m) => `${m.id} ${m.subtree}`),
    orders,
    steps: sim.steps,
    traceHash: sim.traceHash,
  };
  await cluster.stop();
  return run;
}

/** The verdict on a run: null if it passed, else why not. */
export async function judgeWriteBalance(run: WriteBalanceRun): Promise<string | null> {
  const trace = `(trace ${run.traceHash})`;
  if (run.violations.length > 0) return `invariant violated: ${run.violations.join('; ')} ${trace}`;
  const { checkHistory } = await import('./cluster-check.js');
  const dirs = ['/', ...WRITE_DIRS];
  const verdict = checkHistory(run.history, dirs, dirs);
  if (verdict.ok !== true) return `history not linearizable: ${verdict.reason} ${trace}`;
  if (!run.migrations.some((g) => g.split && g.phase === 'committed')) return `no split committed (migrations: ${JSON.stringify(run.migrations)}; ministries ${run.ministries.join(', ')}) ${trace}`;
  return null;
}
