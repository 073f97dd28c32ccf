// The consuming end of the rings into one thread (ring-channel.ts describes the protocol:
// framing, the doorbell, backpressure). Cut out of ring-channel.ts (issue 15, point 3).

import type { MessagePort } from 'node:worker_threads';
import { type MessageRegistry, type OutOfBand, type RawFilter, type WireEnvelope } from '../wire/registry.js';
import { OOB_FLAG, takeSide } from './ring-side.js';
import { RuntimeError } from './errors.js';
import { traceNow, tracer } from './trace.js';
import { AWAKE, BELL, BELL_ID, DEFAULT_BATCH_LIMIT, FRAME_HEADER_BYTES, KEEPALIVE_MS, PARKED, RD, RingViews, SPACE, SPACE_IDLE, SPACE_WAITING, WR, noop, waitAsync, type RingChannelShared } from './ring-memory.js';

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
  /** Frames whose large payloads came on the side channel (ring-side.ts), and their bytes. */
  sideFrames: number;
  sideBytes: number;
  /** Times a frame's side message had not arrived yet when the frame was read (retried). */
  sideWaits: number;
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
  /** Envelopes to hand over with their message still encoded (MessageRegistry.decodeAt). */
  raw?: RawFilter;
  /** The side channel of each ring (same order as the rings; ring-side.ts), where large payloads
   * arrive. A ring without one cannot carry a frame marked as having them. */
  sides?: readonly (MessagePort | null | undefined)[];
}

class RingReader {
  readonly views: RingViews;
  rd: number;
  dead = false;
  constructor(
    readonly shared: RingChannelShared,
    readonly side: MessagePort | null,
  ) {
    this.views = new RingViews(shared);
    this.rd = Atomics.load(this.views.ptrs, RD);
  }
}

/** The consuming end of every ring into one thread: drains them, decodes each frame and hands it
 * to `onEnvelope`; parks on the thread's doorbell when all are empty. */
export class RingInbox {
  readonly stats: RingInboxStats = {
    received: 0, bytes: 0, batches: 0, parks: 0, wakeups: 0, yields: 0, wrappedFrames: 0,
    spaceNotifies: 0, decodeErrors: 0, corruptRings: 0, handlerErrors: 0, sideFrames: 0, sideBytes: 0, sideWaits: 0,
  };
  private readonly readers: RingReader[];
  private readonly bell: Int32Array;
  private readonly onEnvelope: (env: WireEnvelope, ring: number) => void;
  private readonly onError: (err: Error, ring: number) => void;
  private readonly batchLimit: number;
  private readonly raw: RawFilter | undefined;
  private scratch = new Uint8Array(256);
  private closed = false;
  /** A frame's side message was not on its port yet: read again soon instead of parking. */
  private sideLate = false;
  /** The rings were found empty once since the last frame: park if they still are. */
  private lingered = false;
  private keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly registry: MessageRegistry,
    rings: RingChannelShared | readonly RingChannelShared[],
    opts: RingInboxOptions,
  ) {
    const list = Array.isArray(rings) ? (rings as readonly RingChannelShared[]) : [rings as RingChannelShared];
    if (list.length === 0) throw new RangeError('a RingInbox needs at least one ring');
    this.readers = list.map((r, i) => new RingReader(r, opts.sides?.[i] ?? null));
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
    this.raw = opts.raw;
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
      if (this.sideLate) {
        this.sideLate = false;
        this.stats.yields++;
        setImmediate(this.run);
        return;
      }
      if (budget <= 0) {
        this.stats.yields++;
        setImmediate(this.run);
        return;
      }
      if (got > 0) {
        this.lingered = false;
        continue;
      }
      if (!this.lingered) {
        // One more turn of the event loop before parking: a producer that streams has its next
        // frames in by then, and neither side pays for a doorbell (Atomics.notify, a wake-up).
        this.lingered = true;
        setImmediate(this.run);
        return;
      }
      this.lingered = false;
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
      if (tracer.on) tracer.wokeAt = 0;
      void r.value.then(this.onWake);
      return;
    }
  };

  private readonly onWake = (): void => {
    if (this.closed) return;
    this.stats.wakeups++;
    if (tracer.on) tracer.wokeAt = traceNow(); // the doorbell's wake-up, for traced arrivals
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
        let oob: OutOfBand | undefined;
        if (len >= OOB_FLAG) {
          len -= OOB_FLAG;
          if (reader.side === null) {
            this.corrupt(index, 'a frame with payloads on a side channel, but this ring has none', rd);
            break;
          }
          oob = takeSide(reader.side);
          if (oob === undefined) {
            // Posted before the frame was published, so this is not expected; if it happens,
            // read this frame again on the next turn rather than deliver out of order.
            this.stats.sideWaits++;
            this.sideLate = true;
            break;
          }
          this.stats.sideFrames++;
          for (const d of oob.data) this.stats.sideBytes += d.byteLength;
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
          env = this.registry.decodeAt(frame, text, start, start + len, true, this.raw, oob);
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
