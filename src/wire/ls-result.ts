// A directory listing's reply (govfs.fs.LsResult) decoded by hand: the client of the ls
// benchmark decodes 100,000 of them a second, and protobufjs's generated decoder builds a
// DirEntry message object per entry (a constructor and a switch per field) where a plain
// `{ name, kind }` will do, as the listing's JSON gave before the typed wire. Installed by
// MessageRegistry.standard(); the bytes are the .proto's, so encoders need nothing of this.

import type protobuf from 'protobufjs';

/** DirEntry's fields (govfs.proto): name = 1, kind = 2, both strings (wire type 2). */
const NAME = (1 << 3) | 2;
const KIND = (2 << 3) | 2;
/** LsResult's only field: repeated DirEntry entries = 1. */
const ENTRIES = (1 << 3) | 2;

export interface PlainDirEntry {
  name: string;
  kind: string;
}

/** Read an LsResult of `length` bytes (to the end of the reader without it) at the reader's
 * position. Unknown fields are skipped, absent strings read as '' (proto3); a part that runs
 * past its message throws (the registry reports it as a DecodeError). */
export function decodeLsResult(r: protobuf.Reader, length?: number): { entries: PlainDirEntry[] } {
  const end = length === undefined ? r.len : r.pos + length;
  if (end > r.len) throw new RangeError(`LsResult of ${length} bytes runs past the end of its frame`);
  const entries: PlainDirEntry[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== ENTRIES) {
      r.skipType(tag & 7);
      continue;
    }
    const entryEnd = r.uint32() + r.pos;
    if (entryEnd > end) throw new RangeError('a DirEntry runs past the end of its LsResult');
    let name = '';
    let kind = '';
    while (r.pos < entryEnd) {
      const t = r.uint32();
      if (t === NAME) name = r.string();
      else if (t === KIND) kind = r.string();
      else r.skipType(t & 7);
    }
    if (r.pos !== entryEnd) throw new RangeError('a DirEntry field runs past the end of the entry');
    entries.push({ name, kind });
  }
  if (r.pos !== end) throw new RangeError('an LsResult field runs past the end of the listing');
  return { entries };
}
