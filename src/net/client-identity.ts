// Client identities (the bridge's client role, see docs/bridge.md, "Clients"). A client's id
// is what the ministries key its exactly-once records, its session and its leases by, so one
// client must not be able to use another's. A client holds a random 32-byte secret (the seed
// of an Ed25519 key pair); its id is derived from the public key:
//
//   clientId = "c-" + hex(SHA-256("govfs-client-id/1" | public key)[0..16])
//
// In the handshake the client sends its public key and a signature over both ends' fresh
// nonces (and the node's location and instance), so the node learns the id without the secret
// ever crossing the wire, an eavesdropper cannot replay it on another connection, and the id
// is bound to the connection: every request on it must carry that id. Reconnecting (to any
// node) with the same secret gives the same id, which is what lets a retry after a failover
// still be answered exactly once.

import { type KeyObject, createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { RuntimeError } from '../runtime/errors.js';

/** Size of a client secret (an Ed25519 seed), of its public key, and of a signature. */
export const CLIENT_SECRET_BYTES = 32;
export const CLIENT_KEY_BYTES = 32;
export const CLIENT_SIGNATURE_BYTES = 64;

// DER headers that wrap a raw Ed25519 seed (PKCS#8) and a raw public key (SPKI).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** What a client proves its identity with. Keep `secret` to keep the id (e.g. across a
 * process restart); never send it anywhere. */
export interface ClientIdentity {
  /** The id every request of this client carries (derived from `publicKey`). */
  readonly clientId: string;
  /** Raw Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** The 32-byte secret the key pair (and so the id) derives from. */
  readonly secret: Uint8Array;
  /** Ed25519 signature of `data` (64 bytes). */
  sign(data: Uint8Array): Uint8Array;
}

/** The client id a public key stands for. */
export function clientIdOf(publicKey: Uint8Array): string {
  return `c-${createHash('sha256').update('govfs-client-id/1').update(publicKey).digest().subarray(0, 16).toString('hex')}`;
}

/** The identity a secret stands for; a fresh random one without `secret`. */
export function clientIdentity(secret: Uint8Array = randomBytes(CLIENT_SECRET_BYTES)): ClientIdentity {
  if (!(secret instanceof Uint8Array) || secret.length !== CLIENT_SECRET_BYTES) {
    throw new RuntimeError('EINVAL', `a client secret is ${CLIENT_SECRET_BYTES} bytes (got ${secret instanceof Uint8Array ? secret.length : typeof secret})`);
  }
  const key: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, secret]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const publicKey = Uint8Array.from(spki.subarray(SPKI_ED25519.length));
  const copy = Uint8Array.from(secret);
  return {
    clientId: clientIdOf(publicKey),
    publicKey,
    secret: copy,
    sign: (data) => sign(null, data, key),
  };
}

/** The bytes a client signs in its handshake: fresh nonces of both ends, the node it reached. */
export function identityTranscript(
  node: { location: string; instance: string; nonce: Uint8Array },
  client: { instance: string; nonce: Uint8Array },
  publicKey: Uint8Array,
): Buffer {
  const parts: Buffer[] = [];
  for (const v of ['govfs-client-id/1', node.location, node.instance, node.nonce, client.instance, client.nonce, publicKey]) {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length, 0);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

/** Does `signature` prove the key's owner signed `data`? Malformed input is simply false. */
export function verifyIdentity(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== CLIENT_KEY_BYTES) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== CLIENT_SIGNATURE_BYTES) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}
