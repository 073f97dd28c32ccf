import { describe, expect, it } from 'vitest';
import type { PlacementPolicy } from '../../src/actors/layouts.js';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import { encodeMinistryEntry } from '../../src/actors/ministry-entry.js';
import { splitMinistrySnapshot } from '../../src/actors/ministry-snapshot-format.js';
import type { CrossRenameDecision, OutOutcome, Vote } from '../../src/actors/rename-ledger.js';
import type { ClientOp } from '../../src/fs/requests.js';

// Renames across ministries (rename-ledger.ts) beside the data plane (layouts.ts) and live
// migration (ministry-migrations.ts): a file with contents is refused (EXDEV: its layout is not
// carried yet), a fence and an open rename of the same subtree never both proceed, and the
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
  change(ns, { op: 'file-resize', path, size: bytes, extend: true });
}

function source(): MinistryNamespace {
  const ns = new MinistryNamespace('/a');
  ns.renames.owner = 'mS';
  change(ns, { op: 'mkdir', path: '/a/d' });
  change(ns, { op: 'create', path: '/a/d/empty' });
  return ns;
}

describe('renames across ministries with file contents', () => {
  it('refuses a file with contents, or a tree holding one, with EXDEV (saved); an empty file still moves', () => {
    const ns = source();
    withContents(ns, '/a/d/full', 3000);
    for (const [s, from] of [[1, '/a/d/full'], [2, '/a/d']] as const) {
      const r = out(ns, s, from, '/t/x');
      expect(r).toMatchObject({ kind: 'final', result: { ok: false, error: { code: 'EXDEV', message: expect.stringMatching(/files with contents cannot be renamed across ministries yet/) } } });
      expect(ns.completed('c1', s)).toMatchObject({ ok: false, error: { code: 'EXDEV' } });
    }
    expect(ns.renames.empty).toBe(true);
    expect(ns.layoutOf('/a/d/full').chunks.length).toBe(3);
    expect(out(ns, 3, '/a/d/empty', '/t/x')).toMatchObject({ kind: 'pending' });
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
