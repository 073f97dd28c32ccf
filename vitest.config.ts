import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Two groups, one after the other. "model": tests that run only pure code and the simulator
// (simulated time: no threads, sockets, processes or waits on a real clock), two files at a
// time, since the machine's load cannot change what they do; on a 2-core machine vitest would
// otherwise run one file at a time (its default is cores - 1). "system": everything else, one
// file at a time as before: worker-thread clusters, processes, mounts and lmdb, whose waits
// are on real clocks.
const MODEL = [
  'test/sim/**/*.test.ts',
  'test/fs/**/*.test.ts',
  'test/actors/**/*.test.ts',
  // All but the one on a real thread pool and clock.
  'test/raft/!(snapshot-pool).test.ts',
  'test/wire/**/*.test.ts',
  'test/support/**/*.test.ts',
];

// The longest files of "model" (the seed sweeps, 20-80 s each on a 2-core machine), started
// first. Without a results cache (a fresh clone, as in CI) vitest starts larger files first, and
// these small files ran last, on one worker while the other sat idle.
const SLOW_FIRST = ['cluster-seeds', 'president-seeds', 'leases-seeds', 'balance-seeds', 'raft-seeds', 'data-seeds'].map((n) => `test/sim/${n}.test.ts`);

class SlowFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = SLOW_FIRST.findIndex((s) => f.moduleId.endsWith(s));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    // Stable: only within a project, and only the listed files move.
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => (a.f.project.name === b.f.project.name ? rank(a.f) - rank(b.f) || a.i - b.i : a.i - b.i)).map((x) => x.f);
  }
}

export default defineConfig({
  test: {
    // Worker-thread and lmdb tests must not share one thread with others' timers.
    pool: 'forks',
    sequence: { sequencer: SlowFirst },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'model', include: MODEL, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: { name: 'system', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...MODEL], maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
