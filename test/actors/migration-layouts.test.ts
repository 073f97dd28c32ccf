import { describe, expect, it } from 'vitest';
import type { PlacementPolicy } from '../../src/actors/layouts.js';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import { MigrationMarks } from '../../src/actors/ministry-migrations.js';
import { joinMinistrySnapshot, splitMinistrySnapshot } from '../../src/actors/ministry-snapshot-format.js';
import type { ClientOp } from '../../src/fs/requests.js';

// A live migration (issue 16) of a subtree whose files have contents (issue 17): the handover
// carries their layouts, renumbered as the target renumbers the inodes; the source forgets them
// (not garbage: the chunks still belong to the files); POSIX attributes survive; the ministry
// snapshot holds marks and layouts and still reads every older format.

const policy: PlacementPolicy = { nodes: ['n1', 'n2', 'n3', 'n4'], replicas: 2, chunkBytes: 1024 };
let index = 0;
let seq = 0;
const apply = (ns: MinistryNamespace, bytes: Uint8Array, now = 0) => ns.applyEntry(bytes, ++index, now);
const change = (ns: MinistryNamespace, op: ClientOp) => expect(apply(ns, MinistryNamespace.encodeEntry({ clientId: 'c1', seq: ++seq, acked: 0, op, now: 1_000 }))).toMatchObject({ ok: true });
const migration = (ns: MinistryNamespace, e: Parameters<typeof MinistryNamespace.encodeMigration>[0], now = 0) => apply(ns, MinistryNamespace.encodeMigration(e), now);

function withContents(ns: MinistryNamespace, path: string, bytes: number): void {
  change(ns, { op: 'create', path });
  const e = ns.layoutChange({ op: 'layout-place', path, offset: 0, length: bytes }, policy, `s${seq}`);
  expect(e && 'op' in e).toBe(true);
  expect(apply(ns, MinistryNamespace.encodeLayout(e as Parameters<typeof MinistryNamespace.encodeLayout>[0])).ok).toBe(true);
  change(ns, { op: 'file-resize', path, size: bytes, extend: true, token: 0 });
}

/** Fence, wait out, hand over `subtree` of `from` into `to`; returns the install's outcome. */
function move(from: MinistryNamespace, to: MinistryNamespace, id: string, subtree: string) {
  migration(from, { op: 'migration.fence', id, subtree }, 10);
  const ready = from.handover(id, 10, 0);
  expect(ready.state).toBe('ready');
  return migration(to, { op: 'migration.install', id, subtree, namespace: ready.namespace!, leaseToken: ready.leaseToken! });
}

describe('migration with file layouts', () => {
  it('a split hands the moved files their layouts and POSIX attributes; the source forgets them without making garbage', () => {
    const src = new MinistryNamespace('/');
    change(src, { op: 'mkdir', path: '/a/b', parents: true });
    withContents(src, '/a/b/f', 3000);
    change(src, { op: 'chmod', path: '/a/b/f', mode: 0o640 });
    change(src, { op: 'chown', path: '/a/b/f', uid: 1000, gid: 100 });
    change(src, { op: 'symlink', path: '/a/b/l', target: 'f' });
    withContents(src, '/a/stay', 1500);
    const before = src.layoutOf('/a/b/f');
    const stat = src.read({ op: 'stat', path: '/a/b/f' }, emptyCluster());
    const target = new MinistryNamespace('/a/b');
    expect(move(src, target, 'g1', '/a/b')).toEqual({ ok: true, value: null });
    const moved = target.layoutOf('/a/b/f');
    expect(moved.chunks).toEqual(before.chunks);
    expect(moved.size).toBe(3000);
    const st = target.read({ op: 'stat', path: '/a/b/f' }, emptyCluster());
    expect(st).toMatchObject({ ok: true, value: { stat: { mode: 0o100640, uid: 1000, gid: 100, size: 3000 } } });
    expect((st as { value: { stat: { mtimeNsec: number } } }).value.stat.mtimeNsec).toBe((stat as { value: { stat: { mtimeNsec: number } } }).value.stat.mtimeNsec);
    expect(target.read({ op: 'readlink', path: '/a/b/l' }, emptyCluster())).toMatchObject({ ok: true, value: { readlink: { target: 'f' } } });
    // The source drops the subtree (the map moved): its layouts go, as no garbage.
    migration(src, { op: 'migration.drop', id: 'g1', subtree: '/a/b' });
    const chunkIds = [...src.layouts.allChunks()].map((c) => c.chunk.chunkId);
    expect(chunkIds.some((id) => before.chunks.some((c) => c.chunkId === id))).toBe(false);
    expect(src.layouts.garbage).toEqual([]);
    expect(src.layoutOf('/a/stay').chunks).toHaveLength(2);
    // Both survive a snapshot (marks and layouts together).
    const copy = new MinistryNamespace('/a/b');
    copy.restore(target.snapshot());
    expect(copy.layoutOf('/a/b/f')).toEqual(moved);
    expect(copy.migrations.get('g1')?.state).toBe('installed');
  });

  it('a merge renumbers the handed files: each layout follows its file, none lands on a file of the parent with the same old number', () => {
    const parent = new MinistryNamespace('/');
    for (let i = 0; i < 5; i++) withContents(parent, `/p${i}`, 1024);
    change(parent, { op: 'mkdir', path: '/q' });
    const child = new MinistryNamespace('/q');
    withContents(child, '/q/f', 2048);
    const childIno = child.layoutOf('/q/f').ino;
    // A file of the parent has the child's file's number (the collision a missing remap makes).
    const same = [0, 1, 2, 3, 4].map((i) => `/p${i}`).find((p) => parent.layoutOf(p).ino === childIno)!;
    expect(same).toBeDefined();
    const kept = parent.layoutOf(same);
    const handed = child.layoutOf('/q/f');
    expect(move(child, parent, 'g2', '/q')).toEqual({ ok: true, value: null });
    const merged = parent.layoutOf('/q/f');
    expect(merged.ino).not.toBe(childIno);
    expect(merged.chunks).toEqual(handed.chunks);
    expect(parent.layoutOf(same)).toEqual(kept);
  });

  it('a target that drops what it installed (an abort) forgets the layouts as no garbage; the source keeps them', () => {
    const src = new MinistryNamespace('/');
    change(src, { op: 'mkdir', path: '/d' });
    withContents(src, '/d/f', 1000);
    const target = new MinistryNamespace('/d');
    move(src, target, 'g3', '/d');
    migration(target, { op: 'migration.drop', id: 'g3', subtree: '/d' });
    migration(src, { op: 'migration.unfence', id: 'g3' });
    expect(target.layouts.garbage).toEqual([]);
    expect(src.layoutOf('/d/f').chunks).toHaveLength(1);
  });

  it('refuses to move a subtree holding a hard link to a file linked outside it', () => {
    const src = new MinistryNamespace('/');
    change(src, { op: 'mkdir', path: '/d' });
    withContents(src, '/f', 100);
    change(src, { op: 'link', from: '/f', to: '/d/f' });
    migration(src, { op: 'migration.fence', id: 'g4', subtree: '/d' });
    expect(src.handover('g4', 10, 0)).toMatchObject({ state: 'failed', reason: expect.stringMatching(/hard link/) });
  });
});

describe('ministry snapshot formats', () => {
  function state(): MinistryNamespace {
    const ns = new MinistryNamespace('/');
    change(ns, { op: 'mkdir', path: '/m' });
    withContents(ns, '/file', 2000);
    migration(ns, { op: 'migration.fence', id: 'g9', subtree: '/m' }, 3);
    return ns;
  }

  it('reads the layouts-and-marks format, the marks format (before layouts), the layouts format and the plain one', () => {
    const ns = state();
    const p = splitMinistrySnapshot(ns.snapshot());
    expect(p.marks).not.toBeNull();
    expect(p.layouts).not.toBeNull();
    const marksBefore = new Uint8Array([...u32(0xffffffff), ...u32(p.marks!.length), ...p.marks!, ...u32(p.ns.length), ...p.ns, ...p.leases]);
    const layoutsOnly = joinMinistrySnapshot({ ...p, marks: null });
    const plain = new Uint8Array([...u32(p.ns.length), ...p.ns, ...p.leases]);
    for (const [bytes, marks, layouts] of [[ns.snapshot(), true, true], [marksBefore, true, false], [layoutsOnly, false, true], [plain, false, false]] as const) {
      const back = new MinistryNamespace('/');
      back.restore(bytes, 7);
      expect(back.fileCheck('/file')).toBeNull();
      expect(back.migrations.get('g9')?.state).toBe(marks ? 'fenced' : undefined);
      expect(back.layoutOf('/file').chunks).toHaveLength(layouts ? 2 : 0);
    }
    expect(new MigrationMarks().size).toBe(0);
  });
});

function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

function emptyCluster() {
  return { ministries: new Map(), applied: 0 } as unknown as Parameters<MinistryNamespace['read']>[1];
}

describe('layout changes during a migration', () => {
  it('a chunk placement for a file of a fenced subtree is refused at apply time (EAGAIN); others apply', () => {
    const src = new MinistryNamespace('/');
    change(src, { op: 'mkdir', path: '/d' });
    change(src, { op: 'create', path: '/d/f' });
    change(src, { op: 'create', path: '/g' });
    const inD = src.layoutChange({ op: 'layout-place', path: '/d/f', offset: 0, length: 10 }, policy, 'x1');
    const outside = src.layoutChange({ op: 'layout-place', path: '/g', offset: 0, length: 10 }, policy, 'x2');
    migration(src, { op: 'migration.fence', id: 'g5', subtree: '/d' });
    expect(apply(src, MinistryNamespace.encodeLayout(inD as Parameters<typeof MinistryNamespace.encodeLayout>[0]))).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(apply(src, MinistryNamespace.encodeLayout(outside as Parameters<typeof MinistryNamespace.encodeLayout>[0]))).toMatchObject({ ok: true });
    expect(src.layoutOf('/d/f').chunks).toEqual([]);
    migration(src, { op: 'migration.unfence', id: 'g5' });
    expect(apply(src, MinistryNamespace.encodeLayout(inD as Parameters<typeof MinistryNamespace.encodeLayout>[0]))).toMatchObject({ ok: true });
  });
});
