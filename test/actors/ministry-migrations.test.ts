import { describe, expect, it } from 'vitest';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import type { ClientOp } from '../../src/fs/requests.js';

// A ministry's side of a live subtree migration (issue 16): the fence, install, drop and
// unfence entries of its own log, applied the same way on every member.

let index = 0;
const apply = (ns: MinistryNamespace, bytes: Uint8Array, now = 0) => ns.applyEntry(bytes, ++index, now);
const change = (clientId: string, seq: number, op: ClientOp, now = 0) => MinistryNamespace.encodeEntry({ clientId, seq, acked: 0, op, now });
const fence = (id: string, subtree: string) => MinistryNamespace.encodeMigration({ op: 'migration.fence', id, subtree });

function root(): MinistryNamespace {
  const ns = new MinistryNamespace('/');
  apply(ns, change('c1', 1, { op: 'mkdir', path: '/a/b', parents: true }));
  apply(ns, change('c1', 2, { op: 'create', path: '/a/b/f' }));
  apply(ns, change('c1', 3, { op: 'mkdir', path: '/a/c' }));
  return ns;
}

describe('ministry migration entries', () => {
  it('a fence refuses changes in the subtree (EAGAIN, no completion record) and above it that would move it', () => {
    const ns = root();
    expect(apply(ns, fence('g1', '/a/b'), 100)).toEqual({ ok: true, value: null });
    const refused = apply(ns, change('c2', 1, { op: 'create', path: '/a/b/g' }));
    expect(refused).toMatchObject({ ok: false, error: { code: 'EAGAIN', message: expect.stringMatching(/\/a\/b is moving to another ministry \(migration g1\)/) } });
    expect(ns.completed('c2', 1)).toBeUndefined();
    expect(apply(ns, change('c2', 2, { op: 'rename', from: '/a', to: '/z' }))).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(apply(ns, change('c2', 3, { op: 'rmdir', path: '/a', recursive: true }))).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(apply(ns, change('c2', 4, { op: 'create', path: '/a/c/g' }))).toMatchObject({ ok: true });
    // A write lease in it is refused too.
    expect(apply(ns, MinistryNamespace.encodeLease({ op: 'lease.grant', id: 'w1', clientId: 'c2', path: '/a/b/f', start: 0, end: null, ttlMs: 100 }))).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    expect(ns.duplicateApplies).toBe(0);
  });

  it('after an abort (unfence) a refused change is taken anew', () => {
    const ns = root();
    apply(ns, fence('g1', '/a/b'));
    apply(ns, change('c2', 1, { op: 'create', path: '/a/b/g' }));
    apply(ns, MinistryNamespace.encodeMigration({ op: 'migration.unfence', id: 'g1' }));
    expect(apply(ns, change('c2', 1, { op: 'create', path: '/a/b/g' }))).toMatchObject({ ok: true });
    // A fence of the same migration again changes nothing (idempotent by id).
    apply(ns, fence('g1', '/a/b'));
    expect(apply(ns, change('c2', 2, { op: 'create', path: '/a/b/h' }))).toMatchObject({ ok: true });
    expect(ns.migrations.get('g1')?.state).toBe('unfenced');
  });

  it('hands over only after every lease that could be believed ran out; the target installs it once', () => {
    const ns = root();
    apply(ns, MinistryNamespace.encodeLease({ op: 'lease.grant', id: 'w1', clientId: 'c2', path: '/a/b/f', start: 0, end: null, ttlMs: 500 }), 50);
    apply(ns, fence('g1', '/a/b'), 100);
    expect(ns.handover('g1', 200, 300)).toMatchObject({ state: 'fenced', reason: expect.stringMatching(/waiting out the leases/) });
    // The lease (granted at 50, 500 ms) plus the wait: 850.
    expect(ns.handover('g1', 849, 300).state).toBe('fenced');
    const ready = ns.handover('g1', 850, 300);
    expect(ready.state).toBe('ready');
    expect(ready.leaseToken).toBe(1);
    const target = new MinistryNamespace('/a/b');
    const install = MinistryNamespace.encodeMigration({ op: 'migration.install', id: 'g1', subtree: '/a/b', namespace: ready.namespace!, leaseToken: ready.leaseToken! });
    expect(apply(target, install)).toEqual({ ok: true, value: null });
    expect(target.read({ op: 'ls', path: '/a/b' }, emptyCluster()).ok).toBe(true);
    expect(target.completed('c1', 2)).toEqual(ns.completed('c1', 2));
    expect(target.leases.token).toBe(1);
    // Installed twice (a new minister proposing it again): once.
    apply(target, change('c3', 1, { op: 'create', path: '/a/b/new' }));
    apply(target, install);
    expect(target.fileCheck('/a/b/new')).toBeNull();
    expect(target.migrations.get('g1')?.state).toBe('installed');
  });

  it('hands over without waiting a lease period only when no lease that could be believed is live (LeaseQuiet)', () => {
    const ns = root();
    apply(ns, fence('g1', '/a/b'), 100);
    const none = { since: 0, readsUntil: () => -Infinity };
    // No read lease granted here, serving unchanged for the wait: clear at once, with the state.
    expect(ns.handover('g1', 300, 300, none)).toMatchObject({ state: 'clear', namespace: expect.any(Uint8Array) });
    // A read lease this member granted in the subtree, believed until 380: not before then.
    const reading = { since: 0, readsUntil: (s: string) => (s === '/a/b' ? 380 : -Infinity) };
    expect(ns.handover('g1', 300, 300, reading)).toMatchObject({ state: 'fenced', reason: expect.stringMatching(/waiting out the leases of \/a\/b for 80 ms/) });
    expect(ns.handover('g1', 379, 300, reading).state).toBe('fenced');
    expect(ns.handover('g1', 380, 300, reading).state).toBe('clear');
    // A read waiting to be granted there (Infinity): only the full wait, after the fence.
    const waiting = { since: 0, readsUntil: () => Infinity };
    expect(ns.handover('g1', 399, 300, waiting).state).toBe('fenced');
    expect(ns.handover('g1', 400, 300, waiting).state).toBe('ready');
    // Re-staffed (or started) 250 ms ago: an earlier staff's reads may live; wait from then.
    expect(ns.handover('g1', 300, 300, { since: 50, readsUntil: () => -Infinity }).state).toBe('fenced');
    expect(ns.handover('g1', 350, 300, { since: 50, readsUntil: () => -Infinity }).state).toBe('clear');
  });

  it('a live write lease in the subtree holds the fast handover too', () => {
    const ns = root();
    apply(ns, MinistryNamespace.encodeLease({ op: 'lease.grant', id: 'w1', clientId: 'c2', path: '/a/b/f', start: 0, end: null, ttlMs: 500 }), 50);
    apply(ns, fence('g1', '/a/b'), 100);
    const none = { since: 0, readsUntil: () => -Infinity };
    expect(ns.handover('g1', 300, 300, none).state).toBe('fenced');
    expect(ns.handover('g1', 849, 300, none).state).toBe('fenced');
    expect(ns.handover('g1', 850, 300, none).state).toBe('ready');
  });

  it('a fence of what is no directory fails, with the reason the president aborts with', () => {
    const ns = root();
    apply(ns, fence('g1', '/a/b/f'));
    expect(ns.handover('g1', 0, 0)).toMatchObject({ state: 'failed', reason: expect.stringMatching(/is a file/) });
    apply(ns, fence('g2', '/nope'));
    expect(ns.handover('g2', 0, 0).state).toBe('failed');
    expect(ns.handover('g3', 0, 0).state).toBe('none');
    expect(apply(ns, change('c2', 1, { op: 'create', path: '/a/b/g' }))).toMatchObject({ ok: true });
  });

  it('the source drops the subtree once the map moved; the marks survive a snapshot', () => {
    const ns = root();
    apply(ns, fence('g1', '/a/b'), 100);
    apply(ns, MinistryNamespace.encodeMigration({ op: 'migration.drop', id: 'g1', subtree: '/a/b' }));
    expect(ns.fileCheck('/a/b/f')).toMatchObject({ code: 'ENOENT' });
    const copy = new MinistryNamespace('/');
    copy.restore(ns.snapshot(), 5);
    expect(copy.migrations.get('g1')).toMatchObject({ state: 'dropped', subtree: '/a/b', since: 5 });
    // Still refused here: another ministry serves it.
    expect(apply(copy, change('c2', 1, { op: 'mkdir', path: '/a/b' }))).toMatchObject({ ok: false, error: { code: 'EAGAIN' } });
    // A snapshot with no marks is the same bytes as before migrations existed.
    const plain = root();
    const restored = new MinistryNamespace('/');
    restored.restore(plain.snapshot());
    expect(restored.migrations.size).toBe(0);
    expect(new DataView(plain.snapshot().buffer).getUint32(0)).not.toBe(0xffffffff);
  });
});

function emptyCluster() {
  return { ministries: new Map(), applied: 0 } as unknown as Parameters<MinistryNamespace['read']>[1];
}
