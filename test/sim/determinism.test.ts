// Whole-cluster determinism: a 5-node simulated cluster under a workload and faults (kills,
// restarts, partitions, message loss and duplication, clock drift, failed fsyncs) replays
// exactly from its seed. The trace hashed here is every message the simulated network
// delivered (time, hosts, type, encoded bytes) and every client result, so any source of
// nondeterminism (wall-clock time, a module-level counter shared between runs, iteration
// over something run-dependent) shows as a different hash for the same seed.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import type { GovClient } from '../../src/client/gov-client.js';
import { SeedTree } from '../../src/runtime/random.js';

async function attempt(what: string, op: () => Promise<unknown>): Promise<string> {
  try {
    const value = await op();
    return `${what} ok ${JSON.stringify(value ?? null)}`;
  } catch (e) {
    return `${what} ${(e as { code?: string }).code ?? 'EIO'}`;
  }
}

/** One run: its trace hash, and how many messages and client results went into it. */
async function traceRun(seed: number, opts: { extraConsumer?: boolean } = {}): Promise<{ hash: string; deliveries: number; results: number; faults: string[]; dropped: number; fsyncsFailed: number }> {
  const hash = createHash('sha256');
  let deliveries = 0;
  const cluster = await Cluster.start({
    nodes: 5,
    scheduler: 'sim',
    seed,
    network: { minLatencyMs: 0.2, maxLatencyMs: 3, dropRate: 0.03, duplicateRate: 0.01, tailProbability: 0.05, tailMs: 10 },
    maxDriftPpm: 5_000,
    fsync: { slowRate: 0.02, slowMs: 5, failRate: 0.01 },
    maxSteps: 2_000_000,
    onDeliver: (d) => {
      deliveries++;
      hash.update(`${d.time.toFixed(6)} ${d.from}>${d.to} ${d.type} `).update(d.bytes);
    },
  });
  const tree = new SeedTree(seed);
  const work = tree.stream('test:workload');
  const schedule = tree.stream('test:faults');
  // A consumer the run did not have before, drawing all along: it must not shift the others.
  const extra = opts.extraConsumer ? cluster.sim!.seeds.stream('test:extra') : null;
  const results: string[] = [];
  let running = 2;
  const client = (i: number): Promise<void> => (async () => {
    const c: GovClient = cluster.client({ clientId: `w${i}`, requestTimeoutMs: 300, deadlineMs: 3_000 });
    for (let k = 0; k < 12; k++) {
      const path = `/d${work.int(0, 2)}`;
      const x = work.next();
      for (let j = 0; j < 10; j++) extra?.u32();
      const what = `w${i} ${cluster.now().toFixed(3)}`;
      if (x < 0.35) results.push(await attempt(`${what} mkdir ${path}`, () => c.mkdir(path, { parents: true })));
      else if (x < 0.7) results.push(await attempt(`${what} create ${path}/f${k}`, () => c.create(`${path}/f${k}`)));
      else results.push(await attempt(`${what} ls ${path}`, async () => (await c.ls(path, { linearizable: true })).map((e) => e.name).sort()));
      await cluster.runFor(work.int(0, 40));
    }
    running--;
  })();
  // Kill, cut off, restart and heal in turn while the clients run (the seed picks the nodes and
  // the moments), so every run has each kind of fault, however soon the clients are done: at
  // most one node down and one cut off.
  const faultLoop = (async () => {
    let down: string | null = null;
    for (let turn = 0; running > 0 || turn < 4; turn++) {
      await cluster.runFor(schedule.int(200, 500));
      const id = cluster.nodeIds[schedule.int(0, cluster.nodeIds.length - 1)]!;
      let fault: string;
      const kind = (['kill', 'isolate', 'restart', 'heal'] as const)[turn % 4]!;
      if (kind === 'kill') {
        fault = `kill ${id}`;
        down = id;
        await cluster.kill(id);
      } else if (kind === 'restart' && down !== null) {
        fault = `restart ${down}`;
        await cluster.restart(down);
        down = null;
      } else if (kind === 'isolate' && down === null) {
        fault = `isolate ${id}`;
        cluster.heal();
        cluster.partition([id], cluster.nodeIds.filter((n) => n !== id));
      } else if (kind === 'isolate') {
        // With a node down, cut off one of the others from the rest but for the downed one:
        // a majority (3 of 5) still serves.
        const other = cluster.nodeIds.find((n) => n !== down)!;
        fault = `isolate ${other}`;
        cluster.heal();
        cluster.partition([other], cluster.nodeIds.filter((n) => n !== other && n !== down));
      } else {
        fault = 'heal';
        cluster.heal();
      }
      results.push(`fault ${cluster.now().toFixed(3)} ${fault}`);
    }
    cluster.heal();
    if (down !== null) await cluster.restart(down);
  })();
  await Promise.all([client(0), client(1), faultLoop]);
  const reader = cluster.client({ clientId: 'final', requestTimeoutMs: 500, deadlineMs: 20_000 });
  results.push(await attempt('final ls /', async () => (await reader.ls('/', { linearizable: true })).map((e) => e.name).sort()));
  await cluster.stop();
  for (const r of results) hash.update(`${r}\n`);
  hash.update(cluster.sim!.traceHash);
  const sim = cluster.sim!;
  // GOVFS_TRACE_DEBUG=1 shows what a run did (to see why two runs differ).
  if (process.env.GOVFS_TRACE_DEBUG) console.log(results.join('\n'), { dropped: sim.messagesDropped, duplicated: sim.messagesDuplicated, fsyncsFailed: sim.fsyncsFailed });
  const faults = ['kill', 'restart', 'isolate'].filter((f) => results.some((r) => r.startsWith(`fault `) && r.includes(` ${f} `)));
  return { hash: hash.digest('hex'), deliveries, results: results.length, faults, dropped: sim.messagesDropped, fsyncsFailed: sim.fsyncsFailed };
}

describe('whole-cluster determinism', () => {
  it('the same seed gives the same trace hash, also with a new random consumer; another seed, another', async () => {
    const a = await traceRun(11);
    const b = await traceRun(11);
    // The run did something worth hashing: messages, client results, the final read.
    expect(a.deliveries).toBeGreaterThan(1_000);
    expect(a.results).toBeGreaterThan(24);
    // ... under every kind of fault.
    expect(a.faults).toEqual(['kill', 'restart', 'isolate']);
    expect(a.dropped).toBeGreaterThan(0);
    expect(a.fsyncsFailed).toBeGreaterThan(0);
    expect(b).toEqual(a);
    // A new random consumer leaves every other stream, and so the run, as it was.
    expect(await traceRun(11, { extraConsumer: true })).toEqual(a);
    const c = await traceRun(12);
    expect(c.hash).not.toBe(a.hash);
  }, 60_000);
});
