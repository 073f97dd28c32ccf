// Framing for byte streams (the TCP bridge, later the client protocol).
//
// A frame is [u32 big-endian length L][u8 kind][L - 1 bytes of payload]; L counts the kind byte
// and the payload, so the smallest frame (a heartbeat) is 5 bytes on the wire and L = 0 is
// malformed. The receiver refuses a length above its limit as soon as the 4 length bytes are in,
// before it buffers anything of that frame.
//
// Reading: `FrameDecoder.push(chunk)` takes the chunks a socket delivers, however the stream was
// cut (a frame split over many reads, many frames in one read). Whole frames inside a chunk are
// handed out as views of the chunk (no copy); only a frame that straddles chunks is copied, into
// a buffer of exactly its announced length.
//
// Writing: `FrameEncoder` encodes envelopes with the MessageRegistry straight into a slab (one
// large Buffer) one after another, and `take()` hands out everything written since the last
// take as views of the slab, to be written to the socket once per event-loop turn. A new slab is
// allocated only when the current one is full, so a steady stream of small messages costs no
// allocation per message beyond protobufjs's own writer ops.

import { EncodeError, RuntimeError } from './errors.js';
import { DirectWriter } from './direct-writer.js';
import { type MessageRegistry, type WireEnvelope } from './registry.js';

/** Bytes in front of every frame's kind byte: the u32 length. */
export const FRAME_LENGTH_BYTES = 4;
/** Length prefix + kind byte. */
export const FRAME_OVERHEAD = 5;

/** What a frame carries (its first byte after the length). */
export const FrameKind = {
  /** An actor envelope, encoded by the MessageRegistry. */
  Envelope: 0,
  /** govfs.bridge.Hello */
  Hello: 1,
  /** govfs.bridge.Auth */
  Auth: 2,
  /** No payload: proof of life when nothing else was sent for a while. */
  Heartbeat: 3,
  /** govfs.bridge.Goodbye: why the sender is closing the connection. */
  Goodbye: 4,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** A byte stream that breaks the protocol (does not frame, oversized, out of place): the
 * connection must be closed. `code`: EBADMSG (malformed), EMSGSIZE (oversized), EPROTO, ... */
export class FrameError extends RuntimeError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

export type FrameHandler = (kind: number, payload: Uint8Array) => void;

/** Incremental frame reader (see the top of this file). */
export class FrameDecoder {
  /** Largest L accepted; may be raised after a handshake (e.g. small until authenticated). */
  maxFrameBytes: number;
  private readonly header = Buffer.alloc(FRAME_LENGTH_BYTES);
  private headerLen = 0;
  /** A frame that straddles chunks: its bytes so far. */
  private partial: Buffer | null = null;
  private partialLen = 0;
  private stopped = false;
  /** Frames handed out. */
  frames = 0;

  constructor(
    maxFrameBytes: number,
    private readonly onFrame: FrameHandler,
  ) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held for an incomplete frame (never more than maxFrameBytes + 4). */
  get buffered(): number {
    return this.headerLen + this.partialLen;
  }

  /** No more frames are handed out (the connection is closing), even from the current chunk. */
  stop(): void {
    this.stopped = true;
    this.partial = null;
    this.partialLen = 0;
    this.headerLen = 0;
  }

  /** Feed the next chunk of the stream. Throws FrameError for a malformed or oversized length;
   * what `onFrame` throws propagates too (the caller closes the connection either way). */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const end = chunk.length;
    if (this.partial !== null) {
      const want = this.partial.length - this.partialLen;
      const n = Math.min(want, end);
      this.partial.set(n === end ? chunk : chunk.subarray(0, n), this.partialLen);
      this.partialLen += n;
      pos = n;
      if (this.partialLen < this.partial.length) return;
      const frame = this.partial;
      this.partial = null;
      this.partialLen = 0;
      this.emit(frame, 0, frame.length);
    } else if (this.headerLen > 0) {
      while (this.headerLen < FRAME_LENGTH_BYTES && pos < end) this.header[this.headerLen++] = chunk[pos++]!;
      if (this.headerLen < FRAME_LENGTH_BYTES) return;
      this.headerLen = 0;
      const len = this.checkLength(this.header.readUInt32BE(0));
      const avail = end - pos;
      if (avail >= len) {
        this.emit(chunk, pos, len);
        pos += len;
      } else {
        this.startPartial(len, chunk.subarray(pos));
        return;
      }
    }
    while (!this.stopped && pos < end) {
      if (end - pos < FRAME_LENGTH_BYTES) {
        while (pos < end) this.header[this.headerLen++] = chunk[pos++]!;
        return;
      }
      const len = this.checkLength(((chunk[pos]! << 24) | (chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!) >>> 0);
      pos += FRAME_LENGTH_BYTES;
      if (end - pos >= len) {
        this.emit(chunk, pos, len);
        pos += len;
      } else {
        this.startPartial(len, chunk.subarray(pos));
        return;
      }
    }
  }

  private checkLength(len: number): number {
    if (len === 0) throw new FrameError('EBADMSG', 'malformed frame: length 0 (a frame has at least its kind byte)');
    if (len > this.maxFrameBytes) throw new FrameError('EMSGSIZE', `oversized frame: ${len} bytes announced, the limit is ${this.maxFrameBytes}`);
    return len;
  }

  private startPartial(len: number, head: Uint8Array): void {
    const buf = Buffer.allocUnsafe(len);
    buf.set(head, 0);
    this.partial = buf;
    this.partialLen = head.length;
  }

  /** Hands out the frame at buf[at, at + len) as a plain Uint8Array view of its payload (not a
   * Buffer: cheaper to make, and protobufjs then slices bytes fields as plain views too). */
  private emit(buf: Uint8Array, at: number, len: number): void {
    if (this.stopped) return;
    this.frames++;
    this.onFrame(buf[at]!, new Uint8Array(buf.buffer, buf.byteOffset + at + 1, len - 1));
  }
}

/** Encodes frames into slabs and hands them out in batches (see the top of this file). */
export class FrameEncoder {
  private slab: Buffer;
  /** Start of the bytes not yet taken, in `slab`. */
  private start = 0;
  private pos = 0;
  /** Earlier slabs' untaken bytes, in order, when a slab filled up between takes. */
  private full: Buffer[] = [];
  private fullBytes = 0;
  /** Encodes straight into the slab, behind room for the frame's header; a message that does
   * not fit the slab's rest goes on in the writer's own buffer, which commit() copies. */
  private writer = new DirectWriter();
  private prepared = -1;
  private preparedKind = 0;
  /** Frames written (envelopes and control frames). */
  frames = 0;

  constructor(
    private readonly registry: MessageRegistry,
    private readonly slabBytes = 256 * 1024,
    /** Largest L this encoder produces (the receiver's limit). */
    public maxFrameBytes = 16 * 1024 * 1024,
  ) {
    this.slab = Buffer.allocUnsafe(slabBytes);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.fullBytes + this.pos - this.start;
  }

  /** Encode `env` and return the size its frame will take on the wire, without writing it
   * yet: `commit()` writes it, `discard()` forgets it. Throws EncodeError (nothing changes) when
   * the message cannot be encoded or its frame would exceed `maxFrameBytes`. */
  prepareEnvelope(env: WireEnvelope): number {
    const w = this.writer;
    const body = this.pos + FRAME_OVERHEAD;
    if (body < this.slab.length) w.into(this.slab, body, this.slab.length);
    else w.reset();
    try {
      this.registry.encode(env, w);
    } catch (e) {
      this.writer = new DirectWriter(); // a failed encode may leave forks on the writer
      this.prepared = -1;
      throw e;
    }
    const len = w.len;
    if (len + 1 > this.maxFrameBytes) {
      this.prepared = -1;
      throw new EncodeError(
        `message ${env.msg.type} to ${env.to} encodes to ${len} bytes, above the bridge's frame limit of ${this.maxFrameBytes} bytes: send it in smaller pieces`,
      );
    }
    this.prepared = len;
    this.preparedKind = FrameKind.Envelope;
    return len + FRAME_OVERHEAD;
  }

  /** Write the prepared envelope frame. */
  commit(): void {
    const len = this.prepared;
    if (len < 0) throw new RuntimeError('EINVAL', 'FrameEncoder.commit() without a prepared frame');
    this.prepared = -1;
    const w = this.writer;
    const inPlace = w.buf === this.slab && !w.spilled && w.start === this.pos + FRAME_OVERHEAD;
    const at = this.reserve(len + FRAME_OVERHEAD);
    const s = this.slab;
    s.writeUInt32BE(len + 1, at);
    s[at + 4] = this.preparedKind;
    if (!inPlace) s.set(w.view(), at + FRAME_OVERHEAD);
  }

  discard(): void {
    this.prepared = -1;
  }

  /** Encode and write an envelope frame; returns its size on the wire. */
  envelope(env: WireEnvelope): number {
    const n = this.prepareEnvelope(env);
    this.commit();
    return n;
  }

  /** Write a frame whose payload is given as bytes. */
  control(kind: number, payload: Uint8Array = EMPTY): number {
    const at = this.reserve(payload.length + FRAME_OVERHEAD);
    this.slab.writeUInt32BE(payload.length + 1, at);
    this.slab[at + 4] = kind;
    this.slab.set(payload, at + FRAME_OVERHEAD);
    return payload.length + FRAME_OVERHEAD;
  }

  /** Everything written since the last take, in order (views of slabs that are never written
   * again), or null when nothing was written. */
  take(): Buffer[] | null {
    if (this.pos === this.start && this.fullBytes === 0) return null;
    const out = this.full;
    if (this.pos > this.start) out.push(this.slab.subarray(this.start, this.pos));
    this.full = [];
    this.fullBytes = 0;
    this.start = this.pos;
    // Most of a slab used: start the next batch on a fresh one rather than a sliver.
    if (this.slab.length - this.pos < 1024) this.newSlab(this.slabBytes);
    return out;
  }

  /** Forget everything written and not taken; returns how many bytes that was. */
  clear(): number {
    const n = this.length;
    this.full = [];
    this.fullBytes = 0;
    this.start = this.pos;
    return n;
  }

  private reserve(n: number): number {
    this.frames++;
    if (this.slab.length - this.pos < n) {
      if (this.pos > this.start) {
        this.full.push(this.slab.subarray(this.start, this.pos));
        this.fullBytes += this.pos - this.start;
      }
      this.newSlab(Math.max(this.slabBytes, n));
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private newSlab(n: number): void {
    this.slab = Buffer.allocUnsafe(n);
    this.start = 0;
    this.pos = 0;
  }
}

const EMPTY = new Uint8Array(0);

/** One whole frame as bytes (handshake frames, tests). */
export function frameBytes(kind: number, payload: Uint8Array = EMPTY): Buffer {
  const b = Buffer.allocUnsafe(payload.length + FRAME_OVERHEAD);
  b.writeUInt32BE(payload.length + 1, 0);
  b[4] = kind;
  b.set(payload, FRAME_OVERHEAD);
  return b;
}
