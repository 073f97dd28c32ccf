// Buffers for snapshots a follower receives (core.ts, InstallSnapshot): the chunks are copied in
// as they come, not joined at the end, and the buffer has room in front of the data for the
// header the shell stores it with (log-store.ts, encodeSnapshot), which is then written in
// place. Joining at the end and copying again to store held a follower's thread for ~15 and
// ~35 ms on a 6 MB snapshot: on this project's VMs the first touch of a fresh page costs
// ~12 µs, so a fresh 6 MB buffer costs ~18 ms before any byte is copied (issue 19, point 4).

/** Bytes in front of the data: a snapshot's header (seal, length, meta JSON of its term,
 * index and members) fits in this for any membership of a few dozen nodes. */
const HEADROOM = 4096;
const roomy = new WeakSet<ArrayBuffer>();

/** A buffer of `size` bytes with room in front; null if it cannot be had (a size no peer
 * should send). */
export function snapshotBuffer(size: number): Uint8Array | null {
  try {
    const buf = new ArrayBuffer(HEADROOM + size);
    roomy.add(buf);
    return new Uint8Array(buf, HEADROOM, size);
  } catch {
    return null;
  }
}

/** How many bytes in front of `data` are free to write: HEADROOM for a whole buffer of
 * snapshotBuffer(), else 0. */
export function headroomOf(data: Uint8Array): number {
  const buf = data.buffer as ArrayBuffer;
  return roomy.has(buf) && data.byteOffset === HEADROOM && data.byteLength === buf.byteLength - HEADROOM ? HEADROOM : 0;
}
