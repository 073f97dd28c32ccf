// Binary encoding helpers: Node's UTF-8 codec called on plain Uint8Arrays, and for snapshots
// a little-endian growable writer and a reader that checks every read against the end and
// reports a short or overlong input through `corrupt`, never with a RangeError.

/** Buffer's UTF-8 writer on any Uint8Array (`utf8Write.call(bytes, s, offset, room)`): the
 * bytes written, without making a Buffer view per call. */
export const utf8Write = Buffer.prototype.utf8Write as (this: Uint8Array, s: string, offset: number, length: number) => number;
/** Buffer's UTF-8 reader on any Uint8Array (`utf8Slice.call(bytes, start, end)`). */
export const utf8Slice = Buffer.prototype.utf8Slice as (this: Uint8Array, start: number, end: number) => string;

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(initialBytes = 1 << 16) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  bytes(b: ArrayLike<number>): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  u8(x: number): void {
    this.room(1);
    this.buf[this.at++] = x;
  }

  u32(x: number): void {
    this.room(4);
    this.view.setUint32(this.at, x, true);
    this.at += 4;
  }

  f64(x: number): void {
    this.room(8);
    this.view.setFloat64(this.at, x, true);
    this.at += 8;
  }

  /** u32 byte length, then UTF-8. */
  string(s: string): void {
    this.room(4 + 3 * s.length); // at most 3 bytes of UTF-8 per UTF-16 unit
    const n = utf8Write.call(this.buf, s, this.at + 4, this.buf.length - this.at - 4);
    this.view.setUint32(this.at, n, true);
    this.at += 4 + n;
  }

  /** The bytes written (a view of the writer's buffer). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

export class ByteReader {
  private readonly view: DataView;
  at = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly corrupt: (what: string) => Error,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number): void {
    if (this.at + n > this.data.length) throw this.corrupt(`cut short at byte ${this.at} of ${this.data.length}`);
  }

  get left(): number {
    return this.data.length - this.at;
  }

  u8(): number {
    this.need(1);
    return this.data[this.at++]!;
  }

  u32(): number {
    this.need(4);
    const x = this.view.getUint32(this.at, true);
    this.at += 4;
    return x;
  }

  f64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.at, true);
    this.at += 8;
    return x;
  }

  string(): string {
    const n = this.u32();
    this.need(n);
    const s = utf8Slice.call(this.data, this.at, this.at + n);
    this.at += n;
    return s;
  }

  end(): void {
    if (this.at !== this.data.length) throw this.corrupt(`${this.data.length - this.at} bytes after the end`);
  }
}
