import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/actors/cluster-state.js';
import { isWithin } from '../../src/fs/path.js';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';

// A clerk keeps listings as reply results (MinistryNamespace.read): the same `ls` again is answered
// from the cache, and any change to the directory, or to the mounts in it, is seen at once.

describe('cached listings', () => {
  const change = (ns: MinistryNamespace, seq: number, op: Parameters<typeof MinistryNamespace.encodeEntry>[0]['op']) => {
    const r = ns.applyEntry(MinistryNamespace.encodeEntry({ clientId: 'c', seq, acked: seq - 1, op, now: seq }), seq, seq);
    expect(r.ok).toBe(true);
  };
  /** The listing's entries, as the reply's typed result carries them. */
  const ls = (ns: MinistryNamespace, cluster: ClusterState, path: string) => {
    const r = ns.read({ op: 'ls', path }, cluster);
    if (!r.ok) throw new Error(r.error.code);
    if (r.value?.result !== 'ls') throw new Error(`not a listing: ${JSON.stringify(r.value)}`);
    // Shared by every reply from the cache: nobody may change it.
    expect(Object.isFrozen(r.value.ls.entries) && r.value.ls.entries.every((e) => Object.isFrozen(e))).toBe(true);
    return { value: r.value.ls.entries };
  };

  it('answers from the cache while nothing changed, and never serves a stale listing', () => {
    const ns = new MinistryNamespace('/');
    const cluster = new ClusterState(['n1', 'n2', 'n3', 'n4']);
    cluster.apply({ order: 'appoint', subtree: '/', minister: 'n1', clerks: ['n2'], clerksWanted: 1 }, 1);
    change(ns, 1, { op: 'mkdir', path: '/d' });
    change(ns, 2, { op: 'create', path: '/d/a' });
    const first = ls(ns, cluster, '/d');
    expect(first.value).toEqual([{ name: 'a', kind: 'file' }]);
    expect(ls(ns, cluster, '/d').value).toBe(first.value); // from the cache

    change(ns, 3, { op: 'create', path: '/d/b' });
    expect(ls(ns, cluster, '/d').value).toEqual([{ name: 'a', kind: 'file' }, { name: 'b', kind: 'file' }]);
    change(ns, 4, { op: 'rename', from: '/d/a', to: '/d/c' });
    expect(ls(ns, cluster, '/d').value).toEqual([{ name: 'b', kind: 'file' }, { name: 'c', kind: 'file' }]);
    change(ns, 5, { op: 'rm', path: '/d/b' });
    expect(ls(ns, cluster, '/d').value).toEqual([{ name: 'c', kind: 'file' }]);

    // A directory removed and made again under the same path is a new listing.
    change(ns, 6, { op: 'rmdir', path: '/d', recursive: true });
    expect(ns.read({ op: 'ls', path: '/d' }, cluster)).toMatchObject({ ok: false, error: { code: 'ENOENT' } });
    change(ns, 7, { op: 'mkdir', path: '/d' });
    expect(ls(ns, cluster, '/d').value).toEqual([]);

    // A ministry formed at /d/m shows in the listing once the cluster log says so.
    const before = ls(ns, cluster, '/d');
    cluster.apply({ order: 'appoint', subtree: '/d/m', minister: 'n3', clerks: ['n4'], clerksWanted: 1 }, 2);
    expect(ls(ns, cluster, '/d').value).toEqual([{ name: 'm', kind: 'dir' }]);
    expect(before.value).toEqual([]);

    // ENOTDIR for a file, as before.
    change(ns, 8, { op: 'create', path: '/f' });
    expect(ns.read({ op: 'ls', path: '/f' }, cluster)).toMatchObject({ ok: false, error: { code: 'ENOTDIR' } });
  });

  it('starts afresh from a snapshot', () => {
    const ns = new MinistryNamespace('/');
    const cluster = new ClusterState(['n1', 'n2']);
    change(ns, 1, { op: 'create', path: '/a' });
    const snap = ns.snapshot();
    change(ns, 2, { op: 'create', path: '/b' });
    expect(ls(ns, cluster, '/').value).toEqual([{ name: 'a', kind: 'file' }, { name: 'b', kind: 'file' }]);
    ns.restore(snap);
    expect(ls(ns, cluster, '/').value).toEqual([{ name: 'a', kind: 'file' }]);
  });
});

describe('isWithin (routing)', () => {
  it('is the subtree itself or below it, never a sibling that shares the prefix', () => {
    const cases: [string, string, boolean][] = [
      ['/a', '/a', true],
      ['/a/b', '/a', true],
      ['/a/b/c', '/a/b', true],
      ['/ab', '/a', false],
      ['/a', '/a/b', false],
      ['/', '/', true],
      ['/a', '/', true],
      ['/', '/a', false],
      ['/a-b/c', '/a', false],
    ];
    for (const [path, root, want] of cases) expect(isWithin(path, root), `${path} within ${root}`).toBe(want);
  });
});
