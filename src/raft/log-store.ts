// How a shell stores its log: in segments. Each Ready's new entries (consecutive indexes) are
// one storage value keyed `e/<16-digit index of the first entry>`, so a batch of entries is
// one write and compaction deletes one key per batch rather than one per entry. Fixed-width
// keys keep numeric order equal to key order (indexes stay below 2^53 < 10^16).
//
// Invariants the shell keeps: segments never overlap (an overwrite truncates first), and
// compaction keeps the segment holding the first entry after the snapshot, so the one stored
// segment that may start at or before the snapshot index is the first (loading skips what the
// snapshot covers).
//
// Every value is sealed with a CRC-32 (runtime/sealed.ts) and checked when read; values written
// before seals existed still load. The shell's other values (snapshot, hard state, term starts)
// are encoded at the end of this file, sealed the same way.

import { CorruptStorageError, SEAL_HEADER_BYTES, isSealed, seal, sealReserved, unseal } from '../runtime/sealed.js';
import type { Storage, StorageOp } from '../runtime/storage.js';
import { EntryKind, type Entry, type Membership, type Snapshot } from './types.js';
import { headroomOf } from './snapshot-buffer.js';

const te = new TextEncoder();
const td = new TextDecoder();

export const SEGMENTS_START = 'e/';
export const SEGMENTS_END = 'e/\uffff';

export const segmentKey = (firstIndex: number): string => SEGMENTS_START + firstIndex.toString().padStart(16, '0');

const ENTRY_HEADER = 13; // kind (1), term (f64), data length (u32)
const MAX_KIND = Math.max(...Object.values(EntryKind));

/** The first index again inside a sealed segment: the checksum does not cover the key, and a
 * damaged key would otherwise move entries to other indexes unnoticed. */
const FIRST_INDEX_BYTES = 8;

/** Consecutive entries, each [kind][term][data length][data], after their first index (which
 * is also the key), sealed with a checksum (see runtime/sealed.ts). */
export function encodeSegment(entries: readonly Entry[]): Uint8Array {
  let size = SEAL_HEADER_BYTES + FIRST_INDEX_BYTES;
  for (const e of entries) size += ENTRY_HEADER + e.data.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setFloat64(SEAL_HEADER_BYTES, entries[0]?.index ?? 0, true);
  let at = SEAL_HEADER_BYTES + FIRST_INDEX_BYTES;
  for (const e of entries) {
    out[at] = e.kind;
    view.setFloat64(at + 1, e.term, true);
    view.setUint32(at + 9, e.data.length, true);
    out.set(e.data, at + ENTRY_HEADER);
    at += ENTRY_HEADER + e.data.length;
  }
  return sealReserved(out);
}

/** The entries of a stored segment (sealed, or legacy without a checksum).
 * CorruptStorageError if it fails its checksum or does not parse. */
export function decodeSegment(first: number, stored: Uint8Array): Entry[] {
  const what = `raft log segment ${segmentKey(first)}`;
  const sealed = isSealed(stored);
  const b = unseal(stored, what);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Entry[] = [];
  let start = 0;
  if (sealed) {
    const stamped = b.length >= FIRST_INDEX_BYTES ? view.getFloat64(0, true) : NaN;
    if (stamped !== first) throw new CorruptStorageError(`${what} holds the entries from index ${stamped}: its key is damaged`);
    start = FIRST_INDEX_BYTES;
  }
  for (let at = start, index = first; at < b.length; index++) {
    const len = at + ENTRY_HEADER <= b.length ? view.getUint32(at + 9, true) : -1;
    const kind = b[at]!;
    const term = len < 0 ? NaN : view.getFloat64(at + 1, true);
    if (len < 0 || at + ENTRY_HEADER + len > b.length || kind > MAX_KIND || !Number.isInteger(term) || term < 0) {
      throw new CorruptStorageError(`${what} does not parse at entry ${index} (byte ${at} of ${b.length})`);
    }
    out.push({ index, term, kind: kind as EntryKind, data: b.slice(at + ENTRY_HEADER, at + ENTRY_HEADER + len) });
    at += ENTRY_HEADER + len;
  }
  return out;
}

/** Every stored entry after `snapshotIndex`, in index order. */
export function loadEntries(st: Storage, snapshotIndex: number): Entry[] {
  const entries: Entry[] = [];
  for (const [k, v] of st.range({ start: SEGMENTS_START, end: SEGMENTS_END })) {
    for (const e of decodeSegment(Number(k.slice(SEGMENTS_START.length)), v)) if (e.index > snapshotIndex) entries.push(e);
  }
  return entries;
}

/** The stored segment whose first index is the largest at or below `index`. */
function segmentHolding(st: Storage, index: number): { key: string; first: number; value: Uint8Array } | undefined {
  for (const [key, value] of st.range({ start: SEGMENTS_START, end: segmentKey(index + 1), reverse: true, limit: 1 })) {
    return { key, first: Number(key.slice(SEGMENTS_START.length)), value };
  }
  return undefined;
}

/** Ops that append `entries` (consecutive, non-empty), first dropping every stored entry from
 * their first index on when `overwrite` (a leader replaced them). */
export function appendOps(st: Storage, entries: readonly Entry[], overwrite: boolean): StorageOp[] {
  const first = entries[0]!.index;
  const ops: StorageOp[] = [];
  if (overwrite) {
    // A segment that starts before `first` keeps its prefix; later ones go.
    const seg = segmentHolding(st, first);
    if (seg && seg.first < first) {
      ops.push({ op: 'put', key: seg.key, value: encodeSegment(decodeSegment(seg.first, seg.value).filter((e) => e.index < first)) });
    }
    ops.push({ op: 'delRange', start: segmentKey(first), end: SEGMENTS_END });
  }
  ops.push({ op: 'put', key: segmentKey(first), value: encodeSegment(entries) });
  return ops;
}

/** Ops that drop the segments wholly covered by a snapshot at `index`. */
export function compactOps(st: Storage, index: number): StorageOp[] {
  const keep = segmentHolding(st, index + 1);
  return [{ op: 'delRange', start: SEGMENTS_START, end: keep?.key ?? SEGMENTS_END }];
}

/** Ops that drop every segment (a snapshot replaces the log, or the node changes group). */
export const clearOps = (): StorageOp[] => [{ op: 'delRange', start: SEGMENTS_START, end: SEGMENTS_END }];

// ---- the shell's other values: snapshot, hard state and term starts -------------------------

interface SnapMeta {
  index: number;
  term: number;
  voters: string[];
  learners: string[];
}

/** [meta length u32][meta JSON][state machine data], sealed with a checksum (runtime/sealed.ts). */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  const meta = te.encode(JSON.stringify({ index: s.index, term: s.term, voters: s.membership.voters, learners: s.membership.learners } satisfies SnapMeta));
  const at = SEAL_HEADER_BYTES;
  const head = at + 4 + meta.length;
  const room = headroomOf(s.data);
  // A snapshot received from the leader: its header goes in the room in front of it.
  const out = room >= head ? new Uint8Array(s.data.buffer, s.data.byteOffset - head, head + s.data.length) : new Uint8Array(head + s.data.length);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(at, meta.length, true);
  out.set(meta, at + 4);
  if (room < head) out.set(s.data, head);
  return sealReserved(out);
}

/** Where the state machine's data starts in encodeSnapshot's bytes. */
export function snapshotDataOffset(sealed: Uint8Array): number {
  return SEAL_HEADER_BYTES + 4 + new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength).getUint32(SEAL_HEADER_BYTES, true);
}

/** A stored snapshot (sealed, or legacy without a checksum); CorruptStorageError if it fails
 * its checksum or does not parse. */
export function decodeSnapshot(stored: Uint8Array, what: string): Snapshot {
  const b = unseal(stored, what);
  try {
    const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
    if (4 + n > b.length) throw new Error(`meta length ${n} exceeds the ${b.length} bytes stored`);
    const meta = JSON.parse(td.decode(b.subarray(4, 4 + n))) as SnapMeta;
    if (!Number.isInteger(meta.index) || !Number.isInteger(meta.term) || !Array.isArray(meta.voters) || !Array.isArray(meta.learners)) throw new Error('bad meta');
    const membership: Membership = { voters: meta.voters, learners: meta.learners };
    return { index: meta.index, term: meta.term, membership, data: b.slice(4 + n) };
  } catch (e) {
    throw new CorruptStorageError(`${what} does not parse (${(e as Error).message})`, { cause: e });
  }
}

/** JSON values (hard state, term starts) are sealed too. */
export const json = (v: unknown): Uint8Array => seal(te.encode(JSON.stringify(v)));
export function parse<T>(stored: Uint8Array, what: string): T {
  const b = unseal(stored, what);
  try {
    return JSON.parse(td.decode(b)) as T;
  } catch (e) {
    throw new CorruptStorageError(`${what} is not the JSON it should be (${(e as Error).message})`, { cause: e });
  }
}
