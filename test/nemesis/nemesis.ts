// One nemesis run (issue 21): start `govfs node` processes, run clients that record a history,
// inject faults drawn from the seed, heal everything, wait for recovery, check the history and
// the processes, and clean up (also on errors and Ctrl-C). run.ts is its command line; the
// report (report.ts) is written from the RunResult.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RemoteGovClient } from '../../src/index.js';
import { smallTmpfs } from '../support/tmpfs.js';
import { type Anomaly, checkFinalState, checkPerDirectory, percentile } from './check.js';
import { FAULT_KINDS, type FaultContext, type FaultEvent, type FaultKind, faketimeEnv, faultLoop, libfaketime, waitServing } from './faults.js';
import { History, type HistoryOp, Rng, startWorkload } from './history.js';
import { checkLeases, type LeaseHold, startLeaseWorkload } from './leases.js';
import { loopbackNetwork, type Network, netnsNetwork, netnsSkip } from './network.js';
import { type ExitRecord, Fleet, nodeIds, watcher, within } from './processes.js';

export interface NemesisOptions {
  nodes: number;
  /** Ministries, the root one included. */
  ministries: number;
  durationS: number;
  faults: FaultKind[];
  seed: number;
  clients: number;
  /** Clients taking write leases on one file per ministry (0: none). */
  leaseClients: number;
  /** 'auto': network namespaces where root has them and a network fault is asked for. */
  net: 'auto' | 'loopback' | 'netns';
  /** Bound on recovery after each heal, and after the last one (ms). */
  recoveryBoundMs: number;
  /** Bound on the linearizability search, all directories together (ms). */
  checkTimeoutMs?: number;
  log: (line: string) => void;
}

export const DEFAULTS: Omit<NemesisOptions, 'log'> = { nodes: 5, ministries: 2, durationS: 120, faults: [...FAULT_KINDS], seed: 1, clients: 4, leaseClients: 2, net: 'auto', recoveryBoundMs: 30_000 };

export interface RunResult {
  options: Omit<NemesisOptions, 'log'>;
  network: 'loopback' | 'netns';
  subtrees: string[];
  dirs: string[];
  /** Fault kinds asked for that could not run here, with why. */
  skipped: Partial<Record<FaultKind, string>>;
  /** Ministries asked for that the node count cannot staff. */
  notes: string[];
  history: HistoryOp[];
  leases: { holds: LeaseHold[]; opens: { ok: number; failed: number } };
  faults: FaultEvent[];
  exits: ExitRecord[];
  anomalies: Anomaly[];
  startupMs: number;
  finalRecoveryMs: number | null;
  recovery: { p50: number | null; p99: number | null; max: number | null };
  linearizability: { parts: number; checked: number };
  /** Every pid started (none may be left running). */
  pids: number[];
  durationMs: number;
}

/** Static ministries /m1.. for `count - 1` extra ministries, with what the nodes can staff:
 * nodes must be at least 4 (president, root minister, two root clerks) + Σ(1 + clerks). */
export function planMinistries(nodes: number, count: number): { ministries: { subtree: string; clerks: number }[]; note?: string } {
  const extra = Math.max(0, count - 1);
  const fit = Math.max(0, Math.min(extra, nodes - 4));
  const ministries = Array.from({ length: fit }, (_, i) => ({ subtree: `/m${i + 1}`, clerks: 0 }));
  let spare = nodes - 4 - fit;
  for (const m of ministries) {
    const c = Math.min(2, spare);
    m.clerks = c;
    spare -= c;
  }
  const note = fit < extra ? `${count} ministries asked for, ${fit + 1} run: ${nodes} nodes staff the president, / (a minister and 2 clerks) and ${fit} more (each at least a minister)` : undefined;
  return note ? { ministries, note } : { ministries };
}

const CRASH_RE = /Uncaught|Unhandled|FATAL|"level":60|Segmentation fault|Aborted|heap out of memory/;

export async function runNemesis(opts: NemesisOptions): Promise<RunResult> {
  const { log, ...options } = opts;
  const history = new History();
  const now = (): number => history.now();
  const rng = new Rng(opts.seed);
  const ids = nodeIds(opts.nodes);
  const skipped: Partial<Record<FaultKind, string>> = {};
  const notes: string[] = [];
  const plan = planMinistries(opts.nodes, opts.ministries);
  if (plan.note) notes.push(plan.note);
  const subtrees = ['/', ...plan.ministries.map((m) => m.subtree)];
  const dirs = subtrees.flatMap((s) => [0, 1, 2].map((i) => (s === '/' ? `/d${i}` : `${s}/d${i}`)));
  const lockFiles = subtrees.map((s) => (s === '/' ? '/lk/f' : `${s}/lk/f`));

  const cleanups: Array<() => void> = [];
  const dir = mkdtempSync(join(tmpdir(), 'govfs-nemesis-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

  // The network.
  const wantsNet = opts.faults.includes('partition') || opts.faults.includes('netem');
  const nsWhy = opts.net === 'loopback' || (opts.net === 'auto' && !wantsNet) ? 'loopback network chosen' : netnsSkip();
  if (opts.net === 'netns' && nsWhy) throw new Error(`nemesis: --net netns: ${nsWhy}`);
  let network: Network;
  if (nsWhy === null) {
    network = netnsNetwork(ids);
  } else {
    network = await loopbackNetwork(ids);
  }
  cleanups.push(() => network.teardown());
  if (opts.faults.includes('partition') && network.partitionSkip) skipped.partition = nsWhy && nsWhy !== 'loopback network chosen' ? `${nsWhy}; ${network.partitionSkip}` : network.partitionSkip;
  if (opts.faults.includes('netem') && network.netemSkip) skipped.netem = network.netemSkip;

  // Disk and clock: every node gets a small tmpfs of its own as its data folder, and runs under
  // libfaketime with an offset file of its own, so either fault can hit a node of any role.
  const ctxExtra: Pick<FaultContext, 'diskDirs' | 'clocks'> = {};
  const dataDirs: Record<string, string> = {};
  if (opts.faults.includes('disk')) {
    for (const id of ids) {
      const t = smallTmpfs(`govfs-nemesis-${id}-`, 32);
      if (typeof t === 'string') {
        skipped.disk = t;
        break;
      }
      cleanups.push(() => {
        try {
          t.unmount();
        } catch {
          // a node killed a moment ago may still hold it: detach it now, it goes when freed
          execFileSync('umount', ['-l', t.dir], { stdio: 'ignore' });
          rmSync(t.dir, { recursive: true, force: true });
        }
      });
      dataDirs[id] = t.dir;
    }
    if (!skipped.disk) ctxExtra.diskDirs = dataDirs;
  }
  const startEnv: Record<string, Record<string, string>> = {};
  if (opts.faults.includes('clock')) {
    const lib = libfaketime();
    if (!lib) skipped.clock = 'libfaketime not found (Debian package faketime: apt-get install faketime)';
    else {
      ctxExtra.clocks = {};
      for (const id of ids) {
        const file = join(dir, `faketime-${id}`);
        startEnv[id] = faketimeEnv(lib, file);
        ctxExtra.clocks[id] = { file, offsetS: 0 };
      }
    }
  }

  const fleet = new Fleet({ nodes: opts.nodes, ministries: plan.ministries, dir, network, dataDirs, env: startEnv, now, log });
  let cleaned = false;
  const cleanupSync = (): void => {
    if (cleaned) return;
    cleaned = true;
    fleet.stopAllSync();
    for (const c of cleanups.splice(0).reverse()) {
      try {
        c();
      } catch {
        // best effort: the rest must still run
      }
    }
  };
  // No process outlives the run: on exit (whatever the reason) and on Ctrl-C / SIGTERM.
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`nemesis: ${sig}: stopping every node`);
    cleanupSync();
    process.exit(130);
  };
  process.on('exit', cleanupSync);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const t0 = Date.now();
  const clients: RemoteGovClient[] = [];
  try {
    Fleet.prebuild();
    fleet.startAll();
    log(`nemesis: ${opts.nodes} govfs node processes (${network.kind}; pids ${ids.map((id) => fleet.proc(id).pid).join(' ')}); ministries ${subtrees.join(' ')}; seed ${opts.seed}`);
    const watch = await watcher(fleet.servers);
    clients.push(watch);
    const startupMs = await waitServing({ watch, subtrees }, 90_000);
    if (startupMs === null) throw new Error(`nemesis: the cluster did not form (every ministry serving) within 90 s\n${ids.map((id) => `${id}: ${fleet.proc(id).stderr.split('\n').slice(-5).join('\n')}`).join('\n')}`);
    log(`nemesis: cluster serving after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // Setup: the workload's directories (recorded: they are part of each directory's history).
    const setupSteps = [...dirs.map((d) => ({ op: 'mkdir' as const, path: d })), ...lockFiles.flatMap((f) => [{ op: 'mkdir' as const, path: f.slice(0, -2) }, { op: 'create' as const, path: f }])];
    for (const input of setupSteps) {
      const ok = await within(async () => {
        const op = await history.run('setup', watch, input);
        return op.outcome === 'ok' || (op.outcome === 'fail' && op.output?.ok === false && op.output.code === 'EEXIST');
      }, 30_000, 200);
      if (!ok) throw new Error(`nemesis: could not ${input.op} ${input.path}`);
    }

    const workload = await startWorkload(history, fleet.servers, dirs, opts.clients, rng.fork());
    const leaseWork = opts.leaseClients > 0 ? await startLeaseWorkload(history, fleet.servers, lockFiles, opts.leaseClients, rng.fork()) : null;
    const kinds = opts.faults.filter((k) => skipped[k] === undefined);
    for (const [k, why] of Object.entries(skipped)) log(`nemesis: fault ${k} skipped: ${why}`);
    const ctx: FaultContext = { fleet, network, rng: rng.fork(), watch, subtrees, now, log, recoveryBoundMs: opts.recoveryBoundMs, ...ctxExtra };
    const faults = await faultLoop(ctx, kinds, now() + opts.durationS * 1000);

    // Heal everything, wait for recovery, then stop the clients.
    network.heal();
    for (const id of ids) {
      const p = fleet.proc(id);
      if (p.paused) fleet.resume(id);
      if (!p.running) fleet.start(id);
    }
    const finalRecoveryMs = await waitServing({ watch, subtrees }, opts.recoveryBoundMs);
    await workload.stop();
    await leaseWork?.stop();

    // The final state: a linearizable listing of every directory.
    const anomalies: Anomaly[] = [];
    const finalListing = new Map<string, Set<string>>();
    for (const d of dirs) {
      const got = await within(async () => {
        const op = await history.run('final', watch, { op: 'ls', path: d }, true);
        return op.outcome === 'ok' ? (op.output as { value: Array<{ name: string }> }).value : null;
      }, opts.recoveryBoundMs, 200);
      if (got) finalListing.set(d, new Set(got.map((e) => e.name)));
      else anomalies.push({ kind: 'final-read-failed', detail: `no linearizable ls ${d} answered within ${opts.recoveryBoundMs} ms after the heal` });
    }
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    await fleet.stopAll();

    if (finalRecoveryMs === null) anomalies.push({ kind: 'no-recovery', detail: `not every ministry served within ${opts.recoveryBoundMs} ms of the final heal` });
    for (const f of faults) if (f.recoveryMs === null) anomalies.push({ kind: 'no-recovery', detail: `after ${f.kind} on ${f.targets.join('+')} (${f.detail}): not every ministry served within ${opts.recoveryBoundMs} ms` });
    for (const e of fleet.unexpectedExits()) anomalies.push({ kind: 'crash', detail: `${e.node} (pid ${e.pid}) exited on its own (code ${e.code}, signal ${e.signal}) at ${(e.at / 1000).toFixed(1)} s:\n${e.stderrTail}` });
    for (const e of fleet.exits) {
      const m = e.stderrTail.match(CRASH_RE);
      if (m && e.expected) anomalies.push({ kind: 'crash', detail: `${e.node} (pid ${e.pid}) logged "${m[0]}" before the nemesis stopped it:\n${e.stderrTail}` });
    }
    const lin = checkPerDirectory(history.ops, subtrees, opts.checkTimeoutMs);
    anomalies.push(...lin.failures, ...checkFinalState(history.ops, finalListing), ...checkLeases(leaseWork?.holds ?? []));

    const rec = faults.map((f) => f.recoveryMs).filter((x): x is number => x !== null);
    return {
      options,
      network: network.kind,
      subtrees,
      dirs,
      skipped,
      notes,
      history: history.ops,
      leases: { holds: leaseWork?.holds ?? [], opens: leaseWork?.opens ?? { ok: 0, failed: 0 } },
      faults,
      exits: fleet.exits,
      anomalies,
      startupMs,
      finalRecoveryMs,
      recovery: { p50: percentile(rec, 50), p99: percentile(rec, 99), max: rec.length ? Math.max(...rec) : null },
      linearizability: { parts: lin.parts, checked: lin.checked },
      pids: fleet.pids,
      durationMs: Date.now() - t0,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await fleet.stopAll(2_000).catch(() => {});
    cleanupSync();
    process.off('exit', cleanupSync);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
