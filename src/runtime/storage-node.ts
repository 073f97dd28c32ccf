// A node's own storage (its Raft logs and hard states, snapshots, ministry state) on a real
// disk: its lmdb database made durable by a journal of its own (JournaledStorage), so that a
// Raft round waits for one O_DSYNC append to the node's journal instead of an lmdb commit.
//
// Why (issue 19 point 5, measured in bench/trace-create.ts): the nodes of a local cluster
// share one lmdb environment; every Raft append waited for a commit of it (two fsyncs, data
// then meta page, behind the other nodes' commits on its write lock): 85% of a lone create's
// path, p50 1.2-1.9 ms per commit. A journal append is one write. lmdb still gets everything,
// in the background, gathered over `applyMs`: one commit per 20 ms instead of one per round.
//
// Layout: a database `name` of a shared environment `storageDir` keeps its journal in
// `storageDir/journal-<name>/`; an environment of its own keeps it in its own folder (where
// JournaledStorage.open puts it). A folder without a journal (made before) opens as it was:
// an empty journal over its lmdb state.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from './errors.js';
import { JournaledStorage, fsyncDir, type JournaledStorageOptions } from './storage-journal.js';
import { LmdbStorage } from './storage-lmdb.js';

/** The journal folder of database `name` in the shared environment at `storageDir`. */
export function nodeJournalDir(storageDir: string, name: string): string {
  return join(storageDir, `journal-${name}`);
}

/** Opens a node's storage: the database `storageName` of the environment shared at
 * `storageDir` (LmdbStorage.openShared), or the environment at `storageDir` to itself; with
 * its journal replayed. */
export function openNodeStorage(storageDir: string, storageName?: string, options: JournaledStorageOptions = {}): JournaledStorage {
  // A Raft log that forgot synced records could vote twice or lose committed entries.
  const opts = { refuseDamaged: true, ...options };
  if (storageName === undefined) return JournaledStorage.open(storageDir, opts);
  const lmdb = LmdbStorage.openShared(storageDir, storageName);
  const dir = nodeJournalDir(storageDir, storageName);
  try {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      // The new folder's entry must outlive a power loss like the journal in it.
      fsyncDir(storageDir);
    }
  } catch (e) {
    void lmdb.close();
    throw new RuntimeError('EIO', `cannot make the journal folder ${dir}: ${(e as Error).message}`, { cause: e });
  }
  return JournaledStorage.over(lmdb, dir, opts);
}
