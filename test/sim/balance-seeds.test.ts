// Read balancing over a few seeds (issue 16): a hot ministry grows from the idle pool and with
// clerks freed from the cold one, which never drops below a minister and two clerks, under
// crashes and partitions, with the per-step invariants and linearizability of cluster.sim.ts;
// then write balancing (write-balance.ts): splits and merges by live migration under faults.
// More seeds: npm run sim -- balance --seeds 200

import { describe, expect, it } from 'vitest';
import { runSeed } from './balance.sim.js';

const SEEDS = Number(process.env.GOVFS_BALANCE_SEEDS ?? 3);

describe('randomized balancing simulation', () => {
  it(`grows the hot ministry, shrinks the cold one, splits and merges, and keeps the invariants over ${SEEDS} seeds`, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runSeed(seed, { verbose: false });
      if (!r.ok) failures.push(`seed ${seed}: ${r.error} (replay: npm run sim -- balance --seed ${seed} --verbose)`);
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
