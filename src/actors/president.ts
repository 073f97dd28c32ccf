// The president's actor shell (thesis 3.2, 3.4): it runs a PresidentCore (president-core.ts,
// where every decision is made and explained) while this node leads the cluster log, and does
// its I/O: the probe timer, the probes to every node, the ReadIndex that confirms a new
// president has applied the log, proposals to the cluster log and leadership transfers.

import { PresidentCore, type PresidentEffect, type PresidentView } from './president-core.js';
import type { ClusterOrder, ClusterState } from './cluster-state.js';
import type { NodeConfig } from './node.js';
import type { BalanceReply, NodeReport } from './node-core.js';
import type { ConfChange, ProposeResult } from '../raft/index.js';
import { memberRequest, type RaftMembershipView } from './membership-core.js';
import type { MemberReplyMessage } from '../fs/requests.js';
import type { Behaviour, Context } from '../runtime/types.js';
import type { CrossRenameBeginMessage, CrossRenameVoteMessage, MigrationProgressMessage, MigrationQueryMessage, NodeProbeMessage } from '../fs/requests.js';
import type { MigrationAnswer } from './migration-core.js';
import { RenameCoordinator, type CoordinatorEffect } from './rename-core.js';

export interface PresidentServices {
  config: NodeConfig;
  /** The cluster log's applied state on this node (read only). */
  state: () => ClusterState;
  propose: (order: ClusterOrder) => ProposeResult;
  readIndex: (cb: (ok: boolean) => void) => void;
  /** Change the cluster log's Raft configuration (membership-core.ts). */
  proposeConfChange: (change: ConfChange) => ProposeResult;
  /** The cluster log's configuration, while this node leads it. */
  raft: () => RaftMembershipView | null;
  /** Hand the cluster log's leadership to `id`; false if it could not start. */
  transferTo: (id: string) => boolean;
  /** Whether a subtree delete is fencing ministry `id` to dissolve it: not to be re-staffed. */
  dissolving: (id: string) => boolean;
  /** When node `id` last answered the cluster log this node leads (PresidentView.heardFrom). */
  heardFrom?: (id: string) => number | undefined;
}

const PROBE = { type: 'govfs.fs.NodeProbe' } satisfies NodeProbeMessage;
const LOAD_PROBE = { type: 'govfs.fs.NodeProbe', load: true } satisfies NodeProbeMessage;

type PresidentMsg =
  | 'tick'
  /** The cluster log sent a quiet heartbeat round (PresidentCore.beat). */
  | 'beat'
  | { kind: 'ready'; ok: boolean }
  | { kind: 'probe'; id: string; report: NodeReport | null }
  | { kind: 'migration'; answer: MigrationAnswer | null }
  | { kind: 'rename-vote'; txid: string; vote: CrossRenameVoteMessage | null };

export function presidentBehaviour(svc: PresidentServices): Behaviour<PresidentMsg> {
  const { config } = svc;
  const core = new PresidentCore(config);
  const renames = new RenameCoordinator();
  const view: PresidentView = { get state() { return svc.state(); }, dissolving: (id) => svc.dissolving(id), raft: () => svc.raft(), heardFrom: (id) => svc.heardFrom?.(id) };

  let ticking = false;
  let tickAt = Infinity;
  let cancelTick: (() => void) | undefined;
  /** A client's order or a rename asked for a look by then (until the next tick). */
  let lookBy = Infinity;
  /** The cluster log's last quiet heartbeat round ('beat'). */
  let beatAt = -Infinity;
  /** Tick at `at`. A timer armed sooner stays, unless nothing is due until after the next
   * probeMs (issue 19: once a probe round's answers are in, the tick armed while they were
   * outstanding has nothing to do; cancelling it costs no wake-up). A "soon" never moves the
   * timer later, so a stream of answers cannot put the tick off. */
  const armTick = (ctx: Context<PresidentMsg>, at: number): void => {
    at = Math.min(at, lookBy);
    if (!ticking || at === tickAt || (at > tickAt && at <= ctx.clock.now() + core.probeMs)) return;
    cancelTick?.();
    tickAt = at;
    cancelTick = ctx.clock.after(Math.max(0, at - ctx.clock.now()), 'tick');
  };

  /** Carry out `effects` in order; an effect's outcome goes straight back to the core. */
  const run = (ctx: Context<PresidentMsg>, effects: PresidentEffect[]): void => {
    for (const e of effects) {
      switch (e.kind) {
        case 'tickEvery':
          // Ticks from now on, each armed for when the next has work (core.nextTickAt).
          ticking = true;
          ctx.self.tell('tick');
          break;
        case 'confirmApplied':
          svc.readIndex((ok) => ctx.self.tell({ kind: 'ready', ok }));
          break;
        case 'probe':
          ctx.pipeToSelf(
            ctx.ask<NodeReport>(ctx.ref(config.addresses[e.node]!), e.load ? LOAD_PROBE : PROBE, { timeoutMs: e.timeoutMs }),
            (report): PresidentMsg => ({ kind: 'probe', id: e.node, report }),
            (): PresidentMsg => ({ kind: 'probe', id: e.node, report: null }),
          );
          break;
        case 'propose':
          run(ctx, core.proposed(e, svc.propose(e.order), ctx.clock.now()));
          break;
        case 'confChange':
          run(ctx, core.confChanged(e, svc.proposeConfChange(e.change)));
          break;
        case 'transfer':
          run(ctx, core.transferred(e, svc.transferTo(e.to), ctx.clock.now(), view));
          break;
        case 'migrationQuery':
          ctx.pipeToSelf(
            ctx.ask<MigrationProgressMessage>(ctx.ref(config.addresses[e.node]!), { type: 'govfs.fs.MigrationQuery', migration: e.migration } satisfies MigrationQueryMessage, { timeoutMs: e.timeoutMs }),
            (r): PresidentMsg => ({ kind: 'migration', answer: { node: e.node, migration: String(r.migration), ministry: String(r.ministry), state: String(r.state), reason: String(r.reason ?? ''), namespace: r.namespace ?? null, leaseToken: Number(r.leaseToken ?? 0) } }),
            (): PresidentMsg => ({ kind: 'migration', answer: null }),
          );
          break;
        case 'log':
          ctx.log[e.level]({ role: 'president', ...e.fields }, e.msg);
          break;
      }
    }
  };

  /** Renames across ministries (rename-core.ts): ask the target to prepare, order decisions. */
  const coordinate = (ctx: Context<PresidentMsg>, effects: CoordinatorEffect[]): void => {
    for (const e of effects) {
      if (e.kind === 'ask-prepare') {
        ctx.pipeToSelf(
          ctx.ask<CrossRenameVoteMessage>(ctx.ref(`${config.addresses[e.node]}/role`), e.msg, { timeoutMs: e.timeoutMs }),
          (vote): PresidentMsg => ({ kind: 'rename-vote', txid: e.txid, vote }),
          (): PresidentMsg => ({ kind: 'rename-vote', txid: e.txid, vote: null }),
        );
        continue;
      }
      const r = svc.propose(e.order);
      // (debug: one per rename, not one per appointment.)
      if (r.ok) ctx.log.debug({ president: config.id, order: e.order, index: r.index }, `president ${config.id} orders ${e.why}`);
    }
  };

  /** `govfs balance on|off|plan`: an order in the cluster log, or the plan in words. */
  const balanceRequest = (ctx: Context<PresidentMsg>, action: string, path: string, now: number): void => {
    const reply = (r: Omit<BalanceReply, 'type'>): void => ctx.reply({ type: 'govfs.fs.BalanceReply', ...r });
    const balancing = view.state.balancing;
    if (action === 'split' || action === 'merge') {
      const r = core.requestMigration(action, path, now, view);
      if (!r.ok) return reply({ ok: false, balancing, plan: [], reason: r.reason, index: 0 });
      const e = r.effect as Extract<PresidentEffect, { kind: 'propose' }>;
      const p = svc.propose(e.order);
      if (!p.ok) return reply({ ok: false, balancing, plan: [], reason: `the cluster log refused the order (${p.reason}): retry`, index: 0 });
      run(ctx, core.proposed(e, p, now));
      return reply({ ok: true, balancing, plan: [e.why], reason: '', index: p.index });
    }
    if (action === 'plan') return reply({ ok: true, balancing, plan: core.planLines(now, view), reason: '', index: 0 });
    if (action !== 'on' && action !== 'off') return reply({ ok: false, balancing, plan: [], reason: `unknown balance action ${JSON.stringify(action)} (on, off, plan, split or merge) [EINVAL]`, index: 0 });
    const r = svc.propose({ order: 'balance', on: action === 'on' });
    if (!r.ok) return reply({ ok: false, balancing, plan: [], reason: `the cluster log refused the order (${r.reason}): retry`, index: 0 });
    ctx.log.info({ president: config.id, index: r.index, on: action === 'on' }, `president ${config.id} orders balance ${action}: asked by a client`);
    return reply({ ok: true, balancing: action === 'on', plan: [], reason: '', index: r.index });
  };

  /** `govfs node add|remove`: a memberJoin or memberLeave order; the rest follows from it. */
  const memberRequestIn = (ctx: Context<PresidentMsg>, m: { action?: unknown; node?: unknown; address?: unknown; endpoint?: unknown }): void => {
    const reply = (r: Omit<MemberReplyMessage, 'type'>): void => ctx.reply({ type: 'govfs.fs.MemberReply', ...r } satisfies MemberReplyMessage);
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const req = memberRequest(view.state, { action: str(m.action), node: str(m.node), address: str(m.address), endpoint: str(m.endpoint) }, config.id);
    if (!req.ok) return reply({ ok: false, code: req.code, reason: req.message, index: 0 });
    const r = svc.propose(req.order);
    if (!r.ok) return reply({ ok: false, code: 'EAGAIN', reason: `the cluster log refused the order (${r.reason}): retry`, index: 0 });
    ctx.log.info({ president: config.id, index: r.index, order: req.order }, `president ${config.id} orders ${req.order.order} ${req.order.node}: asked by a client`);
    return reply({ ok: true, code: '', reason: '', index: r.index });
  };

  return {
    started(ctx) {
      run(ctx, core.start());
    },
    receive(ctx, msg) {
      const now = ctx.clock.now();
      // A client's order or a rename changes the cluster log: look again at the next probeMs.
      if (typeof msg === 'object' && typeof (msg as { type?: unknown }).type === 'string') {
        lookBy = Math.min(lookBy, now + core.probeMs);
        armTick(ctx, lookBy);
      }
      if (typeof msg === 'object' && (msg as { type?: string }).type === 'govfs.fs.BalanceRequest') {
        const m = msg as { action?: string; path?: string };
        return balanceRequest(ctx, m.action ?? '', typeof m.path === 'string' ? m.path : '', now);
      }
      if (typeof msg === 'object' && (msg as { type?: string }).type === 'govfs.fs.MemberRequest') return memberRequestIn(ctx, msg as object);
      if (typeof msg === 'object' && (msg as { type?: string }).type === 'govfs.fs.CrossRenameBegin') return coordinate(ctx, renames.begin(msg as unknown as CrossRenameBeginMessage, view.state));
      if (msg === 'tick') {
        tickAt = lookBy = Infinity;
        cancelTick = undefined;
        // While quiet heartbeats carry the probe rounds, a timer tick leaves a round due to them.
        run(ctx, core.tick(now, view, now - beatAt <= core.loadEveryMs ? -core.probeMs : 0));
      } else if (msg === 'beat') {
        // A probe round goes out with the heartbeat if due within a tick (issue 19).
        beatAt = now;
        if (ticking) run(ctx, core.tick(now, view, core.probeMs));
      } else if (msg.kind === 'migration') {
        if (msg.answer) core.migrationAnswered(msg.answer);
      } else if (msg.kind === 'ready') run(ctx, core.readied(msg.ok, now));
      else if (msg.kind === 'rename-vote') coordinate(ctx, renames.voted(msg.txid, msg.vote, view.state));
      else run(ctx, core.probed(msg.id, msg.report, now, view));
      // Anything may have made a tick due sooner (a failed or unsettled probe answer, ...).
      // While quiet heartbeats carry the probe rounds, the timer waits a tick longer for them.
      armTick(ctx, core.nextTickAt(ctx.clock.now(), view, now - beatAt <= core.loadEveryMs ? core.probeMs : 0));
    },
  };
}
