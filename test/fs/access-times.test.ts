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

  it('after msToNs, nsToMs and nsToPair of its answer equal the BigInt arithmetic (worked out in doubles there)', () => {
    const byBigInt = (ns: bigint) => {
      let sec = ns / 1_000_000_000n;
      let nsec = ns % 1_000_000_000n;
      if (nsec < 0n) {
        sec -= 1n;
        nsec += 1_000_000_000n;
      }
      return { ms: Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6, sec: Number(sec), nsec: Number(nsec) };
    };
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const values = [0, -0, 0.9999996, 999.9999999, 1_000, -1, -0.25, -1_000.5, -1_999.0000001, 1_733_000_000_000.125, 2 ** 52 + 0.5];
    for (let i = 0; i < 2_000; i++) values.push((rnd() - 0.3) * 4e12, Math.floor(rnd() * 4e12) + Math.floor(rnd() * 1e6) / 1e6, (rnd() - 0.5) * 2e6);
    for (const ms of values) {
      const ns = msToNs(ms);
      const want = byBigInt(ns);
      const pair = nsToPair(ns);
      expect([nsToMs(ns), pair.sec, pair.nsec]).toEqual([want.ms, want.sec, want.nsec]);
      expect(Object.is(pair.sec, -0)).toBe(false);
    }
  });

  it("recent conversions recalled (a minister's and its clerks' stamps of the same times, rounds apart) answer as the first time", () => {
    const byBigInt = (ms: number) => BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms - Math.floor(ms)) * 1e6));
    // A round of times as a minister stamps them, then the same again (each clerk), with
    // values between that share their slots (the same microseconds modulo the table) or not.
    const round = Array.from({ length: 300 }, (_, i) => 1_733_000_000_000 + i * 0.37);
    const between = [...round.map((ms) => ms + 512 / 1000), -1_500.25, 0.9999996, 2 ** 52 + 0.5];
    const first = round.map((ms) => [msToNs(ms), nsToMs(msToNs(ms)), nsToPair(msToNs(ms))] as const);
    for (const others of [[], between]) {
      for (const ms of others) expect(msToNs(ms)).toBe(byBigInt(ms));
      round.forEach((ms, i) => {
        const ns = msToNs(ms);
        expect(ns).toBe(first[i]![0]);
        expect(nsToMs(ns)).toBe(first[i]![1]);
        expect(nsToPair(ns)).toEqual(first[i]![2]);
        // What msToNs left for nsToMs and nsToPair is this time's, not the slot's last.
        expect(nsToMs(ns + 1_000_000n)).toBe(first[i]![1] + 1);
      });
    }
  });
});
