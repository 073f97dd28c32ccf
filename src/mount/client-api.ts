// What the mount needs of a govfs client: the calls of GovClient / RemoteGovClient it maps FUSE
// operations onto (issue 18, point 2).
//
// The POSIX metadata calls (chmod, chown, utimens, symlink, readlink, link, truncate, mknod) and the
// data plane's handle calls (read, write, truncate, sync, close on a LeaseHandle) are GovClient's
// (src/client/gov-client.ts, posix.ts, file-data.ts) under these names and signatures. They
// stay optional here, checked at run time (`typeof client.chmod === 'function'`), so that a
// client without them (a test's fake) gets ENOSYS rather than a crash. A RemoteGovClient is
// assignable to MountClient as it is (the `opts` argument GovClient adds is not used here).

/** The attributes the mount reads from `stat`: what GovClient's Stat has now, and the POSIX
 * fields it gains (issue 18) where present. */
export interface MountStat {
  kind: string;
  /** Bytes for a file (a directory's entry count today: not shown as its size). */
  size: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  ctime: number;
  mode?: number;
  uid?: number;
  gid?: number;
  nlink?: number;
  /** A device node's number (st_rdev); 0 or absent otherwise. */
  rdev?: number;
  /** The inode number within its ministry (0 from servers before POSIX metadata). */
  ino?: number;
  atimeNs?: bigint;
  mtimeNs?: bigint;
  ctimeNs?: bigint;
}

export interface MountDirEntry {
  name: string;
  kind: string;
}

/** A file's lease (GovClient's LeaseHandle) with the data plane's calls where it has them. */
export interface MountFileHandle {
  readonly signal: AbortSignal;
  release(): Promise<void>;
  read?(offset: number, length: number): Promise<Uint8Array>;
  write?(offset: number, data: Uint8Array): Promise<void>;
  truncate?(size: number): Promise<void>;
  /** fdatasync by default; `metadata` (fsync) also waits for the mtime's commit. */
  sync?(opts?: { metadata?: boolean }): Promise<void>;
  /** Sync, then release. */
  close?(): Promise<void>;
}

/** Who a call acts as (the FUSE caller, where the binding knows it): GovClient's `as`. */
export interface MountCreds {
  uid: number;
  gid: number;
  groups: readonly number[];
}

/** The optional last argument of the calls that change the namespace. */
export interface MountAs {
  as?: MountCreds;
}

export interface MountClient {
  stat(path: string): Promise<MountStat>;
  ls(path: string): Promise<MountDirEntry[]>;
  mkdir(path: string, opts?: { parents?: boolean; mode?: number } & MountAs): Promise<void>;
  create(path: string, opts?: { mode?: number } & MountAs): Promise<void>;
  rm(path: string, opts?: MountAs): Promise<void>;
  rmdir(path: string, opts?: { recursive?: boolean } & MountAs): Promise<void>;
  rename(from: string, to: string, opts?: MountAs): Promise<void>;
  open(path: string, opts: { mode: 'read' | 'write'; deadlineMs?: number } & MountAs): Promise<MountFileHandle>;
  chmod?(path: string, mode: number, opts?: MountAs): Promise<void>;
  /** -1 keeps the uid or the gid as it is. */
  chown?(path: string, uid: number, gid: number, opts?: MountAs): Promise<void>;
  /** null: now. */
  utimens?(path: string, atimeNs: bigint | null, mtimeNs: bigint | null, opts?: MountAs): Promise<void>;
  symlink?(target: string, path: string, opts?: MountAs): Promise<void>;
  readlink?(path: string): Promise<string>;
  link?(existing: string, newPath: string, opts?: MountAs): Promise<void>;
  /** mknod(2): `mode` with its type bits (FIFO, socket, character or block device). */
  mknod?(path: string, mode: number, rdev: number, opts?: MountAs): Promise<void>;
  truncate?(path: string, size: number): Promise<void>;
  /** The subtree of the ministry serving `path`, as the client's map has it: inode numbers are
   * per ministry. */
  ministryOf?(path: string): string | undefined;
}

/** The optional calls, by name, for the run-time check and the ENOSYS message. */
export type OptionalCall = 'chmod' | 'chown' | 'utimens' | 'symlink' | 'readlink' | 'link' | 'truncate' | 'mknod';
