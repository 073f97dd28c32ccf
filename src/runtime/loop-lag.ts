// Event-loop lag of the thread that hosts actors, for the host process to log (actor code has
// no clock of its own to measure this with): how late timers and messages ran over each
// interval, and how much of it garbage collection took. A Raft tick or heartbeat that runs late
// here is late for every actor of the thread; the raft shell's election logs say how late its
// own ticks were, and these lines say what the thread as a whole went through at that time.

import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { Logger } from 'pino';

export interface LoopLagOptions {
  /** Summarise every this many ms (default 1,000). */
  everyMs?: number;
  /** A longest delay at or above this is logged at info, below it at debug (default 100 ms,
   * the default Raft election timeout). */
  infoAtMs?: number;
}

/** The sampling timer's interval: each run is a wake-up of an otherwise idle thread (at 10 ms
 * it was a good part of what an idle node cost), and stalls worth logging last 100 ms or more. */
const RESOLUTION_MS = 100;

/** Start watching this thread's event loop; returns a function that stops it. */
export function watchEventLoop(log: Logger, opts: LoopLagOptions = {}): () => void {
  const everyMs = opts.everyMs ?? 1_000;
  const infoAtMs = opts.infoAtMs ?? 100;
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  let gcMs = 0;
  let gcMaxMs = 0;
  let gcs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcMaxMs = Math.max(gcMaxMs, e.duration);
      gcs++;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  // The histogram holds the time between the sampling timer's runs, in ns: the delay is what
  // exceeds RESOLUTION_MS.
  const lag = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 10) / 10);
  const timer = setInterval(() => {
    const maxMs = lag(h.max);
    const fields = { lagMaxMs: maxMs, lagP99Ms: lag(h.percentile(99)), lagMeanMs: lag(h.mean), gcs, gcMs: Math.round(gcMs), gcMaxMs: Math.round(gcMaxMs), overMs: everyMs };
    if (maxMs >= infoAtMs) log.info(fields, `event loop stalled for up to ${maxMs} ms in the last ${everyMs} ms (garbage collection ${Math.round(gcMs)} ms, longest ${Math.round(gcMaxMs)} ms)`);
    else log.debug(fields, 'event loop lag');
    h.reset();
    gcMs = gcMaxMs = gcs = 0;
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    h.disable();
    gc.disconnect();
  };
}
