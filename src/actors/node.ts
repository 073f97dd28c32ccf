// A GovFS node (thesis 4.3): the root of one host's actor tree. It runs the cluster log (an
// elected Raft whose leader is the president), learns the subtree map and its own appointment
// from it, and keeps exactly one role branch alive under it:
//
//   /<id>               this actor: cluster log, routing, probes
//   /<id>/role          clerk or minister of one ministry (group log, namespace, client sessions)
//   /<id>/president     while this node leads the cluster log
//   /<id>/chunks        the chunk store (issue 17, src/data/): every node holds file bytes
//                       whatever its role; clients' dataWrite/dataRead requests go there
//
// Changing role is stopping the old branch (its group log shell, sessions, timers and asks go
// with it) and spawning the next. A node elected president while it serves in a ministry hands
// the presidency on to an idle node, so that an election never costs a ministry its staff; with
// no idle node it holds both roles.
//
// This file is the actor shell: every decision (which branches run, where a request goes, the
// steps of a subtree delete, which stored group logs go) is made by the pure NodeCore
// (node-core.ts) and comes back as effects that the shell carries out here.

import type { RepairOptions } from './replica-repair-core.js';
import { RaftShell, type AppliedEntry } from '../raft/shell.js';
import { ClusterState, decodeOrder, encodeOrder, type ClusterOrder } from './cluster-state.js';
import { NodeCore, type NodeEffect, type NodeSelfMsg, type OrdersOutcome, type SubtreeStep } from './node-core.js';
import { ministryBehaviour } from './ministry.js';
import { presidentBehaviour } from './president.js';
import { registerBehaviour } from '../runtime/runtime.js';
import type { Storage } from '../runtime/storage.js';
import type { BalanceOptions } from './balancer.js';
import type { WriteBalanceOptions } from './write-balancer.js';
import type { Behaviour, Context, Message, Ref } from '../runtime/types.js';
import type { NodeProbeMessage } from '../fs/requests.js';
import { chunkStoreBehaviour } from '../data/shell.js';
import { isDataFsRequest } from '../data/fs-wire.js';
import type { Joined, RaftMembershipView } from './membership-core.js';

export type { NodeInternal } from './node-core.js';

export interface NodeConfig {
  id: string;
  /** Every node of the cluster (the cluster log's voters). */
  nodes: string[];
  /** Actor address of every node's root, by id. */
  addresses: Record<string, string>;
  /** Clerks of the root ministry "/" (default 2). */
  rootClerks?: number;
  /** Static extra ministries, formed at bootstrap. */
  ministries?: { subtree: string; clerks: number }[];
  /** Raft tick (default 10 ms). Group logs heartbeat every tick. */
  tickMs?: number;
  /** The cluster log's election timeout: a node that hears nothing from the president for
   * between this and twice this long campaigns (default 1,000 ms; the president heartbeats
   * twenty times as often, or every cluster tick if that is longer: ten times on real nodes). It must stay well above the longest stall of a node's event loop
   * (GC, a busy machine): at 100 ms a loaded 2-core machine changed president every minute. */
  electionMs?: number;
  /** How often the president probes every node, and after how long without an answer it
   * takes a node for failed (defaults 50 ms and 1,000 ms; like electionMs, well above the
   * stalls of a busy machine, since every failure costs a fence and a new appointment). */
  probeMs?: number;
  /** A node that answered the last probe is probed again only after this long (default
   * probeMs; real nodes IDLE_PROBE_MS): an idle cluster then sends few probes. */
  probeAnsweredMs?: number;
  failAfterMs?: number;
  /** The cluster log's tick, and the group logs' and ministries' (default tickMs). Real nodes
   * tick less often (CLUSTER_TICK_MS, GROUP_TICK_MS): the cluster log's election timeout is a
   * second or more, and a group log sends commit news as it commits, not on ticks. */
  clusterTickMs?: number;
  groupTickMs?: number;
  /** Heartbeat interval of a quiet group log (every follower has everything; see
   * RaftConfig.idleHeartbeatTicks); set, the quiet cluster log heartbeats every half
   * electionMs. Default: no backoff (the simulator); real nodes get IDLE_HEARTBEAT_MS
   * (node-host.ts). A clerk counts as caught up (serves reads, grants read leases) for one
   * such interval after hearing from its minister, and a new minister's lease grace grows
   * to match (lease-core.ts, catchUpWindowMs). */
  idleHeartbeatMs?: number;
  /** Compact a log after this many applied entries (default 10,000). */
  snapshotEntries?: number;
  /** Ministries encode their snapshots on the actor thread instead of replaying the log in
   * ctx.pool (ClusterOptions.snapshots). */
  snapshotsOnThread?: boolean;
  /** Forget a client's completion record after this long without requests (default 10 min). */
  clientTtlMs?: number;
  /** A client silent this long loses its session at a member, and what it held there. */
  sessionTtlMs?: number;
  /** Lease duration (default 5 s) and the bound on clock drift between nodes over one lease
   * period (default 100 ms). */
  leaseTtlMs?: number;
  leaseDriftMs?: number;
  /** How often members sample their load and the president asks for it (default 1,000 ms). */
  loadEveryMs?: number;
  /** Read balancing thresholds (thesis 3.4; defaults grow above 95%, shrink to 85%). */
  balance?: BalanceOptions;
  /** The data plane (issue 17): bytes per chunk of new files (default 4 MiB) and replicas per
   * chunk (default 3, fewer with fewer nodes). */
  chunkBytes?: number;
  chunkReplicas?: number;
  /** Re-replication of chunks short of replicas (replica-repair-core.ts; defaults there). */
  repair?: RepairOptions;
  /** Each node's host (`govfs node`: from --peers), so copies of a chunk spread across hosts;
   * absent: every node on one host. */
  hosts?: Record<string, string>;
  /** A subtree migration (split, merge) that makes no progress this long is aborted (30 s). */
  migrationTimeoutMs?: number;
  /** Write balancing's thresholds (write-balancer.ts), or false: no automatic split or merge. */
  writeBalance?: WriteBalanceOptions | false;
}

export function roleAddress(config: NodeConfig, id: string): string {
  return `${config.addresses[id]}/role`;
}

/** Default NodeConfig.electionMs. */
export const ELECTION_MS = 1_000;

/** Heartbeat interval of a quiet group log on real nodes: an idle cluster then sends a few
 * messages a second instead of hundreds (issue 19). A clerk serves reads for this long (and a
 * tick) after it last heard from its minister; lease grace allows for it (catchUpWindowMs).
 * As the quiet cluster log's (half ELECTION_MS): was 200 ms, most of an idle ministry's work. */
export const IDLE_HEARTBEAT_MS = 500;
/** Real nodes' NodeConfig.probeAnsweredMs: a settled node is probed only in the load round
 * (LOAD_EVERY_MS, the same second), and shows it is alive in between by answering the cluster
 * log's heartbeats (issue 19: probes were a fifth of an idle cluster's messages). Then
 * clusterTickMs (a tenth of the default election timeout) and groupTickMs. */
export const IDLE_PROBE_MS = 1_000;
export const CLUSTER_TICK_MS = 100;
export const GROUP_TICK_MS = 100;
/** Real nodes' NodeConfig.probeMs: the president's tick, which judges failures on the last
 * answers (a tenth of failAfterMs) and re-probes a node that has not answered. */
export const PRESIDENT_TICK_MS = 100;

/** The cluster log's election timeout and heartbeat intervals, in ticks. */
export function clusterTimers(config: NodeConfig): { tickMs: number; electionTicks: number; heartbeatTicks: number; idleHeartbeatTicks: number } {
  const tickMs = config.clusterTickMs ?? config.tickMs ?? 10;
  const electionTicks = Math.max(2, Math.round((config.electionMs ?? ELECTION_MS) / tickMs));
  const heartbeatTicks = Math.max(1, Math.min(electionTicks - 1, Math.round(electionTicks / 20)));
  // Quiet: half the election timeout (issue 19: was a third), so a follower campaigns only
  // after missing two heartbeats, and check-quorum and the president (failAfterMs, the
  // election timeout by default) hear two answers of every node per election timeout; the
  // election timeout itself, and so the time to fail over, stays as it was.
  const idle = config.idleHeartbeatMs === undefined ? heartbeatTicks : Math.floor(electionTicks / 2);
  return { tickMs, electionTicks, heartbeatTicks, idleHeartbeatTicks: Math.max(heartbeatTicks, idle) };
}

/** Ids of the groups whose logs are stored here (`g/<id>/...`), one lookup per group. */
function storedGroups(storage: Storage): string[] {
  const out: string[] = [];
  let from = 'g/';
  for (;;) {
    let next: string | undefined;
    for (const [key] of storage.range({ start: from, end: 'g/\uffff', limit: 1 })) next = key;
    if (next === undefined) return out;
    const id = next.slice(2, next.indexOf('/', 2));
    out.push(id);
    from = `g/${id}/\uffff`;
  }
}

/** The actor shell around a NodeCore: the cluster log's Raft shell, the role and president
 * branches, and every effect's I/O. */
class NodeShell {
  readonly core: NodeCore;
  private raft!: RaftShell;
  private president: Ref | null = null;
  private role: Ref | null = null;
  private chunks: Ref | null = null;
  /** The open asks of subtree deletes, by job. */
  private readonly answers = new Map<number, (m: Message) => void>();
  /** This node's own copy of its config: `addresses` grows as nodes join (membership-core.ts),
   * and the president, the roles and the cluster log read it from here. */
  private readonly config: NodeConfig;

  /** Membership as last told to hooks.members (joined and removed counts). */
  private membersTold = '';

  constructor(config: NodeConfig, private readonly hooks: NodeHooks = {}) {
    this.config = { ...config, addresses: { ...config.addresses } };
    this.core = new NodeCore(this.config, {
      term: () => this.raft.softState().term,
      caughtUp: () => this.raft.caughtUp(),
      membership: () => this.raft.status().membership,
    });
  }

  started(ctx: Context): void {
    const { config, core } = this;
    this.raft = new RaftShell(ctx, {
      id: config.id,
      group: 'cluster',
      mode: 'elected',
      voters: config.nodes,
      addressOf: (id) => config.addresses[id]!,
      storagePrefix: 'c/',
      ...clusterTimers(config),
      snapshotEntries: config.snapshotEntries,
      stateMachine: {
        apply: (e: AppliedEntry) => {
          const order = decodeOrder(e.data);
          return order ? core.apply(order, e.index) : { ok: true };
        },
        snapshot: () => core.state.snapshot(),
        restore: (data: Uint8Array) => core.restore(ClusterState.restore(data)),
      },
      onSoftState: (s) => this.run(ctx, core.leaderIs(s.leader)),
      // Probe rounds go out with quiet heartbeats: a node then wakes once for both.
      onQuietHeartbeat: () => this.president?.tell('beat'),
      afterApply: () => {
        learnAddresses(config, core.state);
        this.tellMembers();
        this.run(ctx, core.applied());
      },
    });
    this.run(ctx, core.start(storedGroups(ctx.storage)));
    // Its chunks live in this node's storage beside its logs, under their own prefix.
    // Pipelined writes pass on to the next replica's store, a child of its node.
    const peerAddress = (id: string): string => `${config.addresses[id] ?? `${id}#/${id}`}/chunks`;
    this.chunks = ctx.spawn('chunks', () => chunkStoreBehaviour({ storagePrefix: 'chunks/', peerAddress }));
  }

  receive(ctx: Context, msg: Message): void {
    // A node removed from the cluster is refused: its cluster log messages would otherwise
    // disturb the others (it may campaign, never having heard of its removal).
    if (fromRemoved(msg, this.core.state)) return;
    // Every client request crosses here: routed at once (no Raft shell checks, no effect list).
    if ((msg as { type?: unknown } | null)?.type === 'govfs.fs.FsRequest') {
      if (this.chunks !== null && isDataFsRequest(msg)) return ctx.forward(this.chunks);
      return this.effect(ctx, this.core.route(String((msg as { path?: unknown }).path)));
    }
    if (this.raft.handle(msg)) return;
    this.run(ctx, this.core.receive(msg, ctx.clock.now()));
  }

  /** Tell the host (a node's process: its bridge) of nodes joined and removed, on change. */
  private tellMembers(): void {
    const s = this.core.state;
    if (!this.hooks.members) return;
    const key = `${s.joined.size}/${s.removed.size}/${s.nodes.length}`;
    if (key === this.membersTold) return;
    this.membersTold = key;
    this.hooks.members([...s.joined.values()], s.removed);
  }

  /** The cluster log's Raft status (for the simulator's invariant checks). */
  raftStatus(): ReturnType<RaftShell['status']> | null {
    return (this.raft as RaftShell | undefined)?.status() ?? null;
  }

  stopped(): void {
    // (Unset if the actor stopped before it started.)
    (this.raft as RaftShell | undefined)?.stop();
  }

  /** Carry out the core's effects in order; an effect's outcome goes straight back to it. */
  private run(ctx: Context, effects: NodeEffect[]): void {
    for (const e of effects) this.effect(ctx, e);
  }

  private effect(ctx: Context, e: NodeEffect): void {
    switch (e.kind) {
      case 'reply':
        return ctx.reply(e.msg);
      case 'forwardToRole':
        return ctx.forward(this.role!);
      case 'forwardToNode':
        return ctx.forward(ctx.ref(this.config.addresses[e.node]!));
      case 'forwardToPresident':
        return ctx.forward(this.president!);
      case 'deferReply':
        this.answers.set(e.job, ctx.deferReply());
        return;
      case 'answer':
        this.answers.get(e.job)?.(e.msg);
        this.answers.delete(e.job);
        return;
      case 'clusterReadIndex': {
        const answer = ctx.deferReply();
        return this.raft.readIndex((ok) => answer({ type: 'node.cluster-current', ok }));
      }
      case 'propose':
        this.raft.propose(encodeOrder(e.order));
        return;
      case 'proposeAll':
        return this.proposeAll(ctx, e.job, e.step, e.orders);
      case 'probeMembers':
        return this.probeMembers(ctx, e.job, e.nodes, e.timeoutMs);
      case 'after':
        ctx.clock.after(e.ms, e.msg);
        return;
      case 'tellSelf':
        return ctx.self.tell(e.msg);
      case 'startPresident':
        return this.startPresident(ctx);
      case 'stopPresident':
        ctx.stop(this.president!);
        this.president = null;
        return;
      case 'startRole': {
        const { config, core } = this;
        const { record, role } = e;
        this.role = ctx.spawn('role', () => ministryBehaviour({ config, record, role, clusterState: () => core.state }));
        return;
      }
      case 'stopRole':
        ctx.stop(this.role!);
        this.role = null;
        return;
      case 'appointRole':
        return this.role!.tell({ type: 'ministry.appointment', record: e.record });
      case 'dropGroupLog':
        return ctx.storage.delRange(`g/${e.group}/`, `g/${e.group}/\uffff`);
      case 'log':
        return ctx.log[e.level](e.fields, e.msg);
    }
  }

  private startPresident(ctx: Context): void {
    const { config, core } = this;
    this.president = ctx.spawn('president', () =>
      presidentBehaviour({
        config,
        state: () => core.state,
        propose: (order) => this.raft.propose(encodeOrder(order)),
        readIndex: (cb) => this.raft.readIndex(cb),
        proposeConfChange: (change) => this.raft.proposeConfChange(change),
        raft: () => raftMembership(this.raft),
        transferTo: (id) => this.raft.transferLeadership(id).ok,
        dissolving: (id) => core.dissolving(id),
        heardFrom: (id) => this.raft.heardFrom(id),
      }),
    );
  }

  /** Propose a subtree delete's orders in turn; the core learns the outcome. */
  private proposeAll(ctx: Context, job: number, step: SubtreeStep, orders: readonly ClusterOrder[]): void {
    const done = (o: OrdersOutcome): void => this.run(ctx, this.core.subtreeOrdered(job, step, o));
    let last = { index: 0, term: 0 };
    for (const order of orders) {
      const r = this.raft.propose(encodeOrder(order));
      if (!r.ok) return done({ ok: false, refused: r.reason });
      last = { index: r.index, term: r.term };
    }
    const { index } = last;
    this.raft.whenApplied(index, last.term, (o) => done(o.ok ? { ok: true, index } : { ok: false, lost: o.reason }));
  }

  /** Ask each of `nodes` for its NodeReport; the answers that came go to self. */
  private probeMembers(ctx: Context, job: number, nodes: string[], timeoutMs: number): void {
    const { addresses } = this.config;
    ctx.pipeToSelf(
      Promise.all(nodes.map((n) => ctx.ask<NodeSelfReport>(ctx.ref(addresses[n]!), { type: 'govfs.fs.NodeProbe' } satisfies NodeProbeMessage, { timeoutMs }).catch(() => null))),
      (reports): NodeSelfMsg => ({ type: 'node.subtree-probed', seq: job, reports: reports.filter((r): r is NodeSelfReport => r !== null) }),
      (): NodeSelfMsg => ({ type: 'node.subtree-probed', seq: job, reports: [] }),
    );
  }
}

/** Nodes that joined at runtime are reached at the address their memberJoin order gave. */
function learnAddresses(config: NodeConfig, state: ClusterState): void {
  for (const j of state.joined.values()) if (config.addresses[j.node] !== j.address) config.addresses[j.node] = j.address;
}

function fromRemoved(msg: Message, state: ClusterState): boolean {
  if (state.removed.size === 0 || typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; from?: unknown };
  return typeof m.type === 'string' && m.type.startsWith('govfs.raft.') && typeof m.from === 'string' && state.removed.has(m.from);
}

/** The cluster log's configuration as its leader sees it (membership-core.ts), or null on a
 * node that does not lead. */
function raftMembership(raft: RaftShell): RaftMembershipView | null {
  const s = raft.status();
  if (s.role !== 'leader' || !s.progress) return null;
  const match: Record<string, number> = {};
  for (const [id, p] of Object.entries(s.progress)) match[id] = p.match;
  return { voters: s.membership.voters, learners: s.membership.learners, pending: s.membershipIndex > s.commit, commit: s.commit, match };
}

/** The part of a NodeReport a subtree delete reads. */
type NodeSelfReport = Extract<NodeSelfMsg, { type: 'node.subtree-probed' }>['reports'][number];

/** What the host of a node (node-main.ts) hears from it, in process. */
export interface NodeHooks {
  /** The cluster log's members changed: nodes joined at runtime (to link to), removed ones (to
   * refuse). Called in the node's turn: do not block. */
  members?(joined: readonly Joined[], removed: ReadonlySet<string>): void;
}

export function nodeBehaviour(config: NodeConfig, hooks?: NodeHooks): Behaviour & { inspect(): Readonly<ClusterState>; inspectRaft(): ReturnType<RaftShell['status']> | null } {
  const shell = new NodeShell(config, hooks);
  return {
    /** This node's copy of the cluster state, for tests (`ActorCell.behaviour.inspect()`). */
    inspect: () => shell.core.state,
    /** Its cluster log's Raft status (role, term, membership, commit), for tests. */
    inspectRaft: () => shell.raftStatus(),
    started: (ctx) => shell.started(ctx),
    receive: (ctx, msg: Message) => shell.receive(ctx, msg),
    stopped: () => shell.stopped(),
  };
}

registerBehaviour('govfs.node', (config: NodeConfig) => nodeBehaviour(config));
