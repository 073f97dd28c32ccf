import { describe, expect, it } from 'vitest';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import { encodeMinistryEntry } from '../../src/actors/ministry-entry.js';
import type { CrossRenameDecision, OutOutcome, Vote } from '../../src/actors/rename-ledger.js';
import type { MovedNode } from '../../src/fs/namespace.js';
import { MINISTRY_SNAPSHOT_TASK } from '../../src/actors/ministry-snapshot-task.js';
import { inlinePool } from '../../src/runtime/work-pool.js';

// The replicated half of a rename across ministries (src/actors/rename-ledger.ts), applied as
// log entries through MinistryNamespace.applyEntry, rule by rule: phase one at the source
// (exactly once per client request, checks, lock) and at the target (checks in rename's order,
// reservation, idempotent vote), phase two at both, what a lock holds back, and snapshots.

let index = 0;
const apply = (ns: MinistryNamespace, e: Parameters<typeof encodeMinistryEntry>[0]) => ns.applyEntry(encodeMinistryEntry(e), ++index, 1_000);
const change = (ns: MinistryNamespace, clientId: string, seq: number, body: Record<string, unknown>) =>
  ns.applyEntry(MinistryNamespace.encodeEntry({ clientId, seq, acked: 0, op: body as never, now: 1_000 }), ++index, 1_000);
const out = (ns: MinistryNamespace, seq: number, from: string, to: string, clientId = 'c1'): OutOutcome =>
  (apply(ns, { op: 'xrename.out', clientId, seq, acked: 0, now: 1_000, from, to, target: 'mT', txid: '' }) as { value: OutOutcome }).value;
const inn = (ns: MinistryNamespace, txid: string, from: string, to: string, tree: MovedNode[]): Vote =>
  (apply(ns, { op: 'xrename.in', txid, source: 'mS', from, to, tree, now: 2_000, index: 0, replaced: false }) as { value: Vote }).value;
const decision = (txid: string, commit: boolean, more: Partial<CrossRenameDecision> = {}): CrossRenameDecision => ({
  txid, commit, retry: false, code: '', message: '', source: 'mS', target: 'mT', targetIndex: 7, replaced: false, ...more,
});
const end = (ns: MinistryNamespace, d: CrossRenameDecision) => apply(ns, { op: 'xrename.end', decision: d, now: 3_000 });

function source(): MinistryNamespace {
  const ns = new MinistryNamespace('/a');
  ns.renames.owner = 'mS';
  change(ns, 'setup', 1, { op: 'mkdir', path: '/a/d' });
  change(ns, 'setup', 2, { op: 'create', path: '/a/d/f' });
  change(ns, 'setup', 3, { op: 'create', path: '/a/g' });
  return ns;
}

function target(): MinistryNamespace {
  const ns = new MinistryNamespace('/');
  ns.renames.owner = 'mT';
  change(ns, 'setup', 1, { op: 'mkdir', path: '/t' });
  change(ns, 'setup', 2, { op: 'create', path: '/t/file' });
  return ns;
}

describe('rename ledger: the source', () => {
  it('locks `from` once per client request; the commit detaches it and saves the answer a retry gets', () => {
    const ns = source();
    const r = out(ns, 5, '/a/d', '/t/d');
    expect(r).toEqual({ kind: 'pending', txid: expect.stringMatching(/^mS@\d+$/) });
    const txid = (r as { txid: string }).txid;
    // The same request again (a retry) joins the open transaction.
    expect(out(ns, 5, '/a/d', '/t/d')).toEqual({ kind: 'pending', txid });
    end(ns, decision(txid, true, { targetIndex: 9 }));
    expect(ns.renames.empty).toBe(true);
    expect(() => ns.namespace.stat('/a/d')).toThrow(/ENOENT|no such/i);
    const saved = ns.completed('c1', 5);
    expect(saved).toEqual({ ok: true, value: { result: 'rename', rename: { version: expect.any(Number), replaced: false, targetMinistry: 'mT', targetIndex: 9 } } });
    // A retry after the end gets the saved answer, not ENOENT.
    expect(out(ns, 5, '/a/d', '/t/d')).toMatchObject({ kind: 'final', result: { ok: true, op: 'rename' } });
    // An end applied twice changes nothing more.
    end(ns, decision(txid, true));
    expect(ns.duplicateApplies).toBe(0);
  });

  it("answers the source's errors at once and saves them: ENOENT, EBUSY for its root", () => {
    const ns = source();
    expect(out(ns, 5, '/a/nope', '/t/x')).toMatchObject({ kind: 'final', result: { ok: false, error: { code: 'ENOENT' } } });
    expect(out(ns, 6, '/a', '/t/x')).toMatchObject({ kind: 'final', result: { ok: false, error: { code: 'EBUSY' } } });
    expect(ns.completed('c1', 5)).toMatchObject({ ok: false, error: { code: 'ENOENT' } });
    expect(ns.renames.empty).toBe(true);
  });

  it('an abort for good saves the target error; an abort for now saves nothing (the retry is a new transaction)', () => {
    const ns = source();
    const t1 = (out(ns, 5, '/a/g', '/t/x/y') as { txid: string }).txid;
    end(ns, decision(t1, false, { code: 'ENOENT', message: 'rename /a/g -> /t/x/y: no such directory' }));
    expect(ns.completed('c1', 5)).toMatchObject({ ok: false, error: { code: 'ENOENT' } });
    const t2 = (out(ns, 6, '/a/g', '/t/y') as { txid: string }).txid;
    end(ns, decision(t2, false, { retry: true, code: 'EAGAIN', message: 'busy' }));
    expect(ns.completed('c1', 6)).toBeUndefined();
    expect(ns.namespace.stat('/a/g').kind).toBe('file');
    const t3 = (out(ns, 6, '/a/g', '/t/y') as { txid: string }).txid;
    expect(t3).not.toBe(t2);
  });

  it('holds back changes and reads of the locked name, below it and above it (EAGAIN, not saved); others pass', () => {
    const ns = source();
    const txid = (out(ns, 5, '/a/d', '/t/d') as { txid: string }).txid;
    for (const body of [{ op: 'create', path: '/a/d/new' }, { op: 'rm', path: '/a/d/f' }, { op: 'rmdir', path: '/a/d', recursive: true }, { op: 'rename', from: '/a/g', to: '/a/d/g' }]) {
      const r = change(ns, 'c2', 10, body);
      expect(r, JSON.stringify(body)).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
      expect(ns.completed('c2', 10)).toBeUndefined();
    }
    expect(change(ns, 'c2', 11, { op: 'create', path: '/a/other' }).ok).toBe(true);
    expect(ns.read({ op: 'stat', path: '/a/d/f' }, emptyCluster)).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(ns.read({ op: 'ls', path: '/a' }, emptyCluster)).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(ns.read({ op: 'stat', path: '/a/g' }, emptyCluster)).toMatchObject({ ok: true });
    end(ns, decision(txid, false, { retry: true }));
    expect(change(ns, 'c2', 10, { op: 'create', path: '/a/d/new' }).ok).toBe(true);
  });
});

const emptyCluster = { ministries: new Map(), applied: 0 } as never;
const file: MovedNode[] = [{ path: '', kind: 'file', ino: 10, size: 12, btime: 1, atimeNs: 1_000_000n, mtimeNs: 2_000_000n, ctimeNs: 3_000_000n, mode: 0o644, uid: 0, gid: 0, target: '' }];
const dir: MovedNode[] = [
  { path: '', kind: 'dir', ino: 11, size: 0, btime: 1, atimeNs: 1_000_000n, mtimeNs: 2_000_000n, ctimeNs: 3_000_000n, mode: 0o755, uid: 0, gid: 0, target: '' },
  { path: 'f', kind: 'file', ino: 12, size: 5, btime: 1, atimeNs: 1_000_000n, mtimeNs: 2_000_000n, ctimeNs: 3_000_000n, mode: 0o644, uid: 0, gid: 0, target: '' },
  { path: 'sub', kind: 'dir', ino: 13, size: 0, btime: 1, atimeNs: 1_000_000n, mtimeNs: 2_000_000n, ctimeNs: 3_000_000n, mode: 0o755, uid: 0, gid: 0, target: '' },
  { path: 'sub/g', kind: 'file', ino: 14, size: 7, btime: 1, atimeNs: 1_000_000n, mtimeNs: 2_000_000n, ctimeNs: 3_000_000n, mode: 0o644, uid: 0, gid: 0, target: '' },
];

describe('rename ledger: the target', () => {
  it("votes with rename's checks in rename's order, and reserves only on a yes", () => {
    const ns = target();
    expect(inn(ns, 'mS@1', '/a/x', '/', file)).toMatchObject({ ok: false, retry: false, code: 'EBUSY' });
    expect(inn(ns, 'mS@2', '/a/x', '/nodir/x', file)).toMatchObject({ ok: false, retry: false, code: 'ENOENT' });
    expect(inn(ns, 'mS@3', '/a/x', '/t/file/x', file)).toMatchObject({ ok: false, retry: false, code: 'ENOTDIR' });
    expect(inn(ns, 'mS@4', '/a/x', '/t', file)).toMatchObject({ ok: false, retry: false, code: 'EISDIR' });
    expect(inn(ns, 'mS@5', '/a/x', '/t/file', dir)).toMatchObject({ ok: false, retry: false, code: 'ENOTDIR' });
    expect(inn(ns, 'mS@6', '/a/x', '/', dir)).toMatchObject({ ok: false, code: 'EBUSY' });
    expect(ns.renames.empty).toBe(true);
    const yes = inn(ns, 'mS@7', '/a/x', '/t/file', file);
    expect(yes).toMatchObject({ ok: true, replaced: true });
    // Idempotent: the same vote, with the first entry's index.
    expect(inn(ns, 'mS@7', '/a/x', '/t/file', file)).toEqual(yes);
    // Another transaction on the reserved name: no for now.
    expect(inn(ns, 'mS@8', '/a/y', '/t/file', file)).toMatchObject({ ok: false, retry: true, code: 'EAGAIN' });
    expect(change(ns, 'c3', 1, { op: 'rm', path: '/t/file' })).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(ns.read({ op: 'ls', path: '/t' }, emptyCluster)).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
  });

  it('the commit grafts the whole tree (new inode numbers); a prepare after the end is refused, never reserved again', () => {
    const ns = target();
    expect(inn(ns, 'mS@9', '/a/d', '/t/d', dir)).toMatchObject({ ok: true, replaced: false });
    end(ns, decision('mS@9', true));
    expect(ns.renames.empty).toBe(true);
    expect(ns.namespace.ls('/t/d').map((e) => e.name)).toEqual(['f', 'sub']);
    expect(ns.namespace.stat('/t/d/sub/g')).toMatchObject({ kind: 'file', size: 7, btime: 1, mtime: 2 });
    expect(ns.namespace.stat('/t/d').ctime).toBe(3_000);
    expect(inn(ns, 'mS@9', '/a/d', '/t/d', dir)).toMatchObject({ ok: false, retry: true });
    expect(ns.renames.empty).toBe(true);
    // Remembered for ENDED_TTL_MS: the client-expiry entry forgets it afterwards.
    ns.applyEntry(MinistryNamespace.encodeExpiry(3_000 + 10 * 60_000, 10 * 60_000), ++index, 0);
    expect(ns.renames.ended.size).toBe(0);
  });

  it('an abort releases the reservation and changes nothing', () => {
    const ns = target();
    inn(ns, 'mS@10', '/a/d', '/t/d', dir);
    end(ns, decision('mS@10', false, { retry: true }));
    expect(ns.renames.empty).toBe(true);
    expect(ns.namespace.exists('/t/d')).toBe(false);
    expect(change(ns, 'c3', 1, { op: 'create', path: '/t/d' }).ok).toBe(true);
  });

  it('open transactions survive a snapshot and restore (a new minister resumes from them)', () => {
    const s = source();
    const txid = (out(s, 5, '/a/d', '/t/d') as { txid: string }).txid;
    const t = target();
    inn(t, txid, '/a/d', '/t/d', dir);
    const s2 = new MinistryNamespace('/a');
    s2.renames.owner = 'mS';
    s2.restore(s.snapshot());
    const t2 = new MinistryNamespace('/');
    t2.restore(t.snapshot());
    expect([...s2.renames.outs.keys()]).toEqual([txid]);
    expect([...t2.renames.ins.keys()]).toEqual([txid]);
    end(s2, decision(txid, true));
    end(t2, decision(txid, true));
    expect(s2.completed('c1', 5)).toMatchObject({ ok: true });
    expect(t2.namespace.ls('/t/d').map((e) => e.name)).toEqual(['f', 'sub']);
    // With nothing open, the snapshot keeps its old form (no ledger).
    expect(new DataView(s2.snapshot().buffer).getUint32(0)).not.toBe(0xffffffff);
  });
});

describe('rename ledger: snapshots built off the thread', () => {
  it("the pool task's snapshot (the entries replayed) is the live one, an open rename's id (its ministry's) included", async () => {
    const live = new MinistryNamespace('/a');
    live.renames.owner = 'mS';
    const entries = [
      MinistryNamespace.encodeEntry({ clientId: 'setup', seq: 1, acked: 0, op: { op: 'create', path: '/a/g' } as never, now: 1_000 }),
      encodeMinistryEntry({ op: 'xrename.out', clientId: 'c1', seq: 1, acked: 0, now: 1_000, from: '/a/g', to: '/t/g', target: 'mT', txid: '', as: { uid: 0, gid: 0, groups: [] } }),
    ];
    const parts: Uint8Array[] = [];
    entries.forEach((data, i) => {
      live.applyEntry(data, i + 1, 1_000);
      const head = new DataView(new ArrayBuffer(20));
      head.setUint32(0, data.length, true);
      head.setFloat64(4, i + 1, true);
      head.setFloat64(12, 1_000, true);
      parts.push(new Uint8Array(head.buffer), data);
    });
    expect([...live.renames.outs.keys()]).toEqual(['mS@2']);
    const chunk = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (chunk.set(p, at), at + p.length), 0);
    const built = await inlinePool.run(MINISTRY_SNAPSHOT_TASK, { context: { subtree: '/a', ministry: 'mS' }, base: new Uint8Array(0), baseIndex: 0, chunks: [chunk] });
    expect(Buffer.from(built).equals(Buffer.from(live.snapshot()))).toBe(true);
  });
});
