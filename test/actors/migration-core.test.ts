import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/actors/cluster-state.js';
import { MigrationDriver, migrationDuties, migrationGate } from '../../src/actors/migration-core.js';
import { MigrationMarks } from '../../src/actors/ministry-migrations.js';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';

// The decisions of a live subtree migration (migration-core.ts): what each ministry owes it,
// what it must not serve meanwhile, and the president's driver.

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
const bytes = Uint8Array.of(9);

/** Root m0 on n1..n3, a split of /a into m1 (n4) started. */
function splitting(): ClusterState {
  const s = new ClusterState(NODES);
  s.apply({ order: 'appoint', subtree: '/', minister: 'n1', clerks: ['n2', 'n3'], clerksWanted: 2 }, 1);
  s.apply({ order: 'migrateStart', id: '', subtree: '/a', from: 'm0', to: '', minister: 'n4', clerks: [], clerksWanted: 0, why: 't' }, 2);
  return s;
}

const marks = (...m: { id: string; subtree: string; state: 'fenced' | 'dropped' | 'installed' | 'unfenced' | 'failed' }[]): MigrationMarks => {
  const x = new MigrationMarks();
  for (const k of m) x.set({ ...k, since: 0 });
  return x;
};

describe('a ministry’s migration duties', () => {
  it('the source fences, the target installs once handed over; neither twice', () => {
    const s = splitting();
    const m0 = s.ministries.get('m0')!;
    const m1 = s.ministries.get('m1')!;
    expect(migrationDuties(m0, s, marks()).map((d) => d.entry)).toEqual([{ op: 'migration.fence', id: 'g1', subtree: '/a' }]);
    expect(migrationDuties(m0, s, marks({ id: 'g1', subtree: '/a', state: 'fenced' }))).toEqual([]);
    expect(migrationDuties(m1, s, marks())).toEqual([]);
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 4 }, 3);
    expect(migrationDuties(m1, s, marks()).map((d) => d.entry)).toEqual([{ op: 'migration.install', id: 'g1', subtree: '/a', namespace: bytes, leaseToken: 4 }]);
    expect(migrationDuties(m1, s, marks({ id: 'g1', subtree: '/a', state: 'installed' }))).toEqual([]);
  });

  it('once over, the source drops a subtree that moved and unfences one that stayed (on a confirmed cluster copy)', () => {
    const s = splitting();
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 0 }, 3);
    s.apply({ order: 'mapCommit', id: 'g1' }, 4);
    const fenced = marks({ id: 'g1', subtree: '/a', state: 'fenced' });
    expect(migrationDuties(s.ministries.get('m0')!, s, fenced)).toEqual([expect.objectContaining({ entry: { op: 'migration.drop', id: 'g1', subtree: '/a' }, confirm: true })]);
    const t = splitting();
    t.apply({ order: 'migrateAbort', id: 'g1', reason: 'x' }, 3);
    expect(migrationDuties(t.ministries.get('m0')!, t, fenced)).toEqual([expect.objectContaining({ entry: { op: 'migration.unfence', id: 'g1' }, confirm: true })]);
  });

  it('a merge target that installed for an aborted migration drops it again', () => {
    const s = new ClusterState(NODES);
    s.apply({ order: 'appoint', subtree: '/', minister: 'n1', clerks: [], clerksWanted: 0 }, 1);
    s.apply({ order: 'appoint', subtree: '/a', minister: 'n2', clerks: [], clerksWanted: 0 }, 2);
    s.apply({ order: 'migrateStart', id: '', subtree: '/a', from: 'm1', to: 'm0', minister: '', clerks: [], clerksWanted: 0, why: '' }, 3);
    s.apply({ order: 'migrateAbort', id: 'g1', reason: 'x' }, 4);
    expect(migrationDuties(s.ministries.get('m0')!, s, marks({ id: 'g1', subtree: '/a', state: 'installed' })).map((d) => d.entry)).toEqual([{ op: 'migration.drop', id: 'g1', subtree: '/a' }]);
  });
});

describe('forgetting migration marks (the ministry state stays bounded)', () => {
  it('neutral and installed marks of migrations the cluster state no longer holds are forgotten (confirmed); the others stay', () => {
    const s = splitting();
    const m0 = s.ministries.get('m0')!;
    const many = Array.from({ length: 100 }, (_, i) => ({ id: `old${i}`, subtree: `/x${i}`, state: i % 2 === 0 ? ('unfenced' as const) : ('installed' as const) }));
    const all = marks(...many, { id: 'gone-dropped', subtree: '/y', state: 'dropped' }, { id: 'g1', subtree: '/a', state: 'fenced' });
    const forget = migrationDuties(m0, s, all).filter((d) => d.entry.op === 'migration.forget');
    expect(forget).toEqual([expect.objectContaining({ confirm: true, entry: { op: 'migration.forget', id: '', ids: many.map((m) => m.id) } })]);
    // Applied in the ministry's log: only neutral and installed marks go.
    const ns = new MinistryNamespace('/');
    ns.migrations = all;
    expect(ns.applyEntry(MinistryNamespace.encodeMigration(forget[0]!.entry), 1, 0).ok).toBe(true);
    expect([...ns.migrations.marks.keys()].sort()).toEqual(['g1', 'gone-dropped']);
    ns.applyEntry(MinistryNamespace.encodeMigration({ op: 'migration.forget', id: '', ids: ['g1', 'gone-dropped'] }), 2, 0);
    expect(ns.migrations.size).toBe(2);
    // A mark of a migration the cluster state still holds stays, whatever its state.
    expect(migrationDuties(m0, s, marks({ id: 'g1', subtree: '/a', state: 'unfenced' })).some((d) => d.entry.op === 'migration.forget')).toBe(false);
  });

  it('an install is proposed only on a confirmed cluster copy (an old copy replaying history must not install again)', () => {
    const s = splitting();
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 4 }, 3);
    expect(migrationDuties(s.ministries.get('m1')!, s, marks())).toEqual([expect.objectContaining({ confirm: true, entry: expect.objectContaining({ op: 'migration.install' }) })]);
  });
});

describe('what a ministry must not serve during a migration', () => {
  it('a split’s new ministry serves nothing, a fenced subtree nothing, a handed one nothing until installed', () => {
    const s = splitting();
    const m0 = s.ministries.get('m0')!;
    const m1 = s.ministries.get('m1')!;
    expect(migrationGate(m1, s, marks(), '/a/x')).toMatch(/being formed by a split/);
    expect(migrationGate(m0, s, marks({ id: 'g1', subtree: '/a', state: 'fenced' }), '/a/x')).toMatch(/\/a is moving to another ministry \(migration g1\)/);
    expect(migrationGate(m0, s, marks({ id: 'g1', subtree: '/a', state: 'fenced' }), '/b')).toBeNull();
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 0 }, 3);
    s.apply({ order: 'mapCommit', id: 'g1' }, 4);
    expect(migrationGate(m1, s, marks(), '/a/x')).toMatch(/being handed over to this ministry/);
    expect(migrationGate(m1, s, marks({ id: 'g1', subtree: '/a', state: 'installed' }), '/a/x')).toBeNull();
  });

  it('a subtree that left a ministry and came back: the old install does not hold it up (seed 31)', () => {
    const s = new ClusterState(NODES);
    s.apply({ order: 'appoint', subtree: '/', minister: 'n1', clerks: [], clerksWanted: 0 }, 1);
    s.apply({ order: 'appoint', subtree: '/a', minister: 'n2', clerks: [], clerksWanted: 0 }, 2);
    const move = (o: { from: string; to: string }, at: number, minister = ''): void => {
      s.apply({ order: 'migrateStart', id: '', subtree: '/a', ...o, minister, clerks: [], clerksWanted: 0, why: '' }, at);
      const id = `g${s.migrationCounter}`;
      s.apply({ order: 'migrateHandover', id, namespace: bytes, leaseToken: 0 }, at + 1);
      s.apply({ order: 'mapCommit', id }, at + 2);
    };
    move({ from: 'm1', to: 'm0' }, 3); // g1: merged into m0
    move({ from: 'm0', to: '' }, 6, 'n3'); // g2: split off again
    move({ from: s.ministryFor('/a')!.id, to: 'm0' }, 9); // g3: merged back
    // m0's log: installed g1, fenced and dropped g2 (then made neutral by g3's install), installed g3.
    const m0marks = marks({ id: 'g1', subtree: '/a', state: 'dropped' }, { id: 'g2', subtree: '/a', state: 'dropped' }, { id: 'g3', subtree: '/a', state: 'installed' });
    m0marks.clearWithin('/a');
    expect(m0marks.get('g2')?.state).toBe('unfenced');
    expect(migrationGate(s.ministries.get('m0')!, s, m0marks, '/a/x')).toBeNull();
  });
});

describe('the president’s migration driver', () => {
  const driver = () => new MigrationDriver({ timeoutMs: 1_000, queryEveryMs: 100 });

  it('asks the source while fencing, hands over its ready state, then asks the target and commits', () => {
    const s = splitting();
    const d = driver();
    expect(d.queries(0, s)).toEqual(['n1', 'n2', 'n3'].map((node) => ({ kind: 'query', node, migration: 'g1' })));
    expect(d.queries(20, s)).toEqual([]);
    expect(d.decide(50, s)).toBeNull();
    d.answered({ node: 'n2', migration: 'g1', ministry: 'm0', state: 'fenced', reason: 'waiting out the leases' });
    expect(d.decide(60, s)).toBeNull();
    d.answered({ node: 'n2', migration: 'g1', ministry: 'm0', state: 'ready', reason: '', namespace: bytes, leaseToken: 3 });
    expect(d.decide(70, s)).toMatchObject({ kind: 'order', order: { order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 3 } });
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 3 }, 3);
    expect(d.queries(200, s)).toEqual([{ kind: 'query', node: 'n4', migration: 'g1' }]);
    // An answer from a member of another ministry does not count.
    d.answered({ node: 'n5', migration: 'g1', ministry: 'm7', state: 'installed', reason: '' });
    expect(d.decide(210, s)).toBeNull();
    d.answered({ node: 'n4', migration: 'g1', ministry: 'm1', state: 'installed', reason: '' });
    expect(d.decide(220, s)).toMatchObject({ order: { order: 'mapCommit', id: 'g1' } });
  });

  it('hands over before the full wait only once every member of the source says clear', () => {
    const s = splitting();
    const d = driver();
    const clear = (node: string, withState: boolean) => d.answered({ node, migration: 'g1', ministry: 'm0', state: 'clear', reason: '', ...(withState && { namespace: bytes, leaseToken: 2 }) });
    clear('n1', true);
    clear('n2', false);
    // n3 (a clerk) may hold a live read lease in /a: no handover.
    d.answered({ node: 'n3', migration: 'g1', ministry: 'm0', state: 'fenced', reason: 'waiting out the leases of /a for 900 ms' });
    expect(d.decide(10, s)).toBeNull();
    // A node that is no member of the source does not speak for n3.
    d.answered({ node: 'n5', migration: 'g1', ministry: 'm0', state: 'clear', reason: '' });
    expect(d.decide(20, s)).toBeNull();
    clear('n3', false);
    expect(d.decide(30, s)).toMatchObject({ order: { order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 2 } });
  });

  it('answers given under an earlier staff of the source are dropped', () => {
    const s = splitting();
    const d = driver();
    d.answered({ node: 'n1', migration: 'g1', ministry: 'm0', state: 'clear', reason: '', namespace: bytes });
    expect(d.decide(0, s)).toBeNull();
    for (const n of ['n2', 'n3']) d.answered({ node: n, migration: 'g1', ministry: 'm0', state: 'clear', reason: '' });
    // Re-staffed (a new clerk n5, in a new term) before the driver looks again: n1's and n2's
    // answers spoke for the old staff (n5's predecessor could hold a read lease).
    expect(s.apply({ order: 'appoint', ministry: 'm0', subtree: '/', minister: 'n1', clerks: ['n2', 'n5'], clerksWanted: 2 }, 3).ok).toBe(true);
    d.answered({ node: 'n5', migration: 'g1', ministry: 'm0', state: 'clear', reason: '' });
    expect(d.decide(10, s)).toBeNull();
    for (const n of ['n1', 'n2', 'n5']) d.answered({ node: n, migration: 'g1', ministry: 'm0', state: 'clear', reason: '', ...(n === 'n2' && { namespace: bytes }) });
    expect(d.decide(20, s)).toMatchObject({ order: { order: 'migrateHandover', namespace: bytes } });
  });

  it('aborts when the source cannot fence, a ministry went away, or nothing moves for timeoutMs', () => {
    const s = splitting();
    const d = driver();
    d.answered({ node: 'n1', migration: 'g1', ministry: 'm0', state: 'failed', reason: '/a: no such directory' });
    expect(d.decide(0, s)).toMatchObject({ order: { order: 'migrateAbort', id: 'g1', reason: '/a: no such directory' } });
    const t = splitting();
    const e = driver();
    expect(e.decide(0, t)).toBeNull();
    expect(e.decide(1_001, t)).toMatchObject({ order: { order: 'migrateAbort', reason: expect.stringMatching(/no progress for 1001 ms in phase fencing \(no answers\)/) } });
    const u = splitting();
    u.apply({ order: 'dissolve', ministry: 'm1' }, 3);
    expect(driver().decide(0, u)).toMatchObject({ order: { order: 'migrateAbort', reason: 'ministry m1 no longer exists' } });
  });

  it('a mapCommit that never takes is not re-ordered forever: after timeoutMs in the phase, abort (issue 16, g22)', () => {
    const s = splitting();
    const d = driver();
    s.apply({ order: 'migrateHandover', id: 'g1', namespace: bytes, leaseToken: 0 }, 3);
    d.answered({ node: 'n4', migration: 'g1', ministry: 'm1', state: 'installed', reason: '' });
    expect(d.decide(0, s)).toMatchObject({ order: { order: 'mapCommit', id: 'g1' } });
    // The order went out but the map never moved (the phase is still 'handed').
    expect(d.decide(500, s)).toMatchObject({ order: { order: 'mapCommit', id: 'g1' } });
    expect(d.decide(1_001, s)).toMatchObject({ order: { order: 'migrateAbort', id: 'g1', reason: expect.stringMatching(/no progress for 1001 ms in phase handed \(n4: installed\)/) } });
    // So is a handover whose order never takes.
    const t = splitting();
    const e = driver();
    e.answered({ node: 'n1', migration: 'g1', ministry: 'm0', state: 'ready', reason: '', namespace: bytes });
    expect(e.decide(0, t)).toMatchObject({ order: { order: 'migrateHandover' } });
    expect(e.decide(1_001, t)).toMatchObject({ order: { order: 'migrateAbort', reason: expect.stringMatching(/phase fencing/) } });
  });
});
