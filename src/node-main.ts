// `govfs node`: one GovFS node per process (or host). One LocalRuntime whose location is the
// node id, lmdb storage in its data folder, and a TCP bridge that links it to the other nodes
// (authenticated with the cluster secret) and serves clients on the same port. The node root is
// the 'govfs.node' actor at `<id>#/<id>`; every node's root is `<id>#/<id>`, so the whole
// cluster's address map follows from the list of ids.

import { join } from 'node:path';
import type { Logger } from 'pino';
import { nodeBehaviour } from './actors/node.js';
import type { Joined } from './actors/membership-core.js';
import { type Bridge, type BridgeEvent, type BridgeTlsOptions, parseHostPort } from './net/bridge.js';
import { clientGateway, planNodes } from './node-host.js';
import { readKeyFile } from './net/key-file.js';
import { MessageRegistry } from './wire/registry.js';
import { RuntimeError } from './runtime/errors.js';
import { staffingProblem } from './actors/cluster-state.js';
import { RealDispatcher } from './runtime/real-dispatcher.js';
import { LocalRuntime, defaultLogger } from './runtime/runtime.js';
import { PiscinaPool } from './runtime/work-pool-piscina.js';
import { lockDataDir, type DataDirLock } from './runtime/data-lock.js';
import type { JournaledStorage } from './runtime/storage-journal.js';
import { openNodeStorage } from './runtime/storage-node.js';
import { watchEventLoop } from './runtime/loop-lag.js';
import { NODE_CORRUPT_ADVICE, StorageCorruptError, checkFreeSpace, storageFaultMessage } from './runtime/storage-faults.js';
import { checkStorage } from './storage-check/storage-check.js';
import { isCorruptStorageError } from './runtime/sealed.js';
import { faultedNodeBehaviour } from './actors/faulted-node.js';
import { GATEWAY_ACTOR } from './net/client-connection.js';

export interface NodeProcessOptions {
  id: string;
  listen: { host: string; port: number };
  /** The other nodes: id → 'host:port'. */
  peers: Record<string, string>;
  dataDir: string;
  /** The cluster secret (at least 16 bytes), the same on every node. */
  secret: Uint8Array;
  clientToken?: Uint8Array;
  /** TLS on the node's port: links to the other nodes check certificates both ways against
   * `ca`; clients check this node's certificate against the same CA (CLI: --tls-cert,
   * --tls-key, --tls-ca). */
  tls?: BridgeTlsOptions;
  /** This node joins a running cluster (`govfs node add`): it is none of the nodes the
   * cluster started with, which `peers` lists (with any added since). */
  join?: boolean;
  /** Static extra ministries (must be the same on every node). */
  ministries?: { subtree: string; clerks: number }[];
  logger?: Logger;
  onBridgeEvent?: (e: BridgeEvent) => void;
  /** Told, once, when the node's storage fails while it runs (default: a line on stderr). */
  onStorageFault?: (message: string, error: RuntimeError) => void;
}

const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** 'n1=host:port,n2=host:port' → { n1: 'host:port', ... } (checked). */
export function parsePeers(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new RuntimeError('EINVAL', `bad peer "${part}": want ID=host:port (e.g. n2=10.0.0.2:7401)`);
    const id = part.slice(0, eq);
    const address = part.slice(eq + 1);
    if (!ID_RE.test(id)) throw new RuntimeError('EINVAL', `bad node id "${id}" (letters, digits, _ . - only)`);
    parseHostPort(address);
    if (out[id] !== undefined && out[id] !== address) throw new RuntimeError('EINVAL', `node ${id} is given twice in --peers`);
    out[id] = address;
  }
  return out;
}

/** The cluster secret from a file: its bytes, without a trailing newline; at least 16 bytes. */
export function readSecretFile(file: string, what = 'secret'): Uint8Array {
  return readKeyFile(file, what);
}

/** A failed commit (full disk, I/O error) or a stored value that fails its checksum, found by
 * any actor of the node, makes the storage unusable; `onFault` hears of it once. */
function watchStorage(runtime: LocalRuntime, storage: JournaledStorage, onFault: (e: RuntimeError) => void): void {
  storage.onFault(onFault);
  runtime.onActorFailure = (_path, error) => {
    if (isCorruptStorageError(error)) storage.fail(error);
    else if (error instanceof RuntimeError && (error.code === 'ENOSPC' || error === storage.fault)) storage.fail(error);
  };
}

export class NodeProcess {
  private constructor(
    readonly id: string,
    readonly runtime: LocalRuntime,
    readonly bridge: Bridge,
    private readonly storage: JournaledStorage,
    private readonly lock: DataDirLock,
    readonly nodeIds: string[],
    private readonly stopLagWatch: () => void,
  ) {}

  static async start(opts: NodeProcessOptions): Promise<NodeProcess> {
    const id = opts.id;
    if (!ID_RE.test(id)) throw new RuntimeError('EINVAL', `bad node id "${id}" (letters, digits, _ . - only)`);
    const peers = { ...opts.peers };
    delete peers[id]; // the same --peers list may be given to every node
    const nodeIds = [id, ...Object.keys(peers)].sort();
    const staffing = opts.join ? null : staffingProblem(nodeIds.length, opts.ministries ?? []);
    if (staffing) {
      throw new RuntimeError('EINVAL', staffing.needed ? `${staffing.message} (this node and its --peers): add peers, or give fewer clerks` : staffing.message);
    }
    const { addresses, configs } = planNodes(nodeIds, { kind: 'process' }, { ministries: opts.ministries });
    const logger = opts.logger ?? defaultLogger();
    const runtime = new LocalRuntime({ location: id, dispatcher: new RealDispatcher(), registry: MessageRegistry.standard(), logger });
    // Snapshots are built off the actors' thread, in workers that load the same actor modules.
    runtime.pool = new PiscinaPool([new URL(`./actors/node${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href]);
    const lock = lockDataDir(opts.dataDir, `govfs node ${id}`);
    let storage: JournaledStorage;
    try {
      // Refuse, with a message that says what to do, rather than crash or serve from a
      // damaged file or die on the first write to a full disk.
      checkFreeSpace(opts.dataDir, `govfs node ${id}`);
      await checkStorage(opts.dataDir);
      // Its lmdb environment, made durable by its journal beside it (storage-node.ts).
      storage = openNodeStorage(opts.dataDir);
    } catch (e) {
      lock.release();
      throw e;
    }
    const bridge = clientGateway(runtime, addresses, {
      node: id, secret: opts.secret, peers, listen: opts.listen, clientToken: opts.clientToken, tls: opts.tls, logger, onBridgeEvent: opts.onBridgeEvent,
    });
    try {
      await bridge.start();
    } catch (e) {
      await storage.close();
      lock.release();
      throw e;
    }
    // A joining node starts from the cluster's first configuration, of which it is no voter:
    // it campaigns for nothing and waits for the president to bring it in (membership-core.ts).
    const base = opts.join ? { ...configs.get(id)!, nodes: nodeIds.filter((n) => n !== id) } : configs.get(id)!;
    // Each node's host, so that re-replication spreads a chunk's copies across hosts.
    const config = { ...base, hosts: hostsOf({ ...peers, [id]: opts.peers[id] ?? `${opts.listen.host}:${opts.listen.port}` }) };
    // Nodes added at runtime are dialed at the endpoint their memberJoin order gave; removed
    // ones are refused (their links close, their Hellos are answered with why).
    const members = (joined: readonly Joined[], removed: ReadonlySet<string>): void => {
      for (const j of joined) if (j.node !== id && j.endpoint !== '' && peers[j.node] === undefined) {
        peers[j.node] = j.endpoint;
        bridge.connect(j.node, j.endpoint);
      }
      for (const r of removed) if (r !== id) bridge.refusePeer(r, `node ${r} was removed from the cluster (govfs node remove): refused by ${id}`);
    };
    let running = false;
    const onFault = (e: RuntimeError): void => {
      if (!running) return; // found while starting: start() refuses below
      const message = storageFaultMessage(opts.dataDir, e);
      (opts.onStorageFault ?? ((m: string) => process.stderr.write(`govfs node ${id}: ${m}\n`)))(message, e);
      // Out of the failing actor's turn: stop the node's actors, and answer clients with why (their
      // connections, actors under the gateway actor, stay).
      setImmediate(() => {
        for (const cell of [...runtime.cells.values()]) if (!cell.parent && cell.path !== `/${GATEWAY_ACTOR}`) cell.stop();
        runtime.spawnRoot(id, () => faultedNodeBehaviour(id, message), { host: id });
      });
    };
    watchStorage(runtime, storage, onFault);
    runtime.spawnRoot(id, () => nodeBehaviour(config, { members }), { host: id, storage });
    if (storage.fault) {
      // Its stored state did not load (e.g. a snapshot that does not restore).
      runtime.stopAll();
      await bridge.stop();
      await storage.close();
      lock.release();
      const f = storage.fault;
      throw isCorruptStorageError(f) ? new StorageCorruptError(join(opts.dataDir, 'data.mdb'), f.message, NODE_CORRUPT_ADVICE) : f;
    }
    running = true;
    return new NodeProcess(id, runtime, bridge, storage, lock, nodeIds, watchEventLoop(logger.child({ node: id })));
  }

  get address(): string {
    const a = this.bridge.address;
    return a ? `${a.host}:${a.port}` : '';
  }

  /** Stop the node's actors, close links and storage. */
  async stop(): Promise<void> {
    this.stopLagWatch();
    this.runtime.stopAll();
    await this.bridge.stop();
    await this.storage.close();
    await this.runtime.pool.close();
    this.lock.release();
  }
}

/** The host part of each node's 'host:port' (an IPv6 address keeps its brackets). */
function hostsOf(endpoints: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(endpoints).map(([n, e]) => [n, e.replace(/:\d+$/, '')]));
}
