// What a ministry's replicated state holds of live subtree migrations (issue 16): a mark per
// migration that touched it, changed only by the ministry's own log entries (MigrationFence,
// MigrationInstall, MigrationDrop, MigrationUnfence), so that every member refuses a change to a
// subtree that is leaving from the same point of its log, whatever its copy of the cluster log
// says and however late it applies.
//
//   fenced     source: the subtree is frozen (being handed over); changes to it, to a directory
//              above it that would move or remove it, and write leases in it are refused
//              (EAGAIN, without a completion record: the client retries, and after the map
//              commits is redirected to the target, which has this ministry's records).
//   dropped    source, after the map committed: the subtree left the namespace; still refused
//              here (an entry proposed long ago must never apply to it).
//   installed  target: the subtree came in (the install is idempotent by migration id).
//   unfenced   source, after an abort: changes are taken again (also a fence or drop that a
//              later install or removal of the subtree superseded).
//   failed     source: the subtree could not be fenced (not a directory here); the president
//              aborts the migration with the reason.

import { isAncestor, isWithin } from '../fs/path.js';
import { LogCodec } from '../wire/log-codec.js';

export type MarkState = 'fenced' | 'dropped' | 'installed' | 'unfenced' | 'failed';
const STATES: readonly MarkState[] = ['fenced', 'dropped', 'installed', 'unfenced', 'failed'];

export interface MigrationMark {
  id: string;
  subtree: string;
  state: MarkState;
  /** Why a fence failed. */
  reason?: string;
  /** This member's clock when it applied the fence (or restored it from a snapshot): the
   * leases of the subtree are waited out from then. Not replicated. */
  since: number;
}

/** What a member knows of the read leases it granted (not replicated), for a handover that
 * need not wait a whole lease period after the fence (ministry-namespace.ts handover). */
export interface LeaseQuiet {
  /** This member's clock since when it has served the ministry with the same term and members
   * (its role's start, or its last re-staffing): any read lease granted before, by an earlier
   * role or by a member since removed, is waited out from then. */
  since: number;
  /** When the last read lease this member granted in `subtree` stops being believed:
   * -Infinity if none is live, Infinity while one may still be granted. */
  readsUntil(subtree: string): number;
}

const MARKS = new LogCodec('govfs.log.MigrationMarks');

export class MigrationMarks {
  readonly marks = new Map<string, MigrationMark>();

  get size(): number {
    return this.marks.size;
  }

  get(id: string): MigrationMark | undefined {
    return this.marks.get(id);
  }

  set(mark: MigrationMark): void {
    this.marks.set(mark.id, mark);
  }

  /** Fences and drops of subtrees inside `path` no longer hold (it was installed, or removed):
   * what comes in or is created anew there is this ministry's again. The marks stay, neutral
   * ('unfenced'): that this log applied an entry of that migration is still true, and a target
   * that a subtree comes back to must not wait for an install it applied long ago. */
  clearWithin(path: string): void {
    for (const m of this.marks.values()) if ((m.state === 'fenced' || m.state === 'dropped' || m.state === 'failed') && isWithin(m.subtree, path)) m.state = 'unfenced';
  }

  /** Forget the marks `ids` that are neutral (unfenced) or installed: nothing is owed for them
   * any more once the cluster state no longer holds their migration (migrationDuties). Fenced,
   * failed and dropped marks stay (a duty is owed, or entries to refuse). */
  forget(ids: readonly string[]): void {
    for (const id of ids) {
      const m = this.marks.get(id);
      if (m && (m.state === 'unfenced' || m.state === 'installed')) this.marks.delete(id);
    }
  }

  /** The fenced or dropped subtree that `path` lies in, if any. */
  blocking(path: string): MigrationMark | undefined {
    if (this.marks.size === 0) return undefined;
    for (const m of this.marks.values()) if ((m.state === 'fenced' || m.state === 'dropped') && isWithin(path, m.subtree)) return m;
    return undefined;
  }

  /** Why a change naming `paths` (and, for a rename's source or an rmdir, moving or removing
   * `whole`) must not apply here, or null. A directory above a fenced subtree cannot move or go
   * (it would take the subtree with it); above a dropped one it cannot move (another ministry
   * serves the subtree), and an rmdir above it is the president's subtree delete, after which
   * nothing is left to protect. */
  refusal(paths: readonly string[], whole: { path: string; op: 'rename' | 'rmdir' } | null): string | null {
    if (this.marks.size === 0) return null;
    for (const p of paths) {
      const m = this.blocking(p);
      if (m) return `${m.subtree} is ${m.state === 'fenced' ? 'moving' : 'moved'} to another ministry (migration ${m.id}): retry`;
    }
    if (whole) {
      for (const m of this.marks.values()) {
        const blocks = m.state === 'fenced' || (m.state === 'dropped' && whole.op === 'rename');
        if (blocks && isAncestor(whole.path, m.subtree)) return `${whole.path} holds ${m.subtree}, which is ${m.state === 'fenced' ? 'moving' : 'moved'} to another ministry (migration ${m.id}): retry`;
      }
    }
    return null;
  }

  /** For the ministry snapshot (govfs.log.MigrationMarks). */
  toBytes(): Uint8Array {
    const marks = [...this.marks.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return MARKS.encode({ marks: marks.map((m) => ({ id: m.id, subtree: m.subtree, state: STATES.indexOf(m.state) })) });
  }

  /** From a snapshot; fences count from `now`, the restoring member's clock. */
  static fromBytes(bytes: Uint8Array, now: number): MigrationMarks {
    const out = new MigrationMarks();
    for (const m of MARKS.decode(bytes).marks ?? []) {
      out.marks.set(m.id, { id: m.id, subtree: m.subtree, state: STATES[m.state] ?? 'fenced', since: now });
    }
    return out;
  }
}
