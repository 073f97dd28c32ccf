// The simulator's disk faults (slow fsyncs with a heavy tail; a failed fsync crashes its host,
// losing what was not synced, and the host restarts) and its livelock guards (a run that stops
// moving virtual time on, or runs far too long, fails with its seed and replay command
// instead of hanging the test).

import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/runtime/sim.js';
import type { Context, Message } from '../../src/runtime/types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A host that, on each 'write', puts key k<n>, syncs, and records n once it is durable. */
function writer(sim: Simulation, acked: number[], starts: string[][]): void {
  let n = 0;
  sim.addHost('h', () => ({
    started: (ctx: Context) => {
      starts.push([...ctx.storage.range({})].map(([k]) => k));
    },
    receive: async (ctx: Context, msg: Message) => {
      if (msg !== 'write') return;
      const k = n++;
      ctx.storage.put(`k${String(k).padStart(3, '0')}`, enc(String(k)));
      await ctx.storage.sync();
      acked.push(k);
    },
  }));
}

describe('simulated fsync faults', () => {
  it('a failed fsync crashes the host: nothing it covered is acknowledged or kept, and the host restarts', async () => {
    const sim = new Simulation({ seed: 5, fsync: { failRate: 1, restartMinMs: 10, restartMaxMs: 20 } });
    const acked: number[] = [];
    const starts: string[][] = [];
    writer(sim, acked, starts);
    sim.tell('h#/h', 'write');
    await sim.run({ forMs: 5 });
    expect(sim.fsyncsFailed).toBe(1);
    expect(sim.host('h').up).toBe(false);
    expect(acked).toEqual([]);
    await sim.run({ forMs: 30 });
    expect(sim.host('h').up).toBe(true);
    expect(starts).toEqual([[], []]); // the restarted host finds nothing of the failed write
  });

  it('at a small fail rate, every acknowledged write survives the crashes it causes', async () => {
    const sim = new Simulation({ seed: 9, fsync: { failRate: 0.1, restartMinMs: 1, restartMaxMs: 2 } });
    const acked: number[] = [];
    const starts: string[][] = [];
    writer(sim, acked, starts);
    for (let i = 0; i < 200; i++) {
      sim.tell('h#/h', 'write');
      await sim.run({ forMs: 3 });
    }
    await sim.run({ forMs: 10 });
    expect(sim.fsyncsFailed).toBeGreaterThan(3);
    expect(starts.length).toBe(sim.fsyncsFailed + 1);
    expect(acked.length).toBeGreaterThan(100);
    const kept = new Set([...sim.host('h').storage.range({})].map(([k]) => k));
    expect(kept.size).toBeLessThan(200); // writes under failed fsyncs are gone
    for (const k of acked) expect(kept.has(`k${String(k).padStart(3, '0')}`)).toBe(true);
  });

  it('slow fsyncs add a heavy tail: some take many times the slow mean, none past the cap', async () => {
    const sim = new Simulation({ seed: 3, fsync: { slowRate: 1, slowMs: 2 } });
    const took: number[] = [];
    sim.addHost('h', () => ({
      receive: async (ctx: Context, msg: Message) => {
        if (msg !== 'write') return;
        const t0 = sim.now();
        ctx.storage.put('k', enc('v'));
        await ctx.storage.sync();
        took.push(sim.now() - t0);
      },
    }));
    for (let i = 0; i < 300; i++) {
      sim.tell('h#/h', 'write');
      await sim.run({ forMs: 200 });
    }
    expect(took.length).toBe(300);
    expect(sim.fsyncsSlow).toBe(300);
    expect(Math.max(...took)).toBeGreaterThan(10 * 2);
    expect(Math.max(...took)).toBeLessThanOrEqual(50 * 2 + 0.5);
    const median = [...took].sort((a, b) => a - b)[150]!;
    expect(median).toBeLessThan(3);
  });
});

describe('livelock guards', () => {
  it('actors that keep messaging at one virtual instant fail the run with seed and replay command', async () => {
    const sim = new Simulation({ seed: 42, replay: 'npm run sim -- x --seed 42', maxStepsPerInstant: 1_000 });
    sim.addHost('h', () => ({ receive: (ctx: Context) => ctx.self.tell('again') }));
    sim.tell('h#/h', 'go');
    await expect(sim.run({ forMs: 10 })).rejects.toThrow(/livelock: 1000 steps at virtual time .* \(seed 42, trace [0-9a-f]{16}; replay: npm run sim -- x --seed 42\)/);
    // Failed for good: later runs fail at once rather than spin again.
    await expect(sim.run({ forMs: 10 })).rejects.toThrow(/livelock/);
  });

  it('a run that creeps on in time but never ends fails at maxSteps', async () => {
    const sim = new Simulation({ seed: 7, maxSteps: 5_000 });
    sim.addHost('h', () => ({
      started: (ctx: Context) => {
        ctx.clock.every(0.001, 'tick');
      },
      receive: () => {},
    }));
    await expect(sim.run({ forMs: 1e9 })).rejects.toThrow(/livelock: 5000 steps in all .*seed 7/);
  });

  it('busy but healthy runs stay far below the per-instant bound', async () => {
    const sim = new Simulation({ seed: 1 });
    for (const [n, peer] of [['a', 'b'], ['b', 'a']] as const) {
      sim.addHost(n, () => ({
        started: (ctx: Context) => {
          ctx.clock.every(1, 'tick');
        },
        receive: (ctx: Context, m: Message) => {
          if (m === 'tick') ctx.ref(`${peer}#/${peer}`).tell({ type: 'govfs.runtime.Ping', seq: 1, sender: 0 });
        },
      }));
    }
    await sim.run({ forMs: 1_000 });
    expect(sim.maxInstantSteps).toBeLessThan(100);
  });
});
