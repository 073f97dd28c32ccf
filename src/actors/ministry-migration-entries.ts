// Live subtree migration in a ministry's log (issue 16, thesis 3.4's splits and merges): how the
// entries MigrationFence, MigrationInstall, MigrationDrop, MigrationUnfence and MigrationForget
// apply to a ministry's replicated state, which other entries a fence refuses meanwhile, and what
// a member answers the president's MigrationQuery (handover). ministry-migrations.ts holds the
// marks, migration-core.ts the decisions. Cut out of ministry-namespace.ts, which keeps the
// state and applies entries in log order: these take that state (ReplicaParts) as an argument.

import { FsError } from '../fs/errors.js';
import type { FsErrorData } from '../fs/errors.js';
import { DecodeError } from '../wire/errors.js';
import type { Namespace } from '../fs/namespace.js';
import { isWithin } from '../fs/path.js';
import { extractSubtree, graftSubtree, handedRoot, handoverProblem, pruneSubtree, subtreeFileInos } from '../fs/subtree-handover.js';
import { FileLayouts } from './layouts.js';
import type { WriteLeaseState } from './leases.js';
import type { MigrationEntry } from './ministry-entry.js';
import type { LeaseQuiet, MigrationMark, MigrationMarks } from './ministry-migrations.js';
import { joinHandover, splitHandover } from './ministry-snapshot-format.js';
import type { RenameLedger } from './rename-ledger.js';

/** What a member says of a migration (the president's MigrationQuery). */
export interface HandoverProgress {
  /** `clear`: ready as far as this member's own read leases go (MigrationMarks' LeaseQuiet). */
  state: 'none' | MigrationMark['state'] | 'ready' | 'clear';
  reason: string;
  namespace?: Uint8Array;
  leaseToken?: number;
}

/** What the migration entries read and change of a ministry's replica (MinistryNamespace). */
export interface ReplicaParts {
  readonly root: string;
  /** The namespace as it is now (a handover replaces it). */
  readonly namespace: Namespace;
  readonly leases: WriteLeaseState;
  readonly layouts: FileLayouts;
  readonly renames: RenameLedger;
  readonly migrations: MigrationMarks;
}

/** The files of each fenced subtree, by migration id: listed once, as while a subtree is fenced
 * no change adds or moves a file in or out of it. Cleared whenever the namespace is replaced. */
export class FencedFiles {
  private readonly byMigration = new Map<string, Set<number>>();

  clear(): void {
    this.byMigration.clear();
  }

  /** The fenced migration whose subtree holds file `ino`. */
  holding(r: ReplicaParts, ino: number): MigrationMark | undefined {
    for (const m of r.migrations.marks.values()) {
      if (m.state !== 'fenced') continue;
      let files = this.byMigration.get(m.id);
      if (!files) this.byMigration.set(m.id, (files = new Set(subtreeFileInos(r.namespace.snapshot(), m.subtree))));
      if (files.has(ino)) return m;
    }
    return undefined;
  }
}

/** Why `op` (a decoded entry) must not apply while a subtree it names is leaving, or null. */
export function migrationRefusal(r: ReplicaParts, fenced: FencedFiles, op: unknown): string | null {
  const o = op as { op?: string; body?: { op?: string; path?: string; from?: string; to?: string }; path?: string; id?: string };
  if (o.op === 'client' && o.body) {
    const b = o.body;
    const paths = [b.path, b.from, b.to].filter((p): p is string => typeof p === 'string');
    const whole = b.op === 'rename' ? { path: b.from!, op: 'rename' as const } : b.op === 'rmdir' ? { path: b.path!, op: 'rmdir' as const } : null;
    return r.migrations.refusal(paths, whole);
  }
  if (o.op === 'lease.grant' && typeof o.path === 'string') return r.migrations.refusal([o.path], null);
  if (o.op === 'lease.renew' && typeof o.id === 'string') {
    const l = r.leases.leases.get(o.id);
    return l ? r.migrations.refusal([l.path], null) : null;
  }
  // A chunk placed or replaced after the handover was taken would be lost to the target.
  const ino = (op as { ino?: unknown }).ino;
  if ((o.op === 'layout.place' || o.op === 'layout.replace') && typeof ino === 'number') {
    const m = fenced.holding(r, ino);
    if (m) return `${m.subtree} is moving to another ministry (migration ${m.id}): retry`;
  }
  return null;
}

/** Apply a committed migration entry; `replaceNamespace` swaps in a namespace from snapshot
 * bytes (an install grafts the subtree in, a drop prunes it). Null, or why it did not apply. */
export function applyMigrationEntry(r: ReplicaParts, e: MigrationEntry, now: number, replaceNamespace: (bytes: Uint8Array) => void): FsErrorData | null {
  const had = r.migrations.get(e.id);
  switch (e.op) {
    case 'migration.fence': {
      if (had) return null; // (idempotent: one fence per migration)
      const problem = fenceProblem(r, e.subtree);
      r.migrations.set({ id: e.id, subtree: e.subtree, state: problem === null ? 'fenced' : 'failed', since: now, ...(problem !== null && { reason: problem }) });
      return null;
    }
    case 'migration.install': {
      if (had?.state === 'installed') return null;
      try {
        const handed = splitHandover(e.namespace);
        if (handedRoot(handed.ns) !== e.subtree) return { code: 'EINVAL', message: `migration ${e.id}: the state handed over is not of ${e.subtree}` };
        const layouts = handed.layouts === null ? null : FileLayouts.fromBytes(handed.layouts);
        // The grafted files are numbered anew here: their layouts follow the new numbers.
        const inos = new Map<number, number>();
        replaceNamespace(graftSubtree(r.namespace.snapshot(), handed.ns, inos));
        if (layouts !== null) r.layouts.adopt(layouts, inos);
      } catch (err) {
        if (err instanceof FsError) return err.toJSON();
        if (err instanceof DecodeError) return { code: 'EINVAL', message: `migration ${e.id}: the file layouts handed over are corrupt: ${err.message}` };
        throw err;
      }
      r.leases.token = Math.max(r.leases.token, e.leaseToken);
      r.migrations.clearWithin(e.subtree);
      r.migrations.set({ id: e.id, subtree: e.subtree, state: 'installed', since: now });
      return null;
    }
    case 'migration.drop': {
      if (had?.state === 'dropped') return null;
      const snap = r.namespace.snapshot();
      // Its files' chunks now belong to the other ministry's layouts (or, after an abort, to
      // the source's still): forgotten here, not garbage.
      r.layouts.forget(subtreeFileInos(snap, e.subtree));
      if (e.subtree !== r.root) replaceNamespace(pruneSubtree(snap, e.subtree));
      for (const [id, l] of r.leases.leases) if (isWithin(l.path, e.subtree)) r.leases.leases.delete(id);
      r.migrations.set({ id: e.id, subtree: e.subtree, state: 'dropped', since: now });
      return null;
    }
    case 'migration.unfence':
      if (had?.state === 'fenced' || had?.state === 'failed') r.migrations.set({ ...had, state: 'unfenced' });
      return null;
    case 'migration.forget':
      r.migrations.forget(e.ids);
      return null;
  }
}

/** Why `subtree` cannot be fenced and handed over here, or null: it must be a directory of
 * this namespace (its root too: a merge hands over a whole ministry). */
function fenceProblem(r: ReplicaParts, subtree: string): string | null {
  // A rename across ministries holding a name in (or above) the subtree finishes first.
  const held = r.renames.holding(subtree);
  if (held) return `${held.name} is being renamed across ministries (transaction ${held.txid}): the migration of ${subtree} waits for it`;
  try {
    return r.namespace.stat(subtree).kind === 'dir' ? handoverProblem(r.namespace.snapshot(), subtree) : `${subtree} is a file (only a directory can move to another ministry)`;
  } catch (err) {
    if (err instanceof FsError) return err.message;
    throw err;
  }
}

/** What this member can say of migration `id` (the president's query): a fenced subtree is
 * `ready`, with its state, once every lease that could still be believed in it has run out:
 * `waitMs` (the lease TTL, the clock drift bound and a clerk's catch-up window) after this
 * member applied the fence, and after the last renewal of any write lease in it. Sooner, it
 * is `clear` (migration-core.ts: the president hands over once every member says so) when
 * `quiet` shows that no read lease this member granted there is live, and that it has served
 * unchanged for `waitMs` (none granted before, by an earlier appointment, can be). */
export function handoverProgress(r: ReplicaParts, id: string, now: number, waitMs: number, quiet?: LeaseQuiet): HandoverProgress {
  const m = r.migrations.get(id);
  if (!m) return { state: 'none', reason: '' };
  if (m.state !== 'fenced') return { state: m.state, reason: m.reason ?? '' };
  let writes = -Infinity;
  for (const l of r.leases.leases.values()) if (isWithin(l.path, m.subtree)) writes = Math.max(writes, l.since + l.ttlMs + waitMs);
  const full = Math.max(m.since + waitMs, writes);
  const fast = quiet ? Math.max(writes, quiet.readsUntil(m.subtree), quiet.since + waitMs) : Infinity;
  if (now < full && now < fast) return { state: 'fenced', reason: `waiting out the leases of ${m.subtree} for ${Math.ceil(Math.min(full, fast) - now)} ms` };
  const snap = r.namespace.snapshot();
  const layouts = r.layouts.subset(subtreeFileInos(snap, m.subtree));
  return { state: now >= full ? 'ready' : 'clear', reason: '', namespace: joinHandover(extractSubtree(snap, m.subtree), layouts?.toBytes() ?? null), leaseToken: r.leases.token };
}
