// Churn: random crashes (some mid-Ready), restarts, partitions, isolated leaders, leadership
// transfers, reads, lossy and duplicating links, compaction with chunked snapshots, and
// proposals throughout. Every third seed runs classic Raft (no pre-vote, no check-quorum);
// every tenth sends every message through protobuf. The harness checks the invariants after
// every event; at the end the cluster must converge to one state machine.

import { describe, it } from 'vitest';
import { Sim } from './harness.js';
import { converge, seeds } from './scenarios.js';

const ID5 = ['a', 'b', 'c', 'd', 'e'];

describe('churn', () => {
  it.each(seeds(200))('seed %i: crashes, restarts, partitions, transfers, reads, compaction and proposals', (seed) => {
    const sim = new Sim({
      seed,
      ids: ID5,
      drop: 0.05,
      duplicate: 0.05,
      latency: [1, 20],
      snapshotEvery: seed % 2 ? 7 : 0,
      crashMidReady: 0.002,
      config: { snapshotChunkSize: 8, maxInflight: 4, maxEntriesPerMsg: 5, ...(seed % 3 === 0 ? { preVote: false, checkQuorum: false } : {}) },
      wire: seed % 10 === 0,
    });
    const rng = sim.rng;
    for (let round = 0; round < 30; round++) {
      const r = rng.next();
      if (r < 0.2) sim.crash(rng.pick(ID5));
      else if (r < 0.4) for (const id of ID5) sim.restart(id);
      else if (r < 0.5) {
        const s = rng.shuffle([...ID5]);
        sim.partition(s.slice(0, 2), s.slice(2));
      } else if (r < 0.6) sim.heal();
      else if (r < 0.7) {
        const l = sim.leader();
        if (l) sim.isolate(l.id);
      }
      for (let k = 0; k < rng.int(0, 5); k++) sim.propose();
      sim.runFor(rng.int(50, 400));
    }
    converge(sim);
  });
});
