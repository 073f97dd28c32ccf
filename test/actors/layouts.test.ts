import { describe, expect, it } from 'vitest';
import { FileLayouts, chooseReplicas, commitReplacement, placement, proposeReplacement, type PlacementPolicy } from '../../src/actors/layouts.js';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import { FsError } from '../../src/fs/errors.js';
import type { ClientOp } from '../../src/fs/requests.js';

// File layouts (issue 17): the minister's placement and replica replacement (pure decisions),
// and how layouts follow the namespace through the ministry log: keyed by inode, so renames keep
// them; truncates and removes make garbage; snapshots keep them.

const policy: PlacementPolicy = { nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], replicas: 3, chunkBytes: 1024 };

describe('placement', () => {
  it('gives each chunk distinct nodes, and spreads chunks over all nodes', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = chooseReplicas(policy, 7, i, 3);
      expect(new Set(r).size).toBe(3);
      r.forEach((n) => seen.add(n));
    }
    expect(seen.size).toBe(5);
  });

  it('places only chunks not yet placed, and applying twice changes nothing', () => {
    const l = new FileLayouts();
    const e = placement(l, 9, 1024, 0, 3, policy, 'm0-1-x')!;
    expect(e.chunks.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(new Set(e.chunks.map((c) => c.chunkId)).size).toBe(3);
    l.applyPlace(e);
    const other = placement(new FileLayouts(), 9, 1024, 1, 1, { ...policy, nodes: ['n9', 'n8', 'n7'] }, 'm0-2-y')!;
    l.applyPlace(other); // a second placement of chunk 1 (two requests raced): the first stays
    expect(l.chunk(9, 1)!.replicas).toEqual(e.chunks[1]!.replicas);
    expect(placement(l, 9, 1024, 0, 3, policy, 'z')).toBeNull();
    expect(placement(l, 9, 1024, 2, 2, policy, 'z')!.chunks.map((c) => c.index)).toEqual([3]);
  });

  it('uses fewer replicas than asked when the cluster has fewer nodes', () => {
    const e = placement(new FileLayouts(), 1, 1024, 0, 1, { ...policy, nodes: ['a', 'b'] }, 's')!;
    expect(e.chunks[0]!.replicas.sort()).toEqual(['a', 'b']);
  });

  it('refuses a bad range with EINVAL', () => {
    expect(() => placement(new FileLayouts(), 1, 1024, -1, 1, policy, 's')).toThrow(FsError);
    expect(() => placement(new FileLayouts(), 1, 1024, 0, 5000, policy, 's')).toThrow(/count/);
  });
});

describe('replacement', () => {
  const placed = (): FileLayouts => {
    const l = new FileLayouts();
    l.applyPlace(placement(l, 4, 1024, 0, 1, policy, 's')!);
    return l;
  };

  it('proposes a new chunk on the other replicas and fresh nodes, at the next version; committed, the old chunk is garbage', () => {
    const l = placed();
    const c = l.chunk(4, 0)!;
    const p = proposeReplacement(l, 4, 0, c.chunkId, 1, [c.replicas[1]!], policy, 't');
    if (p instanceof FsError) throw p;
    expect(p.chunkId).not.toBe(c.chunkId);
    expect(p.version).toBe(2);
    expect(p.replicas).not.toContain(c.replicas[1]);
    expect(p.replicas).toEqual(expect.arrayContaining([c.replicas[0], c.replicas[2]]));
    expect(new Set(p.replicas).size).toBe(3);
    expect(l.chunk(4, 0)).toEqual(c); // a proposal changes nothing
    const e = commitReplacement(l, 4, 0, c.chunkId, 1, p, policy, 5);
    if (e instanceof FsError) throw e;
    expect(l.applyReplace(e)).toBe(true);
    expect(l.chunk(4, 0)).toEqual(p);
    expect(l.garbage).toEqual([c]);
    expect(e.token).toBe(5);
    // The same commit again (a retry) does not apply over the new chunk.
    expect(l.applyReplace(e)).toBe(false);
    expect((commitReplacement(l, 4, 0, c.chunkId, 1, p, policy, 5) as FsError).code).toBe('EAGAIN');
  });

  it('does not apply a swap proposed by a writer after a newer write lease overlapping the chunk was granted', () => {
    const l = placed();
    const c = l.chunk(4, 0)!;
    const p = proposeReplacement(l, 4, 0, c.chunkId, 1, [c.replicas[0]!], policy, 't') as typeof c;
    l.noteWriteGrant(4, 9, 5000, 6000); // elsewhere in the file: no matter
    const e = commitReplacement(l, 4, 0, c.chunkId, 1, p, policy, 5) as Exclude<ReturnType<typeof commitReplacement>, FsError>;
    l.noteWriteGrant(4, 6, 0, Infinity);
    expect(l.applyReplace(e)).toBe(false);
    expect(l.chunk(4, 0)).toEqual(c);
    expect(l.applyReplace({ ...e, token: 6 })).toBe(true);
  });

  it('refuses a malformed proposal, answers EAGAIN when the layout moved on, and carries on with fewer replicas when no node is left', () => {
    const l = placed();
    const c = l.chunk(4, 0)!;
    expect((proposeReplacement(l, 4, 0, c.chunkId, 7, [c.replicas[0]!], policy, 't') as FsError).code).toBe('EAGAIN');
    expect((commitReplacement(l, 4, 0, c.chunkId, 1, { ...c, chunkId: 'x', replicas: ['n1', 'n1'] }, policy, 5) as FsError).code).toBe('EINVAL');
    expect((commitReplacement(l, 4, 0, c.chunkId, 1, { ...c, chunkId: 'x', replicas: ['n1', 'zz'] }, policy, 5) as FsError).code).toBe('EINVAL');
    const small = { ...policy, nodes: c.replicas };
    const p = proposeReplacement(l, 4, 0, c.chunkId, 1, [c.replicas[0]!], small, 't');
    if (p instanceof FsError) throw p;
    expect(p.replicas).toEqual(c.replicas.slice(1));
    expect((proposeReplacement(l, 4, 0, c.chunkId, 1, c.replicas, small, 't') as FsError).code).toBe('EIO');
  });
});

describe('layouts in the ministry log', () => {
  let seq = 0;
  const change = (ns: MinistryNamespace, op: ClientOp) => {
    seq++;
    const r = ns.applyEntry(MinistryNamespace.encodeEntry({ clientId: 'c', seq, acked: seq - 1, op, now: seq }), seq, seq);
    expect(r.ok).toBe(true);
    return r;
  };
  const layoutOp = (ns: MinistryNamespace, op: Parameters<MinistryNamespace['layoutChange']>[0]) => {
    const e = ns.layoutChange(op, policy, `m0-1-${seq}`);
    if (e && 'op' in e) expect(ns.applyEntry(MinistryNamespace.encodeLayout(e), ++seq, seq).ok).toBe(true);
  };

  it('a layout follows its file across a rename, keeps the size a write extends, and survives a snapshot', () => {
    const ns = new MinistryNamespace('/');
    change(ns, { op: 'create', path: '/f' });
    layoutOp(ns, { op: 'layout-place', path: '/f', offset: 0, length: 3000 });
    change(ns, { op: 'file-resize', path: '/f', size: 3000, extend: true, token: 0 });
    change(ns, { op: 'file-resize', path: '/f', size: 100, extend: true, token: 0 }); // never shrinks
    change(ns, { op: 'rename', from: '/f', to: '/g' });
    const l = ns.layoutOf('/g');
    expect(l.size).toBe(3000);
    expect(l.chunkSize).toBe(1024);
    expect(l.chunks.map((c) => c.index)).toEqual([0, 1, 2]);
    const copy = new MinistryNamespace('/');
    copy.restore(ns.snapshot());
    expect(copy.layoutOf('/g')).toEqual(l);
  });

  it('a truncate makes the chunks past the new end garbage; a remove makes all of them garbage', () => {
    const ns = new MinistryNamespace('/');
    change(ns, { op: 'create', path: '/t' });
    layoutOp(ns, { op: 'layout-place', path: '/t', offset: 0, length: 4096 });
    change(ns, { op: 'file-resize', path: '/t', size: 4096, extend: true, token: 0 });
    change(ns, { op: 'file-resize', path: '/t', size: 1500, extend: false, token: 0 });
    expect(ns.layoutOf('/t').chunks.map((c) => c.index)).toEqual([0, 1]);
    expect(ns.layouts.garbage.map((c) => c.index)).toEqual([2, 3]);
    change(ns, { op: 'rm', path: '/t' });
    expect(ns.layouts.garbage.map((c) => c.index).sort()).toEqual([0, 1, 2, 3]);
    expect([...ns.layouts.allChunks()]).toEqual([]);
  });

  it('removing one of two hard links, or renaming over it, keeps the layout the other link reads (git links then unlinks)', () => {
    const ns = new MinistryNamespace('/');
    change(ns, { op: 'create', path: '/tmp' });
    layoutOp(ns, { op: 'layout-place', path: '/tmp', offset: 0, length: 2048 });
    change(ns, { op: 'file-resize', path: '/tmp', size: 2048, extend: true, token: 0 });
    const before = ns.layoutOf('/tmp');
    change(ns, { op: 'link', from: '/tmp', to: '/obj' });
    change(ns, { op: 'rm', path: '/tmp' });
    expect(ns.layoutOf('/obj')).toEqual(before);
    expect(ns.layouts.garbage).toEqual([]);
    change(ns, { op: 'link', from: '/obj', to: '/b' });
    change(ns, { op: 'create', path: '/c' });
    change(ns, { op: 'rename', from: '/c', to: '/b' }); // /b's inode keeps its link /obj
    expect(ns.layoutOf('/obj')).toEqual(before);
    expect(ns.layouts.garbage).toEqual([]);
    change(ns, { op: 'rm', path: '/obj' }); // the last link: now garbage
    expect(ns.layouts.garbage.map((c) => c.index).sort()).toEqual([0, 1]);
  });

  it("refuses a stale writer's resize once a newer writer's lease covers the bytes it changes, on every member, snapshots included", () => {
    const ns = new MinistryNamespace('/');
    change(ns, { op: 'create', path: '/w' });
    const grant = (id: string, clientId: string, start: number, end: number | null): number => {
      const r = ns.applyEntry(MinistryNamespace.encodeLease({ op: 'lease.grant', id, clientId, path: '/w', start, end, ttlMs: 5000, notify: '' }), ++seq, seq);
      if (!r.ok) throw new Error(r.error.message);
      return (r.value as { token: number }).token;
    };
    const resize = (target: MinistryNamespace, size: number, extend: boolean, token: number) => {
      seq++;
      return target.applyEntry(MinistryNamespace.encodeEntry({ clientId: 'w', seq, acked: seq - 1, op: { op: 'file-resize', path: '/w', size, extend, token }, now: seq }), seq, seq);
    };
    const old = grant('a', 'ca', 0, null);
    expect(resize(ns, 4096, true, old).ok).toBe(true);
    const newer = grant('b', 'cb', 1000, 2000);
    expect(newer).toBeGreaterThan(old);
    // The old writer may still change bytes the newer lease does not cover...
    expect(resize(ns, 5000, true, old).ok).toBe(true);
    expect(resize(ns, 0, true, old).ok).toBe(true); // (an mtime alone)
    // ...not cut what the newer writer holds, here or on a member restored from a snapshot.
    const copy = new MinistryNamespace('/');
    copy.restore(ns.snapshot());
    for (const member of [ns, copy]) {
      const r = resize(member, 1500, false, old);
      expect(r.ok ? 'applied' : r.error.code).toBe('ESTALE');
      expect(member.layoutOf('/w').size).toBe(5000);
      expect(resize(member, 1500, false, newer).ok).toBe(true);
      expect(member.layoutOf('/w').size).toBe(1500);
    }
  });

  it('refuses layouts of directories and missing files', () => {
    const ns = new MinistryNamespace('/');
    change(ns, { op: 'mkdir', path: '/d' });
    expect(() => ns.layoutOf('/d')).toThrow(/directory/);
    expect(() => ns.layoutOf('/nope')).toThrow(FsError);
    expect(() => ns.layoutChange({ op: 'layout-place', path: '/d', offset: 0, length: 1 }, policy, 's')).toThrow(/directory/);
  });

  it('reads a snapshot from before layouts (lease state right after the namespace)', () => {
    const ns = new MinistryNamespace('/');
    change(ns, { op: 'create', path: '/old' });
    const snap = ns.snapshot();
    const nsLen = new DataView(snap.buffer, snap.byteOffset).getUint32(0);
    const leasesLen = new DataView(snap.buffer, snap.byteOffset).getUint32(4 + nsLen) & 0x7fffffff;
    const old = new Uint8Array(4 + nsLen + leasesLen);
    old.set(snap.subarray(0, 4 + nsLen));
    old.set(snap.subarray(8 + nsLen, 8 + nsLen + leasesLen), 4 + nsLen);
    const back = new MinistryNamespace('/');
    back.restore(old);
    expect(back.layoutOf('/old').chunks).toEqual([]);
  });
});
