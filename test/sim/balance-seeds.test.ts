// Read balancing over a few seeds (issue 16): a hot ministry grows from the idle pool and with
// clerks freed from the cold one, which never drops below a minister and two clerks, under
// crashes and partitions, with the per-step invariants and linearizability of cluster.sim.ts;
// then write balancing (write-balance.ts): splits and merges by live migration under faults.
// More seeds: npm run sim -- balance --seeds 200

import { describe, expect, it } from 'vitest';
import { runBalance, runSeed } from './balance.sim.js';

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

// Seed 6 is one of the decoy seeds (balance.sim.ts, decoyMachines): the root clerk that goes idle
// first shares a one-core machine with a busy clerk of /hot, under the same faults.
describe('the spare-core rule in the randomized read-balancing simulation', () => {
  it('with the rule, /hot grows without the node on the busy machine and the plan says why; with the rule off, the check finds the grow onto it', async () => {
    const withRule = await runBalance(6);
    expect(withRule.decoy).not.toBeNull();
    expect(withRule.violations).toEqual([]);
    expect(withRule.decoy!.refusals).toBeGreaterThan(0);
    expect(withRule.decisions.some((d) => d.cause === 'readLoadHigh')).toBe(true);
    const without = await runBalance(6, { spareCores: 0 });
    expect(without.violations.join('\n')).toMatch(/grew onto n\d+ at \d+ ms, whose machine \(n\d+, n\d+, 1 core\) had less than 0\.45 of its cores idle/);
  }, 300_000);
});
