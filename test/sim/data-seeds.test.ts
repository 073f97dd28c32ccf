// Randomized data-plane runs over several seeds (issue 17): reads see the latest acknowledged
// write (or a later one) while chunk stores, ministers and the president crash and restart,
// clients are cut off past their leases and bits flip in stored chunks; every acknowledged
// write survives a node loss; re-replication restores three sound replicas of every chunk.
// More seeds: npm run sim -- data --seeds 200

import { describe, expect, it } from 'vitest';
import { runSeed } from './data.sim.js';

// About 10 s a seed on a loaded 2-core machine since the re-replication checks: 9 here, so the
// whole costs what 12 did before (npm run sim -- data --seeds 100 ran all 100 clean, 974 s).
const SEEDS = Number(process.env.GOVFS_DATA_SEEDS ?? 9);
/** Seeds that once failed, run every time: 10 (a writer with a stale layout took the minister's
 * "moved on" answer for a proposal and copied an old chunk over its replacement), 13 (a
 * replacement with no replica left to copy from wrote an empty chunk). */
const REGRESSIONS = [10, 13];

describe('randomized data-plane simulation', () => {
  it(`reads see the latest acknowledged write, over ${SEEDS} seeds and the regression seeds`, async () => {
    const failures: string[] = [];
    const seeds = [...new Set([...Array.from({ length: SEEDS }, (_, i) => i + 1), ...REGRESSIONS])];
    for (const seed of seeds) {
      // (The regression seeds were found with parallel writes: they run so; the others
      // alternate between the modes, see data.sim.ts.)
      const r = await runSeed(seed, REGRESSIONS.includes(seed) ? { replication: 'parallel' } : {});
      if (!r.ok) failures.push(`seed ${seed}: ${r.error} (replay: npm run sim -- data --seed ${seed} --verbose)`);
      if (failures.length > 0 && process.env.GOVFS_FAIL_FAST) break;
    }
    expect(failures).toEqual([]);
  }, 1_200_000);
});
