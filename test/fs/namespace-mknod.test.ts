import { describe, expect, it } from 'vitest';
import { Namespace, unwrap, type FsErrorCode, type MutationOp, type Op, type OpResult } from '../../src/fs/index.js';
import { ROOT, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK, type Creds } from '../../src/fs/access.js';
import { checkOp } from '../../src/fs/op-check.js';

// FIFOs, sockets and device nodes in the namespace (issue 18): stored as inodes with a kind and
// a device number, made with the rules of create, devices by root only.

const alice: Creds = { uid: 1000, gid: 100, groups: [100] };
const bob: Creds = { uid: 2000, gid: 200, groups: [200] };
let seq = 0;
let clock = 1_700_000_000_000;

function run(ns: Namespace, body: MutationOp, as: Creds = ROOT): OpResult {
  return ns.apply({ op: 'client', clientId: 'c', seq: ++seq, now: ++clock, body, as } as Op);
}
const ok = (ns: Namespace, body: MutationOp, as: Creds = ROOT) => unwrap(run(ns, body, as));
function code(ns: Namespace, body: MutationOp, as: Creds = ROOT): FsErrorCode | 'ok' {
  const r = run(ns, body, as);
  return r.ok ? 'ok' : r.error.code;
}

/** /home (0777) and /home/a (alice's, 0755). */
function world(): Namespace {
  const ns = new Namespace('/', { now: 1 });
  ok(ns, { op: 'mkdir', path: '/home', mode: 0o777 });
  ok(ns, { op: 'mkdir', path: '/home/a' }, alice);
  return ns;
}

describe('mknod: FIFOs, sockets and device nodes', () => {
  it('makes each kind with its type bits, mode, owner and rdev (devices only), listed with its kind', () => {
    const ns = world();
    const r = ok(ns, { op: 'mknod', path: '/home/a/p', kind: 'fifo', mode: 0o640, rdev: 77 }, alice);
    expect(r).toMatchObject({ op: 'mknod', stat: { kind: 'fifo', mode: S_IFIFO | 0o640, uid: 1000, gid: 100, nlink: 1, rdev: 0, size: 0 } });
    ok(ns, { op: 'mknod', path: '/home/a/s', kind: 'socket', mode: 0o755 }, alice);
    ok(ns, { op: 'mknod', path: '/home/c', kind: 'chardev', mode: 0o600, rdev: 0x0103 });
    ok(ns, { op: 'mknod', path: '/home/b', kind: 'blockdev', rdev: 0x0801 });
    expect(ns.stat('/home/a/s')).toMatchObject({ kind: 'socket', mode: S_IFSOCK | 0o755, rdev: 0 });
    expect(ns.stat('/home/c')).toMatchObject({ kind: 'chardev', mode: S_IFCHR | 0o600, rdev: 0x0103, uid: 0 });
    expect(ns.stat('/home/b')).toMatchObject({ kind: 'blockdev', mode: S_IFBLK | 0o644, rdev: 0x0801 });
    expect(ns.ls('/home')).toEqual([
      { name: 'a', kind: 'dir' },
      { name: 'b', kind: 'blockdev' },
      { name: 'c', kind: 'chardev' },
    ]);
    expect(ns.ls('/home/a')).toEqual([
      { name: 'p', kind: 'fifo' },
      { name: 's', kind: 'socket' },
    ]);
  });

  it('checks as create: EEXIST, ENOENT, ENOTDIR, EACCES without write permission on the parent', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    expect(code(ns, { op: 'mknod', path: '/home/a/f', kind: 'fifo' }, alice)).toBe('EEXIST');
    expect(code(ns, { op: 'mknod', path: '/home/a', kind: 'fifo' }, alice)).toBe('EEXIST');
    expect(code(ns, { op: 'mknod', path: '/', kind: 'fifo' })).toBe('EEXIST');
    expect(code(ns, { op: 'mknod', path: '/none/p', kind: 'fifo' })).toBe('ENOENT');
    expect(code(ns, { op: 'mknod', path: '/home/a/f/p', kind: 'fifo' })).toBe('ENOTDIR');
    expect(code(ns, { op: 'mknod', path: '/home/a/p', kind: 'fifo' }, bob)).toBe('EACCES');
    expect(code(ns, { op: 'mknod', path: '/home/a/p', kind: 'socket' }, bob)).toBe('EACCES');
    expect(ns.exists('/home/a/p')).toBe(false);
  });

  it('only root makes a character or block device: EPERM for anyone else, even with write permission', () => {
    const ns = world();
    expect(code(ns, { op: 'mknod', path: '/home/a/c', kind: 'chardev', rdev: 1 }, alice)).toBe('EPERM');
    expect(code(ns, { op: 'mknod', path: '/home/a/b', kind: 'blockdev', rdev: 1 }, alice)).toBe('EPERM');
    // The permission check comes first, as Linux's vfs_mknod: EACCES for bob.
    expect(code(ns, { op: 'mknod', path: '/home/a/c', kind: 'chardev', rdev: 1 }, bob)).toBe('EACCES');
    expect(ns.ls('/home/a')).toEqual([]);
    expect(code(ns, { op: 'mknod', path: '/home/a/c', kind: 'chardev', rdev: 1 })).toBe('ok');
  });

  it('refuses a malformed op: unknown kind, bad mode or rdev (EINVAL)', () => {
    expect(() => checkOp({ op: 'mknod', now: 1, path: '/p', kind: 'dir' })).toThrow(/kind must be one of/);
    expect(() => checkOp({ op: 'mknod', now: 1, path: '/p', kind: 'fifo', mode: 0o10000 })).toThrow(/mode/);
    expect(() => checkOp({ op: 'mknod', now: 1, path: '/p', kind: 'chardev', rdev: -1 })).toThrow(/rdev/);
    expect(() => checkOp({ op: 'mknod', now: 1, path: '/p', kind: 'chardev', rdev: 1.5 })).toThrow(/rdev/);
    const ns = world();
    expect(code(ns, { op: 'mknod', path: '/p', kind: 'door' } as unknown as MutationOp)).toBe('EINVAL');
  });

  it('unlinks, renames (over a file, not over a directory) and hard-links like a file', () => {
    const ns = world();
    ok(ns, { op: 'mknod', path: '/home/a/p', kind: 'fifo' }, alice);
    ok(ns, { op: 'link', from: '/home/a/p', to: '/home/a/q' }, alice);
    expect(ns.stat('/home/a/q')).toMatchObject({ kind: 'fifo', nlink: 2 });
    expect(ns.stat('/home/a/q').ino).toBe(ns.stat('/home/a/p').ino);
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    ok(ns, { op: 'rename', from: '/home/a/q', to: '/home/a/f' }, alice);
    expect(ns.stat('/home/a/f')).toMatchObject({ kind: 'fifo', nlink: 2 });
    ok(ns, { op: 'mkdir', path: '/home/a/d' }, alice);
    expect(code(ns, { op: 'rename', from: '/home/a/f', to: '/home/a/d' }, alice)).toBe('EISDIR');
    expect(code(ns, { op: 'rename', from: '/home/a/d', to: '/home/a/f' }, alice)).toBe('ENOTDIR');
    expect(code(ns, { op: 'rmdir', path: '/home/a/f' }, alice)).toBe('ENOTDIR');
    ok(ns, { op: 'rm', path: '/home/a/p' }, alice);
    expect(ns.stat('/home/a/f').nlink).toBe(1);
    ok(ns, { op: 'rm', path: '/home/a/f' }, alice);
    expect(ns.ls('/home/a')).toEqual([{ name: 'd', kind: 'dir' }]);
  });

  it('has no contents: truncate is EINVAL; chmod, chown and utimens work', () => {
    const ns = world();
    ok(ns, { op: 'mknod', path: '/home/a/p', kind: 'fifo' }, alice);
    expect(code(ns, { op: 'setSize', path: '/home/a/p', size: 0 }, alice)).toBe('EINVAL');
    ok(ns, { op: 'chmod', path: '/home/a/p', mode: 0o600 }, alice);
    ok(ns, { op: 'chown', path: '/home/a/p', uid: -1, gid: 100 }, alice);
    ok(ns, { op: 'utimens', path: '/home/a/p', atimeNs: 5n, mtimeNs: 6n }, alice);
    expect(ns.stat('/home/a/p')).toMatchObject({ kind: 'fifo', mode: S_IFIFO | 0o600, atimeNs: 5n, mtimeNs: 6n });
    // create (not exclusive) of an existing FIFO opens it, as open(O_CREAT) does.
    expect(ok(ns, { op: 'create', path: '/home/a/p', exclusive: false }, alice)).toMatchObject({ created: false, stat: { kind: 'fifo' } });
  });

  it('survives a snapshot: kinds, rdev (to 2^53) and hard links, byte for byte', () => {
    const ns = world();
    ok(ns, { op: 'mknod', path: '/home/a/p', kind: 'fifo' }, alice);
    ok(ns, { op: 'link', from: '/home/a/p', to: '/home/p2' }, alice);
    ok(ns, { op: 'mknod', path: '/home/s', kind: 'socket' });
    ok(ns, { op: 'mknod', path: '/home/c', kind: 'chardev', rdev: Number.MAX_SAFE_INTEGER });
    ok(ns, { op: 'mknod', path: '/home/b', kind: 'blockdev', rdev: 0x0801 });
    const bytes = ns.snapshot();
    const back = Namespace.restore(bytes);
    expect(back.snapshot()).toEqual(bytes);
    for (const { path } of ns.paths()) expect(back.stat(path)).toEqual(ns.stat(path));
    expect(back.stat('/home/p2')).toMatchObject({ kind: 'fifo', nlink: 2 });
    expect(back.stat('/home/c').rdev).toBe(Number.MAX_SAFE_INTEGER);
    // A bad special kind in the bytes is refused as corrupt, not taken.
    const i = findKindByte(bytes, ns);
    const bad = bytes.slice();
    bad[i] = 9;
    expect(() => Namespace.restore(bad)).toThrow(/corrupt|bad special kind/);
  });

  it('moves across ministries with its kind and rdev (exportTree, graft)', () => {
    const src = world();
    ok(src, { op: 'mkdir', path: '/home/a/d' }, alice);
    ok(src, { op: 'mknod', path: '/home/a/d/p', kind: 'fifo' }, alice);
    ok(src, { op: 'link', from: '/home/a/d/p', to: '/home/a/d/p2' }, alice);
    ok(src, { op: 'mknod', path: '/home/a/d/c', kind: 'chardev', rdev: 0x0501 });
    const tree = src.exportTree('/home/a/d', alice);
    const dst = new Namespace('/x', { now: 1 });
    expect(dst.graftCheck('/home/a/d', '/x/d', true)).toBe(false);
    dst.graft('/x/d', tree, ++clock);
    expect(dst.stat('/x/d/c')).toMatchObject({ kind: 'chardev', rdev: 0x0501, mode: S_IFCHR | 0o644 });
    expect(dst.stat('/x/d/p')).toMatchObject({ kind: 'fifo', nlink: 2, rdev: 0 });
    expect(dst.stat('/x/d/p2').ino).toBe(dst.stat('/x/d/p').ino);
  });
});

/** A version-4 snapshot written before mknod (commit 7e86ef3): /d (1777), alice's /d/h (0600)
 * linked as /g, and the client's two saved results, whose stats have no rdev. */
const BEFORE_MKNOD =
  'AEdOUwQBAAAALwAAAAAAAAhAAAAAAAAAEEABAAAAAAAA8D8AAAAAAAAUQAAAAAAAAAhAAAAAAAAAAAAAAAAA0BJTQQAAAAAA' +
  'AAAAAAAAADicbEEAAAAAAAAAAAAAAAA4nGxB7QEAAAAAAAAAAAAAAgAAAAEAAABkAQAAAAAAAABAAAAAAAAAJEAAAAAAAAAA' +
  'QAAAAAAAAAAAAAAAANASY0EAAAAAAAAAAAAAAADws2pBAAAAAAAAAAAAAAAA8LNqQf8DAAAAAAAAAAAAAAEAAAABAAAAaAAA' +
  'AAAAAAAIQAAAAAAAACxAAAAAAAAACEAAAAAAAAAAAAAAAADws2pBAAAAAAAAAAAAAAAA8LNqQQAAAAAAAAAAAAAAADicbEGA' +
  'AQAA6AMAAGQAAAAAAAAAAAAAAAIAAAABAAAAZwMAAAAAAAAIQAEAAAABAAAAYwAAAAAAAAAAAAAAAAAALkACAAAAAAAAAAAA' +
  '8D8MAQAAeyJvayI6dHJ1ZSwib3AiOiJjcmVhdGUiLCJ2ZXJzaW9uIjoyLCJjcmVhdGVkIjp0cnVlLCJzdGF0Ijp7ImlubyI6' +
  'Mywia2luZCI6ImZpbGUiLCJzaXplIjowLCJidGltZSI6MTQsImN0aW1lIjoxNCwibXRpbWUiOjE0LCJ2ZXJzaW9uIjoyLCJt' +
  'b2RlIjozMzE1MiwidWlkIjoxMDAwLCJnaWQiOjEwMCwibmxpbmsiOjEsImF0aW1lTnMiOnsiJG5zIjoiMTQwMDAwMDAifSwi' +
  'bXRpbWVOcyI6eyIkbnMiOiIxNDAwMDAwMCJ9LCJjdGltZU5zIjp7IiRucyI6IjE0MDAwMDAwIn19fQAAAAAAAABA+wAAAHsi' +
  'b2siOnRydWUsIm9wIjoibGluayIsInZlcnNpb24iOjMsInN0YXQiOnsiaW5vIjozLCJraW5kIjoiZmlsZSIsInNpemUiOjAs' +
  'ImJ0aW1lIjoxNCwiY3RpbWUiOjE1LCJtdGltZSI6MTQsInZlcnNpb24iOjMsIm1vZGUiOjMzMTUyLCJ1aWQiOjEwMDAsImdp' +
  'ZCI6MTAwLCJubGluayI6MiwiYXRpbWVOcyI6eyIkbnMiOiIxNDAwMDAwMCJ9LCJtdGltZU5zIjp7IiRucyI6IjE0MDAwMDAw' +
  'In0sImN0aW1lTnMiOnsiJG5zIjoiMTUwMDAwMDAifX19';

describe('snapshots from before mknod', () => {
  it('load, and re-encode to the bytes a replica that applied the same entries now writes', () => {
    const old = Uint8Array.from(Buffer.from(BEFORE_MKNOD, 'base64'));
    const back = Namespace.restore(old);
    expect(back.stat('/g')).toMatchObject({ kind: 'file', nlink: 2, mode: 0o100600, uid: 1000, rdev: 0 });
    const live = new Namespace('/', { now: 5 });
    live.apply({ op: 'mkdir', path: '/d', mode: 0o1777, now: 10 });
    live.apply({ op: 'client', clientId: 'c', seq: 1, now: 14, body: { op: 'create', path: '/d/h', mode: 0o600 }, as: { uid: 1000, gid: 100, groups: [] } });
    live.apply({ op: 'client', clientId: 'c', seq: 2, now: 15, body: { op: 'link', from: '/d/h', to: '/g' } });
    expect(back.snapshot()).toEqual(live.snapshot());
    // The saved result answers a retry with rdev 0, as a live replica would.
    expect(back.savedResult('c', 1)).toEqual(live.savedResult('c', 1));
  });
});

/** The offset of the special-kind byte of the first special node in `bytes` (found by
 * changing it: the byte after the kind-4 node's fixed fields). */
function findKindByte(bytes: Uint8Array, ns: Namespace): number {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0 && bytes[i] !== 1 && bytes[i] !== 2 && bytes[i] !== 3) continue;
    const bad = bytes.slice();
    bad[i] = 9;
    try {
      Namespace.restore(bad);
    } catch (e) {
      if (/bad special kind/.test(String(e))) return i;
    }
  }
  throw new Error(`no special kind byte in a snapshot of ${ns.paths().length} paths`);
}
