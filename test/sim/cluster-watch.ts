// What the whole-cluster simulations share (cluster.sim.ts, balance.sim.ts, write-balance.ts):
// the invariants checked on every step, the recording of a client's history for the
// linearizability check, and the loaded cluster the two balance halves start.

import { Writable } from 'node:stream';
import pino from 'pino';
import { Cluster, type ClusterOptions } from '../../src/cluster.js';
import type { ClusterOrder } from '../../src/actors/cluster-state.js';
import { SeedTree } from '../../src/runtime/random.js';
import type { SimMachine } from '../../src/runtime/sim.js';
import type { MinistryInspection } from '../../src/actors/ministry.js';
import type { HistoryOp } from './cluster.sim.js';

/** Outcomes that say nothing about whether a change happened. */
export const UNKNOWN = new Set(['ETIMEDOUT', 'EUNAVAILABLE', 'EAGAIN', 'EIO']);

/** Violations of the per-step invariants: the first of each kind is kept, and fails the seed at the end. */
export function violationList(): { violations: string[]; violate: (msg: string) => void } {
  const violations: string[] = [];
  return {
    violations,
    violate: (msg) => {
      if (!violations.includes(msg)) violations.push(msg);
    },
  };
}

/** The per-step check (push onto `sim.checks`): never two ministers in one ministry and term
 * (ministry ids are unique, so are terms); no replica applied a client change twice. With
 * `probes` (where subtrees move between ministries): never two ministries that would take a
 * change to the same path at the same moment, every settled minister asked for every probe.
 * What a node shows is read again only when the step may have run its code (sim.touched),
 * and the nodes are compared again only when what one shows changed: reading and comparing
 * every member on every step was most of a balance seed's time. */
export function watchMinisters(cluster: Cluster, violate: (msg: string) => void, probes: readonly string[] = []): () => void {
  const sim = cluster.sim!;
  const views = new Map<string, MemberView | null>();
  const leaders = new Map<string, string>();
  const serving = new Map<string, string>();
  let compared = -1;
  /** Read `name` again: whether what it shows changed. */
  const refresh = (name: string): boolean => {
    const old = views.get(name);
    const view = viewOf(cluster, name, probes);
    views.set(name, view);
    return old === undefined || !sameView(old, view);
  };
  return () => {
    let changed = compared !== cluster.nodeIds.length;
    const touched = views.size === 0 ? null : sim.touchedNames();
    // (Every node after the driver's code: it is also what adds and restarts nodes.)
    if (touched === null) for (const name of cluster.nodeIds) changed = refresh(name) || changed;
    else for (const name of touched) if (views.has(name)) changed = refresh(name) || changed;
    if (!changed) return;
    compared = cluster.nodeIds.length;
    leaders.clear();
    serving.clear();
    for (const name of cluster.nodeIds) {
      const view = views.get(name);
      if (!view) continue;
      if (view.duplicateApplies > 0) violate(`${name} applied a client change twice in ministry ${view.ministry} (${view.subtree})`);
      if (!view.leading) continue;
      const other = leaders.get(view.key);
      if (other) violate(`two ministers in ministry ${view.ministry} (${view.subtree}) term ${view.term}: ${other} and ${name}`);
      leaders.set(view.key, name);
      for (const p of view.serves) {
        const was = serving.get(p);
        if (was !== undefined && was !== view.ministry) violate(`at ${sim.now().toFixed(1)} ms both ${was} and ${view.ministry} (minister ${name}) would take a change to ${p}`);
        serving.set(p, view.ministry);
      }
    }
  };
}

function sameView(a: MemberView | null, b: MemberView | null): boolean {
  if (a === null || b === null) return a === b;
  return a.key === b.key && a.subtree === b.subtree && a.leading === b.leading && a.duplicateApplies === b.duplicateApplies && a.serves.length === b.serves.length && a.serves.every((p, i) => p === b.serves[i]);
}

/** What watchMinisters reads of a node's ministry member: null when the node is down or holds none. */
interface MemberView {
  ministry: string;
  subtree: string;
  term: number;
  /** `ministry@term`. */
  key: string;
  leading: boolean;
  duplicateApplies: number;
  /** The probes it would take a change to now (a leading minister only). */
  serves: string[];
}

function viewOf(cluster: Cluster, name: string, probes: readonly string[]): MemberView | null {
  const host = cluster.sim!.host(name);
  if (!host.up) return null;
  const info = (host.runtime.cells.get(`/${name}/role`)?.behaviour as { inspect?: () => MinistryInspection | null } | undefined)?.inspect?.();
  if (!info) return null;
  const serves = info.leading ? probes.filter((p) => info.serves(p)) : [];
  return { ministry: info.ministry, subtree: info.subtree, term: info.term, key: `${info.ministry}@${info.term}`, leading: info.leading, duplicateApplies: info.duplicateApplies, serves };
}

/** One finished client operation into `history`. A change with an unknown outcome may have
 * happened at any time after its call; a failed read tells nothing. A plain read promises
 * read-your-writes and monotonic reads, not linearizability. */
export function recordOp(history: HistoryOp[], op: Pick<HistoryOp, 'client' | 'input' | 'output' | 'call' | 'ret'>, mutation: boolean, linearizable: boolean): void {
  const { output } = op;
  if (!output.ok && UNKNOWN.has(output.code)) {
    if (mutation) history.push({ ...op, ret: Infinity });
    return;
  }
  history.push({ ...op, ...(mutation || linearizable ? {} : { session: true }) });
}

/** A president's order as its info log has it (president-core.ts logs each with its cause). */
export interface LoggedOrder {
  msg?: string;
  cause?: string;
  ministry?: string;
  order?: ClusterOrder;
  /** A grow's new clerk. */
  newClerk?: string;
  /** The node that logged it (the president). */
  node?: string;
}

/** Half the seeds compact every log after a few dozen entries (the default is 10,000), so that
 * ministries and the cluster log take snapshots, and a member that restarts or falls behind
 * installs its leader's, restored in steps (issue 19, point 4) among everything else. */
export function snapshotsFor(seed: number, label: string): { snapshotEntries?: number } {
  const r = new SeedTree(seed).stream(label);
  return r.next() < 0.5 ? { snapshotEntries: r.int(15, 60) } : {};
}

/** Machines for the balance sims (SimOptions.machines): a third of the seeds give every node a
 * one-core machine of its own, a third put nodes two to a two-core machine, the rest leave
 * machines out (null machine CPU). Either way an idle node has half a core to spare, so the
 * balancer may draw on it (spareCores) and the sims' expectations hold; what runs is the
 * machine CPU in every load report, across crashes and restarts, and the rule on it.
 * (balance-scenarios.test.ts has a machine that the rule must pass over.) */
export function machinesFor(seed: number, nodes: number): { machines?: SimMachine[] } {
  const x = new SeedTree(seed).stream('balance-sim:machines').next();
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  if (x < 1 / 3) return { machines: ids.map((id) => ({ cores: 1, hosts: [id] })) };
  if (x < 2 / 3) return { machines: ids.filter((_, i) => i % 2 === 0).map((id, k) => ({ cores: 2, hosts: ids.slice(2 * k, 2 * k + 2) })) };
  return {};
}

/** Modeled service time of one client request at a node, in the balance sims. */
export const SERVICE_MS = 8;

/** A cluster for the balance sims: a modeled CPU (every client request costs the node it
 * reaches SERVICE_MS, served one at a time, so a node saturates), load reported every 200 ms,
 * the balancer acting after 600 ms of settled load; each order the president logs goes to
 * `onOrder`. `opts` says the rest (nodes, ministries, limits). */
export function startLoadedCluster(seed: number, opts: ClusterOptions, onOrder: (o: LoggedOrder, line: string) => void): Promise<Cluster> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.includes('"cause"')) onOrder(JSON.parse(line) as LoggedOrder, line);
      }
      done();
    },
  });
  return Cluster.start({
    scheduler: 'sim',
    seed,
    network: { minLatencyMs: 0.2, maxLatencyMs: 2 },
    cpu: { serviceMs: { 'govfs.fs.FsRequest': SERVICE_MS } },
    loadEveryMs: 200,
    balance: { settleMs: 600 },
    logger: pino({ level: 'info' }, sink),
    replay: `npm run sim -- balance --seed ${seed} --verbose`,
    ...snapshotsFor(seed, 'balance-sim:snapshots'),
    ...machinesFor(seed, opts.nodes ?? 5),
    ...opts,
  });
}
