// The simulator's modeled CPU (SimOptions.cpu, for load balancing, thesis 3.4): messages of a
// costed type are served one at a time by the host they reach, so a host offered more than it
// can serve saturates, and Clock.busy() reports the service time spent.

import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/runtime/sim.js';
import { utilisation } from '../../src/actors/load.js';
import type { BusyTime, Context, Message } from '../../src/runtime/types.js';

function pair(sim: Simulation, served: number[], readings: BusyTime[]): void {
  sim.addHost('b', () => ({
    receive: (ctx: Context, msg: Message) => {
      if ((msg as { type?: string }).type === 'govfs.fs.NodeProbe') served.push(sim.now());
      if (msg === 'read') readings.push(ctx.clock.busy());
    },
  }));
  sim.addHost('a', () => ({
    receive: (ctx: Context, msg: Message) => {
      if (msg === 'send') for (let i = 0; i < 5; i++) ctx.ref('b#/b').tell({ type: 'govfs.fs.NodeProbe', clusterTerm: i });
    },
  }));
}

describe('simulated CPU', () => {
  it('serves costed messages one at a time and reports the time as busy', async () => {
    const sim = new Simulation({ seed: 1, cpu: { serviceMs: { 'govfs.fs.NodeProbe': 10 } } });
    const served: number[] = [];
    const readings: BusyTime[] = [];
    pair(sim, served, readings);
    sim.tell('b#/b', 'read');
    await sim.run({ forMs: 1 });
    sim.tell('a#/a', 'send');
    await sim.run({ forMs: 100 });
    sim.tell('b#/b', 'read');
    await sim.run({ forMs: 1 });
    expect(served.length).toBe(5);
    // Queued behind each other: 10 ms apart, the last 50 ms after the first began.
    for (let i = 1; i < 5; i++) expect(served[i]! - served[i - 1]!).toBeGreaterThanOrEqual(10 - 1e-9);
    expect(readings[1]!.activeMs - readings[0]!.activeMs).toBeCloseTo(50, 6);
    const u = utilisation(readings[0]!, readings[1]!);
    expect(u).toBeGreaterThan(0.45);
    expect(u).toBeLessThan(0.55);
  });

  it('without a model no host is ever busy', async () => {
    const sim = new Simulation({ seed: 1 });
    const served: number[] = [];
    const readings: BusyTime[] = [];
    pair(sim, served, readings);
    sim.tell('a#/a', 'send');
    await sim.run({ forMs: 20 });
    sim.tell('b#/b', 'read');
    await sim.run({ forMs: 1 });
    expect(served.length).toBe(5);
    expect(served[4]! - served[0]!).toBeLessThan(2);
    expect(readings[0]!.activeMs).toBe(0);
  });
});
