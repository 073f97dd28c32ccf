// File contents in a backup (format 3): the bytes of every file of a ministry's copy, as of the
// copy's applied index.
//
// The copy (the minister's, at index I) gives each file's version and size, and its layout
// (which chunks, their versions and replicas). The chunk stores keep no old versions of a
// chunk, so the bytes at I can only be read while they are still the file's bytes. Each file is
// therefore read under a read lease: a read lease is granted only once no write lease on the
// file is live (a writer's handle closed, its size and mtime committed, or its lease run out),
// and no write lease is granted while it is held, so the bytes cannot change during the read.
// Under the lease the file's version is read again (linearizably) before and after its bytes:
// the same version as in the copy means no committed change since I (every data commit, a
// setSize, bumps the version), so the bytes read are the bytes at I. A file that moved on (a
// newer version, removed, or the lease revoked by a waiting writer mid-read) makes the caller
// take the ministry copy again (takeBackup, a bounded number of times) rather than record the
// file as of a later point than the rest of its ministry: the copy stays one index. Bytes
// already read are kept across copies for every file whose version did not change.
//
// Reading goes through the client's data plane (FileData.read): each chunk from one replica,
// the next on an error, each block checked against its CRC-32C by the store (a damaged replica
// answers EIO and the next is read); the layout it reads by is the one under the lease, equal
// to the copy's but for replicas replaced meanwhile (which hold the same bytes).
//
// What is not held off: bytes a writer sent to the chunk stores whose commit never came (its
// process died holding the lease) can be read, as any reader of the file would read them.

import type { Stat } from '../client/gov-client.js';
import type { FileData, Progress } from '../client/file-data.js';
import type { LeaseHandle, OpenOptions } from '../client/leases.js';

/** What reading contents needs of a client (GovClient has it). */
export interface ContentSource {
  open(path: string, opts: OpenOptions): Promise<LeaseHandle>;
  stat(path: string, opts: { linearizable: boolean }): Promise<Stat>;
  readonly data: Pick<FileData, 'read'>;
}

/** A file of a copy to read: its path, and version and size in the copy. */
export interface ContentWant {
  path: string;
  version: number;
  size: number;
}

/** Codes that say the file is no longer what the copy holds (not a failure of the backup). */
const MOVED_ON = new Set(['ENOENT', 'ESTALE', 'EISDIR', 'ENOTDIR']);

/** The bytes of file `f` as of its version in the copy, or null when it moved on since. */
export async function readAsCopied(src: ContentSource, f: ContentWant, progress?: Progress): Promise<Uint8Array | null> {
  let h: LeaseHandle;
  try {
    h = await src.open(f.path, { mode: 'read' });
  } catch (e) {
    if (MOVED_ON.has((e as { code?: string }).code ?? '')) return null;
    throw e;
  }
  try {
    const same = async (): Promise<boolean> => {
      const s = await src.stat(f.path, { linearizable: true });
      return s.kind === 'file' && s.version === f.version && s.size === f.size;
    };
    if (!(await same())) return null;
    const bytes = await src.data.read(h, 0, f.size, progress);
    // The lease held all through the read: a waiting writer revokes it and is granted only
    // once this client let it go, after aborting the handle, so no write came between.
    if (h.signal.aborted || bytes.length !== f.size) return null;
    // Still the same file at the same version: nothing renamed over the path meanwhile.
    if (!(await same())) return null;
    return bytes;
  } catch (e) {
    if (MOVED_ON.has((e as { code?: string }).code ?? '')) return null;
    throw e;
  } finally {
    await h.release().catch(() => undefined);
  }
}

/** Whether `src` can read file contents. */
export function canReadContents(src: object): src is ContentSource {
  const s = src as Partial<ContentSource>;
  return typeof s.open === 'function' && typeof s.stat === 'function' && typeof s.data?.read === 'function';
}

/** "1.5 MiB" */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
