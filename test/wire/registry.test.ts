import { describe, expect, it } from 'vitest';
import { EnvelopeKind, MessageRegistry } from '../../src/wire/registry.js';
import { DirectWriter } from '../../src/wire/direct-writer.js';
import { DecodeError, EncodeError } from '../../src/runtime/errors.js';

describe('MessageRegistry', () => {
  const registry = MessageRegistry.standard();

  it('round-trips an envelope with its body, bytes copied out of the source buffer', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const bytes = registry.toBytes({
      to: 't1#/a/b', from: 't0#/x', kind: EnvelopeKind.Ask, corr: 42,
      msg: { type: 'govfs.runtime.Ping', seq: 7, sender: 3, payload },
    });
    const env = registry.decode(bytes, true);
    bytes.fill(0); // the decoded message must not alias the (reusable) source buffer
    expect(env).toMatchObject({ to: 't1#/a/b', from: 't0#/x', kind: EnvelopeKind.Ask, corr: 42 });
    expect(env.msg).toEqual({ type: 'govfs.runtime.Ping', seq: 7, sender: 3, payload: new Uint8Array([1, 2, 3]) });
  });

  it('decodes strings from a view into shared memory, multi-byte characters included', () => {
    const bytes = registry.toBytes({
      to: 't1#/é😀', from: 'x', kind: EnvelopeKind.Ask, corr: 1,
      msg: { type: 'govfs.fs.FsReply', ok: true, ls: { entries: [{ name: 'naïve 文件 😀', kind: 'file' }] } },
    });
    // As a ring holds it: at an offset inside a SharedArrayBuffer.
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 10), 7, bytes.length);
    shared.set(bytes);
    const env = registry.decode(shared, true);
    shared.fill(0);
    expect(env.to).toBe('t1#/é😀');
    expect(env.msg['result']).toBe('ls');
    expect((env.msg['ls'] as { entries: unknown[] }).entries).toEqual([{ name: 'naïve 文件 😀', kind: 'file' }]);
    // A string whose length runs past the end of the frame is corrupt, not a short string.
    expect(() => registry.decode(bytes.subarray(0, 6))).toThrow(DecodeError);
  });

  it('decodes short strings (made in JavaScript when ASCII) as long ones: every length, ASCII or not', () => {
    const samples = ['', 'a', 'f0', 'dir', 'file', 'write', 'm12345', '/a/b/cd', '12345678', '123456789', 'é', 'aé', 'abcdefé', 'abcdefgé', '😀', 'a\u0000b', '\u007f'];
    for (const name of samples) {
      const bytes = registry.toBytes({ to: 'c#/x', from: '', kind: EnvelopeKind.Reply, corr: 1, msg: { type: 'govfs.fs.FsReply', ok: true, ls: { entries: [{ name, kind: 'file' }, { name: `${name}x`, kind: 'dir' }] }, ministry: name } });
      const env = registry.decode(bytes);
      bytes.fill(0x41); // the strings do not alias the buffer
      expect(env.msg['ministry'], JSON.stringify(name)).toBe(name);
      expect((env.msg['ls'] as { entries: unknown[] }).entries).toEqual([{ name, kind: 'file' }, { name: `${name}x`, kind: 'dir' }]);
    }
  });

  it('decodes in place from a range of a larger buffer (as from ring memory), and only from that range', () => {
    const bytes = registry.toBytes({ to: 't1#/é', from: 'x', kind: EnvelopeKind.Ask, corr: 9, msg: { type: 'govfs.fs.FsRequest', clientId: 'c😀', seq: 2 ** 40, ls: { path: '/ü' }, path: '/ü' } });
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 20));
    shared.fill(0xff);
    shared.set(bytes, 11);
    const text = Buffer.from(shared.buffer, 0, shared.length);
    const env = registry.decodeAt(shared, text, 11, 11 + bytes.length, true);
    expect(env).toMatchObject({ to: 't1#/é', corr: 9 });
    expect(env.msg).toMatchObject({ clientId: 'c😀', seq: 2 ** 40, op: 'ls', ls: { path: '/ü' }, path: '/ü' });
    // One byte short: corrupt, though the bytes after the range are there to read.
    expect(() => registry.decodeAt(shared, text, 11, 10 + bytes.length, true)).toThrow(DecodeError);
    expect(() => registry.decodeAt(shared, text, 11, shared.length + 1, true)).toThrow(DecodeError);
  });

  it('decodes addresses through its cache exactly: many of one length, reused buffers, in place from a ring', () => {
    // 3,000 addresses of one length (more than the cache's 256 slots, so slots are shared),
    // decoded twice from one reused ring-like buffer: each must come back as itself.
    const ring = new Uint8Array(new SharedArrayBuffer(4096));
    const text = Buffer.from(ring.buffer);
    const addr = (i: number) => `t${i % 7}#/ministry/m${String(i).padStart(5, '0')}/clerk`;
    const payloadOf = (i: number) => (i % 2 === 0 ? new Uint8Array([i & 0xff, 9]) : new Uint8Array(100).fill(i & 0xff)); // copied by hand, and by slice()
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3000; i++) {
        const bytes = registry.toBytes({ to: addr(i), from: addr(2999 - i), kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.runtime.Ping', seq: i, sender: 1, payload: payloadOf(i) } });
        const at = (i * 37) % 1000;
        ring.set(bytes, at);
        const env = registry.decodeAt(ring, text, at, at + bytes.length, true);
        ring.fill(0xee, at, at + bytes.length); // the ring's memory is reused: nothing may alias it
        expect(env.to).toBe(addr(i));
        expect(env.from).toBe(addr(2999 - i));
        expect(env.msg['payload']).toEqual(payloadOf(i));
      }
    }
    // Not ASCII, and longer than the cache takes.
    for (const to of ['t1#/é😀/naïve', `t1#/${'x'.repeat(300)}`]) {
      const bytes = registry.toBytes({ to, from: '', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.runtime.Ping', seq: 1, sender: 1 } });
      expect(registry.decode(bytes, true).to).toBe(to);
      expect(registry.decode(bytes, true).to).toBe(to);
    }
    // A lone surrogate is written as U+FFFD, whether the address is encoded afresh or kept.
    for (let i = 0; i < 2; i++) {
      const bytes = registry.toBytes({ to: 't1#/a\ud800b', from: 't0#/\udc00', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.runtime.Ping', seq: 1, sender: 1 } });
      expect(registry.decode(bytes, true)).toMatchObject({ to: 't1#/a\ufffdb', from: 't0#/\ufffd' });
    }
  });

  it('fills proto3 defaults for absent fields', () => {
    const env = registry.roundTrip({ to: 'a', from: '', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.runtime.Ping' } });
    // Absent fields read as their defaults (from the message's prototype).
    expect([env.msg.type, env.msg.seq, env.msg.sender]).toEqual(['govfs.runtime.Ping', 0, 0]);
    expect(env.msg.payload).toBeInstanceOf(Uint8Array);
    expect((env.msg.payload as Uint8Array).length).toBe(0);
  });

  it('refuses unregistered or untyped messages at the sender', () => {
    const env = { to: 'a', from: '', kind: EnvelopeKind.Tell, corr: 0 };
    expect(() => registry.toBytes({ ...env, msg: { type: 'nope.Nope' } })).toThrow(EncodeError);
    expect(() => registry.toBytes({ ...env, msg: { x: 1 } as never })).toThrow(/without a `type`/);
    const strict = MessageRegistry.standard({ verify: true });
    expect(() => strict.toBytes({ ...env, msg: { type: 'govfs.runtime.Ping', seq: 'x' } })).toThrow(/does not encode/);
  });

  it('decodes 64-bit fields to the numbers encoded, across every varint length', () => {
    // uint64 is read straight to a number (no LongBits per field): exact up to 2^53 - 1.
    const values = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 5, 2 ** 42 - 1, 2 ** 49 + 7, 2 ** 53 - 1];
    for (const v of values) {
      const env = registry.roundTrip({ to: 'a', from: '', kind: EnvelopeKind.Ask, corr: v, msg: { type: 'govfs.fs.TicketStatusRequest', ministry: 'm', index: v, term: 2 ** 53 - 1 - v } });
      expect([env.corr, env.msg.index, env.msg.term]).toEqual([v, v, 2 ** 53 - 1 - v]);
    }
    // A varint cut short by the end of the frame is corrupt.
    const bytes = registry.toBytes({ to: 'a', from: '', kind: EnvelopeKind.Ask, corr: 2 ** 40, msg: { type: 'govfs.runtime.Ping' } });
    const at = bytes.indexOf(32); // corr's tag
    expect(() => registry.decode(bytes.subarray(0, at + 3))).toThrow(DecodeError);
  });

  it('encodes a frozen listing once and sends those bytes again, equal to encoding it afresh', () => {
    // Over 127 bytes: the reply's length prefix grows around bytes copied in whole.
    const entries: { name: string; kind: string }[] = Array.from({ length: 12 }, (_, i) => Object.freeze({ name: `file-${i}-é`, kind: 'file' }));
    const env = (ls: unknown) => ({ to: 't1#/c', from: 'x', kind: EnvelopeKind.Reply, corr: 9, msg: { type: 'govfs.fs.FsReply', ok: true, index: 5, ls } });
    const fresh = registry.toBytes(env({ entries: [...entries] }));
    // Frozen at the top only, so that the test can tell kept bytes from a fresh encode.
    const listing = Object.freeze({ entries: [...entries] });
    expect(registry.toBytes(env(listing))).toEqual(fresh);
    listing.entries.push(Object.freeze({ name: 'late', kind: 'dir' }));
    const again = registry.toBytes(env(listing));
    expect(again).toEqual(fresh);
    expect((registry.decode(again).msg['ls'] as { entries: unknown[] }).entries).toEqual(entries);
    // Straight into a region (ring memory), as the ring sender writes it.
    const w = new DirectWriter().into(new Uint8Array(4096), 100, 4096);
    registry.encode(env(listing), w);
    expect(w.view()).toEqual(fresh);
  });

  it('rejects corrupt bytes with a DecodeError', () => {
    expect(() => registry.decode(new Uint8Array([0x0a, 0x50, 0x41]))).toThrow(DecodeError);
    expect(() => registry.decode(new Uint8Array([0x2d, 1, 2, 3, 4]))).toThrow(/unknown message type|no body/);
  });
});
