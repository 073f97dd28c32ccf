// The chunk store's pure core (src/data/core.ts), driven directly: one request and the time in,
// ops and a reply out. Blocks live in a SimStorage (in memory, with crashes that lose what was
// not synced) through the chosen backend, so the tests also see what survives a crash.
// Thesis sentences quoted are from section 3.1 (capabilities) and 2.5 (GFS), where one applies.

import { describe, expect, it } from 'vitest';
import { SimStorage } from '../../src/runtime/storage-sim.js';
import { Simulation } from '../../src/runtime/sim.js';
import { StorageChunkBackend, blockKey, encodeBlock, metaKey, patchBlock } from '../../src/data/backend.js';
import { ChunkStoreCore, type ChunkEffects } from '../../src/data/core.js';
import { chunkStoreBehaviour } from '../../src/data/shell.js';
import { Prng } from '../fs/prng.js';
import type { ChunkData, ChunkError, ChunkInfo, ChunkListing, ChunkReply, ChunkRequest } from '../../src/data/messages.js';

const BS = 16; // tiny blocks, so a few bytes span several
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A core over a SimStorage; `apply` plays the shell's part (ops into the backend). */
function store(storage = new SimStorage()) {
  const backend = new StorageChunkBackend(storage);
  const core = new ChunkStoreCore(backend, backend.loadMetas(), { blockSize: BS, maxChunkBytes: 1024, listPage: 3 });
  const run = (req: ChunkRequest, now = 0): ChunkEffects => {
    const eff = core.handle(req, now);
    backend.apply(eff.ops);
    return eff;
  };
  const write = (chunkId: string, data: string | Uint8Array, o: { offset?: number; version?: number; token?: number; now?: number } = {}): ChunkReply =>
    run({ type: 'govfs.data.ChunkWrite', chunkId, version: o.version ?? 1, token: o.token ?? 1, offset: o.offset ?? 0, data: typeof data === 'string' ? enc(data) : data }, o.now).reply;
  const read = (chunkId: string, o: { offset?: number; length?: number; version?: number } = {}): ChunkReply =>
    run({ type: 'govfs.data.ChunkRead', chunkId, version: o.version ?? 1, offset: o.offset ?? 0, length: o.length ?? 1024 }).reply;
  const text = (chunkId: string, o: { offset?: number; length?: number; version?: number } = {}): string => {
    const r = read(chunkId, o);
    if (r.type !== 'govfs.data.ChunkData') throw new Error(`read failed: ${JSON.stringify(r)}`);
    return dec(r.data);
  };
  return { storage, backend, core, run, write, read, text };
}

const refused = (r: ChunkReply): ChunkError => {
  expect(r.type).toBe('govfs.data.ChunkError');
  return r as ChunkError;
};

describe('fencing: a write carries its lease token; an older token than the newest seen is refused', () => {
  // Thesis 3.1: "Similar to Ceph capabilities are only given for a limited time, this means a
  // client is given a lease to certain capabilities. ... The lease can also be revoked early by
  // the system." A lease that ran out must not let its holder's late writes through.
  it('a paused writer with an old token is refused after a newer writer wrote (ESTALE), and the newer bytes stay', () => {
    const s = store();
    expect(s.write('c1', 'paused-writer-v1', { token: 3 }).type).toBe('govfs.data.ChunkWritten');
    // The first writer pauses past its lease; the minister grants the range to a second writer.
    expect(s.write('c1', 'NEWER', { token: 4 }).type).toBe('govfs.data.ChunkWritten');
    // The first writer wakes up and carries on with its old token.
    const e = refused(s.write('c1', 'late!', { token: 3, offset: 5 }));
    expect(e.code).toBe('ESTALE');
    expect(e.chunkId).toBe('c1');
    expect(e.message).toMatch(/write to chunk c1: fencing token 3 is older than 4, the newest this store has seen for it/);
    expect(s.text('c1')).toBe('NEWERd-writer-v1');
    expect((s.run({ type: 'govfs.data.ChunkStat', chunkId: 'c1' }).reply as ChunkInfo).token).toBe(4);
  });

  // Thesis 3.1: "Multiple clients can have capabilities on the same file as long as write
  // capabilities have no overlap with any region." Tokens are per chunk, so the holder of the
  // current token may write again, and a newer one fences it off in turn.
  it('the current token keeps writing; the fence is per chunk and survives a restart', async () => {
    const s = store();
    s.write('c1', 'a', { token: 7 });
    expect(s.write('c1', 'b', { token: 7, offset: 1 }).type).toBe('govfs.data.ChunkWritten');
    expect(s.write('c2', 'x', { token: 1 }).type).toBe('govfs.data.ChunkWritten'); // another chunk, its own fence
    // An empty write only raises the fence (and adopts the version): it does not extend the chunk.
    expect(s.write('c1', '', { token: 9, offset: 100 })).toMatchObject({ type: 'govfs.data.ChunkWritten', size: 2 });
    expect(refused(s.write('c1', 'z', { token: 8 })).code).toBe('ESTALE');
    // The fence is stored with the chunk: a store restarted over the same (synced) disk keeps it.
    await s.storage.close();
    const again = store(s.storage.reopen());
    expect(refused(again.write('c1', 'z', { token: 8 })).message).toMatch(/token 8 is older than 9/);
    expect(again.text('c1')).toBe('ab');
  });
});

describe('versions: a write or read naming an older chunk version is refused', () => {
  // No thesis sentence: chunk versions come from GFS (thesis 2.5 describes its chunk servers)
  // and issue 17 point 4: a replica that missed a bump must never be read.
  it('write and read of an older version: ESTALE saying the layout is out of date', () => {
    const s = store();
    s.write('c1', 'v2 data', { version: 2 });
    const w = refused(s.write('c1', 'old', { version: 1 }));
    expect([w.code, w.message]).toEqual(['ESTALE', expect.stringMatching(/write to chunk c1: names version 1 but this store holds version 2 \(the writer's layout is out of date/)]);
    const r = refused(s.read('c1', { version: 1 }));
    expect([r.code, r.message]).toEqual(['ESTALE', expect.stringMatching(/read of chunk c1: names version 1 but this store holds version 2/)]);
    expect(s.text('c1', { version: 2 })).toBe('v2 data');
  });

  it('a read naming a newer version is refused (this replica missed a bump); a write naming one adopts it', () => {
    const s = store();
    s.write('c1', 'abc', { version: 1 });
    const r = refused(s.read('c1', { version: 2 }));
    expect(r.message).toMatch(/this replica holds version 1, older than the 2 asked \(it missed a version bump: read another replica\)/);
    expect(s.write('c1', 'X', { version: 2, offset: 1 })).toMatchObject({ type: 'govfs.data.ChunkWritten', version: 2, size: 3 });
    expect(s.text('c1', { version: 2 })).toBe('aXc');
  });

  it('a delete naming an older version than the store holds is refused; a current one removes the chunk', () => {
    const s = store();
    s.write('c1', 'abc', { version: 3 });
    expect(refused(s.run({ type: 'govfs.data.ChunkDelete', chunkId: 'c1', version: 2 }).reply).code).toBe('ESTALE');
    expect(s.run({ type: 'govfs.data.ChunkDelete', chunkId: 'c1', version: 3 }).reply).toMatchObject({ existed: true });
    expect(s.run({ type: 'govfs.data.ChunkDelete', chunkId: 'c1', version: 3 }).reply).toMatchObject({ existed: false });
    expect(refused(s.read('c1', { version: 3 })).code).toBe('ENOENT');
    expect([...s.storage.range({})]).toEqual([]); // every block and the metadata are gone
  });
});

describe('checksums: every block read is verified', () => {
  // Thesis 2.5 (GFS): "To ensure data will not get corrupted by hardware failure the data is
  // checksummed and replicated over multiple servers."
  it('a flipped bit in a stored block: the read fails with EIO naming chunk and block, and the chunk is flagged for repair (durably)', async () => {
    const s = store();
    s.write('c1', 'x'.repeat(BS) + 'y'.repeat(BS) + 'z'.repeat(5)); // blocks 0, 1, 2
    const key = blockKey('c1', 1);
    const stored = s.storage.get(key)!;
    stored[7]! ^= 0x04; // one bit, in the data of block 1
    s.storage.put(key, stored);
    const eff = s.run({ type: 'govfs.data.ChunkRead', chunkId: 'c1', version: 1, offset: 0, length: 100 });
    const e = refused(eff.reply);
    expect(e.code).toBe('EIO');
    expect(e.message).toMatch(/read of chunk c1: block 1 \(bytes 16-31\) fails its CRC-32C checksum; this replica is damaged and flagged for repair/);
    // The flag is an op, so the shell stores it (with the EIO sent after it is durable).
    expect(eff.ops).toEqual([{ op: 'meta', meta: expect.objectContaining({ chunkId: 'c1', repair: true }) }]);
    expect(s.core.needsRepair()).toEqual(['c1']);
    expect(s.run({ type: 'govfs.data.ChunkStat', chunkId: 'c1' }).reply).toMatchObject({ repair: true });
    // Blocks that pass their checksum still read; a partial write into the bad block is refused too.
    expect(s.text('c1', { offset: 32 })).toBe('zzzzz');
    expect(refused(s.write('c1', 'q', { offset: 17 })).code).toBe('EIO');
    // A second bad read does not write the flag again.
    expect(s.run({ type: 'govfs.data.ChunkRead', chunkId: 'c1', version: 1, offset: 16, length: 1 }).ops).toEqual([]);
    await s.storage.close();
    expect(store(s.storage.reopen()).core.needsRepair()).toEqual(['c1']);
  });

  it('any single flipped bit in any stored block is found', () => {
    const s = store();
    s.write('c1', enc('0123456789abcdefghijklmnopqrstuvwxyz'));
    for (let b = 0; b < 3; b++) {
      const key = blockKey('c1', b);
      const good = s.storage.get(key)!;
      for (let bit = 0; bit < good.length * 8; bit++) {
        const bad = good.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        s.storage.put(key, bad);
        expect(refused(s.read('c1', { offset: b * BS, length: 1 })).code).toBe('EIO');
      }
      s.storage.put(key, good);
    }
  });

  it('damaged metadata: the chunk is neither read nor written until repaired', async () => {
    const s = store();
    s.write('c1', 'abc', { token: 5 });
    const m = s.storage.get(metaKey('c1'))!;
    m[m.length - 3]! ^= 0x40;
    s.storage.put(metaKey('c1'), m);
    await s.storage.close();
    const again = store(s.storage.reopen());
    expect(again.core.needsRepair()).toEqual(['c1']);
    expect(refused(again.read('c1')).code).toBe('ESTALE');
    expect(refused(again.write('c1', 'x', { token: 6 })).code).toBe('ESTALE');
  });
});

describe('durability: nothing is acknowledged before it is durable', () => {
  // No thesis sentence on data durability; the ministry's rule is the model (thesis 3.2:
  // "Changes are only completed when they are written to half of the clerks.").
  it('core: a write returns its blocks and metadata as one op list; lost before sync, the restarted store does not have it', async () => {
    const s = store();
    s.write('c1', 'synced');
    await s.storage.sync();
    const eff = s.run({ type: 'govfs.data.ChunkWrite', chunkId: 'c1', version: 1, token: 2, offset: 0, data: enc('LOST-EVERYTHING-HERE') });
    expect(eff.ops.map((o) => o.op)).toEqual(['block', 'block', 'meta']);
    s.storage.crash(); // power cut before the sync
    const again = store(s.storage.reopen());
    expect(again.text('c1')).toBe('synced');
    expect(again.core.meta('c1')).toMatchObject({ token: 1, size: 6 });
  });

  it('shell: the reply comes only after the simulated fsync; a crash before it means no reply and nothing kept', async () => {
    const sim = new Simulation({ seed: 1, fsync: { minMs: 5, maxMs: 5 } });
    sim.addHost('s', () => chunkStoreBehaviour());
    await sim.run({ forMs: 1 });
    const sent = sim.now();
    const ok = await sim.settle(sim.ask<ChunkReply>('s#/s', { type: 'govfs.data.ChunkWrite', chunkId: 'c1', version: 1, token: 1, offset: 0, data: enc('durable') }));
    expect(ok.type).toBe('govfs.data.ChunkWritten');
    expect(sim.now() - sent).toBeGreaterThanOrEqual(5);
    expect(sim.host('s').storage.stats().pendingWrites).toBe(0);
    // A second write; the host dies 2 ms in, before its fsync completes.
    let answered = false;
    void sim.ask('s#/s', { type: 'govfs.data.ChunkWrite', chunkId: 'c1', version: 1, token: 2, offset: 0, data: enc('LOST!!!') }).then(() => (answered = true), () => {});
    await sim.run({ forMs: 2 });
    sim.crash('s');
    sim.restart('s');
    await sim.run({ forMs: 20 });
    expect(answered).toBe(false);
    const r = await sim.settle(sim.ask<ChunkData>('s#/s', { type: 'govfs.data.ChunkRead', chunkId: 'c1', version: 1, offset: 0, length: 100 }));
    expect(dec(r.data)).toBe('durable');
  });
  it('shell: writes arriving together share fsyncs (group commit), and each is acknowledged', async () => {
    const sim = new Simulation({ seed: 2, fsync: { minMs: 1, maxMs: 1 } });
    sim.addHost('s', () => chunkStoreBehaviour());
    await sim.run({ forMs: 1 });
    const replies = Array.from({ length: 20 }, (_, i) =>
      sim.ask<ChunkReply>('s#/s', { type: 'govfs.data.ChunkWrite', chunkId: `c${i}`, version: 1, token: 1, offset: 0, data: enc(`w${i}`) }),
    );
    const all = await sim.settle(Promise.all(replies));
    expect(all.every((r) => r.type === 'govfs.data.ChunkWritten')).toBe(true);
    expect(sim.host('s').storage.stats().flushes).toBeLessThanOrEqual(2);
  });

  it('shell: a failed sync answers every waiting request EIO, acknowledging nothing', async () => {
    const sim = new Simulation({ seed: 3 });
    let failSync = false;
    sim.addHost('s', () =>
      chunkStoreBehaviour({
        backend: (st) => {
          const b = new StorageChunkBackend(st);
          return { loadMetas: () => b.loadMetas(), block: (id, i) => b.block(id, i), apply: (ops) => b.apply(ops), sync: () => (failSync ? Promise.reject(new Error('EIO: disk gone')) : b.sync()) };
        },
      }),
    );
    await sim.run({ forMs: 1 });
    failSync = true;
    const r = await sim.settle(sim.ask<ChunkReply>('s#/s', { type: 'govfs.data.ChunkWrite', chunkId: 'c1', version: 1, token: 1, offset: 0, data: enc('x') }));
    expect(r).toMatchObject({ type: 'govfs.data.ChunkError', code: 'EIO', chunkId: 'c1' });
    expect((r as ChunkError).message).toMatch(/storage sync failed \(EIO: disk gone\); nothing of this request is acknowledged/);
  });
});

describe('shell: a read has its blocks brought into memory first (Storage.prefetch)', () => {
  it('asks for the blocks the read touches, answers once they are in (with a write that came meanwhile), and answers a refused read at once', async () => {
    const sim = new Simulation({ seed: 4, fsync: { minMs: 0.1, maxMs: 0.1 } });
    const asked: string[] = [];
    const gates: (() => void)[] = [];
    sim.addHost('s', () =>
      chunkStoreBehaviour({
        blockSize: 4,
        backend: (st) => {
          const b = new StorageChunkBackend(st);
          return {
            loadMetas: () => b.loadMetas(),
            block: (id, i) => b.block(id, i),
            peekBlock: (id, i) => b.peekBlock(id, i),
            apply: (ops) => b.apply(ops),
            sync: () => b.sync(),
            prefetchBlocks: (id, first, end) => {
              asked.push(`${id} ${first}-${end}`);
              return new Promise<void>((resolve) => gates.push(resolve));
            },
          };
        },
      }),
    );
    await sim.run({ forMs: 1 });
    await sim.settle(sim.ask<ChunkReply>('s#/s', { type: 'govfs.data.ChunkWrite', chunkId: 'c1', version: 1, token: 1, offset: 0, data: enc('abcdefghijklmnop') }));
    let read: ChunkData | undefined;
    const reading = sim.ask<ChunkData>('s#/s', { type: 'govfs.data.ChunkRead', chunkId: 'c1', version: 1, offset: 5, length: 6 }).then((r) => (read = r));
    await sim.run({ forMs: 5 });
    expect(asked).toEqual(['c1 1-3']); // bytes 5-10: blocks 1 and 2
    expect(read).toBeUndefined(); // not before its blocks are in
    await sim.settle(sim.ask<ChunkReply>('s#/s', { type: 'govfs.data.ChunkWrite', chunkId: 'c1', version: 1, token: 1, offset: 6, data: enc('XY') }));
    gates.shift()!();
    expect(dec((await sim.settle(reading)).data)).toBe('fXYijk');
    // Refused (a version this store does not hold): answered at once, nothing fetched.
    const e = await sim.settle(sim.ask<ChunkReply>('s#/s', { type: 'govfs.data.ChunkRead', chunkId: 'c1', version: 2, offset: 0, length: 4 }));
    expect(e).toMatchObject({ type: 'govfs.data.ChunkError', code: 'ESTALE' });
    expect(asked).toEqual(['c1 1-3']);
  });
});

describe('layout: blocks, holes, sizes, lists, bad input', () => {
  it('unaligned writes patch blocks; holes read as zeros; reads stop at the chunk size', () => {
    const s = store();
    s.write('c1', 'abcdefghij', { offset: 10 }); // bytes 10-19: blocks 0 and 1
    expect(s.read('c1')).toMatchObject({ size: 20 });
    expect(s.text('c1')).toBe('\0'.repeat(10) + 'abcdefghij');
    s.write('c1', 'XY', { offset: 15 });
    expect(s.text('c1', { offset: 12, length: 6 })).toBe('cdeXYh');
    s.write('c1', 'end', { offset: 50 }); // block 3; block 2 stays a hole
    expect(s.text('c1', { offset: 18, length: 100 })).toBe('ij' + '\0'.repeat(30) + 'end');
    expect(s.storage.get(blockKey('c1', 2))).toBeUndefined();
    expect(s.text('c1', { offset: 60 })).toBe('');
  });

  it('a patched block has the checksum of its whole new data, and a damaged one is not patched', () => {
    // patchBlock combines the new CRC-32C from the old data's parts (one pass over the block):
    // it must equal encodeBlock's of the same bytes, wherever the write falls and however long.
    const rng = new Prng(17);
    for (let i = 0; i < 300; i++) {
      const old = Uint8Array.from({ length: rng.int(200) }, () => rng.int(256));
      const at = rng.int(old.length + 1);
      const data = Uint8Array.from({ length: 1 + rng.int(80) }, () => rng.int(256));
      const want = new Uint8Array(Math.max(old.length, at + data.length));
      want.set(old);
      want.set(data, at);
      expect(patchBlock(encodeBlock(old), at, data)).toEqual(encodeBlock(want));
      const bad = encodeBlock(old);
      if (old.length === 0) continue;
      bad[4 + rng.int(old.length)]! ^= 1 << rng.int(8); // one bit anywhere: under the write too
      expect(patchBlock(bad, at, data)).toBeNull();
    }
    expect(patchBlock(encodeBlock(enc('abc')), 4, enc('x'))).toBeUndefined(); // past the end: a gap
  });

  it('lists chunks in id order, a page at a time, with their versions and repair flags', () => {
    const s = store();
    for (const id of ['d', 'a', 'c', 'b', 'e']) s.write(id, id, { version: 2, now: 42 });
    const page1 = s.run({ type: 'govfs.data.ChunkList', after: '', limit: 0 }).reply as ChunkListing;
    expect(page1.chunks.map((c) => c.chunkId)).toEqual(['a', 'b', 'c']);
    expect(page1.more).toBe(true);
    expect(page1.chunks[0]).toEqual({ chunkId: 'a', version: 2, token: 1, size: 1, mtime: 42, repair: false });
    const page2 = s.run({ type: 'govfs.data.ChunkList', after: 'c', limit: 10 }).reply as ChunkListing;
    expect([page2.chunks.map((c) => c.chunkId), page2.more]).toEqual([['d', 'e'], false]);
  });

  it('bad input gets EINVAL with a message saying what is wrong, and changes nothing', () => {
    const s = store();
    const bad: [ChunkRequest, RegExp][] = [
      [{ type: 'govfs.data.ChunkWrite', chunkId: 'a/b', version: 1, token: 1, offset: 0, data: enc('x') }, /a chunk id is 1-128 characters/],
      [{ type: 'govfs.data.ChunkWrite', chunkId: 'c', version: 0, token: 1, offset: 0, data: enc('x') }, /version must be an integer >= 1, got 0/],
      [{ type: 'govfs.data.ChunkWrite', chunkId: 'c', version: 1, token: -1, offset: 0, data: enc('x') }, /fencing token must be an integer >= 0/],
      [{ type: 'govfs.data.ChunkWrite', chunkId: 'c', version: 1, token: 1, offset: 1020, data: enc('toolong') }, /bytes 1020-1027 pass the largest chunk size, 1024 bytes/],
      [{ type: 'govfs.data.ChunkWrite', chunkId: 'c', version: 1, token: 1, offset: 0, data: 'x' as unknown as Uint8Array }, /data must be bytes/],
      [{ type: 'govfs.data.ChunkRead', chunkId: 'c', version: 1, offset: 0.5, length: 1 }, /offset and length must be integers/],
      [{ type: 'govfs.data.ChunkList', after: 7 as unknown as string, limit: 0 }, /after must be a string/],
    ];
    for (const [req, msg] of bad) {
      const eff = s.core.handle(req, 0);
      expect(eff.ops).toEqual([]);
      expect(refused(eff.reply).code).toBe('EINVAL');
      expect(refused(eff.reply).message).toMatch(msg);
    }
    expect(refused(s.read('nope')).code).toBe('ENOENT');
  });
});

describe('hostile input: whatever a peer sends, the core answers and never throws', () => {
  it('2,000 requests of every govfs.data request type with arbitrary field values', () => {
    const rnd = new Prng(17);
    const s = store();
    const strings = ['', 'c1', 'c2', 'a/b', 'x'.repeat(200), '..', '\u0000', 'é'];
    const numbers = [0, 1, 2, 15, 16, 17, 1023, 1024, 1025, 2 ** 31, 2 ** 53 - 1, 2 ** 64, -1, 0.5, Number.NaN, Infinity];
    const values = (): unknown => [rnd.pick(strings), rnd.pick(numbers), new Uint8Array(rnd.int(40)), undefined, null, {}, true][rnd.int(7)];
    const types = ['govfs.data.ChunkWrite', 'govfs.data.ChunkRead', 'govfs.data.ChunkStat', 'govfs.data.ChunkDelete', 'govfs.data.ChunkList'] as const;
    const fields = ['chunkId', 'version', 'token', 'offset', 'length', 'data', 'after', 'limit'];
    const replies = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const req: Record<string, unknown> = { type: rnd.pick(types) };
      for (const f of fields) req[f] = rnd.chance(0.3) ? values() : f === 'chunkId' ? rnd.pick(['c1', 'c2']) : f === 'data' ? new Uint8Array(rnd.int(40)) : f === 'after' ? '' : rnd.int(40);
      const eff = s.core.handle(req as unknown as ChunkRequest, i);
      s.backend.apply(eff.ops);
      replies.add(eff.reply.type === 'govfs.data.ChunkError' ? eff.reply.code : eff.reply.type);
    }
    // Both valid and refused requests were among them.
    expect(replies).toContain('govfs.data.ChunkWritten');
    expect(replies).toContain('govfs.data.ChunkData');
    expect(replies).toContain('EINVAL');
  });
});
