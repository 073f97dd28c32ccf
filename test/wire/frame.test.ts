// Framing: the decoder under every way a stream can be cut, its limits, and the encoder's slabs.

import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameEncoder, FrameError, FrameKind, frameBytes } from '../../src/wire/frame.js';
import { EnvelopeKind, MessageRegistry, type WireEnvelope } from '../../src/wire/registry.js';
import { EncodeError } from '../../src/runtime/errors.js';

const registry = MessageRegistry.standard();

function collect(max = 1 << 20): { dec: FrameDecoder; frames: [number, number[]][] } {
  const frames: [number, number[]][] = [];
  const dec = new FrameDecoder(max, (kind, payload) => frames.push([kind, [...payload]]));
  return { dec, frames };
}

describe('FrameDecoder', () => {
  const stream = Buffer.concat([frameBytes(1, Buffer.from([1, 2, 3])), frameBytes(3), frameBytes(0, Buffer.alloc(300, 9)), frameBytes(4, Buffer.from([7]))]);
  const expected: [number, number[]][] = [[1, [1, 2, 3]], [3, []], [0, Array(300).fill(9)], [4, [7]]];

  it('decodes coalesced frames from one chunk', () => {
    const { dec, frames } = collect();
    dec.push(stream);
    expect(frames).toEqual(expected);
    expect(dec.buffered).toBe(0);
  });

  it('decodes the same frames however the stream is split (every split point, and byte by byte)', () => {
    for (let i = 0; i <= stream.length; i++) {
      for (const j of [i, Math.min(stream.length, i + 3), Math.min(stream.length, i + 301)]) {
        const { dec, frames } = collect();
        dec.push(stream.subarray(0, i));
        dec.push(stream.subarray(i, j));
        dec.push(stream.subarray(j));
        expect(frames).toEqual(expected);
      }
    }
    const { dec, frames } = collect();
    for (const byte of stream) dec.push(Buffer.from([byte]));
    expect(frames).toEqual(expected);
  });

  it('refuses an oversized length as soon as it is read, before buffering the frame', () => {
    const { dec } = collect(1000);
    dec.push(Buffer.from([0, 0]));
    expect(() => dec.push(Buffer.from([0x03, 0xe9]))).toThrow(/oversized frame: 1001 bytes announced, the limit is 1000/);
    expect(dec.buffered).toBeLessThanOrEqual(4);
    const { dec: d2 } = collect(1000);
    expect(() => d2.push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(FrameError);
    expect(() => collect().dec.push(Buffer.from([0, 0, 0, 0]))).toThrow(/length 0/);
  });

  it('stops handing out frames once stopped, even from the chunk being read', () => {
    const frames: number[] = [];
    const dec: FrameDecoder = new FrameDecoder(1 << 20, (kind) => {
      frames.push(kind);
      dec.stop();
    });
    dec.push(stream);
    expect(frames).toEqual([1]);
  });
});

describe('FrameEncoder', () => {
  const env = (seq: number) => ({ to: 'b#/sink', from: 'a#/src', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.runtime.Ping', seq, sender: 1 } });

  it('writes envelopes back to back, across slabs, and hands them out in order', () => {
    const enc = new FrameEncoder(registry, 1024);
    const n = 500;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += enc.envelope(env(i));
    expect(enc.length).toBe(bytes);
    const chunks = enc.take()!;
    expect(chunks.length).toBeGreaterThan(1); // more than one slab
    expect(enc.take()).toBeNull();
    const seqs: number[] = [];
    const dec = new FrameDecoder(1 << 20, (kind, payload) => {
      expect(kind).toBe(FrameKind.Envelope);
      seqs.push(registry.decode(payload).msg.seq as number);
    });
    for (const c of chunks) dec.push(c);
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('keeps taken bytes intact while it goes on writing (a socket may still hold them)', () => {
    const enc = new FrameEncoder(registry, 4096);
    enc.envelope(env(1));
    const first = Buffer.from(Buffer.concat(enc.take()!));
    const held = enc.take() ?? [];
    expect(held).toEqual([]);
    enc.envelope(env(2));
    enc.envelope(env(3));
    const again = enc.take()!;
    expect(Buffer.concat(again).equals(first)).toBe(false);
    // The first batch's bytes, taken earlier, still decode to seq 1.
    const seqs: number[] = [];
    const dec = new FrameDecoder(1 << 20, (_k, p) => seqs.push(registry.decode(p).msg.seq as number));
    dec.push(first);
    for (const c of again) dec.push(c);
    expect(seqs).toEqual([1, 2, 3]);
  });

  it('encodes in place in the slab, or (a message past the slab\'s end, or larger than a slab) through its own buffer, with the same bytes', () => {
    const enc = new FrameEncoder(registry, 128);
    const sent: WireEnvelope[] = [];
    for (let i = 0; i < 60; i++) {
      const e = { ...env(i), msg: { type: 'govfs.runtime.Ping', seq: i, payload: new Uint8Array((i * 37) % 300).fill(i) } };
      sent.push(e);
      if (i % 7 === 3) {
        enc.prepareEnvelope(env(-1)); // prepared in the slab's free room, then forgotten
        enc.discard();
      }
      enc.envelope(e);
    }
    const got: Buffer[] = [];
    const dec = new FrameDecoder(1 << 20, (_k, p) => got.push(Buffer.from(p)));
    for (const c of enc.take()!) dec.push(c);
    expect(got.map((b) => b.equals(Buffer.from(registry.toBytes(sent[got.indexOf(b)]!))))).toEqual(sent.map(() => true));
  });

  it('prepares without writing: discard leaves nothing, an over-limit message throws EncodeError', () => {
    const enc = new FrameEncoder(registry, 4096, 100);
    enc.prepareEnvelope(env(1));
    enc.discard();
    expect(enc.length).toBe(0);
    expect(() => enc.prepareEnvelope({ ...env(1), msg: { type: 'govfs.runtime.Ping', payload: new Uint8Array(200) } })).toThrow(EncodeError);
    expect(() => enc.prepareEnvelope({ ...env(1), msg: { type: 'nope.Nope' } })).toThrow(EncodeError);
    enc.envelope(env(5)); // the encoder still works after failures
    expect(enc.length).toBeGreaterThan(0);
  });
});
