import { describe, expect, it } from 'vitest';
import { IntTable } from '../../src/runtime/int-table.js';
import { SeededRandom } from '../../src/runtime/random.js';

/** IntTable's free slot (src/runtime/int-table.ts). */
const EMPTY_SLOT = -1;

describe('IntTable', () => {
  it('agrees with a Map under random sets, gets and deletes (collisions, wrap-around, growth)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = new SeededRandom(seed);
      const t = new IntTable<string>(8);
      const m = new Map<number, string>();
      // Keys clustered like correlation ids (mostly increasing), plus some that collide on
      // purpose (multiples of the capacity) and some far away.
      let next = rnd.int(0, 1000);
      for (let step = 0; step < 4000; step++) {
        const r = rnd.next();
        if (r < 0.45) {
          const key = rnd.next() < 0.2 ? rnd.int(0, 16) * 64 : rnd.next() < 0.1 ? rnd.int(0, 2 ** 40) : next++;
          t.set(key, `v${step}`);
          m.set(key, `v${step}`);
        } else if (r < 0.85) {
          const keys = [...m.keys()];
          const key = keys.length > 0 && rnd.next() < 0.9 ? keys[rnd.int(0, keys.length - 1)]! : rnd.int(0, 5000);
          expect(t.delete(key)).toBe(m.delete(key));
        } else {
          const key = rnd.int(0, next + 10);
          expect(t.get(key)).toBe(m.get(key));
        }
        expect(t.size).toBe(m.size);
      }
      for (const [k, v] of m) expect(t.get(k)).toBe(v);
      expect(t.keyList().sort((a, b) => a - b)).toEqual([...m.keys()].sort((a, b) => a - b));
      t.clear();
      expect(t.size).toBe(0);
      for (const k of m.keys()) expect(t.get(k)).toBeUndefined();
    }
  });

  it('keeps a probe run that wraps past the end of the table findable after a delete', () => {
    // Capacity 16: every key here starts probing at slot 14 (the table's hash: the top 4 bits
    // of key * 0x9e3779b1), so they fill 14, 15, 0, 1.
    const t = new IntTable<number>(16);
    const keys = [16, 29, 50, 63];
    for (const k of keys) expect(Math.imul(k, 0x9e3779b1) >>> 28).toBe(14);
    for (const k of keys) t.set(k, k);
    expect(t.delete(50)).toBe(true);
    expect(t.get(63)).toBe(63);
    expect(t.delete(16)).toBe(true);
    expect([t.get(29), t.get(63), t.get(50), t.get(16)]).toEqual([29, 63, undefined, undefined]);
  });

  it('deleteRange drops exactly the keys in (above, upTo], stepping or scanning', () => {
    for (const [above, upTo] of [[10, 12], [0, 1_000_000], [15, 14], [2 ** 40, 2 ** 41]] as const) {
      const t = new IntTable<number>();
      const keys = [3, 10, 11, 12, 13, 40, 2 ** 40 + 5];
      for (const k of keys) t.set(k, k);
      t.deleteRange(above, upTo);
      expect(t.keyList().sort((a, b) => a - b)).toEqual(keys.filter((k) => !(k > above && k <= upTo)));
    }
  });

  it('keeps probe runs short for consecutive keys taken out in the order they came (a queue of log indexes)', () => {
    // With a key's low bits as its slot, 3,000 such keys formed one probe run that every
    // delete walked to its end (~17 us a delete); hashed, runs stay a few slots long. Counted
    // in slots, not timed: the run's length is what every get, set and delete pays.
    const t = new IntTable<number>();
    let next = 1;
    for (; next <= 3_000; next++) t.set(next, next);
    let deleted = 0;
    for (let i = 0; i < 20_000; i++) {
      if (t.delete(next - 3_000)) deleted++;
      t.set(next, next);
      next++;
    }
    expect(deleted).toBe(20_000);
    expect(t.size).toBe(3_000);
    const slots = (t as unknown as { keys: number[] }).keys;
    let longest = 0;
    for (let i = 0, run = 0; i < 2 * slots.length; i++) {
      run = slots[i % slots.length] === EMPTY_SLOT ? 0 : run + 1;
      longest = Math.max(longest, Math.min(run, slots.length));
    }
    expect(longest).toBeGreaterThan(1);
    expect(longest).toBeLessThan(100);
  });

  it('refuses keys it cannot hash', () => {
    const t = new IntTable<number>();
    expect(() => t.set(-1, 1)).toThrow(RangeError);
    expect(() => t.set(1.5, 1)).toThrow(RangeError);
  });
});
