// The rules by which the president's shell arms its tick timer (president-ticks.ts, issue 19:
// an idle president wakes rarely, a busy one never has its tick put off), driven directly.

import { describe, expect, it } from 'vitest';
import { PresidentTicks } from '../../src/actors/president-ticks.js';

const PROBE = 50;
const LOAD = 1_000;

function ticking(): PresidentTicks {
  const t = new PresidentTicks(PROBE, LOAD);
  t.ticking = true;
  return t;
}

describe('PresidentTicks', () => {
  it('arms nothing before the core asked for ticks', () => {
    expect(new PresidentTicks(PROBE, LOAD).arm(100, 0)).toBeNull();
  });

  it('moves the timer sooner at once, leaves it for the same time, and for a later time only when nothing is due within probeMs', () => {
    const t = ticking();
    expect(t.arm(500, 0)).toBe(500);
    expect(t.arm(500, 0)).toBeNull();
    expect(t.arm(200, 0)).toBe(200);
    // Later, but within the next probeMs: a timer armed sooner stays.
    expect(t.arm(240, 190)).toBeNull();
    // Later and beyond the next probeMs (a probe round's answers are in): the timer moves out.
    expect(t.arm(1_000, 100)).toBe(1_000);
  });

  it("a client's order looks again within probeMs, and never puts an armed tick off", () => {
    const t = ticking();
    expect(t.arm(1_000, 0)).toBe(1_000);
    expect(t.arm(t.soon(100), 100)).toBe(150);
    // Until the tick, what the core asks for later is capped by the pending look.
    expect(t.arm(5_000, 120)).toBeNull();
    const u = ticking();
    expect(u.arm(120, 100)).toBe(120);
    expect(u.arm(u.soon(100), 100)).toBeNull();
  });

  it('once fired, no timer is armed and no look is pending', () => {
    const t = ticking();
    expect(t.arm(t.soon(0), 0)).toBe(50);
    t.fired();
    expect(t.arm(50, 50)).toBe(50);
    t.fired();
    expect(t.arm(2_000, 60)).toBe(2_000);
  });

  it('quiet heartbeats carry the probe rounds for loadEveryMs after the last one', () => {
    const t = ticking();
    expect(t.beating(0)).toBe(false);
    t.beat(5_000);
    expect(t.beating(5_000 + LOAD)).toBe(true);
    expect(t.beating(5_001 + LOAD)).toBe(false);
  });
});
