// Load counters (src/actors/load.ts). Thesis 3.4: "A load report contains CPU utilization for
// each node in the group and the popularity of each bit of metadata split into read and write."

import { describe, expect, it } from 'vitest';
import { DecayingCounter, PopularityTable, mergeHot, utilisation } from '../../src/actors/load.js';

describe('DecayingCounter', () => {
  it('halves every half-life', () => {
    const c = DecayingCounter.withHalfLife(1_000);
    c.hit(0, 8);
    expect(c.get(0)).toBe(8);
    expect(c.get(1_000)).toBeCloseTo(4, 9);
    expect(c.get(3_000)).toBeCloseTo(1, 9);
  });

  it('reads a steady rate back as hits per second', () => {
    const c = DecayingCounter.withHalfLife(1_000);
    // 200 hits a second for 20 half-lives: the value settles at rate / λ.
    for (let t = 0; t <= 20_000; t += 5) c.hit(t);
    expect(c.perSecond(20_000)).toBeGreaterThan(190);
    expect(c.perSecond(20_000)).toBeLessThan(210);
  });
});

describe('PopularityTable', () => {
  it('splits reads from writes and rolls each hit up to the subtree', () => {
    const t = new PopularityTable('/', { halfLifeMs: 1_000 });
    t.hit('/a/b', 'read', 0);
    t.hit('/a/b', 'read', 0);
    t.hit('/a/c', 'write', 0);
    t.hit('/a/c', 'read', 0);
    const top = t.top(10, 0);
    const a = top.find((d) => d.path === '/a')!;
    const b = top.find((d) => d.path === '/a/b')!;
    const c = top.find((d) => d.path === '/a/c')!;
    // /a counts its whole subtree: the reads of /a/b and /a/c, and the write in /a/c.
    expect(a.readsPerSec).toBeCloseTo(b.readsPerSec + c.readsPerSec, 9);
    expect(b.readsPerSec).toBeCloseTo(2 * c.readsPerSec, 9);
    expect(a.writesPerSec).toBeCloseTo(c.writesPerSec, 9);
    expect(b.writesPerSec).toBe(0);
    expect(top[0]!.path).toBe('/a');
    expect(t.readsPerSec(0)).toBeCloseTo(a.readsPerSec, 9);
  });

  it('counts only within its subtree (totals count everything)', () => {
    const t = new PopularityTable('/a');
    t.hit('/a/x', 'read', 0);
    t.hit('/b', 'read', 0);
    expect(t.has('/a/x')).toBe(true);
    expect(t.has('/b')).toBe(false);
    expect(t.has('/')).toBe(false);
    expect(t.readsPerSec(0)).toBeGreaterThan(0);
  });

  it('leaves out a subtree split off to another ministry: its counters, its share of the ancestors and totals, its later hits', () => {
    const t = new PopularityTable('/', { halfLifeMs: 1_000 });
    for (let i = 0; i < 4; i++) {
      t.hit('/t/0/x', 'write', 100);
      t.hit('/t/1/y', 'write', 100);
    }
    t.hit('/t/1/y', 'read', 100);
    const before = t.writesPerSec(500);
    // Another ministry serves /t/0 now (and / itself is no subtree to leave out).
    t.exclude(['/', '/t/0', '/elsewhere'], 500);
    expect(t.has('/t/0')).toBe(false);
    expect(t.has('/t/0/x')).toBe(false);
    expect(t.writesPerSec(500)).toBeCloseTo(before / 2, 9);
    const top = t.top(10, 500);
    // /t was half /t/0's: it now carries /t/1's writes alone, the whole of the ministry's.
    expect(top.find((d) => d.path === '/t')!.writesPerSec).toBeCloseTo(t.writesPerSec(500), 9);
    expect(top.find((d) => d.path === '/t/1')!.writesPerSec).toBeCloseTo(t.writesPerSec(500), 9);
    expect(t.readsPerSec(500)).toBeGreaterThan(0);
    // A request with a stale map counts nowhere; once merged back (no longer listed), it does.
    t.hit('/t/0/x', 'write', 500);
    expect(t.has('/t/0/x')).toBe(false);
    expect(t.writesPerSec(500)).toBeCloseTo(before / 2, 9);
    t.exclude(['/'], 600);
    t.hit('/t/0/x', 'write', 600);
    expect(t.has('/t/0/x')).toBe(true);
  });

  it('stays bounded, dropping cold leaves and never an ancestor of a kept directory', () => {
    const t = new PopularityTable('/', { capacity: 16, halfLifeMs: 1_000 });
    // A hot directory, then many cold ones (each one hit once, later: fresher but colder).
    for (let i = 0; i < 50; i++) t.hit('/hot/dir', 'read', i);
    for (let i = 0; i < 200; i++) t.hit(`/cold${i % 40}/d${i}`, 'write', 100 + i);
    expect(t.size).toBeLessThanOrEqual(16);
    expect(t.has('/hot/dir')).toBe(true);
    expect(t.has('/hot')).toBe(true);
    expect(t.has('/')).toBe(true);
    // Every kept directory's ancestors are kept too.
    const now = 400;
    for (const d of t.top(100, now)) {
      for (let p = d.path; p !== '/'; p = p.slice(0, p.lastIndexOf('/')) || '/') expect(t.has(p)).toBe(true);
    }
    // /hot and /hot/dir count the same: the deeper one says more.
    expect(t.top(3, now).map((d) => d.path).slice(0, 2)).toEqual(['/hot/dir', '/hot']);
  });

  it('decays each directory as a DecayingCounter would, also over many half-lives (counters rebased)', () => {
    const t = new PopularityTable('/', { halfLifeMs: 1_000 });
    const ref = new Map<string, DecayingCounter>();
    // 20 minutes of hits (1,200 half-lives: the table rebases its scale many times), bursts
    // and long silences, in two directories and their parent.
    let now = 0;
    for (let i = 0; i < 3_000; i++) {
      now += i % 500 === 0 ? 120_000 : (i * 7919) % 97;
      const dir = i % 3 === 0 ? '/p/a' : '/p/b';
      t.hit(dir, 'write', now);
      for (const d of [dir, '/p']) {
        if (!ref.has(d)) ref.set(d, DecayingCounter.withHalfLife(1_000));
        ref.get(d)!.hit(now);
      }
      if (i % 250 === 0 || i === 2_999) {
        for (const row of t.top(10, now + 50)) {
          const want = ref.get(row.path)!.perSecond(now + 50);
          expect(Math.abs(row.writesPerSec - want)).toBeLessThanOrEqual(1e-9 * want);
          expect(row.readsPerSec).toBe(0);
        }
      }
    }
    expect(t.top(10, now).map((d) => d.path).sort()).toEqual(['/p', '/p/a', '/p/b']);
  });
});

describe('PopularityTable and what a hostile client sends', () => {
  it('malformed paths (counted before the namespace checks them) end, and count in no directory', () => {
    for (const subtree of ['/', '/a']) {
      const t = new PopularityTable(subtree);
      for (const p of ['', 'a', '//', '/a//b', '/a/', '/a/./b', '/a/../b', 'a/b']) t.hit(p, 'write', 0);
      expect(t.size, subtree).toBe(0);
    }
  });
});

describe('utilisation and mergeHot', () => {
  it('takes CPU from two busy readings', () => {
    expect(utilisation({ activeMs: 100, idleMs: 100 }, { activeMs: 190, idleMs: 110 })).toBeCloseTo(0.9, 9);
    expect(utilisation({ activeMs: 5, idleMs: 5 }, { activeMs: 5, idleMs: 5 })).toBe(0);
  });

  it('sums members per directory, hottest first', () => {
    const m = mergeHot(
      [
        [{ path: '/a', readsPerSec: 10, writesPerSec: 1 }],
        [
          { path: '/a', readsPerSec: 5, writesPerSec: 0 },
          { path: '/b', readsPerSec: 12, writesPerSec: 0 },
        ],
      ],
      1,
    );
    expect(m).toEqual([{ path: '/a', readsPerSec: 15, writesPerSec: 1 }]);
  });
});
