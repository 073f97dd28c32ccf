// Randomized lease runs over several seeds (issue 5): the no-conflict invariant holds on every
// step despite crashes, partitions (clients too) and clocks drifting within the bound.
// More seeds: npm run sim -- leases --seeds 200

import { describe, expect, it } from 'vitest';
import { runSeed } from './leases.sim.js';

const SEEDS = Number(process.env.GOVFS_LEASE_SEEDS ?? 8);

describe('randomized lease simulation', () => {
  it(`never lets two valid leases conflict, over ${SEEDS} seeds`, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runSeed(seed);
      if (!r.ok) failures.push(`seed ${seed}: ${r.error} (replay: npm run sim -- leases --seed ${seed})`);
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
