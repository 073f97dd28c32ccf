// A node's configuration (NodeConfig) and the timings real nodes run with: read by the node's
// shell (node.ts), its core and every role under it, so apart from the shell, which they would
// otherwise all import.

import type { RepairOptions } from './replica-repair-core.js';
import type { BalanceOptions } from './balancer.js';
import type { WriteBalanceOptions } from './write-balancer.js';

export interface NodeConfig {
  id: string;
  /** Every node of the cluster (the cluster log's voters). */
  nodes: string[];
  /** Actor address of every node's root, by id. */
  addresses: Record<string, string>;
  /** Clerks of the root ministry "/" (default 2). */
  rootClerks?: number;
  /** Static extra ministries, formed at bootstrap. */
  ministries?: { subtree: string; clerks: number }[];
  /** Raft tick (default 10 ms). Group logs heartbeat every tick. */
  tickMs?: number;
  /** The cluster log's election timeout: a node that hears nothing from the president for
   * between this and twice this long campaigns (default 1,000 ms; the president heartbeats
   * twenty times as often, or every cluster tick if that is longer: ten times on real nodes). It must stay well above the longest stall of a node's event loop
   * (GC, a busy machine): at 100 ms a loaded 2-core machine changed president every minute. */
  electionMs?: number;
  /** How often the president probes every node, and after how long without an answer it
   * takes a node for failed (defaults 50 ms and 1,000 ms; like electionMs, well above the
   * stalls of a busy machine, since every failure costs a fence and a new appointment). */
  probeMs?: number;
  /** A node that answered the last probe is probed again only after this long (default
   * probeMs; real nodes IDLE_PROBE_MS): an idle cluster then sends few probes. */
  probeAnsweredMs?: number;
  failAfterMs?: number;
  /** The cluster log's tick, and the group logs' and ministries' (default tickMs). Real nodes
   * tick less often (CLUSTER_TICK_MS, GROUP_TICK_MS): the cluster log's election timeout is a
   * second or more, and a group log sends commit news as it commits, not on ticks. */
  clusterTickMs?: number;
  groupTickMs?: number;
  /** Heartbeat interval of a quiet group log (every follower has everything; see
   * RaftConfig.idleHeartbeatTicks); set, the quiet cluster log heartbeats every half
   * electionMs. Default: no backoff (the simulator); real nodes get IDLE_HEARTBEAT_MS
   * (node-host.ts). A clerk counts as caught up (serves reads, grants read leases) for one
   * such interval after hearing from its minister, and a new minister's lease grace grows
   * to match (lease-core.ts, catchUpWindowMs). */
  idleHeartbeatMs?: number;
  /** Compact a log after this many applied entries (default 10,000). */
  snapshotEntries?: number;
  /** Ministries encode their snapshots on the actor thread instead of replaying the log in
   * ctx.pool (ClusterOptions.snapshots). */
  snapshotsOnThread?: boolean;
  /** Forget a client's completion record after this long without requests (default 10 min). */
  clientTtlMs?: number;
  /** A client silent this long loses its session at a member, and what it held there. */
  sessionTtlMs?: number;
  /** Lease duration (default 5 s) and the bound on clock drift between nodes over one lease
   * period (default 100 ms). */
  leaseTtlMs?: number;
  leaseDriftMs?: number;
  /** How often members sample their load and the president asks for it (default 1,000 ms). */
  loadEveryMs?: number;
  /** Read balancing thresholds (thesis 3.4; defaults grow above 95%, shrink to 85%). */
  balance?: BalanceOptions;
  /** The data plane (issue 17): bytes per chunk of new files (default 4 MiB) and replicas per
   * chunk (default 3, fewer with fewer nodes). */
  chunkBytes?: number;
  chunkReplicas?: number;
  /** Re-replication of chunks short of replicas (replica-repair-core.ts; defaults there). */
  repair?: RepairOptions;
  /** Each node's host (`govfs node`: from --peers), so copies of a chunk spread across hosts;
   * absent: every node on one host. */
  hosts?: Record<string, string>;
  /** A subtree migration (split, merge) that makes no progress this long is aborted (30 s). */
  migrationTimeoutMs?: number;
  /** Write balancing's thresholds (write-balancer.ts), or false: no automatic split or merge. */
  writeBalance?: WriteBalanceOptions | false;
}

export function roleAddress(config: NodeConfig, id: string): string {
  return `${config.addresses[id]}/role`;
}

/** Default NodeConfig.electionMs. */
export const ELECTION_MS = 1_000;

/** Heartbeat interval of a quiet group log on real nodes: an idle cluster then sends a few
 * messages a second instead of hundreds (issue 19). A clerk serves reads for this long (and a
 * tick) after it last heard from its minister; lease grace allows for it (catchUpWindowMs).
 * As the quiet cluster log's (half ELECTION_MS): was 200 ms, most of an idle ministry's work. */
export const IDLE_HEARTBEAT_MS = 500;
/** Real nodes' NodeConfig.probeAnsweredMs: a settled node is probed only in the load round
 * (LOAD_EVERY_MS, the same second), and shows it is alive in between by answering the cluster
 * log's heartbeats (issue 19: probes were a fifth of an idle cluster's messages). Then
 * clusterTickMs (a tenth of the default election timeout) and groupTickMs. */
export const IDLE_PROBE_MS = 1_000;
export const CLUSTER_TICK_MS = 100;
export const GROUP_TICK_MS = 100;
/** Real nodes' NodeConfig.probeMs: the president's tick, which judges failures on the last
 * answers (a tenth of failAfterMs) and re-probes a node that has not answered. */
export const PRESIDENT_TICK_MS = 100;

/** The cluster log's election timeout and heartbeat intervals, in ticks. */
export function clusterTimers(config: NodeConfig): { tickMs: number; electionTicks: number; heartbeatTicks: number; idleHeartbeatTicks: number } {
  const tickMs = config.clusterTickMs ?? config.tickMs ?? 10;
  const electionTicks = Math.max(2, Math.round((config.electionMs ?? ELECTION_MS) / tickMs));
  const heartbeatTicks = Math.max(1, Math.min(electionTicks - 1, Math.round(electionTicks / 20)));
  // Quiet: half the election timeout (issue 19: was a third), so a follower campaigns only
  // after missing two heartbeats, and check-quorum and the president (failAfterMs, the
  // election timeout by default) hear two answers of every node per election timeout; the
  // election timeout itself, and so the time to fail over, stays as it was.
  const idle = config.idleHeartbeatMs === undefined ? heartbeatTicks : Math.floor(electionTicks / 2);
  return { tickMs, electionTicks, heartbeatTicks, idleHeartbeatTicks: Math.max(heartbeatTicks, idle) };
}
