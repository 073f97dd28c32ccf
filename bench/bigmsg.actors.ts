// The actor `npm run bench -- bigmsg` places on a worker thread (loaded by the threads there; the
// dot in the name keeps it off the list of benchmarks).

import { registerBehaviour } from '../src/runtime/runtime.js';
import type { Context, Message } from '../src/runtime/types.js';

/** Answers each ChunkWrite with a small ChunkWritten (its size): the bytes only have to arrive. */
registerBehaviour('bench.big-sink', () => ({
  receive(ctx: Context, msg: Message) {
    const m = msg as { type: string; chunkId: string; data: Uint8Array };
    if (m.type === 'govfs.data.ChunkWrite') ctx.reply({ type: 'govfs.data.ChunkWritten', chunkId: m.chunkId, version: 0, size: m.data.length });
  },
}));
