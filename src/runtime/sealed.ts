// Checksummed storage values. Every value govfs stores (Raft log segments, snapshots, hard
// state) is written sealed: SEAL_MAGIC, then the CRC-32 of the payload, then the payload, so a
// flipped bit on disk is found on read instead of being applied. Values written before seals
// existed have no magic and are read as they are: no legacy encoding can start with the magic
// (segments start with an entry kind byte, 0-2; hard state and terms with '{'; a legacy
// snapshot with its meta length as a little-endian u32, which the magic would make 21 MB).

import { crc32 } from 'node:zlib';
import { RuntimeError } from './errors.js';

/** 0xFF 'G' 'C' then the seal format version (1). */
const SEAL_MAGIC = [0xff, 0x47, 0x43, 0x01] as const;
const SEAL_HEADER = SEAL_MAGIC.length + 4;

/** A stored value that fails its checksum or cannot be decoded: the storage holding it is
 * damaged, and what it says must not be used. Code EIO. */
export class CorruptStorageError extends RuntimeError {
  readonly corrupt = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super('EIO', message, options);
  }
}

export function isCorruptStorageError(e: unknown): e is CorruptStorageError {
  return e instanceof CorruptStorageError || (e instanceof Error && (e as { corrupt?: unknown }).corrupt === true);
}

/** Bytes an encoder reserves in front of its payload for `sealReserved`. */
export const SEAL_HEADER_BYTES = SEAL_HEADER;

/** `payload` with a magic and its CRC-32 in front. */
export function seal(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(SEAL_HEADER + payload.length);
  out.set(payload, SEAL_HEADER);
  return sealReserved(out);
}

/** Seals in place a value whose payload starts at SEAL_HEADER_BYTES (saves copying a large
 * payload such as a snapshot). */
export function sealReserved(out: Uint8Array): Uint8Array {
  out.set(SEAL_MAGIC, 0);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(SEAL_MAGIC.length, crc32(out.subarray(SEAL_HEADER)), true);
  return out;
}

export function isSealed(value: Uint8Array): boolean {
  return value.length >= SEAL_MAGIC.length && SEAL_MAGIC.every((b, i) => value[i] === b);
}

/** The payload of a sealed value (a view), checked against its CRC; an unsealed (legacy)
 * value as it is. CorruptStorageError naming `what` (e.g. the key) when the check fails. */
export function unseal(value: Uint8Array, what: string): Uint8Array {
  if (!isSealed(value)) return value;
  if (value.length < SEAL_HEADER) throw new CorruptStorageError(`${what} is truncated (${value.length} bytes)`);
  const want = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(SEAL_MAGIC.length, true);
  const payload = value.subarray(SEAL_HEADER);
  const got = crc32(payload);
  if (got !== want) {
    throw new CorruptStorageError(`${what} fails its checksum (stored crc32 ${hex(want)}, computed ${hex(got)} over ${payload.length} bytes)`);
  }
  return payload;
}

const hex = (n: number): string => n.toString(16).padStart(8, '0');
