// Equation 7 of the thesis (3.4, "Load balancing", "Trade off") and its measured σ
// (src/actors/clerk-count.ts), then how the read balancer uses it (src/actors/balancer.ts).

import { describe, expect, it } from 'vitest';
import { clerkCount, equation7, SigmaMeter } from '../../src/actors/clerk-count.js';
import { planBalance, type MinistryLoad } from '../../src/actors/balancer.js';
import type { MinistryRecord } from '../../src/actors/cluster-state.js';

describe('equation 7', () => {
  // "We can model the read and write capacity of a single group as: r = n_c (1), w = 1 − σ * n_c
  // (2). Here n_c is the number of clerks in the group, and σ the communication overhead added
  // by an extra clerk." "δ = w − W (3), δ = r − R (4)" "n_c = (R − W + 1)/(1 + σ) (7)"
  it('leaves equal spare read and write capacity, as equations 3 and 4 ask', () => {
    for (const [R, W, sigma] of [
      [2, 0.3, 0.05],
      [7.5, 0.9, 0.01],
      [0.4, 0, 0],
    ] as const) {
      const nc = equation7(R, W, sigma);
      const r = nc;
      const w = 1 - sigma * nc;
      expect(r - R).toBeCloseTo(w - W, 12);
    }
  });

  // "From this I draw two conclusions, any spare capacity for writing is at a cost of spare
  // reading capacity. The number of clerks roughly the read load."
  it('wants roughly the read load in clerks, fewer the more the writes and σ take', () => {
    expect(equation7(5, 0, 0)).toBe(6);
    expect(equation7(5, 0.5, 0)).toBeLessThan(6);
    expect(equation7(5, 0.5, 0.1)).toBeLessThan(equation7(5, 0.5, 0));
  });
});

describe('σ measured from the ministers’ load reports', () => {
  // A write costs the minister 2 ms, plus 0.5 ms per clerk it replicates to; a read it serves 1 ms.
  const cpu = (clerks: number, writes: number, reads = 0): number => writes * (0.002 + 0.0005 * clerks) + reads * 0.001;

  it('fits the cost per write and per write and clerk from ministries of two sizes', () => {
    const meter = new SigmaMeter();
    for (const [clerks, writes, reads] of [
      [2, 100, 0],
      [2, 150, 20],
      [4, 80, 10],
      [4, 120, 0],
      [3, 60, 5],
    ] as const) {
      meter.add({ clerks, writesPerSec: writes, readsPerSec: reads, cpu: cpu(clerks, writes, reads) });
    }
    const c = meter.costs()!;
    expect(c.perWrite).toBeCloseTo(0.002, 6);
    expect(c.perWritePerClerk).toBeCloseTo(0.0005, 6);
    expect(c.perRead).toBeCloseTo(0.001, 6);
    expect(c.sizes).toEqual([2, 3, 4]);
    // σ at 200 writes/s: 0.1 of the minister per clerk; W: 0.4.
    const n = clerkCount({ R: 3.8, ministerCpu: cpu(4, 200), writesPerSec: 200, ministerReadsPerSec: 0, clerks: 4, minClerks: 2, costs: c });
    expect(n.sigma).toBeCloseTo(0.1, 6);
    expect(n.W).toBeCloseTo(0.4, 6);
    expect(n.nc).toBeCloseTo((3.8 - 0.4 + 1) / 1.1, 6);
    expect(n.clerks).toBe(4);
    expect(n.measured).toBe(true);
    expect(n.text).toMatch(/^equation 7: n_c = \(R − W \+ 1\)\/\(1 \+ σ\) = \(3\.80 − 0\.40 \+ 1\)\/\(1 \+ 0\.100\) = 4\.00 → 4 clerks; σ 0\.100 measured \(0\.500 ms of minister CPU per write per clerk at 200\.0 writes\/s, fitted on 5 reports from ministries of 2, 3, 4 clerks\)/);
  });

  it('does not guess σ from one ministry size: takes it as 0 and says so', () => {
    const meter = new SigmaMeter();
    for (const w of [50, 100, 150]) meter.add({ clerks: 2, writesPerSec: w, readsPerSec: 0, cpu: cpu(2, w) });
    const c = meter.costs()!;
    expect(c.perWritePerClerk).toBeNull();
    // The combined cost per write at that size is still measured.
    expect(c.perWrite).toBeCloseTo(0.003, 6);
    const n = clerkCount({ R: 1.9, ministerCpu: 0.3, writesPerSec: 100, ministerReadsPerSec: 0, clerks: 2, minClerks: 2, costs: c });
    expect(n).toMatchObject({ sigma: 0, measured: false });
    expect(n.W).toBeCloseTo(0.3, 6);
    expect(n.text).toMatch(/σ taken as 0 \(not measured yet: reports from ministries of 2 clerks only, it needs two sizes\)/);
  });

  it('ignores reports without writes (they tell nothing of a write’s cost) and nonsense', () => {
    const meter = new SigmaMeter();
    meter.add({ clerks: 2, writesPerSec: 0, readsPerSec: 10, cpu: 0.01 });
    meter.add({ clerks: 2, writesPerSec: Number.NaN, readsPerSec: 0, cpu: 0.5 });
    meter.add({ clerks: 2, writesPerSec: 10, readsPerSec: 0, cpu: -1 });
    expect(meter.costs()).toBeNull();
  });
});

describe('the read balancer sizes ministries by equation 7', () => {
  const rec = (id: string, clerks: number): MinistryRecord => ({ id, subtree: `/${id}`, minister: `${id}-m`, clerks: Array.from({ length: clerks }, (_, i) => `${id}-c${i}`), term: 1, down: false, clerksWanted: clerks, fenced: false });
  const load = (clerkCpu: number, ministerCpu: number): MinistryLoad => ({ clerkCpu, ministerCpu, cpu: clerkCpu, readsPerSec: 100, writesPerSec: 10, ministerWritesPerSec: 10, hot: [] });

  // "A ministries read load is low if it could lose a clerk without average clerk CPU
  // utilization rising above 85%": the threshold says when; equation 7 how far.
  it('shrinks by the 85% rule only down to n_c', () => {
    const m = rec('a', 4);
    // 4 clerks at 60% (R = 2.4): 3 would be at 80%, and n_c = (2.4 − 0.1 + 1)/1 = 3.3 → 3.
    const shrink = planBalance({ ministries: [m], loads: new Map([['a', load(0.6, 0.1)]]), idle: [], judgeable: () => true });
    expect(shrink.steps).toMatchObject([{ kind: 'shrink', clerk: 'a-c3' }]);
    expect(shrink.notes[0]).toMatch(/shrink \(equation 7: .* = 3\.30 → 3 clerks/);
    // 3 clerks at 56% (R = 1.68): 2 would be at 84%, but n_c = 2.68 → 3: it keeps them.
    const keep = planBalance({ ministries: [rec('b', 3)], loads: new Map([['b', load(0.56, 0)]]), idle: [], judgeable: () => true });
    expect(keep.steps).toEqual([]);
    expect(keep.notes[0]).toMatch(/could lose a clerk at 84%, but keeps 3: equation 7: .* = 2\.68 → 3 clerks/);
  });

  it('says in the grow step how many clerks equation 7 wants', () => {
    const p = planBalance({ ministries: [rec('h', 2)], loads: new Map([['h', load(0.99, 0.05)]]), idle: ['n9'], judgeable: () => true });
    expect(p.steps).toMatchObject([{ kind: 'grow', node: 'n9', count: { clerks: 3 } }]);
    expect(p.steps[0]!.why).toMatch(/idle n9 joins as clerk 3 of the 3 wanted \(equation 7: n_c = .* = 2\.93 → 3 clerks/);
  });

  it('frees no clerk (Figure 11) from a ministry that equation 7 says needs it', () => {
    const hot = rec('h', 2);
    const donor = rec('d', 3);
    // The donor at 60% could give a clerk (2 at 90%, under 95%), but n_c = (1.8 + 1)/1 = 2.8 → 3.
    const p = planBalance({ ministries: [hot, donor], loads: new Map([['h', load(0.99, 0)], ['d', load(0.6, 0)]]), idle: [], judgeable: () => true });
    expect(p.queued).toEqual(['h']);
    expect(p.steps).toEqual([]);
    // At 30% (n_c = 1.9 → 2) it gives one.
    const q = planBalance({ ministries: [hot, donor], loads: new Map([['h', load(0.99, 0)], ['d', load(0.3, 0)]]), idle: [], judgeable: () => true });
    expect(q.steps).toMatchObject([{ kind: 'free', ministry: { id: 'd' }, for: 'h' }]);
  });
});
