// CI's run of `npm run sim -- raft`: 200 randomized fault schedules (crashes, restarts,
// partitions, lossy network, concurrent clients; elected and appointed groups of 3 and 5),
// invariants checked after every simulation step. A failing seed replays with
// `npm run sim -- raft --seed N --verbose`.

import { describe, expect, it } from 'vitest';
import { runSeed } from './raft.sim.js';

const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 200);

describe('npm run sim -- raft', () => {
  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i', async (seed) => {
    const r = await runSeed(seed, { verbose: false });
    expect(r.error ?? '', `replay: npm run sim -- raft --seed ${seed} --verbose`).toBe('');
    expect(r.ok).toBe(true);
  });
});
