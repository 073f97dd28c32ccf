// The one place that decides how GovFS nodes are hosted, whoever starts them: `Cluster.start`
// (sim or threads, in-process or serving network clients), `govfs cluster` (a thin wrapper over
// Cluster.start, cluster-main.ts) and `govfs node` (one node per process, node-main.ts). For a
// set of node ids it gives:
//   - placement: where each node's root actor lives (its address), on a simulated host, a
//     worker thread, or a process of its own;
//   - the NodeConfig of every node (the same cluster-wide settings, its own id);
//   - storage: a node's lmdb environment under a local data folder, checked before opening;
//   - the client gateway: a bridge on a runtime that lets network clients ask the nodes.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CLUSTER_TICK_MS, GROUP_TICK_MS, IDLE_HEARTBEAT_MS, IDLE_PROBE_MS, PRESIDENT_TICK_MS, type NodeConfig } from './actors/node.js';
import { Bridge, type BridgeEvent, type BridgeTlsOptions, parseHostPort } from './net/bridge.js';
import type { LocalRuntime } from './runtime/runtime.js';
import { checkFreeSpace } from './runtime/storage-faults.js';
import { checkStorage } from './storage-check/storage-check.js';
import { localNodeStorage } from './runtime/storage-lmdb.js';

/** Where nodes run: on simulated hosts, spread over worker threads, or one per process. */
export type Placement = { kind: 'sim' } | { kind: 'threads'; threads: number } | { kind: 'process' };

/** The cluster-wide part of every node's NodeConfig. */
export type NodeSettings = Omit<NodeConfig, 'id' | 'nodes' | 'addresses'>;

export interface NodePlan {
  nodeIds: string[];
  /** Node id → the address of its root actor. */
  addresses: Record<string, string>;
  /** Node id → its worker thread (threads placement only). */
  threadOf: Map<string, number>;
  configs: Map<string, NodeConfig>;
}

/** n1 .. n<count>: the ids of a cluster started in one place. */
export function nodeIdsFor(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`);
}

/** Every node's address and config. On threads nodes go round-robin over the threads and a
 * node's location is its thread's (`t<i>`); elsewhere each node is a location of its own. */
export function planNodes(nodeIds: string[], placement: Placement, settings: NodeSettings = {}): NodePlan {
  const threadOf = new Map<string, number>();
  if (placement.kind === 'threads') nodeIds.forEach((id, i) => threadOf.set(id, i % placement.threads));
  const addresses = Object.fromEntries(nodeIds.map((id) => [id, placement.kind === 'threads' ? `t${threadOf.get(id)}#/${id}` : `${id}#/${id}`]));
  // Real nodes heartbeat a quiet log rarely (an idle cluster idles); the simulator keeps every
  // tick's heartbeat, so its runs and seeds stay as they were.
  const idle = placement.kind === 'sim' ? {} : { idleHeartbeatMs: IDLE_HEARTBEAT_MS, probeAnsweredMs: IDLE_PROBE_MS, clusterTickMs: CLUSTER_TICK_MS, groupTickMs: GROUP_TICK_MS, probeMs: PRESIDENT_TICK_MS };
  // (settings may carry probeMs: undefined, which must not undo the real nodes' default.)
  const configs = new Map(nodeIds.map((id) => [id, { ...idle, ...settings, probeMs: settings.probeMs ?? idle.probeMs, id, nodes: nodeIds, addresses } satisfies NodeConfig]));
  return { nodeIds, addresses, threadOf, configs };
}

/** Whether ministries on `threads` worker threads build snapshots on their actor thread
 * (ClusterOptions.snapshots): as asked, else only where no core is left beside the worker
 * threads and the main thread for the pool, whose builds would then take CPU from the actors
 * (about ten times what the thread's own encode takes) without sparing them a stall. */
export function snapshotsOnThread(asked: 'on-thread' | 'off-thread' | undefined, cores: number, threads: number): boolean {
  return asked === undefined ? cores <= threads + 1 : asked === 'on-thread';
}

/** Refuse to start on a full disk or a damaged lmdb file (see src/storage-check/), before any
 * thread opens one: every environment the nodes of `dataDir` use (shared or their own). */
export async function checkLocalStorage(dataDir: string, nodeIds: string[], who: string): Promise<void> {
  checkFreeSpace(dataDir, who);
  const advice = `stop the cluster and move ${dataDir} aside: its file system state cannot be trusted (a cluster whose nodes share one machine keeps no other copy of it)`;
  const envs = new Map<string, boolean>();
  for (const id of nodeIds) {
    const { storageDir, storageName } = localNodeStorage(dataDir, id);
    envs.set(storageDir, storageName !== undefined);
  }
  for (const [dir, shared] of envs) await checkStorage(dir, { shared, advice });
}

/** Where to listen: 'host:port', '[v6]:port', or a bare port on 127.0.0.1; port 0 picks any
 * free one (which a peer address may not). */
export function parseListen(spec: string): { host: string; port: number } {
  if (/^\d+$/.test(spec)) return { host: '127.0.0.1', port: Number(spec) };
  const i = spec.lastIndexOf(':');
  if (i > 0 && spec.slice(i + 1) === '0') return { host: spec.slice(0, i).replace(/^\[|\]$/g, ''), port: 0 };
  return parseHostPort(spec);
}

export interface GatewayOptions {
  listen: { host: string; port: number };
  /** Clients must prove this token (default: none needed). */
  clientToken?: Uint8Array;
  /** TLS for clients (and, with peers, for node links). */
  tls?: BridgeTlsOptions;
  logger?: Logger;
  onBridgeEvent?: (e: BridgeEvent) => void;
}

/**
 * The bridge through which network clients reach the nodes at `addresses`, installed on
 * `runtime`. `node` is the id clients are told they reached ('' for a gateway in front of a
 * whole cluster). With `peers` (and the cluster `secret`) the same bridge links this node to the
 * others; without them it serves clients only, and the secret guards an unused peer role.
 */
export function clientGateway(
  runtime: LocalRuntime,
  addresses: Record<string, string>,
  opts: GatewayOptions & { node?: string; secret?: Uint8Array; peers?: Record<string, string> },
): Bridge {
  // (Nodes added at runtime join `addresses`: the set follows it.)
  let targets = new Set(Object.values(addresses));
  const allowTarget = (to: string): boolean => {
    if (targets.size !== Object.keys(addresses).length) targets = new Set(Object.values(addresses));
    return targets.has(to);
  };
  return new Bridge({
    runtime,
    secret: opts.secret ?? randomBytes(32),
    listen: opts.listen,
    ...(opts.peers && { peers: opts.peers, reconnect: { minMs: 50, maxMs: 1000 } }),
    tls: opts.tls,
    logger: opts.logger,
    onEvent: opts.onBridgeEvent,
    clients: { token: opts.clientToken, allowTarget, welcome: () => ({ nodes: addresses, node: opts.node ?? '' }) },
  }).install();
}

/** 'host:port' of a listening bridge ('[v6]:port' for IPv6), or '' before it listens. */
export function bridgeAddress(bridge: Bridge): string {
  const a = bridge.address;
  if (!a) return '';
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
