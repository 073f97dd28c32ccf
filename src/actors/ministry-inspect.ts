// The hook through which tests and the simulations read a live ministry member
// (`ActorCell.behaviour.inspect()`): read only, never used by the cluster itself.

import type { Entry } from '../raft/types.js';
import type { RaftShell } from '../raft/shell.js';
import type { AppliedChanges, MinistryNamespace } from './ministry-namespace.js';
import type { MinistryRecord } from './cluster-state.js';
import type { RenameLedger } from './rename-ledger.js';

/** What a test may read of a live ministry member (`ActorCell.behaviour.inspect()`). */
export interface MinistryInspection {
  ministry: string;
  subtree: string;
  node: string;
  term: number;
  leading: boolean;
  /** (client, seq) pairs whose change applied more than once: must stay 0. */
  duplicateApplies: number;
  /** Clients with a completion record. */
  clients: number;
  /** The last changes this member applied (the simulator checks they lie in its subtree). */
  applied: AppliedChanges;
  /** The group log's commit index, and its entries held in memory (after any snapshot): for
   * the simulations' per-step checks that committed entries never diverge. */
  commit: number;
  entries: () => readonly Entry[];
  /** Whether this member, a settled minister (leading, committed in its term, all committed applied,
   * term), would take a change to `path` now: the simulations check that no two ministries
   * would at once (live subtree migration, issue 16). */
  serves: (path: string) => boolean;
  /** Open renames across ministries here (rename-ledger.ts): read only. */
  renames: RenameLedger;
}

/** The member's `inspect()`: what it hands out is made once, since the simulations inspect
 * members after their steps. `clients` is counted only when read (counting sorts), by a getter
 * on a prototype: one in the answer's literal would be defined anew on every call (about 10
 * times slower). */
export function ministryInspector(
  role: string,
  node: string,
  core: { readonly record: MinistryRecord; ownership(path: string): unknown },
  ns: MinistryNamespace,
  raft: () => RaftShell | undefined,
): () => MinistryInspection | null {
  const counted = { get clients(): number { return ns.clientCount; } };
  const entries = (): readonly Entry[] => raft()?.entries() ?? [];
  const serves = (path: string): boolean => {
    const log = raft();
    if (!log) return false;
    const st = log.softState();
    return role === 'minister' && !core.record.fenced && st.role === 'leader' && log.applied === log.commitIndex && log.termAt(log.commitIndex) === st.term && core.ownership(path) === null;
  };
  return () => {
    const log = raft();
    if (!log) return null;
    const soft = log.softState();
    const answer = { __proto__: counted, ministry: core.record.id, subtree: core.record.subtree, node, term: soft.term, leading: soft.role === 'leader', duplicateApplies: ns.duplicateApplies, applied: ns.applied, commit: log.commitIndex, entries, renames: ns.renames, serves };
    return answer as typeof answer & typeof counted;
  };
}
