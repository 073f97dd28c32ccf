// The journal's record format (storage-journal.ts writes and replays it): one record per group
// commit, all or nothing after a crash by its checksum. Apart from the journal so that the format
// reads on its own and the journal file stays about its write/apply/checkpoint rules.

import { crc32 } from 'node:zlib';
import { crc32c, crc32cCombine } from './crc32c.js';
import { decodeKey, encodeKey } from './storage-lmdb.js';

/** Record header: magic, generation, sequence, payload length, CRC-32 of the rest. */
const MAGIC = 0x324a5647; // 'GVJ2' little-endian: checksum CRC-32C
/** Records written before the journal chained its values' CRC-32C (replayed still). */
const MAGIC_CRC32 = 0x314a5647; // 'GVJ1': checksum CRC-32 (zlib)
const HEADER = 20;

/** A batch as journaled: puts and dels only (sealed: see StorageOp). */
export type Flat = { key: string; value: Uint8Array | undefined; sealed?: boolean }[];

// ---- records: [magic u32][generation u32][seq u32][payload bytes u32][CRC-32C u32][payload] ---
// (the CRC covers the header's generation, seq and length, then the payload; 'GVJ1' records,
// from before, carry a CRC-32 of the same instead)
// payload: [batches u32] then each batch [ops u32] then each op [key bytes u32][key (CESU-8)]
// [value bytes u32, 0xffffffff for a deletion][value]

const DELETED = 0xffffffff;

/** Values at least this long are their own part of a record (pwritev), not copied into it. */
const OWN_PART_BYTES = 1024;

/** A record as the parts to write in order (see encodeRecord: the same bytes): a buffer of
 * the header and everything between the large values, and each large value as it is, copied by
 * nobody but the kernel. The CRC-32C is chained over the parts; a large sealed value (a chunk
 * block: its CRC-32C in front) is not read again: its own CRC is combined in (crc32cCombine).
 * Replay reads every byte, so a torn or stale value still fails the record. */
export function recordParts(generation: number, seq: number, batches: Flat[]): { parts: Uint8Array[]; size: number } {
  const keys = batches.map((b) => b.map(({ key }) => encodeKey(key)));
  // Bytes written into the part buffers (the header, counts, keys, lengths, small values).
  let small = HEADER + 4;
  let size = HEADER + 4;
  batches.forEach((b, i) => {
    small += 4;
    size += 4;
    b.forEach(({ value }, j) => {
      const v = value?.length ?? 0;
      small += 8 + keys[i]![j]!.length + (v < OWN_PART_BYTES ? v : 0);
      size += 8 + keys[i]![j]!.length + v;
    });
  });
  const head = Buffer.allocUnsafe(small);
  const parts: Uint8Array[] = [];
  const sealed = new Set<Uint8Array>();
  let from = 0; // where the current part of `head` starts
  let at = HEADER;
  at = head.writeUInt32LE(batches.length, at);
  batches.forEach((b, i) => {
    at = head.writeUInt32LE(b.length, at);
    b.forEach(({ value }, j) => {
      const k = keys[i]![j]!;
      at = head.writeUInt32LE(k.length, at);
      head.set(k, at);
      at += k.length;
      at = head.writeUInt32LE(value === undefined ? DELETED : value.length, at);
      if (value === undefined) return;
      if (value.length < OWN_PART_BYTES) {
        head.set(value, at);
        at += value.length;
        return;
      }
      parts.push(head.subarray(from, at), value);
      if (b[j]!.sealed) sealed.add(value);
      from = at;
    });
  });
  if (at > from) parts.push(head.subarray(from, at));
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(generation >>> 0, 4);
  head.writeUInt32LE(seq >>> 0, 8);
  head.writeUInt32LE(size - HEADER, 12);
  let crc = crc32c(head.subarray(4, 16));
  parts.forEach((p, i) => {
    if (!sealed.has(p)) return void (crc = crc32c(i === 0 ? p.subarray(HEADER) : p, crc));
    crc = crc32c(p.subarray(0, 4), crc);
    crc = crc32cCombine(crc, new DataView(p.buffer, p.byteOffset, 4).getUint32(0, true), p.length - 4);
  });
  head.writeUInt32LE(crc, 16);
  return { parts: parts.filter((p) => p.length > 0), size };
}

/** A record in one buffer (the journal writes recordParts). */
export function encodeRecord(generation: number, seq: number, batches: Flat[]): Uint8Array {
  return Buffer.concat(recordParts(generation, seq, batches).parts);
}

/** The batches of each good record of `generation` from offset 0, in order, and where the
 * last ends: reading stops at the first record that is torn, damaged, of another generation or
 * out of sequence (only the write under way at a crash can be). */
export function readJournal(file: Buffer, generation: number): { records: Flat[][]; end: number; damaged: boolean } {
  const records: Flat[][] = [];
  let at = 0;
  while (at + HEADER <= file.length) {
    const len = file.readUInt32LE(at + 12);
    const magic = file.readUInt32LE(at);
    if ((magic !== MAGIC && magic !== MAGIC_CRC32) || file.readUInt32LE(at + 4) !== generation >>> 0 || file.readUInt32LE(at + 8) !== records.length) break;
    if (len > file.length - at - HEADER) break;
    const payload = file.subarray(at + HEADER, at + HEADER + len);
    const sum = magic === MAGIC ? crc32c(payload, crc32c(file.subarray(at + 4, at + 16))) : crc32(payload, crc32(file.subarray(at + 4, at + 16)));
    if (sum !== file.readUInt32LE(at + 16)) break;
    const batches = decodePayload(payload);
    if (!batches) break;
    records.push(batches);
    at += HEADER + len;
  }
  return { records, end: at, damaged: goodRecordAfter(file, at, generation, records.length) };
}

/** Whether a good record of `generation` with a sequence number above `seq` lies beyond `end`:
 * then the record at `end` was damaged after it was written (records are appended one at a time,
 * each durable before the next), not torn by a crash, and the records after it were synced. */
function goodRecordAfter(file: Buffer, end: number, generation: number, seq: number): boolean {
  for (const magic of [MAGIC, MAGIC_CRC32]) {
    const m = Buffer.alloc(4);
    m.writeUInt32LE(magic, 0);
    for (let at = file.indexOf(m, end + 1); at >= 0 && at + HEADER <= file.length; at = file.indexOf(m, at + 1)) {
      if (file.readUInt32LE(at + 4) !== generation >>> 0 || file.readUInt32LE(at + 8) <= seq) continue;
      const len = file.readUInt32LE(at + 12);
      if (len > file.length - at - HEADER) continue;
      const payload = file.subarray(at + HEADER, at + HEADER + len);
      const sum = magic === MAGIC ? crc32c(payload, crc32c(file.subarray(at + 4, at + 16))) : crc32(payload, crc32(file.subarray(at + 4, at + 16)));
      if (sum === file.readUInt32LE(at + 16)) return true;
    }
  }
  return false;
}

function decodePayload(p: Buffer): Flat[] | null {
  let at = 0;
  const u32 = (): number => {
    if (at + 4 > p.length) throw new RangeError('past the end');
    const v = p.readUInt32LE(at);
    at += 4;
    return v;
  };
  const bytes = (n: number): Buffer => {
    if (at + n > p.length) throw new RangeError('past the end');
    const b = p.subarray(at, at + n);
    at += n;
    return b;
  };
  try {
    const batches: Flat[] = [];
    for (let n = u32(), i = 0; i < n; i++) {
      const b: Flat = [];
      for (let m = u32(), j = 0; j < m; j++) {
        const key = decodeKey(bytes(u32()));
        const len = u32();
        b.push({ key, value: len === DELETED ? undefined : new Uint8Array(bytes(len)) });
      }
      batches.push(b);
    }
    return at === p.length ? batches : null;
  } catch {
    return null;
  }
}
