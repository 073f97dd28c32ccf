// Simulation.touched(host): whether a host's code may have run since the per-step checks
// (sim.checks) last ran. The balance and cluster sims re-read a node's state only when it was
// touched, so it must be true whenever the host's state changed: through its actors' turns,
// its timers, messages delivered to it, fsyncs and promise continuations (storage, asks), a
// crash or a restart by the driver.

import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/runtime/sim.js';
import type { Context, Message } from '../../src/runtime/types.js';

/** Each host's state: bumped by everything its actor does. */
const state = new Map<string, number>();
const bump = (host: string): void => {
  state.set(host, (state.get(host) ?? 0) + 1);
};

/** Pings a random peer, persists a counter and bumps after the fsync, and ticks on a timer. */
function node(name: string, peers: string[]) {
  return () => ({
    started(ctx: Context) {
      bump(name);
      ctx.clock.every(7, 'tick');
    },
    async receive(ctx: Context, msg: Message) {
      bump(name);
      if (msg === 'tick') {
        const to = peers[ctx.random.int(0, peers.length - 1)]!;
        ctx.ref(`${to}#/${to}`).tell({ type: 'govfs.fs.NodeProbe', clusterTerm: 1 });
        return;
      }
      ctx.storage.put('k', new Uint8Array([1]));
      await ctx.storage.sync();
      bump(name); // a promise continuation: no step of its own
    },
  });
}

describe('Simulation.touched and touchedNames', () => {
  it('is true for every host whose state changed since the last check, and false for most others', async () => {
    state.clear();
    const sim = new Simulation({ seed: 7, network: { minLatencyMs: 0.2, maxLatencyMs: 3 } });
    const names = ['a', 'b', 'c', 'd'];
    for (const n of names) sim.addHost(n, node(n, names.filter((m) => m !== n)));
    const seen = new Map<string, number>();
    const missed: string[] = [];
    let skipped = 0;
    let checks = 0;
    sim.checks.push(() => {
      checks++;
      const set = sim.touchedNames();
      for (const n of names) {
        if ((set === null || set.has(n)) !== sim.touched(n)) missed.push(`touchedNames disagrees on ${n} at ${sim.now()}`);
        const now = sim.host(n).up ? (state.get(n) ?? 0) : -1;
        if (!sim.touched(n)) {
          skipped++;
          if (seen.get(n) !== now) missed.push(`${n} at ${sim.now()}`);
        }
        seen.set(n, now);
      }
    });
    // The driver crashes and restarts hosts between runs, and from a timer of its own.
    sim.at(120, () => sim.crash('c'));
    for (let i = 0; i < 6; i++) {
      await sim.run({ forMs: 50 });
      if (i === 2) sim.restart('c');
      if (i === 3) sim.crash('b');
      if (i === 4) sim.restart('b');
    }
    expect(missed).toEqual([]);
    expect(checks).toBeGreaterThan(200);
    // Most steps touch one host of four: the others are skipped.
    expect(skipped).toBeGreaterThan(checks);
  });
});
