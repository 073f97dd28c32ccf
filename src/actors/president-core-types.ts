// The types the president's pure core (president-core.ts) takes and gives: its configuration,
// what it reads of its node at each input (the cluster log's applied state), and the effects it
// returns for the shell (president.ts) to carry out (thesis 3.2, 3.4). Cut out of
// president-core.ts to give the core room under 600 lines.

import type { ClusterOrder, ClusterState } from './cluster-state.js';
import type { BalanceOptions } from './balancer.js';
import type { ConfChange } from '../raft/index.js';
import type { RaftMembershipView } from './membership-core.js';
import type { WriteBalanceOptions } from './write-balancer.js';

/** What the president needs of NodeConfig. */
export interface PresidentConfig {
  id: string;
  nodes: string[];
  rootClerks?: number;
  ministries?: { subtree: string; clerks: number }[];
  probeMs?: number;
  probeAnsweredMs?: number;
  failAfterMs?: number;
  /** How often the probes ask for members' load (default 1,000 ms). */
  loadEveryMs?: number;
  /** Read balancing thresholds (thesis defaults: grow above 95%, shrink to at most 85%). */
  balance?: BalanceOptions;
  /** A subtree migration that makes no progress for this long is aborted (default 30 s). */
  migrationTimeoutMs?: number;
  /** Write balancing: split a saturated minister's hot subtree off, merge cold ministries back
   * (write-balancer.ts); `false` leaves ministries as they are. */
  writeBalance?: WriteBalanceOptions | false;
}

/** What the president reads of its node at each input: the cluster log's applied state, and
 * which ministries a subtree delete is dissolving (not to be re-staffed). */
export interface PresidentView {
  state: Readonly<ClusterState>;
  dissolving(ministry: string): boolean;
  /** The cluster log's Raft configuration (membership-core.ts); without it the president
   * changes no membership and takes every member for a voter. */
  raft?(): RaftMembershipView | null;
  /** When node `id` last answered this president's cluster log (a heartbeat or an append):
   * alive then, as good as a probe answer for judging it failed (not for its report). */
  heardFrom?(id: string): number | undefined;
}

export type LogLevel = 'info' | 'debug';

export type PresidentEffect =
  /** Call tick() every `ms`, and once now. */
  | { kind: 'tickEvery'; ms: number }
  /** Confirm with a ReadIndex that every order committed before this term is applied here;
   * then call ready(ok). */
  | { kind: 'confirmApplied' }
  /** Ask node `node` for its NodeReport (with its load if `load`); call probed() with it, or
   * with null after `timeoutMs`. */
  | { kind: 'probe'; node: string; timeoutMs: number; load: boolean }
  /** Append `order` to the cluster log and call proposed() with the result. */
  | { kind: 'propose'; order: ClusterOrder; why: string; fields: Record<string, unknown> }
  /** Hand the cluster log's leadership to `to`; call transferred() with whether it started. */
  | { kind: 'transfer'; to: string; ministry: string }
  /** Propose a change of the cluster log's Raft configuration (membership-core.ts); call
   * confChanged() with the result. */
  | { kind: 'confChange'; change: ConfChange; why: string }
  /** Ask node `node` where it is in migration `migration`; call migrationAnswered() with its
   * answer (nothing if none comes within `timeoutMs`). */
  | { kind: 'migrationQuery'; node: string; migration: string; timeoutMs: number }
  | { kind: 'log'; level: LogLevel; fields: Record<string, unknown>; msg: string };
