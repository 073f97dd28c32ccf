// A quiet group heartbeats every idleHeartbeatTicks (issue 19: an idle cluster idles); any
// change (an entry to replicate, commit news, a read round) brings back every-tick heartbeats.

import { describe, expect, it } from 'vitest';
import { Manual } from './manual.js';

const APPOINTED = { mode: 'appointed' as const, heartbeatTicks: 1, idleHeartbeatTicks: 5 };

function leaderOf3(): Manual {
  const c = new Manual(['a', 'b', 'c'], APPOINTED);
  c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] });
  c.process('a');
  c.settle();
  return c;
}

/** Heartbeats `a` sends over `ticks` ticks, everything delivered as it goes. */
function heartbeatsOver(c: Manual, ticks: number): number {
  const before = c.sentOfType('govfs.raft.Heartbeat').length;
  for (let i = 0; i < ticks; i++) {
    c.tick('a');
    c.settle();
  }
  return c.sentOfType('govfs.raft.Heartbeat').length - before;
}

describe('idle heartbeats', () => {
  it('a quiet leader heartbeats every idleHeartbeatTicks, a busy one every tick', () => {
    const c = leaderOf3();
    heartbeatsOver(c, 5); // past the first heartbeat round that confirms the followers
    expect(heartbeatsOver(c, 20)).toBe(2 * 4); // 2 followers, every 5 ticks
    // A follower that has not acknowledged the latest entry makes the group busy again.
    c.propose('a', 'x');
    c.deliver((m) => m.from === 'a' && m.to === 'b', (m) => m.to === 'c'); // c misses the append
    c.settle();
    const busy = c.sentOfType('govfs.raft.Heartbeat').length;
    c.tick('a'); // the very next tick heartbeats: the one that finds c's gap
    expect(c.sentOfType('govfs.raft.Heartbeat').length - busy).toBe(2);
    c.settle();
    expect(c.appliedData('c')).toEqual(['x']);
    heartbeatsOver(c, 5);
    expect(heartbeatsOver(c, 20)).toBe(2 * 4);
  });

  it('the default (no idleHeartbeatTicks) heartbeats every tick, quiet or not', () => {
    const c = new Manual(['a', 'b', 'c'], { mode: 'appointed' });
    c.core('a').appoint({ term: 1, leader: 'a', members: ['a', 'b', 'c'] });
    c.process('a');
    c.settle();
    expect(heartbeatsOver(c, 10)).toBe(2 * 10);
  });

  it('a quiet appointed leader asks no answer to its heartbeats; a busy one, an elected one and a read round do', () => {
    const c = leaderOf3();
    heartbeatsOver(c, 5);
    const answers = (): number => c.sentOfType('govfs.raft.HeartbeatResponse').length;
    const before = answers();
    const beats = c.core('a').quietHeartbeats;
    expect(heartbeatsOver(c, 20)).toBe(2 * 4);
    // Each quiet round counts (RaftShellOptions.onQuietHeartbeat hears of it).
    expect(c.core('a').quietHeartbeats - beats).toBe(4);
    expect(c.sentOfType('govfs.raft.Heartbeat').slice(-8).every((m) => m.quiet)).toBe(true);
    expect(answers() - before).toBe(0);
    // A read round needs the answers: the heartbeat that carries it is not quiet.
    c.core('a').readIndex('r1');
    c.process('a');
    const round = c.sentOfType('govfs.raft.Heartbeat').slice(-2);
    expect(round.map((m) => m.quiet)).toEqual([false, false]);
    c.settle();
    expect(answers() - before).toBe(2);
    // A follower that missed an append: heartbeats are answered again until it has caught up.
    c.propose('a', 'y');
    c.deliver((m) => m.from === 'a' && m.to === 'b', (m) => m.to === 'c');
    c.settle();
    c.tick('a');
    expect(c.sentOfType('govfs.raft.Heartbeat').slice(-2).every((m) => !m.quiet)).toBe(true);
    c.settle();
    expect(c.appliedData('c')).toEqual(['y']);
    // Elected logs (the cluster log) always want answers: check-quorum and the president's
    // liveness read them.
    const e = new Manual(['a', 'b', 'c'], { electionTicks: 10, heartbeatTicks: 1, idleHeartbeatTicks: 3 });
    e.elect('a');
    e.settle();
    const hb = e.sentOfType('govfs.raft.Heartbeat').length;
    const ans = e.sentOfType('govfs.raft.HeartbeatResponse').length;
    for (let i = 0; i < 9; i++) {
      e.tick('a');
      e.settle();
    }
    expect(e.sentOfType('govfs.raft.Heartbeat').length - hb).toBeGreaterThan(0);
    expect(e.sentOfType('govfs.raft.HeartbeatResponse').length - ans).toBe(e.sentOfType('govfs.raft.Heartbeat').length - hb);
  });

  it('an elected group refuses an idle interval over half the election timeout', () => {
    expect(() => new Manual(['a'], { electionTicks: 10, heartbeatTicks: 1, idleHeartbeatTicks: 6 })).toThrow(/idleHeartbeatTicks/);
    expect(() => new Manual(['a'], { electionTicks: 10, heartbeatTicks: 1, idleHeartbeatTicks: 5 })).not.toThrow();
  });
});
