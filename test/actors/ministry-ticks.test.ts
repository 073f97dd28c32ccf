import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/runtime/types.js';
import { MINISTRY_TICK, MinistryTicks, QUIET_AFTER_MS } from '../../src/actors/ministry-ticks.js';
import { sameLoad } from '../../src/actors/ministry.js';
import type { MemberLoad } from '../../src/actors/load.js';

/** A context with a hand-moved clock that records the timers armed. */
function fakeCtx(): { ctx: Context; now: { t: number }; timers: { at: number; cancelled: boolean }[]; told: number[] } {
  const now = { t: 0 };
  const timers: { at: number; cancelled: boolean }[] = [];
  const told: number[] = [];
  const clock = {
    now: () => now.t,
    after: (ms: number, msg: unknown) => {
      expect(msg).toBe(MINISTRY_TICK);
      const timer = { at: now.t + ms, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
  };
  const self = {
    tell: (msg: unknown) => {
      expect(msg).toBe(MINISTRY_TICK);
      told.push(now.t);
    },
  };
  return { ctx: { clock, self } as unknown as Context, now, timers, told };
}

describe('ministry ticks', () => {
  it('tick at full rate for a while after a message, then once per idle interval; a message wakes them again', () => {
    const { ctx, now, timers } = fakeCtx();
    const ticks = new MinistryTicks(100, 1_000);
    const soft = { role: 'follower' as const, term: 3, leader: 'n1', group: 'm1' };
    ticks.active(ctx);
    ticks.watch(ctx, soft);
    const gaps: number[] = [];
    // Run the armed timers for 5 s, the member quiet throughout.
    while (now.t < 5_000) {
      const next = timers.filter((t) => !t.cancelled).at(-1)!;
      gaps.push(next.at - now.t);
      now.t = next.at;
      next.cancelled = true;
      ticks.watch(ctx, soft);
      ticks.fired(ctx, false);
    }
    const fast = gaps.filter((g) => g === 100).length;
    expect(fast).toBeGreaterThanOrEqual(QUIET_AFTER_MS / 100 - 1);
    expect(gaps.slice(fast)).toEqual(gaps.slice(fast).map(() => 1_000));
    // A request arrives while the member sleeps: the next tick comes within a group tick.
    const armed = timers.filter((t) => !t.cancelled).length;
    ticks.active(ctx);
    const live = timers.filter((t) => !t.cancelled);
    expect(live.length).toBe(armed);
    expect(live.at(-1)!.at - now.t).toBe(100);
    // Work under way keeps the full rate however quiet the member otherwise is.
    now.t = live.at(-1)!.at + 10 * QUIET_AFTER_MS;
    live.at(-1)!.cancelled = true;
    ticks.fired(ctx, true);
    expect(timers.at(-1)!.at - now.t).toBe(100);
    // So does a new group-log term.
    ticks.fired(ctx, false);
    ticks.watch(ctx, { ...soft, term: 4 });
    expect(timers.filter((t) => !t.cancelled).at(-1)!.at - now.t).toBe(100);
  });

  it('an idle tick rides on a heartbeat turn once due; its timer is a fallback a heartbeat interval later', () => {
    const { ctx, now, timers, told } = fakeCtx();
    const ticks = new MinistryTicks(100, 1_000, 500);
    const live = () => timers.filter((t) => !t.cancelled);
    now.t = 10 * QUIET_AFTER_MS; // long quiet
    ticks.fired(ctx, false);
    expect(live().map((t) => t.at - now.t)).toEqual([1_500]);
    // Heartbeat turns before the tick is due change nothing.
    now.t += 600;
    ticks.rideAlong(ctx);
    expect(told).toEqual([]);
    // The first one after: the tick runs on it (a message to self), the fallback timer goes.
    now.t += 500;
    ticks.rideAlong(ctx);
    ticks.rideAlong(ctx);
    expect(told).toEqual([now.t]);
    expect(live()).toEqual([]);
    // A request before the tick message is handled arms the fast timer; the tick replaces it.
    ticks.active(ctx);
    expect(live().length).toBe(1);
    ticks.fired(ctx, false);
    expect(live().map((t) => t.at - now.t)).toEqual([100]);
    // No heartbeats (a minister gone): the fallback timer ticks every idleMs + rideMs.
    now.t += QUIET_AFTER_MS;
    live()[0]!.cancelled = true;
    ticks.fired(ctx, false);
    expect(live().map((t) => t.at - now.t)).toEqual([1_500]);
  });

  it('a load sample that moved by noise is the same status; one that moved is not', () => {
    const base: MemberLoad = { cpu: 0.03, readsPerSec: 0.2, writesPerSec: 0, hot: [{ path: '/a', readsPerSec: 0.2, writesPerSec: 0 }] };
    expect(sameLoad(base, { ...base, cpu: 0.045, readsPerSec: 0.1, hot: [{ path: '/a', readsPerSec: 0.1, writesPerSec: 0 }] })).toBe(true);
    expect(sameLoad(base, { ...base, cpu: 0.3 })).toBe(false);
    expect(sameLoad(base, { ...base, writesPerSec: 40 })).toBe(false);
    expect(sameLoad(base, { ...base, hot: [{ path: '/b', readsPerSec: 0.2, writesPerSec: 0 }] })).toBe(false);
    expect(sameLoad(base, undefined)).toBe(false);
  });
});
