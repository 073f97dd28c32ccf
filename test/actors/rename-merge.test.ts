import { describe, expect, it } from 'vitest';
import type { PlacementPolicy } from '../../src/actors/layouts.js';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import { encodeMinistryEntry } from '../../src/actors/ministry-entry.js';
import { splitMinistrySnapshot } from '../../src/actors/ministry-snapshot-format.js';
import type { CrossRenameDecision, OutOutcome, Vote } from '../../src/actors/rename-ledger.js';
import type { ClientOp } from '../../src/fs/requests.js';

// Renames across ministries (rename-ledger.ts) beside the data plane (layouts.ts) and live
// migration (ministry-migrations.ts): a file with contents moves with its layout (re-keyed to the
// target's inode numbers; rename-layouts.ts) and no writer goes on meanwhile, a fence and an open rename of the same subtree never both proceed, and the
// ministry snapshot holds the ledger with layouts and marks, reading the rename branch's format.

const policy: PlacementPolicy = { nodes: ['n1', 'n2', 'n3'], replicas: 2, chunkBytes: 1024 };
let index = 0;
let seq = 0;
const apply = (ns: MinistryNamespace, bytes: Uint8Array, now = 1_000) => ns.applyEntry(bytes, ++index, now);
const change = (ns: MinistryNamespace, op: ClientOp) => expect(apply(ns, MinistryNamespace.encodeEntry({ clientId: 'setup', seq: ++seq, acked: 0, op, now: 1_000 }))).toMatchObject({ ok: true });
const out = (ns: MinistryNamespace, s: number, from: string, to: string): OutOutcome =>
  (apply(ns, encodeMinistryEntry({ op: 'xrename.out', clientId: 'c1', seq: s, acked: 0, now: 1_000, from, to, target: 'mT', txid: '' })) as { value: OutOutcome }).value;
const inn = (ns: MinistryNamespace, txid: string, from: string, to: string): Vote => {
  const tree = [{ path: '', kind: 'dir' as const, ino: 9, size: 0, btime: 1, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, mode: 0o755, uid: 0, gid: 0, target: '' }];
  return (apply(ns, encodeMinistryEntry({ op: 'xrename.in', txid, source: 'mS', from, to, tree, now: 2_000, index: 0, replaced: false })) as { value: Vote }).value;
};
const fence = (ns: MinistryNamespace, id: string, subtree: string) => apply(ns, MinistryNamespace.encodeMigration({ op: 'migration.fence', id, subtree }));
const decision = (txid: string, commit: boolean): CrossRenameDecision => ({ txid, commit, retry: false, code: '', message: '', source: 'mS', target: 'mT', targetIndex: 7, replaced: false });

function withContents(ns: MinistryNamespace, path: string, bytes: number): void {
  change(ns, { op: 'create', path });
  const e = ns.layoutChange({ op: 'layout-place', path, offset: 0, length: bytes }, policy, `s${seq}`);
  expect(apply(ns, MinistryNamespace.encodeLayout(e as Parameters<typeof MinistryNamespace.encodeLayout>[0])).ok).toBe(true);
  change(ns, { op: 'file-resize', path, size: bytes, extend: true, token: 0 });
}

function source(): MinistryNamespace {
  const ns = new MinistryNamespace('/a');
  ns.renames.owner = 'mS';
  change(ns, { op: 'mkdir', path: '/a/d' });
  change(ns, { op: 'create', path: '/a/d/empty' });
  return ns;
}

describe('renames across ministries with file contents', () => {
  const grant = (ns: MinistryNamespace, id: string, path: string) => apply(ns, MinistryNamespace.encodeLease({ op: 'lease.grant', id, clientId: 'w', path, start: 0, end: null, ttlMs: 5_000 }));
  /** The target's phase-one entry as the source's Begin builds it (rename-core.ts). */
  const inEntry = (src: MinistryNamespace, txid: string, from: string, to: string) =>
    encodeMinistryEntry({ op: 'xrename.in', txid, source: 'mS', from, to, tree: src.namespace.exportTree(from), now: 2_000, index: 0, replaced: false, ...src.renameCarried(from) });
  function target(): MinistryNamespace {
    const t = new MinistryNamespace('/t');
    t.renames.owner = 'mT';
    // Files of its own, so that the moved files get numbers the source's layouts do not use.
    for (const f of ['/t/a', '/t/c', '/t/e']) change(t, { op: 'create', path: f });
    withContents(t, '/t/b', 1500);
    return t;
  }

  it('carries the layouts of a file and of a tree holding files, re-keyed to the new inode numbers; the source forgets them (no garbage)', () => {
    for (const [from, to, files] of [
      ['/a/d/full', '/t/x', [['/a/d/full', '/t/x']]],
      ['/a/d', '/t/d', [['/a/d/full', '/t/d/full'], ['/a/d/sub/more', '/t/d/sub/more']]],
    ] as const) {
      const src = source();
      withContents(src, '/a/d/full', 3000);
      change(src, { op: 'mkdir', path: '/a/d/sub' });
      withContents(src, '/a/d/sub/more', 1024);
      for (let i = 0; i < 5; i++) grant(src, `old${i}`, '/a/d/full');
      apply(src, MinistryNamespace.encodeLease({ op: 'lease.release', id: 'old4' }));
      const before = new Map(files.map(([f]) => [f, src.layoutOf(f)]));
      const t = target();
      const txid = (out(src, 1, from, to) as { txid: string }).txid;
      expect(apply(t, inEntry(src, txid, from, to))).toMatchObject({ ok: true, value: { ok: true } });
      for (const ns of [src, t]) apply(ns, encodeMinistryEntry({ op: 'xrename.end', decision: { ...decision(txid, true), targetIndex: index }, now: 3_000 }));
      for (const [f, g] of files) {
        const was = before.get(f)!;
        const now = t.layoutOf(g);
        expect(now.ino).not.toBe(was.ino);
        expect(now.size).toBe(was.size);
        expect(now.chunkSize).toBe(was.chunkSize);
        expect(now.chunks).toEqual(was.chunks);
      }
      // The target's own file kept its layout; its lease tokens go on above the source's.
      expect(t.layoutOf('/t/b').chunks.length).toBe(2);
      expect(t.leases.token).toBeGreaterThanOrEqual(src.leases.token);
      for (const was of before.values()) expect(src.layouts.layout(was.ino, 0, 0).chunks).toEqual([]);
      // The moved files' write leases are gone: a late renewal finds none.
      expect(apply(src, MinistryNamespace.encodeLease({ op: 'lease.renew', id: 'old0', ttlMs: 5_000 }))).toMatchObject({ ok: false, error: { code: 'ESTALE' } });
      expect(src.layouts.summary(1).chunks).toBe(from === '/a/d' ? 0 : 1);
      expect(src.layouts.garbage).toEqual([]);
      expect(t.layouts.garbage).toEqual([]);
    }
  });

  it('an abort keeps the layouts at the source; the target adopts nothing', () => {
    const src = source();
    withContents(src, '/a/d/full', 3000);
    const was = src.layoutOf('/a/d/full');
    const t = target();
    const txid = (out(src, 1, '/a/d', '/t/d') as { txid: string }).txid;
    apply(t, inEntry(src, txid, '/a/d', '/t/d'));
    for (const ns of [src, t]) apply(ns, encodeMinistryEntry({ op: 'xrename.end', decision: { ...decision(txid, false), retry: true, code: 'EAGAIN' }, now: 3_000 }));
    expect(src.layoutOf('/a/d/full')).toEqual(was);
    expect(t.layouts.summary(1).chunks).toBe(2);
    expect(src.layouts.garbage).toEqual([]);
  });

  it('while locked, no writer goes on: grants, renewals, opens, placements and replacements of its files are refused EAGAIN; Begin waits out the leases', () => {
    const src = source();
    withContents(src, '/a/d/full', 3000);
    change(src, { op: 'create', path: '/a/other' });
    grant(src, 'w1', '/a/d/full');
    const ino = src.layoutOf('/a/d/full').ino;
    const txid = (out(src, 1, '/a/d', '/t/d') as { txid: string }).txid;
    expect(grant(src, 'w2', '/a/d/full')).toMatchObject({ ok: false, error: { code: 'EAGAIN', message: expect.stringMatching(/renamed across ministries/) } });
    expect(apply(src, MinistryNamespace.encodeLease({ op: 'lease.renew', id: 'w1', ttlMs: 5_000 }))).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(src.fileCheck('/a/d/full', undefined, 'write')).toMatchObject({ code: 'EAGAIN', message: expect.stringMatching(/^open \/a\/d\/full: /) });
    const place = encodeMinistryEntry({ op: 'layout.place', ino, chunkSize: 1024, chunks: [{ index: 7, chunkId: 'late-7', version: 1, replicas: ['n1'] }] });
    expect(apply(src, place)).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    const c0 = src.layoutOf('/a/d/full').chunks[0]!;
    const replace = encodeMinistryEntry({ op: 'layout.replace', ino, chunk: { ...c0, chunkId: 'new-0', version: c0.version + 1 }, oldChunkId: c0.chunkId, token: 99 });
    expect(apply(src, replace)).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(src.layoutOf('/a/d/full').chunks.length).toBe(3);
    // Outside the locked name writers go on.
    expect(grant(src, 'w3', '/a/other')).toMatchObject({ ok: true });
    // Begin waits for the write lease granted before the lock (granted at 1000, TTL 5000) and
    // for read leases a clerk may have granted (the lock applied at 1000).
    const tx = src.renames.outs.get(txid)!;
    expect(src.renameExportAt(tx, 200)).toBe(1_000 + 5_000 + 200);
    apply(src, MinistryNamespace.encodeLease({ op: 'lease.release', id: 'w1' }));
    expect(src.renameExportAt(tx, 200)).toBe(1_000 + 200);
    // Without contents nothing waits.
    const bare = source();
    const t2 = (out(bare, 1, '/a/d', '/t/d') as { txid: string }).txid;
    expect(bare.renameExportAt(bare.renames.outs.get(t2)!, 200)).toBe(-Infinity);
  });

  it('a prepare carrying corrupt layouts votes no (EINVAL), nothing reserved', () => {
    const t = target();
    const tree = [{ path: '', kind: 'file' as const, ino: 9, size: 5, btime: 1, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, mode: 0o644, uid: 0, gid: 0, target: '' }];
    const v = apply(t, encodeMinistryEntry({ op: 'xrename.in', txid: 'mS@4', source: 'mS', from: '/a/f', to: '/t/f', tree, now: 2_000, index: 0, replaced: false, layouts: Uint8Array.of(0, 0xff, 0xff), leaseToken: 3 }));
    expect(v).toMatchObject({ ok: true, value: { ok: false, retry: false, code: 'EINVAL', message: expect.stringMatching(/layouts carried are corrupt/) } });
    expect(t.renames.empty).toBe(true);
  });

  it('an abort with an error code the client does not know saves EIO (the saved answer stays readable)', () => {
    const src = source();
    const txid = (out(src, 1, '/a/d/empty', '/t/x') as { txid: string }).txid;
    apply(src, encodeMinistryEntry({ op: 'xrename.end', decision: { ...decision(txid, false), code: 'EFROMTHEFUTURE', message: 'a newer node said so' }, now: 3_000 }));
    expect(src.completed('c1', 1)).toEqual({ ok: false, error: { code: 'EIO', message: 'a newer node said so', path: '/t/x' } });
  });
});

describe('renames across ministries and live migration', () => {
  it('a fence fails while a rename holds a name in or above its subtree; succeeds once the rename ended', () => {
    const ns = source();
    change(ns, { op: 'mkdir', path: '/a/d/sub' });
    const txid = (out(ns, 1, '/a/d', '/t/d') as { txid: string }).txid;
    fence(ns, 'g1', '/a/d/sub');
    expect(ns.handover('g1', 1_000, 0)).toMatchObject({ state: 'failed', reason: expect.stringMatching(/renamed across ministries/) });
    apply(ns, encodeMinistryEntry({ op: 'xrename.end', decision: { ...decision(txid, false), code: 'ENOTEMPTY', message: 'the target is not empty' }, now: 3_000 }));
    change(ns, { op: 'mkdir', path: '/a/e' });
    fence(ns, 'g2', '/a/e');
    expect(ns.handover('g2', 1_000, 0)).toMatchObject({ state: 'ready' });
  });

  it('a prepare in a fenced subtree is refused EAGAIN, at the source (not saved) and at the target (a retry vote)', () => {
    const ns = source();
    fence(ns, 'g1', '/a/d');
    const r = out(ns, 1, '/a/d/empty', '/t/x');
    expect(r).toMatchObject({ kind: 'final', result: { ok: false, error: { code: 'EAGAIN' } } });
    expect(ns.completed('c1', 1)).toBeUndefined();
    // (The whole fenced tree, from above it, too.)
    expect(out(ns, 2, '/a/d', '/t/x')).toMatchObject({ kind: 'final', result: { ok: false, error: { code: 'EAGAIN' } } });
    const v = inn(ns, 'mX@3', '/x/y', '/a/d/new');
    expect(v).toMatchObject({ ok: false, retry: true, code: 'EAGAIN' });
    expect(ns.renames.empty).toBe(true);
  });
});

describe('the ministry snapshot with a rename ledger', () => {
  it('holds the ledger beside layouts and marks; restores all', () => {
    const ns = source();
    withContents(ns, '/a/f', 2000);
    change(ns, { op: 'mkdir', path: '/a/m' });
    fence(ns, 'g1', '/a/m');
    const txid = (out(ns, 1, '/a/d', '/t/d') as { txid: string }).txid;
    const parts = splitMinistrySnapshot(ns.snapshot());
    expect(parts.renames?.length).toBeGreaterThan(0);
    expect(parts.marks).not.toBeNull();
    expect(parts.layouts).not.toBeNull();
    const back = new MinistryNamespace('/a');
    back.renames.owner = 'mS';
    back.restore(ns.snapshot());
    expect([...back.renames.outs.keys()]).toEqual([txid]);
    expect(back.layoutOf('/a/f').chunks.length).toBe(2);
    expect(back.handover('g1', 1_000, 0).state).toBe('ready');
    expect(back.snapshot()).toEqual(ns.snapshot());
  });

  it("reads the rename branch's format ([0xffffffff][n][namespace][r][ledger][leases])", () => {
    const ns = source();
    const txid = (out(ns, 1, '/a/d', '/t/d') as { txid: string }).txid;
    const p = splitMinistrySnapshot(ns.snapshot());
    const old = new Uint8Array(12 + p.ns.length + p.renames!.length + p.leases.length);
    const v = new DataView(old.buffer);
    v.setUint32(0, 0xffffffff);
    v.setUint32(4, p.ns.length);
    old.set(p.ns, 8);
    v.setUint32(8 + p.ns.length, p.renames!.length);
    old.set(p.renames!, 12 + p.ns.length);
    old.set(p.leases, 12 + p.ns.length + p.renames!.length);
    const back = new MinistryNamespace('/a');
    back.restore(old);
    expect([...back.renames.outs.keys()]).toEqual([txid]);
    expect(back.namespace.ls('/a/d').map((e) => e.name)).toEqual(['empty']);
  });
});
