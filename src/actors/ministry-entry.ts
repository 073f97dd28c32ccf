// A client's change as a ministry log entry, in binary. Every member decodes every entry it
// applies, and creates are most of a ministry's log: as JSON, parsing the entry (and
// re-checking what the parse built) was about a sixth of each replica's apply time. Other
// entries (client expiry, leases) stay JSON; a JSON entry starts with '{', never with the tag.
//
// Layout (little-endian):
//   [0] tag 0x01   [1] kind   [2] flags   [3] 0
//   [4, 12) now (f64)   [12, 20) seq (f64)   [20, 28) acked (f64, 0: none)
//   then u16 byte length + UTF-8 of: the client id, the path (rename: from), and for a rename
//   the destination.
// flags: bit 0 parents (mkdir) or recursive (rmdir); bit 1 create's `exclusive` is given, bit 2
// its value.

import { FsError } from '../fs/errors.js';
import type { ClientOp, MutationOp } from '../fs/namespace.js';
import { utf8Slice, utf8Write } from '../wire/bytes.js';

export const CLIENT_CHANGE_TAG = 0x01;

const HEADER = 28;
const KINDS = ['mkdir', 'create', 'rm', 'rmdir', 'rename'] as const;
type Kind = (typeof KINDS)[number];
/** A kind's code is its place in KINDS, from 1. */
const KIND_CODE = Object.fromEntries(KINDS.map((k, i) => [k, i + 1])) as Record<Kind, number>;
const F_FLAG = 1;
const F_EXCLUSIVE_GIVEN = 2;
const F_EXCLUSIVE = 4;
const MAX_STRING_BYTES = 0xffff;

/** The entry for `c`, or null when its body has no binary form (it then goes as JSON). */
export function encodeClientChange(c: ClientOp): Uint8Array | null {
  const b = c.body;
  if (b.op === 'setSize') return null;
  const first = b.op === 'rename' ? b.from : b.path;
  const second = b.op === 'rename' ? b.to : '';
  // At most 3 bytes of UTF-8 per UTF-16 unit: size for that, then trim.
  const room = HEADER + 6 + 3 * (c.clientId.length + first.length + second.length);
  const out = new Uint8Array(room);
  const view = new DataView(out.buffer);
  out[0] = CLIENT_CHANGE_TAG;
  out[1] = KIND_CODE[b.op];
  let flags = 0;
  if ((b.op === 'mkdir' && b.parents === true) || (b.op === 'rmdir' && b.recursive === true)) flags |= F_FLAG;
  if (b.op === 'create' && b.exclusive !== undefined) flags |= F_EXCLUSIVE_GIVEN | (b.exclusive ? F_EXCLUSIVE : 0);
  out[2] = flags;
  view.setFloat64(4, c.now, true);
  view.setFloat64(12, c.seq, true);
  view.setFloat64(20, c.acked ?? 0, true);
  let at = putString(out, view, HEADER, c.clientId);
  at = putString(out, view, at, first);
  if (b.op === 'rename') at = putString(out, view, at, second);
  return out.subarray(0, at);
}

function putString(out: Uint8Array, view: DataView, at: number, s: string): number {
  const n = utf8Write.call(out, s, at + 2, out.length - at - 2);
  if (n > MAX_STRING_BYTES) throw new FsError('EINVAL', `a path or client id of ${n} bytes does not fit a log entry (paths are at most 4,096 bytes)`);
  view.setUint16(at, n, true);
  return at + 2 + n;
}

/** Decode an entry written by encodeClientChange. Throws FsError EINVAL when it is not one. */
export function decodeClientChange(data: Uint8Array): ClientOp {
  if (data.length < HEADER + 4 || data[0] !== CLIENT_CHANGE_TAG) throw malformed('too short or not a client change');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kind = KINDS[(data[1] ?? 0) - 1];
  if (kind === undefined) throw malformed(`unknown change kind ${data[1]}`);
  const flags = data[2]!;
  const now = view.getFloat64(4, true);
  const seq = view.getFloat64(12, true);
  const acked = view.getFloat64(20, true);
  const clientId = stringAt(data, view, HEADER);
  let at = HEADER + 2 + view.getUint16(HEADER, true);
  const first = stringAt(data, view, at);
  at += 2 + view.getUint16(at, true);
  let body: MutationOp;
  switch (kind) {
    case 'mkdir':
      body = { op: kind, path: first, parents: (flags & F_FLAG) !== 0 };
      break;
    case 'rmdir':
      body = { op: kind, path: first, recursive: (flags & F_FLAG) !== 0 };
      break;
    case 'create':
      body = (flags & F_EXCLUSIVE_GIVEN) !== 0 ? { op: kind, path: first, exclusive: (flags & F_EXCLUSIVE) !== 0 } : { op: kind, path: first };
      break;
    case 'rm':
      body = { op: kind, path: first };
      break;
    case 'rename':
      body = { op: kind, from: first, to: stringAt(data, view, at) };
      at += 2 + view.getUint16(at, true);
      break;
  }
  if (at !== data.length) throw malformed(`${data.length - at} bytes after the change`);
  const op: ClientOp = { op: 'client', clientId, seq, now, body };
  if (acked !== 0) op.acked = acked;
  return op;
}

/** The u16-length-prefixed string at `at` (no closure: this runs for every entry applied). */
function stringAt(data: Uint8Array, view: DataView, at: number): string {
  if (at + 2 > data.length) throw malformed('a string runs past the end');
  const end = at + 2 + view.getUint16(at, true);
  if (end > data.length) throw malformed('a string runs past the end');
  return utf8Slice.call(data, at + 2, end);
}

function malformed(why: string): FsError {
  return new FsError('EINVAL', `undecodable log entry: ${why}`);
}
