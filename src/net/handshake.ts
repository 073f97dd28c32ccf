// The bridge handshake, shared by node links (src/net/node-links.ts), the client gateway
// (src/net/client-gateway.ts) and the client end (src/client/connection.ts): the Hello, Auth and
// Goodbye messages (src/wire/proto/bridge.proto), the challenge-response proof over both nonces,
// and the checks every Hello gets. Design: docs/bridge.md, "Handshake".

import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { RuntimeError } from '../runtime/errors.js';
import { FrameError, FrameKind, frameBytes } from '../wire/frame.js';
import { protoPath } from '../wire/registry.js';
import type { AuthMessage, GoodbyeMessage, HelloMessage } from '../wire/messages.js';

export const BRIDGE_PROTOCOL_VERSION = 1;
/** Largest frame accepted before a connection is authenticated. */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;
export const NONCE_BYTES = 32;
/** What a location (node id, client location) may be made of. */
export const LOCATION_RE = /^[A-Za-z0-9_.:@$-]{1,128}$/;
/** The location name a client presents in its proof. */
export const CLIENT_PROOF_LOCATION = 'client';

const bridgeRoot = protobuf.parse(readFileSync(protoPath('bridge.proto'), 'utf8'), { keepCase: false }).root;
export const HelloType = bridgeRoot.lookupType('govfs.bridge.Hello');
export const AuthType = bridgeRoot.lookupType('govfs.bridge.Auth');
export const GoodbyeType = bridgeRoot.lookupType('govfs.bridge.Goodbye');

/** A Hello as decoded (govfs.bridge.Hello). */
export type Hello = Omit<HelloMessage, 'type'>;

/** An Auth as decoded: protobufjs gives every field its default. */
export type AuthMsg = Required<Omit<AuthMessage, 'type'>>;

/** One end of a handshake: what its proof binds. */
export interface HandshakeEnd {
  location: string;
  instance: string;
  nonce: Uint8Array;
}

/** The proof an end sends in its Auth (exported for tests and tools that speak the protocol). */
export function handshakeProof(secret: Uint8Array, direction: 'dial' | 'accept', own: HandshakeEnd, peer: HandshakeEnd): Buffer {
  const h = createHmac('sha256', secret);
  const field = (v: string | Uint8Array): void => {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length, 0);
    h.update(len);
    h.update(b);
  };
  field('govfs-bridge/1');
  field(direction);
  field(own.location);
  field(peer.location);
  field(own.instance);
  field(peer.instance);
  field(own.nonce);
  field(peer.nonce);
  return h.digest();
}

/** Does `proof` (from the wire, possibly not even bytes) equal `expected`? Constant time. */
export function proofMatches(proof: unknown, expected: Uint8Array): boolean {
  return proof instanceof Uint8Array && proof.length === expected.length && timingSafeEqual(proof, expected);
}

/** Encode a handshake message as a whole frame (for tests and tools). */
export function handshakeFrame(kind: 'hello', msg: Partial<Hello>): Buffer;
export function handshakeFrame(kind: 'auth', msg: { proof: Uint8Array; clientLocation?: string; welcomeJson?: string; clientKey?: Uint8Array; clientSignature?: Uint8Array; clientId?: string }): Buffer;
export function handshakeFrame(kind: 'goodbye', msg: { code: string; reason: string; refusal?: number }): Buffer;
export function handshakeFrame(kind: 'hello' | 'auth' | 'goodbye', msg: object): Buffer {
  const type = kind === 'hello' ? HelloType : kind === 'auth' ? AuthType : GoodbyeType;
  const k = kind === 'hello' ? FrameKind.Hello : kind === 'auth' ? FrameKind.Auth : FrameKind.Goodbye;
  return frameBytes(k, type.encode(type.fromObject(msg)).finish());
}

/** Decode a handshake frame's payload (for tests and tools). */
export function decodeHandshake(kind: number, payload: Uint8Array): Record<string, unknown> {
  const type = kind === FrameKind.Hello ? HelloType : kind === FrameKind.Auth ? AuthType : GoodbyeType;
  return type.toObject(type.decode(payload), { defaults: true }) as Record<string, unknown>;
}

/** A Hello frame (already-valid fields: no fromObject conversion). */
export function helloFrame(hello: Hello): Buffer {
  return frameBytes(FrameKind.Hello, HelloType.encode(hello).finish());
}

/** An Auth frame (already-valid fields). */
export function authFrame(auth: Partial<AuthMsg> & { proof: Uint8Array }): Buffer {
  return frameBytes(FrameKind.Auth, AuthType.encode(auth).finish());
}

/** A Goodbye frame naming why (`refusal`: a govfs.bridge.Refusal). */
export function goodbyeFrame(code: string, reason: string, refusal: number): Buffer {
  return frameBytes(FrameKind.Goodbye, GoodbyeType.encode({ code, reason: reason.slice(0, 512), refusal } satisfies Omit<GoodbyeMessage, 'type'>).finish());
}

/** A received Hello: decoded, its version and its nonce and instance checked (role-specific
 * checks are the caller's). Throws FrameError. */
export function decodeHello(payload: Uint8Array): Hello {
  let h: Hello;
  try {
    h = HelloType.decode(payload) as unknown as Hello;
  } catch (e) {
    throw new FrameError('EBADMSG', `malformed hello: ${(e as Error).message}`);
  }
  if (h.version !== BRIDGE_PROTOCOL_VERSION) throw new FrameError('EPROTO', `unsupported bridge protocol version ${h.version} (this node speaks ${BRIDGE_PROTOCOL_VERSION})`);
  return h;
}

/** The nonce and instance id every Hello must carry. Throws FrameError. */
export function checkHelloIds(h: Hello): void {
  if (!(h.nonce instanceof Uint8Array) || h.nonce.length !== NONCE_BYTES) throw new FrameError('EPROTO', `hello nonce must be ${NONCE_BYTES} bytes`);
  if (!h.instance || h.instance.length > 64) throw new FrameError('EPROTO', 'hello without a valid instance id');
}

/** A received Auth. Throws FrameError (EBADMSG). */
export function decodeAuth(payload: Uint8Array): AuthMsg {
  try {
    return AuthType.decode(payload) as unknown as AuthMsg;
  } catch (e) {
    throw new FrameError('EBADMSG', `malformed auth: ${(e as Error).message}`);
  }
}

/** A received Goodbye's code and reason (a malformed one still ends the connection). */
export function decodeGoodbye(payload: Uint8Array): { code: string; reason: string } {
  try {
    const g = GoodbyeType.decode(payload) as unknown as Omit<GoodbyeMessage, 'type'>;
    return { code: g.code || 'EPEER', reason: g.reason.slice(0, 512) };
  } catch {
    return { code: 'EPEER', reason: '(malformed goodbye)' };
  }
}

/** 'host:port', '[v6]:port' → parts. */
export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535 || !host) {
    throw new RuntimeError('EINVAL', `bad peer address "${address}" (want host:port)`);
  }
  return { host, port };
}
