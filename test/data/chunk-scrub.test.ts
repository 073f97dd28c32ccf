// The chunk store's background scrub (ChunkStoreCore.scrub, idsAfter): bit rot in a chunk no
// one reads is found and flagged for repair; SimStorage.flipBit damages what is stored.

import { describe, expect, it } from 'vitest';
import { SimStorage } from '../../src/runtime/storage-sim.js';
import { StorageChunkBackend, blockKey } from '../../src/data/backend.js';
import { ChunkStoreCore } from '../../src/data/core.js';

function store() {
  const storage = new SimStorage();
  const backend = new StorageChunkBackend(storage);
  const core = new ChunkStoreCore(backend, [], { blockSize: 16 });
  const write = (chunkId: string, n: number): void => {
    backend.apply(core.handle({ type: 'govfs.data.ChunkWrite', chunkId, version: 1, token: 1, offset: 0, data: new Uint8Array(n).fill(7) }, 0).ops);
  };
  return { storage, core, write };
}

describe('chunk store scrub', () => {
  it('finds a flipped bit in any block of a chunk and flags it for repair, once', () => {
    const s = store();
    s.write('a', 40);
    s.write('b', 40);
    expect(s.core.scrub('a')).toEqual([]);
    expect(s.storage.flipBit(blockKey('b', 2), 3)).toBe(true);
    expect(s.core.scrub('a')).toEqual([]);
    expect(s.core.scrub('b')).toEqual([{ op: 'meta', meta: expect.objectContaining({ chunkId: 'b', repair: true }) }]);
    expect(s.core.needsRepair()).toEqual(['b']);
    expect(s.core.scrub('b')).toEqual([]);
    expect(s.storage.flipBit('no-such-key', 1)).toBe(false);
  });

  it('walks the chunks in id order, wrapping round', () => {
    const s = store();
    for (const id of ['c', 'a', 'b']) s.write(id, 1);
    expect(s.core.idsAfter('', 2)).toEqual(['a', 'b']);
    expect(s.core.idsAfter('b', 2)).toEqual(['c', 'a']);
    expect(s.core.idsAfter('z', 5)).toEqual(['a', 'b', 'c']);
  });
});
