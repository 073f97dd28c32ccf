import { describe, expect, it } from 'vitest';
import { msToNs, nsToMs, nsToPair } from '../../src/fs/access.js';

// The time conversions keep their last answer (a create converts one `now` several times):
// an answer kept must never be given for another value.

describe('time conversions with their last answer kept', () => {
  it('msToNs then nsToMs gives the same milliseconds, whole or not, in any order', () => {
    const values = [1_733_000_000_000, 1_733_000_000_000.5, 0, -1_500, -1_500.25, 1_733_000_000_001, 1_733_000_000_000];
    for (const ms of values) {
      const ns = msToNs(ms);
      const whole = Math.floor(ms);
      expect(ns).toBe(BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6)));
      expect(nsToMs(ns)).toBe(ms + 0);
      // Another value in between must not be answered from what msToNs kept.
      expect(nsToMs(ns + 1_000_000n)).toBe(ms + 1);
      expect(nsToMs(ns)).toBe(ms + 0);
    }
    expect(Object.is(nsToMs(msToNs(-0)), 0)).toBe(true);
  });

  it('nsToPair answers each value, the repeated one from its kept pair', () => {
    const a = 1_733_000_000_123_456_789n;
    const b = -1n;
    expect(nsToPair(a)).toEqual({ sec: 1_733_000_000, nsec: 123_456_789 });
    expect(nsToPair(a)).toBe(nsToPair(a));
    expect(nsToPair(b)).toEqual({ sec: -1, nsec: 999_999_999 });
    expect(nsToPair(a)).toEqual({ sec: 1_733_000_000, nsec: 123_456_789 });
    expect(Object.isFrozen(nsToPair(a))).toBe(true);
  });
});
