// Randomized runs of a whole GovFS cluster on the simulator: concurrent clients doing namespace
// operations while nodes (ministers, clerks, the president) crash, restart and are partitioned.
// Checked on every step: never two members leading one ministry's group log in the same term,
// no client change applied twice (in any ministry). Checked at the end: the recorded client
// history is linearizable against ONE model of the whole namespace (so every acknowledged
// change survived, and a rename across ministries was one atomic step), and no ministry holds
// a rename's lock or reservation once the cluster has settled.
//
// Most seeds run three ministries: "/", "/a" (a top-level subtree) and "/d/m" (nested below a
// directory "/d" of the root ministry), each a minister and two clerks, on 11 nodes (the
// president and an idle node besides). Clients work across all of them, including operations
// that cross a boundary: renames between ministries (a two-phase commit through the president,
// src/actors/rename-core.ts), renames of "/d" while it holds "/d/m" (EXDEV), rmdir of "/d" (ENOTEMPTY, or with `recursive` the president's subtree delete,
// which dissolves "/d/m"), listings that show a ministry's root in its parent. Faults pick
// their node at random or by role: the president, a minister or a clerk of a random ministry.
// Every sixth seed runs the root ministry alone on 5 nodes.
//
// Each seed also draws its faults below the nodes (faultProfile): message loss (up to 5%) and
// duplication (up to 2%), clock drift (up to the 1% per node that the default lease drift bound
// allows), and slow or failing fsyncs (a failed fsync crashes its node, which restarts).
//
// Every read the model can judge is checked: linearizable reads against the full model, plain
// reads as session reads (read-your-writes and monotonic reads per client; see
// test/support/linearizability.ts). To give stale reads a chance to show, a client often
// reads back what it just changed (a plain read: its own write must show), and "chaser"
// clients read linearizably what another client just changed (a clerk that serves without
// confirming with its minister may not have it yet).
//
//   npm run sim -- cluster --seeds 50        one line per seed, replay with --seed S --verbose

import { Cluster } from '../../src/cluster.js';
import type { MinistryInspection } from '../../src/actors/ministry.js';
import { SeedTree, type SeededRandom } from '../../src/runtime/random.js';
import type { SimFsyncOptions, SimNetworkOptions } from '../../src/runtime/sim.js';
import type { GovClient } from '../../src/client/gov-client.js';
import { watchOwnership } from './ownership-invariant.js';
import { UNKNOWN, recordOp, snapshotsFor, violationList, watchMinisters } from './cluster-watch.js';

export const describe = 'a cluster of three ministries (or one) under crashes, restarts and partitions; history checked for linearizability against one model of the whole namespace';

export interface HistoryOp {
  client: string;
  input: {
    op: string;
    path?: string;
    from?: string;
    to?: string;
    parents?: boolean;
    recursive?: boolean;
    mode?: number;
    uid?: number;
    gid?: number;
    target?: string;
    explicit?: boolean;
    /** mknod's kind and device number. */
    kind?: 'fifo' | 'socket' | 'chardev' | 'blockdev';
    rdev?: number;
    /** Who asks (POSIX credentials); root when absent. */
    as?: { uid: number; gid: number; groups: number[] };
  };
  output: { ok: true; value?: unknown } | { ok: false; code: string };
  call: number;
  ret: number;
  /** A plain read: read-your-writes and monotonic reads only. */
  session?: boolean;
}

export interface ClusterRun {
  /** The ministries' subtrees at the start (the root first). */
  subtrees: string[];
  /** Those whose ministry (the same one) is still there at the end: no subtree delete
   * dissolved it. */
  survivors: string[];
  history: HistoryOp[];
  /** Per-step invariant violations (empty when all held). */
  violations: string[];
  steps: number;
  faults: string[];
  /** What the simulator did below the nodes: messages lost and duplicated, fsyncs slow and failed. */
  lowFaults: string;
  traceHash: string;
}

/** Faults a seed draws below the nodes: the network's loss and duplication, clock drift, and
 * the disk. A quarter of the seeds run with none of them. */
export interface FaultProfile {
  network: Partial<SimNetworkOptions>;
  maxDriftPpm: number;
  fsync: Partial<SimFsyncOptions>;
}

export function faultProfile(seed: number): FaultProfile {
  const r = new SeedTree(seed).stream('cluster-sim:profile');
  const network = { minLatencyMs: 0.2, maxLatencyMs: 2 };
  if (r.next() < 0.25) return { network, maxDriftPpm: 0, fsync: {} };
  return {
    network: { ...network, dropRate: r.next() * 0.05, duplicateRate: r.next() * 0.02 },
    // Leases allow 100 ms of disagreement between two clocks over a 5 s lease (2%): ±1% each.
    maxDriftPpm: Math.floor(r.next() * 10_000),
    fsync: { slowRate: r.next() * 0.05, slowMs: 1 + r.next() * 19, failRate: r.next() * 0.005 },
  };
}

/** Steps a run may take before it counts as livelocked (the longest of seeds 1-50: 468,675). */
export const MAX_CLUSTER_STEPS = 3_000_000;

/** What a seed runs: its ministries, nodes and the paths its clients use. */
export interface Layout {
  ministries: { subtree: string; clerks: number }[];
  nodes: number;
  dirs: string[];
  files: string[];
}

export function layoutFor(seed: number): Layout {
  if (seed % 6 === 0) return { ministries: [], nodes: 5, dirs: ['/a', '/b', '/a/c'], files: ['/a/f1', '/a/f2', '/b/f3', '/f4', '/a/c/f5'] };
  return {
    ministries: [
      { subtree: '/a', clerks: 2 },
      { subtree: '/d/m', clerks: 2 },
    ],
    nodes: 11,
    // "/a" and "/d/m" are ministry roots, "/a/c" lies in "/a", "/d/m/e" in "/d/m", "/b" and
    // "/d" in "/".
    dirs: ['/a', '/a/c', '/b', '/d', '/d/m', '/d/m/e'],
    files: ['/a/f1', '/a/c/f2', '/b/f3', '/f4', '/d/f5', '/d/m/f6', '/d/m/e/f7'],
  };
}

/** Callers other than root: owners, groups and modes decide (issue 18). */
const USERS = [
  { uid: 1000, gid: 100, groups: [100] },
  { uid: 2000, gid: 200, groups: [200, 100] },
];
const MODES = [0o755, 0o700, 0o777, 0o1777, 0o2775, 0o711, 0o644, 0o555];

function randomOp(r: SeededRandom, l: Layout): HistoryOp['input'] {
  const op = randomPlainOp(r, l);
  return r.next() < 0.4 ? { ...op, as: USERS[r.int(0, USERS.length - 1)]! } : op;
}

function randomPlainOp(r: SeededRandom, l: Layout): HistoryOp['input'] {
  const pick = <T>(a: T[]): T => a[r.int(0, a.length - 1)]!;
  // POSIX metadata: a fifth of the operations.
  if (r.next() < 0.2) {
    const y = r.next();
    if (y < 0.3) return { op: 'chmod', path: pick([...l.dirs, ...l.files]), mode: pick(MODES) };
    if (y < 0.45) return { op: 'chown', path: pick([...l.dirs, ...l.files]), uid: pick([-1, 0, 1000, 2000]), gid: pick([-1, 0, 100, 200]) };
    if (y < 0.55) return { op: 'utimens', path: pick([...l.dirs, ...l.files]), explicit: r.next() < 0.5 };
    if (y < 0.7) return { op: 'symlink', path: pick(l.files), target: pick(['f1', '../b', '/x']) };
    if (y < 0.8) return { op: 'readlink', path: pick(l.files) };
    if (y < 0.9) return { op: 'link', from: pick(l.files), to: pick(l.files) };
    return { op: 'mknod', path: pick(l.files), kind: pick(['fifo', 'socket', 'chardev', 'blockdev'] as const), mode: pick(MODES), rdev: 0x0801 };
  }
  const x = r.next();
  if (x < 0.15) return { op: 'mkdir', path: pick(l.dirs), parents: r.next() < 0.3, ...(r.next() < 0.3 ? { mode: pick(MODES) } : {}) };
  if (x < 0.33) return { op: 'create', path: pick(l.files), ...(r.next() < 0.3 ? { mode: pick(MODES) } : {}) };
  if (x < 0.42) return { op: 'rm', path: pick(l.files) };
  if (x < 0.47) return { op: 'rmdir', path: pick(l.dirs), recursive: r.next() < 0.3 };
  if (x < 0.55) return { op: 'rename', from: pick(l.files), to: pick(l.files) };
  if (x < 0.58) return { op: 'rename', from: pick(l.dirs), to: pick(l.dirs) };
  if (x < 0.85) return { op: 'ls', path: pick(['/', ...l.dirs]) };
  return { op: 'stat', path: pick([...l.dirs, ...l.files]) };
}

/** A read of what a change to `path` touched: the path itself, or its parent's listing. */
function readBack(r: SeededRandom, path: string): HistoryOp['input'] {
  if (path === '/' || r.next() < 0.5) return { op: 'stat', path };
  return { op: 'ls', path: path.slice(0, Math.max(1, path.lastIndexOf('/'))) };
}

const MKNOD_TYPE = { fifo: 0o010000, socket: 0o140000, chardev: 0o020000, blockdev: 0o060000 } as const;

/** Reads: they change nothing. */
export const isRead = (op: string): boolean => op === 'ls' || op === 'stat' || op === 'readlink';

async function perform(c: GovClient, input: HistoryOp['input'], linearizable: boolean): Promise<HistoryOp['output']> {
  const as = input.as === undefined ? {} : { as: input.as };
  try {
    switch (input.op) {
      case 'mkdir':
        await c.mkdir(input.path!, { parents: input.parents, ...(input.mode === undefined ? {} : { mode: input.mode }), ...as });
        return { ok: true };
      case 'create':
        await c.create(input.path!, { ...(input.mode === undefined ? {} : { mode: input.mode }), ...as });
        return { ok: true };
      case 'rm':
        await c.rm(input.path!, as);
        return { ok: true };
      case 'rmdir':
        await c.rmdir(input.path!, { recursive: input.recursive, ...as });
        return { ok: true };
      case 'rename':
        await c.rename(input.from!, input.to!, as);
        return { ok: true };
      case 'chmod':
        await c.chmod(input.path!, input.mode!, as);
        return { ok: true };
      case 'chown':
        await c.chown(input.path!, input.uid!, input.gid!, as);
        return { ok: true };
      case 'utimens':
        await c.utimens(input.path!, input.explicit === true ? 1_000_000_007n : null, input.explicit === true ? -3n : null, as);
        return { ok: true };
      case 'symlink':
        await c.symlink(input.target!, input.path!, as);
        return { ok: true };
      case 'link':
        await c.link(input.from!, input.to!, as);
        return { ok: true };
      case 'mknod':
        await c.mknod(input.path!, MKNOD_TYPE[input.kind!] | input.mode!, input.rdev ?? 0, as);
        return { ok: true };
      case 'readlink':
        return { ok: true, value: await c.readlink(input.path!, { linearizable, ...as }) };
      case 'ls':
        return { ok: true, value: (await c.ls(input.path!, { linearizable, ...as })).map((e) => e.name).sort() };
      default: {
        const st = await c.stat(input.path!, { linearizable, ...as });
        return { ok: true, value: { kind: st.kind, mode: st.mode, uid: st.uid, gid: st.gid, nlink: st.nlink } };
      }
    }
  } catch (e) {
    return { ok: false, code: (e as { code?: string }).code ?? 'EIO' };
  }
}

/** What each node does now, read from its actors (no messages): 'president', 'minister of
 * m1 /a', 'clerk of m0 /', 'idle', or 'down'. */
function roleOf(cluster: Cluster, name: string): { president: boolean; ministry?: MinistryInspection } | null {
  const host = cluster.sim!.host(name);
  if (!host.up) return null;
  const cell = host.runtime.cells.get(`/${name}/role`);
  const b = cell?.behaviour as { inspect?: () => MinistryInspection | null } | undefined;
  return { president: host.runtime.cells.has(`/${name}/president`), ministry: b?.inspect?.() ?? undefined };
}

function describeRole(cluster: Cluster, name: string): string {
  const r = roleOf(cluster, name);
  if (!r) return 'down';
  const parts: string[] = [];
  if (r.president) parts.push('president');
  if (r.ministry) parts.push(`${r.ministry.leading ? 'minister' : 'clerk'} of ${r.ministry.subtree}`);
  return parts.length > 0 ? parts.join(', ') : 'idle';
}

/** A node to hit: at random, or (more often) the president, or a minister or clerk of a
 * random ministry. */
function pickTarget(cluster: Cluster, r: SeededRandom, exclude: ReadonlySet<string>): string | null {
  const ids = cluster.nodeIds.filter((id) => !exclude.has(id));
  if (ids.length === 0) return null;
  const x = r.next();
  let pool = ids;
  if (x < 0.7) {
    const roles = ids.map((id) => ({ id, role: roleOf(cluster, id) }));
    if (x < 0.2) pool = roles.filter((n) => n.role?.president).map((n) => n.id);
    else {
      const subtrees = [...new Set(roles.map((n) => n.role?.ministry?.subtree).filter((s): s is string => s !== undefined))].sort();
      const subtree = subtrees[r.int(0, Math.max(0, subtrees.length - 1))];
      const leading = x < 0.45;
      pool = roles.filter((n) => n.role?.ministry !== undefined && n.role.ministry.subtree === subtree && n.role.ministry.leading === leading).map((n) => n.id);
    }
    if (pool.length === 0) pool = ids;
  }
  return pool[r.int(0, pool.length - 1)]!;
}

export async function runCluster(seed: number, opts: { clients?: number; opsPerClient?: number; faults?: boolean; verbose?: boolean } = {}): Promise<ClusterRun> {
  const r = new SeedTree(seed).stream('cluster-sim:workload');
  const layout = layoutFor(seed);
  const profile = faultProfile(seed);
  const cluster = await Cluster.start({
    nodes: layout.nodes,
    ministries: layout.ministries,
    scheduler: 'sim',
    seed,
    network: profile.network,
    maxDriftPpm: profile.maxDriftPpm,
    fsync: profile.fsync,
    ...snapshotsFor(seed, 'cluster-sim:snapshots'),
    maxSteps: MAX_CLUSTER_STEPS,
    replay: `npm run sim -- cluster --seed ${seed} --verbose`,
  });
  const sim = cluster.sim!;
  const faults: string[] = [];
  const subtrees = ['/', ...layout.ministries.map((m) => m.subtree)];
  // Invariants on every step, over every ministry.
  const { violations, violate } = violationList();
  sim.checks.push(watchMinisters(cluster, violate));
  sim.checks.push(watchOwnership(cluster, layout.ministries.map((m) => m.subtree), violate).check);
  const history: HistoryOp[] = [];
  const nClients = opts.clients ?? 4;
  const perClient = opts.opsPerClient ?? 40;
  let running = nClients;
  // Chasers read linearizably, at once, what another client just changed: not awaited by the
  // writer, collected here.
  const chasers = Array.from({ length: 2 }, (_, i) => cluster.client({ clientId: `chaser${i}`, requestTimeoutMs: 300, deadlineMs: 4_000 }));
  const chases: Promise<void>[] = [];
  const one = async (c: GovClient, input: HistoryOp['input'], linearizable: boolean): Promise<HistoryOp['output']> => {
    const call = cluster.now();
    const output = await perform(c, input, linearizable);
    recordOp(history, { client: c.clientId, input, output, call, ret: cluster.now() }, !isRead(input.op), linearizable);
    return output;
  };
  const workers = Array.from({ length: nClients }, (_, i) => {
    const c = cluster.client({ clientId: `w${i}`, requestTimeoutMs: 300, deadlineMs: 4_000 });
    const change = async (input: HistoryOp['input'], linearizable: boolean): Promise<void> => {
      const output = await one(c, input, linearizable);
      if (isRead(input.op)) return;
      const path = input.op === 'rename' || input.op === 'link' ? (r.next() < 0.5 ? input.from! : input.to!) : input.path!;
      if (output.ok && r.next() < 0.7) {
        const chaser = chasers[r.int(0, chasers.length - 1)]!;
        chases.push(one(chaser, readBack(r, path), true).then(() => {}));
      }
      // Read back its own change, plainly: read-your-writes says it shows.
      if (!output.ok && UNKNOWN.has(output.code)) return;
      if (r.next() < 0.5) await one(c, readBack(r, path), false);
    };
    return (async () => {
      for (let k = 0; k < perClient; ) {
        // Now and then a client has several changes in flight at once (RIFL keeps a result
        // per request, not per client).
        const burst = r.next() < 0.2 ? Math.min(perClient - k, r.int(2, 3)) : 1;
        const ops = Array.from({ length: burst }, () => ({ input: randomOp(r, layout), linearizable: r.next() < 0.6 }));
        await Promise.all(ops.map((o) => change(o.input, o.linearizable)));
        k += burst;
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
      const t = cluster.now().toFixed(0);
      if (x < 0.3 && down.size < 2) {
        const id = pickTarget(cluster, r, down);
        if (id) {
          faults.push(`${t} kill ${id} (${describeRole(cluster, id)})`);
          down.add(id);
          await cluster.kill(id);
        }
      } else if (x < 0.6 && down.size > 0) {
        const id = [...down][r.int(0, down.size - 1)]!;
        down.delete(id);
        faults.push(`${t} restart ${id}`);
        await cluster.restart(id);
      } else if (x < 0.8) {
        // Cut off one to three nodes, often including a role holder.
        const first = pickTarget(cluster, r, new Set())!;
        const rest = ids.filter((id) => id !== first).sort(() => r.next() - 0.5);
        const side = [first, ...rest.slice(0, r.int(0, Math.min(2, Math.floor((ids.length - 1) / 2) - 1)))];
        faults.push(`${t} partition ${side.map((id) => `${id} (${describeRole(cluster, id)})`).join(', ')}`);
        cluster.partition(side, ids.filter((id) => !side.includes(id)));
      } else {
        faults.push(`${t} heal`);
        cluster.heal();
      }
    }
    cluster.heal();
    for (const id of down) await cluster.restart(id);
  })();
  await Promise.all([...workers, faultLoop]);
  await Promise.all(chases);
  // Settle, then read everything back linearizably: every acknowledged change must show.
  const reader = cluster.client({ clientId: 'final', requestTimeoutMs: 500, deadlineMs: 30_000 });
  for (const path of ['/', ...layout.dirs]) {
    const call = cluster.now();
    const output = await perform(reader, { op: 'ls', path }, true);
    if (!output.ok && UNKNOWN.has(output.code)) throw new Error(`seed ${seed}: the cluster did not recover (ls ${path}: ${output.code}); faults: ${faults.join('; ')}`);
    history.push({ client: 'final', input: { op: 'ls', path }, output, call, ret: cluster.now() });
  }
  // Every rename across ministries ends: no lock or reservation is left in any member.
  const open = (): string[] =>
    cluster.nodeIds.flatMap((name) => {
      const r = roleOf(cluster, name)?.ministry;
      return r && !r.renames.empty ? [`${name} (${r.subtree}): ${[...r.renames.outs.keys(), ...r.renames.ins.keys()].join(', ')}`] : [];
    });
  if (!(await cluster.waitFor(() => open().length === 0, 10_000))) violate(`renames across ministries still open after the run: ${open().join('; ')}`);
  // A ministry is formed once per subtree (ClusterState.formed): one serving `s` at the end is
  // the one from the start.
  const atEnd = (await cluster.status()).ministries;
  const survivors = subtrees.filter((s) => atEnd.some((m) => m.subtree === s));
  const lowFaults = `${sim.messagesDropped} lost, ${sim.messagesDuplicated} duplicated, ${sim.fsyncsSlow} slow and ${sim.fsyncsFailed} failed fsyncs, drift ≤${profile.maxDriftPpm} ppm`;
  const run = { subtrees, survivors, history, violations, steps: sim.steps, faults, lowFaults, traceHash: sim.traceHash };
  await cluster.stop();
  return run;
}

export async function runSeed(seed: number, opts: { verbose: boolean }): Promise<{ ok: boolean; error?: string; detail?: string }> {
  try {
    const run = await runCluster(seed, { verbose: opts.verbose });
    const { checkHistory } = await import('./cluster-check.js');
    const verdict = checkHistory(run.history, run.subtrees, run.survivors);
    if (opts.verbose) console.log(run.faults.join('\n'));
    // The trace hash, so that a replay can be checked to be the run that failed.
    const trace = `(trace ${run.traceHash})`;
    if (run.violations.length > 0) return { ok: false, error: `invariant violated: ${run.violations.join('; ')} ${trace}` };
    if (verdict.ok !== true) return { ok: false, error: `history not linearizable: ${verdict.reason} ${trace}` };
    const exdev = run.history.filter((h) => !h.output.ok && h.output.code === 'EXDEV').length;
    const home = (p: string): string => run.subtrees.reduce((best, s) => (s.length > best.length && (p === s || p.startsWith(s === '/' ? '/' : `${s}/`)) ? s : best), '/');
    const across = run.history.filter((h) => h.input.op === 'rename' && h.output.ok && home(h.input.from!) !== home(h.input.to!)).length;
    const lin = run.history.filter((h) => isRead(h.input.op) && h.session !== true).length;
    const posix = new Set(['chmod', 'chown', 'utimens', 'symlink', 'readlink', 'link', 'mknod']);
    const posixOk = run.history.filter((h) => posix.has(h.input.op) && h.output.ok).length;
    const denied = run.history.filter((h) => !h.output.ok && (h.output.code === 'EACCES' || h.output.code === 'EPERM')).length;
    const session = run.history.filter((h) => h.session === true).length;
    const deletes = run.history.filter((h) => h.input.op === 'rmdir' && h.input.recursive === true && h.input.path === '/d' && h.output.ok).length;
    return {
      ok: true,
      detail: `${run.subtrees.join(' ')}: ${run.history.length} ops (${lin} linearizable and ${session} session reads, ${verdict.unchecked} unchecked, ${across} renames across ministries, ${exdev} EXDEV, ${deletes} subtree deletes, ${posixOk} POSIX metadata ops ok, ${denied} EACCES/EPERM), ${run.faults.length} faults; ${run.lowFaults}; ${run.steps} steps ${trace}`,
    };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
