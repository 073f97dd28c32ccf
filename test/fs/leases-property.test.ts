// Randomized runs of the lease table, checked against the test's own records of every grant,
// renewal, release and waiter:
//   - safety: a lease is never granted (and never renewed) while a conflicting lease may still
//     be valid (not released, validUntil = last expiry + maxDrift not yet reached);
//   - fairness: a grant never overtakes an earlier, still waiting, conflicting request, and
//     after grantWaiting nothing more in the queue is grantable;
//   - tokens: strictly increasing per file; validUntil = expiresAt + maxDrift;
//   - snapshots: a restored table continues byte-identically;
//   - liveness: with no new requests, every waiter without a deadline is eventually granted.

import { describe, expect, it } from 'vitest';
import { LeaseTable, type ByteRange, type Lease, type LeaseMode, type LeaseRequest, type Waiter } from '../../src/fs/index.js';
import { Prng } from './prng.js';

function check(cond: boolean, msg: string): void {
  if (!cond) throw new Error(msg);
}

interface Held {
  lease: Lease;
  validUntil: number;
  releasedAt?: number;
  /** Removed from the table by expire(). */
  expired?: boolean;
}

interface Holder {
  clientId: string;
  mode: LeaseMode;
  start: number;
  end: number;
}

function run(seed: number, steps: number) {
  const rng = new Prng(seed);
  const drift = rng.pick([0, 5, 50]);
  const sameClientConflicts = rng.chance(0.3);
  let table = new LeaseTable({ maxDriftMs: drift, sameClientConflicts, idPrefix: 's' });
  const conflict = (a: Holder, b: Holder) =>
    (sameClientConflicts || a.clientId !== b.clientId) && (a.mode === 'write' || b.mode === 'write') && a.start < b.end && b.start < a.end;

  const held = new Map<string, Held>();
  const queue: Waiter[] = []; // the model queue, all files, arrival order
  const lastToken = new Map<string, number>();
  let now = 0;
  let grants = 0;
  let refusals = 0;
  let wakeups = 0;

  const live = (h: Held) => h.releasedAt === undefined && h.validUntil > now;

  function onGrant(lease: Lease, ttlMs: number, what: string) {
    grants++;
    for (const h of held.values())
      if (live(h) && h.lease.path === lease.path && conflict(h.lease, lease))
        throw new Error(`${what}: ${JSON.stringify(lease)} granted at ${now} while ${JSON.stringify(h)} may be valid`);
    check(lease.grantedAt === now && lease.expiresAt === now + ttlMs && lease.validUntil === now + ttlMs + drift, `${what}: times of ${JSON.stringify(lease)}`);
    check(lease.token > (lastToken.get(lease.path) ?? 0), `${what}: token of ${JSON.stringify(lease)} did not increase`);
    lastToken.set(lease.path, lease.token);
    held.set(lease.id, { lease, validUntil: lease.validUntil });
  }

  function waitingAhead(path: string, beforeSeq: number, who: Holder): Waiter[] {
    return queue.filter((w) => w.path === path && w.seq < beforeSeq && w.deadline > now && conflict(w, who));
  }

  function randomRange(): ByteRange {
    if (rng.chance(0.25)) return { start: 0, end: Infinity };
    const start = rng.int(100);
    return { start, end: rng.chance(0.1) ? Infinity : start + 1 + rng.int(40) };
  }

  function randomRequest(): LeaseRequest {
    return {
      clientId: `c${rng.int(5)}`,
      path: rng.pick(['/f', '/g', '/h/i']),
      mode: rng.chance(0.4) ? 'write' : 'read',
      range: randomRange(),
      ttlMs: 20 + rng.int(200),
    };
  }

  function wake(path: string) {
    const batch = table.grantWaiting(path, now);
    for (const { waiter, lease } of batch) {
      const i = queue.findIndex((w) => w.id === waiter.id);
      expect(i, 'granted waiter was queued').toBeGreaterThanOrEqual(0);
      // Earlier conflicting waiters still queued (not granted in this batch) would be overtaken.
      expect(waitingAhead(path, waiter.seq, waiter).filter((w) => !batch.some((b) => b.waiter.id === w.id))).toEqual([]);
      queue.splice(i, 1);
      onGrant(lease, waiter.ttlMs, 'grantWaiting');
      wakeups++;
    }
    check(table.nextGrantable(path, now).length === 0, `grantWaiting left a grantable waiter on ${path}`);
  }

  for (let step = 0; step < steps; step++) {
    now += rng.int(30);
    const r = rng.int(100);
    if (r < 35) {
      const req = randomRequest();
      const enqueue = rng.chance(0.6);
      const res = enqueue ? table.grantOrEnqueue(req, now, rng.chance(0.3) ? { deadline: now + rng.int(400) } : {}) : table.grant(req, now);
      const me = { clientId: req.clientId, mode: req.mode, start: req.range!.start, end: req.range!.end };
      if ('granted' in res) {
        expect(waitingAhead(req.path, Infinity, me)).toEqual([]);
        onGrant(res.granted, req.ttlMs, 'grant');
      } else {
        refusals++;
        // The refusal is justified by a live conflicting lease or an earlier conflicting waiter.
        const byLease = [...held.values()].filter((h) => live(h) && h.lease.path === req.path && conflict(h.lease, me));
        expect(res.conflicts.map((l) => l.id).sort()).toEqual(byLease.map((h) => h.lease.id).sort());
        expect(res.blockedBy.map((w) => w.id)).toEqual(waitingAhead(req.path, Infinity, me).map((w) => w.id));
        if ('waiter' in res) queue.push(res.waiter as Waiter);
      }
    } else if (r < 50) {
      const ids = [...held.keys()].filter((id) => held.get(id)!.releasedAt === undefined);
      // (expired ones included: releasing those is a no-op)
      if (ids.length === 0) continue;
      const id = rng.pick(ids);
      const h = held.get(id)!;
      const out = table.release(id);
      expect(out === undefined).toBe(h.expired === true);
      h.releasedAt = now;
      wake(h.lease.path);
    } else if (r < 62) {
      const ids = [...held.keys()];
      if (ids.length === 0) continue;
      const id = rng.pick(ids);
      const h = held.get(id)!;
      const ttl = 20 + rng.int(200);
      const res = table.renew(id, now, ttl);
      const blocking = queue.some((w) => w.path === h.lease.path && w.deadline > now && conflict(w, h.lease));
      if ('renewed' in res) {
        expect(live(h)).toBe(true);
        expect(blocking).toBe(false);
        expect(res.renewed.token).toBe(h.lease.token);
        expect(res.renewed.validUntil).toBe(Math.max(h.validUntil, now + ttl + drift));
        h.validUntil = res.renewed.validUntil;
      } else {
        expect(res.error.code).toBe(live(h) ? 'EBUSY' : 'ESTALE');
      }
    } else if (r < 72) {
      const expired = table.expire(now);
      for (const l of expired) {
        const h = held.get(l.id)!;
        expect(h.validUntil).toBeLessThanOrEqual(now);
        expect(h.releasedAt).toBeUndefined();
        h.expired = true;
      }
      const dropped = table.expireWaiters(now);
      for (const w of dropped) {
        expect(w.deadline).toBeLessThanOrEqual(now);
        queue.splice(queue.findIndex((q) => q.id === w.id), 1);
      }
      for (const p of ['/f', '/g', '/h/i']) wake(p);
    } else if (r < 85) {
      wake(rng.pick(['/f', '/g', '/h/i']));
    } else if (r < 90) {
      if (queue.length === 0) continue;
      const w = rng.pick(queue);
      expect(table.cancel(w.id)?.id).toBe(w.id);
      queue.splice(queue.indexOf(w), 1);
      wake(w.path);
    } else if (r < 93) {
      const c = `c${rng.int(5)}`;
      const out = table.releaseClient(c);
      for (const l of out.leases) held.get(l.id)!.releasedAt = now;
      expect(out.waiters.map((w) => w.id).sort()).toEqual(queue.filter((w) => w.clientId === c).map((w) => w.id).sort());
      for (const w of out.waiters) queue.splice(queue.findIndex((q) => q.id === w.id), 1);
      for (const p of ['/f', '/g', '/h/i']) wake(p);
    } else {
      const bytes = table.snapshot();
      table = LeaseTable.restore(bytes);
      expect(table.snapshot()).toEqual(bytes);
    }
    // The table's live leases never conflict pairwise, and match the records.
    const liveNow = table.all().filter((l) => l.validUntil > now);
    for (let i = 0; i < liveNow.length; i++)
      for (let j = i + 1; j < liveNow.length; j++) {
        const a = liveNow[i]!;
        const b = liveNow[j]!;
        if (a.path === b.path && conflict(a, b)) throw new Error(`conflicting live leases ${JSON.stringify(a)} ${JSON.stringify(b)}`);
      }
    const expected = [...held.values()].filter(live).map((h) => h.lease.id);
    check(liveNow.length === expected.length && liveNow.every((l) => expected.includes(l.id)), `live leases differ at ${now}`);
    // Records that can no longer matter are pruned, so the checks stay cheap.
    for (const [id, h] of held) if (h.expired === true || (h.releasedAt !== undefined && !table.get(id))) if (rng.chance(0.5)) held.delete(id);
  }

  // Liveness: no new requests; follow nextDeadline. Every waiter without a deadline gets in.
  for (let i = 0; i < 10_000 && queue.length > 0; i++) {
    const t = table.nextDeadline();
    if (t === undefined) break;
    now = Math.max(now, t);
    for (const l of table.expire(now)) held.get(l.id)!.expired = true;
    for (const w of table.expireWaiters(now)) queue.splice(queue.findIndex((q) => q.id === w.id), 1);
    for (const p of ['/f', '/g', '/h/i']) wake(p);
  }
  expect(queue).toEqual([]);
  return { grants, refusals, wakeups };
}

describe('LeaseTable: randomized safety, fairness and liveness', () => {
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1);
  it.each(seeds)('seed %i', (seed) => {
    const stats = run(seed, 500);
    expect(stats.grants).toBeGreaterThan(20);
    expect(stats.refusals).toBeGreaterThan(5);
    expect(stats.wakeups).toBeGreaterThan(0);
  });
});
