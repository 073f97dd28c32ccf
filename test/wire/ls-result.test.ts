// The hand-written LsResult decoder (src/wire/ls-result.ts) reads what protobufjs writes, as
// protobufjs's own decoder does, and refuses what runs past its bounds.

import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { EnvelopeKind, MessageRegistry, protoPath } from '../../src/wire/registry.js';
import { decodeLsResult } from '../../src/wire/ls-result.js';
import { DecodeError } from '../../src/runtime/errors.js';

describe('decodeLsResult', () => {
  const registry = MessageRegistry.standard();
  const root = protobuf.loadSync(protoPath('govfs.proto'));
  const LsResult = root.lookupType('govfs.fs.LsResult');
  const DirEntry = root.lookupType('govfs.fs.DirEntry');

  it('agrees with protobufjs on listings of every size, names of any character, defaults and unknown fields included', () => {
    let x = 7;
    const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) >>> 0) % n);
    const chars = ['a', 'Z', '0', '.', '-', 'é', '文', '😀', ' '];
    for (let i = 0; i < 300; i++) {
      const entries = Array.from({ length: rnd(40) }, () => ({ name: Array.from({ length: rnd(70) }, () => chars[rnd(chars.length)]).join(''), kind: ['file', 'dir', 'symlink', ''][rnd(4)]! }));
      const bytes = LsResult.encode({ entries }).finish();
      const r = protobuf.Reader.create(bytes);
      expect(decodeLsResult(r)).toEqual({ entries });
      expect(r.pos).toBe(bytes.length);
      expect(decodeLsResult(protobuf.Reader.create(bytes))).toEqual(LsResult.toObject(LsResult.decode(bytes), { defaults: true }));
    }
    // A field this decoder does not know (from a newer schema) is skipped, in a listing or an entry.
    const entry = DirEntry.encode({ name: 'n', kind: 'file' }).finish();
    const w = protobuf.Writer.create().uint32((9 << 3) | 0).uint32(5).uint32((1 << 3) | 2).bytes(Uint8Array.from([...entry, (7 << 3) | 2, 1, 0x41]));
    expect(decodeLsResult(protobuf.Reader.create(w.finish()))).toEqual({ entries: [{ name: 'n', kind: 'file' }] });
  });

  it('serves the registry: an ls reply decodes to plain entries, and a listing that runs past its frame is a DecodeError', () => {
    const env = { to: 'a', from: '', kind: EnvelopeKind.Reply, corr: 3, msg: { type: 'govfs.fs.FsReply', ok: true, index: 9, ls: { entries: [{ name: 'f1', kind: 'file' }, { name: 'd', kind: 'dir' }] } } };
    const out = registry.roundTrip(env).msg;
    expect(out['ls']).toEqual({ entries: [{ name: 'f1', kind: 'file' }, { name: 'd', kind: 'dir' }] });
    expect(Object.getPrototypeOf((out['ls'] as { entries: object[] }).entries[0])).toBe(Object.prototype);
    // An entry's length claims more bytes than its listing has.
    const bad = LsResult.encode({ entries: [{ name: 'abc', kind: 'file' }] }).finish();
    bad[1] = 40;
    expect(() => decodeLsResult(protobuf.Reader.create(bad), bad.length)).toThrow(RangeError);
    const bytes = registry.toBytes(env);
    expect(() => registry.decode(bytes.subarray(0, bytes.length - 3))).toThrow(DecodeError);
  });
});
