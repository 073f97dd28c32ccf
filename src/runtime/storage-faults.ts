// What a node says about storage that is damaged or full, and the free-space check behind
// "disk full": shared by the storage itself (storage-lmdb.ts), the thread that hosts a node's
// actors, and the preflight check (src/storage-check/).

import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from './errors.js';

export const NODE_CORRUPT_ADVICE =
  'stop this node, move the folder aside, and start it with an empty folder: it rejoins the cluster and catches up from its ministry';

/** The storage file is damaged: code EIO, the message names the file and what to do. */
export class StorageCorruptError extends RuntimeError {
  constructor(readonly file: string, detail: string, advice: string) {
    super('EIO', `${file} is corrupt (${detail}): ${advice}`);
  }
}

/** Below this much free space a node does not start: lmdb could not commit (it writes whole
 * pages, and grows its file a page run at a time). */
export const MIN_FREE_BYTES = 1 << 20;

/** Free bytes on the file system holding `dir` (for an unprivileged process), or undefined
 * where it cannot be told. */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** ENOSPC if the file system of `dir` is (nearly) full. */
export function checkFreeSpace(dir: string, what: string): void {
  const free = freeBytes(dir);
  if (free !== undefined && free < MIN_FREE_BYTES) {
    throw new RuntimeError('ENOSPC', `disk full: only ${formatBytes(free)} free on the file system of ${dir} (${what} needs at least ${formatBytes(MIN_FREE_BYTES)}): free space there, then start it again`);
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** What a node says when its storage fails while it runs: why, that it stopped serving, and
 * what to do. */
export function storageFaultMessage(dataDir: string, e: RuntimeError): string {
  const stopped = 'this node stopped serving (it no longer votes, leads or acknowledges anything; the other nodes carry on without it)';
  if (e.code === 'ENOSPC') return `${e.message}. ${stopped}: free space there, then restart it`;
  return `storage failed: ${e.message}. ${stopped}: ${e instanceof StorageCorruptError ? '' : `if ${join(dataDir, 'data.mdb')} is damaged, `}${NODE_CORRUPT_ADVICE}`;
}
