// The chosen backend for real: the chunk store core over lmdb (LmdbStorage), across a close
// and reopen of the environment, with a damaged block found on read.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';
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
