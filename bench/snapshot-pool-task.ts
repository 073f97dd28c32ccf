// The piscina task of `npm run bench -- snapshot`: decode a namespace snapshot and encode it
// again, off the caller's thread; answers with the sizes and this thread's id (to show where
// it ran).
import { threadId } from 'node:worker_threads';
import { decodeNamespace, encodeNamespace } from '../src/fs/namespace-snapshot.js';

export default function roundTrip(bytes: Uint8Array): { threadId: number; bytes: number; decodeMs: number; encodeMs: number } {
  const a = performance.now();
  const st = decodeNamespace(bytes);
  const b = performance.now();
  const out = encodeNamespace(st);
  return { threadId, bytes: out.length, decodeMs: b - a, encodeMs: performance.now() - b };
}
