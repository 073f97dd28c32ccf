// CI's run of `npm run sim -- raft`: 200 randomized fault schedules (crashes, restarts,
// partitions, lossy network, concurrent clients; elected and appointed groups of 3 and 5),
// invariants checked after every simulation step. A failing seed replays with
// `npm run sim -- raft --seed N --verbose`.

import { describe, expect, it } from 'vitest';
import { runSeed } from './raft.sim.js';

// Sized by `npm run mutants -- --sim --seeds 120 raft-...`: the planted Raft bugs fail seeds
// 9 (truncating matching entries: a livelock, stopped by the step cap), 14 (a vote for a stale
// log) and 24 (acknowledging before fsync) first.
const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 200);

describe('npm run sim -- raft', () => {
  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i', async (seed) => {
    const r = await runSeed(seed, { verbose: false });
    expect(r.error ?? '', `replay: npm run sim -- raft --seed ${seed} --verbose`).toBe('');
    expect(r.ok).toBe(true);
  });
});
