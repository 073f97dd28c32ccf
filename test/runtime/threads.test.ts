// The `threads` scheduler on real worker threads: rings, ordering, placement, supervision.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadsScheduler } from '../../src/runtime/threads.js';

interface Count {
  seq: number;
  sender: number;
}

const fixture = new URL('./fixtures/thread-actors.ts', import.meta.url);

/** Poll an actor until `done` holds, with a deadline (no fixed sleeps). */
async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, deadlineMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() - start > deadlineMs) throw new Error(`condition not met within ${deadlineMs} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('threads scheduler', () => {
  let sched: ThreadsScheduler;
  beforeAll(async () => {
    // A deliberately small ring: 4 KiB holds about a hundred pings.
    sched = await ThreadsScheduler.start({ threads: 2, modules: [fixture], ringCapacity: 4096 });
  });
  afterAll(async () => {
    await sched?.stop();
  });

  const count = (address: string) => sched.ask<Count>(address, { type: 'govfs.runtime.Pong', seq: 0 });

  it('keeps per-sender FIFO order from several threads into one actor', async () => {
    const sink = await sched.spawnRoot('fifo-sink', { behaviour: 'test.sink' }, { thread: 1 });
    const a = await sched.spawnRoot('fifo-a', { behaviour: 'test.blaster', args: { target: sink.address, id: 1 } }, { thread: 0 });
    const b = await sched.spawnRoot('fifo-b', { behaviour: 'test.blaster', args: { target: sink.address, id: 2 } }, { thread: 0 });
    const c = await sched.spawnRoot('fifo-c', { behaviour: 'test.blaster', args: { target: sink.address, id: 3 } }, { thread: 1 });
    await Promise.all([a, b, c].map((r) => sched.ask(r, { type: 'govfs.runtime.Ping', seq: 20_000, sender: 0 })));
    // The main thread sends too, as a fourth sender.
    for (let i = 0; i < 20_000; i++) sink.tell({ type: 'govfs.runtime.Ping', seq: i, sender: 4 });
    const final = await until(() => count(sink.address), (v) => v.seq >= 80_000);
    expect(final).toMatchObject({ seq: 80_000, sender: 0 }); // `sender` counts out-of-order arrivals
  });

  it('delivers 1,000,000 messages through a small ring complete and in order', async () => {
    const sink = await sched.spawnRoot('million-sink', { behaviour: 'test.sink' }, { thread: 1 });
    const blaster = await sched.spawnRoot('million-src', { behaviour: 'test.blaster', args: { target: sink.address, id: 9 } }, { thread: 0 });
    await sched.ask(blaster, { type: 'govfs.runtime.Ping', seq: 1_000_000, sender: 0 });
    const final = await until(() => count(sink.address), (v) => v.seq >= 1_000_000, 120_000);
    expect(final.seq).toBe(1_000_000);
    expect(final.sender).toBe(0); // no out-of-order arrival
    const stats = await sched.stats();
    // The ring filled (backpressure was exercised) and the consumer parked rather than spun.
    expect(Math.max(...stats.map((s) => s.queuedMax))).toBeGreaterThan(0);
    expect(stats[1]!.wakeups).toBeLessThan(1_000_000 / 2);
  });

  it('places a child on another thread, refuses unencodable messages at the sender, and stops the branch', async () => {
    const parent = await sched.spawnRoot('parent', { behaviour: 'test.parent', args: { childThread: 1 } }, { thread: 0 });
    const child = `t1#/parent/child`;
    // The child comes up on t1 (it answers), and messages to it from main arrive.
    const probe = () => count(child).catch(() => ({ seq: -1, sender: 0 }));
    await until(probe, (v) => v.seq === 0);
    sched.ref(child).tell({ type: 'govfs.runtime.Ping', seq: 0, sender: 5 });
    await until(probe, (v) => v.seq === 1);
    const refusal = await sched.ask<Count>(parent, { type: 'govfs.runtime.Ping', seq: 0, sender: 0 });
    expect(refusal.seq).toBe(1);
    await sched.stopRoot('parent', 0);
    // Stopping the parent stops its remote child: asks to it now fail fast with ENOENT.
    await until(
      () => count(child).then(() => 'alive', (e: { code?: string }) => e.code ?? 'error'),
      (v) => v === 'ENOENT',
    );
  });
});
