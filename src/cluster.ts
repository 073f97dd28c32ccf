// The in-process Cluster API (issue 4, item 9): start a whole GovFS cluster on either scheduler,
// get clients, read its status, and inject faults. The same script runs on both:
//
//   const cluster = await Cluster.start({ nodes: 5, scheduler: 'sim', seed: 7 });
//   const fs = cluster.client();
//   await fs.mkdir('/a'); await fs.create('/a/f'); await fs.ls('/a');
//   cluster.kill('n2'); await cluster.restart('n2'); await cluster.stop();
//
// Under `sim`, awaiting a client call advances virtual time as far as needed; under `threads`
// nodes run on worker threads with lmdb storage under `dataDir`, and with `listen` the cluster
// also serves network clients (`connect()`, the govfs CLI): `govfs cluster` is this. Node ids,
// configs, placement, storage checks and the client gateway come from node-host.ts.

import { availableParallelism } from 'node:os';
import { balanceRequest, gatherStatus, type ClusterStatusView, type MigrationStatus, type MinistryStatus, type NodeStatus } from './client/status.js';
import { lockDataDir, type DataDirLock } from './runtime/data-lock.js';
import { localNodeStorage } from './runtime/storage-lmdb.js';
import type { Bridge, BridgeStats } from './net/bridge.js';
import { storedMembers, type StoredMembers } from './cluster-members.js';
import { bridgeAddress, checkLocalStorage, clientGateway, nodeIdsFor, parseListen, planNodes, snapshotsOnThread } from './node-host.js';
import { GovClient, type ClientTransport, type GovClientOptions } from './client/gov-client.js';
import { memberRequest } from './client/members.js';
import { ministryCopyRequest, type MinistryCopyAnswer } from './client/ministry-copy.js';
import { nodeBehaviour, type NodeConfig } from './actors/node.js';
import { RuntimeError } from './runtime/errors.js';
import { staffingProblem } from './actors/cluster-state.js';
import { SeedTree, type SeededRandom } from './runtime/random.js';
import type { LocalRuntime } from './runtime/runtime.js';
import { Simulation } from './runtime/sim.js';
import { ThreadsScheduler } from './runtime/threads.js';
import type { ClusterOptions } from './cluster-options.js';
import type { WorkerStats } from './runtime/thread-worker.js';


export type { ClusterOptions, ClusterStatusView, MigrationStatus, MinistryStatus, NodeStatus };

/** Timeouts under the simulator (see ClusterOptions.electionMs). */
const SIM_ELECTION_MS = 100;
const SIM_FAIL_AFTER_MS = 400;
/** How long a membership request waits to be done before it is sent again (Cluster.membership). */
const MEMBER_RESEND_MS = 3_000;

export class Cluster {
  readonly nodeIds: string[];
  /** Which scheduler runs the nodes: 'sim' exactly when there is a simulation. */
  get scheduler(): 'sim' | 'threads' {
    return this.sim ? 'sim' : 'threads';
  }
  /** The simulation (sim scheduler only), for invariant checks and fine-grained faults. */
  readonly sim: Simulation | null;
  private readonly threads: ThreadsScheduler | null;
  /** The threads scheduler (null under sim), for request tracing (`bench trace-create`). */
  get threadsScheduler(): ThreadsScheduler | null {
    return this.threads;
  }
  private readonly configs: Map<string, NodeConfig>;
  private readonly threadOf = new Map<string, number>();
  private readonly dataDir: string | null;
  private readonly clientRuntime: LocalRuntime;
  private readonly clients = new Map<string, GovClient>();
  private readonly random: SeededRandom;
  private clientCount = 0;
  private pending = 0;
  private pumping = false;
  /** Rejected when the simulation fails for good (sim.failure). */
  private readonly simFailed = rejectable();
  private readonly down = new Set<string>();
  /** The nodes the cluster started with: the cluster log's first configuration, which a node
   * added later starts from too (it is no voter of it, so it waits to be brought in). */
  private readonly initialIds: string[];
  /** Nodes removed with removeNode(); their ids are not used again. */
  private readonly removedIds = new Set<string>();
  /** The data folder's lock (threads scheduler), given up by stop(). */
  private lock: DataDirLock | null = null;
  /** The bridge serving network clients (threads with `listen`). */
  private gateway: Bridge | null = null;

  private constructor(opts: {
    nodeIds: string[];
    sim: Simulation | null;
    threads: ThreadsScheduler | null;
    configs: Map<string, NodeConfig>;
    dataDir: string | null;
    clientRuntime: LocalRuntime;
    seed: number;
  }) {
    // (A copy: nodes added and removed change it, never the first configuration that every
    // node's config holds.)
    this.nodeIds = [...opts.nodeIds];
    this.initialIds = [...opts.nodeIds];
    this.sim = opts.sim;
    this.threads = opts.threads;
    this.configs = opts.configs;
    this.dataDir = opts.dataDir;
    this.clientRuntime = opts.clientRuntime;
    this.random = new SeedTree(opts.seed).stream('clients');
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const n = opts.nodes ?? 5;
    if (!Number.isInteger(n) || n < 1) throw new RuntimeError('EINVAL', `nodes must be a positive integer, got ${n}`);
    const staffing = staffingProblem(n, opts.ministries ?? [], opts.rootClerks ?? 2, opts.waitForReady ?? true);
    if (staffing) throw new RuntimeError('EINVAL', staffing.needed ? `${staffing.message} (start more nodes, or configure fewer clerks)` : staffing.message);
    const scheduler = opts.scheduler ?? 'sim';
    const seed = opts.seed ?? 1;
    const nodeIds = nodeIdsFor(n);
    const virtual = scheduler === 'sim';
    const electionMs = opts.electionMs ?? (virtual ? SIM_ELECTION_MS : undefined);
    const failAfterMs = opts.failAfterMs ?? (virtual ? SIM_FAIL_AFTER_MS : undefined);
    const base = { rootClerks: opts.rootClerks, ministries: opts.ministries, tickMs: opts.tickMs, electionMs, probeMs: opts.probeMs, failAfterMs, clientTtlMs: opts.clientTtlMs, leaseTtlMs: opts.leaseTtlMs, leaseDriftMs: opts.leaseDriftMs, sessionTtlMs: opts.sessionTtlMs, loadEveryMs: opts.loadEveryMs, balance: opts.balance, chunkBytes: opts.chunkBytes, chunkReplicas: opts.chunkReplicas, snapshotsOnThread: opts.snapshots === 'on-thread', repair: opts.repair, migrationTimeoutMs: opts.migrationTimeoutMs, writeBalance: opts.writeBalance, snapshotEntries: opts.snapshotEntries };
    let cluster: Cluster;
    if (scheduler !== 'threads' && (opts.listen !== undefined || opts.tls || opts.clientToken)) {
      throw new RuntimeError('EINVAL', 'listen (and clientToken, tls) serve network clients on the threads scheduler only');
    }
    if (scheduler === 'sim') {
      const sim = new Simulation({ seed, network: opts.network, maxDriftPpm: opts.maxDriftPpm, fsync: opts.fsync, replay: opts.replay, onDeliver: opts.onDeliver, maxSteps: opts.maxSteps, cpu: opts.cpu, machines: opts.machines, ...(opts.logger && { logger: opts.logger }) });
      const { configs } = planNodes(nodeIds, { kind: 'sim' }, base);
      for (const [id, config] of configs) sim.addHost(id, () => nodeBehaviour(config));
      // Clients live on a host of their own, so their requests cross the simulated network.
      let self: Cluster | null = null;
      const clientsHost = sim.addHost('clients', () => ({ receive: (_ctx, msg) => self?.toClient(msg) }));
      cluster = new Cluster({ nodeIds, sim, threads: null, configs, dataDir: null, clientRuntime: clientsHost.runtime, seed });
      self = cluster;
    } else {
      cluster = await Cluster.startThreads(opts, seed, nodeIds, base);
    }
    if (opts.waitForReady ?? true) {
      const ok = await cluster.waitFor(async () => {
        const st = await cluster.status().catch(() => null);
        const root = st?.ministries.find((m) => m.subtree === '/');
        return !!root && !root.down && (opts.ministries ?? []).every((x) => st!.ministries.some((m) => m.subtree === x.subtree));
      }, 60_000);
      if (!ok) {
        await cluster.stop();
        throw new RuntimeError('ETIMEDOUT', 'the cluster did not form its ministries within 60 s');
      }
    }
    return cluster;
  }

  /** Nodes on worker threads over lmdb storage in `dataDir` (checked before any is opened),
   * and, with `listen`, a client gateway on the main thread's runtime: a client's request to
   * `t1#/n2` arrives there and goes on through the rings; the reply comes back the same way. */
  private static async startThreads(opts: ClusterOptions, seed: number, nodeIds: string[], settings: Omit<NodeConfig, 'id' | 'nodes' | 'addresses'>): Promise<Cluster> {
    const dataDir = opts.dataDir ?? 'govfs-data';
    const owner = opts.owner ?? 'Cluster.start';
    const listen = typeof opts.listen === 'string' ? parseListen(opts.listen) : opts.listen;
    const lock = lockDataDir(dataDir, owner); // creates the folder if needed
    let threads: ThreadsScheduler;
    let stored: StoredMembers | null;
    try {
      await checkLocalStorage(dataDir, nodeIds, owner);
      // Nodes added and removed before a restart: the stored cluster log says which.
      stored = await storedMembers(dataDir, nodeIds);
      const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
      threads = await ThreadsScheduler.start({ threads: opts.threads, seed, logger: opts.logger, log: opts.log, modules: [new URL(`./actors/node${ext}`, import.meta.url)] });
    } catch (e) {
      lock.release();
      throw e;
    }
    const onThread = snapshotsOnThread(opts.snapshots, availableParallelism(), threads.threads);
    const plan = planNodes(nodeIds, { kind: 'threads', threads: threads.threads }, { ...settings, snapshotsOnThread: onThread });
    let self: Cluster | null = null;
    threads.runtime.spawnRoot('clients', () => ({ receive: (_ctx, msg) => self?.toClient(msg) }));
    const cluster = new Cluster({ nodeIds, sim: null, threads, configs: plan.configs, dataDir, clientRuntime: threads.runtime, seed });
    cluster.lock = lock;
    self = cluster;
    for (const [id, t] of plan.threadOf) cluster.threadOf.set(id, t);
    try {
      if (stored) cluster.rejoin(stored);
      if (listen) {
        cluster.gateway = clientGateway(threads.runtime, plan.addresses, { listen, clientToken: opts.clientToken, tls: opts.tls, logger: opts.logger, onBridgeEvent: opts.onBridgeEvent });
        await cluster.gateway.start();
      }
      for (const id of cluster.nodeIds) await cluster.spawnNode(id);
    } catch (e) {
      await cluster.stop({ abrupt: true });
      throw e;
    }
    return cluster;
  }

  /** Start from the membership a data folder's cluster log holds: removed nodes stay down, and
   * nodes added at runtime come back on the thread their address names (the cluster log
   * holds that address, and the other nodes reach them there). */
  private rejoin(stored: StoredMembers): void {
    const threads = this.threads!;
    const base = this.configs.get(this.initialIds[0]!)!;
    for (const id of stored.removed) {
      this.removedIds.add(id);
      const i = this.nodeIds.indexOf(id);
      if (i >= 0) this.nodeIds.splice(i, 1);
    }
    for (const j of stored.joined) {
      if (this.nodeIds.includes(j.node) || this.removedIds.has(j.node)) continue;
      const t = /^t(\d+)#\//.exec(j.address);
      // (A node that joined from a process of its own is not this cluster's to start.)
      if (!t || j.endpoint !== '') continue;
      const thread = Number(t[1]);
      if (thread >= threads.threads) throw new RuntimeError('EINVAL', `node ${j.node} was added on worker thread ${thread} (${j.address}); this start has ${threads.threads} threads: start with --threads ${thread + 1} or more`);
      base.addresses[j.node] = j.address;
      this.configs.set(j.node, { ...base, id: j.node, nodes: this.initialIds, addresses: base.addresses });
      this.threadOf.set(j.node, thread);
      this.nodeIds.push(j.node);
    }
  }

  /** Node id → the address of its root actor. */
  get addresses(): Record<string, string> {
    return this.configs.get(this.nodeIds[0]!)!.addresses;
  }

  /** Worker threads the nodes run on (threads), or 0 (sim). */
  get threadCount(): number {
    return this.threads?.threads ?? 0;
  }

  /** 'host:port' network clients connect to, or '' if the cluster does not serve them. */
  get address(): string {
    return this.gateway ? bridgeAddress(this.gateway) : '';
  }

  /** Network clients connected now. */
  get clientsConnected(): number {
    return this.gateway?.stats.clientsOpen ?? 0;
  }

  /** Counters of the runtime of every worker thread (threads; [] under sim), for metrics. */
  async threadStats(): Promise<(WorkerStats & { activeMs: number; idleMs: number })[]> {
    if (!this.threads) return [];
    const [stats, times] = [await this.threads.stats(), this.threads.eventLoopTimes()];
    return stats.map((s, i) => ({ ...s, activeMs: times[i]?.activeMs ?? 0, idleMs: times[i]?.idleMs ?? 0 }));
  }

  /** The client gateway's counters (threads with `listen`), or null. */
  get bridgeStats(): BridgeStats | null {
    return this.gateway?.stats ?? null;
  }

  /** Tickets and lease revocations for this process's clients. */
  private toClient(msg: unknown): void {
    const m = msg as { type?: string; clientId: string; seq: number; index: number; term: number; ministry: string; leaseId: string };
    const client = this.clients.get(m.clientId);
    if (!client) return;
    if (m.type === 'govfs.fs.Ticket') client.onTicket(m);
    else if (m.type === 'govfs.fs.LeaseRevoked') client.onRevoked(m);
  }

  private async spawnNode(id: string): Promise<void> {
    const threads = this.threads!;
    await threads.spawnRoot(id, { behaviour: 'govfs.node', args: this.configs.get(id)! }, { thread: this.threadOf.get(id)!, ...localNodeStorage(this.dataDir!, id) });
  }

  /** A new client. Under `sim`, awaiting its calls advances virtual time; `host` puts it on a
   * simulated host of its own (with its own clock, which tests may make drift). */
  client(opts: Partial<GovClientOptions> & { host?: string } = {}): GovClient {
    const clientId = opts.clientId ?? `c${++this.clientCount}-${this.random.u32().toString(36)}`;
    const sim = this.sim;
    let runtime = this.clientRuntime;
    let ticketAddress = sim ? `clients#/clients` : `main#/clients`;
    if (sim && opts.host) {
      const name = opts.host;
      const host = sim.hostNames.includes(name) ? sim.host(name) : sim.addHost(name, () => ({ receive: (_ctx, msg) => this.toClient(msg) }));
      runtime = host.runtime;
      ticketAddress = `${name}#/${name}`;
    }
    const clock = runtime.dispatcher;
    const address = (node: string) => this.configs.get(node)?.addresses[node] ?? `${node}#/${node}`;
    const random = this.random.fork(clientId);
    const transport: ClientTransport = sim
      ? {
          // Every request drives virtual time until answered, also those made from inside
          // the client (a lease handle's release, its renewals).
          ask: (node, msg, timeoutMs) => this.drive(runtime.ask(address(node), msg, { timeoutMs })),
          ticketAddress,
          // Timers run on the client host's own (possibly drifting) clock.
          sleep: (ms) => new Promise<void>((resolve) => clock.schedule(ms, () => {
            clock.asyncPending();
            resolve();
          })),
          random: () => random.next(),
          now: () => clock.now(),
        }
      : {
          ask: (node, msg, timeoutMs) => runtime.ask(address(node), msg, { timeoutMs }),
          ticketAddress,
          sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
          random: () => random.next(),
          now: () => Date.now(),
        };
    const client = new GovClient(transport, { clientId, nodes: this.nodeIds, requestTimeoutMs: opts.requestTimeoutMs, deadlineMs: opts.deadlineMs, dataTimeoutMs: opts.dataTimeoutMs, dataWindow: opts.dataWindow, dataReplication: opts.dataReplication, dataChainMinBytes: opts.dataChainMinBytes });
    this.clients.set(clientId, client);
    if (!sim) return client;
    // Under the simulator every call drives virtual time until it settles.
    return new Proxy(client, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          const r = (v as (...a: unknown[]) => unknown).apply(target, args);
          return r instanceof Promise ? this.drive(r) : r;
        };
      },
    });
  }

  /** Under `sim`: run virtual time until `p` settles. Under `threads`: `p` itself. */
  drive<T>(p: Promise<T>): Promise<T> {
    if (!this.sim) return p;
    if (this.sim.failure) return Promise.reject(this.sim.failure);
    this.pending++;
    const done = p.finally(() => {
      this.pending--;
    });
    void this.pump();
    // A simulation that failed for good (a livelock) settles nothing more: every caller
    // waiting on it gets its error instead of waiting for ever.
    return Promise.race([done, this.simFailed.promise]);
  }

  private async pump(): Promise<void> {
    const sim = this.sim;
    if (!sim || this.pumping) return;
    this.pumping = true;
    try {
      while (this.pending > 0) await sim.run({ until: () => this.pending === 0, forMs: 100 });
    } catch (e) {
      this.simFailed.reject(e);
    } finally {
      this.pumping = false;
    }
  }

  /** ms on the cluster's clock (virtual under `sim`). */
  now(): number {
    return this.sim ? this.sim.now() : Date.now();
  }

  /** Let `ms` pass (virtual under `sim`). */
  async runFor(ms: number): Promise<void> {
    if (this.sim) await this.drive(this.sim.sleep(ms));
    else await new Promise((r) => setTimeout(r, ms));
  }

  /** Wait until `cond` holds, checking it every 10 ms; false if `deadlineMs` passes first. */
  async waitFor(cond: () => boolean | Promise<boolean>, deadlineMs = 30_000): Promise<boolean> {
    const deadline = this.now() + deadlineMs;
    for (;;) {
      if (await cond()) return true;
      if (this.now() > deadline) return false;
      await this.runFor(10);
    }
  }

  /** The president, the cluster term, every ministry's staff and commit index, idle nodes. */
  async status(): Promise<ClusterStatusView> {
    return gatherStatus(this.nodeIds, (id, msg) => this.drive(this.clientRuntime.ask(this.configs.get(id)!.addresses[id]!, msg, { timeoutMs: 500 })));
  }

  /** Turn the president's automatic balancer (thesis 3.4) on or off: an order in the cluster
   * log (it is on by default). Throws if no president took the order. */
  async balance(on: boolean): Promise<void> {
    const r = await balanceRequest(this.nodeIds, (id, msg) => this.drive(this.clientRuntime.ask(this.configs.get(id)!.addresses[id]!, msg, { timeoutMs: 500 })), on ? 'on' : 'off');
    if (!r.ok) throw new RuntimeError('EAGAIN', `balance ${on ? 'on' : 'off'}: ${r.reason}`);
  }

  /** What the balancer would do now and why, in words (`govfs balance plan`). */
  async balancePlan(): Promise<string[]> {
    const r = await balanceRequest(this.nodeIds, (id, msg) => this.drive(this.clientRuntime.ask(this.configs.get(id)!.addresses[id]!, msg, { timeoutMs: 500 })), 'plan');
    if (!r.ok) throw new RuntimeError('EAGAIN', `balance plan: ${r.reason}`);
    return r.plan;
  }

  /** Add a node (issue 20): start it (sim: a new host; threads: on a worker thread) and have
   * the president bring it in: it catches up on the cluster log as a learner, then joins the
   * idle pool (and becomes a voter if the cluster wants more). Resolves with its id once it is
   * in the cluster log's configuration. */
  async addNode(opts: { deadlineMs?: number } = {}): Promise<string> {
    const taken = new Set([...this.nodeIds, ...this.removedIds]);
    let k = this.nodeIds.length + this.removedIds.size + 1;
    while (taken.has(`n${k}`)) k++;
    const id = `n${k}`;
    const thread = this.threads ? (Math.max(-1, ...this.threadOf.values()) + 1) % this.threads.threads : 0;
    const address = this.threads ? `t${thread}#/${id}` : `${id}#/${id}`;
    const base = this.configs.get(this.nodeIds[0]!)!;
    // Every node's config shares one addresses record (planNodes): the clients and the
    // gateway learn the new node from it; the nodes themselves learn it from the cluster log.
    base.addresses[id] = address;
    const config: NodeConfig = { ...base, id, nodes: this.initialIds, addresses: base.addresses };
    this.configs.set(id, config);
    this.nodeIds.push(id);
    if (this.sim) this.sim.addHost(id, () => nodeBehaviour(config));
    else {
      this.threadOf.set(id, thread);
      await this.spawnNode(id);
    }
    await this.membership({ action: 'add', node: id, address, endpoint: '' }, async () => (await this.status()).members?.includes(id) === true, opts.deadlineMs);
    return id;
  }

  /** Remove node `id` (issue 20): the president hands its roles over (a minister is replaced,
   * a clerk too), then it leaves the cluster log's configuration and is refused by the others
   * from then on. Resolves once no node counts it a member; under threads its actors stop. */
  async removeNode(id: string, opts: { deadlineMs?: number } = {}): Promise<void> {
    this.check(id);
    const gone = async (): Promise<boolean> => {
      const st = await this.status();
      return st.president !== '' && st.president !== id && st.members?.includes(id) === false && !st.leaving?.includes(id);
    };
    await this.membership({ action: 'remove', node: id, address: '', endpoint: '' }, gone, opts.deadlineMs);
    this.nodeIds.splice(this.nodeIds.indexOf(id), 1);
    this.removedIds.add(id);
    if (this.threads && !this.down.has(id)) await this.threads.stopRoot(id, this.threadOf.get(id)!);
  }

  /** Send a MemberRequest until the president takes it, then wait until `done`. The president
   * answers once it has proposed the order, not once it is committed: a president that loses
   * office in between takes the order with it. So while not done, the request is sent again
   * every MEMBER_RESEND_MS; a retry of an order that did commit finds it taken (EEXIST,
   * EALREADY, removed already) and counts as sent. */
  private async membership(req: { action: 'add' | 'remove'; node: string; address: string; endpoint: string }, done: () => Promise<boolean>, deadlineMs = 60_000): Promise<void> {
    const ask = (node: string, msg: object): Promise<unknown> => this.drive(this.clientRuntime.ask(this.configs.get(node)!.addresses[node]!, msg, { timeoutMs: 500 }));
    const deadline = this.now() + deadlineMs;
    let refused = '';
    const send = async (): Promise<boolean> => {
      const r = await memberRequest(this.nodeIds.filter((n) => n !== req.node || req.action === 'remove'), ask, req);
      // (A retry after an answer that got lost finds the order taken already.)
      if (!r.ok && (r.code === 'EEXIST' || r.code === 'EALREADY')) return true;
      if (!r.ok && req.action === 'remove' && r.code === 'ENOENT' && r.reason.endsWith('removed already')) return true;
      if (!r.ok && r.code !== 'EAGAIN' && r.code !== 'EUNAVAILABLE') throw new RuntimeError(r.code, `node ${req.action} ${req.node}: ${r.reason}`);
      refused = r.reason;
      return r.ok;
    };
    for (;;) {
      if (!(await this.waitFor(send, Math.max(0, deadline - this.now())))) throw new RuntimeError('ETIMEDOUT', `node ${req.action} ${req.node}: no president took the request (${refused})`);
      if (await this.waitFor(() => done().catch(() => false), Math.min(MEMBER_RESEND_MS, Math.max(0, deadline - this.now())))) return;
      if (this.now() > deadline) throw new RuntimeError('ETIMEDOUT', `node ${req.action} ${req.node}: not done within ${deadlineMs} ms`);
    }
  }

  /** `govfs backup`: ministry `ministry`'s state at one applied index, copied by its minister
   * off its actor thread (src/actors/ministry-copy.ts). */
  async ministryCopy(ministry: string, minister = ''): Promise<MinistryCopyAnswer> {
    return ministryCopyRequest(this.nodeIds, (id, msg) => this.drive(this.clientRuntime.ask(this.configs.get(id)!.addresses[id]!, msg, { timeoutMs: 30_000 })), ministry, minister);
  }

  /** Split the subtree `path` (a directory) off the ministry serving it, into a new ministry
   * formed from idle nodes: a live migration through the cluster log (issue 16; see
   * src/actors/migration-core.ts), during which changes to the subtree wait (EAGAIN) and none
   * is lost or applied twice. Resolves with the migration once the map has moved; throws EAGAIN
   * with the reason if the president refused or aborted it, ETIMEDOUT after `timeoutMs`. */
  async split(path: string, opts: { timeoutMs?: number } = {}): Promise<MigrationStatus> {
    return this.migrate('split', path, opts.timeoutMs ?? 60_000);
  }

  /** Give the subtree of the ministry rooted at `path` back to the ministry above it, which
   * then dissolves it (its staff go idle): the same live migration as split. */
  async merge(path: string, opts: { timeoutMs?: number } = {}): Promise<MigrationStatus> {
    return this.migrate('merge', path, opts.timeoutMs ?? 60_000);
  }

  private async migrate(action: 'split' | 'merge', path: string, timeoutMs: number): Promise<MigrationStatus> {
    const ask = (id: string, msg: object): Promise<unknown> => this.drive(this.clientRuntime.ask(this.configs.get(id)!.addresses[id]!, msg, { timeoutMs: 500 }));
    const before = new Set((await this.status()).migrations.map((g) => g.id));
    const r = await balanceRequest(this.nodeIds, ask, action, path);
    if (!r.ok) throw new RuntimeError('EAGAIN', `${action} ${path}: ${r.reason}`);
    let found: MigrationStatus | undefined;
    const done = await this.waitFor(async () => {
      found = (await this.status()).migrations.find((g) => g.subtree === path && !before.has(g.id));
      return found !== undefined && (found.phase === 'committed' || found.phase === 'aborted');
    }, timeoutMs);
    if (!done || !found) throw new RuntimeError('ETIMEDOUT', `${action} ${path}: not finished after ${timeoutMs} ms (${found ? `migration ${found.id} is ${found.phase}` : 'not started'}); govfs status shows it`);
    if (found.phase === 'aborted') throw new RuntimeError('EAGAIN', `${action} ${path}: migration ${found.id} was aborted: ${found.reason}`);
    return found;
  }

  /** Crash node `id` (sim: at once, un-synced writes lost; threads: its actors stop). */
  async kill(id: string): Promise<void> {
    this.check(id);
    this.down.add(id);
    if (this.sim) this.sim.crash(id);
    else await this.threads!.stopRoot(id, this.threadOf.get(id)!);
  }

  /** Start node `id` again over its storage. */
  async restart(id: string): Promise<void> {
    this.check(id);
    this.down.delete(id);
    if (this.sim) this.sim.restart(id);
    else await this.spawnNode(id);
  }

  /** No messages between any node of `a` and any of `b` (sim only). */
  partition(a: string[], b: string[]): void {
    if (!this.sim) throw new RuntimeError('ENOTSUP', 'partitions need the sim scheduler (or the netns script for real networks)');
    this.sim.partition(a, b);
  }

  heal(): void {
    if (!this.sim) throw new RuntimeError('ENOTSUP', 'partitions need the sim scheduler');
    this.sim.heal();
  }

  /** Close network clients' connections, stop every node (storage closed cleanly), end the
   * threads, give up the data folder. */
  async stop(opts: { abrupt?: boolean } = {}): Promise<void> {
    // Stopping abruptly (after a failed start) goes on past a gateway that fails to stop.
    const closing = this.gateway?.stop({ abrupt: opts.abrupt });
    if (opts.abrupt) await closing?.catch(() => {});
    else await closing;
    if (this.sim) this.sim.stop();
    else await this.threads!.stop();
    this.lock?.release();
  }

  private check(id: string): void {
    if (!this.nodeIds.includes(id)) throw new RuntimeError('ENOENT', `no node ${id} (nodes are ${this.nodeIds.join(', ')})`);
  }
}

function rejectable(): { promise: Promise<never>; reject: (e: unknown) => void } {
  let reject!: (e: unknown) => void;
  const promise = new Promise<never>((_, r) => (reject = r));
  promise.catch(() => {}); // nobody may be waiting: not an unhandled rejection
  return { promise, reject };
}
