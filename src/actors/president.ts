// The president's actor shell (thesis 3.2, 3.4): it runs a PresidentCore (president-core.ts,
// where every decision is made and explained) while this node leads the cluster log, and does
// its I/O: the probe timer (armed by the rules of president-ticks.ts), the probes to every
// node, the ReadIndex that confirms a new president has applied the log, proposals to the
// cluster log and leadership transfers. Each kind of message goes to one small method below.

import { PresidentCore, type PresidentEffect, type PresidentView } from './president-core.js';
import type { ClusterOrder, ClusterState } from './cluster-state.js';
import type { NodeConfig } from './node-config.js';
import type { BalanceReply, NodeReport } from './node-core.js';
import type { ConfChange, ProposeResult } from '../raft/index.js';
import { memberRequest, type RaftMembershipView } from './membership-core.js';
import type { MemberReplyMessage } from '../fs/requests.js';
import type { Behaviour, Context } from '../runtime/types.js';
import type { CrossRenameBeginMessage, CrossRenameVoteMessage, MigrationProgressMessage, MigrationQueryMessage, NodeProbeMessage } from '../fs/requests.js';
import type { MigrationAnswer } from './migration-core.js';
import { RenameCoordinator, type CoordinatorEffect } from './rename-core.js';
import { PresidentTicks } from './president-ticks.js';

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
  const shell = new PresidentShell(svc);
  return {
    started: (ctx) => shell.run(ctx, shell.core.start()),
    receive: (ctx, msg) => shell.receive(ctx, msg),
  };
}

/** A client's request to the president (forwarded by its node, node-core.ts). */
type PresidentRequest = { type: string } & Record<string, unknown>;

/** The president's shell: its core, the coordinator of renames across ministries, the tick timer. */
class PresidentShell {
  readonly core: PresidentCore;
  private readonly renames = new RenameCoordinator();
  private readonly view: PresidentView;
  private readonly ticks: PresidentTicks;
  private cancelTick: (() => void) | undefined;

  constructor(private readonly svc: PresidentServices) {
    this.core = new PresidentCore(svc.config);
    this.view = { get state() { return svc.state(); }, dissolving: (id) => svc.dissolving(id), raft: () => svc.raft(), heardFrom: (id) => svc.heardFrom?.(id) };
    this.ticks = new PresidentTicks(this.core.probeMs, this.core.loadEveryMs);
  }

  receive(ctx: Context<PresidentMsg>, msg: PresidentMsg): void {
    const now = ctx.clock.now();
    if (typeof msg === 'object' && typeof (msg as { type?: unknown }).type === 'string') return this.request(ctx, msg as unknown as PresidentRequest, now);
    if (msg === 'tick') this.tick(ctx, now);
    else if (msg === 'beat') this.beat(ctx, now);
    else if (msg.kind === 'migration') {
      if (msg.answer) this.core.migrationAnswered(msg.answer);
    } else if (msg.kind === 'ready') this.run(ctx, this.core.readied(msg.ok, now));
    else if (msg.kind === 'rename-vote') this.coordinate(ctx, this.renames.voted(msg.txid, msg.vote, this.view.state));
    else this.run(ctx, this.core.probed(msg.id, msg.report, now, this.view));
    // Anything may have made a tick due sooner (a failed or unsettled probe answer, ...).
    // While quiet heartbeats carry the probe rounds, the timer waits a tick longer for them.
    this.armTick(ctx, this.core.nextTickAt(ctx.clock.now(), this.view, this.ticks.beating(now) ? this.core.probeMs : 0));
  }

  /** Carry out `effects` in order; an effect's outcome goes straight back to the core. */
  run(ctx: Context<PresidentMsg>, effects: PresidentEffect[]): void {
    for (const e of effects) this.effect(ctx, e);
  }

  /** Tick at `at`, if the rules of PresidentTicks.arm move the timer. */
  private armTick(ctx: Context<PresidentMsg>, at: number): void {
    const to = this.ticks.arm(at, ctx.clock.now());
    if (to === null) return;
    this.cancelTick?.();
    this.cancelTick = ctx.clock.after(Math.max(0, to - ctx.clock.now()), 'tick');
  }

  private tick(ctx: Context<PresidentMsg>, now: number): void {
    this.ticks.fired();
    this.cancelTick = undefined;
    // While quiet heartbeats carry the probe rounds, a timer tick leaves a round due to them.
    this.run(ctx, this.core.tick(now, this.view, this.ticks.beating(now) ? -this.core.probeMs : 0));
  }

  /** A probe round goes out with the heartbeat if due within a tick (issue 19). */
  private beat(ctx: Context<PresidentMsg>, now: number): void {
    this.ticks.beat(now);
    if (this.ticks.ticking) this.run(ctx, this.core.tick(now, this.view, this.core.probeMs));
  }

  /** A client's order or a rename changes the cluster log: look again at the next probeMs. */
  private request(ctx: Context<PresidentMsg>, msg: PresidentRequest, now: number): void {
    this.armTick(ctx, this.ticks.soon(now));
    switch (msg.type) {
      case 'govfs.fs.BalanceRequest':
        return this.balanceRequest(ctx, (msg.action as string | undefined) ?? '', typeof msg.path === 'string' ? msg.path : '', now);
      case 'govfs.fs.MemberRequest':
        return this.memberRequest(ctx, msg as object);
      case 'govfs.fs.CrossRenameBegin':
        return this.coordinate(ctx, this.renames.begin(msg as unknown as CrossRenameBeginMessage, this.view.state));
    }
  }

  private effect(ctx: Context<PresidentMsg>, e: PresidentEffect): void {
    const { core, svc } = this;
    const { config } = svc;
    switch (e.kind) {
      case 'tickEvery':
        // Ticks from now on, each armed for when the next has work (core.nextTickAt).
        this.ticks.ticking = true;
        return ctx.self.tell('tick');
      case 'confirmApplied':
        return svc.readIndex((ok) => ctx.self.tell({ kind: 'ready', ok }));
      case 'probe':
        return ctx.pipeToSelf(
          ctx.ask<NodeReport>(ctx.ref(config.addresses[e.node]!), e.load ? LOAD_PROBE : PROBE, { timeoutMs: e.timeoutMs }),
          (report): PresidentMsg => ({ kind: 'probe', id: e.node, report }),
          (): PresidentMsg => ({ kind: 'probe', id: e.node, report: null }),
        );
      case 'propose':
        return this.run(ctx, core.proposed(e, svc.propose(e.order), ctx.clock.now()));
      case 'confChange':
        return this.run(ctx, core.confChanged(e, svc.proposeConfChange(e.change)));
      case 'transfer':
        return this.run(ctx, core.transferred(e, svc.transferTo(e.to), ctx.clock.now(), this.view));
      case 'migrationQuery':
        return ctx.pipeToSelf(
          ctx.ask<MigrationProgressMessage>(ctx.ref(config.addresses[e.node]!), { type: 'govfs.fs.MigrationQuery', migration: e.migration } satisfies MigrationQueryMessage, { timeoutMs: e.timeoutMs }),
          (r): PresidentMsg => ({ kind: 'migration', answer: { node: e.node, migration: String(r.migration), ministry: String(r.ministry), state: String(r.state), reason: String(r.reason ?? ''), namespace: r.namespace ?? null, leaseToken: Number(r.leaseToken ?? 0) } }),
          (): PresidentMsg => ({ kind: 'migration', answer: null }),
        );
      case 'log':
        return ctx.log[e.level]({ role: 'president', ...e.fields }, e.msg);
    }
  }

  /** Renames across ministries (rename-core.ts): ask the target to prepare, order decisions. */
  private coordinate(ctx: Context<PresidentMsg>, effects: CoordinatorEffect[]): void {
    const { config } = this.svc;
    for (const e of effects) {
      if (e.kind === 'ask-prepare') {
        ctx.pipeToSelf(
          ctx.ask<CrossRenameVoteMessage>(ctx.ref(`${config.addresses[e.node]}/role`), e.msg, { timeoutMs: e.timeoutMs }),
          (vote): PresidentMsg => ({ kind: 'rename-vote', txid: e.txid, vote }),
          (): PresidentMsg => ({ kind: 'rename-vote', txid: e.txid, vote: null }),
        );
        continue;
      }
      const r = this.svc.propose(e.order);
      // (debug: one per rename, not one per appointment.)
      if (r.ok) ctx.log.debug({ president: config.id, order: e.order, index: r.index }, `president ${config.id} orders ${e.why}`);
    }
  }

  /** `govfs balance on|off|plan`: an order in the cluster log, or the plan in words. */
  private balanceRequest(ctx: Context<PresidentMsg>, action: string, path: string, now: number): void {
    const { core, svc, view } = this;
    const reply = (r: Omit<BalanceReply, 'type'>): void => ctx.reply({ type: 'govfs.fs.BalanceReply', ...r });
    const balancing = view.state.balancing;
    if (action === 'split' || action === 'merge') {
      const r = core.requestMigration(action, path, now, view);
      if (!r.ok) return reply({ ok: false, balancing, plan: [], reason: r.reason, index: 0 });
      const e = r.effect as Extract<PresidentEffect, { kind: 'propose' }>;
      const p = svc.propose(e.order);
      if (!p.ok) return reply({ ok: false, balancing, plan: [], reason: `the cluster log refused the order (${p.reason}): retry`, index: 0 });
      this.run(ctx, core.proposed(e, p, now));
      return reply({ ok: true, balancing, plan: [e.why], reason: '', index: p.index });
    }
    if (action === 'plan') return reply({ ok: true, balancing, plan: core.planLines(now, view), reason: '', index: 0 });
    if (action !== 'on' && action !== 'off') return reply({ ok: false, balancing, plan: [], reason: `unknown balance action ${JSON.stringify(action)} (on, off, plan, split or merge) [EINVAL]`, index: 0 });
    const r = svc.propose({ order: 'balance', on: action === 'on' });
    if (!r.ok) return reply({ ok: false, balancing, plan: [], reason: `the cluster log refused the order (${r.reason}): retry`, index: 0 });
    ctx.log.info({ president: svc.config.id, index: r.index, on: action === 'on' }, `president ${svc.config.id} orders balance ${action}: asked by a client`);
    return reply({ ok: true, balancing: action === 'on', plan: [], reason: '', index: r.index });
  }

  /** `govfs node add|remove`: a memberJoin or memberLeave order; the rest follows from it. */
  private memberRequest(ctx: Context<PresidentMsg>, m: { action?: unknown; node?: unknown; address?: unknown; endpoint?: unknown }): void {
    const { config } = this.svc;
    const reply = (r: Omit<MemberReplyMessage, 'type'>): void => ctx.reply({ type: 'govfs.fs.MemberReply', ...r } satisfies MemberReplyMessage);
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const req = memberRequest(this.view.state, { action: str(m.action), node: str(m.node), address: str(m.address), endpoint: str(m.endpoint) }, config.id);
    if (!req.ok) return reply({ ok: false, code: req.code, reason: req.message, index: 0 });
    const r = this.svc.propose(req.order);
    if (!r.ok) return reply({ ok: false, code: 'EAGAIN', reason: `the cluster log refused the order (${r.reason}): retry`, index: 0 });
    ctx.log.info({ president: config.id, index: r.index, order: req.order }, `president ${config.id} orders ${req.order.order} ${req.order.node}: asked by a client`);
    return reply({ ok: true, code: '', reason: '', index: r.index });
  }
}
