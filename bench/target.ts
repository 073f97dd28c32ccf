// Where a benchmark runs: a cluster it starts itself (threads scheduler, lmdb in a temporary
// folder), or a running cluster given with `--server host:port` (`govfs bench NAME --server`).

import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../src/cluster.js';
import type { GovClient } from '../src/client/gov-client.js';
import type { ClusterStatusView } from '../src/client/status.js';
import { connect } from '../src/client/connect.js';
import { OpsServer } from '../src/ops/http.js';
import { clusterSource } from '../src/ops/source.js';

/** With metrics on, the cost of `govfs cluster --metrics`: the status poll every second and a
 * scrape of /metrics every second (as a Prometheus with a 1 s scrape interval; its default is
 * 15 s). */
async function startMetrics(cluster: Cluster): Promise<() => Promise<void>> {
  const ops = await OpsServer.start(clusterSource(cluster), { metrics: { host: '127.0.0.1', port: 0 } });
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      await fetch(`http://${ops.addresses.metrics}/metrics`).then((r) => r.text()).catch(() => '');
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();
  return async () => {
    scraping = false;
    await scraper;
    await ops.stop();
  };
}

export interface BenchTarget {
  client(): Promise<GovClient>;
  status(): Promise<ClusterStatusView>;
  close(): Promise<void>;
  describe: string;
  /** Worker threads of an in-process cluster; null for a running one. */
  threads: number | null;
  /** The in-process cluster (absent for a running one), for request tracing. */
  cluster?: Cluster;
  /** Where network clients connect (an in-process cluster started with `listen`), or null. */
  address: string | null;
}

export async function startTarget(o: Record<string, string | boolean | undefined>, local: { nodes: number; ministries?: { subtree: string; clerks: number }[]; metrics?: boolean; listen?: boolean }): Promise<BenchTarget> {
  if (typeof o.server === 'string') {
    const servers = o.server.split(',');
    const clients: { close(): Promise<void> }[] = [];
    const first = await connect(servers);
    clients.push(first);
    return {
      describe: `running cluster at ${o.server}`,
      threads: null,
      address: servers[0]!,
      client: async () => {
        const c = await connect(servers);
        clients.push(c);
        return c;
      },
      status: () => first.status(),
      close: async () => {
        await Promise.all(clients.map((c) => c.close()));
      },
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'govfs-bench-'));
  // The benchmark's clients run on the main thread: leave it a core of its own (measured on
  // 2 cores: one worker thread gives higher throughput and lower latency than two).
  const threads = typeof o.threads === 'string' ? Number(o.threads) : Math.max(1, availableParallelism() - 1);
  const cluster = await Cluster.start({ nodes: local.nodes, scheduler: 'threads', dataDir, ministries: local.ministries, threads, ...(local.listen && { listen: '127.0.0.1:0' }), ...((o.snapshots === 'on-thread' || o.snapshots === 'off-thread') && { snapshots: o.snapshots }) });
  const stopMetrics = local.metrics ? await startMetrics(cluster) : null;
  return {
    describe: `in-process cluster of ${local.nodes} nodes (threads scheduler, ${threads} worker thread${threads === 1 ? '' : 's'}, lmdb with fsync${typeof o.snapshots === 'string' ? `, snapshots ${o.snapshots}` : ''}; clients on the main thread)`,
    threads,
    cluster,
    address: local.listen ? cluster.address : null,
    client: async () => cluster.client(),
    status: () => cluster.status(),
    close: async () => {
      await stopMetrics?.();
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A one-line progress bar on stderr for long sweeps. */
export function progress(total: number): (label: string) => void {
  let done = 0;
  return (label) => {
    done++;
    const width = 24;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label.padEnd(40)}${done === total ? '\n' : ''}`);
  };
}
