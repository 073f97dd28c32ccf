// Where ministries build their snapshots on threads (ClusterOptions.snapshots, node-host.ts):
// in the pool only where a core is left beside the worker threads and the main thread, unless
// the caller says.

import { describe, expect, it } from 'vitest';
import { snapshotsOnThread } from '../../src/node-host.js';

describe('snapshot placement', () => {
  it('builds on the actor thread when the worker threads and the main thread take every core', () => {
    expect(snapshotsOnThread(undefined, 2, 1)).toBe(true);
    expect(snapshotsOnThread(undefined, 4, 3)).toBe(true);
  });

  it('builds in the pool where a core is free', () => {
    expect(snapshotsOnThread(undefined, 4, 1)).toBe(false);
    expect(snapshotsOnThread(undefined, 64, 5)).toBe(false);
  });

  it('does as asked', () => {
    expect(snapshotsOnThread('off-thread', 2, 1)).toBe(false);
    expect(snapshotsOnThread('on-thread', 64, 1)).toBe(true);
  });
});
