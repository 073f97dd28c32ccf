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
// the ring went from empty to non-empty, and the producer flips BELL PARKED→AWAKE (compare-
// exchange) and notifies, only if the consumer was parked or parking. Both sides store then load
// (sequentially consistent atomics), so at least one of them sees the other: either the consumer's
// re-check sees the frame, or the producer sees the empty ring and rings.
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
// Over 600 lines for now: the ring's producer and consumer share one memory layout and its
// doorbell protocol, kept side by side so that a change to one is seen against the other.

import { RingBuffer } from 'ringbuf.js';
import { DirectWriter } from '../wire/direct-writer.js';
import { type MessageRegistry, type WireEnvelope } from '../wire/registry.js';
import { EncodeError, RuntimeError } from './errors.js';

/** Default ring capacity: 1 MiB of frames. */
export const DEFAULT_RING_CAPACITY = 1 << 20;
/** Bytes of the length header in front of each envelope. */
export const FRAME_HEADER_BYTES = 4;
/** Below this many known-free bytes, a send asks ringbuf.js for the current free space before
 * encoding in place (the known figure is a lower bound that only the consumer raises). */
const DIRECT_MIN_FREE = 4096;
/** Default number of frames an inbox delivers before it yields to the event loop. */
export const DEFAULT_BATCH_LIMIT = 2048;

const BELL = 0;
const BELL_ID = 1;
const PARKED = 0;
const AWAKE = 1;
const SPACE = 0;
const SPACE_WAITING = 0;
const SPACE_IDLE = 1;
const WR = 0;
const RD = 1;
const KEEPALIVE_MS = 2 ** 31 - 1;

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

const waitAsync: WaitAsync = (() => {
  const fn = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  if (typeof fn !== 'function') throw new Error('ring channels need Atomics.waitAsync (Node.js 16+)');
  return fn.bind(Atomics) as WaitAsync;
})();

const noop = (): void => {};

/** The shared memory of one SPSC ring. Plain data: structured-clonable, SharedArrayBuffers shared. */
export interface RingChannelShared {
  /** ringbuf.js Uint8 storage (RingBuffer.getStorageForCapacity(capacity, Uint8Array)). */
  readonly ring: SharedArrayBuffer;
  /** Int32 control words of this ring ([SPACE]). */
  readonly control: SharedArrayBuffer;
  /** The consuming thread's doorbell (see `createDoorbell`); shared by every ring into it. */
  readonly doorbell: SharedArrayBuffer;
  /** Usable bytes; a frame (4 + envelope bytes) must fit. */
  readonly capacity: number;
  /** For messages and stats, e.g. "t1->t2". */
  readonly label: string;
}

/** The doorbell of one consuming thread: Int32 [BELL, ID]. */
export function createDoorbell(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(8);
  const words = new Int32Array(sab);
  words[BELL] = AWAKE;
  words[BELL_ID] = nextDoorbellId();
  return sab;
}

let doorbellCounter = 0;
function nextDoorbellId(): number {
  // Distinct within a process: the creating thread's id in the high bits, a counter below.
  // (Doorbells are normally all created by the main thread.)
  doorbellCounter = (doorbellCounter + 1) & 0xfffff;
  return ((threadIdOf() & 0x7ff) << 20) | doorbellCounter;
}

let cachedThreadId: number | undefined;
function threadIdOf(): number {
  if (cachedThreadId === undefined) {
    const g = globalThis as unknown as { process?: { threadId?: number } };
    cachedThreadId = typeof g.process?.threadId === 'number' ? g.process.threadId : 0;
  }
  return cachedThreadId;
}

export interface CreateRingOptions {
  /** Usable bytes of the ring (default 1 MiB). At least 16. */
  capacity?: number;
  /** The consuming thread's doorbell; a new one when omitted. */
  doorbell?: SharedArrayBuffer;
  label?: string;
}

/** Allocate one ring. Give every ring into the same consuming thread the same doorbell. */
export function createRingChannel(opts: CreateRingOptions = {}): RingChannelShared {
  const capacity = opts.capacity ?? DEFAULT_RING_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 16 || capacity > 0x7fff_fff0) {
    throw new RangeError(`ring capacity must be an integer between 16 and 2^31 bytes, got ${capacity}`);
  }
  const control = new SharedArrayBuffer(4);
  new Int32Array(control)[SPACE] = SPACE_IDLE;
  return {
    ring: RingBuffer.getStorageForCapacity(capacity, Uint8Array),
    control,
    doorbell: opts.doorbell ?? createDoorbell(),
    capacity,
    label: opts.label ?? 'ring',
  };
}

/** The rings one thread uses: `outgoing[j]` is the ring this thread produces into for thread j,
 * `incoming[j]` the ring thread j produces into for this one (null for itself). */
export interface ThreadRings {
  readonly thread: number;
  readonly doorbell: SharedArrayBuffer;
  readonly outgoing: (RingChannelShared | null)[];
  readonly incoming: (RingChannelShared | null)[];
}

export interface RingMesh {
  readonly threads: number;
  /** `rings[from][to]`, null on the diagonal (same-thread messages never touch a ring). */
  readonly rings: (RingChannelShared | null)[][];
  /** What to hand to thread `i` (structured-clonable: put it in workerData). */
  forThread(i: number): ThreadRings;
}

/** One ring per ordered pair of `threads` threads, one doorbell per thread. */
export function createRingMesh(threads: number, opts: { capacity?: number; names?: string[] } = {}): RingMesh {
  const name = (i: number): string => opts.names?.[i] ?? `t${i}`;
  const doorbells = Array.from({ length: threads }, () => createDoorbell());
  const rings = Array.from({ length: threads }, (_, from) =>
    Array.from({ length: threads }, (_, to) =>
      from === to
        ? null
        : createRingChannel({ capacity: opts.capacity, doorbell: doorbells[to], label: `${name(from)}->${name(to)}` }),
    ),
  );
  return {
    threads,
    rings,
    forThread(i: number): ThreadRings {
      if (!(i >= 0 && i < threads)) throw new RangeError(`no thread ${i} in a mesh of ${threads}`);
      return {
        thread: i,
        doorbell: doorbells[i]!,
        outgoing: rings[i]!.slice(),
        incoming: rings.map((row) => row[i]!),
      };
    },
  };
}

/** Views on ringbuf.js's layout, shared by both ends. */
class RingViews {
  readonly ptrs: Uint32Array;
  readonly storage: Uint8Array;
  /** The same bytes as a Buffer, for decoding strings in place. */
  readonly text: Buffer;
  /** Storage slots (capacity + 1): indexes run modulo this. */
  readonly size: number;
  readonly control: Int32Array;
  readonly bell: Int32Array;

  constructor(readonly shared: RingChannelShared) {
    const { ring, capacity } = shared;
    if (!(ring instanceof SharedArrayBuffer) || ring.byteLength !== 8 + capacity + 1) {
      throw new RuntimeError('EINVAL', `ring ${shared.label}: storage is not a ringbuf.js Uint8 ring of ${capacity} bytes`);
    }
    this.ptrs = new Uint32Array(ring, 0, 2);
    this.size = capacity + 1;
    this.storage = new Uint8Array(ring, 8, this.size);
    this.text = Buffer.from(ring, 8, this.size);
    this.control = new Int32Array(shared.control);
    this.bell = new Int32Array(shared.doorbell);
  }
}

export interface RingSenderStats {
  /** Messages accepted by `send` (written or queued). */
  sent: number;
  /** Frame bytes (headers included) written into the ring. */
  bytes: number;
  /** Messages that had to be queued locally because the ring was full. */
  queuedTotal: number;
  /** Largest local backlog seen. */
  queuedMax: number;
  /** Frames that wrapped around the ring's end (encoded via a scratch buffer). */
  wrappedFrames: number;
  /** Empty → non-empty transitions this sender caused (the only times it may ring). */
  doorbellRings: number;
  /** `Atomics.notify` calls on the doorbell (the consumer was parked or parking). */
  doorbellNotifies: number;
  /** Times the sender parked waiting for space, and times it was woken. */
  spaceWaits: number;
  spaceWakeups: number;
}

/** The producing end of one ring. Use from exactly one thread. */
export class RingSender {
  readonly stats: RingSenderStats = {
    sent: 0, bytes: 0, queuedTotal: 0, queuedMax: 0, wrappedFrames: 0,
    doorbellRings: 0, doorbellNotifies: 0, spaceWaits: 0, spaceWakeups: 0,
  };
  readonly label: string;
  readonly capacity: number;

  private readonly views: RingViews;
  private readonly rb: RingBuffer;
  private writer = new DirectWriter();
  private pendingLen = 0;
  private lastWr = 0;
  /** Bytes known to be free (a lower bound: the consumer only ever frees more). Refreshed from the
   * read index the doorbell check loads anyway, so most sends skip ringbuf.js's availableWrite(). */
  private free = 0;
  private readonly queue: Uint8Array[] = [];
  private qHead = 0;
  private waiting = false;
  private flushWaiters: (() => void)[] = [];
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    private readonly registry: MessageRegistry,
    shared: RingChannelShared,
  ) {
    this.views = new RingViews(shared);
    this.rb = new RingBuffer(shared.ring, Uint8Array);
    if (this.rb.capacity() !== shared.capacity) {
      throw new RuntimeError('EINVAL', `ring ${shared.label}: ringbuf.js reports capacity ${this.rb.capacity()}, expected ${shared.capacity}`);
    }
    this.label = shared.label;
    this.capacity = shared.capacity;
  }

  /** Messages waiting locally for ring space. */
  get queued(): number {
    return this.queue.length - this.qHead;
  }

  /** Encode `env` into the ring, or queue it (in order) when the ring is full. Throws EncodeError,
   * and sends nothing, when the message cannot be encoded or its frame exceeds the ring. */
  send(env: WireEnvelope): void {
    if (this.closed) throw new RuntimeError('EPIPE', `ring ${this.label} is closed: cannot send ${env.msg?.type ?? 'a message'} to ${env.to}`);
    if (this.qHead !== this.queue.length) this.flushQueue();
    const backlog = this.qHead !== this.queue.length;
    const w = this.writer;
    // Straight into ring memory: the free bytes after the write index, up to the end of the
    // storage. A frame that turns out longer (or would wrap) moves to the writer's own buffer.
    let wr = -1;
    if (!backlog) {
      wr = Atomics.load(this.views.ptrs, WR);
      if (this.free < DIRECT_MIN_FREE) this.free = this.rb.availableWrite();
      const body = wr + FRAME_HEADER_BYTES;
      const end = Math.min(this.views.size, wr + this.free);
      if (body < end) w.into(this.views.storage, body, end);
      else w.reset();
    } else {
      w.reset();
    }
    try {
      this.registry.encode(env, w);
    } catch (e) {
      this.writer = new DirectWriter(); // a failed encode may leave forks on the writer
      throw e;
    }
    const len = w.len;
    const frame = len + FRAME_HEADER_BYTES;
    if (frame > this.capacity) {
      throw new EncodeError(
        `message ${env.msg.type} to ${env.to} encodes to ${len} bytes; with its ${FRAME_HEADER_BYTES}-byte frame header ` +
          `(${frame} bytes) it exceeds the capacity of ring ${this.label} (${this.capacity} bytes): send it in smaller pieces`,
      );
    }
    this.stats.sent++;
    if (w.buf === this.views.storage) {
      // Encoded in place: write the header in front of it and publish.
      const st = this.views.storage;
      st[wr] = len & 0xff;
      st[wr + 1] = (len >>> 8) & 0xff;
      st[wr + 2] = (len >>> 16) & 0xff;
      st[wr + 3] = len >>> 24;
      this.pendingLen = len;
      this.stats.bytes += this.rb.writeCallbackWithOffset(frame, this.publishInPlace);
      this.afterPublish(wr, frame);
      return;
    }
    if (!backlog && (this.free >= frame || (this.free = this.rb.availableWrite()) >= frame)) {
      this.writeEncoded(len);
      return;
    }
    // Backlog: keep this frame, in order, behind the others.
    const buf = new Uint8Array(frame);
    buf[0] = len & 0xff;
    buf[1] = (len >>> 8) & 0xff;
    buf[2] = (len >>> 16) & 0xff;
    buf[3] = len >>> 24;
    buf.set(w.view(), FRAME_HEADER_BYTES);
    this.queue.push(buf);
    this.stats.queuedTotal++;
    const q = this.queue.length - this.qHead;
    if (q > this.stats.queuedMax) this.stats.queuedMax = q;
    if (q === 1) {
      this.keepAlive ??= setInterval(noop, KEEPALIVE_MS);
      this.keepAlive.ref();
    }
    if (!this.waiting) this.pump();
  }

  /** ringbuf.js write callback for a frame already in ring memory: only publish it. */
  private readonly publishInPlace = (): number => this.pendingLen + FRAME_HEADER_BYTES;

  /** Stop sending (e.g. the consuming thread is gone): drop the local backlog and release the
   * thread. Returns how many queued messages were dropped; later sends throw (EPIPE). */
  close(): number {
    if (this.closed) return 0;
    this.closed = true;
    const dropped = this.queued;
    this.queue.length = 0;
    this.qHead = 0;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.drained();
    return dropped;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves once the local backlog is empty (every message sent so far is in the ring, or the
   * sender was closed). */
  whenFlushed(): Promise<void> {
    if (this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  private writeEncoded(len: number): void {
    this.pendingLen = len;
    const n = this.rb.writeCallbackWithOffset(len + FRAME_HEADER_BYTES, this.writeFrame);
    this.stats.bytes += n;
    this.afterPublish(this.lastWr, len + FRAME_HEADER_BYTES);
  }

  /** ringbuf.js write callback: lay header and envelope into ring memory at `off`. */
  private readonly writeFrame = (_storage: unknown, off: number): number => {
    const s = this.views.storage;
    const size = this.views.size;
    const len = this.pendingLen;
    this.lastWr = off;
    let body = off + FRAME_HEADER_BYTES;
    if (body <= size) {
      s[off] = len & 0xff;
      s[off + 1] = (len >>> 8) & 0xff;
      s[off + 2] = (len >>> 16) & 0xff;
      s[off + 3] = len >>> 24;
      if (body === size) body = 0;
    } else {
      for (let i = 0; i < FRAME_HEADER_BYTES; i++) s[(off + i) % size] = (len >>> (8 * i)) & 0xff;
      body -= size;
    }
    const encoded = this.writer.view();
    if (body + len <= size) {
      s.set(encoded, body);
      if (off + FRAME_HEADER_BYTES + len > size) this.stats.wrappedFrames++; // the header wrapped
    } else {
      const first = size - body;
      s.set(encoded.subarray(0, first), body);
      s.set(encoded.subarray(first, len), 0);
      this.stats.wrappedFrames++;
    }
    return len + FRAME_HEADER_BYTES;
  };

  /** After publishing a frame of `frame` bytes at `start`: ring if the ring was empty before it. */
  private afterPublish(start: number, frame: number): void {
    const rd = Atomics.load(this.views.ptrs, RD);
    const size = this.views.size;
    let end = start + frame;
    if (end >= size) end -= size;
    this.free = this.capacity - (end >= rd ? end - rd : end + size - rd);
    if (rd !== start) return;
    this.stats.doorbellRings++;
    const bell = this.views.bell;
    if (Atomics.load(bell, BELL) === PARKED && Atomics.compareExchange(bell, BELL, PARKED, AWAKE) === PARKED) {
      Atomics.notify(bell, BELL);
      this.stats.doorbellNotifies++;
    }
  }

  /** Move queued frames into the ring, in order, while they fit. */
  private flushQueue(): void {
    const q = this.queue;
    let h = this.qHead;
    while (h < q.length) {
      const frame = q[h]!;
      if (this.free < frame.length && (this.free = this.rb.availableWrite()) < frame.length) break;
      const start = Atomics.load(this.views.ptrs, WR);
      this.rb.push(frame);
      this.stats.bytes += frame.length;
      if (start + frame.length > this.views.size) this.stats.wrappedFrames++;
      this.afterPublish(start, frame.length);
      q[h] = undefined as unknown as Uint8Array;
      h++;
    }
    if (h === q.length) {
      this.qHead = 0;
      q.length = 0;
      if (h > 0) this.drained();
    } else if (h > 1024 && h * 2 > q.length) {
      q.splice(0, h);
      this.qHead = 0;
    } else {
      this.qHead = h;
    }
  }

  private drained(): void {
    this.keepAlive?.unref();
    const waiters = this.flushWaiters;
    if (waiters.length) {
      this.flushWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Flush, and park (without blocking) until the consumer frees space while a backlog remains. */
  private pump(): void {
    const control = this.views.control;
    for (;;) {
      this.flushQueue();
      if (this.queued === 0) return;
      Atomics.store(control, SPACE, SPACE_WAITING);
      this.flushQueue(); // re-check after announcing: the consumer may have drained meanwhile
      if (this.queued === 0) {
        Atomics.store(control, SPACE, SPACE_IDLE);
        return;
      }
      const r = waitAsync(control, SPACE, SPACE_WAITING);
      if (!r.async) continue;
      this.waiting = true;
      this.stats.spaceWaits++;
      void r.value.then(this.onSpace);
      return;
    }
  }

  private readonly onSpace = (): void => {
    this.waiting = false;
    if (this.closed) return;
    this.stats.spaceWakeups++;
    this.pump();
  };
}

export interface RingInboxStats {
  /** Envelopes delivered to `onEnvelope`. */
  received: number;
  /** Frame bytes (headers included) consumed. */
  bytes: number;
  /** Drain passes that found at least one frame. */
  batches: number;
  /** Times the inbox parked on its doorbell, and times a doorbell woke it. */
  parks: number;
  wakeups: number;
  /** Times it yielded to the event loop with frames still pending (batch limit reached). */
  yields: number;
  /** Frames that wrapped around a ring's end (copied to a scratch buffer to decode). */
  wrappedFrames: number;
  /** Notifications sent to producers waiting for space. */
  spaceNotifies: number;
  /** Well-framed frames that did not decode (reported and skipped). */
  decodeErrors: number;
  /** Rings whose framing was corrupt (reported and abandoned). */
  corruptRings: number;
  /** Exceptions thrown by `onEnvelope` (reported; delivery goes on). */
  handlerErrors: number;
}

export interface RingInboxOptions {
  /** Called synchronously for each envelope, in FIFO order per ring; `ring` indexes `rings`. */
  onEnvelope: (env: WireEnvelope, ring: number) => void;
  /** Undecodable frames, corrupt rings and handler exceptions. Default: a process warning. */
  onError?: (err: Error, ring: number) => void;
  /** Frames delivered before yielding to the event loop (default 2048). */
  batchLimit?: number;
  /** Keep the thread alive while the inbox is open (default true). */
  keepAlive?: boolean;
}

class RingReader {
  readonly views: RingViews;
  rd: number;
  dead = false;
  constructor(readonly shared: RingChannelShared) {
    this.views = new RingViews(shared);
    this.rd = Atomics.load(this.views.ptrs, RD);
  }
}

/** The consuming end of every ring into one thread: drains them, decodes each frame and hands it
 * to `onEnvelope`; parks on the thread's doorbell when all are empty. */
export class RingInbox {
  readonly stats: RingInboxStats = {
    received: 0, bytes: 0, batches: 0, parks: 0, wakeups: 0, yields: 0, wrappedFrames: 0,
    spaceNotifies: 0, decodeErrors: 0, corruptRings: 0, handlerErrors: 0,
  };
  private readonly readers: RingReader[];
  private readonly bell: Int32Array;
  private readonly onEnvelope: (env: WireEnvelope, ring: number) => void;
  private readonly onError: (err: Error, ring: number) => void;
  private readonly batchLimit: number;
  private scratch = new Uint8Array(256);
  private closed = false;
  private keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly registry: MessageRegistry,
    rings: RingChannelShared | readonly RingChannelShared[],
    opts: RingInboxOptions,
  ) {
    const list = Array.isArray(rings) ? (rings as readonly RingChannelShared[]) : [rings as RingChannelShared];
    if (list.length === 0) throw new RangeError('a RingInbox needs at least one ring');
    this.readers = list.map((r) => new RingReader(r));
    this.bell = this.readers[0]!.views.bell;
    const id = this.bell[BELL_ID];
    for (const r of this.readers) {
      if (r.views.bell[BELL_ID] !== id) {
        throw new RuntimeError('EINVAL', `ring ${r.shared.label} rings another doorbell: every ring into one inbox must be created with the same doorbell`);
      }
    }
    this.onEnvelope = opts.onEnvelope;
    this.onError = opts.onError ?? ((err) => process.emitWarning(err));
    this.batchLimit = Math.max(1, opts.batchLimit ?? DEFAULT_BATCH_LIMIT);
    if (opts.keepAlive !== false) this.keepAlive = setInterval(noop, KEEPALIVE_MS);
    setImmediate(this.run);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stop delivering. Frames left in the rings stay there. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    // Resolve our own pending waitAsync, if any, so nothing dangles.
    Atomics.store(this.bell, BELL, AWAKE);
    Atomics.notify(this.bell, BELL);
  }

  private readonly run = (): void => {
    if (this.closed) return;
    let budget = this.batchLimit;
    const bell = this.bell;
    for (;;) {
      let got = 0;
      for (let i = 0; i < this.readers.length && got < budget; i++) got += this.drain(i, budget - got);
      if (this.closed) return;
      budget -= got;
      if (budget <= 0) {
        this.stats.yields++;
        setImmediate(this.run);
        return;
      }
      if (got > 0) continue;
      // Everything looked empty: announce parking, re-check, then wait.
      Atomics.store(bell, BELL, PARKED);
      if (this.anyPending()) {
        Atomics.store(bell, BELL, AWAKE);
        continue;
      }
      const r = waitAsync(bell, BELL, PARKED);
      if (!r.async) {
        Atomics.store(bell, BELL, AWAKE);
        continue;
      }
      this.stats.parks++;
      void r.value.then(this.onWake);
      return;
    }
  };

  private readonly onWake = (): void => {
    if (this.closed) return;
    this.stats.wakeups++;
    this.run();
  };

  private anyPending(): boolean {
    for (const r of this.readers) if (!r.dead && Atomics.load(r.views.ptrs, WR) !== r.rd) return true;
    return false;
  }

  /** Deliver up to `budget` frames from ring `index`; returns how many. */
  private drain(index: number, budget: number): number {
    const reader = this.readers[index]!;
    if (reader.dead) return 0;
    const { ptrs, storage, size } = reader.views;
    const wr = Atomics.load(ptrs, WR);
    let rd = reader.rd;
    if (rd === wr) return 0;
    let n = 0;
    let delivered = 0;
    let bytes = 0;
    try {
      while (rd !== wr && n < budget) {
        const avail = wr >= rd ? wr - rd : wr + size - rd;
        if (avail < FRAME_HEADER_BYTES) {
          this.corrupt(index, `${avail} bytes left, less than a frame header`, rd);
          break;
        }
        let len: number;
        let body = rd + FRAME_HEADER_BYTES;
        if (body <= size) {
          len = (storage[rd]! | (storage[rd + 1]! << 8) | (storage[rd + 2]! << 16) | (storage[rd + 3]! << 24)) >>> 0;
          if (body === size) body = 0;
        } else {
          len = 0;
          for (let i = 0; i < FRAME_HEADER_BYTES; i++) len |= storage[(rd + i) % size]! << (8 * i);
          len >>>= 0;
          body -= size;
        }
        if (len + FRAME_HEADER_BYTES > avail) {
          this.corrupt(index, `frame of ${len} bytes but only ${avail - FRAME_HEADER_BYTES} published`, rd);
          break;
        }
        // Decoded in place from ring memory, or from the scratch buffer when it wraps.
        let frame: Uint8Array = storage;
        let text: Buffer | undefined = reader.views.text;
        let start = body;
        let next = body + len;
        if (next <= size) {
          if (body < rd) this.stats.wrappedFrames++; // the header wrapped
          if (next === size) next = 0;
        } else {
          if (this.scratch.length < len) this.scratch = new Uint8Array(Math.max(len, this.scratch.length * 2));
          const first = size - body;
          this.scratch.set(storage.subarray(body, size), 0);
          next -= size;
          this.scratch.set(storage.subarray(0, next), first);
          frame = this.scratch;
          text = undefined;
          start = 0;
          this.stats.wrappedFrames++;
        }
        rd = next;
        n++;
        bytes += len + FRAME_HEADER_BYTES;
        let env: WireEnvelope;
        try {
          env = this.registry.decodeAt(frame, text, start, start + len, true);
        } catch (e) {
          this.stats.decodeErrors++;
          this.report(
            new RuntimeError('EBADMSG', `ring ${reader.shared.label}: skipped an undecodable frame of ${len} bytes: ${(e as Error).message}`, { cause: e }),
            index,
          );
          continue;
        }
        delivered++;
        try {
          this.onEnvelope(env, index);
        } catch (e) {
          this.stats.handlerErrors++;
          this.report(e instanceof Error ? e : new Error(String(e)), index);
        }
        if (this.closed) break;
      }
    } finally {
      reader.rd = rd;
      Atomics.store(ptrs, RD, rd);
      this.stats.received += delivered;
      this.stats.bytes += bytes;
      if (n > 0) this.stats.batches++;
      const control = reader.views.control;
      if (Atomics.load(control, SPACE) === SPACE_WAITING && Atomics.compareExchange(control, SPACE, SPACE_WAITING, SPACE_IDLE) === SPACE_WAITING) {
        Atomics.notify(control, SPACE);
        this.stats.spaceNotifies++;
      }
    }
    return n;
  }

  private corrupt(index: number, what: string, at: number): void {
    const reader = this.readers[index]!;
    reader.dead = true;
    this.stats.corruptRings++;
    this.report(
      new RuntimeError('EBADMSG', `ring ${reader.shared.label} is corrupt at offset ${at}: ${what}; no more frames are read from it (this is a bug)`),
      index,
    );
  }

  private report(err: Error, index: number): void {
    try {
      this.onError(err, index);
    } catch {
      // an error callback that throws must not stop delivery
    }
  }
}
