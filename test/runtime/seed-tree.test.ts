import { describe, expect, it } from 'vitest';
import { SeedTree, SeededRandom, hashString } from '../../src/runtime/random.js';

const draws = (r: SeededRandom, n = 8): number[] => Array.from({ length: n }, () => r.u32());

describe('SeedTree', () => {
  it('gives the streams the simulator, Cluster and the sims drew before the tree (no seed changes)', () => {
    for (const seed of [1, 7, 12345, 0xffffffff]) {
      const tree = new SeedTree(seed);
      const legacy: [string, number][] = [['sim', 1], ['net', 2], ['disk', 3], ['clients', 99], ['cluster-sim:workload', 77], ['cluster-sim:profile', 78], ['leases-sim:workload', 91], ['leases-sim:profile', 92]];
      for (const [label, stream] of legacy) expect(draws(tree.stream(label))).toEqual(draws(new SeededRandom(seed, stream)));
      // A host's actors were seeded with hashString(host, seed).
      expect(tree.child('n3').root).toBe(hashString('n3', seed));
    }
  });

  it('a stream depends only on the root and its label, not on other streams or their draws', () => {
    const a = new SeedTree(42);
    const first = draws(a.stream('test:new-consumer'));
    const b = new SeedTree(42);
    draws(b.stream('net'), 100);
    b.stream('other');
    expect(draws(b.stream('test:new-consumer'))).toEqual(first);
    // Different labels, roots and subtrees give different streams.
    expect(draws(a.stream('test:another'))).not.toEqual(first);
    expect(draws(new SeedTree(43).stream('test:new-consumer'))).not.toEqual(first);
    expect(draws(a.child('n1').stream('test:new-consumer'))).not.toEqual(draws(a.child('n2').stream('test:new-consumer')));
  });
});
