// The namespace model must answer exactly as the real Namespace does: random operation
// sequences through both, comparing ok / error code / listing / stat kind / whole tree.

import { describe, expect, it } from 'vitest';
import { Namespace, mergeListing, type DirEntry, type Op } from '../../src/fs/namespace.js';
import { FsError } from '../../src/fs/errors.js';
import { NsSpec, WholeNsSpec, checkWholeNamespace, checkNamespaceByMinistry, namespaceModel, ministryOf, partitionByMinistry, splitByMinistry, type NsInput, type NsOperation, type NsState } from './namespace-model.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

const NAMES = ['a', 'b', 'c'];
function pathsUpTo(depth: number): string[] {
  const out = ['/'];
  let level = [''];
  for (let d = 0; d < depth; d++) {
    level = level.flatMap((p) => NAMES.map((n) => `${p}/${n}`));
    out.push(...level);
  }
  return out;
}
// '/', 3 of depth 1, 9 of depth 2, 27 of depth 3, plus a few malformed ones (EINVAL).
const PATHS = [...pathsUpTo(3), '/a/', 'a', '//a', '/a/./b'];

const USERS = [
  { uid: 1000, gid: 100, groups: [100, 300] },
  { uid: 2000, gid: 200, groups: [200] },
  { uid: 3000, gid: 300, groups: [] },
];
const MODES = [0o755, 0o700, 0o777, 0o1777, 0o2775, 0o711, 0o644, 0o6755, 0o000, 0o555];

function randomPlain(r: () => number, paths: readonly string[], posix: boolean, special = false): NsInput {
  const p = () => (r() < 0.03 ? pick(r, PATHS.slice(-4)) : pick(r, paths));
  const mode = () => (r() < 0.5 ? {} : { mode: pick(r, MODES) });
  // (mknod came later: drawn only where asked, so that the runs without it draw what they
  // always drew.)
  if (special && r() < 0.15) return { op: 'mknod', path: p(), kind: pick(r, ['fifo', 'socket', 'chardev', 'blockdev'] as const), ...mode(), ...(r() < 0.5 ? { rdev: 0x0801 } : {}) };
  const x = r() * (posix ? 1.3 : 1);
  if (x < 0.2) return { op: 'mkdir', path: p(), parents: r() < 0.3, ...(posix ? mode() : {}) };
  if (x < 0.38) return r() < 0.2 ? { op: 'create', path: p(), exclusive: r() < 0.5 } : { op: 'create', path: p(), ...(posix ? mode() : {}) };
  if (x < 0.48) return { op: 'rm', path: p() };
  if (x < 0.58) return { op: 'rmdir', path: p(), recursive: r() < 0.4 };
  if (x < 0.75) return { op: 'rename', from: p(), to: r() < 0.05 ? '/' : p() };
  if (x < 0.88) return { op: 'ls', path: p() };
  if (x < 1) return { op: 'stat', path: p() };
  if (x < 1.06) return { op: 'chmod', path: p(), mode: pick(r, MODES) };
  if (x < 1.1) return { op: 'chown', path: p(), uid: pick(r, [-1, 0, 1000, 2000]), gid: pick(r, [-1, 0, 100, 200, 300]) };
  if (x < 1.14) return { op: 'utimens', path: p(), explicit: r() < 0.5 };
  if (x < 1.2) return { op: 'symlink', path: p(), target: pick(r, ['a', '../b/c', '/x y']) };
  if (x < 1.24) return { op: 'readlink', path: p() };
  return { op: 'link', from: p(), to: p() };
}

function randomInput(r: () => number, paths: readonly string[], posix = false, special = false): NsInput {
  const input = randomPlain(r, paths, posix, special);
  return posix && r() < 0.5 ? ({ ...input, as: pick(r, USERS) } as NsInput) : input;
}

/** The same input as the namespace's op (utimens's times: explicit ones, or null for now). */
function body(input: NsInput): Record<string, unknown> {
  if (input.op === 'utimens') return { op: 'utimens', path: input.path, atimeNs: input.explicit ? 5n : null, mtimeNs: input.explicit ? -7n : null };
  const { as: _as, ...rest } = input as NsInput & { as?: unknown };
  return rest;
}

type Observed = { ok: true; value?: unknown } | { ok: false; code: string };

let seq = 0;
function runReal(ns: Namespace, input: NsInput): Observed {
  const as = 'as' in input && input.as !== undefined ? input.as : undefined;
  if (input.op === 'ls' || input.op === 'stat' || input.op === 'readlink') {
    try {
      if (input.op === 'ls') return { ok: true, value: ns.ls(input.path, as) };
      if (input.op === 'readlink') return { ok: true, value: ns.readlink(input.path, as) };
      const st = ns.stat(input.path, as);
      return { ok: true, value: { kind: st.kind, mode: st.mode, uid: st.uid, gid: st.gid, nlink: st.nlink } };
    } catch (e) {
      if (e instanceof FsError) return { ok: false, code: e.code };
      throw e;
    }
  }
  const op = as === undefined ? { ...body(input), now: 0 } : { op: 'client', clientId: 'c', seq: ++seq, now: 0, body: body(input), as };
  const r = ns.apply(op as Op);
  return r.ok ? { ok: true } : { ok: false, code: r.error.code };
}

function treeOf(state: NsState): Array<{ path: string; kind: string }> {
  return [...state]
    .filter(([path]) => path.startsWith('/'))
    .map(([path, v]) => ({ path, kind: v.split(' ')[0] as string }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Every node's stat, as the model and as the namespace (as root) give them. */
function statsAgree(ns: Namespace, spec: NsSpec, state: NsState, ctx: string): void {
  for (const e of ns.paths()) {
    const st = ns.stat(e.path);
    const a = spec.apply(state, { op: 'stat', path: e.path });
    expect(a.ok && a.value, `${ctx}: stat ${e.path}`).toEqual({ kind: st.kind, mode: st.mode, uid: st.uid, gid: st.gid, nlink: st.nlink });
  }
}

function agree(root: string, seed: number, steps: number, paths: readonly string[], posix = false, special = false): Record<string, number> {
  const r = rng(seed);
  const ns = new Namespace(root);
  const spec = new NsSpec({ root });
  let state = spec.initial();
  const codes: Record<string, number> = {};
  for (let i = 0; i < steps; i++) {
    const input = randomInput(r, paths, posix, special);
    const real = runReal(ns, input);
    const a = spec.apply(state, input);
    const ctx = `seed ${seed} step ${i}: ${JSON.stringify(input)} in ${JSON.stringify([...state])}`;
    expect(a.ok, ctx).toBe(real.ok);
    if (!a.ok && !real.ok) expect(a.code, ctx).toBe(real.code);
    if (a.ok && real.ok && real.value !== undefined) expect(a.value, ctx).toEqual(real.value);
    if (posix && i % 50 === 0) statsAgree(ns, spec, a.state, ctx);
    const key = `${input.op}:${real.ok ? 'ok' : real.code}`;
    codes[key] = (codes[key] ?? 0) + 1;
    state = a.state;
    expect(treeOf(state), ctx).toEqual(ns.paths().map((e) => ({ path: e.path, kind: e.kind })).sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0)));
    // The model's state is a value: stepping must never change the old one.
    if (r() < 0.01) {
      state = spec.initial();
      ns.apply({ op: 'rmdir', path: '/', recursive: true, now: 0 }); // EBUSY: nothing changes
      for (const e of ns.paths().reverse()) if (e.path !== root) ns.apply({ op: e.kind === 'dir' ? 'rmdir' : 'rm', path: e.path, recursive: true, now: 0 } as Op);
      ns.apply({ op: 'chmod', path: root, mode: 0o755, now: 0 });
      ns.apply({ op: 'chown', path: root, uid: 0, gid: 0, now: 0 });
      expect(ns.paths()).toEqual([{ path: root, kind: 'dir' }]);
    }
  }
  return codes;
}

describe('namespace model agrees with the real Namespace', () => {
  it('on 20 000 random operations over a small tree (root /)', () => {
    const all: Record<string, number> = {};
    for (let seed = 1; seed <= 10; seed++) {
      const codes = agree('/', seed, 2000, PATHS.slice(0, 13 + (seed % 2) * 27));
      for (const [k, n] of Object.entries(codes)) all[k] = (all[k] ?? 0) + n;
    }
    // The random walk reaches every interesting outcome.
    for (const k of [
      'mkdir:ok', 'mkdir:EEXIST', 'mkdir:ENOENT', 'mkdir:ENOTDIR', 'mkdir:EINVAL',
      'create:ok', 'create:EEXIST', 'create:ENOENT', 'create:ENOTDIR', 'create:EISDIR',
      'rm:ok', 'rm:EISDIR', 'rm:ENOENT', 'rm:ENOTDIR',
      'rmdir:ok', 'rmdir:ENOTEMPTY', 'rmdir:ENOTDIR', 'rmdir:ENOENT', 'rmdir:EBUSY',
      'rename:ok', 'rename:EINVAL', 'rename:ENOTEMPTY', 'rename:EISDIR', 'rename:ENOTDIR', 'rename:ENOENT', 'rename:EBUSY',
      'ls:ok', 'ls:ENOENT', 'ls:ENOTDIR', 'stat:ok', 'stat:ENOENT', 'stat:ENOTDIR',
    ])
      expect(all[k] ?? 0, k).toBeGreaterThan(0);
  });

  it('with the POSIX operations and callers other than root (permissions, sticky bit, links, symlinks)', () => {
    const all: Record<string, number> = {};
    for (let seed = 200; seed < 210; seed++) {
      const codes = agree(seed % 2 === 0 ? '/' : '/a', seed, 2000, PATHS.slice(0, 13 + (seed % 3 === 0 ? 27 : 0)), true);
      for (const [k, n] of Object.entries(codes)) all[k] = (all[k] ?? 0) + n;
    }
    for (const k of [
      'create:EACCES', 'mkdir:EACCES', 'rm:EACCES', 'rm:EPERM', 'rename:EACCES', 'ls:EACCES', 'stat:EACCES',
      'chmod:ok', 'chmod:EPERM', 'chown:ok', 'chown:EPERM', 'utimens:ok', 'utimens:EPERM', 'utimens:EACCES',
      'symlink:ok', 'symlink:EEXIST', 'readlink:ok', 'readlink:EINVAL', 'link:ok', 'link:EPERM', 'link:EEXIST',
    ])
      expect(all[k] ?? 0, k).toBeGreaterThan(0);
  });

  it('with mknod: FIFOs, sockets and devices (root only) among the POSIX operations', () => {
    const all: Record<string, number> = {};
    for (let seed = 300; seed < 304; seed++) {
      const codes = agree(seed === 303 ? '/a' : '/', seed, 1500, PATHS.slice(0, 13), true, true);
      for (const [k, n] of Object.entries(codes)) all[k] = (all[k] ?? 0) + n;
    }
    for (const k of ['mknod:ok', 'mknod:EEXIST', 'mknod:EACCES', 'mknod:EPERM', 'mknod:ENOENT', 'rm:ok', 'rename:ok']) expect(all[k] ?? 0, k).toBeGreaterThan(0);
  });

  it('for a ministry rooted below / (EXDEV outside it, its root is EBUSY)', () => {
    const all: Record<string, number> = {};
    for (let seed = 100; seed < 105; seed++) {
      const codes = agree('/a', seed, 2000, PATHS.slice(0, 40));
      for (const [k, n] of Object.entries(codes)) all[k] = (all[k] ?? 0) + n;
    }
    expect(all['mkdir:EXDEV']).toBeGreaterThan(0);
    expect(all['rename:EXDEV']).toBeGreaterThan(0);
    expect(all['ls:ok']).toBeGreaterThan(0);
  });

  it('hand-picked rename corner cases', () => {
    const spec = new NsSpec();
    const run = (setup: NsInput[], input: NsInput) => {
      const ns = new Namespace('/');
      let s = spec.initial();
      for (const x of setup) {
        expect(runReal(ns, x).ok).toBe(true);
        s = spec.apply(s, x).state;
      }
      const a = spec.apply(s, input);
      const real = runReal(ns, input);
      expect(a.ok ? 'ok' : a.code).toBe(real.ok ? 'ok' : real.code);
      return a.ok ? 'ok' : a.code;
    };
    const tree: NsInput[] = [{ op: 'mkdir', path: '/a/b/c', parents: true }, { op: 'create', path: '/f' }, { op: 'mkdir', path: '/e' }];
    expect(run(tree, { op: 'rename', from: '/a', to: '/a/b/x' })).toBe('EINVAL');
    expect(run(tree, { op: 'rename', from: '/a', to: '/a' })).toBe('ok');
    expect(run(tree, { op: 'rename', from: '/f', to: '/f' })).toBe('ok');
    expect(run(tree, { op: 'rename', from: '/a', to: '/e' })).toBe('ok');
    expect(run(tree, { op: 'rename', from: '/e', to: '/a' })).toBe('ENOTEMPTY');
    expect(run(tree, { op: 'rename', from: '/a/b', to: '/a' })).toBe('ENOTEMPTY');
    expect(run(tree, { op: 'rename', from: '/f', to: '/e' })).toBe('EISDIR');
    expect(run(tree, { op: 'rename', from: '/e', to: '/f' })).toBe('ENOTDIR');
    expect(run(tree, { op: 'rename', from: '/f', to: '/f/x' })).toBe('ENOTDIR');
    expect(run(tree, { op: 'rename', from: '/', to: '/x' })).toBe('EBUSY');
    expect(run(tree, { op: 'rename', from: '/x', to: '/' })).toBe('ENOENT');
    expect(run(tree, { op: 'rename', from: '/a', to: '/' })).toBe('EBUSY');
    expect(run(tree, { op: 'rename', from: '/a', to: '/q/r' })).toBe('ENOENT');
  });
});

describe('namespace model as a linearizability model', () => {
  it('compares listings as sets of names (kinds when given) and stat by kind', () => {
    const m = namespaceModel();
    let s = m.init();
    s = m.step(s, { op: 'create', path: '/x' }, { ok: true }).state;
    s = m.step(s, { op: 'mkdir', path: '/d' }, { ok: true }).state;
    expect(m.step(s, { op: 'ls', path: '/' }, { ok: true, value: ['d', 'x'] }).ok).toBe(true);
    expect(m.step(s, { op: 'ls', path: '/' }, { ok: true, value: ['x', 'd'] }).ok).toBe(true);
    expect(m.step(s, { op: 'ls', path: '/' }, { ok: true, value: [{ name: 'd', kind: 'dir' }, { name: 'x', kind: 'file' }] }).ok).toBe(true);
    expect(m.step(s, { op: 'ls', path: '/' }, { ok: true, value: [{ name: 'd', kind: 'file' }, { name: 'x', kind: 'file' }] }).ok).toBe(false);
    expect(m.step(s, { op: 'ls', path: '/' }, { ok: true, value: ['x'] }).ok).toBe(false);
    expect(m.step(s, { op: 'stat', path: '/d' }, { ok: true, value: 'dir' }).ok).toBe(true);
    expect(m.step(s, { op: 'stat', path: '/d' }, { ok: true, value: { kind: 'dir', size: 0 } }).ok).toBe(true);
    expect(m.step(s, { op: 'stat', path: '/x' }, { ok: true, value: 'dir' }).ok).toBe(false);
    expect(m.step(s, { op: 'stat', path: '/x/y' }, { ok: false, code: 'ENOTDIR' }).ok).toBe(true);
    expect(m.step(s, { op: 'stat', path: '/x/y' }, { ok: false, code: 'ENOENT' }).ok).toBe(false);
    expect(m.hash(s)).toBe(m.hash(m.step(m.step(m.init(), { op: 'mkdir', path: '/d' }, { ok: true }).state, { op: 'create', path: '/x' }, { ok: true }).state));
  });

  it('hashes states alike whatever inode numbers their files got (never observed), and tells link structures and attributes apart', () => {
    const m = namespaceModel();
    const run = (ops: NsInput[]): NsState => ops.reduce((s, op) => m.step(s, op, { ok: true }).state, m.init());
    // /f then /g, or /g then /f (which also burnt an inode): the same tree.
    const a = run([{ op: 'create', path: '/f' }, { op: 'create', path: '/g' }]);
    const b = run([{ op: 'create', path: '/x' }, { op: 'rm', path: '/x' }, { op: 'create', path: '/g' }, { op: 'create', path: '/f' }]);
    expect(m.hash(a)).toBe(m.hash(b));
    // The search skips a state seen before: two orders of the same creates are one state.
    expect(m.hash(run([{ op: 'create', path: '/f' }, { op: 'link', from: '/f', to: '/h' }, { op: 'create', path: '/g' }]))).toBe(
      m.hash(run([{ op: 'create', path: '/g' }, { op: 'create', path: '/f' }, { op: 'link', from: '/f', to: '/h' }])),
    );
    // /h a link of /f, or a file of its own; a link of /g instead; another mode; a symlink's target.
    const linked = run([{ op: 'create', path: '/f' }, { op: 'create', path: '/g' }, { op: 'link', from: '/f', to: '/h' }]);
    const apart = run([{ op: 'create', path: '/f' }, { op: 'create', path: '/g' }, { op: 'create', path: '/h' }]);
    const other = run([{ op: 'create', path: '/f' }, { op: 'create', path: '/g' }, { op: 'link', from: '/g', to: '/h' }]);
    const mode = run([{ op: 'create', path: '/f', mode: 0o600 }, { op: 'create', path: '/g' }, { op: 'link', from: '/f', to: '/h' }]);
    const hashes = [linked, apart, other, mode, run([{ op: 'symlink', path: '/f', target: 'a' }]), run([{ op: 'symlink', path: '/f', target: 'b' }])].map((s) => m.hash(s));
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('merges other ministries’ roots into listings', () => {
    const m = namespaceModel({ root: '/', otherRoots: ['/m', '/a/deep', '/'] });
    let s = m.init();
    s = m.step(s, { op: 'create', path: '/x' }, { ok: true }).state;
    expect(m.step(s, { op: 'ls', path: '/' }, { ok: true, value: ['m', 'x'] }).ok).toBe(true);
    expect(m.step(s, { op: 'ls', path: '/' }, { ok: true, value: ['x'] }).ok).toBe(false);
  });

  it('partitionByMinistry routes by longest prefix (a rename by its source)', () => {
    const op = (input: NsInput): NsOperation => ({ client: 'c', input, output: { ok: true }, call: 0, ret: 1 });
    const h = [
      op({ op: 'create', path: '/x' }),
      op({ op: 'create', path: '/a/x' }),
      op({ op: 'create', path: '/ab' }),
      op({ op: 'ls', path: '/a' }),
      op({ op: 'rename', from: '/a/b/c', to: '/z' }),
      op({ op: 'stat', path: '/a/b' }),
    ];
    const parts = partitionByMinistry(h, ['/', '/a', '/a/b', '/q']);
    expect(parts.map((p) => p.map((o) => ('path' in o.input ? o.input.path : o.input.from)))).toEqual([['/x', '/ab'], ['/a/x', '/a'], ['/a/b/c', '/a/b'], []]);
    expect(ministryOf('/q1', ['/', '/q'])).toBe('/');
    expect(() => partitionByMinistry(h, ['/a'])).toThrow(/no ministry serves \/x/);
  });

  it('answers as the minister does around other ministries (EXDEV, ENOTEMPTY, subtree delete)', () => {
    const spec = new NsSpec({ root: '/', otherRoots: ['/', '/a', '/d/m'] });
    const code = (a: { ok: boolean; code?: string }) => (a.ok ? 'ok' : a.code);
    let s = spec.initial();
    for (const x of [{ op: 'mkdir', path: '/d' }, { op: 'create', path: '/f' }, { op: 'mkdir', path: '/e' }] as NsInput[]) s = spec.apply(s, x).state;
    // Into another ministry, or moving a directory that holds one: EXDEV before anything else.
    expect(code(spec.apply(s, { op: 'rename', from: '/f', to: '/a/f' }))).toBe('EXDEV');
    expect(code(spec.apply(s, { op: 'rename', from: '/nope', to: '/d/m/x' }))).toBe('EXDEV');
    expect(code(spec.apply(s, { op: 'rename', from: '/d', to: '/x' }))).toBe('EXDEV');
    expect(code(spec.apply(s, { op: 'rename', from: '/f', to: '/d/g' }))).toBe('ok');
    // The mount point shows in its parent's listing; rmdir of its parent is ENOTEMPTY.
    expect(spec.apply(s, { op: 'ls', path: '/d' })).toMatchObject({ ok: true, value: [{ name: 'm', kind: 'dir' }] });
    expect(spec.apply(s, { op: 'ls', path: '/' })).toMatchObject({ ok: true, value: [{ name: 'a' }, { name: 'd' }, { name: 'e' }, { name: 'f' }] });
    expect(code(spec.apply(s, { op: 'rmdir', path: '/d' }))).toBe('ENOTEMPTY');
    expect(code(spec.apply(s, { op: 'rmdir', path: '/' }))).toBe('ENOTEMPTY');
    expect(code(spec.apply(s, { op: 'rmdir', path: '/', recursive: true }))).toBe('EBUSY');
    // A failing rmdir -r dissolves nothing; a successful one dissolves the ministry below.
    expect(spec.apply(spec.apply(s, { op: 'rmdir', path: '/e/x', recursive: true }).state, { op: 'ls', path: '/d' })).toMatchObject({ value: [{ name: 'm' }] });
    const after = spec.apply(s, { op: 'rmdir', path: '/d', recursive: true });
    expect(after.ok).toBe(true);
    s = spec.apply(after.state, { op: 'mkdir', path: '/d/m', parents: true }).state;
    expect(spec.apply(s, { op: 'ls', path: '/d/m' })).toMatchObject({ ok: true, value: [] });
    expect(code(spec.apply(s, { op: 'rename', from: '/d', to: '/x' }))).toBe('ok');
    // /a is still another ministry's.
    expect(code(spec.apply(s, { op: 'rename', from: '/d', to: '/a/x' }))).toBe('EXDEV');
  });

  it('splitByMinistry follows a subtree delete: before it the nested ministry, after it the one above', () => {
    let t = 0;
    const op = (input: NsInput, output: NsOperation['output'] = { ok: true }, dur = 1): NsOperation => {
      const call = (t += 10);
      return { client: 'c', input, output, call, ret: dur === Infinity ? Infinity : call + dur };
    };
    const before = op({ op: 'create', path: '/d/m/x' });
    const unknownBefore = op({ op: 'create', path: '/d/m/y' }, { ok: false, code: 'ETIMEDOUT' }, Infinity);
    const del = op({ op: 'rmdir', path: '/d', recursive: true }, { ok: true }, 30);
    const overlapping = op({ op: 'create', path: '/d/m/z' });
    const overlappingRead = op({ op: 'stat', path: '/d/m/x' }, { ok: true, value: 'file' });
    t += 50;
    const after = op({ op: 'stat', path: '/d/m/x' }, { ok: false, code: 'ENOENT' });
    const top = op({ op: 'ls', path: '/a' }, { ok: true, value: [] });
    const { parts, unchecked } = splitByMinistry([before, unknownBefore, del, overlapping, overlappingRead, after, top], ['/', '/a', '/d/m']);
    // The overlapping change goes to both sides, its outcome taken as unknown there; an
    // overlapping read, whose outcome would then tell nothing, goes nowhere.
    const maybe = { ...overlapping, ret: Infinity };
    const dissolve = { client: 'c', input: { op: 'unmount', path: '/d/m' }, output: { ok: true }, call: del.call, ret: del.ret };
    expect(parts[0]).toEqual([unknownBefore, del, maybe, after, dissolve]);
    expect(parts[1]).toEqual([top]);
    expect(parts[2]).toEqual([before, unknownBefore, maybe]);
    expect(unchecked).toEqual([overlapping, overlappingRead]);
    const mk = op({ op: 'mkdir', path: '/d' });
    const h = [mk, { ...before, call: mk.ret + 1, ret: mk.ret + 2 }, op({ op: 'rmdir', path: '/d', recursive: true }, { ok: true }), op({ op: 'stat', path: '/d/m/x' }, { ok: false, code: 'ENOENT' })];
    expect(checkNamespaceByMinistry(h, ['/', '/d/m']).ok).toBe(true);
    // After the delete the nested ministry's file is gone: seeing it is a violation.
    h[3] = { ...h[3]!, output: { ok: true, value: 'file' } };
    expect(checkNamespaceByMinistry(h, ['/', '/d/m']).ok).toBe(false);
  });

  it('a reader may see the nested ministries gone before the directory of a subtree delete goes', () => {
    const mk: NsOperation = { client: 'c', input: { op: 'mkdir', path: '/d' }, output: { ok: true }, call: 0, ret: 1 };
    const del: NsOperation = { client: 'c', input: { op: 'rmdir', path: '/d', recursive: true }, output: { ok: true }, call: 10, ret: 40 };
    const between: NsOperation = { client: 'r', input: { op: 'ls', path: '/d' }, output: { ok: true, value: [] }, call: 20, ret: 21 };
    expect(checkNamespaceByMinistry([mk, del, between], ['/', '/d/m']).ok).toBe(true);
    // Not once the rmdir has returned (the directory is gone) ...
    expect(checkNamespaceByMinistry([mk, del, { ...between, call: 41, ret: 42 }], ['/', '/d/m']).ok).toBe(false);
    // ... nor before it was asked for.
    expect(checkNamespaceByMinistry([mk, del, { ...between, call: 5, ret: 6 }], ['/', '/d/m']).ok).toBe(false);
    // An rmdir whose outcome is unknown may have dissolved them, or not.
    const unknown: NsOperation = { ...del, output: { ok: false, code: 'ETIMEDOUT' }, ret: Infinity };
    expect(checkNamespaceByMinistry([mk, unknown, between], ['/', '/d/m']).ok).toBe(true);
    expect(checkNamespaceByMinistry([mk, unknown, { ...between, output: { ok: true, value: [{ name: 'm' }] } }], ['/', '/d/m']).ok).toBe(true);
  });

  it('an unknown-outcome change that does nothing at first may still take effect later', () => {
    const h: NsOperation[] = [
      { client: 'a', input: { op: 'create', path: '/f' }, output: { ok: true }, call: 0, ret: 1 },
      // Sent while /f exists (EEXIST, a no-op then), its answer lost; it may apply after the rm.
      { client: 'b', input: { op: 'create', path: '/f' }, output: { ok: false, code: 'ETIMEDOUT' }, call: 2, ret: Infinity },
      { client: 'a', input: { op: 'rm', path: '/f' }, output: { ok: true }, call: 3, ret: 4 },
      { client: 'a', input: { op: 'stat', path: '/f' }, output: { ok: true, value: 'file' }, call: 5, ret: 6 },
    ];
    expect(checkNamespaceByMinistry(h, ['/']).ok).toBe(true);
    // Without it, the file cannot be back.
    expect(checkNamespaceByMinistry([h[0]!, h[2]!, h[3]!], ['/']).ok).toBe(false);
  });

  it('an rmdir -r of unknown outcome holding a ministry that lived through the run did not happen', () => {
    const mk: NsOperation = { client: 'c', input: { op: 'mkdir', path: '/d' }, output: { ok: true }, call: 0, ret: 1 };
    const unknown: NsOperation = { client: 'c', input: { op: 'rmdir', path: '/d', recursive: true }, output: { ok: false, code: 'ETIMEDOUT' }, call: 10, ret: Infinity };
    const inside: NsOperation = { client: 'c', input: { op: 'create', path: '/d/m/x' }, output: { ok: true }, call: 20, ret: 21 };
    const gone: NsOperation = { client: 'r', input: { op: 'stat', path: '/d' }, output: { ok: false, code: 'ENOENT' }, call: 30, ret: 31 };
    const seen: NsOperation = { client: 'r', input: { op: 'stat', path: '/d/m/x' }, output: { ok: true, value: 'file' }, call: 40, ret: 41 };
    // Without knowing, /d may be gone and the create inside /d/m is of unknown outcome.
    expect(splitByMinistry([mk, unknown, inside, seen], ['/', '/d/m']).unchecked).toEqual([inside, seen]);
    expect(checkNamespaceByMinistry([mk, unknown, gone], ['/', '/d/m']).ok).toBe(true);
    // Knowing /d/m lived, the rmdir never removed /d, and /d/m's operations are checked.
    const split = splitByMinistry([mk, unknown, inside, seen], ['/', '/d/m'], ['/', '/d/m']);
    expect(split.unchecked).toEqual([unknown]);
    expect(split.parts).toEqual([[mk], [inside, seen]]);
    expect(checkNamespaceByMinistry([mk, unknown, gone], ['/', '/d/m'], { survivors: ['/', '/d/m'] }).ok).toBe(false);
  });
});

describe('one model of the whole namespace (renames across ministries)', () => {
  const subtrees = ['/', '/a', '/d/m'];
  const run = (inputs: NsInput[]) => {
    const spec = new WholeNsSpec(subtrees);
    let state = spec.initial();
    return inputs.map((i) => {
      const a = spec.apply(state, i);
      state = a.state;
      return a.ok ? (a.value === undefined ? 'ok' : JSON.stringify(Array.isArray(a.value) ? a.value.map((e) => e.name) : a.value)) : a.code;
    });
  };

  it('serves each path by its ministry and moves across them in one step, with the checks in the protocol order', () => {
    expect(
      run([
        { op: 'mkdir', path: '/a/x' },
        { op: 'create', path: '/a/x/f' },
        { op: 'mkdir', path: '/d' },
        { op: 'rename', from: '/a/x', to: '/d/x' },
        { op: 'ls', path: '/a' },
        { op: 'ls', path: '/d' },
        { op: 'stat', path: '/d/x/f' },
        { op: 'rename', from: '/d/x', to: '/d/m' },
        { op: 'rename', from: '/d', to: '/a/d' },
        { op: 'rename', from: '/nothing', to: '/a/n' },
        { op: 'rename', from: '/d/x', to: '/a/no/n' },
        { op: 'create', path: '/a/file' },
        { op: 'rename', from: '/d/x', to: '/a/file' },
        { op: 'rename', from: '/a', to: '/b' },
      ]),
    ).toEqual(['ok', 'ok', 'ok', 'ok', '[]', '["m","x"]', '{"kind":"file","mode":33188,"uid":0,"gid":0,"nlink":1}', 'EBUSY', 'EXDEV', 'ENOENT', 'ENOENT', 'ok', 'ENOTDIR', 'EBUSY']);
  });

  it('checks the caller at both ends (search, write, sticky), carries modes and owners, keeps links inside the moved tree, and refuses links outside it', () => {
    const alice = { uid: 1000, gid: 100, groups: [] };
    const bob = { uid: 1001, gid: 100, groups: [] };
    expect(
      run([
        { op: 'mkdir', path: '/a/pub', mode: 0o1777 },
        { op: 'mkdir', path: '/home', mode: 0o777 },
        { op: 'mkdir', path: '/home/x', as: alice, mode: 0o750 },
        { op: 'create', path: '/home/x/f', as: alice, mode: 0o600 },
        { op: 'link', from: '/home/x/f', to: '/home/x/g', as: alice },
        { op: 'rename', from: '/home/x', to: '/a/pub/x', as: bob }, // bob may not write x ('..' changes)
        { op: 'rename', from: '/home/x', to: '/a/x', as: alice }, // nor may alice write /a (0755 root)
        { op: 'rename', from: '/home/x', to: '/a/pub/x', as: alice },
        { op: 'stat', path: '/a/pub/x/g', as: alice },
        { op: 'stat', path: '/a/pub/x', as: alice },
        { op: 'create', path: '/a/pub/y', as: bob },
        { op: 'create', path: '/home/z', as: alice },
        { op: 'rename', from: '/home/z', to: '/a/pub/y', as: alice }, // the sticky rule at the target
        { op: 'create', path: '/home/h' },
        { op: 'link', from: '/home/h', to: '/home/h2' },
        { op: 'rename', from: '/home/h', to: '/a/h' }, // its other link stays behind
        { op: 'mkdir', path: '/home/locked', mode: 0o700 },
        { op: 'create', path: '/home/locked/f' },
        { op: 'rename', from: '/home/locked/f', to: '/a/f', as: alice }, // no search in /home/locked
      ]),
    ).toEqual([
      'ok', 'ok', 'ok', 'ok', 'ok',
      'EACCES', 'EACCES', 'ok',
      '{"kind":"file","mode":33152,"uid":1000,"gid":100,"nlink":2}',
      '{"kind":"dir","mode":16872,"uid":1000,"gid":100,"nlink":2}',
      'ok', 'ok', 'EPERM', 'ok', 'ok', 'EXDEV', 'ok', 'ok', 'EACCES',
    ]);
  });

  it('an unmount (subtree delete) drops the ministry and all below it: its paths are its parent\'s', () => {
    expect(run([{ op: 'create', path: '/d/m/f' }, { op: 'unmount', path: '/d/m' }, { op: 'stat', path: '/d/m/f' }, { op: 'mkdir', path: '/d' }, { op: 'ls', path: '/d' }])).toEqual(['ok', 'ok', 'ENOENT', 'ok', '[]']);
  });

  it('a reader that sees both names (or neither) after a rename across ministries is caught', () => {
    const base: NsOperation[] = [
      { client: 'w', input: { op: 'create', path: '/a/f' }, output: { ok: true }, call: 0, ret: 1 },
      { client: 'w', input: { op: 'rename', from: '/a/f', to: '/g' }, output: { ok: true }, call: 2, ret: 10 },
    ];
    const read = (path: string, value: string[], call: number): NsOperation => ({ client: 'r', input: { op: 'ls', path }, output: { ok: true, value }, call, ret: call + 1 });
    expect(checkWholeNamespace([...base, read('/', ['a', 'g'], 5), read('/a', [], 7)], subtrees).ok).toBe(true);
    expect(checkWholeNamespace([...base, read('/', ['a', 'g'], 5), read('/a', ['f'], 7)], subtrees).ok).toBe(false);
    expect(checkWholeNamespace([...base, read('/a', [], 5), read('/', ['a'], 7)], subtrees).ok).toBe(false);
  });
  it('holds a plain (session) read to its client\'s session in its own ministry only (seed 1022 of the cluster sim)', () => {
    // w created /a/f; r then changed the root ministry and read /a from a clerk that had not
    // applied w's create: allowed, r never saw /a past it. Sessions are per ministry.
    const op = (client: string, input: NsInput, output: NsOperation['output'], call: number, session?: boolean): NsOperation => ({ client, input, output, call, ret: call + 1, ...(session ? { session } : {}) });
    const h = [op('w', { op: 'create', path: '/a/f' }, { ok: true }, 0), op('r', { op: 'create', path: '/g' }, { ok: true }, 2), op('r', { op: 'ls', path: '/a' }, { ok: true, value: [] }, 4, true)];
    expect(checkWholeNamespace(h, subtrees).ok).toBe(true);
    // But after r read /a with f, or created in /a itself, a read of /a must show f.
    const saw = op('r', { op: 'ls', path: '/a' }, { ok: true, value: ['f'] }, 2, true);
    expect(checkWholeNamespace([h[0]!, saw, h[2]!], subtrees).ok).toBe(false);
    const own = op('r', { op: 'create', path: '/a/g' }, { ok: true }, 2);
    expect(checkWholeNamespace([h[0]!, own, op('r', { op: 'ls', path: '/a' }, { ok: true, value: ['g'] }, 4, true)], subtrees).ok).toBe(false);
  });
  it('agrees with two real Namespaces ("/" and "/a") doing a rename across them in halves (exportTree, graftCheck, detach, graft), POSIX callers included', () => {
    const spec = new WholeNsSpec(['/', '/a']);
    const all: Record<string, number> = {};
    for (let seed = 300; seed < 330; seed++) {
      const r = rng(seed);
      const top = new Namespace('/');
      const sub = new Namespace('/a');
      const serving = (p: string) => (p === '/a' || p.startsWith('/a/') ? sub : top);
      let state = spec.initial();
      for (let i = 0; i < 1500; i++) {
        const input = randomInput(r, PATHS.slice(0, 40), true);
        const real = runWhole(top, sub, serving, input);
        const a = spec.apply(state, input);
        const ctx = `seed ${seed} step ${i}: ${JSON.stringify(input)} in ${JSON.stringify([...state])}`;
        expect(a.ok ? 'ok' : a.code, ctx).toBe(real.ok ? 'ok' : real.code);
        if (a.ok && real.ok && real.value !== undefined) expect(a.value, ctx).toEqual(real.value);
        state = a.state;
        const crosses = input.op === 'rename' && serving(input.from) !== serving(input.to);
        const key = `${crosses ? 'xrename' : input.op}:${real.ok ? 'ok' : real.code}`;
        all[key] = (all[key] ?? 0) + 1;
        if (i % 50 === 0 || crosses) {
          const paths = [...top.paths(), ...sub.paths()].map((e) => e.path).sort();
          expect(treeOf(state).map((e) => e.path), ctx).toEqual(paths);
          for (const p of paths) {
            const st = serving(p).stat(p);
            const m = spec.apply(state, { op: 'stat', path: p });
            expect(m.ok && m.value, `${ctx}: stat ${p}`).toEqual({ kind: st.kind, mode: st.mode, uid: st.uid, gid: st.gid, nlink: st.nlink });
          }
        }
      }
    }
    for (const k of ['xrename:ok', 'xrename:EACCES', 'xrename:ENOENT', 'xrename:EXDEV', 'xrename:EPERM', 'xrename:EISDIR', 'xrename:ENOTDIR', 'xrename:ENOTEMPTY', 'xrename:EBUSY']) expect(all[k] ?? 0, k).toBeGreaterThan(0);
  });
});

/** An input through the real namespaces: a rename across them as its two halves (as the
 * ledger runs them), a link across them EXDEV (the minister), "/" listing "/a" (the merge). */
function runWhole(top: Namespace, sub: Namespace, serving: (p: string) => Namespace, input: NsInput): Observed {
  const malformed = (p: string) => p !== '/' && (!p.startsWith('/') || p.endsWith('/') || p.includes('//') || p.includes('/./'));
  // The minister's checks around "/a" (ministry-core.ts): "/" holds it.
  if (input.op === 'rename' && input.from === '/' && !malformed(input.to)) return { ok: false, code: 'EXDEV' };
  if (input.op === 'rmdir' && input.path === '/' && input.recursive !== true) return { ok: false, code: 'ENOTEMPTY' };
  if ((input.op === 'rename' || input.op === 'link') && !malformed(input.from) && !malformed(input.to) && serving(input.from) !== serving(input.to)) {
    if (input.op === 'link') return { ok: false, code: 'EXDEV' };
    const as = input.as;
    try {
      const tree = serving(input.from).exportTree(input.from, as);
      serving(input.to).graftCheck(input.from, input.to, tree[0]!.kind === 'dir', as);
      serving(input.from).detach(input.from, 0);
      serving(input.to).graft(input.to, tree, 0);
      return { ok: true };
    } catch (e) {
      if (e instanceof FsError) return { ok: false, code: e.code };
      throw e;
    }
  }
  const path = 'path' in input ? input.path : input.from;
  const ns = malformed(path) ? top : serving(path);
  const out = runReal(ns, input);
  if (input.op === 'ls' && input.path === '/' && out.ok) return { ok: true, value: mergeListing(out.value as DirEntry[], ['a']) };
  return out;
}
