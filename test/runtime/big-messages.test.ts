// Large messages between worker threads (issue 17, point 5; docs/data-path.md): a chunk-sized
// bytes field travels beside the ring (its side channel), not through it, and arrives intact.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadsScheduler } from '../../src/runtime/threads.js';
import { pattern, sha } from './fixtures/big-actors.js';

const fixture = new URL('./fixtures/big-actors.ts', import.meta.url);
const MiB = 1024 * 1024;

interface ChunkData {
  type: string;
  chunkId: string;
  data: Uint8Array;
  size: number;
}

describe('large messages between threads', () => {
  let sched: ThreadsScheduler;
  beforeAll(async () => {
    // Rings of the default 1 MiB: a 16 MiB message could never fit one.
    sched = await ThreadsScheduler.start({ threads: 2, modules: [fixture] });
  });
  afterAll(async () => {
    await sched?.stop();
  });

  for (const handed of [false, true]) {
    it(`carries 16 MiB from an actor on t0 to one on t1 and back intact (${handed ? 'handed over: moved' : 'copied once'})`, async () => {
      const sink = await sched.spawnRoot(`sink-${handed}`, { behaviour: 'test.big-sink' }, { thread: 1 });
      const source = await sched.spawnRoot(`source-${handed}`, { behaviour: 'test.big-source', args: { target: sink.address } }, { thread: 0 });
      const r = await sched.ask<ChunkData>(source, { type: 'govfs.data.ChunkRead', chunkId: 'c', version: handed ? 1 : 0, offset: 7, length: 16 * MiB }, 60_000);
      expect(r.type).toBe('govfs.data.ChunkData');
      const [sent, seen, back] = r.chunkId.split(' ');
      expect(sent).toBe(sha(pattern(16 * MiB, 7)));
      expect(seen).toBe(sent);
      expect(back).toBe(sent);
      expect(r.size).toBe(16 * MiB);
    });
  }

  it('carries 16 MiB from the main thread to t1 and back, with small messages around it in order', async () => {
    const sink = await sched.spawnRoot('sink-main', { behaviour: 'test.big-sink' }, { thread: 1 });
    const data = pattern(16 * MiB + 3, 11);
    const asks = [1, 16 * MiB + 3, 5, 70_000, 16 * 1024, 0].map((n, i) =>
      sched.ask<ChunkData>(sink, { type: 'govfs.data.ChunkWrite', chunkId: 'c', version: 0, token: 0, offset: i, data: n === data.length ? data : data.subarray(0, n) }, 60_000),
    );
    const replies = await Promise.all(asks);
    for (const [i, n] of [1, 16 * MiB + 3, 5, 70_000, 16 * 1024, 0].entries()) {
      const want = data.subarray(0, n);
      expect(replies[i]!.chunkId).toBe(sha(want));
      expect(replies[i]!.size).toBe(n);
      expect(sha(replies[i]!.data)).toBe(sha(want));
    }
    // Not handed over: the sender's bytes are still its own.
    expect(data.length).toBe(16 * MiB + 3);
    expect(sha(data)).toBe(sha(pattern(16 * MiB + 3, 11)));
  });
});
