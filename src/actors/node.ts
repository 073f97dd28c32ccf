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

import { RaftShell, type AppliedEntry } from '../raft/shell.js';
import { ClusterState, decodeOrder, encodeOrder, type ClusterOrder } from './cluster-state.js';
import { NodeCore, type NodeEffect, type NodeSelfMsg, type OrdersOutcome, type SubtreeStep } from './node-core.js';
import { clusterTimers, type NodeConfig } from './node-config.js';
import { ministryBehaviour } from './ministry.js';
import { presidentBehaviour } from './president.js';
import { registerBehaviour } from '../runtime/runtime.js';
import type { Storage } from '../runtime/storage.js';
import type { Behaviour, Context, Message, Ref } from '../runtime/types.js';
import type { NodeProbeMessage } from '../fs/requests.js';
import { chunkStoreBehaviour } from '../data/shell.js';
import { isDataFsRequest } from '../data/fs-wire.js';
import type { Joined, RaftMembershipView } from './membership-core.js';

export type { NodeInternal } from './node-core.js';

export { CLUSTER_TICK_MS, ELECTION_MS, GROUP_TICK_MS, IDLE_HEARTBEAT_MS, IDLE_PROBE_MS, PRESIDENT_TICK_MS, clusterTimers, roleAddress, type NodeConfig } from './node-config.js';

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
    // A node removed from the cluster is refused (NodeCore.refuses).
    if (this.core.refuses(msg)) return;
    // Every client request crosses here: routed at once (no Raft shell checks, no effect list).
    if ((msg as { type?: unknown } | null)?.type === 'govfs.fs.FsRequest') {
      if (this.chunks !== null && isDataFsRequest(msg)) return ctx.forward(this.chunks);
      return this.effect(ctx, this.core.route(String((msg as { path?: unknown }).path)));
    }
    if (this.raft.handle(msg)) return;
    const m = msg as { type?: unknown; load?: unknown } | null;
    if (m?.type === 'govfs.fs.NodeProbe' && m.load === true) this.core.machineRead(ctx.clock.machineBusy());
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
