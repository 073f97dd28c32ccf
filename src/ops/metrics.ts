// Prometheus metrics of a running cluster (issue 20, item 1), in the standard exposition format
// (prom-client). Every value is read at scrape time from the OpsWatcher's last poll (at most a
// poll period old), so metrics cost the cluster nothing between scrapes: the actors carry no
// metric code. Series of worker threads are gathered here from the threads' own counters
// (ThreadsScheduler.stats over comlink, Worker.performance for event-loop time).
//
// Not here yet, since they need counters inside the roles being rewritten (issue 15): Raft
// proposals, commit and fsync latency histograms, snapshots, client operations by kind and
// error code, lease grants/renewals/revocations/expiries (see the report of issue 20).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OpsEventKind, OpsSample, OpsWatcher } from './events.js';
import type { BridgeStats } from '../net/bridge.js';

type Labels = Record<string, string>;
type Rows = [Labels, number][];

/** A counter fed by a running total of the bridge: its name, its help, its BridgeStats field. */
type BridgeCounter = readonly [string, string, keyof BridgeStats];

/** What the bridge carried, dropped and misrouted. */
const BRIDGE_TRAFFIC: readonly BridgeCounter[] = [
  ['govfs_bridge_messages_sent_total', 'Envelopes the bridge accepted for sending to other processes', 'sent'],
  ['govfs_bridge_messages_received_total', 'Envelopes received over TCP (from peers and clients) and delivered', 'received'],
  ['govfs_bridge_sent_bytes_total', 'Bytes sent over TCP', 'bytesSent'],
  ['govfs_bridge_received_bytes_total', 'Bytes received over TCP', 'bytesReceived'],
  ['govfs_bridge_dropped_messages_total', 'Envelopes dropped: a peer\'s queue was full or the bridge stopped', 'dropped'],
  ['govfs_bridge_dropped_bytes_total', 'Bytes of dropped envelopes', 'droppedBytes'],
  ['govfs_bridge_misrouted_messages_total', 'Received envelopes addressed to another location', 'misrouted'],
];

/** Its clients: connections let in, requests refused. */
const BRIDGE_CLIENTS: readonly BridgeCounter[] = [
  ['govfs_bridge_client_connections_total', 'Client connections authenticated', 'clients'],
  ['govfs_bridge_forged_requests_total', 'Client requests refused for naming another client\'s id', 'forged'],
];

/** What became of its connections (peers' and clients'). */
const BRIDGE_CONNECTIONS: readonly BridgeCounter[] = [
  ['govfs_bridge_rejected_connections_total', 'Connections closed for hostile or broken input, a failed handshake or a timeout', 'rejected'],
  ['govfs_bridge_accepted_connections_total', 'Inbound connections accepted', 'accepted'],
  ['govfs_bridge_dials_total', 'Outbound connections dialled to peers (first connections and reconnects)', 'dials'],
  ['govfs_bridge_heartbeat_timeouts_total', 'Peer links closed for a missed heartbeat', 'heartbeatTimeouts'],
];

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** The registry of one process's metrics, fed by `watcher`. */
export class OpsMetrics {
  readonly registry = new Registry();

  constructor(private readonly watcher: OpsWatcher) {
    const r = this.registry;
    // Event-loop lag sampled every 100 ms rather than prom-client's 10 ms: a tenth of the
    // main thread's wake-ups for it, and lag that matters here is 100 ms or more anyway.
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 100 });
    this.defineCluster();
    this.defineNodes();
    this.defineThreads();
    this.defineBridge();
    const rounds = new Histogram({
      name: 'govfs_status_round_seconds',
      help: 'Time to gather the cluster status (a probe of every node and the president\'s view)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [r],
    });
    const errors = new Counter({ name: 'govfs_status_errors_total', help: 'Status rounds that failed', registers: [r] });
    errors.inc(0);
    watcher.subscribe((s) => {
      rounds.observe(s.statusSeconds);
      if (s.error !== undefined) errors.inc();
    });
    const kinds: OpsEventKind[] = ['election', 'appointment', 'failover', 'split', 'dissolved', 'staff', 'node-down', 'node-up'];
    this.counter('govfs_events_total', 'Changes seen between two status polls, by kind (election, failover, split, ...)', ['kind'], () => kinds.map((kind) => [{ kind }, watcher.eventCounts.get(kind) ?? 0]));
  }

  /** The exposition text. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private get sample(): OpsSample | null {
    return this.watcher.latest;
  }

  private gauge(name: string, help: string, labelNames: string[], rows: () => Rows): void {
    new Gauge({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of rows()) this.set(labels, v);
      },
    });
  }

  /** A counter whose value is a running total kept elsewhere (a stats object): set at scrape. */
  private counter(name: string, help: string, labelNames: string[], rows: () => Rows): void {
    new Counter({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of rows()) this.inc(labels, Math.max(0, v));
      },
    });
  }

  private defineCluster(): void {
    const st = () => this.sample?.status ?? null;
    const ministries = () => st()?.ministries ?? [];
    this.gauge('govfs_cluster_term', 'Term of the cluster log (the president\'s Raft)', [], () => (st() ? [[{}, st()!.clusterTerm]] : []));
    this.gauge('govfs_idle_nodes', 'Nodes in the idle pool', [], () => (st() ? [[{}, st()!.idle.length]] : []));
    const m = (f: (x: ReturnType<typeof ministries>[number]) => number): (() => Rows) => () => ministries().map((x) => [{ ministry: x.id, subtree: x.subtree }, f(x)]);
    this.gauge('govfs_ministry_term', 'Term of the ministry\'s group log', ['ministry', 'subtree'], m((x) => x.term));
    this.gauge('govfs_ministry_commit_index', 'Commit index of the ministry\'s group log, as its minister reports it', ['ministry', 'subtree'], m((x) => x.commitIndex));
    this.gauge('govfs_ministry_clerks', 'Clerks appointed to the ministry', ['ministry', 'subtree'], m((x) => x.clerks.length));
    this.gauge('govfs_ministry_down', '1 while the ministry cannot serve (no minister answers)', ['ministry', 'subtree'], m((x) => (x.down ? 1 : 0)));
    this.gauge('govfs_ministry_short_staffed', '1 while the ministry has fewer clerks than configured', ['ministry', 'subtree'], m((x) => (x.shortStaffed ? 1 : 0)));
    this.gauge('govfs_ministry_minister', '1 for the node that is the ministry\'s minister', ['ministry', 'subtree', 'node'], () => ministries().map((x) => [{ ministry: x.id, subtree: x.subtree, node: x.minister }, 1]));
  }

  private defineNodes(): void {
    const local = new Set(this.watcher.source.localNodes);
    const nodes = () => (this.sample?.status?.nodes ?? []).filter((n) => local.has(n.id));
    this.gauge('govfs_node_up', '1 while the node answers its probe', ['node'], () => nodes().map((n) => [{ node: n.id }, n.up ? 1 : 0]));
    this.gauge('govfs_node_role', '1 for the node\'s role (president, minister, clerk, idle, down)', ['node', 'role', 'ministry'], () => nodes().map((n) => [{ node: n.id, role: n.role, ministry: n.ministry }, 1]));
    this.gauge('govfs_node_commit_index', 'Commit index of the node in its ministry\'s group log', ['node', 'ministry'], () => nodes().filter((n) => n.ministry).map((n) => [{ node: n.id, ministry: n.ministry }, n.commit]));
    this.gauge('govfs_node_applied_index', 'Last entry of its ministry\'s group log the node applied', ['node', 'ministry'], () => nodes().filter((n) => n.ministry).map((n) => [{ node: n.id, ministry: n.ministry }, n.applied]));
    this.gauge('govfs_node_caught_up', '1 when the node has applied everything its ministry committed', ['node', 'ministry'], () => nodes().filter((n) => n.ministry).map((n) => [{ node: n.id, ministry: n.ministry }, n.caughtUp ? 1 : 0]));
  }

  private defineThreads(): void {
    const threads = () => this.sample?.threads ?? [];
    const t = (f: (x: ReturnType<typeof threads>[number]) => number): (() => Rows) => () => threads().map((x) => [{ thread: x.thread }, f(x)]);
    this.gauge('govfs_thread_actors', 'Actors alive on the thread', ['thread'], t((x) => x.actors));
    this.counter('govfs_thread_dead_letters_total', 'Messages to actors that no longer exist', ['thread'], t((x) => x.deadLetters));
    this.counter('govfs_ring_messages_sent_total', 'Messages the thread put into its rings to other threads', ['thread'], t((x) => x.sent));
    this.counter('govfs_ring_messages_received_total', 'Messages the thread took out of its rings', ['thread'], t((x) => x.received));
    this.gauge('govfs_ring_queue_depth', 'Messages waiting for ring space on the thread now', ['thread'], t((x) => x.queued));
    this.gauge('govfs_ring_queue_depth_max', 'Most messages ever waiting for ring space on the thread', ['thread'], t((x) => x.queuedMax));
    this.counter('govfs_ring_parks_total', 'Times the thread\'s inbox slept waiting for messages', ['thread'], t((x) => x.parks));
    this.counter('govfs_thread_event_loop_active_seconds_total', 'Time the thread\'s event loop was busy', ['thread'], t((x) => x.activeMs / 1000));
    this.counter('govfs_thread_event_loop_idle_seconds_total', 'Time the thread\'s event loop waited', ['thread'], t((x) => x.idleMs / 1000));
    this.gauge('govfs_thread_event_loop_utilization', 'Busy share of the thread\'s event loop over the last poll period (0-1)', ['thread'], () => Object.entries(this.sample?.utilisation ?? {}).map(([thread, v]) => [{ thread }, v]));
  }

  private defineBridge(): void {
    const b = (f: (s: BridgeStats) => number): (() => Rows) => () => {
      const s = this.sample?.bridge;
      return s ? [[{}, f(s)]] : [];
    };
    for (const [name, help, field] of [...BRIDGE_TRAFFIC, ...BRIDGE_CLIENTS, ...BRIDGE_CONNECTIONS]) this.counter(name, help, [], b((s) => s[field]));
    this.gauge('govfs_bridge_clients_open', 'Client connections open now', [], b((s) => s.clientsOpen));
    this.gauge('govfs_bridge_handshaking', 'Unauthenticated inbound connections open now', [], b((s) => s.handshaking));
  }
}
