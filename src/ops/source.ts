// Where the operator's views (metrics, the web page) read a running cluster from: the status
// every client sees (gatherStatus: NodeProbe and StatusRequest answers), the counters of each
// thread's runtime and rings, and the bridge's. Read only; nothing here changes the cluster.

import { performance } from 'node:perf_hooks';
import type { Cluster } from '../cluster.js';
import { gatherStatus, type ClusterStatusView } from '../client/status.js';
import type { BridgeStats } from '../net/bridge.js';
import type { NodeProcess } from '../node-main.js';
import type { WorkerStats } from '../runtime/thread-worker.js';

/** One thread's runtime: actors, messages sent into / taken out of its rings so far, messages
 * waiting for ring space now and the most ever, times its inbox slept waiting for messages
 * (WorkerStats), and its event loop's busy and idle time so far (ms). */
export interface ThreadSample extends Pick<WorkerStats, 'actors' | 'deadLetters' | 'sent' | 'received' | 'queued' | 'queuedMax' | 'parks'> {
  thread: string;
  activeMs: number;
  idleMs: number;
}

export interface OpsSource {
  /** What the views call this process ('govfs cluster', 'govfs node n1'). */
  readonly name: string;
  /** Nodes whose per-node series this process exports (all of a `govfs cluster`; its own
   * node for a `govfs node`, so that scraping every node gives each series once). */
  readonly localNodes: readonly string[];
  status(): Promise<ClusterStatusView>;
  threads(): Promise<ThreadSample[]>;
  bridge(): BridgeStats | null;
}

/** The main thread's own sample (its event loop; it runs no node actors under `cluster`). */
function mainThread(actors: number, deadLetters: number): ThreadSample {
  const u = performance.eventLoopUtilization();
  return { thread: 'main', actors, deadLetters, sent: 0, received: 0, queued: 0, queuedMax: 0, parks: 0, activeMs: u.active, idleMs: u.idle };
}

/** An in-process cluster (Cluster.start on threads; `govfs cluster`). */
export function clusterSource(cluster: Cluster, name = 'govfs cluster'): OpsSource {
  return {
    name,
    localNodes: cluster.nodeIds,
    status: () => cluster.status(),
    threads: async () => {
      const workers = await cluster.threadStats();
      return [
        ...workers.map((w) => ({ thread: w.location, actors: w.actors, deadLetters: w.deadLetters, sent: w.sent, received: w.received, queued: w.queued, queuedMax: w.queuedMax, parks: w.parks, activeMs: w.activeMs, idleMs: w.idleMs })),
        mainThread(0, 0),
      ];
    },
    bridge: () => cluster.bridgeStats,
  };
}

/** One node of a multi-process cluster (`govfs node`): its own node, and the cluster's status
 * as it sees it (asking its peers over the node links). */
export function nodeSource(node: NodeProcess): OpsSource {
  return {
    name: `govfs node ${node.id}`,
    localNodes: [node.id],
    status: () => gatherStatus(node.nodeIds, (id, msg) => node.runtime.ask(`${id}#/${id}`, msg as never, { timeoutMs: 500 })),
    threads: async () => [mainThread(node.runtime.cells.size, node.runtime.deadLetters)],
    bridge: () => node.bridge.stats,
  };
}
