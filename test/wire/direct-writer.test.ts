import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DirectWriter } from '../../src/wire/direct-writer.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { protoTypes } from '../support/proto-types.js';

// Every message govfs sends, with every field set, must decode the same whether protobufjs's
// Writer or the DirectWriter encoded it.

const types = protoTypes();
const fsReply = types.find((t) => t.fullName === '.govfs.fs.FsReply')!;

const STRINGS = ['', 'a', '/1/0-123/f7', 'naïve 文件 😀', 'x'.repeat(42), 'é'.repeat(43), '😀'.repeat(100), 'long '.repeat(40_000)];
const NUMBERS = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 53 - 1];

function sample(type: protobuf.Type, rng: SeededRandom, depth: number): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    f.resolve();
    const one = (): unknown => {
      if (f.resolvedType instanceof protobuf.Type) return depth > 2 ? {} : sample(f.resolvedType, rng, depth + 1);
      if (f.resolvedType instanceof protobuf.Enum) return Object.values(f.resolvedType.values)[rng.int(0, Object.keys(f.resolvedType.values).length - 1)];
      switch (f.type) {
        case 'string':
          return STRINGS[rng.int(0, STRINGS.length - 1)];
        case 'bytes':
          return Uint8Array.from({ length: rng.int(0, 300) }, (_, i) => (i * 7) & 255);
        case 'bool':
          return rng.int(0, 1) === 1;
        case 'double':
          return rng.int(-1000, 1000) / 7;
        case 'float':
          return 0.5 * rng.int(-100, 100);
        case 'int32':
        case 'sint32':
        case 'sfixed32':
          return rng.int(-(2 ** 31), 2 ** 31 - 1);
        case 'uint32':
        case 'fixed32':
          return NUMBERS.filter((n) => n < 2 ** 32)[rng.int(0, 8)];
        default: // 64-bit kinds: govfs uses uint64 for ids, terms and indexes
          return NUMBERS[rng.int(0, NUMBERS.length - 1)];
      }
    };
    m[f.name] = f.repeated ? Array.from({ length: rng.int(0, 3) }, one) : one();
  }
  return m;
}

const asObject = (type: protobuf.Type, bytes: Uint8Array): unknown => type.toObject(type.decode(bytes), { longs: Number, defaults: true, bytes: Array });

describe('DirectWriter', () => {
  it(`encodes every field of all ${types.length} message types so that it decodes as protobufjs's own encoding does`, () => {
    expect(types.length).toBeGreaterThan(20);
    const rng = new SeededRandom(7);
    const w = new DirectWriter(64);
    for (let round = 0; round < 20; round++) {
      for (const type of types) {
        const msg = type.fromObject(sample(type, rng, 0));
        const theirs = type.encode(msg).finish();
        const ours = (type.encode(msg, w.reset() as unknown as protobuf.Writer) as unknown as DirectWriter).finish();
        expect(asObject(type, ours)).toEqual(asObject(type, theirs));
        expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
      }
    }
  });

  it('moves a nested part up when its length needs more than the one byte kept for it', () => {
    const type = fsReply;
    const w = new DirectWriter(16);
    for (const n of [100, 127, 128, 300, 16_383, 16_384, 70_000]) {
      const msg = type.fromObject({ ok: false, error: { code: 'EINVAL', message: 'm'.repeat(n), path: '/a' }, index: 9 });
      const ours = (type.encode(msg, w.reset() as unknown as protobuf.Writer) as unknown as DirectWriter).finish();
      expect(Buffer.from(ours).equals(Buffer.from(type.encode(msg).finish()))).toBe(true);
    }
  });

  it('writes straight into the region it is given, and moves out into its own buffer when the message does not fit', () => {
    const type = fsReply;
    const msg = type.fromObject({ ok: true, ls: { entries: Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, kind: 'file' })) }, index: 2 ** 40 });
    const want = type.encode(msg).finish();
    const ring = new Uint8Array(new SharedArrayBuffer(4096));
    const w = new DirectWriter(16);

    type.encode(msg, w.into(ring, 100, 4096) as unknown as protobuf.Writer);
    expect(w.spilled).toBe(false);
    expect(w.buf).toBe(ring);
    expect(Buffer.from(ring.subarray(100, 100 + w.len)).equals(Buffer.from(want))).toBe(true);

    ring.fill(0);
    type.encode(msg, w.into(ring, 4000, 4096) as unknown as protobuf.Writer);
    expect(w.spilled).toBe(true);
    expect(w.buf).not.toBe(ring);
    expect(Buffer.from(w.view()).equals(Buffer.from(want))).toBe(true);
  });

  it('writes a lone UTF-16 surrogate as U+FFFD, in short strings and long ones', () => {
    const type = fsReply;
    for (const s of ['a\ud800b', `${'x'.repeat(50)}\udc00`]) {
      const bytes = (type.encode(type.fromObject({ ministry: s }), new DirectWriter() as unknown as protobuf.Writer) as unknown as DirectWriter).finish();
      expect((type.decode(bytes) as unknown as { ministry: string }).ministry).toBe(s.replace(/[\ud800-\udfff]/g, '\ufffd'));
    }
  });
});
