// The ministry's snapshot, built off the actor thread (issue 19, point 4): a pool task
// (src/runtime/work-pool.ts) that restores the last snapshot of a ministry's state (namespace
// and write leases), replays the entries the group log applied since, and returns the snapshot
// at the last of them: the same bytes MinistryNamespace.snapshot() gives on the actor thread.
// Registered when this module loads (the pool's workers import the actor modules too).

import { registerPoolTask } from '../runtime/work-pool.js';
import { forEachReplayEntry, type SnapshotReplay } from '../raft/shell-snapshots.js';
import { MinistryNamespace } from './ministry-namespace.js';
import { encodeMinistryEntry } from './ministry-entry.js';
import type { MutationOp } from '../fs/ns-types.js';

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

/** StateMachine.replay.warmUp of a ministry: `entries` creates of one client in a scratch
 * namespace, encoded and applied as the group log applies them, then snapshotted: the path a
 * build takes, compiled before the first real one. */
export const MINISTRY_WARM_UP_TASK = registerPoolTask('govfs.ministry.warm-up', (entries: number): number => {
  const ns = new MinistryNamespace('/');
  const apply = (seq: number, body: MutationOp): void => {
    ns.applyEntry(encodeMinistryEntry({ op: 'client', clientId: 'warm-up', seq, acked: seq - 1, now: seq, body }), seq, seq);
  };
  apply(1, { op: 'mkdir', path: '/warm-up', parents: false });
  for (let i = 0; i < entries; i++) apply(i + 2, { op: 'create', path: `/warm-up/f${i}` });
  return ns.snapshot().length;
});
