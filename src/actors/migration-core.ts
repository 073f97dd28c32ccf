// Live subtree migration (issue 16, thesis 3.4's splits and merges), the decisions: pure code,
// no ctx, timers or I/O. Split, merge and move are one mechanism (migration-state.ts has the
// orders and their effect on the subtree map; ministry-migrations.ts what a ministry's log
// holds of it):
//
//   1. president  migrateStart{id, subtree, from, to}        (cluster log; a split forms `to`)
//   2. source     MigrationFence{id, subtree}                (its group log: from this entry on,
//                 no member applies a change in the subtree; it is frozen)
//   3. source     waits out every lease that could still be believed in it, then answers the
//                 president's MigrationQuery with the subtree's state (namespace and every
//                 client's exactly-once record)
//   4. president  migrateHandover{id, state}                 (cluster log)
//   5. target     MigrationInstall{id, subtree, state}       (its group log, its first entries
//                 in the subtree; idempotent by id)
//   6. president  mapCommit{id}, once a target member reports it installed: the map moves
//   7. source     MigrationDrop{id, subtree}                 (the subtree leaves its namespace)
//
// Anyone may crash at any step. Every step's outcome is in a replicated log, so a new
// president resumes from the cluster log's phase, a new source minister finds the fence (or
// proposes it), a new target minister finds the install (or proposes it again from the cluster
// log's copy). A migration that makes no progress for `timeoutMs` (the source cannot fence,
// the subtree is no directory, a ministry went away) is aborted: migrateAbort, then the source
// unfences and the target drops what it installed. Clients are told EAGAIN while the subtree is
// fenced (their change was not applied: a retry is taken anew), and are redirected by the map
// afterwards.

import type { ClusterOrder, ClusterState, MinistryRecord } from './cluster-state.js';
import type { MigrationEntry } from './ministry-entry.js';
import type { MigrationMarks } from './ministry-migrations.js';
import { migrationActive, type Migration } from './migration-state.js';
import { isWithin } from '../fs/path.js';

// ---- a ministry's duties -------------------------------------------------------------------

/** A migration entry a ministry's minister should propose now. `confirm`: only once this
 * node's copy of the cluster log is known current (undoing a fence on a stale copy, say one
 * replaying history after a restart, could unfence a subtree that has moved). */
export interface MigrationDuty {
  entry: MigrationEntry;
  confirm: boolean;
  why: string;
}

/** What ministry `record` owes the migrations of `cluster`, given its log's `marks`: fence the
 * subtree it is handing over, install the one handed to it, and once a migration is over, drop
 * (it moved) or unfence (it stayed) what it fenced, and drop what it installed for nothing. */
export function migrationDuties(record: MinistryRecord, cluster: Readonly<ClusterState>, marks: MigrationMarks): MigrationDuty[] {
  const out: MigrationDuty[] = [];
  for (const m of cluster.migrations.values()) {
    if (!migrationActive(m)) continue;
    const mark = marks.get(m.id);
    if (m.from === record.id && !mark) out.push({ entry: { op: 'migration.fence', id: m.id, subtree: m.subtree }, confirm: false, why: `fence ${m.subtree} for migration ${m.id}` });
    // (Confirmed: a copy replaying old history must not install again a subtree whose mark was
    // forgotten since.)
    if (m.to === record.id && m.phase === 'handed' && mark?.state !== 'installed' && m.namespace !== null) {
      out.push({ entry: { op: 'migration.install', id: m.id, subtree: m.subtree, namespace: m.namespace, leaseToken: m.leaseToken }, confirm: true, why: `install ${m.subtree} of migration ${m.id}` });
    }
  }
  // Neutral marks of migrations the cluster state forgot (over, and older than the finished
  // ones it keeps) are forgotten too: the ministry state stays bounded.
  const gone = [...marks.marks.values()].filter((x) => (x.state === 'unfenced' || x.state === 'installed') && !cluster.migrations.has(x.id)).map((x) => x.id);
  if (gone.length > 0) out.push({ entry: { op: 'migration.forget', id: '', ids: gone.slice(0, 256) }, confirm: true, why: `forget the marks of ${gone.length} migration(s) over everywhere` });
  for (const mark of marks.marks.values()) {
    const m = cluster.migrations.get(mark.id);
    if (m && migrationActive(m)) continue;
    const ours = cluster.ministryFor(mark.subtree)?.id === record.id;
    if (mark.state === 'fenced') {
      out.push(ours ? { entry: { op: 'migration.unfence', id: mark.id }, confirm: true, why: `migration ${mark.id} was aborted: ${mark.subtree} is served here again` } : { entry: { op: 'migration.drop', id: mark.id, subtree: mark.subtree }, confirm: true, why: `migration ${mark.id} committed: ${mark.subtree} is served elsewhere` });
    } else if (mark.state === 'failed') {
      out.push({ entry: { op: 'migration.unfence', id: mark.id }, confirm: true, why: `migration ${mark.id} is over` });
    } else if (mark.state === 'installed' && !ours && mark.subtree !== record.subtree) {
      out.push({ entry: { op: 'migration.drop', id: mark.id, subtree: mark.subtree }, confirm: true, why: `migration ${mark.id} was aborted: ${mark.subtree} is not served here` });
    }
  }
  return out;
}

/** How long a client waits before it asks again for a path in a subtree that is moving
 * (FsError.retry_after_ms): a fence lasts a few cluster and group log commits when no lease
 * holds it up. */
export const MIGRATION_RETRY_AFTER_MS = 50;

/** Why ministry `record` must not serve `path` now because of a migration (EAGAIN), or null:
 * it is a split's new ministry whose map has not committed, `path` is in a subtree its log has
 * fenced, or in one handed to it that it has not installed yet (a member that lags). */
export function migrationGate(record: MinistryRecord, cluster: Readonly<ClusterState>, marks: MigrationMarks, path: string): string | null {
  if (cluster.migrations.size === 0 && marks.size === 0) return null;
  if (cluster.isIncoming(record.id)) return `the ministry of ${record.subtree} is being formed by a split: retry`;
  const fenced = marks.blocking(path);
  if (fenced) return `${fenced.subtree} is moving to another ministry (migration ${fenced.id}): retry`;
  for (const m of cluster.migrations.values()) {
    // (Any mark of it says its install applied here: the subtree may have left and come back.)
    if (m.to === record.id && m.phase !== 'aborted' && isWithin(path, m.subtree) && marks.get(m.id) === undefined) {
      return `${m.subtree} is being handed over to this ministry (migration ${m.id}): retry`;
    }
  }
  return null;
}

// ---- the president's driver ----------------------------------------------------------------

/** A member's answer to the president's MigrationQuery (govfs.fs.MigrationProgress). */
export interface MigrationAnswer {
  node: string;
  migration: string;
  ministry: string;
  state: string;
  reason: string;
  namespace?: Uint8Array | null;
  leaseToken?: number;
}

export type DriverEffect =
  | { kind: 'query'; node: string; migration: string }
  | { kind: 'order'; order: ClusterOrder; why: string; fields: Record<string, unknown> };

export interface DriverOptions {
  /** Abort a migration that made no progress for this long. */
  timeoutMs: number;
  /** Ask the members again this often. */
  queryEveryMs: number;
}

export const DEFAULT_MIGRATION_TIMEOUT_MS = 30_000;

function staffOf(r: MinistryRecord): string {
  return `${r.term} ${r.minister} ${r.clerks.join(',')}`;
}

/** The fast handover (step 3): when every member of the source's present staff says `clear`
 * (fenced, no read lease it granted in the subtree live, serving unchanged for a lease period)
 * and no write lease in it can be believed, no lease of the subtree is live anywhere: the
 * answer carrying its state, as if `ready`. (One member silent or waiting: the full wait.) */
function allClear(source: MinistryRecord, answers: readonly MigrationAnswer[]): MigrationAnswer | undefined {
  if (source.fenced) return undefined;
  const members = [source.minister, ...source.clerks];
  const said = new Map(answers.map((a) => [a.node, a]));
  if (!members.every((n) => said.get(n)?.state === 'clear' || said.get(n)?.state === 'ready')) return undefined;
  return answers.find((a) => members.includes(a.node) && a.namespace);
}

export class MigrationDriver {
  /** When this president first saw each migration in each phase. */
  private readonly since = new Map<string, { phase: string; at: number }>();
  private readonly answers = new Map<string, MigrationAnswer[]>();
  private readonly queried = new Map<string, { phase: string; at: number }>();
  /** When this president first saw each migration finished. */
  private readonly ended = new Map<string, number>();
  /** The source's staff each migration's answers were given under (staffOf). */
  private readonly staff = new Map<string, string>();

  constructor(private readonly o: DriverOptions) {}

  answered(a: MigrationAnswer): void {
    const list = (this.answers.get(a.migration) ?? []).filter((x) => x.node !== a.node);
    list.push(a);
    this.answers.set(a.migration, list);
  }

  /** The queries to send now (every queryEveryMs per migration). */
  queries(now: number, state: Readonly<ClusterState>): DriverEffect[] {
    const out: DriverEffect[] = [];
    for (const m of state.migrations.values()) {
      // A phase just entered is asked about at once (the subtree is fenced meanwhile); then
      // every queryEveryMs, or a quarter of it while the source is fencing, since every member
      // must have answered `clear` for a handover without the full wait.
      const last = this.queried.get(m.id);
      const every = m.phase === 'fencing' ? this.o.queryEveryMs / 4 : this.o.queryEveryMs;
      if (!migrationActive(m) || (last?.phase === m.phase && now - last.at < every)) continue;
      const ask = state.ministries.get(m.phase === 'fencing' ? m.from : m.to);
      if (!ask) continue;
      this.queried.set(m.id, { phase: m.phase, at: now });
      for (const node of new Set([ask.minister, ...ask.clerks])) out.push({ kind: 'query', node, migration: m.id });
    }
    return out;
  }

  /** At most one order that moves a migration on (or aborts it); none if it must wait. */
  decide(now: number, state: Readonly<ClusterState>): DriverEffect | null {
    for (const m of state.migrations.values()) {
      if (!migrationActive(m)) {
        this.answers.delete(m.id);
        this.staff.delete(m.id);
        if (!this.ended.has(m.id)) this.ended.set(m.id, now);
        continue;
      }
      const e = this.step(now, state, m);
      if (e) return e;
    }
    return null;
  }

  /** Whether ministry `id` was in a migration aborted less than `ms` ago (the balancer does not
   * try it again at once). */
  cooling(state: Readonly<ClusterState>, id: string, now: number, ms: number): boolean {
    for (const m of state.migrations.values()) {
      if (m.phase !== 'aborted' || (m.from !== id && m.to !== id)) continue;
      if (now - (this.ended.get(m.id) ?? now) < ms) return true;
    }
    return false;
  }

  private step(now: number, state: Readonly<ClusterState>, m: Migration): DriverEffect | null {
    const seen = this.since.get(m.id);
    if (!seen || seen.phase !== m.phase) this.since.set(m.id, { phase: m.phase, at: now });
    const fields = { migration: m.id, subtree: m.subtree, from: m.from, to: m.to };
    const abort = (reason: string): DriverEffect => ({ kind: 'order', order: { order: 'migrateAbort', id: m.id, reason }, why: `migration ${m.id} of ${m.subtree} (${m.from} -> ${m.to}) aborted: ${reason}`, fields: { ...fields, cause: 'migrationAborted' } });
    for (const id of [m.from, m.to]) if (!state.ministries.has(id)) return abort(`ministry ${id} no longer exists`);
    // Answers given under an earlier staff of the source do not speak for the present one.
    const staff = staffOf(state.ministries.get(m.from)!);
    const before = this.staff.get(m.id);
    if (before !== staff) {
      this.staff.set(m.id, staff);
      if (before !== undefined && m.phase === 'fencing') this.answers.delete(m.id);
    }
    const answers = (this.answers.get(m.id) ?? []).filter((a) => a.ministry === (m.phase === 'fencing' ? m.from : m.to));
    const at = this.since.get(m.id)!.at;
    const heard = (): string => answers.map((a) => `${a.node}: ${a.state}${a.reason ? ` (${a.reason})` : ''}`).join('; ') || 'no answers';
    // Checked before the orders that move it on: an order re-issued whenever the answers allow
    // it (a mapCommit after `installed`) but that never takes would otherwise keep the
    // migration, and every migration queued behind it, alive forever (issue 16, g22).
    if (now - at > this.o.timeoutMs) return abort(`no progress for ${Math.round(now - at)} ms in phase ${m.phase} (${heard()})`);
    if (m.phase === 'fencing') {
      const failed = answers.find((a) => a.state === 'failed');
      if (failed) return abort(failed.reason || `${m.from} could not fence ${m.subtree}`);
      const ready = answers.find((a) => a.state === 'ready' && a.namespace) ?? allClear(state.ministries.get(m.from)!, answers);
      if (ready) {
        return { kind: 'order', order: { order: 'migrateHandover', id: m.id, namespace: ready.namespace!, leaseToken: ready.leaseToken ?? 0 }, why: `migration ${m.id}: ${m.from} fenced ${m.subtree} and ${ready.state === 'clear' ? 'every member says no lease in it can still be believed' : 'waited out its leases'}; ${m.to} installs it next`, fields: { ...fields, cause: 'migrationHandover', bytes: ready.namespace!.length } };
      }
    } else if (answers.some((a) => a.state === 'installed')) {
      return { kind: 'order', order: { order: 'mapCommit', id: m.id }, why: `migration ${m.id}: ${m.to} installed ${m.subtree}; the map sends it there now`, fields: { ...fields, cause: 'mapCommit' } };
    }
    return null;
  }
}
