import { describe, expect, it } from 'vitest';
import {
  FsError,
  LeaseTable,
  WHOLE_FILE,
  capabilityOf,
  decodeRangeEnd,
  encodeRangeEnd,
  rangesOverlap,
  type Lease,
  type LeaseMode,
  type LeaseRequest,
} from '../../src/fs/index.js';

const TTL = 1000;
const DRIFT = 100;

function req(clientId: string, mode: LeaseMode, start?: number, end?: number, path = '/f'): LeaseRequest {
  return start === undefined ? { clientId, path, mode, ttlMs: TTL } : { clientId, path, mode, range: { start, end: end as number }, ttlMs: TTL };
}

function granted(t: LeaseTable, r: LeaseRequest, now: number): Lease {
  const g = t.grant(r, now);
  if (!('granted' in g)) throw new Error(`expected a grant, got ${JSON.stringify(g)}`);
  return g.granted;
}

function refused(t: LeaseTable, r: LeaseRequest, now: number) {
  const g = t.grant(r, now);
  if ('granted' in g) throw new Error(`expected a refusal, got ${JSON.stringify(g)}`);
  return g;
}

describe('LeaseTable: compatibility', () => {
  it('readers share; a writer excludes overlapping holders; disjoint regions coexist', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    const r1 = granted(t, req('c1', 'read'), 0);
    granted(t, req('c2', 'read'), 0);
    const c = refused(t, req('c3', 'write', 0, 10), 0);
    expect(c.conflicts.map((l) => l.clientId).sort()).toEqual(['c1', 'c2']);
    expect(c.blockedBy).toEqual([]);
    expect(r1).toMatchObject({ mode: 'read', start: 0, end: Infinity, grantedAt: 0, expiresAt: TTL, validUntil: TTL + DRIFT });
    // Regions of another file do not interact.
    granted(t, req('c3', 'write', 0, 10, '/g'), 0);
    granted(t, req('c4', 'write', 10, 20, '/g'), 0); // half-open: [0,10) and [10,20) do not overlap
    refused(t, req('c5', 'read', 19, 25, '/g'), 0);
    granted(t, req('c5', 'read', 20, 25, '/g'), 0);
    refused(t, req('c6', 'write', 24, Infinity, '/g'), 0);
    granted(t, req('c6', 'write', 25, Infinity, '/g'), 0);
    refused(t, req('c7', 'read', 1_000_000, 1_000_001, '/g'), 0);
    expect(t.conflicting('/g', 'read', { start: 5, end: 30 }).map((l) => l.clientId)).toEqual(['c3', 'c4', 'c6']);
    expect(t.conflicting('/g', 'write', { start: 20, end: 21 }).map((l) => l.clientId)).toEqual(['c5']);
    expect(t.conflicting('/g', 'read', WHOLE_FILE, { clientId: 'c3' }).map((l) => l.clientId)).toEqual(['c4', 'c6']);
  });

  it('same client: its own leases do not conflict by default; they do with sameClientConflicts', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    granted(t, req('c1', 'read'), 0);
    granted(t, req('c1', 'write', 0, 100), 0);
    refused(t, req('c2', 'read', 50, 60), 0);
    const strict = new LeaseTable({ maxDriftMs: DRIFT, sameClientConflicts: true });
    granted(strict, req('c1', 'read'), 0);
    refused(strict, req('c1', 'write', 0, 100), 0);
    granted(strict, req('c1', 'read', 0, 5), 0);
  });

  it('names the four capabilities and encodes Infinity for the wire', () => {
    expect(capabilityOf({ mode: 'read', ...WHOLE_FILE })).toBe('read');
    expect(capabilityOf({ mode: 'write', ...WHOLE_FILE })).toBe('write');
    expect(capabilityOf({ mode: 'read', start: 0, end: 10 })).toBe('read-region');
    expect(capabilityOf({ mode: 'write', start: 5, end: Infinity })).toBe('write-region');
    expect(encodeRangeEnd(Infinity)).toBeNull();
    expect(decodeRangeEnd(encodeRangeEnd(Infinity))).toBe(Infinity);
    expect(decodeRangeEnd(encodeRangeEnd(7))).toBe(7);
    expect(rangesOverlap({ start: 0, end: 1 }, { start: 1, end: 2 })).toBe(false);
    expect(rangesOverlap({ start: 0, end: Infinity }, { start: 1e15, end: 1e15 + 1 })).toBe(true);
  });

  it('rejects malformed requests with EINVAL', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    const bad: LeaseRequest[] = [
      { ...req('c', 'read'), path: 'f' },
      { ...req('c', 'read'), path: '/f/' },
      { ...req('c', 'read'), clientId: '' },
      { ...req('c', 'read'), mode: 'append' as LeaseMode },
      req('c', 'read', 5, 5),
      req('c', 'read', 6, 5),
      req('c', 'read', -1, 5),
      req('c', 'read', 0.5, 5),
      req('c', 'read', 0, NaN),
      req('c', 'read', 0, -Infinity),
      { ...req('c', 'read'), ttlMs: 0 },
      { ...req('c', 'read'), ttlMs: Infinity },
    ];
    for (const b of bad) expect(() => t.grant(b, 0), JSON.stringify(b)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => t.grant(req('c', 'read'), NaN)).toThrow(FsError);
    expect(() => new LeaseTable({ maxDriftMs: -1 })).toThrow(/maxDriftMs/);
    expect(() => t.enqueue(req('c', 'read'), 0, { deadline: -Infinity })).toThrow(/deadline/);
    expect(t.all()).toEqual([]);
  });
});

describe('LeaseTable: time, drift, release, renew', () => {
  it('a conflicting grant waits for ttl + maxDrift after the grant, not just ttl', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    granted(t, req('w1', 'write'), 500);
    refused(t, req('w2', 'write'), 500 + TTL); // the holder's lease nominally ended...
    refused(t, req('w2', 'write'), 500 + TTL + DRIFT - 1); // ...but its clock may lag
    granted(t, req('w2', 'write'), 500 + TTL + DRIFT); // no expire() needed
    expect(t.leasesOf('/f', 500 + TTL + DRIFT).map((l) => l.clientId)).toEqual(['w2']);
    expect(t.expire(500 + TTL + DRIFT).map((l) => l.clientId)).toEqual(['w1']);
    expect(t.all().map((l) => l.clientId)).toEqual(['w2']);
  });

  it('release frees the range at once', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    const w = granted(t, req('w1', 'write', 0, 10), 0);
    refused(t, req('r1', 'read', 5, 6), 1);
    expect(t.release(w.id)?.id).toBe(w.id);
    expect(t.release(w.id)).toBeUndefined();
    granted(t, req('r1', 'read', 5, 6), 2);
  });

  it('renew extends (never shortens), keeps the token, and refuses dead leases', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    const l = granted(t, req('c', 'write'), 0);
    const r = t.renew(l.id, 900, TTL);
    expect(r).toEqual({ renewed: { ...l, expiresAt: 1900, validUntil: 2000 } });
    const s = t.renew(l.id, 950, 10);
    expect('renewed' in s && s.renewed.expiresAt).toBe(1900);
    refused(t, req('d', 'read'), 1999);
    granted(t, req('d', 'read'), 2000);
    expect(t.renew(l.id, 2000, TTL)).toMatchObject({ error: { code: 'ESTALE', path: '/f' } });
    expect(t.renew('nope', 0, TTL)).toMatchObject({ error: { code: 'ESTALE' } });
    expect(() => t.renew(l.id, 0, -5)).toThrow(/ttlMs/);
  });

  it('renew is refused (EBUSY) while a conflicting request waits, so holders cannot starve it', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    const r1 = granted(t, req('r1', 'read', 0, 100), 0);
    const r2 = granted(t, req('r2', 'read', 200, 300), 0);
    const q = t.grantOrEnqueue(req('w', 'write', 50, 60), 10);
    expect('waiter' in q && q.conflicts.map((l) => l.id)).toEqual([r1.id]);
    const busy = t.renew(r1.id, 500, TTL);
    expect(busy).toMatchObject({ error: { code: 'EBUSY', path: '/f' } });
    if ('error' in busy) expect(busy.error.message).toMatch(/release the lease when done/);
    expect('renewed' in t.renew(r2.id, 500, TTL)).toBe(true); // not in the waiter's way
    // r1 runs out; the writer gets in at its validUntil.
    expect(t.grantWaiting('/f', TTL + DRIFT - 1)).toEqual([]);
    const woke = t.grantWaiting('/f', TTL + DRIFT);
    expect(woke.map((x) => x.lease.clientId)).toEqual(['w']);
    expect(t.waiting('/f')).toEqual([]);
  });

  it('fencing tokens increase per file, across release and recreate, and across files', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    const a = granted(t, req('c', 'write'), 0);
    t.release(a.id);
    const b = granted(t, req('c', 'write'), 1);
    const other = granted(t, req('c', 'write', 0, 1, '/g'), 1);
    t.release(b.id);
    const c = granted(t, req('d', 'write'), 2);
    expect(a.token).toBeLessThan(b.token);
    expect(b.token).toBeLessThan(c.token);
    expect(other.token).not.toBe(b.token);
    expect(new Set([a.id, b.id, c.id, other.id]).size).toBe(4);
    const prefixed = new LeaseTable({ maxDriftMs: 0, idPrefix: 'clerk7:' });
    expect(granted(prefixed, req('c', 'read'), 0).id).toBe('clerk7:1');
  });

  it('nextDeadline is the earliest lapse of a lease or a waiter', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    expect(t.nextDeadline()).toBeUndefined();
    granted(t, req('a', 'write'), 0);
    expect(t.nextDeadline()).toBe(TTL + DRIFT);
    t.enqueue(req('b', 'write'), 0, { deadline: 300 });
    expect(t.nextDeadline()).toBe(300);
  });

  it('releaseClient drops all leases and waiters of a client', () => {
    const t = new LeaseTable({ maxDriftMs: DRIFT });
    granted(t, req('a', 'write', 0, 10), 0);
    granted(t, req('a', 'read', 0, 10, '/g'), 0);
    t.enqueue(req('a', 'write', 0, 10, '/h'), 0);
    granted(t, req('b', 'read', 20, 30), 0);
    const gone = t.releaseClient('a');
    expect(gone.leases).toHaveLength(2);
    expect(gone.waiters).toHaveLength(1);
    expect(t.all().map((l) => l.clientId)).toEqual(['b']);
    expect(t.waiting('/h')).toEqual([]);
  });
});

describe('LeaseTable: fair queue', () => {
  it('later requests never overtake an earlier conflicting waiter; disjoint ones go ahead', () => {
    const t = new LeaseTable({ maxDriftMs: 0 });
    const r0 = granted(t, req('r0', 'read', 0, 100), 0);
    // A writer waits for [50, 150).
    const w = t.grantOrEnqueue(req('w', 'write', 50, 150), 1);
    expect('waiter' in w).toBe(true);
    // A reader of [60, 70) does not conflict with r0, but would overtake the writer: it waits.
    const late = t.grant(req('r1', 'read', 60, 70), 2);
    expect(late).toMatchObject({ conflicts: [], blockedBy: [{ clientId: 'w' }] });
    t.enqueue(req('r1', 'read', 60, 70), 2);
    // A reader of [0, 10) conflicts with nobody: granted now.
    granted(t, req('r2', 'read', 0, 10), 3);
    // A writer of [200, 300) is disjoint from everything: granted now.
    granted(t, req('w2', 'write', 200, 300), 3);
    t.enqueue(req('r3', 'read', 400, 500), 4); // queued although grantable: nextGrantable finds it
    expect(t.nextGrantable('/f', 5).map((x) => x.clientId)).toEqual(['r3']);
    expect(t.grantWaiting('/f', 5).map((x) => x.lease.clientId)).toEqual(['r3']);
    t.release(r0.id);
    // Now the writer goes first; r1 still waits behind it.
    expect(t.grantWaiting('/f', 6).map((x) => x.lease.clientId)).toEqual(['w']);
    expect(t.waiting('/f').map((x) => x.clientId)).toEqual(['r1']);
    const wl = t.leasesOf('/f').find((l) => l.clientId === 'w') as Lease;
    t.release(wl.id);
    expect(t.grantWaiting('/f', 7).map((x) => x.lease.clientId)).toEqual(['r1']);
  });

  it('a batch of compatible waiters is granted together, in arrival order', () => {
    const t = new LeaseTable({ maxDriftMs: 0 });
    const w = granted(t, req('w', 'write'), 0);
    for (const c of ['a', 'b', 'c']) t.enqueue(req(c, 'read'), 1);
    t.enqueue(req('x', 'write', 0, 1), 1);
    t.enqueue(req('d', 'read', 5, 6), 1); // compatible with x, and with the readers
    t.release(w.id);
    expect(t.grantWaiting('/f', 2).map((x) => x.lease.clientId)).toEqual(['a', 'b', 'c', 'd']);
    expect(t.waiting('/f').map((x) => x.clientId)).toEqual(['x']);
  });

  it('waiters past their deadline neither block nor get granted; cancel removes one', () => {
    const t = new LeaseTable({ maxDriftMs: 0 });
    const hold = granted(t, req('h', 'read', 0, 10), 0);
    const gone = t.enqueue(req('w', 'write'), 0, { deadline: 50 });
    t.enqueue(req('x', 'write', 20, 30), 0);
    expect(t.grant(req('y', 'read', 25, 26), 10)).toMatchObject({ blockedBy: [{ clientId: 'w' }, { clientId: 'x' }] });
    expect(t.grant(req('y', 'read', 25, 26), 50)).toMatchObject({ blockedBy: [{ clientId: 'x' }] });
    expect(t.grantWaiting('/f', 10)).toEqual([]); // x waits behind w
    expect(t.grantWaiting('/f', 50).map((x) => x.lease.clientId)).toEqual(['x']); // w gave up at 50
    expect(t.expireWaiters(50).map((x) => x.id)).toEqual([gone.id]);
    const c = t.enqueue(req('z', 'write', 0, 5), 60);
    expect(t.cancel(c.id)?.clientId).toBe('z');
    expect(t.cancel(c.id)).toBeUndefined();
    expect(t.waiting('/f')).toEqual([]);
    t.release(hold.id);
  });
});

describe('LeaseTable: bounded queues', () => {
  it('enqueue fails with EAGAIN once a file has maxWaitersPerFile waiters', () => {
    const t = new LeaseTable({ maxDriftMs: 0, maxWaitersPerFile: 2 });
    granted(t, req('h', 'write'), 0);
    t.enqueue(req('a', 'read'), 0);
    t.enqueue(req('b', 'read'), 0);
    expect(() => t.enqueue(req('c', 'read'), 0)).toThrow(expect.objectContaining({ code: 'EAGAIN', path: '/f' }));
    expect(() => t.grantOrEnqueue(req('c', 'read'), 0)).toThrow(/already wait/);
    t.enqueue(req('c', 'read', 0, 1, '/g'), 0); // per file
    expect(() => new LeaseTable({ maxDriftMs: 0, maxWaitersPerFile: 0 })).toThrow(/maxWaitersPerFile/);
    expect(LeaseTable.restore(t.snapshot()).maxWaitersPerFile).toBe(2);
  });
});

describe('LeaseTable: snapshots', () => {
  it('round-trips exactly, Infinity included, and continues identically', () => {
    const t = new LeaseTable({ maxDriftMs: 25, idPrefix: 'm:' });
    granted(t, req('a', 'read'), 0);
    granted(t, req('b', 'write', 10, 20, '/g'), 1);
    t.enqueue(req('c', 'write'), 2);
    t.enqueue(req('d', 'write', 5, 6), 3, { deadline: 1000 });
    const bytes = t.snapshot();
    expect(new TextDecoder().decode(bytes)).not.toMatch(/Infinity/);
    const back = LeaseTable.restore(bytes);
    expect(back.snapshot()).toEqual(bytes);
    expect(back.all()).toEqual(t.all());
    expect(back.waiting('/f')).toEqual(t.waiting('/f'));
    expect(back.all()[0]?.end).toBe(Infinity);
    expect(back.waiting('/f')[0]?.deadline).toBe(Infinity);
    expect(back.maxDriftMs).toBe(25);
    for (const x of [t, back]) {
      x.grantWaiting('/f', 2000);
      granted(x, req('e', 'read', 0, 1, '/h'), 2000);
    }
    expect(back.snapshot()).toEqual(t.snapshot());
  });

  it('rejects corrupt snapshots with EINVAL', () => {
    const t = new LeaseTable({ maxDriftMs: 1 });
    granted(t, req('a', 'read', 0, 10), 0);
    t.enqueue(req('b', 'write'), 0);
    const good = t.toJSON();
    const variants: unknown[] = [
      null,
      { ...good, format: 'x' },
      { ...good, v: 9 },
      { ...good, maxDriftMs: -1 },
      { ...good, nextToken: 0 },
      { ...good, nextToken: 1 }, // a lease holds token 1: tokens would repeat
      { ...good, leases: [{ ...good.leases[0], end: 0 }] },
      { ...good, leases: [good.leases[0], good.leases[0]] },
      { ...good, leases: [{ ...good.leases[0], mode: 'x' }] },
      { ...good, waiters: [{ ...good.waiters[0], seq: 99 }] },
      { ...good, waiters: 'none' },
    ];
    for (const v of variants) expect(() => LeaseTable.fromJSON(v), JSON.stringify(v)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => LeaseTable.restore(new TextEncoder().encode('{'))).toThrow(/corrupt lease table/);
  });
});
