// A protobuf writer that lays bytes down as it goes, for the generated encoders of protobufjs.
//
// protobufjs's own Writer records one operation object per field (value, length, callback) and
// writes them all at `finish()`; for a small message that is a few hundred bytes of garbage per
// message, several times the message itself (measured: about 2 KB per `ls` round trip on the
// client thread, a quarter of its allocations). This writer writes each field at once:
// straight into a region it is given (free ring memory), or, when the message does not fit
// there, into a buffer of its own, into which what was written so far is moved ("spilled").
//
// The bytes are the ones protobufjs writes. A nested message's length is first given one byte,
// and its bytes are moved up to make room when it turns out longer than 127 bytes. One
// difference: a lone UTF-16 surrogate in a string becomes U+FFFD (as Node's and every WHATWG
// encoder writes it) instead of protobufjs's invalid three-byte form.

import protobuf from 'protobufjs';
import { utf8Write } from './bytes.js';

const { LongBits, float, base64 } = protobuf.util;

/** A buffer at least this large is allocated without zero-filling and sized to fit. */
const LARGE_BYTES = 64 * 1024;

function allocate(size: number): Uint8Array {
  return size < LARGE_BYTES ? new Uint8Array(size) : new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
}

/** Strings up to this many UTF-16 units take at most 3 × 42 = 126 bytes: a one-byte length. */
const SHORT_STRING = 42;

/** Encoded addresses (DirectWriter.address), by string; emptied when it reaches its bound. */
const ADDRESSES = new Map<string, Uint8Array>();
const ADDRESSES_KEPT = 4096;

export class DirectWriter {
  /** Where bytes go: the target region's memory, or `own`. */
  buf: Uint8Array;
  /** The message's first byte in `buf`, the next byte to write, and the end of the room. */
  start = 0;
  pos = 0;
  private end: number;
  private own: Uint8Array;
  private inTarget = false;
  /** True when the message did not fit the target region and is in the writer's own buffer. */
  spilled = false;
  /** Positions of the length bytes reserved by open fork()s. */
  private readonly forks: number[] = [];
  /** Out of band (docs/data-path.md): a bytes field of at least this many bytes is not written
   * but collected in `oobData`, an empty field in its place, and the index of its bytes() call
   * (counted from the message's first, in wire order) in `oobAt`; a decoder given both puts it
   * back (MessageRegistry.decodeAt). Infinity: every field is written (the default). */
  oobMin = Infinity;
  readonly oobAt: number[] = [];
  readonly oobData: Uint8Array[] = [];
  private bytesCalls = 0;

  constructor(initialBytes = 512) {
    this.own = new Uint8Array(initialBytes);
    this.buf = this.own;
    this.end = this.own.length;
  }

  /** Bytes written so far. */
  get len(): number {
    return this.pos - this.start;
  }

  /** Write the next message into `target[start, end)`; if it does not fit, it goes on in the
   * writer's own buffer instead (`spilled`). */
  into(target: Uint8Array, start: number, end: number): this {
    this.buf = target;
    this.start = this.pos = start;
    this.end = end;
    this.inTarget = true;
    this.spilled = false;
    if (this.forks.length !== 0) this.forks.length = 0; // (a failed encode's; setting it costs)
    this.clearOob();
    return this;
  }

  /** Write the next message into the writer's own buffer. */
  reset(): this {
    this.buf = this.own;
    this.start = this.pos = 0;
    this.end = this.own.length;
    this.inTarget = false;
    this.spilled = false;
    this.forks.length = 0;
    this.clearOob();
    return this;
  }

  private clearOob(): void {
    this.bytesCalls = 0;
    if (this.oobAt.length > 0) {
      this.oobAt.length = 0;
      this.oobData.length = 0;
    }
  }

  /** The message's bytes, handed over: the writer lets go of its own buffer (it takes a fresh
   * one next time), so a large message leaves without a copy. Only when it is not in a target
   * region. */
  detach(): Uint8Array {
    const out = this.buf.subarray(this.start, this.pos);
    if (this.buf === this.own) {
      this.own = new Uint8Array(512);
      this.reset();
    }
    return out;
  }

  /** A copy of the message's bytes. */
  finish(): Uint8Array {
    return this.buf.slice(this.start, this.pos);
  }

  /** The message's bytes, a view valid until the next write. */
  view(): Uint8Array {
    return this.buf.subarray(this.start, this.pos);
  }

  /** Make room for `n` more bytes: grow the own buffer, or move out of a full target region. */
  private room(n: number): void {
    if (this.pos + n <= this.end) return;
    const used = this.pos - this.start;
    const need = used + n;
    let size = Math.max(256, this.own.length);
    while (size < need) size *= 2;
    // A large field (chunk data): room for about it, not the next power of two (a 16 MiB field
    // would take 32 MiB), and not zero-filled first (every byte handed out is written).
    if (need >= LARGE_BYTES) size = Math.min(size, need + Math.max(4096, need >>> 3));
    const next = size > this.own.length || this.buf === this.own ? allocate(size) : this.own;
    next.set(this.buf.subarray(this.start, this.pos), 0);
    for (let i = 0; i < this.forks.length; i++) this.forks[i]! -= this.start;
    if (this.inTarget) {
      this.inTarget = false;
      this.spilled = true;
    }
    this.own = next;
    this.buf = next;
    this.start = 0;
    this.pos = used;
    this.end = next.length;
  }

  uint32(value: number): this {
    value >>>= 0;
    this.room(5);
    const b = this.buf;
    let p = this.pos;
    while (value > 127) {
      b[p++] = (value & 127) | 128;
      value >>>= 7;
    }
    b[p++] = value;
    this.pos = p;
    return this;
  }

  int32(value: number): this {
    value |= 0;
    // A negative int32 is sign-extended to 64 bits: ten bytes, as the protobuf spec says.
    return value < 0 ? this.varint64(value >>> 0, 0xffffffff) : this.uint32(value);
  }

  sint32(value: number): this {
    return this.uint32(((value << 1) ^ (value >> 31)) >>> 0);
  }

  private varint64(lo: number, hi: number): this {
    this.room(10);
    const b = this.buf;
    let p = this.pos;
    while (hi) {
      b[p++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.pos = p;
    // The high word written: what is left of the low one is a uint32's varint.
    return this.uint32(lo);
  }

  uint64(value: number | string | protobuf.Long): this {
    // Ids, terms and indexes are plain non-negative integers below 2^53: no LongBits needed.
    if (typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value)) {
      if (value < 0x80000000) return this.uint32(value);
      const lo = value >>> 0;
      return this.varint64(lo, ((value - lo) / 4294967296) >>> 0);
    }
    const bits = LongBits.from(value);
    return this.varint64(bits.lo, bits.hi);
  }

  int64(value: number | string | protobuf.Long): this {
    return this.uint64(value);
  }

  sint64(value: number | string | protobuf.Long): this {
    const bits = LongBits.from(value).zzEncode();
    return this.varint64(bits.lo, bits.hi);
  }

  bool(value: boolean): this {
    this.room(1);
    this.buf[this.pos++] = value ? 1 : 0;
    return this;
  }

  fixed32(value: number): this {
    value >>>= 0;
    this.room(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = value & 255;
    b[p + 1] = (value >>> 8) & 255;
    b[p + 2] = (value >>> 16) & 255;
    b[p + 3] = value >>> 24;
    this.pos = p + 4;
    return this;
  }

  sfixed32(value: number): this {
    return this.fixed32(value);
  }

  fixed64(value: number | string | protobuf.Long): this {
    const bits = LongBits.from(value);
    return this.fixed32(bits.lo).fixed32(bits.hi);
  }

  sfixed64(value: number | string | protobuf.Long): this {
    return this.fixed64(value);
  }

  float(value: number): this {
    this.room(4);
    float.writeFloatLE(value, this.buf, this.pos);
    this.pos += 4;
    return this;
  }

  double(value: number): this {
    this.room(8);
    float.writeDoubleLE(value, this.buf, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(value: Uint8Array | string): this {
    if (typeof value === 'string') {
      // protobufjs takes a string here as base64.
      const raw = new Uint8Array(base64.length(value));
      base64.decode(value, raw, 0);
      value = raw;
    }
    const len = value.length;
    const call = this.bytesCalls++;
    if (len >= this.oobMin) {
      this.oobAt.push(call);
      this.oobData.push(value);
      return this.uint32(0);
    }
    this.uint32(len);
    this.room(len);
    this.buf.set(value, this.pos);
    this.pos += len;
    return this;
  }

  /** Bytes already encoded (a message's fields, MessageRegistry.encodeFrozenOnce), as they are:
   * no length in front (the fork() around them writes it). */
  raw(value: Uint8Array): this {
    const len = value.length;
    this.room(len);
    this.buf.set(value, this.pos);
    this.pos += len;
    return this;
  }

  /** A string written over and over (an actor address, an envelope's to and from): its bytes,
   * length in front, are kept (per thread) and copied in (profile of a ring's producer: the
   * string encoder was its top entry). */
  address(value: string): this {
    let e = ADDRESSES.get(value);
    if (e === undefined) {
      if (value.length > SHORT_STRING) return this.string(value);
      const utf8 = Buffer.from(value, 'utf8'); // lone surrogates become U+FFFD, as in string()
      e = new Uint8Array(1 + utf8.length);
      e[0] = utf8.length;
      e.set(utf8, 1);
      if (ADDRESSES.size >= ADDRESSES_KEPT) ADDRESSES.clear();
      ADDRESSES.set(value, e);
    }
    const n = e.length;
    this.room(n);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < n; i++) b[p + i] = e[i]!;
    this.pos = p + n;
    return this;
  }

  string(value: string): this {
    const n = value.length;
    if (n > SHORT_STRING) {
      const len = Buffer.byteLength(value, 'utf8');
      this.uint32(len);
      this.room(len);
      utf8Write.call(this.buf, value, this.pos, len);
      this.pos += len;
      return this;
    }
    this.room(1 + 3 * n);
    const b = this.buf;
    const at = this.pos;
    let p = at + 1;
    for (let i = 0; i < n; i++) {
      let c = value.charCodeAt(i);
      if (c < 0x80) {
        b[p++] = c;
      } else if (c < 0x800) {
        b[p++] = (c >> 6) | 0xc0;
        b[p++] = (c & 63) | 0x80;
      } else if ((c & 0xfc00) === 0xd800 && i + 1 < n && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x3ff) << 10) + (value.charCodeAt(++i) & 0x3ff);
        b[p++] = (c >> 18) | 0xf0;
        b[p++] = ((c >> 12) & 63) | 0x80;
        b[p++] = ((c >> 6) & 63) | 0x80;
        b[p++] = (c & 63) | 0x80;
      } else {
        if ((c & 0xf800) === 0xd800) c = 0xfffd; // a lone surrogate
        b[p++] = (c >> 12) | 0xe0;
        b[p++] = ((c >> 6) & 63) | 0x80;
        b[p++] = (c & 63) | 0x80;
      }
    }
    b[at] = p - at - 1;
    this.pos = p;
    return this;
  }

  /** Start a length-delimited part (a nested message): one byte is kept for its length. */
  fork(): this {
    this.room(1);
    this.forks.push(this.pos++);
    return this;
  }

  /** End the part that the last fork() started, writing its length in front of it. */
  ldelim(): this {
    const rel = (this.forks.pop() as number) - this.start;
    let at = this.start + rel;
    const len = this.pos - at - 1;
    if (len < 128) {
      this.buf[at] = len;
      return this;
    }
    const extra = (len < 16384 ? 2 : len < 2097152 ? 3 : len < 268435456 ? 4 : 5) - 1;
    this.room(extra);
    at = this.start + rel; // room() may have moved the message
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    const end = this.pos;
    this.pos = at;
    this.uint32(len);
    this.pos = end;
    return this;
  }
}
