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

  it('an elected group refuses an idle interval over half the election timeout', () => {
    expect(() => new Manual(['a'], { electionTicks: 10, heartbeatTicks: 1, idleHeartbeatTicks: 6 })).toThrow(/idleHeartbeatTicks/);
    expect(() => new Manual(['a'], { electionTicks: 10, heartbeatTicks: 1, idleHeartbeatTicks: 5 })).not.toThrow();
  });
});
