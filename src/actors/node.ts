// A GovFS node (thesis 4.3): the root of one host's actor tree. It runs the cluster log (an
// elected Raft whose leader is the president), learns the subtree map and its own appointment
// from it, and keeps exactly one role branch alive under it:
//
//   /<id>               this actor: cluster log, routing, probes
//   /<id>/role          clerk or minister of one ministry (group log, namespace, client sessions)
//   /<id>/president     while this node leads the cluster log
//
// Changing role is stopping the old branch (its group log shell, sessions, timers and asks go
// with it) and spawning the next. A node elected president while it serves in a ministry hands
// the presidency on to an idle node, so that an election never costs a ministry its staff; with
// no idle node it holds both roles.

import { RaftShell, type AppliedEntry } from '../raft/shell.js';
import { ClusterState, decodeOrder, encodeOrder } from './cluster-state.js';
import { NodeCore, type NodeEffect, type NodeSelfMsg, type OrdersOutcome, type SubtreeStep } from './node-core.js';
import { ministryBehaviour } from './ministry.js';
import { presidentBehaviour } from './president.js';
import { registerBehaviour } from '../runtime/runtime.js';
import type { Storage } from '../runtime/storage.js';
import type { Behaviour, Context, Message, Ref } from '../runtime/types.js';

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
   * twenty times as often). It must stay well above the longest stall of a node's event loop
   * (GC, a busy machine): at 100 ms a loaded 2-core machine changed president every minute. */
  electionMs?: number;
  /** How often the president probes every node, and after how long without an answer it
   * takes a node for failed (defaults 50 ms and 1,000 ms; like electionMs, well above the
   * stalls of a busy machine, since every failure costs a fence and a new appointment). */
  probeMs?: number;
  failAfterMs?: number;
  /** Compact a log after this many applied entries (default 10,000). */
  snapshotEntries?: number;
  /** Forget a client's completion record after this long without requests (default 10 min). */
  clientTtlMs?: number;
  /** A client silent this long loses its session at a member, and what it held there. */
  sessionTtlMs?: number;
  /** Lease duration (default 5 s) and the bound on clock drift between nodes over one lease
   * period (default 100 ms). */
  leaseTtlMs?: number;
  leaseDriftMs?: number;
}

export function roleAddress(config: NodeConfig, id: string): string {
  return `${config.addresses[id]}/role`;
}

/** Default NodeConfig.electionMs. */
export const ELECTION_MS = 1_000;

/** The cluster log's election timeout and heartbeat interval, in ticks. */
export function clusterTimers(config: NodeConfig): { tickMs: number; electionTicks: number; heartbeatTicks: number } {
  const tickMs = config.tickMs ?? 10;
  const electionTicks = Math.max(2, Math.round((config.electionMs ?? ELECTION_MS) / tickMs));
  return { tickMs, electionTicks, heartbeatTicks: Math.max(1, Math.min(electionTicks - 1, Math.round(electionTicks / 20))) };
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

export function nodeBehaviour(config: NodeConfig): Behaviour & { inspect(): Readonly<ClusterState> } {
  let raft: RaftShell;
  const core = new NodeCore(config, { term: () => raft.softState().term, caughtUp: () => raft.caughtUp() });
  let president: Ref | null = null;
  let role: Ref | null = null;
  /** The open asks of subtree deletes, by job. */
  const answers = new Map<number, (m: Message) => void>();

  /** Carry out the core's effects in order; an effect's outcome goes straight back to it. */
  const run = (ctx: Context, effects: NodeEffect[]): void => {
    for (const e of effects) {
      switch (e.kind) {
        case 'reply':
          ctx.reply(e.msg);
          break;
        case 'forwardToRole':
          ctx.forward(role!);
          break;
        case 'forwardToNode':
          ctx.forward(ctx.ref(config.addresses[e.node]!));
          break;
        case 'deferReply':
          answers.set(e.job, ctx.deferReply());
          break;
        case 'answer':
          answers.get(e.job)?.(e.msg);
          answers.delete(e.job);
          break;
        case 'clusterReadIndex': {
          const answer = ctx.deferReply();
          raft.readIndex((ok) => answer({ type: 'node.cluster-current', ok }));
          break;
        }
        case 'propose':
          raft.propose(encodeOrder(e.order));
          break;
        case 'proposeAll':
          proposeAll(ctx, e.job, e.step, e.orders);
          break;
        case 'probeMembers':
          ctx.pipeToSelf(
            Promise.all(e.nodes.map((n) => ctx.ask<NodeSelfReport>(ctx.ref(config.addresses[n]!), { type: 'govfs.fs.NodeProbe' }, { timeoutMs: e.timeoutMs }).catch(() => null))),
            (reports): NodeSelfMsg => ({ type: 'node.subtree-probed', seq: e.job, reports: reports.filter((r): r is NodeSelfReport => r !== null) }),
            (): NodeSelfMsg => ({ type: 'node.subtree-probed', seq: e.job, reports: [] }),
          );
          break;
        case 'after':
          ctx.clock.after(e.ms, e.msg);
          break;
        case 'tellSelf':
          ctx.self.tell(e.msg);
          break;
        case 'startPresident':
          president = ctx.spawn('president', () =>
            presidentBehaviour({
              config,
              state: () => core.state,
              propose: (order) => raft.propose(encodeOrder(order)),
              readIndex: (cb) => raft.readIndex(cb),
              transferTo: (id) => raft.transferLeadership(id).ok,
              dissolving: (id) => core.dissolving(id),
            }),
          );
          break;
        case 'stopPresident':
          ctx.stop(president!);
          president = null;
          break;
        case 'startRole': {
          const { record, role: as } = e;
          role = ctx.spawn('role', () => ministryBehaviour({ config, record, role: as, clusterState: () => core.state }));
          break;
        }
        case 'stopRole':
          ctx.stop(role!);
          role = null;
          break;
        case 'appointRole':
          role!.tell({ type: 'ministry.appointment', record: e.record });
          break;
        case 'dropGroupLog':
          ctx.storage.delRange(`g/${e.group}/`, `g/${e.group}/\uffff`);
          break;
        case 'log':
          ctx.log[e.level](e.fields, e.msg);
          break;
      }
    }
  };

  /** Propose a subtree delete's orders in turn; the core learns the outcome. */
  const proposeAll = (ctx: Context, job: number, step: SubtreeStep, orders: readonly Parameters<typeof encodeOrder>[0][]): void => {
    const done = (o: OrdersOutcome): void => run(ctx, core.subtreeOrdered(job, step, o));
    let last = { index: 0, term: 0 };
    for (const order of orders) {
      const r = raft.propose(encodeOrder(order));
      if (!r.ok) return done({ ok: false, refused: r.reason });
      last = { index: r.index, term: r.term };
    }
    const { index } = last;
    raft.whenApplied(index, last.term, (o) => done(o.ok ? { ok: true, index } : { ok: false, lost: o.reason }));
  };

  return {
    /** This node's copy of the cluster state, for tests (`ActorCell.behaviour.inspect()`). */
    inspect: () => core.state,
    started(ctx) {
      raft = new RaftShell(ctx, {
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
        onSoftState: (s) => run(ctx, core.leaderIs(s.leader)),
        afterApply: () => run(ctx, core.applied()),
      });
      run(ctx, core.start(storedGroups(ctx.storage)));
    },

    receive(ctx, msg: Message) {
      if (raft.handle(msg)) return;
      run(ctx, core.receive(msg, ctx.clock.now()));
    },

    stopped() {
      raft?.stop();
    },
  };
}

/** The part of a NodeReport a subtree delete reads. */
type NodeSelfReport = Extract<NodeSelfMsg, { type: 'node.subtree-probed' }>['reports'][number];

registerBehaviour('govfs.node', (config: NodeConfig) => nodeBehaviour(config));
