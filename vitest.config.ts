import { configDefaults, defineConfig } from 'vitest/config';

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

export default defineConfig({
  test: {
    // Worker-thread and lmdb tests must not share one thread with others' timers.
    pool: 'forks',
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
