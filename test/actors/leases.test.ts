// Randomized runs of the live lease tables (src/actors/leases.ts) against the test's own record
// of every grant, renewal and release. Ported from the property test of the removed LeaseTable
// model (src/fs/leases.ts, removed), keeping the rules the running system relies on:
//   - safety: `conflictingWrites` / `conflicting` report exactly the other clients' leases on an
//     overlapping range that may still be valid (not released, validUntil not reached), which is
//     what a grantor checks before it grants;
//   - tokens: strictly increasing across grants (so monotonic per file), kept by renewal;
//   - a renewal of a released lease is refused with ESTALE;
//   - snapshots: a restored state keeps every lease, counts it from the restoring clock (never
//     shorter than before) and continues the token counter.

import { describe, expect, it } from 'vitest';
import { ReadLeaseTable, WriteLeaseState } from '../../src/actors/leases.js';
import { rangesOverlap, type ByteRange } from '../../src/fs/ranges.js';
import { Prng } from '../fs/prng.js';

const PATHS = ['/a', '/b'];
const CLIENTS = ['c1', 'c2', 'c3'];

function range(rng: Prng): ByteRange {
  if (rng.chance(0.3)) return { start: 0, end: Infinity };
  const start = rng.int(8);
  return { start, end: start + 1 + rng.int(6) };
}

interface Held {
  id: string;
  clientId: string;
  path: string;
  start: number;
  end: number;
  token: number;
  validUntil: number;
}

function runWrites(seed: number, steps: number): number {
  const rng = new Prng(seed);
  const drift = rng.pick([0, 5, 50]);
  let state = new WriteLeaseState();
  const held = new Map<string, Held>();
  let now = 1_000;
  let lastToken = 0;
  let nextId = 0;
  let queries = 0;
  for (let step = 0; step < steps; step++) {
    now += rng.int(40);
    const ids = [...held.keys()];
    const roll = rng.next();
    if (roll < 0.35 || ids.length === 0) {
      const r = range(rng);
      const id = `w${++nextId}`;
      const clientId = rng.pick(CLIENTS);
      const path = rng.pick(PATHS);
      const ttlMs = 20 + rng.int(100);
      const res = state.apply({ op: 'lease.grant', id, clientId, path, start: r.start, end: r.end === Infinity ? null : r.end, ttlMs }, now);
      if (!res.ok || res.token === undefined) throw new Error(`seed ${seed}: grant refused`);
      expect(res.token, `seed ${seed}: token after ${lastToken}`).toBeGreaterThan(lastToken);
      lastToken = res.token;
      held.set(id, { id, clientId, path, start: r.start, end: r.end, token: res.token, validUntil: now + ttlMs + drift });
    } else if (roll < 0.55) {
      const id = rng.pick(ids);
      const h = held.get(id)!;
      const ttlMs = 20 + rng.int(100);
      const res = state.apply({ op: 'lease.renew', id, ttlMs }, now);
      expect(res, `seed ${seed}: renew ${id}`).toEqual({ ok: true, token: h.token });
      h.validUntil = now + ttlMs + drift;
    } else if (roll < 0.7) {
      const id = rng.pick(ids);
      expect(state.apply({ op: 'lease.release', id }, now).ok).toBe(true);
      held.delete(id);
      const again = state.apply({ op: 'lease.renew', id, ttlMs: 10 }, now);
      expect(again.ok ? undefined : again.error.code, `seed ${seed}: renew after release`).toBe('ESTALE');
    } else if (roll < 0.75) {
      // Snapshot and restore on a member whose clock reads later: nothing gets shorter.
      now += rng.int(5);
      state = WriteLeaseState.fromBytes(state.toBytes(), now);
      expect(state.token).toBe(lastToken);
      for (const h of held.values()) {
        const l = state.leases.get(h.id);
        expect(l?.token, `seed ${seed}: ${h.id} restored`).toBe(h.token);
        const restored = state.validUntil(l!, drift);
        expect(restored).toBeGreaterThanOrEqual(h.validUntil);
        h.validUntil = restored;
      }
    } else {
      const clientId = rng.pick(CLIENTS);
      const path = rng.pick(PATHS);
      const r = range(rng);
      const at = now + rng.int(150);
      const got = state.conflictingWrites(clientId, path, r.start, r.end, at, drift).map((l) => l.id).sort();
      const want = [...held.values()]
        .filter((h) => h.clientId !== clientId && h.path === path && rangesOverlap(h, r) && h.validUntil > at)
        .map((h) => h.id)
        .sort();
      expect(got, `seed ${seed} step ${step}: conflicting writes for ${clientId} ${path} [${r.start}, ${r.end}) at ${at}`).toEqual(want);
      queries++;
    }
  }
  return queries;
}

describe('WriteLeaseState: randomized safety, tokens, renewals and snapshots', () => {
  it('matches the model over 200 seeds', () => {
    let queries = 0;
    for (let seed = 1; seed <= 200; seed++) queries += runWrites(seed, 150);
    expect(queries).toBeGreaterThan(1_000);
  });
});

describe('ReadLeaseTable: randomized safety', () => {
  it('reports exactly the live overlapping read leases of other clients, over 200 seeds', () => {
    let nonEmpty = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const rng = new Prng(seed);
      const table = new ReadLeaseTable('n1');
      const held: Held[] = [];
      let now = 0;
      for (let step = 0; step < 100; step++) {
        now += rng.int(20);
        const r = range(rng);
        if (rng.chance(0.5)) {
          const l = table.grant({ clientId: rng.pick(CLIENTS), notify: '', path: rng.pick(PATHS), start: r.start, end: r.end, token: 0, validUntil: now + 10 + rng.int(80) });
          expect(held.some((h) => h.id === l.id), `seed ${seed}: lease id ${l.id} reused`).toBe(false);
          held.push({ ...l });
        } else {
          const clientId = rng.pick(CLIENTS);
          const path = rng.pick(PATHS);
          const got = table.conflicting(clientId, path, r.start, r.end, now).map((l) => l.id).sort();
          const want = held.filter((h) => h.clientId !== clientId && h.path === path && rangesOverlap(h, r) && h.validUntil > now).map((h) => h.id).sort();
          expect(got, `seed ${seed} step ${step}`).toEqual(want);
          if (want.length > 0) nonEmpty++;
        }
      }
    }
    expect(nonEmpty).toBeGreaterThan(100);
  });
});
