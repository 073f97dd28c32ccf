import { describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import { watchEventLoop } from '../../src/runtime/loop-lag.js';

interface Line {
  level: 'info' | 'debug';
  fields: Record<string, unknown>;
  msg: string;
}

function recorder(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const log = {
    info: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'info', fields, msg }),
    debug: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'debug', fields, msg }),
  } as unknown as Logger;
  return { log, lines };
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, deadlineMs = 8_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await pause(20);
  }
}

describe('event-loop lag watch', () => {
  it('stops sampling on an idle thread and still logs a stall that comes after', async () => {
    const { log, lines } = recorder();
    const everyMs = 250;
    const stop = watchEventLoop(log, { everyMs, infoAtMs: 80 });
    try {
      // While sampling, every summary logs a line at debug; once idle, none: wait for three
      // summaries' worth of silence.
      let seen = -1;
      let quietSince = Date.now();
      await until('the lag summaries to stop on an idle thread', () => {
        if (lines.length !== seen) [seen, quietSince] = [lines.length, Date.now()];
        return Date.now() - quietSince > 3 * everyMs;
      });
      expect(lines.some((l) => l.level === 'debug')).toBe(true);
      const before = lines.length;
      // A stall of 150 ms while the histogram is off.
      const t0 = Date.now();
      while (Date.now() - t0 < 150);
      await until('the stall to be logged', () => lines.slice(before).some((l) => l.level === 'info'));
      const stall = lines.slice(before).find((l) => l.level === 'info')!;
      expect(stall.msg).toMatch(/busy for \d+ ms .* after idling/);
      expect(stall.fields.busyMs as number).toBeGreaterThanOrEqual(140);
      // An idle thread's summary covers five intervals (one wake-up where there were five).
      expect(stall.fields.overMs).toBe(5 * everyMs);
    } finally {
      stop();
    }
  });
});
