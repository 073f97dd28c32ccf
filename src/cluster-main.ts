// `govfs cluster`: a whole GovFS cluster in one process, a thin wrapper over
// `Cluster.start({ scheduler: 'threads', listen })` (cluster.ts; placement, storage checks and
// the client gateway are node-host.ts's). What it adds is the CLI's view of a data folder:
//
// DIR/govfs-cluster.json remembers the cluster's shape (node count, static ministries), so that
// starting it again on the same folder brings the same file system back, and starting it with
// another shape is refused instead of confusing the stored logs.

import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LogSettings } from './runtime/log.js';
import { nodesNeeded, staffingProblem } from './actors/cluster-state.js';
import { Cluster } from './cluster.js';
import type { BridgeEvent, BridgeTlsOptions } from './net/bridge.js';
import { RuntimeError } from './runtime/errors.js';

export interface LocalClusterOptions {
  /** Nodes (default: as stored in `dataDir`, else 5). */
  nodes?: number;
  /** Worker threads (default: min(nodes, cores)). */
  threads?: number;
  dataDir: string;
  /** Static extra ministries, e.g. [{ subtree: '/a', clerks: 2 }] (default: as stored). */
  ministries?: { subtree: string; clerks: number }[];
  /** Where clients connect (default 127.0.0.1:7400; port 0 picks a free one). */
  listen?: { host: string; port: number };
  /** Clients must prove this token (default: none needed). */
  clientToken?: Uint8Array;
  /** Serve clients over TLS with this certificate and key (clients check it against their CA;
   * CLI: --tls-cert, --tls-key, and --tls-ca on the client). */
  tls?: BridgeTlsOptions;
  logger?: Logger;
  /** How the worker threads log (--log, --log-file). */
  log?: LogSettings;
  onBridgeEvent?: (e: BridgeEvent) => void;
  /** Bytes per chunk of new files (default 4 MiB; `govfs restore` gives a backup's). */
  chunkBytes?: number;
}

export interface ClusterShape {
  version: 1;
  nodes: number;
  ministries: { subtree: string; clerks: number }[];
}

export const SHAPE_FILE = 'govfs-cluster.json';

/** The shape stored in `dataDir`, or null for a new folder. */
export function readShape(dataDir: string): ClusterShape | null {
  const file = join(dataDir, SHAPE_FILE);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClusterShape;
  } catch (e) {
    throw new RuntimeError('EINVAL', `${file} is not readable JSON (${(e as Error).message}): fix or remove it`);
  }
}

function sameMinistries(a: ClusterShape['ministries'], b: ClusterShape['ministries']): boolean {
  const key = (m: ClusterShape['ministries']) => JSON.stringify([...m].map((x) => [x.subtree, x.clerks]).sort());
  return key(a) === key(b);
}

export class LocalCluster {
  readonly nodeIds: string[];
  readonly addresses: Record<string, string>;
  readonly dataDir: string;
  readonly shape: ClusterShape;
  readonly threads: number;
  private constructor(
    /** The cluster itself (clients in this process: `cluster.client()`; status). */
    readonly cluster: Cluster,
    init: { dataDir: string; shape: ClusterShape },
  ) {
    this.nodeIds = cluster.nodeIds;
    this.addresses = cluster.addresses;
    this.dataDir = init.dataDir;
    this.shape = init.shape;
    this.threads = cluster.threadCount;
  }

  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const dataDir = resolve(opts.dataDir);
    const stored = readShape(dataDir);
    const ministries = opts.ministries ?? stored?.ministries ?? [];
    // Without --nodes, enough nodes for the static ministries (and at least 5).
    const nodes = opts.nodes ?? stored?.nodes ?? Math.max(5, nodesNeeded(ministries));
    if (!Number.isInteger(nodes) || nodes < 1) throw new RuntimeError('EINVAL', `--nodes must be a positive integer, got ${nodes}`);
    const staffing = staffingProblem(nodes, ministries);
    if (staffing) throw new RuntimeError('EINVAL', staffing.needed ? `${staffing.message}. Start with --nodes ${staffing.needed} (or leave --nodes out), or give fewer clerks` : staffing.message);
    if (stored) {
      if (stored.nodes !== nodes) {
        throw new RuntimeError('EINVAL', `${dataDir} holds a cluster of ${stored.nodes} nodes, not ${nodes}: start it with --nodes ${stored.nodes}, or use another --data folder`);
      }
      if (!sameMinistries(stored.ministries, ministries)) {
        const fmt = (m: ClusterShape['ministries']) => (m.length ? m.map((x) => `${x.subtree}:${x.clerks}`).join(' ') : '(none)');
        throw new RuntimeError('EINVAL', `${dataDir} holds a cluster with static ministries ${fmt(stored.ministries)}, not ${fmt(ministries)}: leave out --ministry to use the stored ones, or use another --data folder`);
      }
    }
    const shape: ClusterShape = { version: 1, nodes, ministries };
    const threads = opts.threads ?? Math.max(1, Math.min(nodes, availableParallelism()));
    if (!Number.isInteger(threads) || threads < 1) throw new RuntimeError('EINVAL', `--threads must be a positive integer, got ${threads}`);
    const cluster = await Cluster.start({
      scheduler: 'threads',
      nodes,
      threads,
      dataDir,
      ministries,
      // A fresh seed per start, as actors' random numbers on real threads were before.
      seed: randomInt(2 ** 32),
      listen: opts.listen ?? { host: '127.0.0.1', port: 7400 },
      clientToken: opts.clientToken,
      tls: opts.tls,
      logger: opts.logger,
      log: opts.log,
      onBridgeEvent: opts.onBridgeEvent,
      chunkBytes: opts.chunkBytes,
      owner: 'govfs cluster',
      // The CLI says when it serves (servers.ts); a caller here may want the socket at once.
      waitForReady: false,
    });
    try {
      writeFileSync(join(dataDir, SHAPE_FILE), `${JSON.stringify(shape, null, 2)}\n`);
    } catch (e) {
      await cluster.stop({ abrupt: true });
      throw e;
    }
    return new LocalCluster(cluster, { dataDir, shape });
  }

  /** 'host:port' clients connect to. */
  get address(): string {
    return this.cluster.address;
  }

  get clientsConnected(): number {
    return this.cluster.clientsConnected;
  }

  /** Close client connections, stop every node (storage closed cleanly), end the threads. */
  async stop(): Promise<void> {
    await this.cluster.stop();
  }
}
