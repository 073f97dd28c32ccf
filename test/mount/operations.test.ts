// The mount's FUSE operations against a fake client (no /dev/fuse needed): attributes, errno
// mapping, the optional POSIX calls (ENOSYS until the client has them), and file contents
// through a lease taken at first use.

import { describe, expect, it } from 'vitest';
import { constants } from 'node:os';
import { FsError } from '../../src/fs/errors.js';
import { RuntimeError } from '../../src/runtime/errors.js';
import { errnoOf, fuseErrno } from '../../src/mount/errno.js';
import type { MountClient, MountFileHandle, MountStat } from '../../src/mount/client-api.js';
import { MountOperations, S_IFDIR, S_IFLNK, S_IFREG, UTIME_SPECIAL_MS } from '../../src/mount/operations.js';

const E = constants.errno;

interface Fake extends MountClient {
  calls: unknown[][];
  files: Map<string, MountStat>;
  leases: FakeLease[];
}

class FakeLease implements MountFileHandle {
  readonly controller = new AbortController();
  readonly writes: [number, Uint8Array][] = [];
  closed = false;
  constructor(readonly mode: string, readonly data: Uint8Array = new Uint8Array()) {}
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  async release(): Promise<void> {
    this.controller.abort();
  }
}

class DataLease extends FakeLease {
  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.data.subarray(offset, offset + length);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.writes.push([offset, data]);
  }
  readonly syncs: ({ metadata?: boolean } | undefined)[] = [];
  async sync(opts?: { metadata?: boolean }): Promise<void> {
    this.syncs.push(opts);
  }
  async close(): Promise<void> {
    this.closed = true;
    this.controller.abort();
  }
}

function fakeClient(opts: { posix?: boolean; dataPlane?: Uint8Array } = {}): Fake {
  const calls: unknown[][] = [];
  const files = new Map<string, MountStat>([
    ['/', { kind: 'dir', size: 2, mtime: 1000, ctime: 1000 }],
    ['/f', { kind: 'file', size: 0, mtime: 2000, ctime: 1500 }],
  ]);
  const leases: FakeLease[] = [];
  const c: Fake = {
    calls,
    files,
    leases,
    async stat(path) {
      const s = files.get(path);
      if (!s) throw new FsError('ENOENT', `stat ${path}: no such file or directory`, path);
      return s;
    },
    async ls() {
      return [{ name: 'f', kind: 'file' }];
    },
    async mkdir(path, o) {
      calls.push(['mkdir', path, o]);
    },
    async create(path, o) {
      calls.push(['create', path, o]);
    },
    async rm(path) {
      calls.push(['rm', path]);
    },
    async rmdir(path) {
      calls.push(['rmdir', path]);
    },
    async rename(from, to) {
      calls.push(['rename', from, to]);
    },
    async open(path, o) {
      calls.push(['open', path, o.mode]);
      const lease = opts.dataPlane ? new DataLease(o.mode, opts.dataPlane) : new FakeLease(o.mode);
      leases.push(lease);
      return lease;
    },
  };
  if (opts.posix) {
    c.chmod = async (path, mode) => void calls.push(['chmod', path, mode]);
    c.chown = async (path, uid, gid) => void calls.push(['chown', path, uid, gid]);
    c.utimens = async (path, a, m) => void calls.push(['utimens', path, a, m]);
    c.symlink = async (target, path) => void calls.push(['symlink', target, path]);
    c.readlink = async () => 'target';
    c.link = async (a, b) => void calls.push(['link', a, b]);
    c.mknod = async (path, mode, rdev) => void calls.push(['mknod', path, mode, rdev]);
  }
  return c;
}

const ops = (c: MountClient) => new MountOperations(c, { uid: 1234, gid: 5678, leaseDeadlineMs: 1000 });

/** The errno a promise rejects with, as the binding would answer it. */
async function errnoOfCall(p: Promise<unknown> | (() => unknown)): Promise<number> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return -fuseErrno(e);
  }
  throw new Error('expected the call to fail');
}

describe('mount attributes', () => {
  it('shows a Stat without POSIX fields with default modes, the mount owner and byte times', async () => {
    const o = ops(fakeClient());
    const dir = await o.getattr('/');
    expect(dir).toMatchObject({ mode: S_IFDIR | 0o755, uid: 1234, gid: 5678, nlink: 2, size: 4096, mtime: 1000, atime: 1000 });
    const file = await o.getattr('/f');
    expect(file).toMatchObject({ mode: S_IFREG | 0o644, nlink: 1, size: 0, mtime: 2000, ctime: 1500 });
  });

  it('uses the POSIX fields where the Stat has them (mode, owner, links, nanosecond times)', () => {
    const o = ops(fakeClient());
    const s = o.toFuseStat({ kind: 'file', size: 10, mtime: 1, ctime: 1, mode: S_IFREG | 0o4750, uid: 7, gid: 8, nlink: 3, atimeNs: 5_000_000_123n, mtimeNs: 6_000_000_999n, ctimeNs: 7_000_000_000n }, '/f');
    expect(s).toMatchObject({ mode: S_IFREG | 0o4750, uid: 7, gid: 8, nlink: 3, size: 10, atime: 5000, mtime: 6000, ctime: 7000 });
    // Permission bits only: the type comes from the kind.
    expect(o.toFuseStat({ kind: 'symlink', size: 6, mtime: 1, ctime: 1, mode: 0o777 }, '/l').mode).toBe(S_IFLNK | 0o777);
  });

  it('numbers inodes per mount: one number for the links of a file, distinct numbers for the same inode number in two ministries', () => {
    const c = fakeClient();
    c.ministryOf = (path) => (path.startsWith('/b') ? '/b' : '/');
    const o = ops(c);
    const st = (ino: number) => ({ kind: 'file', size: 0, mtime: 1, ctime: 1, ino });
    const a = o.toFuseStat(st(7), '/x').ino;
    expect(o.toFuseStat(st(7), '/y').ino).toBe(a); // a hard link of /x
    expect(o.toFuseStat(st(7), '/b/x').ino).not.toBe(a); // inode 7 of the other ministry
    expect(o.toFuseStat(st(8), '/z').ino).not.toBe(a);
    // A server without inode numbers: one number per path, never one for two files.
    expect(o.toFuseStat(st(0), '/p').ino).not.toBe(o.toFuseStat(st(0), '/q').ino);
    expect(new Set([a, o.toFuseStat(st(7), '/b/x').ino, o.toFuseStat(st(8), '/z').ino]).has(0)).toBe(false);
  });

  it('lists . and .. before the names', async () => {
    expect(await ops(fakeClient()).readdir('/')).toEqual(['.', '..', 'f']);
  });
});

describe('mount errno mapping', () => {
  it('maps FsError codes (POSIX names) to their errno', async () => {
    const o = ops(fakeClient());
    expect(await errnoOfCall(o.getattr('/nope'))).toBe(E.ENOENT);
    expect(-fuseErrno(new FsError('ENOTEMPTY', 'x'))).toBe(E.ENOTEMPTY);
    expect(-fuseErrno(new FsError('EXDEV', 'x'))).toBe(E.EXDEV);
    expect(-fuseErrno(new FsError('ENAMETOOLONG', 'x'))).toBe(E.ENAMETOOLONG);
  });

  it('an unreachable cluster is EIO or ENOTCONN, never a code the kernel does not know', () => {
    expect(-fuseErrno(new FsError('EUNAVAILABLE', 'ministry down'))).toBe(E.EIO);
    expect(-fuseErrno(new FsError('ETIMEDOUT', 'no answer'))).toBe(E.EIO);
    expect(-fuseErrno(new RuntimeError('ECONNREFUSED', 'nothing listening'))).toBe(E.ENOTCONN);
    expect(-fuseErrno(new Error('a bug'))).toBe(E.EIO);
    expect(errnoOf('EWHATEVER')).toBe(E.EIO);
  });
});

describe('mount namespace operations', () => {
  it('creates with the permission bits only, and opens the new file for writing', async () => {
    const c = fakeClient();
    const o = ops(c);
    const fd = await o.create('/n', S_IFREG | 0o640);
    expect(fd).toBeGreaterThan(0);
    await o.mkdir('/d', 0o2755);
    expect(c.calls).toEqual([
      ['create', '/n', { mode: 0o640 }],
      ['mkdir', '/d', { mode: 0o2755 }],
    ]);
    expect(o.openFiles).toBe(1);
  });

  it('makes FIFO, socket and device nodes through the client (mode with its type, rdev), regular ones by create', async () => {
    const c = fakeClient({ posix: true });
    const o = ops(c);
    await o.mknod('/fifo', 0o010644, 0);
    await o.mknod('/sock', 0o140755);
    await o.mknod('/null', 0o020666, 0x0103);
    await o.mknod('/sda1', 0o060660, 0x0801);
    await o.mknod('/reg', S_IFREG | 0o600, 0);
    expect(c.calls).toEqual([
      ['mknod', '/fifo', 0o010644, 0],
      ['mknod', '/sock', 0o140755, 0],
      ['mknod', '/null', 0o020666, 0x0103],
      ['mknod', '/sda1', 0o060660, 0x0801],
      ['create', '/reg', { mode: 0o600 }],
    ]);
    // A client without mknod: ENOSYS, not a crash.
    expect(await errnoOfCall(ops(fakeClient()).mknod('/fifo', 0o010644, 0))).toBe(E.ENOSYS);
  });

  it('shows FIFOs, sockets and devices with their type bits and rdev', () => {
    const o = ops(fakeClient());
    const st = (kind: string, rdev?: number) => o.toFuseStat({ kind, size: 0, mtime: 1, ctime: 1, mode: 0o640, nlink: 1, ...(rdev === undefined ? {} : { rdev }) }, `/${kind}`);
    expect(st('fifo')).toMatchObject({ mode: 0o010640, rdev: 0 });
    expect(st('socket')).toMatchObject({ mode: 0o140640, rdev: 0 });
    expect(st('chardev', 0x0103)).toMatchObject({ mode: 0o020640, rdev: 0x0103 });
    expect(st('blockdev', 0x0801)).toMatchObject({ mode: 0o060640, rdev: 0x0801 });
    // A server's st_mode (type bits included) is taken as it is.
    expect(o.toFuseStat({ kind: 'fifo', size: 0, mtime: 1, ctime: 1, mode: 0o010600 }, '/p').mode).toBe(0o010600);
  });

  it('answers ENOSYS for POSIX calls the client does not have yet', async () => {
    const o = ops(fakeClient());
    expect(await errnoOfCall(o.chmod('/f', 0o600))).toBe(E.ENOSYS);
    expect(await errnoOfCall(o.chown('/f', 1, 1))).toBe(E.ENOSYS);
    expect(await errnoOfCall(o.utimens('/f', 1, 1))).toBe(E.ENOSYS);
    expect(await errnoOfCall(o.symlink('t', '/l'))).toBe(E.ENOSYS);
    expect(await errnoOfCall(o.readlink('/l'))).toBe(E.ENOSYS);
    expect(await errnoOfCall(o.link('/f', '/g'))).toBe(E.ENOSYS);
  });

  it('passes POSIX calls on once the client has them: -1 keeps an id, 1073 ms is UTIME_NOW', async () => {
    const c = fakeClient({ posix: true });
    const o = ops(c);
    await o.chmod('/f', S_IFREG | 0o4755);
    await o.chown('/f', 0xffffffff, 20);
    await o.utimens('/f', 1_500, UTIME_SPECIAL_MS);
    await o.symlink('../t', '/l');
    await o.link('/f', '/g');
    expect(await o.readlink('/l')).toBe('target');
    expect(c.calls).toEqual([
      ['chmod', '/f', 0o4755],
      ['chown', '/f', -1, 20],
      ['utimens', '/f', 1_500_000_000n, null],
      ['symlink', '../t', '/l'],
      ['link', '/f', '/g'],
    ]);
  });
});

describe('mount file contents', () => {
  it('before the data plane: reads of an empty file end at once, writes are ENOSYS, truncate to its size is fine', async () => {
    const c = fakeClient();
    const o = ops(c);
    const fd = o.open('/f', 2 /* O_RDWR */);
    const buf = new Uint8Array(16);
    expect(await o.read('/f', fd, buf, 16, 0)).toBe(0);
    expect(await errnoOfCall(o.write('/f', fd, buf, 4, 0))).toBe(E.ENOSYS);
    await o.truncate('/f', 0);
    expect(await errnoOfCall(o.truncate('/f', 10))).toBe(E.ENOSYS);
    expect(await errnoOfCall(o.truncate('/', 0))).toBe(E.EISDIR);
    // Learnt from the first lease: no lease is taken for later reads.
    await o.read('/f', fd, buf, 16, 0);
    expect(c.leases).toHaveLength(1);
    await o.release('/f', fd);
    expect(c.leases[0]!.signal.aborted).toBe(true);
  });

  it('with the data plane: one lease per open file, taken at first use, again after a revocation, closed on release', async () => {
    const c = fakeClient({ dataPlane: new TextEncoder().encode('hello world') });
    const o = ops(c);
    const fd = o.open('/f', 0 /* O_RDONLY */);
    expect(c.leases).toHaveLength(0);
    const buf = new Uint8Array(5);
    expect(await o.read('/f', fd, buf, 5, 6)).toBe(5);
    expect(new TextDecoder().decode(buf)).toBe('world');
    await o.read('/f', fd, buf, 5, 0);
    expect(c.calls.filter((x) => x[0] === 'open')).toEqual([['open', '/f', 'read']]);
    c.leases[0]!.controller.abort(); // revoked by the ministry
    await o.read('/f', fd, buf, 5, 0);
    expect(c.leases).toHaveLength(2);
    await o.release('/f', fd);
    expect((c.leases[1] as DataLease).closed).toBe(true);
    expect(await errnoOfCall(o.read('/f', fd, buf, 5, 0))).toBe(E.EBADF);
  });

  it("tells the binding when an open file's lease is revoked, not when the file is closed", async () => {
    const c = fakeClient({ dataPlane: new TextEncoder().encode('hello') });
    const o = ops(c);
    const lost: [number, string][] = [];
    o.onLeaseLost = (fd, path) => lost.push([fd, path]);
    const fd = o.open('/f', 0 /* O_RDONLY */);
    await o.read('/f', fd, new Uint8Array(5), 5, 0);
    c.leases[0]!.controller.abort(); // revoked by the ministry
    expect(lost).toEqual([[fd, '/f']]);
    await o.read('/f', fd, new Uint8Array(5), 5, 0); // taken again
    await o.release('/f', fd);
    expect(c.leases[1]!.signal.aborted).toBe(true);
    expect(lost).toEqual([[fd, '/f']]);
  });

  it('writes copy the bytes out of the kernel buffer under a write lease', async () => {
    const c = fakeClient({ dataPlane: new Uint8Array() });
    const o = ops(c);
    const fd = o.open('/f', 1 /* O_WRONLY */);
    const buf = new Uint8Array([1, 2, 3, 4]);
    expect(await o.write('/f', fd, buf, 3, 10)).toBe(3);
    buf.fill(9);
    const lease = c.leases[0] as DataLease;
    expect(lease.mode).toBe('write');
    expect(lease.writes).toEqual([[10, new Uint8Array([1, 2, 3])]]);
  });

  it('fdatasync and flush store the bytes; fsync also waits for the mtime', async () => {
    const c = fakeClient({ dataPlane: new Uint8Array() });
    const o = ops(c);
    const fd = o.open('/f', 1 /* O_WRONLY */);
    await o.write('/f', fd, new Uint8Array([1]), 1, 0);
    await o.sync('/f', fd); // flush, fdatasync
    await o.sync('/f', fd, true); // fsync
    expect((c.leases[0] as DataLease).syncs).toEqual([undefined, { metadata: true }]);
  });
});
