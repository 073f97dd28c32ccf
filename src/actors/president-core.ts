// The president's decisions (thesis 3.2, 3.4) as a pure state machine, in the style of the Raft
// core (src/raft/core.ts): each input (a tick, a probe answer, the outcome of an effect) comes
// with the time and the cluster log's applied state, and returns the effects for the shell
// (president.ts) to carry out in order. No ctx, timers, storage or randomness here.
//
// The president forms the ministries at bootstrap, probes every node, and re-staffs ministries
// whose members fail:
//
// - a failed clerk is replaced from the idle pool (with none idle, the ministry runs short);
// - a failed minister is replaced in two steps. First the ministry is fenced: every member is
//   held at a new term under no leader, so a minister that is only cut off from the president
//   can commit nothing more. Then, once a majority of the members report their logs at that
//   term, the most up-to-date one (last term, last index — the Raft vote rule; the thesis's
//   "highest commit index" alone could lose committed entries) is appointed with a new term;
// - if no majority answers, the subtree is marked down and the president keeps trying.
//
// A new president first confirms, with a ReadIndex, that it has applied every order committed
// before its term, and gives every node a full failure interval to answer before it judges
// anyone failed: it rebuilds its view from the log and from what nodes report, and never
// appoints a second minister to a healthy ministry.
//
// Once no ministry needs re-staffing, it balances read load (balancer.ts, thesis 3.4): every
// loadEveryMs its probes ask for each member's load, and a report counts only for the
// appointment (ministry and term) it was made under ("By including the term of the sending
// minister the president detects outdated reports and discards them").
//
// Two effects have an outcome the core needs at once: the shell proposes an order
// (`propose`) and hands the cluster log's answer to proposed(); it starts a leadership
// transfer (`transfer`) and hands whether it started to transferred(), which, if it did not,
// goes on deciding.

import type { ClusterOrder, ClusterState, MinistryRecord } from './cluster-state.js';
import type { NodeReport } from './node-core.js';
import { DEFAULT_BALANCE, planBalance, type BalanceOptions, type BalancePlan, type BalanceStep, type MinistryLoad } from './balancer.js';
import { LOAD_EVERY_MS, mergeHot, REPORT_TOP_K, type MemberLoad } from './load.js';
import type { ProposeResult } from '../raft/index.js';
import { nextMembershipStep, type RaftMembershipView } from './membership-core.js';
import { DEFAULT_MIGRATION_TIMEOUT_MS, MigrationDriver, type MigrationAnswer } from './migration-core.js';
import { migrationActive, migrationProblem } from './migration-state.js';
import { isValidPath, parentOf } from '../fs/path.js';
import { DEFAULT_WRITE_BALANCE, meanCpu, planWrites, type WriteStep } from './write-balancer.js';
import { SigmaMeter, type WriteCosts } from './clerk-count.js';
import type { LogLevel, PresidentConfig, PresidentEffect, PresidentView } from './president-core-types.js';
export type { LogLevel, PresidentConfig, PresidentEffect, PresidentView } from './president-core-types.js';

export class PresidentCore {
  readonly probeMs: number;
  readonly probeAnsweredMs: number;
  readonly failAfterMs: number;
  private readonly config: PresidentConfig;
  private ready = false;
  private readyAt = 0;
  private confirming = false;
  private readonly lastHeard = new Map<string, number>();
  /** When each node last answered the cluster log led here (PresidentView.heardFrom). */
  private readonly logHeard = new Map<string, number>();
  private readonly reports = new Map<string, NodeReport>();
  /** One order at a time: the next decision waits until this one applied (or timed out). */
  private pending: { index: number; until: number } | null = null;
  /** Since when a minister has answered without leading its group log (it may just be being
   * appointed, or be slow to learn of it): treated as failed after failAfterMs of that. */
  private readonly notLeadingSince = new Map<string, number>();
  /** When each node was last probed. */
  private readonly probedAt = new Map<string, number>();
  /** The last load each node reported, with the appointment it was made under. */
  private readonly loads = new Map<string, { ministry: string; groupTerm: number; load: MemberLoad; at: number; cpus: { cpu: number; at: number }[] }>();
  /** Each node's machine CPU from its last load report (only load probes carry it: a plain
   * probe's answer in between must not wipe it, or the spare-core rule would read "never
   * said" and draw on a busy machine; found by the balance sim's decoy seeds). */
  private readonly machines = new Map<string, { cpu: number; cores: number }>();
  private lastLoadProbe = -Infinity;
  /** The last tick did more than probe: the next one comes at probeMs (nextTickAt). */
  private acted = false;
  /** When this president first saw each ministry at its current term (balancing waits for it to settle). */
  private readonly termSeen = new Map<string, { term: number; at: number }>();
  /** When this president last saw each ministry in a migration: a ministry split off serves
   * only from the end of its migration, and its age (for merging back) counts from there. */
  private readonly migratingSeen = new Map<string, number>();
  /** Since when each ministry's minister has reported a CPU below the merge threshold (merge only once cold a while). */
  private readonly coldSince = new Map<string, number>();
  readonly loadEveryMs: number;
  /** The cluster log's configuration as of the decision being made (view.raft). */
  private raftNow: RaftMembershipView | null = null;
  private readonly balance: Required<BalanceOptions>;
  /** Live subtree migrations (migration-core.ts). */
  private readonly migrations: MigrationDriver;
  /** Equation 7's σ, fitted on the ministers' load reports (clerk-count.ts). */
  private readonly sigma = new SigmaMeter();

  constructor(config: PresidentConfig) {
    this.config = config;
    this.probeMs = config.probeMs ?? 50;
    this.probeAnsweredMs = Math.max(this.probeMs, config.probeAnsweredMs ?? this.probeMs);
    this.failAfterMs = config.failAfterMs ?? 1_000;
    this.loadEveryMs = config.loadEveryMs ?? LOAD_EVERY_MS;
    this.balance = { ...DEFAULT_BALANCE, ...config.balance };
    this.migrations = new MigrationDriver({ timeoutMs: config.migrationTimeoutMs ?? DEFAULT_MIGRATION_TIMEOUT_MS, queryEveryMs: Math.max(100, 2 * this.probeMs) });
  }

  start(): PresidentEffect[] {
    return [{ kind: 'tickEvery', ms: this.probeMs }];
  }

  /** A load round or re-probe may come `earlyMs` early (negative: late) with a quiet heartbeat (issue 19); no probe again within probeMs / 2. */
  tick(now: number, view: PresidentView, earlyMs = 0): PresidentEffect[] {
    if (!this.ready) {
      if (this.confirming) return [];
      this.confirming = true;
      return [{ kind: 'confirmApplied' }];
    }
    // A late answer still shows the node alive: wait for it as long as it counts.
    const load = now - this.lastLoadProbe >= this.loadEveryMs - earlyMs;
    if (load) this.lastLoadProbe = now;
    const out: PresidentEffect[] = [];
    for (const node of view.state.nodes) {
      // A node that answered its last probe is probed again after probeAnsweredMs; one that has
      // not yet, every tick. Judging stays every tick on lastHeard, so a node that stops
      // answering is taken for failed no later than with every-tick probes. A load round
      // (every loadEveryMs) probes every node.
      const sent = this.probedAt.get(node) ?? -Infinity;
      if (!load && (now - sent < this.probeMs / 2 || (now - sent < this.probeAnsweredMs - earlyMs && (this.lastHeard.get(node) ?? -Infinity) >= sent && this.settled(view.state, node)))) continue;
      this.probedAt.set(node, now);
      out.push({ kind: 'probe', node, timeoutMs: this.failAfterMs, load });
    }
    // A node that answers the cluster log is alive (see alive); its probes then only refresh
    // its report, which a settled node's changes little.
    for (const node of view.state.nodes) {
      const heard = view.heardFrom?.(node);
      if (heard !== undefined) this.logHeard.set(node, heard);
    }
    for (const q of this.migrations.queries(now, view.state)) if (q.kind === 'query') out.push({ kind: 'migrationQuery', node: q.node, migration: q.migration, timeoutMs: this.failAfterMs });
    if (this.pending && (view.state.applied >= this.pending.index || now > this.pending.until)) this.pending = null;
    // Judge nobody before every node had a full interval to answer this president.
    if (!this.pending && now - this.readyAt >= this.failAfterMs) out.push(...this.decide(now, view, true));
    this.acted = out.some((e) => e.kind !== 'probe');
    return out;
  }

  /** When the next tick has something to do (issue 19). While anything is under way, the next
   * probeMs; when all are settled and answered, the first of: a load round, a re-probe, a node's
   * silence reaching failAfterMs (cluster-log answers count; never its own node, always alive),
   * a minister not leading for failAfterMs; all but the last `roundWaitMs` late while heartbeats
   * carry the rounds (president.ts: the answers to the beat due then come just after it). */
  nextTickAt(now: number, view: PresidentView, roundWaitMs = 0): number {
    const soon = now + this.probeMs;
    const { state } = view;
    if (!this.ready || this.pending || this.acted || now - this.readyAt < this.failAfterMs || state.leaving.size > 0 || state.crossRenames.size > 0) return soon;
    for (const m of state.migrations.values()) if (migrationActive(m)) return soon;
    let at = this.lastLoadProbe + this.loadEveryMs + roundWaitMs;
    for (const node of state.nodes) {
      const sent = this.probedAt.get(node) ?? -Infinity;
      if ((this.lastHeard.get(node) ?? -Infinity) < sent || !this.settled(state, node)) return soon;
      at = Math.min(at, sent + this.probeAnsweredMs + roundWaitMs, node === this.config.id ? Infinity : Math.max(this.heard(node), view.heardFrom?.(node) ?? -Infinity) + this.failAfterMs + roundWaitMs);
    }
    for (const since of this.notLeadingSince.values()) at = Math.min(at, since + this.failAfterMs);
    return Math.max(at, soon);
  }

  /** The ReadIndex of confirmApplied came back. */
  readied(ok: boolean, now: number): PresidentEffect[] {
    this.confirming = false;
    if (!ok) return [];
    this.ready = true;
    this.readyAt = now;
    for (const id of this.config.nodes) this.lastHeard.set(id, now);
    return [log('info', { president: this.config.id }, `president ${this.config.id} ready: applied the cluster log; judges nobody failed for ${this.failAfterMs} ms`)];
  }

  /** A probe answered (`report`), or timed out (null). */
  probed(id: string, report: NodeReport | null, now: number, view: PresidentView): PresidentEffect[] {
    if (!report) return [];
    this.lastHeard.set(id, now);
    this.reports.set(id, report);
    // (On the wire a report without them decodes as 0 cores.)
    if (report.machineCores) this.machines.set(id, { cpu: report.machineCpu ?? 0, cores: report.machineCores });
    if (report.load) {
      const was = this.loads.get(id);
      this.loads.set(id, { ministry: report.ministry, groupTerm: report.groupTerm, load: report.load, at: now, cpus: [...(was?.ministry === report.ministry && was.groupTerm === report.groupTerm ? was.cpus.slice(-2) : []), { cpu: report.load.cpu, at: now }] });
      // A minister's sample for the σ fit, with the staff it reported under.
      const m = view.state.ministries.get(report.ministry);
      if (m && m.minister === id && m.term === report.groupTerm && report.leading) this.sigma.add({ clerks: m.clerks.length, writesPerSec: report.load.writesPerSec, readsPerSec: report.load.readsPerSec, cpu: report.load.cpu });
    }
    const m = view.state.ministries.get(report.ministry);
    const expected = m && m.minister === report.id && !m.fenced;
    if (!expected || report.leading) this.notLeadingSince.delete(report.id);
    else if (!this.notLeadingSince.has(report.id)) this.notLeadingSince.set(report.id, now);
    return [];
  }

  /** A member's answer to a `migrationQuery` effect. */
  migrationAnswered(a: MigrationAnswer): void {
    this.migrations.answered(a);
  }

  /** `cluster.split(path)` / `cluster.merge(path)` (`govfs ministry split|merge PATH`): the
   * order that starts the migration, or why not. A split forms a new ministry from idle nodes
   * (a minister and up to two clerks; re-staffing fills it up later); a merge gives a
   * ministry's whole subtree back to the ministry above it, which then dissolves it. */
  requestMigration(action: 'split' | 'merge', path: string, now: number, view: PresidentView, why = 'asked by a client', clerksWanted = 2, drawFrom?: readonly string[]): { ok: true; effect: PresidentEffect } | { ok: false; reason: string } {
    const { state } = view;
    if (!isValidPath(path) || path === '/') return { ok: false, reason: `${JSON.stringify(path)}: give an absolute path other than / [EINVAL]` };
    if (action === 'split') {
      const from = state.ministryFor(path);
      if (!from) return { ok: false, reason: `no ministry serves ${path} yet: retry [EAGAIN]` };
      // (The balancer's splits draw on `drawFrom`, its idle nodes with cores to spare; one asked
      // for by hand, on any idle node.)
      const pool = drawFrom ?? this.idlePool(now, state);
      if (pool.length === 0) return { ok: false, reason: `no idle node to form a ministry for ${path} [EBUSY]` };
      const clerks = pool.slice(1, 1 + clerksWanted);
      const problem = migrationProblem(state, path, from.id, '');
      if (problem !== null) return { ok: false, reason: `${problem} [EINVAL]` };
      return { ok: true, effect: propose({ order: 'migrateStart', id: '', subtree: path, from: from.id, to: '', minister: pool[0]!, clerks, clerksWanted, why }, `split ${path} off ${from.id} (${from.subtree}) into a new ministry (minister ${pool[0]}, clerks ${clerks.join(', ') || '(none)'}): ${why}`, { subtree: path, from: from.id, newMinister: pool[0], cause: 'split' }) };
    }
    const child = [...state.ministries.values()].find((m) => m.subtree === path);
    if (!child) return { ok: false, reason: `no ministry has ${path} as its subtree (govfs ministry list) [ENOENT]` };
    const parent = state.ministryFor(parentOf(path)!);
    if (!parent) return { ok: false, reason: `no ministry serves the parent of ${path} [EAGAIN]` };
    const problem = migrationProblem(state, path, child.id, parent.id);
    if (problem !== null) return { ok: false, reason: `${problem} [EINVAL]` };
    return { ok: true, effect: propose({ order: 'migrateStart', id: '', subtree: path, from: child.id, to: parent.id, minister: '', clerks: [], clerksWanted: 0, why }, `merge ${path} (${child.id}) back into ${parent.id} (${parent.subtree}): ${why}`, { subtree: path, from: child.id, to: parent.id, cause: 'merge' }) };
  }

  /** The cluster log's answer to a `propose` effect. */
  proposed(e: Extract<PresidentEffect, { kind: 'propose' }>, r: ProposeResult, now: number): PresidentEffect[] {
    const president = this.config.id;
    if (!r.ok) return [log('debug', { president, order: e.order, reason: r.reason }, 'president order refused by the cluster log')];
    this.pending = { index: r.index, until: now + 20 * this.probeMs };
    // (A handover's state is logged by its size.)
    const order = 'namespace' in e.order ? { ...e.order, namespace: `${e.order.namespace.length} bytes` } : e.order;
    return [log('info', { president, order, index: r.index, ...e.fields }, `president ${president} orders ${e.order.order}: ${e.why}`)];
  }

  /** The cluster log's answer to a `confChange` effect. */
  confChanged(e: Extract<PresidentEffect, { kind: 'confChange' }>, r: ProposeResult): PresidentEffect[] {
    const president = this.config.id;
    if (!r.ok) return [log('debug', { president, change: e.change, reason: r.reason }, 'president membership change refused by the cluster log')];
    return [log('info', { president, change: e.change, index: r.index }, `president ${president} changes the cluster log's configuration (${e.change.op} ${e.change.node}): ${e.why}`)];
  }

  /** Whether the leadership transfer of a `transfer` effect started; if not, decide on. */
  transferred(e: Extract<PresidentEffect, { kind: 'transfer' }>, ok: boolean, now: number, view: PresidentView): PresidentEffect[] {
    if (!ok) return this.decide(now, view, false);
    const president = this.config.id;
    return [log('info', { president, to: e.to, ministry: e.ministry }, `president ${president} serves in a ministry: hands the presidency to idle node ${e.to}`)];
  }

  // ---- judging nodes ---------------------------------------------------------------------

  /** Whether node `id`'s last report shows it where the cluster state has it: in no ministry,
   * or in an unfenced ministry at its term, leading it if it is its minister, and committed in
   * that term. An unsettled node (a failover, an appointment under way) is probed every tick,
   * since the decisions waiting on it read its report. */
  private settled(state: Readonly<ClusterState>, id: string): boolean {
    const role = state.roleOf(id);
    if (!role) return true;
    const m = role.ministry;
    const r = this.reports.get(id);
    return !m.fenced && r !== undefined && r.ministry === m.id && r.groupTerm === m.term && r.commitTerm === m.term && r.leading === (role.role === 'minister');
  }

  private alive(now: number, id: string): boolean {
    return id === this.config.id || this.heard(id) > now - this.failAfterMs;
  }

  /** When `id` last showed it is alive: a probe answer, or an answer to the cluster log. */
  private heard(id: string): number {
    return Math.max(this.lastHeard.get(id) ?? -Infinity, this.logHeard.get(id) ?? -Infinity);
  }

  /** Heard from since this president took office (a report to act on, not just grace). */
  private fresh(now: number, id: string): boolean {
    return this.alive(now, id) && this.reports.has(id);
  }

  private notLeadingFor(now: number, id: string): number {
    const since = this.notLeadingSince.get(id);
    return since === undefined ? 0 : now - since;
  }

  /** Why `id` counts as failed, in words: silent past failAfterMs, or answering without
   * leading the group log it was appointed to lead. */
  private failure(now: number, id: string, state?: Readonly<ClusterState>): string {
    if (state?.leaving.has(id) === true) return 'it is leaving the cluster (govfs node remove)';
    const heard = this.heard(id);
    const silent = heard === -Infinity ? 'never answered a probe of this president' : `no probe answer for ${Math.round(now - heard)} ms (limit ${this.failAfterMs} ms)`;
    const nl = this.notLeadingFor(now, id);
    return this.alive(now, id) && nl >= this.failAfterMs ? `answers but has not led its group log for ${Math.round(nl)} ms` : silent;
  }

  /** Idle members that may take a role: fresh, not leaving, and (membership-core.ts) in the
   * cluster log's configuration, a new node only once it joined it as a learner. */
  private idlePool(now: number, state: Readonly<ClusterState>, raft = this.raftNow): string[] {
    const inConf = raft ? new Set([...raft.voters, ...raft.learners]) : null;
    return state.unassigned().filter((n) => n !== this.config.id && this.fresh(now, n) && !state.leaving.has(n) && (inConf === null || inConf.has(n)));
  }

  /** The idle pool balancing draws on (BalanceOptions.spareCores): `spare`, and `busy`, idle
   * nodes whose machine had fewer cores idle (a node that never said: spare). */
  private balancePool(now: number, state: Readonly<ClusterState>): { spare: string[]; busy: { id: string; cpu: number; cores: number }[] } {
    const spare: string[] = [];
    const busy: { id: string; cpu: number; cores: number }[] = [];
    for (const id of this.idlePool(now, state)) {
      const m = this.machines.get(id);
      const cores = m?.cores ?? 0;
      const cpu = m?.cpu ?? 0;
      if (cores === 0 || (1 - cpu) * cores >= this.balance.spareCores) spare.push(id);
      else busy.push({ id, cpu, cores });
    }
    return { spare, busy };
  }

  /** The plan's note on idle nodes it leaves alone, if any. */
  private busyIdleNote(busy: readonly { id: string; cpu: number; cores: number }[]): string[] {
    if (busy.length === 0) return [];
    const each = busy.map((b) => `${b.id} (${((1 - b.cpu) * b.cores).toFixed(2)} of ${b.cores} cores idle)`);
    return [`idle ${each.join(', ')} not drawn on for balancing: fewer than ${this.balance.spareCores} of its machine's cores idle, so a ministry or clerk there would add no CPU`];
  }

  /** Taken for failed by re-staffing: silent, not leading its group, or leaving the cluster. */
  private replaceable(now: number, state: Readonly<ClusterState>, id: string): boolean {
    return !this.alive(now, id) || state.leaving.has(id);
  }

  // ---- deciding --------------------------------------------------------------------------

  /** At most one order (or leadership transfer); none if nothing needs doing. */
  private decide(now: number, view: PresidentView, mayTransfer: boolean): PresidentEffect[] {
    const { state } = view;
    const { config } = this;
    const raft = (this.raftNow = view.raft?.() ?? null);
    // A president that serves in a ministry hands the presidency to an idle node (a voter:
    // a learner cannot lead).
    const own = state.roleOf(config.id);
    if (own && mayTransfer) {
      const idle = this.idlePool(now, state, raft).filter((n) => raft === null || raft.voters.includes(n));
      if (idle.length > 0) return [{ kind: 'transfer', to: idle[0]!, ministry: own.ministry.id }];
    }
    const ministries = [...state.ministries.values()];
    // Bootstrap: the root ministry, then the configured static ones.
    if (!ministries.some((m) => m.subtree === '/')) {
      const pool = this.idlePool(now, state);
      if (pool.length === 0) return [];
      const clerks = pool.slice(1, 1 + (config.rootClerks ?? 2));
      return [propose({ order: 'appoint', subtree: '/', minister: pool[0]!, clerks, clerksWanted: config.rootClerks ?? 2 }, `bootstrap: / gets minister ${pool[0]}, clerks ${clerks.join(', ') || '(none)'}`, { subtree: '/', newMinister: pool[0], cause: 'bootstrap' })];
    }
    for (const spec of config.ministries ?? []) {
      // Formed once: a static ministry that a subtree delete dissolved stays dissolved (its
      // subtree now belongs to the ministry above, and may not even exist there).
      if (state.formed.has(spec.subtree)) continue;
      const pool = this.idlePool(now, state);
      if (pool.length < 1 + spec.clerks) continue;
      return [propose({ order: 'appoint', subtree: spec.subtree, minister: pool[0]!, clerks: pool.slice(1, 1 + spec.clerks), clerksWanted: spec.clerks }, `bootstrap: ${spec.subtree} gets minister ${pool[0]}`, { subtree: spec.subtree, newMinister: pool[0], cause: 'bootstrap' })];
    }
    for (const m of ministries) {
      if (view.dissolving(m.id)) continue;
      const e = this.restaff(now, state, m);
      if (e) return [e];
    }
    const member = raft && nextMembershipStep(state, raft, config.id);
    if (member) return [member.kind === 'conf' ? { kind: 'confChange', change: member.change, why: member.why } : propose(member.order, member.why, { node: member.order.node, cause: 'membership' })];
    const g = this.migrations.decide(now, state);
    if (g?.kind === 'order') return [propose(g.order, g.why, g.fields)];
    if (!state.balancing) return [];
    const step = this.plan(now, view).steps[0];
    if (step) return [balanceOrder(step)];
    const write = this.writePlan(now, view).steps[0];
    return write ? this.writeOrder(write, now, view) : [];
  }

  /** Write balancing (write-balancer.ts): what it would do now, and why. */
  writePlan(now: number, view: PresidentView): { steps: WriteStep[]; notes: string[] } {
    if (this.config.writeBalance === false) return { steps: [], notes: [] };
    const { state } = view;
    const judge = this.judgeable(now, view);
    const retryAfterMs = (this.config.writeBalance === undefined ? undefined : this.config.writeBalance.retryAfterMs) ?? 10_000;
    const mergeBelow = (this.config.writeBalance === undefined ? undefined : this.config.writeBalance.mergeBelow) ?? DEFAULT_WRITE_BALANCE.mergeBelow;
    const loads = this.ministryLoads(now, state);
    for (const m of state.ministries.values()) {
      const cpu = loads.get(m.id)?.ministerCpu;
      if (cpu == null || cpu >= mergeBelow) this.coldSince.delete(m.id);
      else if (!this.coldSince.has(m.id)) this.coldSince.set(m.id, now);
    }
    return planWrites({
      ministries: state.serving(),
      loads,
      idle: this.balancePool(now, state).spare.length,
      minClerks: this.balance.minClerks,
      judgeable: (m) => judge(m) && !state.migrationOf(m.id) && !this.migrations.cooling(state, m.id, now, retryAfterMs) && this.reportedSinceMigration(m),
      // Serving as it is, and cold, for how long (a merge waits mergeAfterMs of both).
      age: (m) => now - Math.max(this.termSeen.get(m.id)?.at ?? now, this.migratingSeen.get(m.id) ?? -Infinity, this.coldSince.get(m.id) ?? now),
      parentOf: (m) => state.ministryFor(parentOf(m.subtree) ?? '/'),
      statics: (this.config.ministries ?? []).map((x) => x.subtree),
      inMigration: (m) => state.migrationOf(m.id) !== undefined,
      migrating: [...state.migrations.values()].filter((g) => g.phase === 'fencing' || g.phase === 'handed').length,
      options: this.config.writeBalance,
      costs: this.sigma.costs(),
    });
  }

  /** Whether `m`'s minister has reported since the ministry's last migration ended: a report
   * sampled before its map committed still counts the subtree it split off (bench balance, 30
   * nodes: / split /t/1/1 off, then /t/1/0 as if it were half of what it had left, and kept
   * nothing). Two load rounds after: one for the member to sample, one for the probe. */
  private reportedSinceMigration(m: MinistryRecord): boolean {
    const seen = this.migratingSeen.get(m.id);
    const l = this.loads.get(m.minister);
    return seen === undefined || (l !== undefined && l.at - seen >= 2 * this.loadEveryMs);
  }

  private writeOrder(step: WriteStep, now: number, view: PresidentView): PresidentEffect[] {
    const r = step.kind === 'split' ? this.requestMigration('split', step.subtree, now, view, step.why, step.clerks, this.balancePool(now, view.state).spare) : this.requestMigration('merge', step.ministry.subtree, now, view, step.why);
    if (!r.ok) return [log('debug', { step: step.why, reason: r.reason }, 'write balancing step not possible now')];
    const e = r.effect as Extract<PresidentEffect, { kind: 'propose' }>;
    return [{ ...e, why: step.why, fields: { ...e.fields, ministry: step.ministry.id, cause: step.kind === 'split' ? 'writeLoadHigh' : 'writeLoadLow' } }];
  }

  // ---- balancing (balancer.ts) -------------------------------------------------------------

  /** Each ministry's load from its current members' fresh reports; reports made under an
   * earlier appointment (another ministry, an older term) do not count. */
  ministryLoads(now: number, state: Readonly<ClusterState>): Map<string, MinistryLoad> {
    const out = new Map<string, MinistryLoad>();
    for (const m of state.ministries.values()) {
      const of = (id: string): MemberLoad | null => {
        const l = this.loads.get(id);
        return l && l.ministry === m.id && l.groupTerm === m.term && now - l.at <= 3 * this.loadEveryMs ? l.load : null;
      };
      const members = [m.minister, ...m.clerks].map(of).filter((l): l is MemberLoad => l !== null);
      if (members.length === 0) continue;
      const clerks = m.clerks.map(of);
      const known = clerks.filter((l): l is MemberLoad => l !== null);
      out.set(m.id, {
        clerkCpu: known.length === clerks.length && known.length > 0 ? known.reduce((s, l) => s + l.cpu, 0) / known.length : null,
        ministerCpu: of(m.minister)?.cpu ?? null,
        ministerCpuRecent: of(m.minister) && meanCpu(this.loads.get(m.minister)!.cpus.filter((c) => c.at >= (this.migratingSeen.get(m.id) ?? -Infinity))),
        ministerReadsPerSec: of(m.minister)?.readsPerSec ?? 0,
        ministerWritesPerSec: of(m.minister)?.writesPerSec ?? 0,
        cpu: members.reduce((s, l) => s + l.cpu, 0) / members.length,
        readsPerSec: members.reduce((s, l) => s + l.readsPerSec, 0),
        writesPerSec: members.reduce((s, l) => s + l.writesPerSec, 0),
        hot: mergeHot(members.map((l) => l.hot), REPORT_TOP_K),
      });
    }
    return out;
  }

  /** The plan in words (`govfs balance plan`): a line per ministry, then the steps. */
  planLines(now: number, view: PresidentView): string[] {
    const plan = this.plan(now, view);
    const writes = this.writePlan(now, view);
    const lines = [`balancer ${view.state.balancing ? 'on' : 'off'} (grow above ${Math.round(this.balance.growAbove * 100)}%, shrink to ${Math.round(this.balance.shrinkBelow * 100)}%, at least ${this.balance.minClerks} clerks; split a minister saturated by writes, merge cold split-off ministries back)`, ...plan.notes, ...writes.notes];
    const c = this.sigma.costs();
    lines.splice(1, 0, c === null ? 'equation 7 (clerks per ministry): no minister has reported writes yet; σ not measured' : `equation 7 (clerks per ministry): minister CPU per write ${(c.perWrite * 1000).toFixed(3)} ms, per write and clerk ${c.perWritePerClerk === null ? 'not measured yet (one ministry size seen)' : `${(c.perWritePerClerk * 1000).toFixed(3)} ms`}, fitted on ${c.samples} reports (ministries of ${c.sizes.join(', ')} clerks)`);
    const steps = [...plan.steps, ...writes.steps];
    if (steps.length === 0) lines.push('nothing to do now');
    for (const [i, s] of steps.entries()) lines.push(`${i === 0 ? (view.state.balancing ? 'next' : 'would do') : 'then'}: ${s.why}`);
    if (plan.queued.length > 0) lines.push(`queued for a freed clerk: ${plan.queued.join(', ')}`);
    return lines;
  }

  /** What the balancer would do now, and why (`govfs balance plan`). */
  plan(now: number, view: PresidentView): BalancePlan {
    const { state } = view;
    this.raftNow = view.raft?.() ?? null;
    const pool = this.balancePool(now, state);
    const plan = planBalance({ ministries: state.serving(), loads: this.ministryLoads(now, state), idle: pool.spare, busyIdle: pool.busy.length, judgeable: this.judgeable(now, view), options: this.balance, costs: this.sigma.costs() });
    return { ...plan, notes: [...plan.notes, ...this.busyIdleNote(pool.busy)] };
  }

  /** The per-write costs the σ fit measured so far (equation 7), or null. */
  writeCosts(): WriteCosts | null {
    return this.sigma.costs();
  }

  /** Whether a ministry may be judged for balancing now: healthy, every member reporting, its
   * minister committed in its term, settled since its last change, in no migration. */
  private judgeable(now: number, view: PresidentView): (m: MinistryRecord) => boolean {
    const { state } = view;
    for (const m of state.ministries.values()) {
      const seen = this.termSeen.get(m.id);
      if (!seen || seen.term !== m.term) this.termSeen.set(m.id, { term: m.term, at: now });
      if (state.migrationOf(m.id)) this.migratingSeen.set(m.id, now);
    }
    return (m: MinistryRecord): boolean => {
      if (state.migrationOf(m.id)) return false;
      if (m.fenced || m.down || view.dissolving(m.id)) return false;
      if (![m.minister, ...m.clerks].every((id) => this.fresh(now, id))) return false;
      if (this.notLeadingFor(now, m.minister) > 0) return false;
      // Membership changes only once the minister follows the appointment and has committed
      // in it (see restaffClerks), and once the last change has settled.
      const r = this.reports.get(m.minister);
      if (r?.groupTerm !== m.term || r.commitTerm !== m.term) return false;
      return now - this.termSeen.get(m.id)!.at >= this.balance.settleMs;
    };
  }

  /** The order ministry `m` needs now, or null (it needs none, or must wait for one). */
  private restaff(now: number, state: Readonly<ClusterState>, m: MinistryRecord): PresidentEffect | null {
    // A minister that answers but does not lead (it restarted: a restarted leader waits for a
    // new appointment) is replaced like a failed one, through the fence.
    // A leaving minister is replaced only once a clerk can take over: fenced with no other
    // member, it would only be appointed again (and again). Until then it gets a clerk.
    const handover = state.leaving.has(m.minister) && this.heirs(now, state, m) > 0;
    const ministerOk = !m.fenced && this.alive(now, m.minister) && !handover && this.notLeadingFor(now, m.minister) < this.failAfterMs;
    return ministerOk ? this.restaffClerks(now, state, m) : this.replaceMinister(now, state, m);
  }

  /** Replace failed clerks from the idle pool; with none idle, run short. */
  private restaffClerks(now: number, state: Readonly<ClusterState>, m: MinistryRecord): PresidentEffect | null {
    const failed = m.clerks.filter((c) => this.replaceable(now, state, c));
    const pool = this.idlePool(now, state);
    // (A leaving minister with no clerk to hand over to wants one, whatever clerksWanted says.)
    const heirWanted = state.leaving.has(m.minister) && this.heirs(now, state, m) === 0 ? 1 : 0;
    const wanted = Math.max(heirWanted, m.clerksWanted - (m.clerks.length - failed.length));
    if (failed.length === 0 && (wanted <= 0 || pool.length === 0)) {
      return m.down ? propose({ order: 'down', ministry: m.id, down: false }, `${m.id} answers again`, { ministry: m.id, cause: 'recovered' }) : null;
    }
    // Membership changes one member at a time, and only once the minister follows the
    // current appointment: a minister that missed it (cut off from the cluster log) could
    // otherwise keep committing with a majority of an older member set that no majority of
    // the new one intersects, and a later fence would not stop it nor see its entries. And
    // only once it has committed an entry of its term: until then the entries committed
    // before may be held by a bare majority that the change would leave a minority.
    const r = this.reports.get(m.minister);
    if (r?.groupTerm !== m.term || r.commitTerm !== m.term) return null;
    if (failed.length === 0 && pool.length > 0 && wanted > 0) {
      return propose({ order: 'appoint', ministry: m.id, subtree: m.subtree, minister: m.minister, clerks: [...m.clerks, pool[0]!], clerksWanted: m.clerksWanted }, `${m.id} (${m.subtree}) is short of clerks: idle ${pool[0]} joins as clerk`, { ministry: m.id, minister: m.minister, newClerk: pool[0], cause: 'shortOfClerks' });
    }
    return propose({ order: 'appoint', ministry: m.id, subtree: m.subtree, minister: m.minister, clerks: m.clerks.filter((c) => c !== failed[0]), clerksWanted: m.clerksWanted }, `${m.id} (${m.subtree}) drops clerk ${failed[0]}: ${this.failure(now, failed[0]!, state)}`, { ministry: m.id, minister: m.minister, oldClerk: failed[0], cause: state.leaving.has(failed[0]!) ? 'clerkLeaving' : 'clerkFailed' });
  }

  /** Clerks of `m` that could take over from its minister: answering, not leaving. */
  private heirs(now: number, state: Readonly<ClusterState>, m: MinistryRecord): number {
    return m.clerks.filter((c) => !this.replaceable(now, state, c)).length;
  }

  /** Fence the ministry, then appoint the member with the most up-to-date log. */
  private replaceMinister(now: number, state: Readonly<ClusterState>, m: MinistryRecord): PresidentEffect | null {
    const members = m.fenced ? m.clerks.concat(m.minister) : [m.minister, ...m.clerks];
    const answering = members.filter((id) => this.fresh(now, id));
    if (answering.length * 2 <= members.length) {
      if (m.down) return null;
      return propose({ order: 'down', ministry: m.id, down: true }, `${m.id} (${m.subtree}) is down: only ${answering.length} of ${members.length} members answer`, { ministry: m.id, answering, cause: 'noMajority' });
    }
    if (!m.fenced) {
      return propose({ order: 'fence', ministry: m.id }, `${m.id} (${m.subtree}) fenced to replace minister ${m.minister}: ${this.failure(now, m.minister, state)}`, { ministry: m.id, oldMinister: m.minister, cause: state.leaving.has(m.minister) ? 'ministerLeaving' : this.alive(now, m.minister) ? 'ministerNotLeading' : 'ministerSilent' });
    }
    // Fenced: wait for a majority to report their logs at the fence term, then appoint the
    // most up-to-date of them.
    const atFence = members.filter((id) => {
      const r = this.reports.get(id);
      return this.fresh(now, id) && r !== undefined && r.ministry === m.id && r.groupTerm === m.term;
    });
    if (atFence.length * 2 <= members.length) return null;
    // Leaving members are passed over when the others at the fence are a majority by
    // themselves: the most up-to-date of any majority holds every committed entry (the Raft
    // vote rule), and a leaving minister appointed again would only be fenced again.
    const staying = atFence.filter((id) => !state.leaving.has(id));
    const electorate = staying.length * 2 > members.length ? staying : atFence;
    const best = electorate
      .map((id) => this.reports.get(id)!)
      .sort((a, b) => b.lastTerm - a.lastTerm || b.lastIndex - a.lastIndex || Number(state.leaving.has(a.id)) - Number(state.leaving.has(b.id)) || (a.id < b.id ? -1 : 1))[0]!;
    // Every member stays, the failed minister too (as a clerk): an entry committed before may
    // be held by a bare majority that includes members not answering now, and until the new
    // minister has copied it to a majority of the same set, another failover must still find
    // it. Failed members go afterwards, one at a time (see above); idle nodes join later.
    const clerks = members.filter((id) => id !== best.id);
    return propose({ order: 'appoint', ministry: m.id, subtree: m.subtree, minister: best.id, clerks, clerksWanted: m.clerksWanted }, `${m.id} (${m.subtree}) failover: ${best.id} replaces minister ${m.minister}, having the most up-to-date log of ${atFence.join(', ')} (last term ${best.lastTerm}, index ${best.lastIndex})`, { ministry: m.id, oldMinister: m.minister, newMinister: best.id, cause: 'failover' });
  }
}

/** The appointment that carries out a balancing step: the same ministry, one clerk more or
 * one fewer, and as many wanted (so that re-staffing neither refills nor undoes it). */
function balanceOrder(step: BalanceStep): PresidentEffect {
  const m = step.ministry;
  const clerks = step.kind === 'grow' ? [...m.clerks, step.node] : m.clerks.filter((c) => c !== step.clerk);
  const cause = step.kind === 'grow' ? 'readLoadHigh' : step.kind === 'shrink' ? 'readLoadLow' : 'freedForHotMinistry';
  const fields = step.kind === 'grow' ? { newClerk: step.node } : step.kind === 'shrink' ? { oldClerk: step.clerk } : { oldClerk: step.clerk, for: step.for };
  return propose({ order: 'appoint', ministry: m.id, subtree: m.subtree, minister: m.minister, clerks, clerksWanted: clerks.length }, step.why, { ministry: m.id, minister: m.minister, ...fields, cause });
}

function propose(order: ClusterOrder, why: string, fields: Record<string, unknown>): PresidentEffect {
  return { kind: 'propose', order, why, fields };
}

function log(level: LogLevel, fields: Record<string, unknown>, msg: string): PresidentEffect {
  return { kind: 'log', level, fields, msg };
}
