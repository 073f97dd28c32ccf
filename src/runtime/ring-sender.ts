// The producing end of one ring (ring-channel.ts describes the protocol: framing, the
// doorbell, backpressure). Cut out of ring-channel.ts (issue 15, point 3).

import type { MessagePort } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { DirectWriter } from '../wire/direct-writer.js';
import { type MessageRegistry, type WireEnvelope } from '../wire/registry.js';
import { EncodeError, RuntimeError } from './errors.js';
import { OOB_FLAG, OOB_MIN_BYTES, newSideStats, postSide, type SideStats } from './ring-side.js';
import { AWAKE, BELL, FRAME_HEADER_BYTES, KEEPALIVE_MS, PARKED, RD, RingViews, SPACE, SPACE_IDLE, SPACE_WAITING, WR, noop, waitAsync, type RingChannelShared } from './ring-memory.js';

/** Below this many known-free bytes, a send asks ringbuf.js for the current free space before
 * encoding in place (the known figure is a lower bound that only the consumer raises). */
const DIRECT_MIN_FREE = 4096;
/** An 'end-of-turn' sender's doorbell, owed since the ring went non-empty, is rung at the end
 * of the producer's turn or after this many more frames, whichever comes first. */
export const BELL_BATCH_FRAMES = 64;
/** When a sender rings a parked consumer: at the frame that found the ring empty, or later (at
 * the end of the producer's turn, or BELL_BATCH_FRAMES frames into it). The main thread's
 * senders ring later: its turns (client code, the gateway) send bursts, and a consumer woken
 * at once drains one frame and parks again. Workers' senders ring at once: a worker's turn is
 * a 4 ms slice of replies, and woken at its end the main thread works after it, not beside it
 * (bench meta --quick --ministries 3, quiet, two runs each: every bell later, ls-stride 60-63 k/s
 * and creates 2.9-3.2 k/s; every bell at once, 96-113 k/s and 2.2-2.4 k/s; workers at once and
 * the main thread later, 99-100 k/s and 2.3-2.4 k/s). */
export type BellTiming = 'at-once' | 'end-of-turn';

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
  /** Large payloads sent on the side channel (ring-side.ts): moved or copied once. */
  side: SideStats;
}

/** The producing end of one ring. Use from exactly one thread. */
export class RingSender {
  readonly stats: RingSenderStats = {
    sent: 0, bytes: 0, queuedTotal: 0, queuedMax: 0, wrappedFrames: 0,
    doorbellRings: 0, doorbellNotifies: 0, spaceWaits: 0, spaceWakeups: 0, side: newSideStats(),
  };
  readonly label: string;
  readonly capacity: number;

  private readonly views: RingViews;
  private readonly rb: RingBuffer;
  private writer: DirectWriter;
  private pendingLen = 0;
  /** The header of the frame being written: its length, with OOB_FLAG when it has payloads on
   * the side channel. */
  private pendingHdr = 0;
  private lastWr = 0;
  /** Bytes known to be free (a lower bound: the consumer only ever frees more). Refreshed from the
   * read index the doorbell check loads anyway, so most sends skip ringbuf.js's availableWrite(). */
  private free = 0;
  private readonly queue: Uint8Array[] = [];
  private qHead = 0;
  private waiting = false;
  /** The ring went from empty to non-empty and the bell is not rung yet (afterPublish). */
  private bellDue = false;
  /** Frames published since then. */
  private sinceBellDue = 0;
  /** The end-of-turn check is queued (a microtask). */
  private bellQueued = false;
  private flushWaiters: (() => void)[] = [];
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    private readonly registry: MessageRegistry,
    shared: RingChannelShared,
    /** The ring's side channel for large payloads (ring-side.ts); without it every field goes
     * through the ring. */
    private readonly side: MessagePort | null = null,
    private readonly bell: BellTiming = 'at-once',
  ) {
    this.writer = this.newWriter();
    this.views = new RingViews(shared);
    this.rb = new RingBuffer(shared.ring, Uint8Array);
    if (this.rb.capacity() !== shared.capacity) {
      throw new RuntimeError('EINVAL', `ring ${shared.label}: ringbuf.js reports capacity ${this.rb.capacity()}, expected ${shared.capacity}`);
    }
    this.label = shared.label;
    this.capacity = shared.capacity;
  }

  private newWriter(): DirectWriter {
    const w = new DirectWriter();
    if (this.side !== null) w.oobMin = OOB_MIN_BYTES;
    return w;
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
      this.writer = this.newWriter(); // a failed encode may leave forks on the writer
      throw e;
    }
    const len = w.len;
    const frame = len + FRAME_HEADER_BYTES;
    if (frame > this.capacity) {
      w.reset(); // lets go of any large payloads it collected
      throw new EncodeError(
        `message ${env.msg.type} to ${env.to} encodes to ${len} bytes; with its ${FRAME_HEADER_BYTES}-byte frame header ` +
          `(${frame} bytes) it exceeds the capacity of ring ${this.label} (${this.capacity} bytes): send it in smaller pieces`,
      );
    }
    let hdr = len;
    if (w.oobAt.length > 0) {
      // Posted before the frame is published (now, or later from the backlog): the consumer
      // finds it on the port when it reaches the frame.
      postSide(this.side!, w.oobAt, w.oobData, this.stats.side);
      w.oobAt.length = 0;
      w.oobData.length = 0;
      hdr = (len | OOB_FLAG) >>> 0;
    }
    this.pendingHdr = hdr;
    this.stats.sent++;
    if (w.buf === this.views.storage) {
      // Encoded in place: write the header in front of it and publish.
      const st = this.views.storage;
      st[wr] = hdr & 0xff;
      st[wr + 1] = (hdr >>> 8) & 0xff;
      st[wr + 2] = (hdr >>> 16) & 0xff;
      st[wr + 3] = hdr >>> 24;
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
    buf[0] = hdr & 0xff;
    buf[1] = (hdr >>> 8) & 0xff;
    buf[2] = (hdr >>> 16) & 0xff;
    buf[3] = hdr >>> 24;
    buf.set(w.view(), FRAME_HEADER_BYTES);
    this.queue.push(buf);
    this.stats.queuedTotal++;
    const q = this.queue.length - this.qHead;
    if (q > this.stats.queuedMax) this.stats.queuedMax = q;
    if (q === 1) {
      this.keepAlive ??= setInterval(noop, KEEPALIVE_MS);
      this.keepAlive.ref();
    }
    if (this.bellDue) this.ringBell(); // the ring is full: its consumer must not wait for the turn's end
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
    const hdr = this.pendingHdr;
    this.lastWr = off;
    let body = off + FRAME_HEADER_BYTES;
    if (body <= size) {
      s[off] = hdr & 0xff;
      s[off + 1] = (hdr >>> 8) & 0xff;
      s[off + 2] = (hdr >>> 16) & 0xff;
      s[off + 3] = hdr >>> 24;
      if (body === size) body = 0;
    } else {
      for (let i = 0; i < FRAME_HEADER_BYTES; i++) s[(off + i) % size] = (hdr >>> (8 * i)) & 0xff;
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
    if (rd === start) {
      this.stats.doorbellRings++;
      if (this.bell === 'at-once') return this.ringBell();
      // At the end of this turn, or BELL_BATCH_FRAMES frames into it (BellTiming). Still no
      // lost wake-up: the bell is loaded after the write index was stored, just later
      // (ring-channel.ts, "Doorbell").
      if (!this.bellDue) {
        this.bellDue = true;
        this.sinceBellDue = 0;
        if (!this.bellQueued) {
          this.bellQueued = true;
          queueMicrotask(this.endOfTurn);
        }
      }
    }
    // A long turn (a stream of frames) does not keep the consumer asleep until it ends.
    if (this.bellDue && ++this.sinceBellDue >= BELL_BATCH_FRAMES) this.ringBell();
  }

  private readonly endOfTurn = (): void => {
    this.bellQueued = false;
    if (this.bellDue) this.ringBell();
  };

  private ringBell(): void {
    this.bellDue = false;
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
