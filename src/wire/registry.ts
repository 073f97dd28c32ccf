// Message types that may cross a thread or a host are declared once, as protobuf schemas in
// src/wire/proto, and registered here. The registry encodes an envelope and its body in one
// pass into a protobufjs Writer whose bytes can be laid straight into ring memory or a
// socket buffer, and decodes them back into plain objects tagged with `type`.

import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { DecodeError, EncodeError } from './errors.js';
import { DirectWriter } from './direct-writer.js';
import { decodeLsResult } from './ls-result.js';

// Integers travel as plain numbers: ids, terms and indexes stay far below 2^53.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

export const enum EnvelopeKind {
  Tell = 0,
  Ask = 1,
  Reply = 2,
  System = 3,
}

/** A message in flight between runtimes. `msg` is a registered message (has `type`). */
export interface WireEnvelope {
  to: string;
  from: string;
  kind: EnvelopeKind;
  corr: number;
  msg: TypedMessage;
  /** A request trace this envelope belongs to (src/runtime/trace.ts); 0 or absent: none. */
  trace?: number;
}

export interface TypedMessage {
  type: string;
  [field: string]: unknown;
}

/** A message whose body is still encoded (decodeAt's `raw`): its type and a copy of its
 * protobuf bytes. It encodes back to the same bytes without being decoded. */
export class RawMessage {
  constructor(
    readonly type: string,
    readonly body: Uint8Array,
  ) {}
}

/** Which envelopes decodeAt leaves encoded: by kind, correlation id and message type. */
export type RawFilter = (kind: number, corr: number, type: string) => boolean;

interface Registered {
  id: number;
  name: string;
  type: protobuf.Type;
}

const EMPTY_BYTES = new Uint8Array(0);

/** protobufjs's plain Reader decodes a string in JavaScript one char code at a time, which
 * leaves kilobytes of garbage per directory listing (measured: 10 KB per `ls` reply, most of
 * the client thread's allocations); Node's native UTF-8 decoder makes only the string. Bytes
 * fields still come from the plain Reader (views of `buf`, copied out where needed). Not
 * protobufjs's BufferReader: its bytes would be Buffer views, whose slice() does not copy out
 * of ring memory, and it cuts an over-long string short instead of refusing it. */
class NativeStringReader extends protobuf.Reader {
  readonly text: Buffer;
  /** Bytes fields are copied out of `buf` as they are read (decodeAt's copyBytes): one small
   * array per field instead of a view that bytesCopier then copies (a view and a slice(), each
   * dearer than the copy of a few bytes). */
  copyOut = false;
  /** `text`: a Buffer over the same bytes as `buf`, when the caller keeps one (a ring's). */
  constructor(
    buf: Uint8Array,
    readonly givenText?: Buffer,
  ) {
    super(buf);
    this.text = givenText ?? Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  override bytes(): Uint8Array {
    if (!this.copyOut) return super.bytes();
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    if (end > this.len) throw new RangeError(`bytes of ${len} bytes run past the end (${this.len - start} left)`);
    this.pos = end;
    const b = this.buf;
    if (len > SMALL_COPY) return Uint8Array.prototype.slice.call(b, start, end); // a copy even of a Buffer
    const c = new Uint8Array(len);
    for (let i = 0; i < len; i++) c[i] = b[start + i]!;
    return c;
  }
  /** An actor address (an envelope's to or from): the same few recur frame after frame. */
  address(): string {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    if (end > this.len) throw new RangeError(`string of ${len} bytes runs past the end (${this.len - start} left)`);
    this.pos = end;
    return len > ADDRESS_CACHE_MAX ? this.text.toString('utf8', start, end) : cachedAddress(this.buf, this.text, start, len);
  }
  override string(): string {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    if (end > this.len) throw new RangeError(`string of ${len} bytes runs past the end (${this.len - start} left)`);
    this.pos = end;
    // A short ASCII string (a name, a kind, a mode, an id) is made here: a native call per
    // string cost more than the string (measured: a 10-entry listing's reply decodes 1.6-2x
    // faster, median of 25 interleaved bursts on a loaded 2-core machine).
    if (len <= 8) {
      const s = shortAscii(this.buf, start, len);
      if (s !== null) return s;
    }
    return this.text.toString('utf8', start, end);
  }
  /** uint64 (every 64-bit field of our protos) straight to a number: protobufjs's own reader
   * builds a LongBits object per field first (a quarter of a read request's garbage on the
   * serving thread). Exact below 2^53; above, rounded as protobufjs's toNumber rounds. */
  override uint64(): protobuf.Long {
    const buf = this.buf;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.len) throw new RangeError(`varint runs past the end (at ${this.pos})`);
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value as unknown as protobuf.Long;
      scale *= 128;
    }
    throw new RangeError('varint longer than 10 bytes');
  }
}

/** Payloads that travelled beside a frame instead of in it (DirectWriter's oobAt/oobData): the
 * k-th payload replaces the empty bytes field read by the reader's `at[k]`-th bytes() call. */
export interface OutOfBand {
  at: readonly number[];
  data: readonly Uint8Array[];
}

/** A reader that puts out-of-band payloads back where the writer took them out. */
class OobReader extends NativeStringReader {
  private calls = 0;
  private next = 0;
  constructor(
    buf: Uint8Array,
    text: Buffer | undefined,
    private readonly oob: OutOfBand,
  ) {
    super(buf, text);
  }
  override bytes(): Uint8Array {
    const call = this.calls++;
    const k = this.next;
    if (k < this.oob.at.length && this.oob.at[k] === call) {
      if (this.uint32() !== 0) throw new RangeError(`bytes field ${call} should be empty: its payload came out of band`);
      this.next++;
      return this.oob.data[k]!;
    }
    return super.bytes();
  }
  /** Every payload was put back. */
  get complete(): boolean {
    return this.next === this.oob.at.length;
  }
}

/** Bytes fields up to this size are copied element by element (no native call). */
const SMALL_COPY = 64;
/** Addresses up to this many bytes are looked up in the address cache. */
const ADDRESS_CACHE_MAX = 128;
const ADDRESS_SLOTS = 256;
/** The strings of recently decoded addresses, by a hash of their bytes (one slot each, the
 * last one wins): a hit compares the bytes and makes no string (measured: 40 vs 68 ns for a
 * 20-byte address, CPU time on a loaded 2-core machine). Per thread, like this module. */
const addressBytes: Uint8Array[] = Array.from({ length: ADDRESS_SLOTS }, () => EMPTY_BYTES);
const addressStrings: string[] = new Array<string>(ADDRESS_SLOTS).fill('');

function cachedAddress(b: Uint8Array, text: Buffer, start: number, len: number): string {
  const end = start + len;
  let h = 0x811c9dc5 ^ len;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  const slot = h >>> 24;
  const known = addressBytes[slot]!;
  if (known.length === len) {
    let i = 0;
    while (i < len && known[i] === b[start + i]) i++;
    if (i === len) return addressStrings[slot]!;
  }
  const s = text.toString('utf8', start, end);
  addressBytes[slot] = Uint8Array.prototype.slice.call(b, start, end);
  addressStrings[slot] = s;
  return s;
}

/** The string of `len` (at most 8) ASCII bytes at `b[p]`, made in one allocation (no
 * intermediate strings), or null when they are not all ASCII. */
function shortAscii(b: Uint8Array, p: number, len: number): string | null {
  let or = 0;
  for (let i = p; i < p + len; i++) or |= b[i]!;
  if (or >= 0x80) return null;
  const f = String.fromCharCode;
  switch (len) {
    case 0:
      return '';
    case 1:
      return f(b[p]!);
    case 2:
      return f(b[p]!, b[p + 1]!);
    case 3:
      return f(b[p]!, b[p + 1]!, b[p + 2]!);
    case 4:
      return f(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
    case 5:
      return f(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!);
    case 6:
      return f(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!);
    case 7:
      return f(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!);
    default:
      return f(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
  }
}

/** FNV-1a of the full name: a stable id that needs no coordination between processes. */
function typeId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Path of a schema shipped in src/wire/proto (also copied beside the compiled files). */
export function protoPath(file: string): string {
  return fileURLToPath(new URL(`./proto/${file}`, import.meta.url));
}

export class MessageRegistry {
  private readonly byName = new Map<string, Registered>();
  private readonly byId = new Map<number, Registered>();
  private readonly root = new protobuf.Root();
  /** Check field types before encoding (costs about as much as the encoding itself). */
  verify: boolean;

  constructor(opts: { verify?: boolean } = {}) {
    this.verify = opts.verify ?? false;
  }

  /** The registry with every schema of src/wire/proto (the runtime's own and govfs's). */
  static standard(opts: { verify?: boolean } = {}): MessageRegistry {
    const r = new MessageRegistry(opts);
    const dir = protoPath('');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.proto')).sort()) r.addProtoFile(protoPath(f));
    // A ministry answers every `ls` of an unchanged directory with the same frozen listing
    // (ministry-namespace.ts, its listing cache): its ten or more entries are encoded once.
    r.encodeFrozenOnce('govfs.fs.LsResult');
    r.decodeWith('govfs.fs.LsResult', decodeLsResult);
    return r;
  }

  /** Decode messages of type `name` (nested or not) with `decode` instead of protobufjs's
   * generated decoder: for a hot message whose generated form costs more than its fields
   * (ls-result.ts). `decode` must read the .proto's bytes, and only from a Reader. */
  decodeWith(name: string, decode: (r: protobuf.Reader, length?: number) => object): this {
    const reg = this.byName.get(name);
    if (!reg) throw new Error(`decodeWith: message type ${name} is not registered`);
    this.setUp(reg.type);
    type Decode = (r: unknown, length?: number, end?: number, depth?: number) => unknown;
    const generated = (reg.type.decode as unknown as Decode).bind(reg.type);
    // (Generated decoders read a nested message through its Type's `decode`, as encoders do;
    // `end` is set only for a proto2 group, which our schemas do not use.)
    (reg.type as unknown as { decode: Decode }).decode = (r, length, end, depth) => (r instanceof protobuf.Reader && end === undefined ? decode(r, length) : generated(r, length, end, depth));
    return this;
  }

  private readonly typesSetUp = new WeakSet<protobuf.Type>();

  /** protobufjs generates a type's encode and decode on its first use, and again on every
   * setup() call, which would drop a replacement made before: set each up once, here. */
  private setUp(type: protobuf.Type): void {
    if (this.typesSetUp.has(type)) return;
    type.setup();
    this.typesSetUp.add(type);
  }

  /** From now on a frozen message of type `name` (nested or not) is encoded once: its bytes
   * are kept beside it (a WeakMap, so they go with it) and copied in on every later send. Frozen
   * says it cannot change. For types without bytes fields (whose large payloads would travel
   * beside a ring's frame, not in it). */
  encodeFrozenOnce(name: string): this {
    const reg = this.byName.get(name);
    if (!reg) throw new Error(`encodeFrozenOnce: message type ${name} is not registered`);
    if (reg.type.fieldsArray.some((f) => f.type === 'bytes')) throw new Error(`encodeFrozenOnce: ${name} has bytes fields`);
    this.setUp(reg.type);
    const generated = reg.type.encode.bind(reg.type) as (m: unknown, w: unknown) => unknown;
    const kept = new WeakMap<object, Uint8Array>();
    const scratch = new DirectWriter(256);
    let encoding = false;
    // (protobufjs's generated encoders call a nested type's `encode` through the Type, so the
    // replacement serves nested fields too.)
    (reg.type as unknown as { encode: (m: unknown, w: unknown) => unknown }).encode = (m, w) => {
      if (encoding || !(w instanceof DirectWriter) || !Object.isFrozen(m)) return generated(m, w);
      let bytes = kept.get(m as object);
      if (bytes === undefined) {
        encoding = true;
        try {
          bytes = (generated(m, scratch.reset()) as DirectWriter).finish();
        } finally {
          encoding = false;
        }
        kept.set(m as object, bytes);
      }
      return w.raw(bytes);
    };
    return this;
  }

  addProtoFile(path: string): this {
    return this.addProtoSource(readFileSync(path, 'utf8'));
  }

  /** Register every message type declared in a .proto source. */
  addProtoSource(source: string): this {
    const parsed = protobuf.parse(source, this.root, { keepCase: false });
    this.root.resolveAll();
    const pkg = parsed.package ? this.root.lookup(parsed.package) : this.root;
    if (pkg) this.registerAll(pkg);
    for (const reg of this.byName.values()) {
      // protobufjs's default for an absent bytes field is an empty Array; make it bytes.
      const proto = reg.type.ctor.prototype as Record<string, unknown>;
      for (const f of reg.type.fieldsArray) if (f.type === 'bytes' && !f.repeated) proto[f.name] = EMPTY_BYTES;
    }
    return this;
  }

  private registerAll(ns: protobuf.ReflectionObject): void {
    if (ns instanceof protobuf.Type) {
      const name = ns.fullName.replace(/^\./, '');
      if (!this.byName.has(name)) {
        if (ns.fields.type !== undefined) {
          throw new Error(`message ${name} has a field named "type", which is reserved for the message tag`);
        }
        const id = typeId(name);
        const clash = this.byId.get(id);
        if (clash) throw new Error(`message type id clash between ${clash.name} and ${name}`);
        const reg: Registered = { id, name, type: ns };
        this.byName.set(name, reg);
        this.byId.set(id, reg);
      }
    }
    if (ns instanceof protobuf.Namespace) for (const child of ns.nestedArray) this.registerAll(child);
  }

  has(type: string): boolean {
    return this.byName.has(type);
  }

  /** The field names (camelCase, as decoded) of a registered message type; [] if unknown. */
  fieldNames(type: string): string[] {
    return this.byName.get(type)?.type.fieldsArray.map((f) => f.name) ?? [];
  }

  private lastName = '';
  private lastReg: Registered | undefined;

  /** Throws EncodeError unless `msg` is a registered message whose fields encode. */
  private lookup(msg: unknown): Registered {
    if (msg === null || typeof msg !== 'object') {
      throw new EncodeError(`cannot send ${String(msg)} across threads or hosts: only registered protobuf messages can`);
    }
    const name = (msg as { type?: unknown }).type;
    if (typeof name !== 'string') {
      throw new EncodeError('cannot send a message without a `type` across threads or hosts: declare it in src/wire/proto');
    }
    // (A sender sends runs of one type: the last one found is checked first.)
    const reg = name === this.lastName ? this.lastReg : this.byName.get(name);
    if (!reg) throw new EncodeError(`message type ${name} is not registered: declare it in src/wire/proto`);
    this.lastName = name;
    this.lastReg = reg;
    if (this.verify && !(msg instanceof RawMessage)) {
      const problem = reg.type.verify(msg as Record<string, unknown>);
      if (problem) throw new EncodeError(`message ${name} does not encode: ${problem}`);
    }
    return reg;
  }

  /** Fails at the sender, with a clear error, for a message that would not survive the wire. */
  check(msg: unknown): void {
    this.lookup(msg);
  }

  /** Encode an envelope and its body into `w` (which writes at once: into its own buffer, or
   * straight into ring memory). */
  encode(env: WireEnvelope, w: DirectWriter): DirectWriter {
    const reg = this.lookup(env.msg);
    // The generated encoders call only methods a DirectWriter has.
    const writer = w as unknown as protobuf.Writer;
    try {
      w.uint32(10).address(env.to);
      if (env.from) w.uint32(18).address(env.from);
      if (env.kind) writer.uint32(24).uint32(env.kind);
      if (env.corr) writer.uint32(32).uint64(env.corr);
      writer.uint32(45).fixed32(reg.id);
      if (env.msg instanceof RawMessage) writer.uint32(50).bytes(env.msg.body);
      else reg.type.encode(env.msg, writer.uint32(50).fork()).ldelim();
      if (env.trace) writer.uint32(56).uint32(env.trace);
    } catch (e) {
      throw new EncodeError(`message ${reg.name} does not encode: ${(e as Error).message}`, { cause: e });
    }
    return w;
  }

  toBytes(env: WireEnvelope): Uint8Array {
    return this.encode(env, new DirectWriter(256)).finish();
  }

  /** Decode an envelope. The message is a protobufjs message object: fields present on the
   * wire are its own properties, absent ones read as proto3 defaults from its prototype. With
   * `copyBytes`, bytes fields are copied out of `buf` (needed when `buf` is ring memory that
   * will be reused); strings never alias it. */
  decode(buf: Uint8Array, copyBytes = false): WireEnvelope {
    return this.decodeAt(buf, undefined, 0, buf.length, copyBytes);
  }

  /** Decode the envelope in `buf[start, end)` in place, without a view of it; `text` is a
   * Buffer over the same bytes as `buf` (a ring keeps one for its storage). When `raw` says so
   * (from the envelope's kind, correlation id and message type) the message is left encoded: a
   * RawMessage holding a copy of its body (never one with payloads out of band `oob`). */
  decodeAt(buf: Uint8Array, text: Buffer | undefined, start: number, end: number, copyBytes = false, raw?: RawFilter, oob?: OutOfBand): WireEnvelope {
    try {
      if (start < 0 || end > buf.length || start > end) throw new Error(`range [${start}, ${end}) is not within ${buf.length} bytes`);
      const reader = oob ? new OobReader(buf, text, oob) : this.readerFor(buf, text);
      reader.pos = start;
      reader.len = end;
      reader.copyOut = copyBytes;
      let to = '';
      let from = '';
      let kind = 0;
      let corr = 0;
      let id = 0;
      let bodyStart = -1;
      let bodyEnd = -1;
      let trace = 0;
      while (reader.pos < reader.len) {
        const tag = reader.uint32();
        switch (tag) {
          case 10: to = reader.address(); break;
          case 18: from = reader.address(); break;
          case 24: kind = reader.uint32(); break;
          case 32: corr = reader.uint64() as unknown as number; break;
          case 45: id = reader.fixed32(); break;
          case 50: {
            const len = reader.uint32();
            bodyStart = reader.pos;
            bodyEnd = bodyStart + len;
            if (bodyEnd > reader.len) throw new Error('body runs past the end of the frame');
            reader.skip(len);
            break;
          }
          case 56: trace = reader.uint32(); break;
          default: reader.skipType(tag & 7);
        }
      }
      const reg = this.byId.get(id);
      if (!reg) throw new Error(`unknown message type id ${id}`);
      if (bodyStart < 0) throw new Error('envelope has no body');
      if (raw !== undefined && (oob === undefined || oob.at.length === 0) && raw(kind, corr, reg.name)) return { to, from, kind, corr, msg: new RawMessage(reg.name, Uint8Array.prototype.slice.call(buf, bodyStart, bodyEnd)) as unknown as TypedMessage }; // (a copy even of a Buffer, whose slice() is a view)
      reader.pos = bodyStart;
      const msg = reg.type.decode(reader, bodyEnd - bodyStart) as unknown as TypedMessage;
      if (reader instanceof OobReader && !reader.complete) throw new Error(`${oob!.at.length} payloads came out of band, but the message has no place for some of them`);
      // (copyBytes: the reader copied every bytes field as it read it, nested ones too.)
      msg.type = reg.name;
      return trace ? { to, from, kind, corr, msg, trace } : { to, from, kind, corr, msg };
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError(`undecodable envelope: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The last plain reader, kept for the next frame of the same buffer (a ring's storage):
   * one reader per frame was a tenth of a ring consumer's allocations. decodeAt does not
   * re-enter itself, so one is enough. */
  private lastReader: NativeStringReader | null = null;

  private readerFor(buf: Uint8Array, text: Buffer | undefined): NativeStringReader {
    const r = this.lastReader;
    if (r !== null && r.buf === buf && r.givenText === text && text !== undefined) return r;
    const fresh = new NativeStringReader(buf, text);
    if (text !== undefined) this.lastReader = fresh; // a caller's own buffer is not kept alive
    return fresh;
  }

  /** Encode then decode: what a message looks like after crossing the wire. */
  roundTrip(env: WireEnvelope): WireEnvelope {
    return this.decode(this.toBytes(env), true);
  }
}
