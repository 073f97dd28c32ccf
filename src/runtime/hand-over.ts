// Marking a payload's memory as given away with the message it is sent in (ring-side.ts moves
// such a buffer to the receiving thread instead of copying it). Apart from ring-side.ts, which
// needs worker threads, so that code that only marks (the TCP bridge, also bundled into the
// command line's client) does not load them.

const handedOver = new WeakSet<ArrayBufferLike>();

/** Give the memory of `bytes` away with the next message it is sent in: a send to another
 * thread may then move its whole ArrayBuffer there instead of copying it, which empties `bytes`
 * and every other view of that buffer on this thread. Only for a buffer nothing on this thread
 * reads again (e.g. bytes just read from disk, or a frame reassembled from a socket). A view of
 * less than half its buffer is copied anyway (moving would carry the rest along). Returns
 * `bytes`. */
export function handOver<T extends Uint8Array>(bytes: T): T {
  if (!(bytes.buffer instanceof SharedArrayBuffer)) handedOver.add(bytes.buffer);
  return bytes;
}

/** Was the buffer under `bytes` handed over (and not yet moved)? */
export function isHandedOver(bytes: Uint8Array): boolean {
  return handedOver.has(bytes.buffer);
}

/** The buffer was moved: forget it. */
export function forgetHandedOver(buffer: ArrayBufferLike): void {
  handedOver.delete(buffer);
}
