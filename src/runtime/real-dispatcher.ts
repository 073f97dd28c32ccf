// Real time for the `threads` scheduler: wall-clock ms, Node timers, and a run queue of ready
// actors drained in slices so timers and I/O on the same thread still get their turn.

import { cpus } from 'node:os';
import { Deque } from './random.js';
import type { ActorCell, Dispatcher } from './runtime.js';
import type { BusyTime, Cancel, MachineBusy } from './types.js';

/** performance.timeOrigin, read once: it is a getter with a brand check, and now() runs several
 * times for every request a member serves. */
const TIME_ORIGIN = performance.timeOrigin;

/** How long one drain may run before yielding to the event loop. */
const SLICE_MS = 4;

export class RealDispatcher implements Dispatcher {
  /** Asks time out up to 5 ms late, so that one timer serves all asks due in those 5 ms. */
  readonly askTimeoutSlackMs = 5;
  private readonly queue = new Deque<ActorCell>();
  private draining = false;

  now(): number {
    return TIME_ORIGIN + performance.now();
  }

  schedule(ms: number, fn: () => void): Cancel {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  }

  ready(cell: ActorCell): void {
    this.queue.push(cell);
    if (!this.draining) {
      this.draining = true;
      setImmediate(this.drain);
    }
  }

  asyncPending(): void {}

  busy(): BusyTime {
    const u = performance.eventLoopUtilization();
    return { activeMs: u.active, idleMs: u.idle };
  }

  machineBusy(): MachineBusy {
    let activeMs = 0;
    let idleMs = 0;
    const all = cpus();
    for (const { times } of all) {
      activeMs += times.user + times.nice + times.sys + times.irq;
      idleMs += times.idle;
    }
    return { activeMs, idleMs, cores: all.length };
  }

  /** End of the current cell's own time (ActorCell.run's `goOn`): set when first asked, 0 until
   * then (most runs never ask, and need not read the clock). */
  private cellUntil = 0;
  private readonly cellGoesOn = (): boolean => {
    const now = performance.now();
    if (this.cellUntil === 0) this.cellUntil = now + SLICE_MS;
    return now < this.cellUntil;
  };

  private readonly drain = (): void => {
    const until = performance.now() + SLICE_MS;
    let n = 0;
    for (;;) {
      const cell = this.queue.shift();
      if (!cell) {
        this.draining = false;
        return;
      }
      // A backlogged cell may go on for up to a slice of its own (not only what is left of this
      // drain's: a producer that used it up would otherwise starve its receiver).
      this.cellUntil = 0;
      cell.run(64, this.cellGoesOn);
      if ((++n & 63) === 0 && performance.now() > until) break;
    }
    setImmediate(this.drain);
  };
}
