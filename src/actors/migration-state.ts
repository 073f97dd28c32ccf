// Live subtree migrations in the cluster log's state machine (issue 16). Split, merge and move
// are one mechanism: `subtree` goes from ministry `from` to ministry `to`, in four orders:
//
//   migrateStart     the migration exists (phase 'fencing'); for a split, its new ministry is
//                    formed here with the order's staff, and serves nothing until the map commits
//                    (ministryFor skips it: it is "incoming"). The source ministry, seeing it,
//                    fences the subtree in its own group log.
//   migrateHandover  the source's state of the subtree, once fenced and its leases waited out
//                    (phase 'handed'); the target installs it as its first entries in it.
//   mapCommit        the target installed it: the map sends the subtree there ('committed'). A
//                    merge's child ministry is dissolved here; a split's new ministry serves.
//   migrateAbort     rolled back ('aborted'): a split's new ministry is dissolved; the source
//                    unfences, the target drops what it may have installed.
//
// Each applies once: a repeated order for a migration past that phase changes nothing (orders
// are idempotent by migration id). At most one migration per ministry at a time, and none whose
// subtree overlaps another's. Finished migrations are kept (the last KEEP_FINISHED) for status.

import { isValidPath, isWithin, parentOf } from '../fs/path.js';
import type { ClusterState, MinistryRecord, OrderResult } from './cluster-state.js';

export type MigrationPhase = 'fencing' | 'handed' | 'committed' | 'aborted';
export const PHASES: readonly MigrationPhase[] = ['fencing', 'handed', 'committed', 'aborted'];

export interface Migration {
  id: string;
  subtree: string;
  from: string;
  to: string;
  phase: MigrationPhase;
  /** `to` was formed for this migration. */
  split: boolean;
  /** The handed-over state (phase 'handed' only). */
  namespace: Uint8Array | null;
  leaseToken: number;
  /** Why it was started, or aborted. */
  reason: string;
  /** Cluster log index of its migrateStart. */
  startedAt: number;
}

export type MigrationOrder =
  /** `to` '' is a split: a new ministry with this staff. */
  | { order: 'migrateStart'; id: string; subtree: string; from: string; to: string; minister: string; clerks: string[]; clerksWanted: number; why: string }
  | { order: 'migrateHandover'; id: string; namespace: Uint8Array; leaseToken: number }
  | { order: 'mapCommit'; id: string }
  | { order: 'migrateAbort'; id: string; reason: string };

const KEEP_FINISHED = 32;

export const migrationActive = (m: Migration): boolean => m.phase === 'fencing' || m.phase === 'handed';

/** Why `subtree` cannot go from `from` to `to` (an existing ministry, '' for a split) now, or
 * null. A split takes a directory strictly inside the source's subtree; a merge gives a
 * ministry's whole subtree to the ministry that serves the directory above it. */
export function migrationProblem(state: Readonly<ClusterState>, subtree: string, from: string, to: string): string | null {
  if (!isValidPath(subtree) || subtree === '/') return `${JSON.stringify(subtree)}: a subtree to move must be an absolute path other than /`;
  const src = state.ministries.get(from);
  if (!src) return `no ministry ${from}`;
  if (state.ministryFor(subtree)?.id !== from) return `${subtree} is not served by ${from}`;
  if (to === '') {
    if (src.subtree === subtree) return `${subtree} is already the whole subtree of ministry ${from}`;
  } else {
    const dst = state.ministries.get(to);
    if (!dst) return `no ministry ${to}`;
    if (src.subtree !== subtree) return `only a ministry's whole subtree can be merged (${from} serves ${src.subtree})`;
    const parent = parentOf(subtree);
    const above = parent === null ? null : state.ministryFor(parent);
    if (above?.id !== to) return `${subtree} can only be merged into the ministry above it (${above?.id ?? 'none'}), not ${to}`;
  }
  for (const m of state.migrations.values()) {
    if (!migrationActive(m)) continue;
    if ([m.from, m.to].includes(from) || (to !== '' && [m.from, m.to].includes(to))) return `ministry ${from === m.from || from === m.to ? from : to} is already in migration ${m.id}`;
    if (isWithin(subtree, m.subtree) || isWithin(m.subtree, subtree)) return `${subtree} overlaps migration ${m.id} of ${m.subtree}`;
  }
  return null;
}

/** Apply a migration order to `state` (ClusterState.apply). */
export function applyMigrationOrder(state: ClusterState, o: MigrationOrder, formNew: (subtree: string, minister: string, clerks: string[], clerksWanted: number) => MinistryRecord | string): OrderResult {
  if (o.order === 'migrateStart') {
    if (o.id !== '' && state.migrations.has(o.id)) return { ok: true };
    const problem = migrationProblem(state, o.subtree, o.from, o.to);
    if (problem !== null) return { ok: false, reason: problem };
    let to = o.to;
    if (to === '') {
      const formed = formNew(o.subtree, o.minister, o.clerks, o.clerksWanted);
      if (typeof formed === 'string') return { ok: false, reason: formed };
      to = formed.id;
    }
    const id = o.id !== '' ? o.id : `g${++state.migrationCounter}`;
    state.migrations.set(id, { id, subtree: o.subtree, from: o.from, to, phase: 'fencing', split: o.to === '', namespace: null, leaseToken: 0, reason: o.why, startedAt: state.applied });
    state.migrationsChanged();
    return { ok: true, ministry: state.ministries.get(to)! };
  }
  const m = state.migrations.get(o.id);
  if (!m) return { ok: false, reason: `no migration ${o.id}` };
  switch (o.order) {
    case 'migrateHandover':
      if (m.phase !== 'fencing') return { ok: true };
      m.phase = 'handed';
      m.namespace = o.namespace;
      m.leaseToken = o.leaseToken;
      return { ok: true };
    case 'mapCommit':
      if (m.phase !== 'handed') return m.phase === 'committed' ? { ok: true } : { ok: false, reason: `migration ${m.id} is ${m.phase}, not handed over` };
      m.phase = 'committed';
      m.namespace = null;
      // A merge: the child ministry goes (its staff go idle); the map falls back to `to`.
      if (!m.split) state.ministries.delete(m.from);
      finished(state);
      return { ok: true };
    case 'migrateAbort':
      if (!migrationActive(m)) return { ok: true };
      m.phase = 'aborted';
      m.namespace = null;
      m.reason = o.reason;
      if (m.split) state.ministries.delete(m.to);
      finished(state);
      return { ok: true };
  }
}

function finished(state: ClusterState): void {
  const done = [...state.migrations.values()].filter((m) => !migrationActive(m));
  for (const m of done.slice(0, Math.max(0, done.length - KEEP_FINISHED))) state.migrations.delete(m.id);
  state.migrationsChanged();
}
