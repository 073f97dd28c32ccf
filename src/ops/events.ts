// The operator's running picture of a cluster: the status polled every second, a few minutes
// of rates (commits, ring messages, client requests per second; each thread's busy share), and
// a timeline of what changed between two polls (elections, appointments, failovers, splits,
// nodes going down and up). Metrics and the web page both read it; it polls whether or not
// anyone looks, at the cost of one status round (a probe per node) a second.

import type { ClusterStatusView } from '../client/status.js';
import type { BridgeStats } from '../net/bridge.js';
import type { OpsSource, ThreadSample } from './source.js';

export type OpsEventKind = 'election' | 'appointment' | 'failover' | 'split' | 'dissolved' | 'staff' | 'node-down' | 'node-up';

export interface OpsEvent {
  /** ms since the epoch. */
  at: number;
  kind: OpsEventKind;
  text: string;
  ministry?: string;
  node?: string;
}

/** One poll: what the cluster looked like, and rates since the poll before. */
export interface OpsSample {
  at: number;
  status: ClusterStatusView | null;
  /** Why the status could not be read, when it could not. */
  error?: string;
  /** Seconds the status round took. */
  statusSeconds: number;
  threads: ThreadSample[];
  bridge: BridgeStats | null;
  /** Per second since the previous sample. */
  rates: { commits: number; ringMessages: number; bridgeMessages: number };
  /** Each thread's busy share of its event loop since the previous sample (0..1). */
  utilisation: Record<string, number>;
}

/** What changed from `prev` to `next`, as timeline events (pure: tests feed it views). */
export function diffStatus(prev: ClusterStatusView | null, next: ClusterStatusView, at: number): OpsEvent[] {
  const out: OpsEvent[] = [];
  const ev = (kind: OpsEventKind, text: string, extra: Partial<OpsEvent> = {}) => out.push({ at, kind, text, ...extra });
  if (next.president && next.president !== prev?.president) {
    ev('election', `${next.president} is president (cluster term ${next.clusterTerm})${prev?.president ? `, was ${prev.president}` : ''}`, { node: next.president });
  } else if (prev && next.clusterTerm > prev.clusterTerm && next.president) {
    ev('election', `cluster term ${next.clusterTerm}: ${next.president} re-elected`, { node: next.president });
  }
  const before = new Map((prev?.ministries ?? []).map((m) => [m.id, m]));
  const after = new Map(next.ministries.map((m) => [m.id, m]));
  for (const m of next.ministries) {
    const old = before.get(m.id);
    if (!old) {
      // The first view is the starting picture, not a change; later new ministries are splits
      // (or the static ones appointed at start), each with its first minister.
      if (prev) ev(m.subtree === '/' ? 'appointment' : 'split', `ministry ${m.id} for ${m.subtree}: minister ${m.minister}, clerks ${m.clerks.join(', ') || 'none'}`, { ministry: m.id, node: m.minister });
      continue;
    }
    if (old.minister !== m.minister) {
      ev('failover', `ministry ${m.id} (${m.subtree}): minister ${m.minister} replaces ${old.minister} (term ${m.term})`, { ministry: m.id, node: m.minister });
    } else if (old.clerks.join() !== m.clerks.join()) {
      ev('staff', `ministry ${m.id} (${m.subtree}): clerks ${m.clerks.join(', ') || 'none'} (were ${old.clerks.join(', ') || 'none'})`, { ministry: m.id });
    }
  }
  for (const m of prev?.ministries ?? []) {
    if (!after.has(m.id)) ev('dissolved', `ministry ${m.id} (${m.subtree}) dissolved`, { ministry: m.id });
  }
  const wasUp = new Map((prev?.nodes ?? []).map((n) => [n.id, n.up]));
  for (const n of next.nodes) {
    const was = wasUp.get(n.id);
    if (was === true && !n.up) ev('node-down', `node ${n.id} does not answer`, { node: n.id });
    if (was === false && n.up) ev('node-up', `node ${n.id} answers again (${n.role})`, { node: n.id });
  }
  return out;
}

export interface WatcherOptions {
  /** Poll period (default 1 s). */
  intervalMs?: number;
  /** How much history to keep (default 5 minutes). */
  historyMs?: number;
  /** Events kept for the timeline (default 500). */
  maxEvents?: number;
}

type Listener = (sample: OpsSample, events: OpsEvent[]) => void;

export class OpsWatcher {
  readonly samples: OpsSample[] = [];
  readonly events: OpsEvent[] = [];
  /** Timeline events by kind since the watcher started (for counters). */
  readonly eventCounts = new Map<OpsEventKind, number>();
  private readonly listeners = new Set<Listener>();
  private readonly intervalMs: number;
  private readonly historyMs: number;
  private readonly maxEvents: number;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private lastView: ClusterStatusView | null = null;

  constructor(readonly source: OpsSource, opts: WatcherOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.historyMs = opts.historyMs ?? 5 * 60_000;
    this.maxEvents = opts.maxEvents ?? 500;
  }

  get latest(): OpsSample | null {
    return this.samples.at(-1) ?? null;
  }

  /** Poll now, then every interval. Resolves after the first poll. */
  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
    await this.poll();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }

  /** Hear of every sample and its events; returns the unsubscribe. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** One poll (a poll still running is not overlapped: a slow cluster gets fewer). */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const t0 = performance.now();
    let status: ClusterStatusView | null = null;
    let error: string | undefined;
    try {
      status = await this.source.status();
    } catch (e) {
      error = (e as Error).message;
    }
    const statusSeconds = (performance.now() - t0) / 1000;
    const threads = await this.source.threads().catch(() => [] as ThreadSample[]);
    const bridge = this.source.bridge();
    const at = Date.now();
    const prev = this.latest;
    const sample: OpsSample = { at, status, statusSeconds, threads, bridge: bridge && { ...bridge }, rates: { commits: 0, ringMessages: 0, bridgeMessages: 0 }, utilisation: {}, ...(error !== undefined && { error }) };
    if (prev) fillRates(prev, sample);
    const events = status ? diffStatus(this.lastView, status, at) : [];
    if (status) this.lastView = status;
    this.samples.push(sample);
    while (this.samples.length > 1 && this.samples[0]!.at < at - this.historyMs) this.samples.shift();
    for (const e of events) this.eventCounts.set(e.kind, (this.eventCounts.get(e.kind) ?? 0) + 1);
    this.events.push(...events);
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    for (const fn of this.listeners) fn(sample, events);
  }
}

function fillRates(prev: OpsSample, next: OpsSample): void {
  const dt = (next.at - prev.at) / 1000;
  if (dt <= 0) return;
  // Commits: the ministries' commit indices (a ministry new or re-elected since counts from its
  // own start); clamp at 0 where a minister changed and reports a lower index for a moment.
  const commitsOf = (s: OpsSample) => new Map((s.status?.ministries ?? []).map((m) => [m.id, m.commitIndex]));
  const before = commitsOf(prev);
  let commits = 0;
  for (const [id, c] of commitsOf(next)) commits += Math.max(0, c - (before.get(id) ?? c));
  const sum = (s: OpsSample) => s.threads.reduce((a, t) => a + t.received, 0);
  next.rates = {
    commits: commits / dt,
    ringMessages: Math.max(0, sum(next) - sum(prev)) / dt,
    bridgeMessages: prev.bridge && next.bridge ? Math.max(0, next.bridge.received - prev.bridge.received) / dt : 0,
  };
  const old = new Map(prev.threads.map((t) => [t.thread, t]));
  for (const t of next.threads) {
    const o = old.get(t.thread);
    if (!o) continue;
    const busy = t.activeMs - o.activeMs;
    const all = busy + (t.idleMs - o.idleMs);
    if (all > 0) next.utilisation[t.thread] = Math.min(1, Math.max(0, busy / all));
  }
}
