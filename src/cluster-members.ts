// What a local cluster's data folder says of its membership (issue 20): the nodes added at
// runtime (cluster.addNode: memberJoin orders, with the address of the thread each runs on)
// and the nodes removed (memberGone), as the cluster log the nodes stored records them. A
// cluster started again on the folder (`govfs cluster --data DIR`, Cluster.start with the same
// dataDir) starts from this, not only from its node count: an added node comes back on its
// thread, a removed one stays down.
//
// Read before any worker thread opens the storage: every node's copy of the cluster log (the
// snapshot, then the entries up to the commit index it stored), and the copy that applied the
// most wins. A committed prefix is the same on every node, so any copy is true as far as it
// goes; the stored commit index lags a little (it is written with the next entries), which can
// only miss the very last orders, as a node that restarts would until it hears the others.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterState, decodeOrder } from './actors/cluster-state.js';
import type { Joined } from './actors/membership-core.js';
import { loadRaftState } from './raft/shell-storage.js';
import { EntryKind } from './raft/types.js';
import { LmdbStorage, localNodeStorage } from './runtime/storage-lmdb.js';
import { openNodeStorage } from './runtime/storage-node.js';
import { prefixed, type Storage } from './runtime/storage.js';

/** The cluster log's membership as stored in a data folder. */
export interface StoredMembers {
  /** Nodes that joined at runtime and are still members, in the order they joined. */
  joined: Joined[];
  /** Nodes removed for good. */
  removed: string[];
  /** The cluster log index this was read at (0: nothing stored). */
  applied: number;
}

/** Where the cluster log lives in a node's storage (node.ts). */
const CLUSTER_LOG_PREFIX = 'c/';

/** Read the membership from the stored cluster logs of `initial` nodes (the cluster's first
 * configuration) and of every node found to have joined. Null for a folder with no stored log. */
export async function storedMembers(dataDir: string, initial: readonly string[]): Promise<StoredMembers | null> {
  let best: ClusterState | null = null;
  const read = new Set<string>();
  let opened = false;
  try {
    for (let more = [...initial]; more.length > 0; ) {
      const id = more.shift()!;
      if (read.has(id)) continue;
      read.add(id);
      const { storageDir, storageName } = localNodeStorage(dataDir, id);
      if (!existsSync(join(storageDir, 'data.mdb'))) continue;
      opened = true;
      // With its journal replayed: after an unclean stop lmdb may lag behind what was synced.
      const storage = openNodeStorage(storageDir, storageName);
      try {
        const state = clusterStateOf(storage, initial, `${storageDir}${storageName ? ` (${storageName})` : ''}`);
        if (state && (!best || state.applied > best.applied)) best = state;
        if (state) more = [...more, ...[...state.joined.keys()].filter((j) => !read.has(j))];
      } finally {
        await storage.close();
      }
    }
  } finally {
    // (This thread opened the shared environment only for this read; the nodes' worker
    // threads open it for themselves.)
    if (opened) await LmdbStorage.closeShared();
  }
  if (!best) return null;
  return { joined: [...best.joined.values()], removed: [...best.removed].sort(), applied: best.applied };
}

/** The cluster state a node's stored cluster log holds (its committed part), or null. */
function clusterStateOf(storage: Storage, initial: readonly string[], where: string): ClusterState | null {
  const raft = loadRaftState(prefixed(storage, CLUSTER_LOG_PREFIX), (key) => `${where}: ${CLUSTER_LOG_PREFIX}${key}`);
  if (!raft.hardState && !raft.snapshot) return null;
  const state = raft.snapshot ? ClusterState.restore(raft.snapshot.data) : new ClusterState([...initial]);
  const commit = raft.hardState?.commit ?? raft.snapshot?.index ?? 0;
  for (const e of raft.entries) {
    if (e.index > commit) break;
    if (e.kind !== EntryKind.Normal || e.index <= state.applied) continue;
    const order = decodeOrder(e.data);
    if (order) state.apply(order, e.index);
  }
  return state;
}
