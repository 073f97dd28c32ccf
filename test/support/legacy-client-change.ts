// The encoder of the binary client change older ministry logs hold (tag 0x01; the decoder is
// src/actors/ministry-entry-legacy.ts, which gives the layout). Nothing in src writes this form
// any more; tests write it to check that such logs are still read right.

import { FsError } from '../../src/fs/errors.js';
import type { ClientOp } from '../../src/fs/namespace.js';
import { CLIENT_CHANGE_TAG } from '../../src/actors/ministry-entry-legacy.js';
import { utf8Write } from '../../src/wire/bytes.js';

const HEADER = 28;
const KIND_CODE = { mkdir: 1, create: 2, rm: 3, rmdir: 4, rename: 5 } as const;
const F_FLAG = 1;
const F_EXCLUSIVE_GIVEN = 2;
const F_EXCLUSIVE = 4;
const MAX_STRING_BYTES = 0xffff;

/** The tag-0x01 entry for `c`, or null when its body had no binary form (it went as JSON). */
export function encodeLegacyClientChange(c: ClientOp): Uint8Array | null {
  const b = c.body;
  if (b.op !== 'mkdir' && b.op !== 'create' && b.op !== 'rm' && b.op !== 'rmdir' && b.op !== 'rename') return null;
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
