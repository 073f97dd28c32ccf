// The chunk store's shell under the simulator, over many seeds: writers with fencing tokens
// (some of them stale, as a writer paused past its lease would be) write overlapping ranges
// of a few chunks while the store's host crashes (losing every unsynced write) at random
// moments and fsyncs are slow or fail (a failed fsync crashes the host too). Checked on every
// run:
//   - every acknowledged write is readable after each restart: what the store holds is the
//     acknowledged writes applied in order, plus possibly some writes whose fate the writer
//     never learned (their asks died with the host), and nothing else;
//   - no write whose fencing token is older than one already acknowledged for its chunk is
//     ever acknowledged, and a refused write changes nothing.
// One write in flight per chunk (several chunks at once, so syncs are still shared), so the
// order of a chunk's writes is the order they were sent.

import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/runtime/sim.js';
import { chunkStoreBehaviour } from '../../src/data/shell.js';
import type { ChunkReply, ChunkWrite } from '../../src/data/messages.js';
import { Prng } from '../fs/prng.js';

const SEEDS = 50;
const ROUNDS = 80;
const CHUNKS = ['c0', 'c1', 'c2'];
const MAX_CHUNK = 256;
const STORE = 'store#/store';

interface ChunkModel {
  /** Every state the chunk may be in, given what was acknowledged (deduplicated). */
  candidates: Uint8Array[];
  /** Highest token of an acknowledged write. */
  maxAcked: number;
  /** The token current writers use (bumped when a new writer takes the range). */
  current: number;
  inflight: boolean;
}

function applyWrite(state: Uint8Array, w: ChunkWrite): Uint8Array {
  const out = new Uint8Array(Math.max(state.length, w.offset + w.data.length));
  out.set(state);
  out.set(w.data, w.offset);
  return out;
}

const key = (b: Uint8Array): string => Buffer.from(b).toString('hex');
function dedupe(states: Uint8Array[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  for (const s of states) seen.set(key(s), s);
  return [...seen.values()];
}

interface RunStats {
  acked: number;
  refusedStale: number;
  uncertain: number;
  crashes: number;
  verified: number;
}

async function runSeed(seed: number): Promise<RunStats> {
  const sim = new Simulation({ seed, fsync: { minMs: 0.05, maxMs: 1, slowRate: 0.05, slowMs: 3, failRate: 0.01, restartMinMs: 2, restartMaxMs: 10 } });
  sim.addHost('store', () => chunkStoreBehaviour({ blockSize: 16, maxChunkBytes: MAX_CHUNK }));
  const rnd = new Prng(seed * 7919 + 1);
  const models = new Map<string, ChunkModel>(CHUNKS.map((c) => [c, { candidates: [new Uint8Array(0)], maxAcked: 0, current: 1, inflight: false }]));
  const stats: RunStats = { acked: 0, refusedStale: 0, uncertain: 0, crashes: 0, verified: 0 };
  const failures: string[] = [];
  const fail = (what: string): void => {
    failures.push(`seed ${seed} at ${sim.now().toFixed(2)} ms: ${what}`);
  };

  const send = (chunkId: string, m: ChunkModel): void => {
    const stale = m.maxAcked > 1 && rnd.chance(0.25);
    if (!stale && rnd.chance(0.1)) m.current++; // a new writer takes the range
    const token = stale ? rnd.int(m.maxAcked) : m.current;
    const offset = rnd.int(MAX_CHUNK - 40);
    const data = new Uint8Array(1 + rnd.int(40)).map(() => 1 + rnd.int(255));
    const w: ChunkWrite = { type: 'govfs.data.ChunkWrite', chunkId, version: 1, token, offset, data };
    m.inflight = true;
    sim.ask<ChunkReply>(STORE, w, 10_000).then(
      (r) => {
        m.inflight = false;
        if (r.type === 'govfs.data.ChunkWritten') {
          // The fence: no token older than an acknowledged one is ever acknowledged.
          if (token < m.maxAcked) fail(`write to ${chunkId} with token ${token} acknowledged after token ${m.maxAcked} was`);
          m.maxAcked = Math.max(m.maxAcked, token);
          m.candidates = dedupe(m.candidates.map((s) => applyWrite(s, w)));
          stats.acked++;
        } else if (r.type === 'govfs.data.ChunkError' && r.code === 'ESTALE') {
          if (token >= m.maxAcked && token === m.current) fail(`current writer (token ${token}) refused: ${r.message}`);
          stats.refusedStale++; // refused: changes nothing
        } else {
          fail(`unexpected reply to a write: ${JSON.stringify(r)}`);
        }
      },
      () => {
        // The host went down with the ask open: the write may or may not have reached the disk.
        m.inflight = false;
        m.candidates = dedupe([...m.candidates, ...m.candidates.map((s) => applyWrite(s, w))]);
        stats.uncertain++;
      },
    );
  };

  /** Every chunk's bytes must be one of its candidate states; that state is then the only one. */
  const verify = async (): Promise<void> => {
    await sim.run({ until: () => [...models.values()].every((m) => !m.inflight), forMs: 60_000 });
    for (const [chunkId, m] of models) {
      let r: ChunkReply | undefined;
      for (let tries = 0; r === undefined && tries < 100; tries++) {
        if (!sim.host('store').up) await sim.run({ until: () => sim.host('store').up, forMs: 1_000 });
        r = await sim.settle(sim.ask<ChunkReply>(STORE, { type: 'govfs.data.ChunkRead', chunkId, version: 1, offset: 0, length: MAX_CHUNK }, 10_000)).catch(() => undefined);
      }
      let bytes: Uint8Array;
      if (r?.type === 'govfs.data.ChunkData') bytes = r.data;
      else if (r?.type === 'govfs.data.ChunkError' && r.code === 'ENOENT') bytes = new Uint8Array(0);
      else {
        fail(`read of ${chunkId} failed: ${JSON.stringify(r)}`);
        continue;
      }
      if (!m.candidates.some((s) => key(s) === key(bytes))) {
        fail(`${chunkId} holds ${key(bytes).slice(0, 64)}... (${bytes.length} bytes), none of the ${m.candidates.length} states its acknowledged writes allow`);
      }
      m.candidates = [bytes];
    }
    stats.verified++;
  };

  await sim.run({ forMs: 1 });
  let incarnation = sim.host('store').incarnation;
  for (let round = 0; round < ROUNDS && failures.length === 0; round++) {
    if (sim.host('store').up) for (const [chunkId, m] of models) if (!m.inflight && rnd.chance(0.7)) send(chunkId, m);
    await sim.run({ forMs: 0.2 + rnd.next() * 2 });
    if (rnd.chance(0.08) && sim.host('store').up) {
      sim.crash('store'); // a power cut at a random moment: unsynced writes are lost
      await sim.run({ forMs: rnd.next() * 3 });
      sim.restart('store');
    }
    if (sim.host('store').incarnation !== incarnation) {
      stats.crashes += sim.host('store').incarnation - incarnation;
      await verify();
      incarnation = sim.host('store').incarnation;
    }
  }
  await verify();
  expect(failures).toEqual([]);
  return stats;
}

describe('chunk store under crashes that lose unsynced writes (simulation)', () => {
  it(`over ${SEEDS} seeds: every acknowledged write survives restarts, no stale token is acknowledged`, async () => {
    const total: RunStats = { acked: 0, refusedStale: 0, uncertain: 0, crashes: 0, verified: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const s = await runSeed(seed);
      for (const k of Object.keys(total) as (keyof RunStats)[]) total[k] += s[k];
    }
    if (process.env.CHUNK_SIM_STATS) console.log(total);
    // The runs did what they are meant to: many writes, stale ones among them, crashes with
    // writes in flight, and a check after each.
    expect(total.acked).toBeGreaterThan(SEEDS * 50);
    expect(total.refusedStale).toBeGreaterThan(SEEDS * 5);
    expect(total.crashes).toBeGreaterThan(SEEDS * 2);
    expect(total.uncertain).toBeGreaterThan(SEEDS);
    expect(total.verified).toBeGreaterThan(total.crashes / 2);
  }, 300_000);
});
