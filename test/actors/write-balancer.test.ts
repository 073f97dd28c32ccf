import { describe, expect, it } from 'vitest';
import type { MinistryRecord } from '../../src/actors/cluster-state.js';
import type { MinistryLoad } from '../../src/actors/balancer.js';
import { concurrency, meanCpu, planWrites, type WriteBalanceInput } from '../../src/actors/write-balancer.js';

const rec = (id: string, subtree: string): MinistryRecord => ({ id, subtree, minister: `${id}-a`, clerks: [`${id}-b`, `${id}-c`], term: 1, down: false, clerksWanted: 2, fenced: false });
const load = (ministerCpu: number, writesPerSec: number, hot: [string, number][] = []): MinistryLoad => ({
  clerkCpu: 0.5, ministerCpu, cpu: 0.5, readsPerSec: 10, writesPerSec, hot: hot.map(([path, w]) => ({ path, readsPerSec: 0, writesPerSec: w })),
});

const root = rec('m0', '/');
const child = rec('m1', '/h');

function input(over: Partial<WriteBalanceInput>): WriteBalanceInput {
  return { ministries: [root, child], loads: new Map(), idle: 3, minClerks: 2, judgeable: () => true, age: () => 10_000, parentOf: (m) => (m.id === 'm1' ? root : null), statics: [], migrating: 0, ...over };
}

describe('write balancing', () => {
  it('splits the directory nearest half of a saturated minister’s writes', () => {
    const loads = new Map([['m0', load(0.97, 100, [['/a', 90], ['/b', 45], ['/b/x', 30], ['/c', 10]])]]);
    const p = planWrites(input({ ministries: [root], loads }));
    expect(p.steps).toEqual([{ kind: 'split', ministry: root, subtree: '/b', clerks: 2, why: expect.stringMatching(/m0 \(\/\) minister CPU 97% passes 90% at 100.0 writes\/s: \/b carries 45% of the writes/) }]);
  });

  // Equation 7 sizes the ministry split off: "The number of clerks roughly the read load."
  it('gives the ministry split off as many clerks as equation 7 wants for its share of the reads, as far as idle nodes allow', () => {
    // Three clerks at 100% (R = 3), /b takes 90% of the reads and half the writes: R ≈ 2.7.
    const busy: MinistryLoad = { clerkCpu: 1, ministerCpu: 0.97, cpu: 1, readsPerSec: 300, writesPerSec: 100, hot: [{ path: '/b', readsPerSec: 270, writesPerSec: 50 }] };
    const three = { ...root, clerks: ['c1', 'c2', 'c3'] };
    const p = planWrites(input({ ministries: [three], idle: 8, loads: new Map([['m0', busy]]) }));
    expect(p.steps[0]).toMatchObject({ kind: 'split', subtree: '/b', clerks: 3 });
    expect(p.steps[0]!.why).toMatch(/new ministry of 3 clerks \(equation 7: n_c = \(R − W \+ 1\)\/\(1 \+ σ\) = \(2\.70 − 0\.48 \+ 1\)/);
    // With four idle nodes: a minister and three clerks at most.
    expect(planWrites(input({ ministries: [three], idle: 3, loads: new Map([['m0', busy]]) })).steps[0]).toMatchObject({ clerks: 2 });
  });

  it('does not split when the writes are all in one directory, nor without the idle nodes a ministry needs, nor under the threshold', () => {
    expect(planWrites(input({ ministries: [root], loads: new Map([['m0', load(0.97, 100, [['/a', 95]])]]) }))).toMatchObject({ steps: [], notes: [expect.stringMatching(/move the hot spot, not spread it/)] });
    expect(planWrites(input({ ministries: [root], idle: 2, loads: new Map([['m0', load(0.97, 100, [['/b', 50]])]]) }))).toMatchObject({ steps: [], notes: [expect.stringMatching(/2 idle nodes are fewer than a minister and 2 clerks/)] });
    expect(planWrites(input({ ministries: [root], loads: new Map([['m0', load(0.8, 100, [['/b', 50]])]]) })).steps).toEqual([]);
    expect(planWrites(input({ ministries: [root], loads: new Map([['m0', load(0.97, 2, [['/b', 1]])]]) })).steps).toEqual([]);
  });

  it('merges a cold split-off ministry back while its parent stays well below the threshold; never a static one or the root', () => {
    const loads = new Map([['m0', load(0.2, 5)], ['m1', load(0.05, 0.5)]]);
    expect(planWrites(input({ loads })).steps).toEqual([{ kind: 'merge', ministry: child, into: root, why: expect.stringMatching(/m1 \(\/h\) is cold .*merged back into m0/) }]);
    expect(planWrites(input({ loads, statics: ['/h'] })).steps).toEqual([]);
    expect(planWrites(input({ loads: new Map([['m0', load(0.44, 5)], ['m1', load(0.05, 0.5)]]) })).steps).toEqual([]);
    expect(planWrites(input({ loads, judgeable: (m) => m.id !== 'm0' })).steps).toEqual([]);
    // Not before it has served long enough for its load counters to say it is cold.
    expect(planWrites(input({ loads, age: () => 1_000 })).steps).toEqual([]);
  });

  // "If no existing group can handle the work the president will try to create a new group":
  // with no idle nodes for it, a cold split-off ministry gives its nodes back first.
  it('merges a cold ministry back into a busy parent when a split waits for nodes', () => {
    const other = rec('m2', '/k');
    const loads = new Map([['m0', load(0.97, 100, [['/b', 50]])], ['m1', load(0.05, 0.5)], ['m2', load(0.1, 0.5)]]);
    const p = planWrites(input({ ministries: [root, child, other], idle: 0, loads, parentOf: (m) => (m.id === 'm0' ? null : root) }));
    // The coldest first; the split itself waits for the nodes.
    expect(p.steps.map((x) => [x.kind, x.ministry.id])).toEqual([
      ['merge', 'm1'],
      ['merge', 'm2'],
    ]);
    expect(p.steps[0]!.why).toMatch(/its nodes go idle for the split that waits for nodes \(\/b off m0\)/);
    // With the nodes there, no merge into the busy parent.
    expect(planWrites(input({ ministries: [root, child, other], idle: 3, loads, parentOf: (m) => (m.id === 'm0' ? null : root) })).steps.map((x) => x.kind)).toEqual(['split']);
  });

  it('starts nothing while a migration is in progress', () => {
    expect(planWrites(input({ migrating: 1, loads: new Map([['m0', load(0.97, 100, [['/b', 50]])]]) })).steps).toEqual([]);
    // Unless more may run at once.
    expect(planWrites(input({ migrating: 1, options: { concurrent: 2 }, loads: new Map([['m0', load(0.97, 100, [['/b', 50]])]]) })).steps).toHaveLength(1);
  });

  it('splits a busy minister below the saturation threshold while idle nodes could staff two new ministries', () => {
    const busy = new Map([['m0', load(0.7, 100, [['/b', 50]])]]);
    expect(planWrites(input({ ministries: [root], idle: 5, loads: busy })).steps).toEqual([]);
    const p = planWrites(input({ ministries: [root], idle: 6, loads: busy }));
    expect(p.steps[0]).toMatchObject({ kind: 'split', subtree: '/b', why: expect.stringMatching(/minister CPU 70% passes 60% \(6 nodes idle\)/) });
    expect(planWrites(input({ ministries: [root], idle: 6, loads: new Map([['m0', load(0.55, 100, [['/b', 50]])]]) })).steps).toEqual([]);
  });

  it('runs more migrations at once while idle nodes could staff two new ministries per migration', () => {
    const hot = new Map([['m0', load(0.97, 100, [['/b', 50]])]]);
    // 11 idle nodes: one migration (12 would staff 4 ministries of a minister and 2 clerks).
    expect(planWrites(input({ migrating: 1, idle: 11, loads: hot })).steps).toEqual([]);
    expect(planWrites(input({ migrating: 1, idle: 12, loads: hot })).steps).toHaveLength(1);
    expect(concurrency(1, 90, 2)).toBe(15);
    expect(concurrency(4, 6, 2)).toBe(4);
  });

  // bench balance, 10 nodes: / split /t/0 off and both halves saturated; a third ministry from
  // the last three idle nodes could only halve one of them, and clients spread over the tree
  // wait on the other (a binary tree in three ministries leaves one with half the load).
  it('with splitOnlyIfPeakFalls, splits no minister while more are saturated than the idle nodes can split', () => {
    const loads = new Map([['m0', load(0.97, 60, [['/b', 30]])], ['m1', load(0.95, 60, [['/h/x', 30]])]]);
    const on = { splitOnlyIfPeakFalls: true };
    // Without the option, each wants its split (the president orders the first).
    expect(planWrites(input({ loads })).steps.map((x) => x.ministry.id)).toEqual(['m0', 'm1']);
    const held = planWrites(input({ loads, options: on }));
    expect(held.steps).toEqual([]);
    expect(held.notes).toContainEqual(expect.stringMatching(/2 ministers pass 72% \(near 90%\) or have not reported long enough \(m0, m1\), and 3 idle nodes can split 1 of them/));
    // Idle nodes for two more ministries: no hold (three saturated, six idle; the busiest first).
    const three = new Map([...loads, ['m2', load(0.97, 60, [['/k/x', 30]])]]);
    expect(planWrites(input({ ministries: [root, child, rec('m2', '/k')], loads: three, idle: 6, options: { ...on, splitWhenIdleAbove: 0.9 } })).steps.map((x) => x.ministry.id)).toEqual(['m0', 'm2', 'm1']);
    // One saturated (the other well below the threshold): it alone is the peak, and splits.
    const one = new Map([['m0', load(0.97, 60, [['/b', 30]])], ['m1', load(0.7, 30, [['/h/x', 15]])]]);
    expect(planWrites(input({ loads: one, options: on })).steps.map((x) => x.ministry.id)).toEqual(['m0']);
    // Its minister's recent mean counts, not one low reading; and 80% of splitAbove, not of
    // the lower threshold idle nodes put in force.
    const noisy = new Map([['m0', load(0.97, 60, [['/b', 30]])], ['m1', { ...load(0.7, 60, [['/h/x', 30]]), ministerCpuRecent: 0.98 }]]);
    expect(planWrites(input({ loads: noisy, options: on })).steps).toEqual([]);
    // One the planner would split now counts, whatever its mean (it ramped up from 0%).
    const ramped = new Map([['m0', load(0.97, 60, [['/b', 30]])], ['m1', { ...load(0.95, 60, [['/h/x', 30]]), ministerCpuRecent: 0.36 }]]);
    expect(planWrites(input({ loads: ramped, options: on })).steps).toEqual([]);
    const halfLoaded = new Map([['m0', load(0.97, 60, [['/b', 30]])], ['m1', load(0.55, 30, [['/h/x', 15]])]]);
    expect(planWrites(input({ loads: halfLoaded, idle: 3, options: { ...on, splitBusyAbove: 0.6 } })).steps.map((x) => x.ministry.id)).toEqual(['m0']);
    expect(meanCpu([{ cpu: 0.1 }, { cpu: 1 }, { cpu: 0.72 }, { cpu: 0.98 }])).toBeCloseTo(0.9);
    expect(meanCpu([{ cpu: 1 }, { cpu: 1 }])).toBeNull();
    // A ministry just split off, with too few samples (ramping up from 0%), counts as saturated.
    const young = new Map([['m0', load(0.97, 60, [['/b', 30]])], ['m1', { ...load(0.1, 5, [['/h/x', 2]]), ministerCpuRecent: null }]]);
    expect(planWrites(input({ loads: young, options: on, age: () => 500 })).steps).toEqual([]);
    // A ministry in a migration is not counted; one whose minister has not reported holds all.
    expect(planWrites(input({ loads, options: on, inMigration: (m) => m.id === 'm1', judgeable: (m) => m.id !== 'm1' })).steps.map((x) => x.ministry.id)).toEqual(['m0']);
    // One whose minister has not reported at all too.
    expect(planWrites(input({ loads: new Map([['m0', load(0.97, 60, [['/b', 30]])]]), options: on })).notes).toContainEqual(expect.stringMatching(/2 ministers pass 72% \(near 90%\) or have not reported long enough \(m0, m1\)/));
  });

  it('with splitOnlyIfPeakFalls holding, a cold ministry merges back to free nodes for the saturated ones', () => {
    const other = rec('m2', '/k');
    const loads = new Map([['m0', load(0.97, 60, [['/b', 30]])], ['m2', load(0.95, 60, [['/k/x', 30]])], ['m1', load(0.05, 0.5)]]);
    const p = planWrites(input({ ministries: [root, child, other], loads, options: { splitOnlyIfPeakFalls: true }, parentOf: (m) => (m.id === 'm0' ? null : root) }));
    expect(p.steps.map((x) => [x.kind, x.ministry.id])).toEqual([['merge', 'm1']]);
  });

  it('with splitBusyAbove, splits a minister above it whenever the idle nodes staff a new ministry, and merges back only below half of it', () => {
    const busy = new Map([['m0', load(0.35, 40, [['/b', 20]])]]);
    expect(planWrites(input({ ministries: [root], loads: busy })).steps).toEqual([]);
    const p = planWrites(input({ ministries: [root], loads: busy, options: { splitBusyAbove: 0.3 } }));
    expect(p.steps[0]).toMatchObject({ kind: 'split', subtree: '/b', why: expect.stringMatching(/minister CPU 35% passes 30% \(3 nodes idle\)/) });
    expect(planWrites(input({ ministries: [root], idle: 2, loads: busy, options: { splitBusyAbove: 0.3 } })).steps).toEqual([]);
    // Two halves of a split at 30%: merged back they would pass it again, so they stay (with
    // no node idle the threshold in force is 90%, and its half, 45%, would have merged them).
    const halves = new Map([['m0', load(0.16, 20)], ['m1', load(0.15, 20)]]);
    expect(planWrites(input({ idle: 0, loads: halves, options: { splitBusyAbove: 0.3 } })).steps).toEqual([]);
    expect(planWrites(input({ idle: 0, loads: halves })).steps.map((x) => x.kind)).toEqual(['merge']);
  });

  // Figure 11 for a latency-aware split: with no node idle, a cold ministry gives its nodes
  // back to a minister above splitBusyAbove (else the busy one stays there for good).
  it('with splitBusyAbove and no idle node, merges a cold ministry back for a minister above it, but none that carries as much as the split would move', () => {
    const o = { splitBusyAbove: 0.35 };
    const cold = new Map([['m0', { ...load(0.75, 100, [['/b', 50]]), ministerCpuRecent: 0.76 }], ['m1', { ...load(0, 0), ministerCpuRecent: 0 }]]);
    const p = planWrites(input({ idle: 0, loads: cold, options: o }));
    expect(p.steps).toEqual([{ kind: 'merge', ministry: child, into: root, why: expect.stringMatching(/merged back into m0 .*for the split that waits for nodes \(\/b off m0\)/) }]);
    expect(p.notes).toEqual([expect.stringMatching(/m0 \(\/\) minister CPU 76% \(mean of its last 3 samples\) passes 35% .*but 0 idle nodes are fewer/)]);
    // Without the option: 76% is below the thresholds in force, nothing to do.
    expect(planWrites(input({ idle: 0, loads: cold })).steps).toEqual([]);
    // A child carrying as much as the split would move (half of 76%) stays: merging it back
    // for the split would only hand the load round.
    const warm = new Map([['m0', { ...load(0.75, 100, [['/b', 50]]), ministerCpuRecent: 0.76 }], ['m1', { ...load(0.4, 5), ministerCpuRecent: 0.4 }]]);
    expect(planWrites(input({ idle: 0, loads: warm, options: { splitBusyAbove: 0.35, mergeBelow: 0.5 } })).steps).toEqual([]);
    const cool = new Map([['m0', { ...load(0.75, 100, [['/b', 50]]), ministerCpuRecent: 0.76 }], ['m1', { ...load(0.19, 5), ministerCpuRecent: 0.19 }]]);
    expect(planWrites(input({ idle: 0, loads: cool, options: o })).steps.map((x) => x.kind)).toEqual(['merge']);
  });

  it('puts the busiest minister’s split first (the president takes the first step)', () => {
    const other = rec('m2', '/k');
    const loads = new Map([['m0', { ...load(0.5, 40, [['/b', 20]]), ministerCpuRecent: 0.5 }], ['m2', load(1, 60, [['/k/x', 30]])]]);
    const p = planWrites(input({ ministries: [root, other], loads, options: { splitBusyAbove: 0.45 } }));
    expect(p.steps.map((x) => [x.kind, x.ministry.id])).toEqual([['split', 'm2'], ['split', 'm0']]);
  });

  it('with splitBusyAbove, judges a minister by the mean of its last samples (one 250 ms sample is noisy), saturation by the latest', () => {
    const o = { splitBusyAbove: 0.3 };
    const noisy = new Map([['m0', { ...load(0.35, 40, [['/b', 20]]), ministerCpuRecent: 0.15 }]]);
    expect(planWrites(input({ ministries: [root], loads: noisy, options: o })).steps).toEqual([]);
    // Too few samples since the ministry last changed: not yet.
    expect(planWrites(input({ ministries: [root], loads: new Map([['m0', { ...load(0.35, 40, [['/b', 20]]), ministerCpuRecent: null }]]), options: o })).steps).toEqual([]);
    const steady = new Map([['m0', { ...load(0.25, 40, [['/b', 20]]), ministerCpuRecent: 0.32 }]]);
    expect(planWrites(input({ ministries: [root], loads: steady, options: o })).steps[0]).toMatchObject({ kind: 'split', why: expect.stringMatching(/minister CPU 32% \(mean of its last 3 samples\) passes 30% \(3 nodes idle\)/) });
    const saturated = new Map([['m0', { ...load(0.95, 40, [['/b', 20]]), ministerCpuRecent: 0.2 }]]);
    expect(planWrites(input({ ministries: [root], loads: saturated, options: o })).steps[0]).toMatchObject({ kind: 'split', why: expect.stringMatching(/minister CPU 95% passes 90%/) });
    // Merges too: a child whose last sample read 2% but whose mean is 14% stays.
    const pair = new Map([['m0', { ...load(0.02, 20), ministerCpuRecent: 0.14 }], ['m1', { ...load(0.02, 20), ministerCpuRecent: 0.14 }]]);
    expect(planWrites(input({ idle: 0, loads: pair, options: o })).steps).toEqual([]);
  });
});
