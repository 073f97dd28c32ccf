// The lone-client benchmark's windows (bench/lone.ts): listings grouped by time, each window's
// p50 split by whether the client's thread and the worker last ran on one CPU.

import { describe, expect, it } from 'vitest';
import { loneWindows, type LoneSample } from '../../bench/lone.js';

describe('loneWindows', () => {
  it('groups listings by window in time order and splits each p50 by CPU placement', () => {
    const samples: LoneSample[] = [
      { t: 450, ms: 0.1, sameCpu: true },
      { t: 10, ms: 4, sameCpu: false },
      { t: 20, ms: 0.2, sameCpu: true },
      { t: 30, ms: 5, sameCpu: false },
      { t: 210, ms: 0.1, sameCpu: null },
    ];
    const w = loneWindows(samples, 200);
    expect(w.map((x) => [x.fromMs, x.n])).toEqual([[0, 3], [200, 1], [400, 1]]);
    expect(w[0]!.sameCpuShare).toBeCloseTo(1 / 3);
    expect(w[0]!.p50SameMs).toBe(0.2);
    expect(w[0]!.p50OtherMs).toBe(5);
    expect(w[0]!.p50Ms).toBe(4);
    // Placement unknown: no share, no split.
    expect(w[1]!.sameCpuShare).toBeNaN();
    expect(w[1]!.p50SameMs).toBeNaN();
    expect(w[2]!.sameCpuShare).toBe(1);
  });
});
