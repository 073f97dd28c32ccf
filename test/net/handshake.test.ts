// The handshake module on its own (src/net/handshake.ts): proofs bind every field and the
// direction, frames round-trip, and malformed or foreign Hellos are refused with typed errors.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameKind } from '../../src/wire/frame.js';
import {
  BRIDGE_PROTOCOL_VERSION, NONCE_BYTES, authFrame, checkHelloIds, decodeAuth, decodeGoodbye, decodeHandshake, decodeHello,
  goodbyeFrame, handshakeFrame, handshakeProof, helloFrame, parseHostPort, proofMatches,
} from '../../src/net/handshake.js';

const secret = Buffer.from('a cluster secret of 32 bytes!!!!');
const a = { location: 'n1', instance: 'ia', nonce: randomBytes(NONCE_BYTES) };
const b = { location: 'n2', instance: 'ib', nonce: randomBytes(NONCE_BYTES) };

/** The one frame in `buf`: kind and payload. */
function frame(buf: Buffer): { kind: number; payload: Uint8Array } {
  const out: { kind: number; payload: Uint8Array }[] = [];
  new FrameDecoder(1 << 16, (kind, payload) => void out.push({ kind, payload: Uint8Array.from(payload) })).push(buf);
  expect(out).toHaveLength(1);
  return out[0]!;
}

describe('handshake proofs', () => {
  it('are deterministic, and change with the secret, the direction and every field of either end', () => {
    const p = handshakeProof(secret, 'dial', a, b);
    expect(p).toHaveLength(32);
    expect(handshakeProof(secret, 'dial', a, b).equals(p)).toBe(true);
    const variants = [
      handshakeProof(Buffer.from('another secret of 32 bytes!!!!!!'), 'dial', a, b),
      handshakeProof(secret, 'accept', a, b),
      handshakeProof(secret, 'dial', b, a),
      handshakeProof(secret, 'dial', { ...a, location: 'n3' }, b),
      handshakeProof(secret, 'dial', { ...a, instance: 'ix' }, b),
      handshakeProof(secret, 'dial', a, { ...b, nonce: randomBytes(NONCE_BYTES) }),
      // Length prefixes: moving a byte between fields changes the proof.
      handshakeProof(secret, 'dial', { ...a, location: 'n1i', instance: 'a' }, b),
    ];
    for (const v of variants) expect(v.equals(p)).toBe(false);
  });

  it('proofMatches accepts only the same bytes, and nothing that is not bytes', () => {
    const p = handshakeProof(secret, 'dial', a, b);
    expect(proofMatches(Uint8Array.from(p), p)).toBe(true);
    expect(proofMatches(p.subarray(0, 31), p)).toBe(false);
    expect(proofMatches(Buffer.alloc(32), p)).toBe(false);
    expect(proofMatches('not bytes', p)).toBe(false);
    expect(proofMatches(undefined, p)).toBe(false);
  });
});

describe('handshake frames', () => {
  it('Hello, Auth and Goodbye round-trip through the frame decoder', () => {
    const h = frame(helloFrame({ version: BRIDGE_PROTOCOL_VERSION, role: 'peer', location: 'n1', instance: 'ia', nonce: a.nonce, maxFrameBytes: 4096, maxMessageBytes: 8192 }));
    expect(h.kind).toBe(FrameKind.Hello);
    const hello = decodeHello(h.payload);
    expect(hello).toMatchObject({ role: 'peer', location: 'n1', instance: 'ia', maxFrameBytes: 4096 });
    expect(Buffer.from(hello.nonce).equals(a.nonce)).toBe(true);
    checkHelloIds(hello);

    const au = frame(authFrame({ proof: Buffer.alloc(32, 7), clientLocation: 'cx@n1', clientId: 'c-1' }));
    expect(au.kind).toBe(FrameKind.Auth);
    expect(decodeAuth(au.payload)).toMatchObject({ clientLocation: 'cx@n1', clientId: 'c-1' });

    const g = frame(goodbyeFrame('EUSERS', 'x'.repeat(600), 3));
    expect(g.kind).toBe(FrameKind.Goodbye);
    const bye = decodeGoodbye(g.payload);
    expect(bye.code).toBe('EUSERS');
    expect(bye.reason).toHaveLength(512);
    expect(decodeHandshake(g.kind, g.payload)).toMatchObject({ code: 'EUSERS', refusal: 3 });
  });

  it('handshakeFrame (for tools) encodes what decodeHandshake reads', () => {
    const f = frame(handshakeFrame('hello', { version: 1, role: 'client', instance: 'i', nonce: b.nonce }));
    expect(decodeHandshake(f.kind, f.payload)).toMatchObject({ version: 1, role: 'client', instance: 'i' });
  });

  it('refuses a Hello of another version, a malformed one, and one without a proper nonce or instance', () => {
    const other = frame(handshakeFrame('hello', { version: 99, role: 'peer', location: 'n1', instance: 'i', nonce: a.nonce }));
    expect(() => decodeHello(other.payload)).toThrow(expect.objectContaining({ code: 'EPROTO', message: expect.stringMatching(/version 99/) }));
    expect(() => decodeHello(Uint8Array.from([0x0a, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    expect(() => decodeAuth(Uint8Array.from([0x0a, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    const short = decodeHello(frame(handshakeFrame('hello', { version: 1, role: 'peer', instance: 'i', nonce: randomBytes(8) })).payload);
    expect(() => checkHelloIds(short)).toThrow(expect.objectContaining({ code: 'EPROTO', message: expect.stringMatching(/nonce/) }));
    const noInstance = decodeHello(frame(handshakeFrame('hello', { version: 1, role: 'peer', nonce: a.nonce })).payload);
    expect(() => checkHelloIds(noInstance)).toThrow(expect.objectContaining({ code: 'EPROTO', message: expect.stringMatching(/instance/) }));
  });

  it('a malformed Goodbye still ends the connection, as EPEER', () => {
    expect(decodeGoodbye(Uint8Array.from([0x0a, 0xff]))).toEqual({ code: 'EPEER', reason: '(malformed goodbye)' });
  });
});

describe('parseHostPort', () => {
  it('parses host:port and [v6]:port, and refuses anything else with EINVAL', () => {
    expect(parseHostPort('127.0.0.1:7100')).toEqual({ host: '127.0.0.1', port: 7100 });
    expect(parseHostPort('node-1.example:80')).toEqual({ host: 'node-1.example', port: 80 });
    expect(parseHostPort('[::1]:7100')).toEqual({ host: '::1', port: 7100 });
    for (const bad of ['7100', ':7100', 'host:', 'host:0', 'host:65536', 'host:7.5', 'host:x']) {
      expect(() => parseHostPort(bad), bad).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});
