// The binary client change of older ministry logs (tag 0x01), still read from existing data
// folders; nothing writes it any more: every entry is now protobuf (ministry-entry.ts, which
// says why). Its encoder lives on in test/support/legacy-client-change.ts, for tests.
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
import { utf8Slice } from '../wire/bytes.js';

export const CLIENT_CHANGE_TAG = 0x01;

const HEADER = 28;
/** A kind's code is its place here, from 1. */
const KINDS = ['mkdir', 'create', 'rm', 'rmdir', 'rename'] as const;
const F_FLAG = 1;
const F_EXCLUSIVE_GIVEN = 2;
const F_EXCLUSIVE = 4;

/** Decode a tag-0x01 entry of an older ministry log. Throws FsError EINVAL when it is not one. */
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
