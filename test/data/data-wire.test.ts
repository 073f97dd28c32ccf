// src/wire/proto/data.proto is loaded by the standard registry, and every data-plane message
// of src/data/messages.ts crosses the wire unchanged: field names, integer widths, bytes.

import { describe, expect, it } from 'vitest';
import { EnvelopeKind, MessageRegistry } from '../../src/wire/registry.js';
import type { ChunkReply, ChunkRequest } from '../../src/data/messages.js';

const registry = MessageRegistry.standard({ verify: true });
const roundTrip = (msg: ChunkRequest | ChunkReply): unknown =>
  registry.roundTrip({ to: 's#/s', from: 'c#/c', kind: EnvelopeKind.Ask, corr: 1, msg: msg as unknown as { type: string } }).msg;

describe('govfs.data messages on the wire', () => {
  const data = new Uint8Array(3_000).map((_, i) => (i * 7) & 0xff);
  const big = 2 ** 53 - 1;
  const messages: (ChunkRequest | ChunkReply)[] = [
    { type: 'govfs.data.ChunkWrite', chunkId: 'f1.c0', version: 3, token: big, offset: 64 * 1024 * 1024 - 1, data },
    { type: 'govfs.data.ChunkRead', chunkId: 'f1.c0', version: 3, offset: 5, length: 1 << 20 },
    { type: 'govfs.data.ChunkStat', chunkId: 'x' },
    { type: 'govfs.data.ChunkDelete', chunkId: 'x', version: 9 },
    { type: 'govfs.data.ChunkList', after: 'f1.c0', limit: 100 },
    { type: 'govfs.data.ChunkWritten', chunkId: 'x', version: 2, size: 12 },
    { type: 'govfs.data.ChunkData', chunkId: 'x', version: 2, offset: 3, data, size: 3_003 },
    { type: 'govfs.data.ChunkInfo', chunkId: 'x', version: 2, token: 7, size: 12, mtime: 1733380000123.5, repair: true },
    { type: 'govfs.data.ChunkDeleted', chunkId: 'x', existed: true },
    { type: 'govfs.data.ChunkListing', chunks: [{ chunkId: 'a', version: 1, token: 2, size: 3, mtime: 4, repair: false }, { chunkId: 'b', version: 5, token: 6, size: 7, mtime: 8, repair: true }], more: true },
    { type: 'govfs.data.ChunkError', code: 'ESTALE', message: 'write to chunk x: fencing token 3 is older than 4', chunkId: 'x' },
  ];

  it('the standard registry knows every data-plane type, with exactly the TypeScript field names', () => {
    for (const m of messages) {
      expect(registry.fieldNames(m.type).sort()).toEqual(Object.keys(m).filter((k) => k !== 'type').sort());
    }
  });

  it.each(messages.map((m) => [m.type, m] as const))('%s round-trips unchanged', (_, m) => {
    expect(roundTrip(m)).toEqual(m);
  });

  it('absent fields decode as their defaults (an empty write is empty bytes)', () => {
    const m = registry.roundTrip({ to: 'a', from: '', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.data.ChunkWrite', chunkId: 'x' } }).msg;
    expect(m).toMatchObject({ chunkId: 'x', version: 0, token: 0, offset: 0 });
    expect(m.data).toBeInstanceOf(Uint8Array);
    expect((m.data as Uint8Array).length).toBe(0);
  });
});
