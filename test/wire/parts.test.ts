// Large messages in parts (src/wire/parts.ts): the queue that cuts them, the decoder that
// gathers straddling parts as views, and the assembler that puts them together or refuses them.

import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameKind } from '../../src/wire/frame.js';
import { PART_BYTES, PART_FIRST, PART_LAST, PartAssembler, PartQueue } from '../../src/wire/parts.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function concat(list: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(list));
}

/** Everything a queue writes for `items`, as one stream. */
function stream(q: PartQueue, maxFrame: number): Uint8Array {
  const out: Uint8Array[] = [];
  for (let f = q.next(maxFrame); f !== null; f = q.next(maxFrame)) out.push(...f);
  return concat(out);
}

describe('parts', () => {
  it('cuts messages into parts and reassembles them however the stream is split, gathering straddling parts without copying them', () => {
    const q = new PartQueue();
    const big = bytes(3 * PART_BYTES + 123, 1);
    const small = bytes(10, 2);
    q.push('a', big, false);
    q.push('a', small, true); // held behind the large one of its pair
    q.push('b', bytes(PART_BYTES, 3), false);
    expect(q.holds('a')).toBe(true);
    expect(q.bytes).toBe(big.length + 10 + PART_BYTES);
    const wire = stream(q, 1 << 20);
    expect(q.empty).toBe(true);
    expect(q.bytes).toBe(0);
    expect(q.holds('a')).toBe(false);
    for (const cut of [1, 7, 1000, 65_536, 100_003]) {
      const got: { kind: string; body: Uint8Array }[] = [];
      const asm = new PartAssembler(1 << 24);
      let gathered = 0;
      const dec = new FrameDecoder(1 << 20, (kind, payload) => {
        if (kind === FrameKind.Part) {
          const whole = asm.push(payload);
          if (whole) got.push({ kind: 'big', body: whole });
        } else {
          got.push({ kind: 'whole', body: Uint8Array.from(payload) });
        }
      });
      dec.gather(FrameKind.Part, (_kind, pieces) => {
        gathered++;
        const whole = asm.push(pieces);
        if (whole) got.push({ kind: 'big', body: whole });
      });
      for (let i = 0; i < wire.length; i += cut) dec.push(wire.subarray(i, Math.min(wire.length, i + cut)));
      expect(got.map((g) => g.kind)).toEqual(['big', 'whole', 'big']);
      expect(Buffer.from(got[0]!.body).equals(Buffer.from(big))).toBe(true);
      expect(Array.from(got[1]!.body)).toEqual(Array.from(small));
      expect(Buffer.from(got[2]!.body).equals(Buffer.from(bytes(PART_BYTES, 3)))).toBe(true);
      if (cut < PART_BYTES) expect(gathered).toBeGreaterThan(0);
    }
  });

  it('keeps parts within the other end\'s frame limit', () => {
    const q = new PartQueue();
    q.push('a', bytes(10_000, 4), false);
    const frames: Uint8Array[][] = [];
    for (let f = q.next(4096); f !== null; f = q.next(4096)) frames.push(f);
    for (const f of frames) expect(f[0]!.length + f[1]!.length - 4).toBeLessThanOrEqual(4096);
    expect(frames.length).toBe(3);
  });

  it('a link that dies mid-message loses that message only', () => {
    const q = new PartQueue();
    q.push('a', bytes(3 * PART_BYTES, 5), false);
    q.push('b', bytes(100, 6), true);
    q.next(1 << 20);
    expect(q.midMessage).toBe(true);
    expect(q.abortCurrent()).toBe(1);
    expect(q.length).toBe(1);
    expect(q.bytes).toBe(100);
    expect(q.abortCurrent()).toBe(0);
  });

  it('refuses oversized, out-of-place, overrunning and truncated parts with typed errors', () => {
    const part = (flags: number, total: number | null, n: number): Uint8Array => {
      const head = total === null ? [flags] : [flags, total >>> 24, (total >>> 16) & 0xff, (total >>> 8) & 0xff, total & 0xff];
      return Uint8Array.from([...head, ...bytes(n, 7)]);
    };
    const asm = new PartAssembler(1000, () => 'n9 at 10.0.0.9:1');
    expect(() => asm.push(part(PART_FIRST, 1001, 10))).toThrow(expect.objectContaining({ code: 'EMSGSIZE', message: expect.stringMatching(/n9 at 10.0.0.9:1 announced 1001 bytes, the limit is 1000/) }));
    expect(() => asm.push(part(0, null, 10))).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    expect(asm.push(part(PART_FIRST, 100, 60))).toBeNull();
    expect(asm.buffered).toBe(60);
    expect(() => asm.push(part(PART_FIRST, 100, 10))).toThrow(expect.objectContaining({ code: 'EPROTO', message: expect.stringMatching(/a new message began/) }));
    expect(() => asm.push(part(0, null, 50))).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringMatching(/overrun/) }));
    expect(() => asm.push(part(PART_LAST, null, 10))).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringMatching(/truncated message: its last part came after 70 of the 100 bytes/) }));
    asm.reset();
    expect(asm.push(part(PART_FIRST | PART_LAST, 5, 5))).toEqual(bytes(5, 7));
    expect(() => asm.push(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
  });
});
