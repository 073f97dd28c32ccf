// `govfs mount`'s FUSE side: loads the fuse-native binding (libfuse 2, high-level API), hands
// it the operations of src/mount/operations.ts in its callback style, mounts and unmounts.
//
// What the binding decides for us (fuse-native 2.2.6; see the README's "Mount" section):
//  - It does not expose fuse_get_context(), so the caller's uid/gid/pid are unknown here: the
//    mount uses `default_permissions` (the kernel checks permissions against the mode, uid and
//    gid that getattr reports), and files are created as the mounting user.
//  - It cannot invalidate the kernel's caches, so attributes and entries are cached for a short
//    fixed time (ATTR_TIMEOUT_S) rather than for as long as a read lease holds.
//  - Times cross it in milliseconds, and its utimens passes the access time twice (the
//    modification time is lost): utimensat with two different times sets both to the first.
//  - Its stat carries st_ino in 32 bits, and it has no flag for use_ino (set through fsname).
//  - Its own unmount runs `fusermount -uz`, which Debian ships only with the `fuse` package;
//    `unmountPath` below also tries fusermount3 and umount -l.

import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fuseErrno } from './errno.js';
import type { MountClient } from './client-api.js';
import { MountOperations } from './operations.js';

/** Kernel attribute and entry cache lifetime, seconds (libfuse's default is 1 s too). Another
 * client's change shows through the mount after at most this long. */
export const ATTR_TIMEOUT_S = 1;
export const ENTRY_TIMEOUT_S = 1;

type Callback = (...args: unknown[]) => void;
type FuseHandler = (...args: never[]) => void;

interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

interface FuseClass {
  new (mnt: string, ops: Record<string, FuseHandler>, opts: Record<string, unknown>): FuseInstance;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
}

/** Why a mount could not be made, with what to do about it. */
export class MountError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MountError';
  }
}

let loaded: FuseClass | null = null;

/** The binding, or a MountError saying what is missing (the package, libfuse2, /dev/fuse). */
export function loadFuse(): FuseClass {
  if (loaded) return loaded;
  let Fuse: FuseClass;
  try {
    Fuse = createRequire(import.meta.url)('fuse-native') as FuseClass;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? '';
    if (/Cannot find module 'fuse-native'/.test(msg)) throw new MountError('ENOSYS', 'the FUSE binding (npm package fuse-native) is not installed: run npm install');
    if (/libfuse/.test(msg)) throw new MountError('ENOSYS', `the FUSE binding needs libfuse 2 (${msg}): on Debian, apt-get install libfuse2`);
    throw new MountError('ENOSYS', `the FUSE binding (fuse-native) did not load: ${msg}`);
  }
  // fuse-native's close runs `fusermount -uz` only; fall back to the other unmounters.
  Fuse.unmount = (mnt, cb) => {
    unmountPath(mnt).then(
      () => cb(null),
      (e: unknown) => cb(e as Error),
    );
  };
  loaded = Fuse;
  return Fuse;
}

/** Unmount `mnt` lazily (busy files keep working until closed): fusermount, fusermount3 or
 * umount, whichever is there and works. */
export async function unmountPath(mnt: string): Promise<void> {
  const tries: [string, string[]][] = [
    ['fusermount', ['-uz', mnt]],
    ['fusermount3', ['-uz', mnt]],
    ['umount', ['-l', mnt]],
  ];
  const errors: string[] = [];
  for (const [cmd, args] of tries) {
    const err = await new Promise<string | null>((done) => {
      execFile(cmd, args, { timeout: 10_000 }, (e, _out, stderr) => done(e ? `${cmd}: ${(stderr || e.message).trim()}` : null));
    });
    if (err === null) return;
    errors.push(err);
  }
  throw new MountError('EBUSY', `could not unmount ${mnt} (${errors.join('; ')})`);
}

export interface FuseMountOptions {
  /** Let other users (not only the mounting one) use the mount: allow_other. Needed for
   * permission tests that switch users (pjdfstest); only root may set it unless
   * /etc/fuse.conf has user_allow_other. */
  allowOther?: boolean;
  /** The client's deadline for one operation, ms: the binding gives up a little later. */
  deadlineMs: number;
  /** libfuse's debug trace of every request on stderr. */
  debug?: boolean;
  /** Told of operations that failed with EIO (the cluster unreachable, a bug). */
  onError?: (op: string, path: string, e: unknown) => void;
}

/** A mounted govfs. */
export class FuseMount {
  private constructor(
    readonly mountpoint: string,
    private readonly fuse: FuseInstance,
    readonly operations: MountOperations,
  ) {}

  static async start(mountpoint: string, client: MountClient, opts: FuseMountOptions): Promise<FuseMount> {
    const mnt = checkMountpoint(mountpoint);
    const Fuse = loadFuse();
    const ops = new MountOperations(client, {
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      leaseDeadlineMs: opts.deadlineMs,
    });
    const fuse = new Fuse(mnt, fuseHandlers(ops, opts.onError), {
      force: true,
      mkdir: false,
      // libfuse's use_ino (st_ino is what getattr says, so hard links share one): the binding
      // has no flag for it, and joins its options with commas unescaped.
      fsname: 'govfs,use_ino',
      subtype: 'govfs',
      defaultPermissions: true,
      allowOther: opts.allowOther ?? false,
      attrTimeout: ATTR_TIMEOUT_S,
      entryTimeout: ENTRY_TIMEOUT_S,
      debug: opts.debug ?? false,
      // The binding answers ETIMEDOUT itself if an operation outlives this: a little past the
      // client's own deadline, which answers EIO first.
      timeout: opts.deadlineMs + 5_000,
    });
    await new Promise<void>((done, fail) => {
      fuse.mount((err) => (err ? fail(mountFailure(mnt, err)) : done()));
    });
    return new FuseMount(mnt, fuse, ops);
  }

  /** Give back the leases of open files, then unmount. */
  async stop(): Promise<void> {
    await Promise.race([this.operations.releaseAll(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    await new Promise<void>((done, fail) => {
      this.fuse.unmount((err) => (err ? fail(err) : done()));
    });
  }
}

/** The absolute mount point, or a MountError if it is no directory. A mount left behind by a
 * process that died (ENOTCONN) is accepted: the binding's `force` unmounts it first. */
export function checkMountpoint(mountpoint: string): string {
  const mnt = resolve(mountpoint);
  let isDir: boolean;
  try {
    isDir = statSync(mnt).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN') throw new MountError('ENOENT', `mount ${mnt}: no such directory (make it first)`);
    isDir = true;
  }
  if (!isDir) throw new MountError('ENOTDIR', `mount ${mnt}: not a directory`);
  return mnt;
}

function mountFailure(mnt: string, err: Error): MountError {
  const msg = err.message;
  if (/fuse: device not found|\/dev\/fuse/.test(msg)) return new MountError('ENODEV', `mount ${mnt}: no FUSE device (/dev/fuse): load the fuse module or give the container the device (${msg})`);
  if (/in use/i.test(msg)) return new MountError('EBUSY', `mount ${mnt}: something is mounted there already (${msg})`);
  return new MountError('EIO', `mount ${mnt}: ${msg}`);
}

/** The operations in the binding's callback style: `cb(0, result)` or `cb(-errno)`; read and
 * write answer the byte count itself. */
function fuseHandlers(ops: MountOperations, onError: FuseMountOptions['onError']): Record<string, FuseHandler> {
  const fail = (op: string, path: string, cb: Callback) => (e: unknown) => {
    const errno = fuseErrno(e);
    if (errno === -5) onError?.(op, path, e);
    cb(errno);
  };
  const run =
    <A extends unknown[], R>(op: string, fn: (path: string, ...rest: A) => Promise<R> | R) =>
    (path: string, ...args: [...A, Callback]) => {
      const cb = args.pop() as Callback;
      Promise.resolve()
        .then(() => fn(path, ...(args as unknown as A)))
        .then((r) => (r === undefined ? cb(0) : cb(0, r)), fail(op, path, cb));
    };
  const count =
    (op: string, fn: (path: string, fd: number, buf: Uint8Array, len: number, pos: number) => Promise<number>) =>
    (path: string, fd: number, buf: Uint8Array, len: number, pos: number, cb: Callback) => {
      fn(path, fd, buf, len, pos).then((n) => cb(n), fail(op, path, cb));
    };
  const handlers = {
    getattr: run('getattr', (p) => ops.getattr(p)),
    readdir: run('readdir', (p) => ops.readdir(p)),
    statfs: run('statfs', () => ops.statfs()),
    mkdir: run('mkdir', (p, mode: number) => ops.mkdir(p, mode)),
    rmdir: run('rmdir', (p) => ops.rmdir(p)),
    unlink: run('unlink', (p) => ops.unlink(p)),
    rename: run('rename', (p, to: string) => ops.rename(p, to)),
    create: run('create', (p, mode: number) => ops.create(p, mode)),
    mknod: run('mknod', (p, mode: number, rdev: number) => ops.mknod(p, mode, rdev)),
    chmod: run('chmod', (p, mode: number) => ops.chmod(p, mode)),
    chown: run('chown', (p, uid: number, gid: number) => ops.chown(p, uid, gid)),
    utimens: run('utimens', (p, atime: number, mtime: number) => ops.utimens(p, atime, mtime)),
    // The binding calls symlink(target, linkPath) and link(existing, newPath).
    symlink: run('symlink', (target, p: string) => ops.symlink(target, p)),
    link: run('link', (existing, p: string) => ops.link(existing, p)),
    readlink: run('readlink', (p) => ops.readlink(p)),
    truncate: run('truncate', (p, size: number) => ops.truncate(p, size)),
    ftruncate: run('ftruncate', (p, fd: number, size: number) => ops.ftruncate(p, fd, size)),
    open: run('open', (p, flags: number) => ops.open(p, flags)),
    read: count('read', (p, fd, buf, len, pos) => ops.read(p, fd, buf, len, pos)),
    write: count('write', (p, fd, buf, len, pos) => ops.write(p, fd, buf, len, pos)),
    flush: run('flush', (p, fd: number) => ops.sync(p, fd)),
    fsync: run('fsync', (p, datasync: number, fd: number) => ops.sync(p, fd, datasync === 0)),
    release: run('release', (p, fd: number) => ops.release(p, fd)),
  };
  return handlers as unknown as Record<string, FuseHandler>;
}
