// Event-loop lag of the thread that hosts actors, for the host process to log (actor code has
// no clock of its own to measure this with): how late timers and messages ran over each
// interval, and how much of it garbage collection took. A Raft tick or heartbeat that runs late
// here is late for every actor of the thread; the raft shell's election logs say how late its
// own ticks were, and these lines say what the thread as a whole went through at that time.

//
// The delay histogram samples on a timer of its own (RESOLUTION_MS): ten wake-ups a second of
// a thread that has nothing to do (issue 19, "an idle cluster idles"). So it runs only while the
// thread works: each summary looks at the thread's event-loop utilisation over its interval,
// turns the histogram off after an idle one and back on after a busy one. A stall in an
// interval the histogram was off shows in the utilisation (a stall is busy time), and is
// logged from that alone; an idle thread's summaries come five intervals apart.

import { monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';
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

/** Below this share of an interval busy, the thread idles and the histogram goes off. */
const IDLE_BELOW = 0.02;

/** While the histogram is off, a summary covers this many intervals: the summary's own timer
 * was one of the few wake-ups left of an idle node (issue 19). A stall then is logged up to
 * that much later, and sampling resumes as late after the thread gets busy. */
const IDLE_INTERVALS = 5;

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
  let on = true;
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  let overMs = everyMs;
  let timer: ReturnType<typeof setTimeout>;
  const summarise = (): void => {
    const now = performance.eventLoopUtilization();
    const busyMs = Math.round(now.active - elu.active);
    const share = performance.eventLoopUtilization(now, elu).utilization;
    elu = now;
    const gcFields = { gcs, gcMs: Math.round(gcMs), gcMaxMs: Math.round(gcMaxMs), overMs };
    const gcText = `garbage collection ${Math.round(gcMs)} ms, longest ${Math.round(gcMaxMs)} ms`;
    if (on) {
      const maxMs = lag(h.max);
      const fields = { lagMaxMs: maxMs, lagP99Ms: lag(h.percentile(99)), lagMeanMs: lag(h.mean), busyMs, ...gcFields };
      if (maxMs >= infoAtMs) log.info(fields, `event loop stalled for up to ${maxMs} ms in the last ${everyMs} ms (${gcText})`);
      else log.debug(fields, 'event loop lag');
      h.reset();
    } else if (busyMs >= infoAtMs) {
      // Unmeasured by the histogram: the busy time bounds the longest stall from above.
      log.info({ busyMs, ...gcFields }, `event loop busy for ${busyMs} ms in the last ${overMs} ms after idling (${gcText}); lag is measured again from now`);
    }
    gcMs = gcMaxMs = gcs = 0;
    const idle = share < IDLE_BELOW;
    if (idle && on) h.disable();
    else if (!idle && !on) h.enable();
    on = !idle;
    arm();
  };
  const arm = (): void => {
    overMs = on ? everyMs : IDLE_INTERVALS * everyMs;
    timer = setTimeout(summarise, overMs);
    timer.unref();
  };
  arm();
  return () => {
    clearTimeout(timer);
    if (on) h.disable();
    gc.disconnect();
  };
}
