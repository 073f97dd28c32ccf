import { describe, expect, it } from 'vitest';
import { ClusterState, decodeOrder, encodeOrder, type ClusterOrder } from '../../src/actors/cluster-state.js';

// Live subtree migrations in the cluster log's state machine (migration-state.ts).

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'];

function cluster(): ClusterState {
  const s = new ClusterState(NODES);
  let i = 0;
  s.apply({ order: 'appoint', subtree: '/', minister: 'n1', clerks: ['n2', 'n3'], clerksWanted: 2 }, ++i);
  return s;
}

const split: ClusterOrder = { order: 'migrateStart', id: '', subtree: '/a', from: 'm0', to: '', minister: 'n4', clerks: ['n5', 'n6'], clerksWanted: 2, why: 'test' };
const bytes = Uint8Array.of(1, 2, 3);

describe('migration orders', () => {
  it('round-trip through their protobuf form', () => {
    const orders: ClusterOrder[] = [
      split,
      { order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 7 },
      { order: 'mapCommit', id: 'g1' },
      { order: 'migrateAbort', id: 'g1', reason: 'gone' },
    ];
    for (const o of orders) {
      const back = decodeOrder(encodeOrder(o)) as Record<string, unknown>;
      expect({ ...back, ...('namespace' in back && { namespace: [...(back['namespace'] as Uint8Array)] }) }).toEqual({ ...o, ...('namespace' in o && { namespace: [...o.namespace] }) });
    }
  });

  it('a split forms a ministry that serves nothing until the map commits', () => {
    const s = cluster();
    expect(s.apply(split, 2)).toMatchObject({ ok: true, ministry: { id: 'm1', subtree: '/a', minister: 'n4' } });
    const g = s.migrations.get('g1')!;
    expect(g).toMatchObject({ from: 'm0', to: 'm1', phase: 'fencing', split: true, startedAt: 2 });
    expect(s.ministryFor('/a/x')!.id).toBe('m0');
    expect(s.serving().map((m) => m.id)).toEqual(['m0']);
    expect(s.isIncoming('m1')).toBe(true);
    expect(s.roleOf('n4')).toMatchObject({ ministry: { id: 'm1' }, role: 'minister' });
    expect(s.migrationOf('m0')?.id).toBe('g1');
    // Not committed before the handover.
    expect(s.apply({ order: 'mapCommit', id: 'g1' }, 3)).toMatchObject({ ok: false });
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 3 }, 4);
    expect(s.migrations.get('g1')).toMatchObject({ phase: 'handed', leaseToken: 3 });
    expect(s.ministryFor('/a/x')!.id).toBe('m0');
    expect(s.apply({ order: 'mapCommit', id: 'g1' }, 5)).toEqual({ ok: true });
    expect(s.ministryFor('/a/x')!.id).toBe('m1');
    expect(s.ministryFor('/b')!.id).toBe('m0');
    expect(s.migrations.get('g1')).toMatchObject({ phase: 'committed', namespace: null });
    // Repeated orders change nothing.
    expect(s.apply({ order: 'mapCommit', id: 'g1' }, 6)).toEqual({ ok: true });
    expect(s.apply({ order: 'migrateAbort', id: 'g1', reason: 'late' }, 7)).toEqual({ ok: true });
    expect(s.migrations.get('g1')!.phase).toBe('committed');
  });

  it('a merge gives the whole subtree back to the ministry above, which dissolves the child', () => {
    const s = cluster();
    s.apply({ order: 'appoint', subtree: '/a', minister: 'n4', clerks: ['n5'], clerksWanted: 1 }, 2);
    expect(s.apply({ order: 'migrateStart', id: '', subtree: '/a', from: 'm1', to: 'm0', minister: '', clerks: [], clerksWanted: 0, why: 'cold' }, 3)).toMatchObject({ ok: true });
    expect(s.ministryFor('/a/x')!.id).toBe('m1');
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 0 }, 4);
    s.apply({ order: 'mapCommit', id: 'g1' }, 5);
    expect(s.ministries.has('m1')).toBe(false);
    expect(s.ministryFor('/a/x')!.id).toBe('m0');
    expect(s.unassigned()).toEqual(expect.arrayContaining(['n4', 'n5']));
  });

  it('an abort dissolves a split ministry; the subtree never left', () => {
    const s = cluster();
    s.apply(split, 2);
    s.apply({ order: 'migrateAbort', id: 'g1', reason: 'the source did not answer' }, 3);
    expect(s.ministries.has('m1')).toBe(false);
    expect(s.migrations.get('g1')).toMatchObject({ phase: 'aborted', reason: 'the source did not answer' });
    expect(s.migrationOf('m0')).toBeUndefined();
  });

  it('refuses what cannot move: the root, a whole ministry split, overlaps, a merge into the wrong ministry', () => {
    const s = cluster();
    expect(s.apply({ ...split, subtree: '/' } as ClusterOrder, 2)).toMatchObject({ ok: false, reason: expect.stringMatching(/other than \//) });
    expect(s.apply({ ...split, subtree: 'a' } as ClusterOrder, 2)).toMatchObject({ ok: false });
    expect(s.apply({ ...split, from: 'm9' } as ClusterOrder, 2)).toMatchObject({ ok: false, reason: 'no ministry m9' });
    s.apply(split, 3);
    expect(s.apply({ ...split, subtree: '/a/b', minister: 'n7', clerks: [] } as ClusterOrder, 4)).toMatchObject({ ok: false, reason: expect.stringMatching(/already in migration g1/) });
    // Staff already serving elsewhere: refused like an appointment.
    const t = cluster();
    expect(t.apply({ ...split, minister: 'n2' } as ClusterOrder, 2)).toMatchObject({ ok: false, reason: expect.stringMatching(/already serves/) });
    expect(t.migrations.size).toBe(0);
    const a = (t.apply({ order: 'appoint', subtree: '/a', minister: 'n4', clerks: [], clerksWanted: 0 }, 3) as { ministry: { id: string } }).ministry.id;
    const ab = (t.apply({ order: 'appoint', subtree: '/a/b', minister: 'n5', clerks: [], clerksWanted: 0 }, 4) as { ministry: { id: string } }).ministry.id;
    expect(t.apply({ order: 'migrateStart', id: '', subtree: '/a/b', from: ab, to: 'm0', minister: '', clerks: [], clerksWanted: 0, why: '' }, 5)).toMatchObject({ ok: false, reason: `/a/b can only be merged into the ministry above it (${a}), not m0` });
    expect(t.apply({ order: 'migrateStart', id: '', subtree: '/a/b/c', from: ab, to: a, minister: '', clerks: [], clerksWanted: 0, why: '' }, 6)).toMatchObject({ ok: false, reason: expect.stringMatching(/whole subtree/) });
  });

  it('a snapshot keeps the migrations, the handed-over state and which ministry is incoming', () => {
    const s = cluster();
    s.apply(split, 2);
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 9 }, 3);
    const r = ClusterState.restore(s.snapshot());
    expect(r.migrationCounter).toBe(1);
    const g = r.migrations.get('g1')!;
    expect({ ...g, namespace: [...g.namespace!] }).toEqual({ ...s.migrations.get('g1')!, namespace: [1, 2, 3] });
    expect(r.isIncoming('m1')).toBe(true);
    expect(r.ministryFor('/a')!.id).toBe('m0');
  });
});
