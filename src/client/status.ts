// What `status` shows of a cluster: the president, each ministry's staff and progress, each
// node. The same view comes from the in-process Cluster API and from a network client.

import type { ClusterStatusMessage, NodeProbeMessage, NodeReportMessage, StatusRequestMessage, SubtreeMigrationInfo } from '../fs/requests.js';

/** A live subtree migration (split, merge): in progress, or one of the last finished. */
export type MigrationStatus = SubtreeMigrationInfo;

export interface MinistryStatus {
  id: string;
  subtree: string;
  minister: string;
  clerks: string[];
  term: number;
  commitIndex: number;
  down: boolean;
  shortStaffed: boolean;
  /** Its load as its members last measured it (thesis 3.4): average clerk CPU (0..1; of all
   * members if no clerk reported), reads and writes per second; null if none reported. */
  load: MinistryLoadView | null;
  /** File chunks of its subtree (issue 17), and those under-replicated: with fewer replicas
   * than wanted, or a replica on a node that is down (a chunk with two there counts twice).
   * Absent when its minister did not report. */
  chunks?: { total: number; underReplicated: number };
}

export interface MinistryLoadView {
  cpu: number;
  /** Its minister's CPU (0..1; null if it did not report): every change goes through it. */
  ministerCpu: number | null;
  readsPerSec: number;
  writesPerSec: number;
}

export interface NodeStatus {
  id: string;
  up: boolean;
  role: string;
  ministry: string;
  commit: number;
  applied: number;
  caughtUp: boolean;
}

export interface ClusterStatusView {
  president: string;
  clusterTerm: number;
  ministries: MinistryStatus[];
  idle: string[];
  nodes: NodeStatus[];
  /** The president's automatic balancer is on. */
  balancing: boolean;
  /** Membership (issue 20): the cluster log's voters and learners (members: both), and
   * members being removed (handing their roles over). Empty from nodes that do not say;
   * gatherStatus always sets them. */
  members?: string[];
  voters?: string[];
  learners?: string[];
  leaving?: string[];
  /** Subtree migrations in progress (phase fencing or handed), then the last finished. */
  migrations: MigrationStatus[];
}

/** A NodeReport and a ClusterStatus as decoded (govfs.proto: src/fs/requests.ts). */
type NodeReportMsg = Omit<NodeReportMessage, 'type'>;
type ClusterStatusMsg = Omit<ClusterStatusMessage, 'type'>;

/** Build the status view: probe every node, then take the cluster view from the president if
 * it answers, else from any node. `ask` rejects when a node does not answer. */
export async function gatherStatus(ids: readonly string[], ask: (node: string, msg: object) => Promise<unknown>): Promise<ClusterStatusView> {
  const reports = await Promise.all(
    ids.map((id) =>
      ask(id, { type: 'govfs.fs.NodeProbe', load: true } satisfies NodeProbeMessage).then(
        (r) => ({ id, r: r as NodeReportMsg }),
        () => ({ id, r: null }),
      ),
    ),
  );
  let view: ClusterStatusMsg | null = null;
  const order = [...reports].sort((a, b) => (a.r?.role === 'president' ? -1 : 0) - (b.r?.role === 'president' ? -1 : 0));
  for (const { id, r } of order) {
    if (!r) continue;
    view = (await ask(id, { type: 'govfs.fs.StatusRequest' } satisfies StatusRequestMessage).catch(() => null)) as ClusterStatusMsg | null;
    if (view) break;
  }
  const byId = new Map(reports.map(({ id, r }) => [id, r]));
  const ministries = view?.ministries ?? [];
  /** A node's appointment as the cluster view has it (null: no view to go by). A node judges
   * its own role from its copy of the cluster log, which a restarted or cut-off node replays
   * late: until it catches up it would still call itself the minister it was. */
  const appointed = (id: string): { role: string; ministry: string } | null => {
    if (!view) return null;
    const m = ministries.find((mi) => mi.minister === id || (mi.clerks ?? []).includes(id));
    const role = view.president === id ? 'president' : m ? (m.minister === id ? 'minister' : 'clerk') : 'idle';
    return { role, ministry: m?.id ?? '' };
  };
  /** A node's report, if it speaks of its work in `ministry` (not of a role it has left). */
  const reportFor = (id: string, ministry: string): NodeReportMsg | null => {
    const r = byId.get(id);
    return r && ministry !== '' && r.ministry === ministry ? r : null;
  };
  // Numbers come as numbers in process and may come as strings from JSON: normalise.
  return {
    president: view?.president ?? '',
    clusterTerm: Number(view?.clusterTerm ?? 0),
    ministries: ministries.map((m) => ({
      id: m.id,
      subtree: m.subtree,
      minister: m.minister,
      clerks: [...(m.clerks ?? [])],
      term: Number(m.term),
      commitIndex: Number(reportFor(m.minister, m.id)?.commit ?? 0),
      down: m.down,
      shortStaffed: (view?.shortStaffed ?? []).includes(m.id),
      load: ministryLoad(m.minister, m.clerks ?? [], (id) => reportFor(id, m.id)?.load),
      ...chunksOf(reportFor(m.minister, m.id), (id) => byId.get(id) == null),
    })),
    balancing: view?.balancing ?? true,
    members: [...(view?.voters ?? []), ...(view?.learners ?? [])].sort(),
    voters: [...(view?.voters ?? [])],
    learners: [...(view?.learners ?? [])],
    leaving: [...(view?.leaving ?? [])],
    migrations: (view?.migrations ?? []).map((g) => ({ id: g.id, subtree: g.subtree, from: g.from, to: g.to, phase: g.phase, split: g.split, reason: g.reason })),
    idle: [...(view?.idle ?? [])],
    nodes: ids.map((id) => {
      const r = byId.get(id);
      if (!r) return { id, up: false, role: 'down', ministry: '', commit: 0, applied: 0, caughtUp: false };
      const a = appointed(id) ?? { role: r.role, ministry: r.ministry };
      const work = reportFor(id, a.ministry);
      return { id, up: true, role: a.role, ministry: a.ministry, commit: Number(work?.commit ?? 0), applied: Number(work?.applied ?? 0), caughtUp: work?.caughtUp ?? false };
    }),
  };
}

type LoadMsg = NonNullable<NodeReportMsg['load']>;

function chunksOf(r: NodeReportMsg | null, down: (id: string) => boolean): Pick<MinistryStatus, 'chunks'> {
  if (!r || r.chunks === undefined) return {};
  let under = Number(r.chunksShort ?? 0);
  for (const h of r.chunkHolders ?? []) if (down(h.node)) under += Number(h.chunks);
  return { chunks: { total: Number(r.chunks), underReplicated: under } };
}

/** A ministry's load from its members' reports: average clerk CPU, summed rates. */
function ministryLoad(minister: string, clerks: readonly string[], of: (id: string) => LoadMsg | null | undefined): MinistryLoadView | null {
  // (A decoded report without a load has it null.)
  const members = [minister, ...clerks].map(of).filter((l): l is LoadMsg => l != null);
  if (members.length === 0) return null;
  const fromClerks = clerks.map(of).filter((l): l is LoadMsg => l != null);
  const cpuOf = fromClerks.length > 0 ? fromClerks : members;
  return {
    cpu: cpuOf.reduce((s, l) => s + Number(l.cpu), 0) / cpuOf.length,
    ministerCpu: of(minister) == null ? null : Number(of(minister)!.cpu),
    readsPerSec: members.reduce((s, l) => s + Number(l.readsPerSec), 0),
    writesPerSec: members.reduce((s, l) => s + Number(l.writesPerSec), 0),
  };
}

/** The president's answer to `govfs balance on|off|plan`. */
export interface BalanceAnswer {
  ok: boolean;
  balancing: boolean;
  plan: string[];
  reason: string;
}

/** Ask the cluster to turn its balancer on or off, or for its plan, or to split or merge the
 * subtree `path`: any node passes the request on to the president; the nodes of `ids` are
 * tried in turn until one answers. */
export async function balanceRequest(ids: readonly string[], ask: (node: string, msg: object) => Promise<unknown>, action: 'on' | 'off' | 'plan' | 'split' | 'merge', path = ''): Promise<BalanceAnswer> {
  let last = 'no node answered';
  for (const id of ids) {
    try {
      const r = (await ask(id, { type: 'govfs.fs.BalanceRequest', action, ...(path !== '' && { path }) })) as Partial<BalanceAnswer>;
      const answer = { ok: r.ok === true, balancing: r.balancing === true, plan: [...(r.plan ?? [])], reason: r.reason ?? '' };
      if (answer.ok) return answer;
      last = answer.reason || last;
    } catch (e) {
      last = `${id}: ${(e as Error).message}`;
    }
  }
  return { ok: false, balancing: false, plan: [], reason: last };
}
