// Large messages on a byte stream, in parts (docs/data-path.md; used by the bridge's links and
// the client connection).
//
// A message whose envelope is longer than WHOLE_FRAME_MAX does not go as one frame: it goes as
// Part frames of at most PART_BYTES each, written only while the socket's own buffer holds less
// than PART_HIGH_WATER, so other messages (written as whole frames as soon as they are sent) pass
// between its parts: a 64 MiB message holds them up by at most about a part and the socket's
// buffer, not by 64 MiB. One large message is in flight per link at a time, in order.
//
// A Part frame's payload: [u8 flags][u32 big-endian total, in the first part only][bytes].
// flags: PART_FIRST (the first part; `total` is the whole envelope's length), PART_LAST.
//
// Order: messages between one pair of actors (`from` → `to`) keep their order. A message of a
// pair that has a large message queued is queued behind it (PartQueue.holds), even if small;
// messages of other pairs pass.
//
// Receiving (PartAssembler): the first part announces the total, refused at once (EMSGSIZE)
// above the receiver's limit, so no more than that is ever held for one connection; parts are
// kept as they came (views of the socket's reads: FrameDecoder.gather hands over a part that
// straddles reads as views of its pieces, not copied) and copied once into the message's own
// buffer when the last arrives. A part out of place, one that overruns the total, or a last
// part short of it is a protocol error (the connection is closed); a connection that closes
// mid-message drops what it held.

import { FrameError, FrameKind } from './frame.js';

/** Envelopes longer than this travel in parts. */
export const WHOLE_FRAME_MAX = 64 * 1024;
/** Largest part (bytes of the envelope per Part frame). */
export const PART_BYTES = 256 * 1024;
/** Parts are written while the socket buffers less than this. */
export const PART_HIGH_WATER = 1024 * 1024;

export const PART_FIRST = 1;
export const PART_LAST = 2;

/** Frame overhead of a part: length, kind, flags, and the total in the first. */
export const PART_HEADER_BYTES = 4 + 1 + 1 + 4;

interface Queued {
  /** `from` and `to` of the message: its order is kept with others of the pair. */
  key: string;
  /** The whole envelope. */
  body: Uint8Array;
  /** Bytes of it written so far. */
  sent: number;
  /** A small message kept in order behind a large one: written as one Envelope frame. */
  whole: boolean;
}

/** The large messages (and the small ones held behind them) queued to one destination. */
export class PartQueue {
  private items: Queued[] = [];
  private head = 0;
  private readonly keys = new Map<string, number>();
  /** Envelope bytes queued and not yet written. */
  bytes = 0;

  get empty(): boolean {
    return this.head === this.items.length;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Must a message of this pair queue here, behind a large one of the same pair? */
  holds(key: string): boolean {
    return this.keys.has(key);
  }

  /** Queue a message: large (in parts) or, behind a large one, small (whole). */
  push(key: string, body: Uint8Array, whole: boolean): void {
    this.items.push({ key, body, sent: 0, whole });
    this.keys.set(key, (this.keys.get(key) ?? 0) + 1);
    this.bytes += body.length;
  }

  /** The frames of the next part to write (or of the next whole message), or null when empty.
   * `maxFrame`: the largest frame the other end accepts. */
  next(maxFrame: number): Uint8Array[] | null {
    if (this.empty) return null;
    const item = this.items[this.head]!;
    const total = item.body.length;
    if (item.whole) {
      this.done(item);
      const hdr = new Uint8Array(5);
      new DataView(hdr.buffer).setUint32(0, total + 1);
      hdr[4] = FrameKind.Envelope;
      return [hdr, item.body];
    }
    const first = item.sent === 0;
    const room = Math.max(1, Math.min(PART_BYTES, maxFrame - (PART_HEADER_BYTES - 4)));
    const n = Math.min(room, total - item.sent);
    const last = item.sent + n === total;
    const head = first ? PART_HEADER_BYTES : PART_HEADER_BYTES - 4;
    const hdr = new Uint8Array(head);
    const dv = new DataView(hdr.buffer);
    dv.setUint32(0, head - 4 + n);
    hdr[4] = FrameKind.Part;
    hdr[5] = (first ? PART_FIRST : 0) | (last ? PART_LAST : 0);
    if (first) dv.setUint32(6, total);
    const view = item.body.subarray(item.sent, item.sent + n);
    item.sent += n;
    this.bytes -= n;
    if (last) this.done(item, false);
    return [hdr, view];
  }

  /** Is a message partly written (its first part is out, its last is not)? */
  get midMessage(): boolean {
    return !this.empty && this.items[this.head]!.sent > 0;
  }

  /** The link died: the message partly written is lost with it (the other end drops its parts);
   * the rest stays queued for the next link. Returns how many messages were dropped (0 or 1). */
  abortCurrent(): number {
    if (!this.midMessage) return 0;
    const item = this.items[this.head]!;
    this.done(item);
    return 1;
  }

  /** Forget everything queued; returns the bytes dropped. */
  clear(): number {
    const n = this.bytes;
    this.items = [];
    this.head = 0;
    this.keys.clear();
    this.bytes = 0;
    return n;
  }

  private done(item: Queued, unsent = true): void {
    if (unsent) this.bytes -= item.body.length - item.sent;
    this.head++;
    const k = (this.keys.get(item.key) ?? 1) - 1;
    if (k > 0) this.keys.set(item.key, k);
    else this.keys.delete(item.key);
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** Byte `i` of the concatenation of `pieces` (i is below their total length). */
function byteAt(pieces: readonly Uint8Array[], i: number): number {
  for (const p of pieces) {
    if (i < p.length) return p[i]!;
    i -= p.length;
  }
  return 0;
}

/** Reassembles the parts of one message at a time, for one connection (see the top of this
 * file). */
export class PartAssembler {
  private parts: Uint8Array[] = [];
  private total = -1;
  private got = 0;
  /** Messages reassembled. */
  messages = 0;

  constructor(
    /** The largest message accepted (in bytes of its envelope). */
    public maxMessageBytes: number,
    /** Who is sending, for error messages (e.g. "n2 at 10.0.0.2:7100"). */
    private readonly what: () => string = () => 'the other end',
  ) {}

  /** Bytes held for a message not yet complete. */
  get buffered(): number {
    return this.got;
  }

  /** Is a message in progress (its first part in, its last not)? */
  get busy(): boolean {
    return this.total >= 0;
  }

  /** The total a first part announces (null for another part, or too short to say). */
  static announced(payload: Uint8Array | readonly Uint8Array[]): number | null {
    const pieces = payload instanceof Uint8Array ? [payload] : payload;
    let size = 0;
    for (const p of pieces) size += p.length;
    if (size < 5 || !(byteAt(pieces, 0) & PART_FIRST)) return null;
    return ((byteAt(pieces, 1) << 24) | (byteAt(pieces, 2) << 16) | (byteAt(pieces, 3) << 8) | byteAt(pieces, 4)) >>> 0;
  }

  /** One Part frame's payload, whole or in pieces (FrameDecoder.gather: views of the socket's
   * reads). Returns the whole envelope (a buffer of its own, which nothing else references)
   * after its last part, else null. Throws FrameError. */
  push(payload: Uint8Array | readonly Uint8Array[]): Uint8Array | null {
    const pieces = payload instanceof Uint8Array ? [payload] : payload;
    let size = 0;
    for (const p of pieces) size += p.length;
    if (size < 1) throw new FrameError('EBADMSG', 'malformed part: no flags');
    const flags = byteAt(pieces, 0);
    let at = 1;
    if (flags & PART_FIRST) {
      if (this.total >= 0) throw new FrameError('EPROTO', `a new message began before the last part of the previous one (${this.got} of ${this.total} bytes in)`);
      if (size < 5) throw new FrameError('EBADMSG', 'malformed first part: no total length');
      const total = ((byteAt(pieces, 1) << 24) | (byteAt(pieces, 2) << 16) | (byteAt(pieces, 3) << 8) | byteAt(pieces, 4)) >>> 0;
      if (total > this.maxMessageBytes) {
        throw new FrameError('EMSGSIZE', `oversized message: ${this.what()} announced ${total} bytes, the limit is ${this.maxMessageBytes} (maxMessageBytes)`);
      }
      if (total === 0) throw new FrameError('EBADMSG', 'malformed first part: a message of 0 bytes');
      this.total = total;
      at = 5;
    } else if (this.total < 0) {
      throw new FrameError('EPROTO', 'a part with no first part before it');
    }
    const n = size - at;
    if (this.got + n > this.total) {
      throw new FrameError('EBADMSG', `parts overrun their message: ${this.got + n} bytes of ${this.total} announced`);
    }
    // Keep the data as views (past the part's own header bytes).
    let skip = at;
    for (const p of pieces) {
      if (skip >= p.length) {
        skip -= p.length;
        continue;
      }
      this.parts.push(skip === 0 ? p : p.subarray(skip));
      skip = 0;
    }
    this.got += n;
    if (!(flags & PART_LAST)) {
      if (this.got === this.total) throw new FrameError('EBADMSG', `the part that completes a message of ${this.total} bytes is not marked last`);
      return null;
    }
    if (this.got !== this.total) {
      throw new FrameError('EBADMSG', `truncated message: its last part came after ${this.got} of the ${this.total} bytes announced`);
    }
    const out = new Uint8Array(this.total);
    let pos = 0;
    for (const p of this.parts) {
      out.set(p, pos);
      pos += p.length;
    }
    this.reset();
    this.messages++;
    return out;
  }

  /** Drop a message in progress (the connection closed). */
  reset(): void {
    this.parts = [];
    this.total = -1;
    this.got = 0;
  }
}
