// The piscina tasks of `npm run bench -- snapshot`, off the caller's thread; each answers with
// this thread's id (to show where it ran).
//   roundTrip     decode a namespace snapshot and encode it again
//   fromLog       the snapshot at index i built from the snapshot at j and the entries j+1..i
//                 (here: namespace ops as JSON lines), as the log holds them
import { threadId } from 'node:worker_threads';
import { decodeNamespace, encodeNamespace } from '../src/fs/namespace-snapshot.js';
import { Namespace } from '../src/fs/namespace.js';

export function fromLog(task: { base: Uint8Array; entries: Uint8Array }): { threadId: number; snapshot: Uint8Array; ms: number } {
  const a = performance.now();
  const ns = Namespace.restore(task.base);
  for (const line of new TextDecoder().decode(task.entries).split('\n')) if (line) ns.apply(JSON.parse(line));
  return { threadId, snapshot: ns.snapshot(), ms: performance.now() - a };
}

export function roundTrip(bytes: Uint8Array): { threadId: number; bytes: number; decodeMs: number; encodeMs: number } {
  const a = performance.now();
  const st = decodeNamespace(bytes);
  const b = performance.now();
  const out = encodeNamespace(st);
  return { threadId, bytes: out.length, decodeMs: b - a, encodeMs: performance.now() - b };
}
