// The options of a cluster started in one place (Cluster.start, cluster.ts): under the
// simulator or on worker threads.

import type { Logger } from 'pino';
import type { RepairOptions } from './actors/replica-repair-core.js';
import type { BalanceOptions } from './actors/balancer.js';
import type { WriteBalanceOptions } from './actors/write-balancer.js';
import type { BridgeEvent, BridgeTlsOptions } from './net/bridge.js';
import type { LogSettings } from './runtime/log.js';
import type { SimCpuOptions, SimFsyncOptions, SimMachine, SimNetworkOptions, SimOptions } from './runtime/sim.js';

export interface ClusterOptions {
  /** Number of nodes (default 5): one president, a root ministry of a minister and two clerks, the rest idle. */
  nodes?: number;
  scheduler?: 'sim' | 'threads';
  /** Seed of the simulation (sim) or of the actors' random numbers (threads). */
  seed?: number;
  /** Where nodes keep their lmdb storage (threads; default ./govfs-data). */
  dataDir?: string;
  /** Static extra ministries, e.g. [{ subtree: '/a', clerks: 2 }]. */
  ministries?: { subtree: string; clerks: number }[];
  /** Clerks of the root ministry (default 2). */
  rootClerks?: number;
  /** Worker threads (threads; default: number of cores). */
  threads?: number;
  /** The simulated network (sim). */
  network?: Partial<SimNetworkOptions>;
  /** Bound on simulated clock drift, ppm (sim). */
  maxDriftPpm?: number;
  /** Simulated fsyncs: latency, slow ones, failing ones (sim). */
  fsync?: Partial<SimFsyncOptions>;
  /** Modeled CPU: the service time of each message type at the node it reaches (sim; see
   * SimOptions.cpu). Without it simulated nodes are never busy. */
  cpu?: SimCpuOptions;
  /** Nodes that share a machine's cores (sim; see SimOptions.machines): their load reports
   * carry the machine's CPU, as real nodes on one machine's worker threads do. */
  machines?: SimMachine[];
  /** How often members measure their load and the president asks for it (default 1 s), and
   * the read balancer's thresholds (thesis 3.4: 95% / 85%). */
  loadEveryMs?: number;
  balance?: BalanceOptions;
  /** A split or merge that makes no progress this long is aborted (default 30 s). */
  migrationTimeoutMs?: number;
  /** Write balancing: a minister saturated by writes has a hot subtree split off, cold split-off
   * ministries are merged back (thresholds: src/actors/write-balancer.ts); false: never. */
  writeBalance?: WriteBalanceOptions | false;
  /** Called for every message the simulated network delivers (sim). */
  onDeliver?: SimOptions['onDeliver'];
  /** The command that replays this run, for the simulation's errors (sim). */
  replay?: string;
  /** Steps after which the simulation counts as livelocked (sim; default unbounded). */
  maxSteps?: number;
  /** A client silent this long loses its sessions and what it held (default 60 s). */
  sessionTtlMs?: number;
  /** Lease duration and the clock drift bound leases allow for (defaults 5 s and 100 ms). */
  leaseTtlMs?: number;
  leaseDriftMs?: number;
  /** File contents (issue 17): bytes per chunk of new files (default 4 MiB), replicas per chunk. */
  chunkBytes?: number;
  chunkReplicas?: number;
  /** Where ministries build their snapshots: 'off-thread' (in a worker pool, replaying the log
   * since the last one: no stall of the actor thread, but about ten times the CPU) or
   * 'on-thread' (encoded by the actor thread: a stall of about 5 ms per MB of namespace).
   * Default on threads: off the thread where the machine has a core beyond the worker threads
   * and the main thread, else on it. Measured on 2 cores (bench meta --quick, 1 worker thread):
   * pool builds cost 40% of the pipelined creates (12,000/s against 18,700-19,100/s), since
   * they ran on the cores the actors use; they only avoid a stall where a core is free. */
  snapshots?: 'off-thread' | 'on-thread';
  /** Compact each log (the cluster log, each ministry's) after this many applied entries
   * (default 10,000), once they also hold 4 times the last snapshot's bytes. */
  snapshotEntries?: number;
  /** Re-replication's rate limits and down detection (NodeConfig.repair). */
  repair?: RepairOptions;
  tickMs?: number;
  /** Cluster log election timeout and the president's failure timeout (NodeConfig). Under
   * `sim` they default to 100 ms and 400 ms: virtual time has no stalls, and short timeouts
   * keep failovers (and the simulations' fault schedules) quick. Real threads get the
   * NodeConfig defaults, sized for the stalls of a busy machine. */
  electionMs?: number;
  probeMs?: number;
  failAfterMs?: number;
  /** Forget a client's exactly-once record after this long without requests (default 10 min). */
  clientTtlMs?: number;
  /** Where the actors log (default: quiet unless GOVFS_LOG names a level). */
  logger?: Logger;
  /** threads: how every worker thread logs (--log, --log-file; default from GOVFS_LOG). */
  log?: LogSettings;
  /** Wait until the root ministry serves before returning (default true). */
  waitForReady?: boolean;
  /** Serve network clients on 'host:port' (threads only; port 0 picks a free one, see
   * `address`). Without it only `client()` reaches the cluster. */
  listen?: string | { host: string; port: number };
  /** Network clients must prove this token (default: none needed). */
  clientToken?: Uint8Array;
  /** Serve network clients over TLS with this certificate and key. */
  tls?: BridgeTlsOptions;
  onBridgeEvent?: (e: BridgeEvent) => void;
  /** Who holds the data folder (threads), named when another start finds it locked. */
  owner?: string;
}
