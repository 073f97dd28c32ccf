// The president (thesis 3.2, 3.4): the leader of the cluster log. It forms the ministries at
// bootstrap, probes every node, and re-staffs ministries whose members fail:
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

import type { ClusterOrder, ClusterState, MinistryRecord } from './cluster-state.js';
import type { NodeConfig } from './node.js';
import type { ProposeResult } from '../raft/index.js';
import type { Behaviour, Context } from '../runtime/types.js';

export interface PresidentServices {
  config: NodeConfig;
  /** The cluster log's applied state on this node (read only). */
  state: () => ClusterState;
  propose: (order: ClusterOrder) => ProposeResult;
  readIndex: (cb: (ok: boolean) => void) => void;
  /** Hand the cluster log's leadership to `id`; false if it could not start. */
  transferTo: (id: string) => boolean;
  /** Whether a subtree delete is fencing ministry `id` to dissolve it: not to be re-staffed. */
  dissolving: (id: string) => boolean;
}

interface NodeReport {
  id: string;
  role: string;
  ministry: string;
  groupTerm: number;
  commit: number;
  lastIndex: number;
  lastTerm: number;
  commitTerm: number;
  caughtUp: boolean;
  leading: boolean;
}

type PresidentMsg =
  | 'tick'
  | { kind: 'ready'; ok: boolean }
  | { kind: 'probe'; id: string; report: NodeReport | null };

export function presidentBehaviour(svc: PresidentServices): Behaviour<PresidentMsg> {
  const { config } = svc;
  const probeMs = config.probeMs ?? 50;
  const failAfterMs = config.failAfterMs ?? 1_000;
  let ready = false;
  let readyAt = 0;
  let confirming = false;
  const lastHeard = new Map<string, number>();
  const reports = new Map<string, NodeReport>();
  /** One order at a time: the next decision waits until this one applied (or timed out). */
  let pending: { index: number; until: number } | null = null;
  /** Since when a minister has answered without leading its group log (it may just be being
   * appointed, or be slow to learn of it): treated as failed after failAfterMs of that. */
  const notLeadingSince = new Map<string, number>();
  const notLeadingFor = (ctx: Context, id: string): number => {
    const since = notLeadingSince.get(id);
    return since === undefined ? 0 : ctx.clock.now() - since;
  };

  const alive = (ctx: Context, id: string): boolean =>
    id === config.id || (lastHeard.get(id) ?? -Infinity) > ctx.clock.now() - failAfterMs;
  /** Heard from since this president took office (a report to act on, not just grace). */
  const fresh = (ctx: Context, id: string): boolean => alive(ctx, id) && reports.has(id);

  /** Propose `o`, logged at info with why (in words, and as `fields`: ministry, old and new
   * minister, cause). */
  const order = (ctx: Context, o: ClusterOrder, why: string, fields: Record<string, unknown> = {}): void => {
    const r = svc.propose(o);
    if (r.ok) {
      pending = { index: r.index, until: ctx.clock.now() + 20 * probeMs };
      ctx.log.info({ president: config.id, order: o, index: r.index, ...fields }, `president ${config.id} orders ${o.order}: ${why}`);
    } else {
      ctx.log.debug({ president: config.id, order: o, reason: r.reason }, 'president order refused by the cluster log');
    }
  };

  /** Why `id` counts as failed, in words: silent past failAfterMs, or answering without
   * leading the group log it was appointed to lead. */
  const failure = (ctx: Context, id: string): string => {
    const heard = lastHeard.get(id);
    const silent = heard === undefined ? 'never answered a probe of this president' : `no probe answer for ${Math.round(ctx.clock.now() - heard)} ms (limit ${failAfterMs} ms)`;
    const nl = notLeadingFor(ctx, id);
    return alive(ctx, id) && nl >= failAfterMs ? `answers but has not led its group log for ${Math.round(nl)} ms` : silent;
  };

  const idlePool = (ctx: Context): string[] =>
    svc
      .state()
      .unassigned()
      .filter((n) => n !== config.id && fresh(ctx, n));

  /** Decide at most one order; false if nothing needed doing. */
  const decide = (ctx: Context): boolean => {
    const state = svc.state();
    // A president that serves in a ministry hands the presidency to an idle node.
    if (state.roleOf(config.id)) {
      const idle = idlePool(ctx);
      if (idle.length > 0 && svc.transferTo(idle[0]!)) {
        ctx.log.info({ president: config.id, to: idle[0], ministry: state.roleOf(config.id)!.ministry.id }, `president ${config.id} serves in a ministry: hands the presidency to idle node ${idle[0]}`);
        return true;
      }
    }
    const ministries = [...state.ministries.values()];
    // Bootstrap: the root ministry, then the configured static ones.
    if (!ministries.some((m) => m.subtree === '/')) {
      const pool = idlePool(ctx);
      if (pool.length === 0) return false;
      const clerks = pool.slice(1, 1 + (config.rootClerks ?? 2));
      order(ctx, { order: 'appoint', subtree: '/', minister: pool[0]!, clerks, clerksWanted: config.rootClerks ?? 2 }, `bootstrap: / gets minister ${pool[0]}, clerks ${clerks.join(', ') || '(none)'}`, { subtree: '/', newMinister: pool[0], cause: 'bootstrap' });
      return true;
    }
    for (const spec of config.ministries ?? []) {
      // Formed once: a static ministry that a subtree delete dissolved stays dissolved (its
      // subtree now belongs to the ministry above, and may not even exist there).
      if (state.formed.has(spec.subtree)) continue;
      const pool = idlePool(ctx);
      if (pool.length < 1 + spec.clerks) continue;
      order(ctx, { order: 'appoint', subtree: spec.subtree, minister: pool[0]!, clerks: pool.slice(1, 1 + spec.clerks), clerksWanted: spec.clerks }, `bootstrap: ${spec.subtree} gets minister ${pool[0]}`, { subtree: spec.subtree, newMinister: pool[0], cause: 'bootstrap' });
      return true;
    }
    for (const m of ministries) if (!svc.dissolving(m.id) && restaff(ctx, m)) return true;
    return false;
  };

  const restaff = (ctx: Context, m: MinistryRecord): boolean => {
    const members = m.fenced ? m.clerks.concat(m.minister) : [m.minister, ...m.clerks];
    const answering = members.filter((id) => fresh(ctx, id));
    const majority = answering.length * 2 > members.length;
    // A minister that answers but does not lead (it restarted: a restarted leader waits for a
    // new appointment) is replaced like a failed one, through the fence.
    const ministerOk = !m.fenced && alive(ctx, m.minister) && notLeadingFor(ctx, m.minister) < failAfterMs;
    if (ministerOk) {
      // Replace failed clerks from the idle pool; with none idle, run short.
      const failed = m.clerks.filter((c) => !alive(ctx, c));
      const pool = idlePool(ctx);
      const wanted = m.clerksWanted - (m.clerks.length - failed.length);
      if (failed.length === 0 && (wanted <= 0 || pool.length === 0)) {
        if (m.down) order(ctx, { order: 'down', ministry: m.id, down: false }, `${m.id} answers again`, { ministry: m.id, cause: 'recovered' });
        return m.down;
      }
      // Membership changes one member at a time, and only once the minister follows the
      // current appointment: a minister that missed it (cut off from the cluster log) could
      // otherwise keep committing with a majority of an older member set that no majority of
      // the new one intersects, and a later fence would not stop it nor see its entries. And
      // only once it has committed an entry of its term: until then the entries committed
      // before may be held by a bare majority that the change would leave a minority.
      const r = reports.get(m.minister);
      if (r?.groupTerm !== m.term || r.commitTerm !== m.term) return false;
      if (failed.length === 0 && pool.length > 0 && wanted > 0) {
        order(ctx, { order: 'appoint', ministry: m.id, subtree: m.subtree, minister: m.minister, clerks: [...m.clerks, pool[0]!], clerksWanted: m.clerksWanted }, `${m.id} (${m.subtree}) is short of clerks: idle ${pool[0]} joins as clerk`, { ministry: m.id, minister: m.minister, newClerk: pool[0], cause: 'shortOfClerks' });
        return true;
      }
      order(ctx, { order: 'appoint', ministry: m.id, subtree: m.subtree, minister: m.minister, clerks: m.clerks.filter((c) => c !== failed[0]), clerksWanted: m.clerksWanted }, `${m.id} (${m.subtree}) drops clerk ${failed[0]}: ${failure(ctx, failed[0]!)}`, { ministry: m.id, minister: m.minister, oldClerk: failed[0], cause: 'clerkFailed' });
      return true;
    }
    if (!majority) {
      if (!m.down) {
        order(ctx, { order: 'down', ministry: m.id, down: true }, `${m.id} (${m.subtree}) is down: only ${answering.length} of ${members.length} members answer`, { ministry: m.id, answering, cause: 'noMajority' });
        return true;
      }
      return false;
    }
    if (!m.fenced) {
      order(ctx, { order: 'fence', ministry: m.id }, `${m.id} (${m.subtree}) fenced to replace minister ${m.minister}: ${failure(ctx, m.minister)}`, { ministry: m.id, oldMinister: m.minister, cause: alive(ctx, m.minister) ? 'ministerNotLeading' : 'ministerSilent' });
      return true;
    }
    // Fenced: wait for a majority to report their logs at the fence term, then appoint the
    // most up-to-date of them.
    const atFence = members.filter((id) => {
      const r = reports.get(id);
      return fresh(ctx, id) && r !== undefined && r.ministry === m.id && r.groupTerm === m.term;
    });
    if (atFence.length * 2 <= members.length) return false;
    const best = atFence
      .map((id) => reports.get(id)!)
      .sort((a, b) => b.lastTerm - a.lastTerm || b.lastIndex - a.lastIndex || (a.id < b.id ? -1 : 1))[0]!;
    // Every member stays, the failed minister too (as a clerk): an entry committed before may
    // be held by a bare majority that includes members not answering now, and until the new
    // minister has copied it to a majority of the same set, another failover must still find
    // it. Failed members go afterwards, one at a time (see above); idle nodes join later.
    const clerks = members.filter((id) => id !== best.id);
    order(ctx, { order: 'appoint', ministry: m.id, subtree: m.subtree, minister: best.id, clerks, clerksWanted: m.clerksWanted }, `${m.id} (${m.subtree}) failover: ${best.id} replaces minister ${m.minister}, having the most up-to-date log of ${atFence.join(', ')} (last term ${best.lastTerm}, index ${best.lastIndex})`, { ministry: m.id, oldMinister: m.minister, newMinister: best.id, cause: 'failover' });
    return true;
  };

  return {
    started(ctx) {
      ctx.clock.every(probeMs, 'tick');
      ctx.self.tell('tick');
    },
    receive(ctx, msg) {
      if (msg === 'tick') {
        if (!ready) {
          if (!confirming) {
            confirming = true;
            svc.readIndex((ok) => ctx.self.tell({ kind: 'ready', ok }));
          }
          return;
        }
        for (const id of config.nodes) {
          ctx.pipeToSelf(
            // A late answer still shows the node alive: wait for it as long as it counts.
            ctx.ask<NodeReport>(ctx.ref(config.addresses[id]!), { type: 'govfs.fs.NodeProbe' }, { timeoutMs: failAfterMs }),
            (report): PresidentMsg => ({ kind: 'probe', id, report }),
            (): PresidentMsg => ({ kind: 'probe', id, report: null }),
          );
        }
        if (pending && (svc.state().applied >= pending.index || ctx.clock.now() > pending.until)) pending = null;
        // Judge nobody before every node had a full interval to answer this president.
        if (!pending && ctx.clock.now() - readyAt >= failAfterMs) decide(ctx);
        return;
      }
      if (msg.kind === 'ready') {
        confirming = false;
        if (msg.ok) {
          ready = true;
          readyAt = ctx.clock.now();
          ctx.log.info({ president: config.id }, `president ${config.id} ready: applied the cluster log; judges nobody failed for ${failAfterMs} ms`);
          for (const id of config.nodes) lastHeard.set(id, readyAt);
        }
        return;
      }
      if (msg.kind === 'probe' && msg.report) {
        lastHeard.set(msg.id, ctx.clock.now());
        reports.set(msg.id, msg.report);
        const r = msg.report;
        const m = svc.state().ministries.get(r.ministry);
        const expected = m && m.minister === r.id && !m.fenced;
        if (!expected || r.leading) notLeadingSince.delete(r.id);
        else if (!notLeadingSince.has(r.id)) notLeadingSince.set(r.id, ctx.clock.now());
      }
    },
  };
}

