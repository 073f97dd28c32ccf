// The chosen backend for real: the chunk store core over lmdb (LmdbStorage), across a close
// and reopen of the environment, with a damaged block found on read.

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';
import { JournaledStorage } from '../../src/runtime/storage-journal.js';
import { chunkStorage } from '../../src/data/shell.js';
import { prefixed } from '../../src/runtime/storage.js';
import { StorageChunkBackend, blockKey } from '../../src/data/backend.js';
import { ChunkStoreCore } from '../../src/data/core.js';
import type { ChunkData, ChunkError, ChunkRequest } from '../../src/data/messages.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(dir: string) {
  const storage = LmdbStorage.open(dir);
  const chunks = prefixed(storage, 'chunks/');
  const backend = new StorageChunkBackend(chunks);
  const core = new ChunkStoreCore(backend, backend.loadMetas());
  const run = async (req: ChunkRequest) => {
    const { ops, reply } = core.handle(req, 1);
    backend.apply(ops);
    await backend.sync();
    return reply;
  };
  return { storage, chunks, core, run };
}

describe('chunk store on lmdb', () => {
  it('a written chunk (several 64 KiB blocks, an unaligned tail) reads back after the environment is reopened; a damaged block is EIO', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-chunks-'));
    dirs.push(dir);
    const data = new Uint8Array(200_000).map((_, i) => (i * 13 + 7) & 0xff);
    const a = open(dir);
    expect(await a.run({ type: 'govfs.data.ChunkWrite', chunkId: 'f.0', version: 1, token: 4, offset: 100, data })).toMatchObject({ type: 'govfs.data.ChunkWritten', size: 200_100 });
    await a.storage.close();

    const b = open(dir);
    expect(b.core.meta('f.0')).toMatchObject({ version: 1, token: 4, size: 200_100, repair: false });
    const r = (await b.run({ type: 'govfs.data.ChunkRead', chunkId: 'f.0', version: 1, offset: 100, length: 300_000 })) as ChunkData;
    expect(r.data.length).toBe(200_000);
    expect(Buffer.from(r.data).equals(Buffer.from(data))).toBe(true);
    const stored = b.chunks.get(blockKey('f.0', 2))!;
    stored[1000]! ^= 0x80;
    b.chunks.put(blockKey('f.0', 2), stored);
    const e = (await b.run({ type: 'govfs.data.ChunkRead', chunkId: 'f.0', version: 1, offset: 0, length: 10 * 65536 })) as ChunkError;
    expect([e.code, e.message]).toEqual(['EIO', expect.stringMatching(/block 2 \(bytes 131072-196607\) fails its CRC-32C checksum/)]);
    await b.storage.close();
    expect(open(dir).core.needsRepair()).toEqual(['f.0']);
  });
});

describe("a node's chunk store storage (chunkStorage)", () => {
  const write = (core: ChunkStoreCore, backend: StorageChunkBackend, offset: number, data: Uint8Array) => {
    const { ops, reply } = core.handle({ type: 'govfs.data.ChunkWrite', chunkId: 'f.1', version: 1, token: 2, offset, data }, 1);
    backend.apply(ops);
    return reply;
  };

  it('is a journaled storage of its own beside the node lmdb; synced 4 KiB writes read back after a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-chunks-'));
    dirs.push(dir);
    const node = LmdbStorage.openShared(join(dir, 'nodes'), 'n1');
    const chunks = chunkStorage(node, 'chunks/');
    expect(chunks).toBeInstanceOf(JournaledStorage);
    const backend = new StorageChunkBackend(chunks);
    const core = new ChunkStoreCore(backend, backend.loadMetas());
    const block = (i: number) => new Uint8Array(4096).fill(i);
    for (let i = 0; i < 20; i++) write(core, backend, (i * 7919 % 64) * 4096, block(i + 1));
    await backend.sync();
    expect([...node.range({})]).toEqual([]); // nothing in the node's own database
    await node.close(); // closes the chunk storage too
    await LmdbStorage.closeShared();
    const again = LmdbStorage.openShared(join(dir, 'nodes'), 'n1');
    const b2 = new StorageChunkBackend(chunkStorage(again, 'chunks/'));
    const c2 = new ChunkStoreCore(b2, b2.loadMetas());
    for (let i = 0; i < 20; i++) {
      const r = c2.handle({ type: 'govfs.data.ChunkRead', chunkId: 'f.1', version: 1, offset: (i * 7919 % 64) * 4096, length: 4096 }, 2).reply as ChunkData;
      // (Offsets repeat: the last write to each wins.)
      const last = Array.from({ length: 20 }, (_, j) => j).filter((j) => (j * 7919 % 64) === (i * 7919 % 64)).pop()!;
      expect(r.data).toEqual(block(last + 1));
    }
    await again.close();
    await LmdbStorage.closeShared();
  });

  it('keeps the blocks in a file per chunk beside its lmdb (which holds pointers); a damaged file is EIO; a deleted chunk\'s file goes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-chunks-'));
    dirs.push(dir);
    const node = LmdbStorage.openShared(join(dir, 'nodes'), 'n1');
    const chunks = chunkStorage(node, 'chunks/');
    const backend = new StorageChunkBackend(chunks);
    const core = new ChunkStoreCore(backend, backend.loadMetas());
    const data = new Uint8Array(200_000).map((_, i) => (i * 13 + 7) & 0xff);
    write(core, backend, 0, data);
    await backend.sync();
    await node.close(); // (applies the journal to lmdb and the files)
    await LmdbStorage.closeShared();
    const store = join(dir, 'nodes', 'chunks-n1');
    const file = join(store, 'files', 'c-f.1');
    expect(statSync(file).size).toBe(3 * 65540 + 4 + (200_000 - 3 * 65536));
    const raw = LmdbStorage.open(store);
    expect(raw.get(blockKey('f.1', 0))!.length).toBe(12); // a pointer, not the block
    await raw.close();
    const again = LmdbStorage.openShared(join(dir, 'nodes'), 'n1');
    const b2 = new StorageChunkBackend(chunkStorage(again, 'chunks/'));
    // (Damaged after the open: the open replays the journal, which writes the slots again.)
    const f = readFileSync(file);
    f[65540 + 4 + 1000]! ^= 0x10; // block 1's data
    writeFileSync(file, f);
    const c2 = new ChunkStoreCore(b2, b2.loadMetas());
    const ok = c2.handle({ type: 'govfs.data.ChunkRead', chunkId: 'f.1', version: 1, offset: 0, length: 65536 }, 2).reply as ChunkData;
    expect(Buffer.from(ok.data).equals(Buffer.from(data.subarray(0, 65536)))).toBe(true);
    const bad = c2.handle({ type: 'govfs.data.ChunkRead', chunkId: 'f.1', version: 1, offset: 65536, length: 10 }, 2);
    expect(bad.reply).toMatchObject({ type: 'govfs.data.ChunkError', code: 'EIO' });
    b2.apply(bad.ops);
    const del = c2.handle({ type: 'govfs.data.ChunkDelete', chunkId: 'f.1', version: 1 }, 3);
    b2.apply(del.ops);
    await b2.sync();
    await again.close();
    await LmdbStorage.closeShared();
    expect(existsSync(file)).toBe(false);
  });

  it("stays in the node's storage where that already holds chunks (a data folder from before)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-chunks-'));
    dirs.push(dir);
    const node = LmdbStorage.open(dir);
    node.put('chunks/m/old', new Uint8Array(1));
    const chunks = chunkStorage(node, 'chunks/');
    expect(chunks).not.toBeInstanceOf(JournaledStorage);
    expect([...chunks.range({})].map(([k]) => k)).toEqual(['m/old']);
    await node.close();
  });
});

describe('Storage.peek (a chunk read without lmdb-js copying each block into a fresh buffer)', () => {
  it('gives each key its own bytes, read in turn, from lmdb, from the journal overlay, and none for a deleted key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-chunks-'));
    dirs.push(dir);
    const node = LmdbStorage.openShared(join(dir, 'nodes'), 'n2');
    const s = chunkStorage(node, 'chunks/');
    // Small values, and values past lmdb-js's 32 KiB "new buffer" threshold.
    const value = (i: number) => new Uint8Array(i % 2 === 0 ? 100 + i : 65_540 + i).fill(i + 1);
    for (let i = 0; i < 6; i++) s.put(`k${i}`, value(i));
    s.del('k5');
    await s.sync();
    const seen = (): number[][] => [0, 1, 2, 3, 4, 5].map((i) => Array.from(new Set(s.peek?.(`k${i}`) ?? []).values()).concat(s.peek?.(`k${i}`)?.length ?? -1));
    const want = [0, 1, 2, 3, 4].map((i) => [i + 1, value(i).length]).concat([[-1]]);
    expect(seen()).toEqual(want); // (from the overlay, or from lmdb once applied)
    await node.close();
    await LmdbStorage.closeShared();
    const again = LmdbStorage.openShared(join(dir, 'nodes'), 'n2');
    const s2 = chunkStorage(again, 'chunks/');
    expect(typeof s2.peek).toBe('function');
    // prefetch (lmdb-js's reader pool touches the pages) resolves, a missing key and all, well
    // before its 1 s fallback.
    const t = Date.now();
    await s2.prefetch!(['k0', 'k1', 'k3', 'missing']);
    expect(Date.now() - t).toBeLessThan(900);
    const lengths = [0, 1, 2, 3, 4, 5].map((i) => s2.peek!(`k${i}`)?.length ?? -1);
    expect(lengths).toEqual([...[0, 1, 2, 3, 4].map((i) => value(i).length), -1]);
    for (let i = 0; i < 5; i++) expect(Buffer.from(s2.peek!(`k${i}`)!).equals(Buffer.from(value(i)))).toBe(true); // (replayed, or from lmdb)
    await again.close();
    await LmdbStorage.closeShared();
  });
});
