// `govfs cluster`: a whole GovFS cluster in one process. The main thread runs the threads
// scheduler (one LocalRuntime per worker thread, nodes placed round-robin on them, each with
// lmdb storage under DIR/<node id>) and a TCP bridge on its own runtime ("main") that serves
// clients only: a client's request to `t1#/n2` arrives on main and goes on through the rings;
// the node's reply, addressed to the client's location, comes back to main (workers send
// locations they do not know to main) and out over the client's connection.
//
// DIR/govfs-cluster.json remembers the cluster's shape (node count, static ministries), so that
// starting it again on the same folder brings the same file system back, and starting it with
// another shape is refused instead of confusing the stored logs.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { lockDataDir, type DataDirLock } from './runtime/data-lock.js';
import { localNodeStorage } from './runtime/storage-lmdb.js';
import { checkFreeSpace, checkStorage } from './runtime/storage-check.js';
import type { Logger } from 'pino';
import type { NodeConfig } from './actors/node.js';
import { nodesNeeded, staffingProblem } from './actors/cluster-state.js';
import { Bridge, type BridgeEvent, type BridgeTlsOptions } from './net/bridge.js';
import { RuntimeError } from './runtime/errors.js';
import { ThreadsScheduler } from './runtime/threads.js';

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
  onBridgeEvent?: (e: BridgeEvent) => void;
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

/** Refuse to start on a full disk or a damaged lmdb file (see storage-check.ts), before any
 * thread opens one. */
async function checkClusterStorage(dataDir: string, nodes: number): Promise<void> {
  checkFreeSpace(dataDir, 'govfs cluster');
  const advice = `stop the cluster and move ${dataDir} aside: its file system state cannot be trusted (a cluster whose nodes share one machine keeps no other copy of it)`;
  const envs = new Map<string, boolean>();
  for (let i = 1; i <= nodes; i++) {
    const { storageDir, storageName } = localNodeStorage(dataDir, `n${i}`);
    envs.set(storageDir, storageName !== undefined);
  }
  for (const [dir, shared] of envs) await checkStorage(dir, { shared, advice });
}

export class LocalCluster {
  readonly nodeIds: string[];
  readonly addresses: Record<string, string>;
  readonly dataDir: string;
  readonly shape: ClusterShape;
  readonly threads: number;
  private constructor(
    private readonly sched: ThreadsScheduler,
    private readonly bridge: Bridge,
    private readonly lock: DataDirLock,
    init: { nodeIds: string[]; addresses: Record<string, string>; dataDir: string; shape: ClusterShape; threads: number },
  ) {
    this.nodeIds = init.nodeIds;
    this.addresses = init.addresses;
    this.dataDir = init.dataDir;
    this.shape = init.shape;
    this.threads = init.threads;
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

    const lock = lockDataDir(dataDir, 'govfs cluster'); // creates the folder if needed
    try {
      await checkClusterStorage(dataDir, nodes);
    } catch (e) {
      lock.release();
      throw e;
    }
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    let sched: ThreadsScheduler;
    try {
      sched = await ThreadsScheduler.start({ threads, logger: opts.logger, modules: [new URL(`./actors/node${ext}`, import.meta.url)] });
    } catch (e) {
      lock.release();
      throw e;
    }
    const nodeIds = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
    const threadOf = (i: number) => i % threads;
    const addresses = Object.fromEntries(nodeIds.map((id, i) => [id, `t${threadOf(i)}#/${id}`]));
    const targets = new Set(Object.values(addresses));
    const listen = opts.listen ?? { host: '127.0.0.1', port: 7400 };
    const bridge = new Bridge({
      runtime: sched.runtime,
      // No peers: the secret only guards the (unused) peer role.
      secret: randomBytes(32),
      listen,
      tls: opts.tls,
      logger: opts.logger,
      onEvent: opts.onBridgeEvent,
      clients: { token: opts.clientToken, allowTarget: (to) => targets.has(to), welcome: () => ({ nodes: addresses, node: '' }) },
    }).install();
    try {
      await bridge.start();
      writeFileSync(join(dataDir, SHAPE_FILE), `${JSON.stringify(shape, null, 2)}\n`);
      for (let i = 0; i < nodes; i++) {
        const id = nodeIds[i]!;
        const config: NodeConfig = { id, nodes: nodeIds, addresses, ministries };
        await sched.spawnRoot(id, { behaviour: 'govfs.node', args: config }, { thread: threadOf(i), ...localNodeStorage(dataDir, id) });
      }
    } catch (e) {
      await bridge.stop({ abrupt: true }).catch(() => {});
      await sched.stop();
      lock.release();
      throw e;
    }
    return new LocalCluster(sched, bridge, lock, { nodeIds, addresses, dataDir, shape, threads });
  }

  /** 'host:port' clients connect to. */
  get address(): string {
    const a = this.bridge.address;
    if (!a) return '';
    return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  }

  get clientsConnected(): number {
    return this.bridge.stats.clientsOpen;
  }

  /** Close client connections, stop every node (storage closed cleanly), end the threads. */
  async stop(): Promise<void> {
    await this.bridge.stop();
    await this.sched.stop();
    this.lock.release();
  }
}
