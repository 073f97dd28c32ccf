// Shared pieces of the multi-seed scenario suites.

import { expect } from 'vitest';
import type { Sim } from './harness.js';

export const seeds = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

/** Faults off, everyone back: the cluster must commit again and every node must apply the
 * same log. Returns the last committed value. */
export function converge(sim: Sim, group?: string, members?: string[]): string {
  sim.heal();
  sim.drop = 0;
  sim.duplicate = 0;
  sim.crashMidReady = 0;
  for (const id of sim.nodes.keys()) sim.restart(id);
  const ups = sim
    .upIds()
    .filter((id) => (group === undefined || sim.core(id).softState().group === group) && (members === undefined || members.includes(id)));
  const v = sim.proposeAndWait(ups.length, 20_000, group);
  const idx = sim.appliedIndex(v, group)!;
  const applied = (): number[] => ups.map((id) => sim.node(id).sm.applied);
  const done = sim.runUntil(() => applied().every((a) => a >= idx && a === applied()[0]), 5000);
  expect(done, `all nodes apply the same prefix, at least up to ${idx} (seed ${sim.opts.seed})`).toBe(true);
  const hashes = new Set(ups.map((id) => sim.node(id).sm.hash));
  sim.checkLogMatching();
  expect(hashes.size, `same state machine everywhere (seed ${sim.opts.seed})`).toBe(1);
  return v;
}

/** Terms of the nodes that are up. */
export function terms(sim: Sim): number[] {
  return sim.upIds().map((id) => sim.core(id).softState().term);
}
