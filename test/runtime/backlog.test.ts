// A receiver outrun by a producer on its own thread catches up (ActorCell.run's backlog rule,
// RealDispatcher): the producer sends 64 per turn and runs 64 turns a batch, 4,096 messages; a
// receiver held to 64 per batch fell behind by ~4,000 each round, so its mailbox held nearly
// every message sent (and same-thread delivery ran at 2-4 M msgs/s, their GC; bench mailbox).

import { describe, expect, it } from 'vitest';
import { LocalRuntime } from '../../src/runtime/runtime.js';
import { RealDispatcher } from '../../src/runtime/real-dispatcher.js';
import { MessageRegistry } from '../../src/wire/registry.js';
import type { Context } from '../../src/runtime/types.js';
import type { ActorCell } from '../../src/runtime/actor-cell.js';
import type { Dispatcher } from '../../src/runtime/location.js';

const TOTAL = 200_000;
const PER_TURN = 64;

describe('a backlogged receiver on the real dispatcher', () => {
  it('drains within its time slice, so its mailbox stays far below what was sent', async () => {
    const runtime = new LocalRuntime({ location: 'b1', dispatcher: new RealDispatcher(), registry: MessageRegistry.standard() });
    let received = 0;
    let maxBacklog = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    runtime.spawnRoot('sink', () => ({
      receive() {
        const backlog = runtime.cells.get('/sink')!.mailbox.length;
        if (backlog > maxBacklog) maxBacklog = backlog;
        if (++received === TOTAL) done();
      },
    }));
    let left = TOTAL;
    const source = runtime.spawnRoot('source', () => ({
      receive(ctx: Context) {
        const sink = ctx.ref<{ seq: number }>('b1#/sink');
        for (let i = 0; i < PER_TURN && left > 0; i++, left--) sink.tell({ seq: left });
        if (left > 0) ctx.self.tell('more');
      },
    }));
    source.tell('go');
    await finished;
    expect(received).toBe(TOTAL);
    // Held to 64 per batch the backlog reaches ~TOTAL; with the rule, about one producer batch.
    expect(maxBacklog).toBeLessThan(TOTAL / 4);
    runtime.stopAll();
  });

  it('does not go on while its asynchronous handler is still running (it would spin until its slice ran out)', () => {
    // A dispatcher that only collects ready cells: the test runs them itself.
    const ready: ActorCell[] = [];
    const manual: Dispatcher = { now: () => 0, schedule: () => () => undefined, ready: (cell) => void ready.push(cell), asyncPending: () => undefined };
    const runtime = new LocalRuntime({ location: 'b2', dispatcher: manual, registry: MessageRegistry.standard() });
    let handled = 0;
    const ref = runtime.spawnRoot('slow', () => ({
      receive() {
        handled++;
        return new Promise<void>(() => undefined); // never settles: the cell stays busy
      },
    }));
    for (let i = 0; i < 1_000; i++) ref.tell({ i });
    let asked = 0;
    ready.shift()!.run(64, () => ++asked < 1_000);
    expect(handled).toBe(1);
    expect(asked).toBe(0);
    runtime.stopAll();
  });
});
