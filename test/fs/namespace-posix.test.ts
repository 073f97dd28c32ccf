import { describe, expect, it } from 'vitest';
import { Namespace, unwrap, type FsErrorCode, type MutationOp, type Op, type OpResult, type Stat } from '../../src/fs/index.js';
import { ROOT, S_IFDIR, S_IFLNK, S_IFREG, type Creds } from '../../src/fs/access.js';

// The POSIX rules of the namespace (issue 18), one test each, asserting the errno.

const alice: Creds = { uid: 1000, gid: 100, groups: [100, 500] };
const bob: Creds = { uid: 2000, gid: 200, groups: [200] };

let clock = 1_700_000_000_000;
let seq = 0;

function run(ns: Namespace, body: MutationOp, as: Creds = ROOT, now = ++clock): OpResult {
  return ns.apply({ op: 'client', clientId: 'c', seq: ++seq, now, body, as } as Op);
}

function ok(ns: Namespace, body: MutationOp, as: Creds = ROOT, now?: number): OpResult & { ok: true } {
  return unwrap(run(ns, body, as, now));
}

function err(ns: Namespace, body: MutationOp, as: Creds, code: FsErrorCode): string {
  const before = ns.snapshot();
  const r = run(ns, body, as);
  expect(r.ok, JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).toBe(false);
  if (r.ok) throw new Error('unreachable');
  expect(r.error.code).toBe(code);
  // A failed op changes nothing but the client's record.
  const after = Namespace.restore(ns.snapshot());
  expect(after.paths()).toEqual(Namespace.restore(before).paths());
  return r.error.message;
}

/** A namespace with /home (0777, root's) and /home/a (alice's, 0755). */
function world(): Namespace {
  const ns = new Namespace('/', { now: 1 });
  ok(ns, { op: 'mkdir', path: '/home', mode: 0o777 });
  ok(ns, { op: 'mkdir', path: '/home/a' }, alice);
  return ns;
}

describe('POSIX attributes: new nodes', () => {
  it('mode, uid, gid, nlink and nanosecond times of new files, directories and symlinks', () => {
    const ns = world();
    const t = 1_700_000_000_123;
    ok(ns, { op: 'create', path: '/home/a/f', mode: 0o640 }, alice, t);
    const st = ns.stat('/home/a/f');
    expect(st).toMatchObject({ mode: S_IFREG | 0o640, uid: 1000, gid: 100, nlink: 1, kind: 'file' });
    expect(st.mtimeNs).toBe(1_700_000_000_123_000_000n);
    expect(st.atimeNs).toBe(st.mtimeNs);
    expect(st.ctimeNs).toBe(st.mtimeNs);
    expect(ns.stat('/home/a')).toMatchObject({ mode: S_IFDIR | 0o755, uid: 1000, gid: 100, nlink: 2 });
    ok(ns, { op: 'mkdir', path: '/home/a/d', mode: 0o700 }, alice);
    expect(ns.stat('/home/a')).toMatchObject({ nlink: 3 });
    ok(ns, { op: 'symlink', path: '/home/a/l', target: '../a/f' }, alice);
    expect(ns.stat('/home/a/l')).toMatchObject({ kind: 'symlink', mode: S_IFLNK | 0o777, size: 6, uid: 1000 });
    // No mode given: 0644 and 0755 (the mount applies the umask, not the namespace).
    ok(ns, { op: 'create', path: '/home/a/g' }, alice);
    expect(ns.stat('/home/a/g').mode).toBe(S_IFREG | 0o644);
  });

  it('a new node takes the caller egid, or the parent gid when the parent is setgid (and a directory inherits setgid)', () => {
    const ns = world();
    ok(ns, { op: 'mkdir', path: '/home/a/s', mode: 0o2777 }, alice);
    ok(ns, { op: 'chown', path: '/home/a/s', uid: -1, gid: 500 }, alice);
    ok(ns, { op: 'create', path: '/home/a/s/f' }, bob);
    expect(ns.stat('/home/a/s/f')).toMatchObject({ uid: 2000, gid: 500 });
    ok(ns, { op: 'mkdir', path: '/home/a/s/d', mode: 0o755 }, bob);
    expect(ns.stat('/home/a/s/d')).toMatchObject({ gid: 500, mode: S_IFDIR | 0o2755 });
    ok(ns, { op: 'create', path: '/home/bobs' }, bob);
    expect(ns.stat('/home/bobs').gid).toBe(200);
  });
});

describe('POSIX permission checks', () => {
  it('search permission on every directory of the path (EACCES), also for reads', () => {
    const ns = world();
    ok(ns, { op: 'mkdir', path: '/home/a/p', mode: 0o700 }, alice);
    ok(ns, { op: 'create', path: '/home/a/p/f' }, alice);
    err(ns, { op: 'create', path: '/home/a/p/g' }, bob, 'EACCES');
    expect(() => ns.stat('/home/a/p/f', bob)).toThrow(expect.objectContaining({ code: 'EACCES' }));
    expect(ns.stat('/home/a/p/f', alice).uid).toBe(1000);
    // Root searches anything.
    expect(ns.stat('/home/a/p/f', ROOT).uid).toBe(1000);
    // ENOENT comes after the search check of the directory it is looked up in.
    expect(() => ns.stat('/home/a/p/nope', bob)).toThrow(expect.objectContaining({ code: 'EACCES' }));
    // Every directory on the way, not only the parent: an open one below a closed one.
    ok(ns, { op: 'mkdir', path: '/home/a/p/q', mode: 0o777 }, alice);
    err(ns, { op: 'create', path: '/home/a/p/q/f' }, bob, 'EACCES');
    expect(() => ns.ls('/home/a/p/q', bob)).toThrow(expect.objectContaining({ code: 'EACCES' }));
    ok(ns, { op: 'create', path: '/home/a/p/q/f' }, alice);
  });

  it('ls needs read permission on the directory (EACCES)', () => {
    const ns = world();
    ok(ns, { op: 'mkdir', path: '/home/a/x', mode: 0o711 }, alice);
    expect(() => ns.ls('/home/a/x', bob)).toThrow(expect.objectContaining({ code: 'EACCES' }));
    expect(ns.ls('/home/a/x', alice)).toEqual([]);
  });

  it('write permission on the parent to create, mkdir, symlink, link, remove and rename (EACCES)', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    err(ns, { op: 'create', path: '/home/a/g' }, bob, 'EACCES');
    err(ns, { op: 'mkdir', path: '/home/a/d' }, bob, 'EACCES');
    err(ns, { op: 'symlink', path: '/home/a/l', target: 'f' }, bob, 'EACCES');
    err(ns, { op: 'link', from: '/home/a/f', to: '/home/a/h' }, bob, 'EACCES');
    err(ns, { op: 'rm', path: '/home/a/f' }, bob, 'EACCES');
    err(ns, { op: 'rename', from: '/home/a/f', to: '/home/b' }, bob, 'EACCES');
    // The group's bits apply to a member of the group (alice's dir is 0755: r-x for group 100).
    err(ns, { op: 'create', path: '/home/a/g' }, { uid: 3000, gid: 100, groups: [] }, 'EACCES');
    ok(ns, { op: 'chmod', path: '/home/a', mode: 0o775 }, alice);
    ok(ns, { op: 'create', path: '/home/a/g' }, { uid: 3000, gid: 7, groups: [100] });
  });

  it('the sticky bit: only the owner of the entry or of the directory, or root, removes or renames (EPERM)', () => {
    const ns = new Namespace('/', { now: 1 });
    ok(ns, { op: 'mkdir', path: '/tmp', mode: 0o1777 });
    ok(ns, { op: 'create', path: '/tmp/af' }, alice);
    err(ns, { op: 'rm', path: '/tmp/af' }, bob, 'EPERM');
    err(ns, { op: 'rename', from: '/tmp/af', to: '/tmp/bf' }, bob, 'EPERM');
    ok(ns, { op: 'create', path: '/tmp/bf' }, bob);
    // Replacing someone else's file in a sticky directory is removing it.
    err(ns, { op: 'rename', from: '/tmp/bf', to: '/tmp/af' }, bob, 'EPERM');
    ok(ns, { op: 'rm', path: '/tmp/af' }, alice);
    ok(ns, { op: 'rm', path: '/tmp/bf' }, ROOT);
  });

  it('moving a directory to another parent needs write permission on it (EACCES)', () => {
    const ns = world();
    ok(ns, { op: 'mkdir', path: '/home/shared', mode: 0o777 });
    ok(ns, { op: 'mkdir', path: '/home/shared/d', mode: 0o555 }, bob);
    err(ns, { op: 'rename', from: '/home/shared/d', to: '/home/d' }, bob, 'EACCES');
    ok(ns, { op: 'rename', from: '/home/shared/d', to: '/home/shared/e' }, bob);
  });
});

describe('chmod, chown, utimens', () => {
  it('only the owner or root chmods (EPERM); ctime changes, mtime does not', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice, 100_000);
    err(ns, { op: 'chmod', path: '/home/a/f', mode: 0o777 }, bob, 'EPERM');
    const r = ok(ns, { op: 'chmod', path: '/home/a/f', mode: 0o4711 }, alice, 200_000);
    expect(r).toMatchObject({ op: 'chmod', stat: { mode: S_IFREG | 0o4711 } });
    const st = ns.stat('/home/a/f');
    expect(st.ctimeNs).toBe(200_000_000_000n);
    expect(st.mtimeNs).toBe(100_000_000_000n);
    ok(ns, { op: 'chmod', path: '/home/a/f', mode: 0o600 }, ROOT);
    err(ns, { op: 'chmod', path: '/home/a/f', mode: 0o10000 }, ROOT, 'EINVAL');
  });

  it('chmod by a caller outside the file group clears setgid', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    ok(ns, { op: 'chown', path: '/home/a/f', uid: -1, gid: 42 });
    ok(ns, { op: 'chmod', path: '/home/a/f', mode: 0o2755 }, alice);
    expect(ns.stat('/home/a/f').mode).toBe(S_IFREG | 0o755);
    ok(ns, { op: 'chmod', path: '/home/a/f', mode: 0o2755 }, ROOT);
    expect(ns.stat('/home/a/f').mode).toBe(S_IFREG | 0o2755);
  });

  it('only root gives a file away (EPERM); the owner may chgrp to a group it is in, not another', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    err(ns, { op: 'chown', path: '/home/a/f', uid: 2000, gid: -1 }, alice, 'EPERM');
    err(ns, { op: 'chown', path: '/home/a/f', uid: -1, gid: 200 }, alice, 'EPERM');
    err(ns, { op: 'chown', path: '/home/a/f', uid: -1, gid: 500 }, bob, 'EPERM');
    ok(ns, { op: 'chown', path: '/home/a/f', uid: -1, gid: 500 }, alice);
    ok(ns, { op: 'chown', path: '/home/a/f', uid: 1000, gid: -1 }, alice);
    expect(ns.stat('/home/a/f')).toMatchObject({ uid: 1000, gid: 500 });
    ok(ns, { op: 'chown', path: '/home/a/f', uid: 2000, gid: 200 });
    expect(ns.stat('/home/a/f')).toMatchObject({ uid: 2000, gid: 200 });
  });

  it('chown clears setuid (and setgid with group execute) of a file, not of a directory; -1 -1 changes nothing', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f', mode: 0o6755 }, alice);
    const before = ns.stat('/home/a/f');
    ok(ns, { op: 'chown', path: '/home/a/f', uid: -1, gid: -1 }, alice);
    expect(ns.stat('/home/a/f')).toEqual(before);
    ok(ns, { op: 'chown', path: '/home/a/f', uid: -1, gid: 500 }, alice);
    expect(ns.stat('/home/a/f').mode).toBe(S_IFREG | 0o755);
    ok(ns, { op: 'mkdir', path: '/home/a/d', mode: 0o6755 }, alice);
    ok(ns, { op: 'chown', path: '/home/a/d', uid: 5, gid: 5 });
    expect(ns.stat('/home/a/d').mode).toBe(S_IFDIR | 0o6755);
  });

  it('utimens: explicit times with nanoseconds by the owner or root (EPERM otherwise); now also by a writer (EACCES otherwise)', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f', mode: 0o646 }, alice);
    ok(ns, { op: 'utimens', path: '/home/a/f', atimeNs: -1n, mtimeNs: 1_234_567_890_123_456_789n }, alice, 500_000);
    const st = ns.stat('/home/a/f');
    expect(st.atimeNs).toBe(-1n);
    expect(st.mtimeNs).toBe(1_234_567_890_123_456_789n);
    expect(st.ctimeNs).toBe(500_000_000_000n);
    err(ns, { op: 'utimens', path: '/home/a/f', atimeNs: 5n, mtimeNs: 5n }, bob, 'EPERM');
    // Bob may write it (0646: others rw-), so he may set it to now.
    ok(ns, { op: 'utimens', path: '/home/a/f', atimeNs: null, mtimeNs: null }, bob, 600_000);
    expect(ns.stat('/home/a/f').mtimeNs).toBe(600_000_000_000n);
    ok(ns, { op: 'chmod', path: '/home/a/f', mode: 0o644 }, alice);
    err(ns, { op: 'utimens', path: '/home/a/f', atimeNs: null, mtimeNs: null }, bob, 'EACCES');
  });

  it('times survive a snapshot exactly, nanoseconds and negative seconds included', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    ok(ns, { op: 'utimens', path: '/home/a/f', atimeNs: -1_500_000_001n, mtimeNs: 2n ** 62n + 7n }, alice);
    const back = Namespace.restore(ns.snapshot());
    expect(back.stat('/home/a/f')).toEqual(ns.stat('/home/a/f'));
    expect(back.snapshot()).toEqual(ns.snapshot());
  });
});

describe('symlinks and hard links', () => {
  it('readlink gives the target as stored; EINVAL on anything else; a symlink on a path is not followed (ENOTDIR)', () => {
    const ns = world();
    ok(ns, { op: 'symlink', path: '/home/a/l', target: '/home/a' }, alice);
    expect(ns.readlink('/home/a/l')).toBe('/home/a');
    expect(() => ns.readlink('/home/a')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    err(ns, { op: 'create', path: '/home/a/l/f' }, alice, 'ENOTDIR');
    err(ns, { op: 'symlink', path: '/home/a/l', target: 'x' }, alice, 'EEXIST');
    err(ns, { op: 'symlink', path: '/home/a/e', target: '' }, alice, 'ENOENT');
    expect(ns.ls('/home/a')).toEqual([{ name: 'l', kind: 'symlink' }]);
    ok(ns, { op: 'rm', path: '/home/a/l' }, alice);
  });

  it('link counts links, shares attributes, and unlinking one keeps the other; EPERM for a directory, EEXIST over a name', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    ok(ns, { op: 'link', from: '/home/a/f', to: '/home/g' }, alice, 300_000);
    expect(ns.stat('/home/a/f')).toMatchObject({ nlink: 2, ctimeNs: 300_000_000_000n });
    expect(ns.stat('/home/g').ino).toBe(ns.stat('/home/a/f').ino);
    ok(ns, { op: 'chmod', path: '/home/g', mode: 0o600 }, alice);
    expect(ns.stat('/home/a/f').mode).toBe(S_IFREG | 0o600);
    err(ns, { op: 'link', from: '/home/a', to: '/home/b' }, ROOT, 'EPERM');
    err(ns, { op: 'link', from: '/home/a/f', to: '/home/g' }, alice, 'EEXIST');
    // Hard links survive a snapshot as one inode.
    const back = Namespace.restore(ns.snapshot());
    expect(back.stat('/home/g')).toEqual(ns.stat('/home/g'));
    expect(back.snapshot()).toEqual(ns.snapshot());
    ok(back, { op: 'chmod', path: '/home/g', mode: 0o640 }, alice);
    expect(back.stat('/home/a/f').mode).toBe(S_IFREG | 0o640);
    ok(ns, { op: 'rm', path: '/home/a/f' }, alice);
    expect(ns.stat('/home/g').nlink).toBe(1);
  });

  it('rmdir -r of a tree holding one link of a file leaves the others with one link fewer', () => {
    const ns = world();
    ok(ns, { op: 'mkdir', path: '/home/a/d' }, alice);
    ok(ns, { op: 'create', path: '/home/a/d/f' }, alice);
    ok(ns, { op: 'link', from: '/home/a/d/f', to: '/home/a/g' }, alice);
    ok(ns, { op: 'rmdir', path: '/home/a/d', recursive: true }, alice);
    expect(ns.stat('/home/a/g').nlink).toBe(1);
    expect(Namespace.restore(ns.snapshot()).stat('/home/a/g').nlink).toBe(1);
  });

  it('link across ministries is EXDEV (outside this namespace)', () => {
    const ns = new Namespace('/a', { now: 1 });
    ok(ns, { op: 'create', path: '/a/f' });
    err(ns, { op: 'link', from: '/a/f', to: '/b/f' }, ROOT, 'EXDEV');
  });
});

describe('rename with POSIX semantics', () => {
  it('over an existing file: the old one loses a link', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    ok(ns, { op: 'create', path: '/home/a/g' }, alice);
    ok(ns, { op: 'link', from: '/home/a/g', to: '/home/a/h' }, alice);
    const r = ok(ns, { op: 'rename', from: '/home/a/f', to: '/home/a/g' }, alice);
    expect(r).toMatchObject({ replaced: true });
    expect(ns.stat('/home/a/h').nlink).toBe(1);
  });

  it('a directory over an empty directory; ENOTEMPTY over a full one; EISDIR a file over a directory; ENOTDIR a directory over a file', () => {
    const ns = world();
    ok(ns, { op: 'mkdir', path: '/home/a/d' }, alice);
    ok(ns, { op: 'mkdir', path: '/home/a/e' }, alice);
    ok(ns, { op: 'create', path: '/home/a/e/x' }, alice);
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    err(ns, { op: 'rename', from: '/home/a/d', to: '/home/a/e' }, alice, 'ENOTEMPTY');
    err(ns, { op: 'rename', from: '/home/a/f', to: '/home/a/e' }, alice, 'EISDIR');
    err(ns, { op: 'rename', from: '/home/a/d', to: '/home/a/f' }, alice, 'ENOTDIR');
    ok(ns, { op: 'rm', path: '/home/a/e/x' }, alice);
    ok(ns, { op: 'rename', from: '/home/a/d', to: '/home/a/e' }, alice);
    expect(ns.exists('/home/a/d')).toBe(false);
  });

  it('EINVAL into its own subtree; onto itself, or onto another link of the same file, a no-op', () => {
    const ns = world();
    ok(ns, { op: 'mkdir', path: '/home/a/d' }, alice);
    err(ns, { op: 'rename', from: '/home/a/d', to: '/home/a/d/e' }, alice, 'EINVAL');
    ok(ns, { op: 'create', path: '/home/a/f' }, alice);
    ok(ns, { op: 'link', from: '/home/a/f', to: '/home/a/g' }, alice);
    const v = ns.version;
    expect(ok(ns, { op: 'rename', from: '/home/a/f', to: '/home/a/f' }, alice)).toMatchObject({ replaced: false, version: v });
    expect(ok(ns, { op: 'rename', from: '/home/a/f', to: '/home/a/g' }, alice)).toMatchObject({ replaced: false, version: v });
    expect(ns.exists('/home/a/f') && ns.exists('/home/a/g')).toBe(true);
  });

  it('a renamed node gets a new ctime', () => {
    const ns = world();
    ok(ns, { op: 'create', path: '/home/a/f' }, alice, 10_000);
    ok(ns, { op: 'rename', from: '/home/a/f', to: '/home/a/g' }, alice, 20_000);
    const st: Stat = ns.stat('/home/a/g');
    expect(st.ctimeNs).toBe(20_000_000_000n);
    expect(st.mtimeNs).toBe(10_000_000_000n);
  });
});

describe('old data', () => {
  it('a version-3 snapshot (no modes stored) loads with 0755 directories, 0644 files, uid and gid 0', () => {
    // "\0GNS", version 3, root "/", version 2, nextIno 4: / holds d/ holding f.
    const bytes = oldSnapshot();
    const ns = Namespace.restore(bytes);
    expect(ns.stat('/d')).toMatchObject({ mode: S_IFDIR | 0o755, uid: 0, gid: 0, nlink: 2, mtime: 5 });
    expect(ns.stat('/d/f')).toMatchObject({ mode: S_IFREG | 0o644, uid: 0, gid: 0, nlink: 1, size: 7, ctimeNs: 6_000_000n });
  });
});

function oldSnapshot(): Uint8Array {
  const out: number[] = [0x00, 0x47, 0x4e, 0x53, 3];
  const dv = new DataView(new ArrayBuffer(8));
  const f64 = (x: number) => {
    dv.setFloat64(0, x, true);
    for (let i = 0; i < 8; i++) out.push(dv.getUint8(i));
  };
  const u32 = (x: number) => {
    dv.setUint32(0, x, true);
    for (let i = 0; i < 4; i++) out.push(dv.getUint8(i));
  };
  const u8 = (x: number) => out.push(x);
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    u32(b.length);
    out.push(...b);
  };
  str('/');
  f64(2);
  f64(4);
  // root
  u8(1); f64(1); f64(0); f64(5); f64(5); f64(1); u32(1);
  str('d');
  u8(1); f64(2); f64(5); f64(6); f64(5); f64(2); u32(1);
  str('f');
  u8(0); f64(3); f64(6); f64(6); f64(6); f64(2); f64(7);
  u32(0); // clients
  return Uint8Array.from(out);
}
