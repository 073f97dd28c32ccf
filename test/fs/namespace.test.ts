import { describe, expect, it } from 'vitest';
import {
  FsError,
  Namespace,
  SubtreeMap,
  mergeListing,
  unwrap,
  type FsErrorCode,
  type MutationOp,
  type Op,
  type OpResult,
} from '../../src/fs/index.js';

let clock = 1000;
/** Stamp a mutation with the next time. */
function at<T extends MutationOp>(op: T, now = ++clock): T & { now: number } {
  return { ...op, now };
}

function ok(ns: Namespace, op: MutationOp): OpResult & { ok: true } {
  return unwrap(ns.apply(at(op) as Op));
}

function err(ns: Namespace, op: MutationOp, code: FsErrorCode): string {
  const before = ns.snapshot();
  const r = ns.apply(at(op) as Op);
  expect(r.ok, JSON.stringify(r)).toBe(false);
  if (r.ok) throw new Error('unreachable');
  expect(r.error.code).toBe(code);
  // A failed op leaves no trace.
  expect(ns.snapshot()).toEqual(before);
  return r.error.message;
}

function tree(ns: Namespace): string[] {
  return ns.paths().map((p) => (p.kind === 'dir' && p.path !== '/' ? p.path + '/' : p.path));
}

describe('Namespace: basic operations', () => {
  it('mkdir, create, ls, stat, rm, rmdir', () => {
    const ns = new Namespace('/', { now: 5 });
    expect(ns.ls('/')).toEqual([]);
    expect(ns.stat('/')).toMatchObject({ kind: 'dir', size: 0, btime: 5, version: 0, ino: 1 });
    ok(ns, { op: 'mkdir', path: '/b' });
    ok(ns, { op: 'mkdir', path: '/a' });
    const c = ok(ns, { op: 'create', path: '/a/f' });
    expect(c).toMatchObject({ op: 'create', created: true, stat: { kind: 'file', size: 0 } });
    ok(ns, { op: 'create', path: '/z' });
    expect(ns.ls('/')).toEqual([
      { name: 'a', kind: 'dir' },
      { name: 'b', kind: 'dir' },
      { name: 'z', kind: 'file' },
    ]);
    expect(ns.ls('/a')).toEqual([{ name: 'f', kind: 'file' }]);
    expect(ns.stat('/')).toMatchObject({ size: 3 });
    expect(ns.exists('/a/f')).toBe(true);
    expect(ns.exists('/a/g')).toBe(false);
    expect(ns.exists('/z/q')).toBe(false);
    ok(ns, { op: 'rm', path: '/a/f' });
    ok(ns, { op: 'rmdir', path: '/a' });
    expect(tree(ns)).toEqual(['/', '/b/', '/z']);
  });

  it('gives POSIX-like errors that name the path and what to do', () => {
    const ns = new Namespace();
    ok(ns, { op: 'mkdir', path: '/d' });
    ok(ns, { op: 'create', path: '/d/f' });
    expect(err(ns, { op: 'mkdir', path: '/d' }, 'EEXIST')).toMatch(/^mkdir \/d: already exists/);
    expect(err(ns, { op: 'mkdir', path: '/d/f' }, 'EEXIST')).toMatch(/a file has that name/);
    expect(err(ns, { op: 'mkdir', path: '/x/y' }, 'ENOENT')).toBe('mkdir /x/y: no such file or directory (/x does not exist; create it first or use parents: true)');
    expect(err(ns, { op: 'mkdir', path: '/d/f/g' }, 'ENOTDIR')).toBe('mkdir /d/f/g: /d/f is a file, not a directory');
    expect(err(ns, { op: 'create', path: '/d/f' }, 'EEXIST')).toMatch(/exclusive: false/);
    expect(err(ns, { op: 'create', path: '/d' }, 'EEXIST')).toMatch(/directory/);
    expect(err(ns, { op: 'create', path: '/q/f' }, 'ENOENT')).toMatch(/\/q does not exist/);
    expect(err(ns, { op: 'create', path: '/d/f/g' }, 'ENOTDIR')).toMatch(/\/d\/f is a file/);
    expect(err(ns, { op: 'rm', path: '/d' }, 'EISDIR')).toBe('rm /d: is a directory (use rmdir)');
    expect(err(ns, { op: 'rm', path: '/nope' }, 'ENOENT')).toBe('rm /nope: no such file or directory');
    expect(err(ns, { op: 'rmdir', path: '/d' }, 'ENOTEMPTY')).toBe('rmdir /d: directory not empty (use recursive: true)');
    expect(err(ns, { op: 'rmdir', path: '/d/f' }, 'ENOTDIR')).toMatch(/not a directory/);
    expect(err(ns, { op: 'rmdir', path: '/' }, 'EBUSY')).toMatch(/root of a ministry/);
    expect(err(ns, { op: 'rm', path: '/' }, 'EISDIR')).toBeTruthy();
    expect(err(ns, { op: 'mkdir', path: '/' }, 'EEXIST')).toBeTruthy();
    expect(err(ns, { op: 'mkdir', path: '/a//b' }, 'EINVAL')).toMatch(/empty segment/);
    expect(err(ns, { op: 'create', path: '/a/../b' }, 'EINVAL')).toMatch(/\.\./);
    expect(err(ns, { op: 'create', path: '/' + 'n'.repeat(256) }, 'ENAMETOOLONG')).toMatch(/255/);
    expect(err(ns, { op: 'create', path: '/a\x1b[2J' }, 'EINVAL')).toMatch(/control character U\+001B/);
    expect(err(ns, { op: 'rename', from: '/d', to: '/two\nlines' }, 'EINVAL')).toMatch(/control character U\+000A/);
    expect(err(ns, { op: 'setSize', path: '/d', size: 3 }, 'EISDIR')).toBeTruthy();
    expect(err(ns, { op: 'setSize', path: '/d/f', size: -1 }, 'EINVAL')).toMatch(/non-negative integer/);
    expect(err(ns, { op: 'setSize', path: '/d/f', size: 1.5 }, 'EINVAL')).toBeTruthy();
    // Reads throw FsError.
    expect(() => ns.ls('/d/f')).toThrow(/ls \/d\/f: not a directory/);
    expect(() => ns.stat('/nope')).toThrow(FsError);
    expect(() => ns.ls('/a/')).toThrow(/trailing/);
  });

  it('mkdir with parents creates the missing chain and accepts an existing directory', () => {
    const ns = new Namespace();
    ok(ns, { op: 'mkdir', path: '/a' });
    const r = ok(ns, { op: 'mkdir', path: '/a/b/c/d', parents: true });
    expect(r).toMatchObject({ op: 'mkdir', created: ['/a/b', '/a/b/c', '/a/b/c/d'] });
    const v = ns.version;
    expect(ok(ns, { op: 'mkdir', path: '/a/b/c', parents: true })).toMatchObject({ created: [], version: v });
    expect(ok(ns, { op: 'mkdir', path: '/', parents: true })).toMatchObject({ created: [] });
    expect(ns.version).toBe(v);
    ok(ns, { op: 'create', path: '/a/f' });
    err(ns, { op: 'mkdir', path: '/a/f', parents: true }, 'EEXIST');
    err(ns, { op: 'mkdir', path: '/a/f/g/h', parents: true }, 'ENOTDIR');
  });

  it('create with exclusive: false is idempotent for files', () => {
    const ns = new Namespace();
    const first = ok(ns, { op: 'create', path: '/f', exclusive: false });
    const v = ns.version;
    const again = ok(ns, { op: 'create', path: '/f', exclusive: false });
    expect(again).toMatchObject({ created: false, version: v });
    if (first.op !== 'create' || again.op !== 'create') throw new Error();
    expect(again.stat).toEqual(first.stat);
    ok(ns, { op: 'mkdir', path: '/d' });
    err(ns, { op: 'create', path: '/d', exclusive: false }, 'EISDIR');
  });

  it('rmdir recursive removes a whole subtree and counts it', () => {
    const ns = new Namespace();
    ok(ns, { op: 'mkdir', path: '/a/b/c', parents: true });
    ok(ns, { op: 'create', path: '/a/b/f' });
    ok(ns, { op: 'create', path: '/a/b/c/g' });
    ok(ns, { op: 'create', path: '/keep' });
    expect(ok(ns, { op: 'rmdir', path: '/a', recursive: true })).toMatchObject({ removed: 5 });
    expect(tree(ns)).toEqual(['/', '/keep']);
    ok(ns, { op: 'mkdir', path: '/e' });
    expect(ok(ns, { op: 'rmdir', path: '/e', recursive: true })).toMatchObject({ removed: 1 });
  });

  it('setSize changes a file size and times', () => {
    const ns = new Namespace();
    ok(ns, { op: 'create', path: '/f' });
    const r = unwrap(ns.apply({ op: 'setSize', path: '/f', size: 4096, now: 77_777 }));
    expect(r).toMatchObject({ stat: { size: 4096, mtime: 77_777, ctime: 77_777 } });
    expect(ns.stat('/f').size).toBe(4096);
  });
});

describe('Namespace: versions and times', () => {
  it('the global version counts changes; an inode version increases with every change to it', () => {
    const ns = new Namespace();
    expect(ns.version).toBe(0);
    unwrap(ns.apply({ op: 'mkdir', path: '/d', now: 10 }));
    expect(ns.version).toBe(1);
    expect(ns.stat('/d')).toMatchObject({ version: 1, btime: 10, ctime: 10, mtime: 10 });
    expect(ns.stat('/')).toMatchObject({ version: 1, mtime: 10 });
    unwrap(ns.apply({ op: 'create', path: '/d/f', now: 20 }));
    expect(ns.stat('/d')).toMatchObject({ version: 2, mtime: 20, btime: 10 });
    expect(ns.stat('/')).toMatchObject({ version: 1, mtime: 10 }); // not changed: /d's entries changed, not /'s
    const f0 = ns.stat('/d/f');
    unwrap(ns.apply({ op: 'setSize', path: '/d/f', size: 5, now: 30 }));
    const f1 = ns.stat('/d/f');
    expect(f1.version).toBeGreaterThan(f0.version);
    expect(f1).toMatchObject({ mtime: 30, ctime: 30, btime: 20, size: 5, ino: f0.ino });
    expect(ns.stat('/d').version).toBe(2);
    unwrap(ns.apply({ op: 'rename', from: '/d/f', to: '/g', now: 40 }));
    const f2 = ns.stat('/g');
    expect(f2).toMatchObject({ ino: f0.ino, ctime: 40, mtime: 30, btime: 20, size: 5 });
    expect(f2.version).toBeGreaterThan(f1.version);
    expect(ns.stat('/').version).toBe(ns.version);
    expect(ns.stat('/d').version).toBe(ns.version);
    // A failed op changes nothing.
    const v = ns.version;
    expect(ns.apply({ op: 'rm', path: '/nope', now: 50 }).ok).toBe(false);
    expect(ns.version).toBe(v);
  });

  it('inode numbers are never reused', () => {
    const ns = new Namespace();
    ok(ns, { op: 'create', path: '/f' });
    const a = ns.stat('/f').ino;
    ok(ns, { op: 'rm', path: '/f' });
    ok(ns, { op: 'create', path: '/f' });
    expect(ns.stat('/f').ino).toBeGreaterThan(a);
  });
});

describe('Namespace: rename', () => {
  function fresh(): Namespace {
    const ns = new Namespace();
    ok(ns, { op: 'mkdir', path: '/a/b/c', parents: true });
    ok(ns, { op: 'create', path: '/a/f' });
    ok(ns, { op: 'create', path: '/a/b/g' });
    ok(ns, { op: 'mkdir', path: '/e' });
    ok(ns, { op: 'create', path: '/h' });
    return ns;
  }

  it('renames a directory to a new name, keeping its contents and inode', () => {
    const ns = fresh();
    const ino = ns.stat('/a/b').ino;
    expect(ok(ns, { op: 'rename', from: '/a/b', to: '/x' })).toMatchObject({ replaced: false });
    expect(tree(ns)).toEqual(['/', '/a/', '/a/f', '/e/', '/h', '/x/', '/x/c/', '/x/g']);
    expect(ns.stat('/x').ino).toBe(ino);
  });

  it('replaces a file by a file and an empty directory by a directory', () => {
    const ns = fresh();
    const ino = ns.stat('/a/f').ino;
    expect(ok(ns, { op: 'rename', from: '/a/f', to: '/h' })).toMatchObject({ replaced: true });
    expect(ns.stat('/h').ino).toBe(ino);
    expect(ns.exists('/a/f')).toBe(false);
    expect(ok(ns, { op: 'rename', from: '/a/b', to: '/e' })).toMatchObject({ replaced: true });
    expect(tree(ns)).toEqual(['/', '/a/', '/e/', '/e/c/', '/e/g', '/h']);
  });

  it('refuses type mismatches, non-empty targets, moves into itself, missing parents', () => {
    const ns = fresh();
    expect(err(ns, { op: 'rename', from: '/h', to: '/e' }, 'EISDIR')).toMatch(/^rename \/h -> \/e: is a directory/);
    expect(err(ns, { op: 'rename', from: '/e', to: '/h' }, 'ENOTDIR')).toBeTruthy();
    expect(err(ns, { op: 'rename', from: '/e', to: '/a' }, 'ENOTEMPTY')).toMatch(/only an empty directory/);
    expect(err(ns, { op: 'rename', from: '/a', to: '/a/b/c/d' }, 'EINVAL')).toMatch(/into itself/);
    expect(err(ns, { op: 'rename', from: '/a', to: '/a/z' }, 'EINVAL')).toBeTruthy();
    expect(err(ns, { op: 'rename', from: '/a/b/c', to: '/a' }, 'ENOTEMPTY')).toBeTruthy(); // onto an ancestor
    expect(err(ns, { op: 'rename', from: '/nope', to: '/z' }, 'ENOENT')).toMatch(/^rename \/nope: no such/);
    expect(err(ns, { op: 'rename', from: '/h', to: '/q/z' }, 'ENOENT')).toMatch(/\/q does not exist/);
    expect(err(ns, { op: 'rename', from: '/a/f', to: '/h/z' }, 'ENOTDIR')).toBeTruthy();
    expect(err(ns, { op: 'rename', from: '/h', to: '/h/z' }, 'ENOTDIR')).toBeTruthy();
    expect(err(ns, { op: 'rename', from: '/', to: '/z' }, 'EBUSY')).toBeTruthy();
    expect(err(ns, { op: 'rename', from: '/e', to: '/' }, 'EBUSY')).toBeTruthy();
    expect(err(ns, { op: 'rename', from: '/h', to: '/bad/' }, 'EINVAL')).toBeTruthy();
  });

  it('renaming onto itself succeeds without a change', () => {
    const ns = fresh();
    const v = ns.version;
    expect(ok(ns, { op: 'rename', from: '/a/b', to: '/a/b' })).toMatchObject({ replaced: false, version: v });
    expect(ns.version).toBe(v);
  });

  it('moves within a renamed tree stay consistent (swap via a temp name)', () => {
    const ns = fresh();
    ok(ns, { op: 'rename', from: '/a', to: '/tmp' });
    ok(ns, { op: 'rename', from: '/e', to: '/a' });
    ok(ns, { op: 'rename', from: '/tmp', to: '/e' });
    expect(tree(ns)).toEqual(['/', '/a/', '/e/', '/e/b/', '/e/b/c/', '/e/b/g', '/e/f', '/h']);
  });
});

describe('Namespace: a ministry below the root', () => {
  it('answers only for its subtree, with EXDEV for the rest', () => {
    const ns = new Namespace('/a', { now: 1 });
    expect(ns.ls('/a')).toEqual([]);
    ok(ns, { op: 'mkdir', path: '/a/b' });
    ok(ns, { op: 'create', path: '/a/b/f' });
    expect(ns.ls('/a')).toEqual([{ name: 'b', kind: 'dir' }]);
    expect(tree(ns)).toEqual(['/a/', '/a/b/', '/a/b/f']);
    expect(err(ns, { op: 'create', path: '/ab' }, 'EXDEV')).toBe(
      'create /ab: not in this ministry (its subtree is /a); send the request to the ministry that owns /ab',
    );
    err(ns, { op: 'mkdir', path: '/' }, 'EXDEV');
    err(ns, { op: 'rename', from: '/a/b/f', to: '/c' }, 'EXDEV');
    err(ns, { op: 'rename', from: '/c', to: '/a/c' }, 'EXDEV');
    err(ns, { op: 'rmdir', path: '/a', recursive: true }, 'EBUSY');
    expect(() => ns.ls('/')).toThrow(expect.objectContaining({ code: 'EXDEV' }));
    expect(() => ns.stat('/b')).toThrow(/not in this ministry/);
    expect(ok(ns, { op: 'rename', from: '/a/b/f', to: '/a/g' })).toMatchObject({ replaced: false });
  });

  it('listings merge other ministries roots as directories', () => {
    const root = new Namespace('/');
    ok(root, { op: 'create', path: '/x' });
    ok(root, { op: 'mkdir', path: '/p' });
    const map = new SubtreeMap<string>().set('/', 'm0').set('/a', 'm1').set('/x', 'm2').set('/p/q', 'm3');
    expect(mergeListing(root.ls('/'), map.childrenRoots('/'))).toEqual([
      { name: 'a', kind: 'dir' },
      { name: 'p', kind: 'dir' },
      { name: 'x', kind: 'dir' },
    ]);
    expect(mergeListing(root.ls('/p'), map.childrenRoots('/p'))).toEqual([{ name: 'q', kind: 'dir' }]);
    expect(mergeListing([{ name: 'b', kind: 'file' }, { name: 'a', kind: 'file' }], [])).toEqual([
      { name: 'a', kind: 'file' },
      { name: 'b', kind: 'file' },
    ]);
  });
});

describe('Namespace: apply never throws on bad input', () => {
  it('a snapshot holding a name with a control character (stored before they were refused) still loads', () => {
    const ns = new Namespace('/', { now: 1 });
    ok(ns, { op: 'mkdir', path: '/d' });
    ok(ns, { op: 'create', path: '/d/aQb' });
    const bytes = ns.snapshot();
    // The same snapshot as an older version would have written it for "a\x1bb": one byte
    // replaced, same length, same order.
    const pos = bytes.findIndex((_, i) => bytes[i] === 0x61 && bytes[i + 1] === 0x51 && bytes[i + 2] === 0x62);
    expect(pos).toBeGreaterThan(0);
    const legacy = Uint8Array.from(bytes);
    legacy[pos + 1] = 0x1b;
    const back = Namespace.restore(legacy);
    expect(back.ls('/d').map((e) => e.name)).toEqual(['a\x1bb']);
    // It is listed, but no request can name it; removing its directory removes it.
    expect(back.apply({ op: 'rm', path: '/d/a\x1bb', now: 5 } as Op)).toMatchObject({ ok: false, error: { code: 'EINVAL' } });
    unwrap(back.apply({ op: 'rmdir', path: '/d', recursive: true, now: 6 } as Op));
    expect(back.ls('/')).toEqual([]);
  });

  it('returns EINVAL for malformed ops', () => {
    const ns = new Namespace();
    const bad: unknown[] = [
      null,
      42,
      'mkdir',
      {},
      { op: 'format', now: 1 },
      { op: 'mkdir', now: 1 },
      { op: 'mkdir', path: 3, now: 1 },
      { op: 'mkdir', path: '/a' },
      { op: 'mkdir', path: '/a', now: NaN },
      { op: 'mkdir', path: '/a', now: Infinity },
      { op: 'mkdir', path: '/a', now: 1, parents: 'yes' },
      { op: 'setSize', path: '/a', now: 1, size: '3' },
      { op: 'rename', from: '/a', now: 1 },
      { op: 'client', clientId: 'c', seq: 1, now: 1 },
      { op: 'client', clientId: '', seq: 1, now: 1, body: { op: 'mkdir', path: '/a' } },
      { op: 'client', clientId: 'c', seq: 0, now: 1, body: { op: 'mkdir', path: '/a' } },
      { op: 'client', clientId: 'c', seq: 1.5, now: 1, body: { op: 'mkdir', path: '/a' } },
      { op: 'client', clientId: 'x'.repeat(300), seq: 1, now: 1, body: { op: 'mkdir', path: '/a' } },
      { op: 'client', clientId: 'c', seq: 2, acked: -1, now: 1, body: { op: 'mkdir', path: '/a' } },
      { op: 'ack', clientId: 'c', seq: 1 },
      { op: 'expireClients', now: 1, ttlMs: -1 },
    ];
    const before = ns.snapshot();
    for (const b of bad) {
      const r = ns.apply(b as Op);
      expect(r.ok, JSON.stringify(b)).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('EINVAL');
    }
    expect(ns.snapshot()).toEqual(before);
  });

  it('results are frozen plain data; unwrap throws the FsError', () => {
    const ns = new Namespace();
    const r = ns.apply({ op: 'create', path: '/f', now: 1 });
    expect(Object.isFrozen(r)).toBe(true);
    if (r.ok && r.op === 'create') expect(Object.isFrozen(r.stat)).toBe(true);
    const f = ns.apply({ op: 'create', path: '/f', now: 2 });
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
    expect(() => unwrap(f)).toThrow(expect.objectContaining({ code: 'EEXIST', path: '/f' }));
  });
});

describe('Namespace: exactly-once client table', () => {
  const cmd = (clientId: string, seq: number, body: MutationOp, now = ++clock, acked?: number): Op => ({ op: 'client', clientId, seq, now, body, ...(acked ? { acked } : {}) });

  it('a retried request returns the saved result without applying again', () => {
    const ns = new Namespace();
    const r1 = ns.apply(cmd('c1', 1, { op: 'create', path: '/f' }));
    expect(r1.ok).toBe(true);
    const v = ns.version;
    const snap = ns.snapshot();
    const retry = ns.apply(cmd('c1', 1, { op: 'create', path: '/f' }));
    expect(retry).toEqual(r1); // the original success, not EEXIST
    expect(ns.version).toBe(v);
    expect(ns.lastClientOutcome).toBe('saved');
    // The retry refreshed lastSeen only.
    expect(ns.client('c1')).toMatchObject({ acked: 0, results: new Map([[1, r1]]) });
    expect(ns.client('c1')?.lastSeen).toBeGreaterThan(Namespace.restore(snap).client('c1')!.lastSeen);
  });

  it('errors are results too: a retry of a failed request fails the same way', () => {
    const ns = new Namespace();
    const r1 = ns.apply(cmd('c1', 1, { op: 'rm', path: '/nope' }));
    expect(r1.ok).toBe(false);
    ok(ns, { op: 'create', path: '/nope' });
    expect(ns.apply(cmd('c1', 1, { op: 'rm', path: '/nope' }))).toEqual(r1);
    expect(ns.exists('/nope')).toBe(true);
  });

  it('several requests of a client in flight apply in any order, each once', () => {
    const ns = new Namespace();
    const r3 = unwrap(ns.apply(cmd('c1', 3, { op: 'mkdir', path: '/a' })));
    unwrap(ns.apply(cmd('c2', 1, { op: 'mkdir', path: '/b' })));
    unwrap(ns.apply(cmd('c1', 7, { op: 'mkdir', path: '/c' })));
    // #5 was sent before #7 but arrives after it: not stale, the client has no answer yet.
    unwrap(ns.apply(cmd('c1', 5, { op: 'mkdir', path: '/e' })));
    expect(ns.lastClientOutcome).toBe('new');
    expect(ns.exists('/e')).toBe(true);
    expect(ns.apply(cmd('c1', 3, { op: 'mkdir', path: '/a' }))).toEqual(r3);
    expect([...(ns.client('c1')?.results.keys() ?? [])].sort()).toEqual([3, 5, 7]);
    expect(ns.clientIds()).toEqual(['c1', 'c2']);
  });

  it('acked drops the saved results up to it; those requests and unseen older ones are refused', () => {
    const ns = new Namespace();
    unwrap(ns.apply(cmd('c1', 3, { op: 'mkdir', path: '/a' })));
    unwrap(ns.apply(cmd('c1', 4, { op: 'mkdir', path: '/b' })));
    unwrap(ns.apply(cmd('c1', 6, { op: 'mkdir', path: '/c' }, ++clock, 4)));
    expect(ns.client('c1')).toMatchObject({ acked: 4, results: new Map([[6, expect.anything()]]) });
    const stale = ns.apply(cmd('c1', 3, { op: 'mkdir', path: '/a' }));
    expect(stale).toMatchObject({ ok: false, error: { code: 'ESTALE' } });
    if (!stale.ok) expect(stale.error.message).toMatch(/request #3 of client c1: .*up to #4/);
    expect(ns.lastClientOutcome).toBe('stale');
    // #2 never arrived before the client gave it up: a late copy must not apply now.
    expect(ns.apply(cmd('c1', 2, { op: 'mkdir', path: '/z' }))).toMatchObject({ ok: false, error: { code: 'ESTALE' } });
    expect(ns.exists('/z')).toBe(false);
    // An older acked never lowers it.
    unwrap(ns.apply(cmd('c1', 8, { op: 'mkdir', path: '/d' }, ++clock, 1)));
    expect(ns.client('c1')?.acked).toBe(4);
  });

  it('ack drops the saved results but keeps the sequence numbers', () => {
    const ns = new Namespace();
    unwrap(ns.apply(cmd('c1', 1, { op: 'mkdir', path: '/a' })));
    unwrap(ns.apply({ op: 'ack', clientId: 'c1', seq: 1, now: ++clock }));
    expect(ns.client('c1')).toMatchObject({ acked: 1, results: new Map() });
    const late = ns.apply(cmd('c1', 1, { op: 'mkdir', path: '/a' }));
    expect(late).toMatchObject({ ok: false, error: { code: 'ESTALE' } });
    if (!late.ok) expect(late.error.message).toMatch(/already has the answers/);
    // An ack for an older request keeps the newer result; an ack of an unknown client is a no-op.
    unwrap(ns.apply(cmd('c1', 2, { op: 'mkdir', path: '/b' })));
    unwrap(ns.apply({ op: 'ack', clientId: 'c1', seq: 1, now: ++clock }));
    expect(ns.savedResult('c1', 2)).toBeDefined();
    unwrap(ns.apply({ op: 'ack', clientId: 'ghost', seq: 1, now: ++clock }));
    expect(ns.clientIds()).toEqual(['c1']);
    unwrap(ns.apply({ op: 'ack', clientId: 'c1', seq: 2, now: ++clock, close: true }));
    expect(ns.clientIds()).toEqual([]);
  });

  it('expireClients drops records not seen for ttl', () => {
    const ns = new Namespace();
    unwrap(ns.apply(cmd('old', 1, { op: 'mkdir', path: '/a' }, 100)));
    unwrap(ns.apply(cmd('acked', 1, { op: 'mkdir', path: '/b' }, 100)));
    unwrap(ns.apply({ op: 'ack', clientId: 'acked', seq: 1, now: 900 }));
    unwrap(ns.apply(cmd('new', 1, { op: 'mkdir', path: '/c' }, 950)));
    const r = unwrap(ns.apply({ op: 'expireClients', now: 1100, ttlMs: 1000 }));
    expect(r).toMatchObject({ op: 'expireClients', expired: ['old'] });
    expect(ns.clientIds()).toEqual(['acked', 'new']);
    expect(unwrap(ns.apply({ op: 'expireClients', now: 10_000, ttlMs: 1000 }))).toMatchObject({ expired: ['acked', 'new'] });
    // Client-table ops do not bump the namespace version.
    expect(ns.version).toBe(3);
  });
});

/** A snapshot as govfs wrote them as JSON (format version 2): a fresh namespace at '/'. */
const jsonSnapshot = () => ({
  format: 'govfs.namespace',
  v: 2,
  root: '/',
  version: 0,
  nextIno: 2,
  tree: { ino: 1, kind: 'dir', btime: 0, ctime: 0, mtime: 0, version: 0, entries: [] as unknown[] },
  clients: [] as unknown[],
});
const jsonBytes = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc));

describe('Namespace: snapshots', () => {
  it('reads a version 2 (JSON) snapshot into the same state as the binary one', () => {
    const ns = new Namespace();
    const r = unwrap(ns.apply({ op: 'client', clientId: 'c1', seq: 1, now: 5, body: { op: 'mkdir', path: '/d' } }));
    unwrap(ns.apply({ op: 'create', path: '/d/f', now: 6 }));
    unwrap(ns.apply({ op: 'setSize', path: '/d/f', size: 7, now: 8 }));
    const doc = {
      ...jsonSnapshot(),
      version: 3,
      nextIno: 4,
      tree: {
        ino: 1, kind: 'dir', btime: 0, ctime: 5, mtime: 5, version: 1,
        entries: [['d', { ino: 2, kind: 'dir', btime: 5, ctime: 6, mtime: 6, version: 2, entries: [['f', { ino: 3, kind: 'file', size: 7, btime: 6, ctime: 8, mtime: 8, version: 3 }]] }]],
      },
      clients: [['c1', { acked: 0, results: [[1, r]], lastSeen: 5 }]],
    };
    const back = Namespace.restore(jsonBytes(doc));
    expect(back.snapshot()).toEqual(ns.snapshot());
  });

  it('reads a version 1 snapshot (one saved result per client)', () => {
    const ns = new Namespace();
    const r = unwrap(ns.apply({ op: 'client', clientId: 'c1', seq: 4, now: 10, body: { op: 'mkdir', path: '/d' } }));
    const doc = jsonSnapshot();
    doc.v = 1;
    doc.clients = [
      ['c1', { lastSeq: 4, lastResult: r, lastSeen: 10 }],
      ['c2', { lastSeq: 9, lastResult: null, lastSeen: 10 }],
    ];
    const back = Namespace.restore(jsonBytes(doc));
    expect(back.client('c1')).toEqual({ acked: 3, results: new Map([[4, r]]), lastSeen: 10 });
    expect(back.client('c2')).toEqual({ acked: 9, results: new Map(), lastSeen: 10 });
    expect(back.apply({ op: 'client', clientId: 'c1', seq: 4, now: 11, body: { op: 'mkdir', path: '/d' } })).toEqual(r);
    expect(back.apply({ op: 'client', clientId: 'c2', seq: 9, now: 11, body: { op: 'mkdir', path: '/x' } })).toMatchObject({ ok: false, error: { code: 'ESTALE' } });
  });

  it('round-trips exactly, including the client table and versions', () => {
    const ns = new Namespace('/a', { now: 3 });
    unwrap(ns.apply({ op: 'client', clientId: 'c1', seq: 1, now: 10, body: { op: 'mkdir', path: '/a/d/e', parents: true } }));
    unwrap(ns.apply({ op: 'create', path: '/a/d/é😀', now: 11 }));
    unwrap(ns.apply({ op: 'setSize', path: '/a/d/é😀', size: 2 ** 40, now: -0 }));
    ns.apply({ op: 'client', clientId: 'c2', seq: 4, now: 12, body: { op: 'rm', path: '/a/nope' } });
    unwrap(ns.apply({ op: 'client', clientId: 'c3', seq: 2, now: 13, body: { op: 'create', path: '/a/g' } }));
    unwrap(ns.apply({ op: 'ack', clientId: 'c3', seq: 2, now: 14 }));
    const bytes = ns.snapshot();
    const back = Namespace.restore(bytes);
    expect(back.snapshot()).toEqual(bytes);
    expect(back.root).toBe('/a');
    expect(back.version).toBe(ns.version);
    expect(back.paths()).toEqual(ns.paths());
    for (const p of ns.paths()) expect(back.stat(p.path)).toEqual(ns.stat(p.path));
    expect(back.clientIds()).toEqual(['c1', 'c2', 'c3']);
    for (const id of back.clientIds()) expect(back.client(id)).toEqual(ns.client(id));
    expect(Object.is(back.stat('/a/d/é😀').mtime, 0)).toBe(true);
    // The restored copy behaves the same: a retry is still answered from the table.
    const retry = back.apply({ op: 'client', clientId: 'c1', seq: 1, now: 20, body: { op: 'mkdir', path: '/a/d/e', parents: true } });
    expect(retry).toEqual(ns.savedResult('c1', 1));
    // Inode numbers continue after a restore.
    unwrap(ns.apply({ op: 'create', path: '/a/n', now: 30 }));
    unwrap(back.apply({ op: 'create', path: '/a/n', now: 30 }));
    expect(back.stat('/a/n').ino).toBe(ns.stat('/a/n').ino);
  });

  it('rejects corrupt JSON snapshots with EINVAL', () => {
    const good = jsonSnapshot();
    const variants: unknown[] = [
      'not json',
      { ...good, format: 'x' },
      { ...good, v: 3 },
      { ...good, root: 'a' },
      { ...good, version: -1 },
      { ...good, nextIno: 1 },
      { ...good, tree: { ...good.tree, kind: 'file', size: 0 } },
      { ...good, tree: { ...good.tree, entries: [['a/b', { ...good.tree, ino: 2 }]] } },
      { ...good, nextIno: 5, tree: { ...good.tree, entries: [['a', { ...good.tree }]] } }, // duplicate inode
      { ...good, clients: [['c', { acked: 0, results: [[1, { ok: 'maybe' }]], lastSeen: 0 }]] },
      { ...good, clients: [['c', { acked: 2, results: [[1, { ok: false, error: { code: 'EIO', message: 'x' } }]], lastSeen: 0 }]] },
      { ...good, v: 1, clients: [['c', { lastSeq: 1, lastResult: { ok: 'maybe' }, lastSeen: 0 }]] },
      { ...good, clients: {} },
    ];
    for (const v of variants) {
      const bytes = new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
      expect(() => Namespace.restore(bytes), JSON.stringify(v)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(() => Namespace.restore(new Uint8Array([0xff, 0xfe]))).toThrow(/corrupt namespace snapshot/);
  });

  it('rejects corrupt binary snapshots with EINVAL: every truncation, and byte flips never throw anything else', () => {
    const ns = new Namespace();
    unwrap(ns.apply({ op: 'client', clientId: 'c1', seq: 1, now: 5, body: { op: 'mkdir', path: '/d/e', parents: true } }));
    for (let i = 0; i < 5; i++) unwrap(ns.apply({ op: 'client', clientId: `c${i % 2}`, seq: 2 + i, now: 6 + i, body: { op: 'create', path: `/d/f${i}` } }));
    const bytes = ns.snapshot();
    expect(Namespace.restore(bytes).snapshot()).toEqual(bytes);
    for (let n = 0; n < bytes.length; n++) {
      expect(() => Namespace.restore(bytes.subarray(0, n)), `cut at ${n}`).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(() => Namespace.restore(new Uint8Array([...bytes, 0]))).toThrow(/bytes after the end/);
    const version = bytes.slice();
    version[4] = 9;
    expect(() => Namespace.restore(version)).toThrow(/unsupported format version 9/);
    // Deterministic pseudo-random flips: whatever a flip makes of the bytes, restore either
    // rebuilds some namespace or refuses with EINVAL.
    let x = 12345;
    const rand = () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let refused = 0;
    for (let t = 0; t < 2000; t++) {
      const b = bytes.slice();
      for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      try {
        Namespace.restore(b);
      } catch (e) {
        expect(e).toMatchObject({ code: 'EINVAL' });
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('refuses entries out of name order (a snapshot is canonical: same state, same bytes)', () => {
    const ns = new Namespace();
    unwrap(ns.apply({ op: 'create', path: '/a', now: 1 }));
    unwrap(ns.apply({ op: 'create', path: '/b', now: 1 }));
    const bytes = ns.snapshot();
    const swapped = bytes.slice();
    // The two names are one byte each: swap them.
    const at = (c: string) => bytes.findIndex((v, i) => v === c.charCodeAt(0) && bytes[i - 4] === 1 && bytes[i - 3] === 0);
    const ia = at('a');
    const ib = at('b');
    expect(ia).toBeGreaterThan(0);
    expect(ib).toBeGreaterThan(ia);
    swapped[ia] = 0x62;
    swapped[ib] = 0x61;
    expect(() => Namespace.restore(swapped)).toThrow(/unordered entry name/);
  });
});
