// The FUSE operations of `govfs mount`, each mapped onto the client API (issue 18, point 2).
// Independent of the FUSE binding: every method takes plain arguments, returns what the
// kernel is to get, and throws an error with a POSIX `code` (FsError, RuntimeError or
// MountErrno) that src/mount/fuse-mount.ts turns into a negative errno. Unit-tested with a
// fake client (test/mount/operations.test.ts), no /dev/fuse needed.
//
// File contents go through a file's lease (GovClient.open, the data plane's read/write on the
// LeaseHandle). The lease is taken at the first read or write of an open file, not at open:
// many programs open files only to fstat or close them, and a lease costs a round trip to the
// ministry (a write lease, to its minister). It is kept until the file is released (close),
// and taken again if the ministry revoked it meanwhile. A binding that can drop the kernel's
// caches sets `onLeaseLost`: told when an open file's lease ends other than by its close.

import { MountErrno } from './errno.js';
import type { MountClient, MountFileHandle, MountStat, OptionalCall } from './client-api.js';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
/** The type bits of each kind a stat names (FIFOs, sockets and devices since issue 18's mknod). */
const TYPE_OF: Readonly<Record<string, number>> = { dir: S_IFDIR, file: S_IFREG, symlink: S_IFLNK, fifo: 0o010000, socket: 0o140000, chardev: 0o020000, blockdev: 0o060000 };
const O_ACCMODE = 0o3;
const O_RDONLY = 0;

/** utimens: libfuse 2 passes UTIME_NOW and UTIME_OMIT in tv_nsec with tv_sec 0, and the
 * binding turns a timespec into milliseconds (tv_sec * 1000 + tv_nsec / 1e6): both arrive
 * as 1073 ms. They cannot be told apart; "now" is what `touch` and utimensat(NULL) mean. */
export const UTIME_SPECIAL_MS = 1073;

/** What getattr answers, in the binding's terms (times in milliseconds). */
export interface FuseStat {
  /** st_ino (32 bits: the binding's limit). */
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  /** st_rdev of a device node (the binding carries 32 bits: the kernel's dev_t in FUSE). */
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

export interface MountOperationsOptions {
  /** Owner shown for files whose stat has no uid/gid (before the POSIX metadata lands). */
  uid: number;
  gid: number;
  /** How long an open waits for a conflicting lease before giving up (ETIMEDOUT -> EIO). */
  leaseDeadlineMs: number;
}

interface OpenFile {
  writable: boolean;
  lease: MountFileHandle | null;
  pending: Promise<MountFileHandle> | null;
}

export class MountOperations {
  /** Told when the lease of a still open file is revoked (another client writes or changes it)
   * or expires: what the kernel caches of that file may be stale from then on. */
  onLeaseLost: ((fd: number, path: string) => void) | null = null;
  private readonly files = new Map<number, OpenFile>();
  private nextFd = 1; // 0 means "no handle" to the binding
  /** Whether the client's leases carry the data plane's calls; unknown until the first lease. */
  private dataPlane: boolean | null = null;
  /** st_ino for each (ministry, inode) seen: every ministry numbers its inodes from 1, and the
   * binding carries 32 bits, so the mount numbers them itself, 1, 2, ... in the order it sees
   * them. Hard links show one number (git clone checks that a link it made is its source). */
  private readonly inos = new Map<string, number>();

  constructor(
    private readonly client: MountClient,
    private readonly opts: MountOperationsOptions,
  ) {}

  // ---- attributes and directories -----------------------------------------------------------

  async getattr(path: string): Promise<FuseStat> {
    return this.toFuseStat(await this.client.stat(path), path);
  }

  toFuseStat(s: MountStat, path: string): FuseStat {
    const type = TYPE_OF[s.kind] ?? S_IFREG;
    const perms = s.kind === 'dir' ? 0o755 : s.kind === 'symlink' ? 0o777 : 0o644;
    const mode = s.mode === undefined ? type | perms : (s.mode & S_IFMT) === 0 ? type | s.mode : s.mode;
    // A directory's `size` is its entry count; programs expect a byte size there.
    const size = type === S_IFDIR ? 4096 : s.size;
    const mtime = s.mtimeNs === undefined ? s.mtime : nsToMs(s.mtimeNs);
    return {
      ino: this.inoOf(s, path),
      mode,
      uid: s.uid ?? this.opts.uid,
      gid: s.gid ?? this.opts.gid,
      size,
      nlink: s.nlink ?? (type === S_IFDIR ? 2 : 1),
      rdev: s.rdev ?? 0,
      blksize: 4096,
      blocks: Math.ceil(size / 512),
      atime: s.atimeNs === undefined ? mtime : nsToMs(s.atimeNs),
      mtime,
      ctime: s.ctimeNs === undefined ? s.ctime : nsToMs(s.ctimeNs),
    };
  }

  async readdir(path: string): Promise<string[]> {
    const entries = await this.client.ls(path);
    return ['.', '..', ...entries.map((e) => e.name)];
  }

  statfs(): FuseStatfs {
    // govfs keeps no block or inode counts: large round numbers, so df and programs that
    // check free space before writing carry on.
    const big = 0x7fffffff;
    return { bsize: 4096, frsize: 4096, blocks: big, bfree: big, bavail: big, files: big, ffree: big, favail: big, fsid: 0x676f76, flag: 0, namemax: 255 };
  }

  // ---- namespace changes ----------------------------------------------------------------------

  mkdir(path: string, mode: number): Promise<void> {
    return this.client.mkdir(path, { mode: mode & 0o7777 });
  }

  rmdir(path: string): Promise<void> {
    return this.client.rmdir(path);
  }

  unlink(path: string): Promise<void> {
    return this.client.rm(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.client.rename(from, to);
  }

  /** A new file, opened for writing (O_CREAT without an existing file). */
  async create(path: string, mode: number): Promise<number> {
    await this.client.create(path, { mode: mode & 0o7777 });
    return this.addFile(true);
  }

  /** mknod: a regular file is create; a FIFO, socket or device node is stored by govfs (only
   * root may make a device) and served by the kernel of whichever host opens it. */
  async mknod(path: string, mode: number, rdev = 0): Promise<void> {
    const type = mode & S_IFMT;
    if (type === 0 || type === S_IFREG) return this.client.create(path, { mode: mode & 0o7777 });
    await this.need('mknod', path).call(this.client, path, mode, rdev);
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.need('chmod', path).call(this.client, path, mode & 0o7777);
  }

  /** uid/gid arrive as unsigned 32-bit numbers: (uid_t)-1 means "leave it". */
  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.need('chown', path).call(this.client, path, uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid);
  }

  async utimens(path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    await this.need('utimens', path).call(this.client, path, msToNs(atimeMs), msToNs(mtimeMs));
  }

  async symlink(target: string, path: string): Promise<void> {
    await this.need('symlink', path).call(this.client, target, path);
  }

  async readlink(path: string): Promise<string> {
    return this.need('readlink', path).call(this.client, path);
  }

  async link(existing: string, newPath: string): Promise<void> {
    await this.need('link', newPath).call(this.client, existing, newPath);
  }

  async truncate(path: string, size: number): Promise<void> {
    if (typeof this.client.truncate === 'function') return this.client.truncate(path, size);
    // Without the data plane every file is empty: truncating one to 0 (O_TRUNC, `: > f`)
    // changes nothing and succeeds.
    const s = await this.client.stat(path);
    if (s.kind === 'dir') throw new MountErrno('EISDIR', `truncate ${path}: is a directory`);
    if (size === s.size) return;
    throw notYet('truncate', path);
  }

  // ---- open files -----------------------------------------------------------------------------

  open(_path: string, flags: number): number {
    return this.addFile((flags & O_ACCMODE) !== O_RDONLY);
  }

  async read(path: string, fd: number, into: Uint8Array, length: number, position: number): Promise<number> {
    const file = this.file(fd, path);
    if (this.dataPlane === false) return this.readWithoutDataPlane(path, position);
    const lease = await this.lease(fd, file, path);
    if (typeof lease.read !== 'function') return this.readWithoutDataPlane(path, position);
    const bytes = await lease.read(position, length);
    const n = Math.min(bytes.length, length);
    into.set(bytes.subarray(0, n));
    return n;
  }

  async write(path: string, fd: number, from: Uint8Array, length: number, position: number): Promise<number> {
    const file = this.file(fd, path);
    if (this.dataPlane === false) throw notYet('write', path);
    const lease = await this.lease(fd, file, path);
    if (typeof lease.write !== 'function') throw notYet('write', path);
    // The binding's buffer is the kernel's, valid only until this call is answered: copy.
    await lease.write(position, Uint8Array.prototype.slice.call(from, 0, length));
    return length;
  }

  async ftruncate(path: string, fd: number, size: number): Promise<void> {
    const file = this.file(fd, path);
    if (this.dataPlane !== false && file.writable) {
      const lease = await this.lease(fd, file, path);
      if (typeof lease.truncate === 'function') return lease.truncate(size);
    }
    return this.truncate(path, size);
  }

  /** flush (each close of a descriptor), fdatasync and fsync: what was written is stored;
   *  `metadata` (fsync without its datasync flag) also waits for the mtime's commit. */
  async sync(path: string, fd: number, metadata = false): Promise<void> {
    const file = this.file(fd, path);
    const lease = file.lease;
    if (lease && !lease.signal.aborted && typeof lease.sync === 'function') await lease.sync(metadata ? { metadata } : undefined);
  }

  /** The last descriptor of an open file closed: store what was written, give the lease back. */
  async release(path: string, fd: number): Promise<void> {
    const file = this.files.get(fd);
    if (!file) return;
    this.files.delete(fd);
    const lease = file.lease ?? (file.pending ? await file.pending.catch(() => null) : null);
    if (!lease || lease.signal.aborted) return;
    if (typeof lease.close === 'function') await lease.close();
    else await lease.release();
  }

  /** Give back every lease (at unmount). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.files.keys()].map((fd) => this.release('', fd).catch(() => undefined)));
  }

  get openFiles(): number {
    return this.files.size;
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** The mount's st_ino for the file at `path` (see `inos`). A server that sends no inode
   * numbers gets one per path: never one number for two files. */
  private inoOf(s: MountStat, path: string): number {
    const key = s.ino ? `${this.client.ministryOf?.(path) ?? ''}\0${s.ino}` : `path\0${path}`;
    let ino = this.inos.get(key);
    if (ino === undefined) {
      ino = this.inos.size + 1;
      if (ino > 0xffffffff) throw new MountErrno('EOVERFLOW', `${path}: this mount has numbered 2^32 inodes; mount again`);
      this.inos.set(key, ino);
    }
    return ino;
  }

  private addFile(writable: boolean): number {
    let fd = this.nextFd;
    while (this.files.has(fd)) fd = fd >= 0x7fffffff ? 1 : fd + 1;
    this.nextFd = fd >= 0x7fffffff ? 1 : fd + 1;
    this.files.set(fd, { writable, lease: null, pending: null });
    return fd;
  }

  private file(fd: number, path: string): OpenFile {
    const file = this.files.get(fd);
    if (!file) throw new MountErrno('EBADF', `${path}: no open file ${fd}`);
    return file;
  }

  /** The open file's lease: taken at first use, again after a revocation or expiry. */
  private async lease(fd: number, file: OpenFile, path: string): Promise<MountFileHandle> {
    if (file.lease && !file.lease.signal.aborted) return file.lease;
    file.lease = null;
    file.pending ??= this.client.open(path, { mode: file.writable ? 'write' : 'read', deadlineMs: this.opts.leaseDeadlineMs });
    try {
      const lease = await file.pending;
      this.dataPlane = typeof lease.read === 'function';
      file.lease = lease;
      // release() forgets the file first: an abort of a lease still in use is not ours.
      const lost = () => {
        if (this.files.get(fd) === file && file.lease === lease) this.onLeaseLost?.(fd, path);
      };
      if (lease.signal.aborted) lost();
      else lease.signal.addEventListener('abort', lost, { once: true });
      return lease;
    } finally {
      file.pending = null;
    }
  }

  /** Before the data plane: every file is empty, so a read at any offset is at its end. */
  private async readWithoutDataPlane(path: string, position: number): Promise<number> {
    const s = await this.client.stat(path);
    if (position >= s.size) return 0;
    throw notYet('read', path);
  }

  private need<K extends OptionalCall>(name: K, path: string): NonNullable<MountClient[K]> {
    const fn = this.client[name];
    if (typeof fn !== 'function') throw notYet(name, path);
    return fn as NonNullable<MountClient[K]>;
  }
}

function notYet(op: string, path: string): MountErrno {
  return new MountErrno('ENOSYS', `${op} ${path}: this govfs client has no ${op} yet`);
}

function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}

function msToNs(ms: number): bigint | null {
  return ms === UTIME_SPECIAL_MS ? null : BigInt(Math.round(ms)) * 1_000_000n;
}
