// Pipelined replication in the chunk store's shell (src/data/shell.ts): a write with a chain is
// applied at each store in turn, checked there (fencing token, version) like any write, and the
// head answers only once every store down the chain holds it durably; a refusal or a dead
// store anywhere answers the head's request with that error, in time for the client.

import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/runtime/sim.js';
import { chunkStoreBehaviour } from '../../src/data/shell.js';
import type { ChunkReply, ChunkWrite } from '../../src/data/messages.js';
import { isDataFsRequest } from '../../src/data/fs-wire.js';
import type { FsReplyMessage } from '../../src/fs/requests.js';

const STORES = ['s1', 's2', 's3'];
const at = (id: string): string => `${id}#/${id}`;

/** Three stores whose fsyncs are slow next to the network, so an answer sent before a
 * downstream store synced would be caught by a crash at the moment of the answer. */
function rig(seed = 1): { sim: Simulation; received: Map<string, ChunkWrite[]> } {
  const sim = new Simulation({ seed, minFsyncMs: 2, maxFsyncMs: 5 });
  const received = new Map<string, ChunkWrite[]>(STORES.map((s) => [s, []]));
  for (const s of STORES) {
    const inner = chunkStoreBehaviour({ peerAddress: at, blockSize: 16, scrubChunks: 0 });
    // Record the writes each store is asked to make (what reached it down the chain).
    sim.addHost(s, () => ({
      ...inner,
      receive: (ctx, msg) => {
        const m = msg as { type?: string };
        if (m.type === 'govfs.data.ChunkWrite') received.get(s)!.push(msg as ChunkWrite);
        return inner.receive(ctx, msg);
      },
    }));
  }
  return { sim, received };
}

const write = (token: number, data: number[], chain: string[], extra: Partial<ChunkWrite> = {}): ChunkWrite => ({
  type: 'govfs.data.ChunkWrite',
  chunkId: 'c1',
  version: 1,
  token,
  offset: 0,
  data: Uint8Array.from(data),
  chain,
  chainMs: 200,
  ...extra,
});

async function readAll(sim: Simulation): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of STORES) {
    const r = await sim.settle(sim.ask<ChunkReply>(at(s), { type: 'govfs.data.ChunkRead', chunkId: 'c1', version: 1, offset: 0, length: 64 }, 1_000));
    out[s] = r.type === 'govfs.data.ChunkData' ? Array.from(r.data).join(',') : r.type === 'govfs.data.ChunkError' ? r.code : r.type;
  }
  return out;
}

describe('chunk store: pipelined writes down a chain of replicas', () => {
  it('writes every store in the chain, and answers only once all of them hold it durably', async () => {
    const { sim, received } = rig();
    const r = await sim.settle(sim.ask<ChunkReply>(at('s1'), write(3, [1, 2, 3], ['s2', 's3']), 1_000));
    expect(r).toMatchObject({ type: 'govfs.data.ChunkWritten', chunkId: 'c1', size: 3 });
    // Power lost everywhere at the moment of the answer: nothing acknowledged may be lost.
    for (const s of STORES) sim.crash(s);
    for (const s of STORES) sim.restart(s);
    expect(await readAll(sim)).toEqual({ s1: '1,2,3', s2: '1,2,3', s3: '1,2,3' });
    // Each store was passed the rest of the chain only, with less time for the next hop.
    expect(received.get('s2')![0]).toMatchObject({ chain: ['s3'], chainMs: 150 });
    expect(received.get('s3')![0]!.chain ?? []).toEqual([]);
  });

  it('a store down the chain that saw a newer token refuses: ESTALE at the head, the rest never written', async () => {
    const { sim, received } = rig();
    // A newer writer (token 5) reached s2 alone.
    expect(await sim.settle(sim.ask<ChunkReply>(at('s2'), write(5, [9], []), 1_000))).toMatchObject({ type: 'govfs.data.ChunkWritten' });
    const r = await sim.settle(sim.ask<ChunkReply>(at('s1'), write(3, [1, 2, 3], ['s2', 's3']), 1_000));
    expect(r).toMatchObject({ type: 'govfs.data.ChunkError', code: 'ESTALE' });
    expect((r as { message: string }).message).toMatch(/replica chain at s2: .*fencing token 3 is older than 5/);
    expect(received.get('s3')).toEqual([]);
    const now = await readAll(sim);
    expect(now.s2).toBe('9');
    expect(now.s3).toBe('ENOENT');
  });

  it('a head that refuses the token passes nothing on', async () => {
    const { sim, received } = rig();
    await sim.settle(sim.ask<ChunkReply>(at('s1'), write(7, [4], []), 1_000));
    const r = await sim.settle(sim.ask<ChunkReply>(at('s1'), write(6, [1, 2, 3], ['s2', 's3']), 1_000));
    expect(r).toMatchObject({ type: 'govfs.data.ChunkError', code: 'ESTALE' });
    expect(received.get('s2')).toEqual([]);
  });

  it('a dead store down the chain answers EIO naming it, within the chain time', async () => {
    const { sim } = rig();
    await sim.run({ forMs: 1 });
    sim.crash('s3');
    const t0 = sim.now();
    const r = await sim.settle(sim.ask<ChunkReply>(at('s1'), write(3, [1, 2, 3], ['s2', 's3']), 1_000));
    expect(r).toMatchObject({ type: 'govfs.data.ChunkError', code: 'EIO' });
    expect((r as { message: string }).message).toMatch(/replica chain at s2: replica chain at s3|node s3 did not answer/);
    // s2 waited 150 ms for s3, s1 200 ms for s2: the head answers before its own timeout.
    expect(sim.now() - t0).toBeLessThan(200);
  });

  it('a client FsRequest with a chain is answered as an FsReply, and a bad chain is refused before anything is written', async () => {
    const { sim, received } = rig();
    const ask = (dataWrite: object): Promise<FsReplyMessage> => sim.settle(sim.ask<FsReplyMessage>(at('s1'), { type: 'govfs.fs.FsRequest', path: '', dataWrite }, 1_000));
    const ok = { chunkId: 'c1', version: 1, token: 2, offset: 0, data: Uint8Array.from([5, 6]), chain: ['s2', 's3'], chainMs: 200 };
    expect(isDataFsRequest({ type: 'govfs.fs.FsRequest', dataWrite: ok })).toBe(true);
    expect(await ask(ok)).toMatchObject({ ok: true, result: 'dataWrite', dataWrite: { size: 2 } });
    expect(await readAll(sim)).toEqual({ s1: '5,6', s2: '5,6', s3: '5,6' });
    for (const bad of [{ chain: [7] }, { chain: Array.from({ length: 16 }, (_, i) => `n${i}`) }, { chainMs: -1 }]) {
      const r = await ask({ ...ok, token: 9, data: Uint8Array.from([1]), ...bad });
      expect(r).toMatchObject({ ok: false, error: { code: 'EINVAL' } });
    }
    expect(received.get('s2')!.length).toBe(1);
    expect((await readAll(sim)).s1).toBe('5,6');
  });
});
