import { describe, expect, it } from 'vitest';
import { Sim } from './harness.js';

describe('smoke', () => {
  it('elects and commits', () => {
    const sim = new Sim({ seed: 1, ids: ['a', 'b', 'c'] });
    const l = sim.waitStableLeader();
    expect(l).toBeDefined();
    const v = sim.proposeAndWait(3);
    expect(sim.appliedCount(v)).toBe(3);
  });
});
