// An idle follower's Raft shell sleeps on one timer set to its election deadline (shell-ticks.ts,
// issue 19 "an idle cluster idles"), and elections still come on time: no sooner than an
// election timeout after the leader fell silent, and a thread's own stall does not time one out.

import { describe, expect, it } from 'vitest';
import { TickSchedule } from '../../src/raft/shell-ticks.js';
import { RaftCluster, seeds } from './cluster.js';

describe('TickSchedule', () => {
  it('delivers the ticks elapsed before a message, short of the deadline', () => {
    const t = new TickSchedule(10, 1000);
    expect(t.beforeMessage(1035, 10)).toBe(3);
    expect(t.nextAt(7)).toBe(1100);
    // Past the deadline (the timer has not fired yet): one tick short of it; the rest dropped.
    expect(t.beforeMessage(1500, 7)).toBe(6);
    expect(t.nextAt(1)).toBe(1510);
  });

  it('a timer on time delivers the ticks up to the deadline', () => {
    const t = new TickSchedule(10, 0);
    t.armedAt = t.nextAt(12);
    expect(t.fired(120, 12)).toBe(12);
    expect(t.nextAt(1)).toBe(130);
  });

  it('a timer held up by a stall stops one tick short, and the deadline waits one more tick', () => {
    const t = new TickSchedule(10, 0);
    t.armedAt = t.nextAt(12);
    expect(t.fired(900, 12)).toBe(11);
    expect(t.nextAt(1)).toBe(910);
    t.armedAt = t.nextAt(1);
    expect(t.fired(910, 1)).toBe(1);
  });

  it('a leader (one tick due) gets one tick per timer, however late', () => {
    const t = new TickSchedule(10, 0);
    t.armedAt = t.nextAt(1);
    expect(t.fired(500, 1)).toBe(1);
    expect(t.nextAt(1)).toBe(510);
  });
});

/** Counts each host's shell tick turns (the shell's own timer messages). */
function countTicks(c: RaftCluster): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of c.ids) {
    const rt = c.sim.host(id).runtime;
    const prev = rt.onInvoke;
    rt.onInvoke = (cell, msg) => {
      prev?.(cell, msg);
      const m = msg as { constructor?: { name: string }; kind?: string };
      if (m?.constructor?.name === 'ShellSignal' && m.kind === 'tick') counts.set(id, (counts.get(id) ?? 0) + 1);
    };
  }
  return counts;
}

/** Counts the timers each host sets (any actor's; here only the Raft shell's). */
function countTimers(c: RaftCluster): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of c.ids) {
    const d = c.sim.host(id).runtime.dispatcher;
    const schedule = d.schedule.bind(d);
    d.schedule = (ms, fn) => {
      counts.set(id, (counts.get(id) ?? 0) + 1);
      return schedule(ms, fn);
    };
  }
  return counts;
}

describe('an idle follower sleeps until its election deadline', () => {
  it.each(seeds(2))('seed %i: followers take a tick turn per election timeout, a quiet leader one per heartbeat', async (seed) => {
    const c = new RaftCluster({ seed, n: 3 }); // 10 ms ticks, heartbeats every 2, elections after 10-19
    const l = await c.waitLeader(3_000);
    await c.runFor(200);
    const counts = countTicks(c);
    const term = l.shell.softState().term;
    await c.runFor(1_000);
    expect(c.stableLeader()?.id).toBe(l.id);
    expect(l.shell.softState().term).toBe(term);
    // Before: 100 each (a tick every 10 ms). Now the leader's at its heartbeats, and at most
    // one per 100 ms for a follower.
    expect(counts.get(l.id)).toBeGreaterThanOrEqual(45);
    expect(counts.get(l.id)).toBeLessThanOrEqual(55);
    for (const id of c.ids.filter((x) => x !== l.id)) expect(counts.get(id) ?? 0).toBeLessThanOrEqual(12);
  });

  it.each(seeds(2))('seed %i: a quiet leader that gets a proposal ticks every tick again, and commits it', async (seed) => {
    const c = new RaftCluster({ seed, n: 3 });
    await c.waitLeader(3_000);
    await c.runFor(200);
    const values = await c.proposeAndWait(5);
    expect(values).toHaveLength(5);
    await c.converge();
    c.checkAcked();
  });

  it.each(seeds(2))('seed %i: in a log that heartbeats rarely when quiet, the timer of a follower moves with each heartbeat and never fires', async (seed) => {
    // As on real nodes: a heartbeat every 3 ticks while quiet, elections after 10-19 ticks.
    const c = new RaftCluster({ seed, n: 3, heartbeatTicks: 1, idleHeartbeatTicks: 3 });
    const l = await c.waitLeader(3_000);
    await c.runFor(300);
    const counts = countTicks(c);
    const term = l.shell.softState().term;
    await c.runFor(2_000);
    expect(c.stableLeader()?.id).toBe(l.id);
    expect(l.shell.softState().term).toBe(term);
    // The leader's at its heartbeats (every 30 ms); a follower's timer fired once per
    // election timeout (10-20 of 2,000 ms) before it moved with the deadline.
    expect(counts.get(l.id)).toBeGreaterThanOrEqual(60);
    for (const id of c.ids.filter((x) => x !== l.id)) expect(counts.get(id) ?? 0).toBe(0);
    // And the deadline still holds: cut the leader off, a follower campaigns on time.
    c.isolate(l.id);
    const cut = c.sim.now();
    await c.runUntil(() => c.stableLeader() !== undefined && c.stableLeader()!.id !== l.id, 3_000);
    expect(c.sim.now() - cut).toBeGreaterThanOrEqual(10 * 10 - 3 * 10 - 1);
    expect(c.sim.now() - cut).toBeLessThanOrEqual(19 * 10 + 100);
  });

  it.each(seeds(4))('seed %i: a follower campaigns an election timeout after the leader fell silent, not before', async (seed) => {
    const c = new RaftCluster({ seed, n: 3 });
    const l = await c.waitLeader(3_000);
    const term = l.shell.softState().term;
    await c.runFor(300);
    c.isolate(l.id);
    const cut = c.sim.now();
    let firstCampaign = Infinity;
    const moved = () => c.ids.some((id) => id !== l.id && (c.handles.get(id)!.shell.status().term > term || c.handles.get(id)!.shell.softState().role !== 'follower'));
    await c.runUntil(() => {
      if (firstCampaign === Infinity && moved()) firstCampaign = c.sim.now();
      return c.stableLeader() !== undefined && c.stableLeader()!.id !== l.id;
    }, 3_000);
    const l2 = c.stableLeader();
    expect(l2?.id).not.toBe(l.id);
    // The last heartbeat came at most a heartbeat interval (2 ticks) before the cut; the
    // timeout is 10-19 ticks of 10 ms after it, plus the pre-vote and vote round trips.
    expect(firstCampaign - cut).toBeGreaterThanOrEqual(10 * 10 - 2 * 10 - 1);
    expect(c.sim.now() - cut).toBeLessThanOrEqual(19 * 10 + 100);
  });
});

describe('a member that never campaigns parks its timer', () => {
  it('parks, counts no ticks while parked, and restarts the phase from when it unparks', () => {
    const t = new TickSchedule(10, 0);
    t.park();
    expect(t.isParked).toBe(true);
    expect(t.sleeping).toBe(false); // no ticks are delivered before messages
    // Armed again at 5,003 (a read waits on ticks): the next tick is a tick from then, not 500
    // ticks of the old phase at once.
    expect(t.nextAt(1, 5_003)).toBe(5_013);
    expect(t.isParked).toBe(false);
    t.armedAt = 5_013;
    expect(t.fired(5_013, 1)).toBe(1);
  });

  it.each(seeds(2))('seed %i: appointed followers of a quiet group take no tick turns, and still serve reads and commit', async (seed) => {
    // As a ministry on real nodes: a heartbeat every 5 ticks while quiet.
    const c = new RaftCluster({ seed, n: 3, mode: 'appointed', heartbeatTicks: 1, idleHeartbeatTicks: 5 });
    await c.appoint('n1');
    await c.runFor(300);
    const counts = countTicks(c);
    const timers = countTimers(c);
    await c.runFor(2_000);
    // The leader ticks at its quiet heartbeats (every 50 ms); its followers neither tick nor
    // set a timer: before, each moved its timer with every heartbeat (40 in 2 s).
    expect(counts.get('n1')).toBeGreaterThanOrEqual(35);
    for (const id of ['n2', 'n3']) {
      expect(counts.get(id) ?? 0).toBe(0);
      expect(timers.get(id) ?? 0).toBe(0);
    }
    // A read on a parked follower waits on ticks (its timeout): it completes.
    const read = c.sim.settle(c.sim.ask<{ ok: boolean }>(c.address('n2'), { type: 'govfs.raft.ClientRead', key: 'k' }, 1_000), 2_000);
    expect((await read).ok).toBe(true);
    expect(await c.proposeAndWait(3)).toHaveLength(3);
    await c.converge();
    c.checkAcked();
  });
});
