// Cross-thread mailboxes (DESIGN.md, "Runtime contracts" / "Mailboxes").
//
// One single-producer single-consumer byte ring (ringbuf.js on a SharedArrayBuffer) per ordered
// pair of threads. A message is protobuf-encoded once, straight into ring memory, and decoded
// straight from it on the other side.
//
// Memory of one ring (`RingChannelShared`, structured-clonable: create every ring on the main
// thread and hand them to the workers through workerData or postMessage):
//
//   ring      ringbuf.js Uint8 storage: u32 write index @0, u32 read index @4, then
//             capacity+1 bytes of data (ringbuf.js keeps one slot free).
//   control   Int32 words of this ring: [SPACE] — the producer's "waiting for space" flag.
//   doorbell  Int32 words of the consuming thread: [BELL, ID]. One doorbell per consuming thread,
//             shared by all the rings into it, so one parked `RingInbox` waits on one word.
//
// Framing: [u32 little-endian length][envelope bytes]. A frame is published by one store of the
// write index, so the consumer never sees half a frame. The producer encodes a message field by
// field (DirectWriter) straight into the free ring memory after the write index, then writes
// the header in front and publishes. A frame that would wrap around the end of the ring (its
// header too), or does not fit the free space, is encoded into the writer's own buffer instead
// and copied in (in two parts when it wraps), or queued; the consumer copies a wrapped frame
// out into a scratch buffer before decoding. Every other frame is encoded into, and decoded
// from, ring memory in place.
//
// Doorbell (consumer parking, no spinning, no lost wake-ups). BELL is AWAKE (1) while the
// consumer runs and PARKED (0) when it is about to sleep. The consumer stores PARKED, re-checks
// every ring, and only then `Atomics.waitAsync(BELL, PARKED)`. A producer, after publishing a
// frame (store of the write index), loads the read index: if it equals where the frame starts,
// the ring went from empty to non-empty, and the producer, at once (a worker's sender) or at
// the end of its turn (the main thread's: a microtask, so that the consumer wakes once to all
// the frames of the turn; in a long turn after BELL_BATCH_FRAMES more frames, or when the ring
// is full; ring-sender.ts, BellTiming), flips
// BELL PARKED→AWAKE (compare-exchange) and notifies, only if the consumer was parked or parking.
// Both sides store then load (sequentially consistent atomics), so at least one of them sees the
// other: either the consumer's re-check sees the frame, or the producer sees the empty ring and
// rings.
//
// Backpressure. When a frame does not fit, it and every later frame of this sender are encoded
// into their own buffers and queued locally, in order; `send` returns at once. The producer
// stores SPACE = WAITING, retries, and parks with `Atomics.waitAsync(SPACE, WAITING)`; the
// consumer, after each batch that frees space, flips SPACE back and notifies. Same store-then-load
// argument. Nothing blocks an event loop (`Atomics.wait` is never used) and nothing spins.
//
// Liveness of the thread. A pending `Atomics.waitAsync` does not keep a Node.js thread alive, so
// an open `RingInbox` and a `RingSender` with a backlog hold a ref'd (never-firing) timer: a
// thread with messages still to receive or to deliver does not exit. `RingInbox.close()` drops it.
//
// ringbuf.js 0.4 has a zero-copy write API (`writeCallbackWithOffset`) but no zero-copy read API,
// so the consumer reads ring memory in place through views on ringbuf.js's documented layout
// (checked at construction) and advances the read index itself, as `pop` would.
//
// Large payloads (ring-side.ts, docs/data-path.md). A bytes field of OOB_MIN_BYTES or more is
// not copied into the ring: it travels on the ring's side channel (a MessagePort, posted before
// the frame is published), the frame's header has bit 31 set, and the consumer takes the side
// message synchronously when it reaches that frame. A ring without a side channel carries every
// field inline, as before.
//
// The protocol is described here once, for both ends: ring-memory.ts (the layout, doorbells,
// allocation), ring-sender.ts (the producer) and ring-inbox.ts (the consumer) implement it, so
// read a change to one end against this description and the other end.

export {
  DEFAULT_BATCH_LIMIT,
  DEFAULT_RING_CAPACITY,
  FRAME_HEADER_BYTES,
  createDoorbell,
  createRingChannel,
  createRingMesh,
  sidePorts,
  type CreateRingOptions,
  type RingChannelShared,
  type RingMesh,
  type ThreadRings,
  type ThreadSides,
} from './ring-memory.js';
export { BELL_BATCH_FRAMES, RingSender, type BellTiming, type RingSenderStats } from './ring-sender.js';
export { RingInbox, type RingInboxOptions, type RingInboxStats } from './ring-inbox.js';
export { OOB_MIN_BYTES, createSideChannel, handOver } from './ring-side.js';
