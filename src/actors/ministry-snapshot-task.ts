// The ministry's snapshot, built off the actor thread (issue 19, point 4): a pool task
// (src/runtime/work-pool.ts) that restores the last snapshot of a ministry's state (namespace
// and write leases), replays the entries the group log applied since, and returns the snapshot
// at the last of them: the same bytes MinistryNamespace.snapshot() gives on the actor thread.
// Registered when this module loads (the pool's workers import the actor modules too).

import { registerPoolTask } from '../runtime/work-pool.js';
import { forEachReplayEntry, type SnapshotReplay } from '../raft/shell-snapshots.js';
import { MinistryNamespace } from './ministry-namespace.js';

/** What the task is told of the ministry: its subtree, and its id (the prefix of the renames
 * across ministries it starts, rename-ledger.ts: a replayed one must get the live one's id). */
export interface MinistrySnapshotContext {
  subtree: string;
  ministry: string;
}

export const MINISTRY_SNAPSHOT_TASK = registerPoolTask('govfs.ministry.snapshot', (r: SnapshotReplay): Uint8Array => {
  // (A bare subtree: a ministry that starts no renames, as in tests and benches.)
  const c = typeof r.context === 'string' ? { subtree: r.context, ministry: '' } : (r.context as MinistrySnapshotContext);
  const ns = new MinistryNamespace(c.subtree);
  ns.renames.owner = c.ministry;
  // Leases count from the restoring member's clock, which no snapshot holds: any time will do.
  if (r.base.length > 0) ns.restore(r.base, 0);
  forEachReplayEntry(r, (data, index, committedAt) => ns.applyEntry(data, index, committedAt));
  return ns.snapshot();
});
