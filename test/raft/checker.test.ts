// The checks can fail: known-broken variants of the core (or of its shell) are caught by the
// harness invariants within a few seeds. Each variant patches one behaviour for the duration
// of its test (this file runs in its own process).

import { describe, expect, it } from 'vitest';
import { RaftCore, type Heartbeat, type RequestVote } from '../../src/raft/index.js';
import { InvariantError, Sim } from './harness.js';

type Method = (this: unknown, ...args: unknown[]) => unknown;
const proto = RaftCore.prototype as unknown as Record<string, Method>;

function patched<T>(name: string, wrap: (orig: Method) => Method, body: () => T): T {
  const orig = proto[name];
  if (!orig) throw new Error(`RaftCore has no method ${name}`);
  proto[name] = wrap(orig);
  try {
    return body();
  } finally {
    proto[name] = orig;
  }
}

/** Crashes, partitions and proposals; classic Raft (no pre-vote) so elections are frequent. */
function chaos(seed: number, opts: { onNode?: (sim: Sim) => void } = {}): void {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const sim = new Sim({ seed, ids, drop: 0.1, latency: [1, 30], config: { preVote: false, checkQuorum: false } });
  opts.onNode?.(sim);
  const rng = sim.rng;
  for (let i = 0; i < 60; i++) {
    for (let k = 0; k < rng.int(1, 3); k++) sim.propose();
    sim.runFor(rng.int(1, 60));
    const l = sim.leader();
    if (l && rng.chance(0.5)) sim.crash(l.id);
    if (rng.chance(0.3)) sim.crash(rng.pick(ids));
    if (sim.upIds().length < 3) for (const id of ids) if (rng.chance(0.7)) sim.restart(id);
  }
  for (const id of ids) sim.restart(id);
  sim.runFor(3000);
  sim.checkLogMatching();
}

/** Seeds (out of `n`) whose run ends in an invariant violation. */
function violations(n: number, run: (seed: number) => void): string[] {
  const found: string[] = [];
  for (let seed = 1; seed <= n; seed++) {
    try {
      run(seed);
    } catch (e) {
      if (!(e instanceof InvariantError)) throw e;
      found.push(`${seed}: ${e.message}`);
    }
  }
  return found;
}

describe('the invariant checks catch broken variants', () => {
  it('the unmodified core passes the same runs', () => {
    expect(violations(15, (s) => chaos(s))).toEqual([]);
  });

  it('votes that ignore the up-to-date check → committed entries lost', () => {
    const found = patched(
      'handleVoteRequest',
      (orig) =>
        function (this: unknown, m: unknown) {
          return orig.call(this, { ...(m as RequestVote), lastTerm: 1e9, lastIndex: 1e9 });
        },
      () => violations(40, (s) => chaos(s)),
    );
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(/leader completeness|state machine safety|log matching/);
  });

  it('a heartbeat that commits the leader commit index, unchecked → unmatched entries applied', () => {
    const found = patched(
      'handleHeartbeat',
      (orig) =>
        function (this: unknown, m: unknown) {
          const h = m as Heartbeat;
          return orig.call(this, { ...h, commit: h.leaderCommit });
        },
      () => violations(20, (s) => chaos(s)),
    );
    expect(found.length).toBeGreaterThan(0);
  });

  it('a shell that forgets the vote it persisted → two leaders in one term', () => {
    // With b down, a and c elect one of them (L) in term 1; L is cut off at once, before its
    // first append arrives. The voter V crashes and restarts; if its vote was not durable it
    // can vote again in term 1 — for b, which then campaigns with only V.
    const run = (forget: boolean) => (seed: number): void => {
      const sim = new Sim({ seed, ids: ['a', 'b', 'c'], config: { preVote: false, checkQuorum: false } });
      if (forget) {
        for (const n of sim.nodes.values()) {
          const persist = n.store.persist.bind(n.store);
          n.store.persist = (r) => {
            persist(r);
            n.store.hardState = { ...n.store.hardState, vote: '' };
          };
        }
      }
      sim.crash('b');
      sim.partition(['a', 'c'], ['b']);
      if (!sim.runUntil(() => sim.leader() !== undefined, 3000)) return;
      const l = sim.leader()!.id;
      const v = l === 'a' ? 'c' : 'a';
      if (sim.core(l).softState().term !== 1) return; // the race this test needs did not happen
      sim.partition([l], ['b', v]);
      sim.crash(v);
      sim.restart(v);
      sim.restart('b');
      sim.runFor(1000);
    };
    expect(violations(30, run(false))).toEqual([]);
    const found = violations(30, run(true));
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(/two leaders in term 1/);
  });
});
