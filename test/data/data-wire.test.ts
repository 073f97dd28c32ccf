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
    { type: 'govfs.data.ChunkWrite', chunkId: 'f1.c0', version: 3, token: 4, offset: 0, data, chain: ['n2', 'n3'], chainMs: 3_000 },
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
    // (A type's fields: those of all its samples; a write without a chain leaves two out.)
    const fields = new Map<string, Set<string>>();
    for (const m of messages) for (const k of Object.keys(m)) if (k !== 'type') fields.set(m.type, (fields.get(m.type) ?? new Set()).add(k));
    for (const [type, names] of fields) expect(registry.fieldNames(type).sort()).toEqual([...names].sort());
  });

  it.each(messages.map((m) => [m.type, m] as const))('%s round-trips unchanged', (_, m) => {
    // A write without a chain decodes with an empty one (a repeated field's default).
    const want = m.type === 'govfs.data.ChunkWrite' && m.chain === undefined ? { ...m, chain: [] } : m;
    expect(roundTrip(m)).toEqual(want);
  });

  it('absent fields decode as their defaults (an empty write is empty bytes)', () => {
    const m = registry.roundTrip({ to: 'a', from: '', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.data.ChunkWrite', chunkId: 'x' } }).msg;
    expect(m).toMatchObject({ chunkId: 'x', version: 0, token: 0, offset: 0 });
    expect(m.data).toBeInstanceOf(Uint8Array);
    expect((m.data as Uint8Array).length).toBe(0);
  });
});
