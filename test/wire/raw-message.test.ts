// Replies passed on undecoded (issue 19, point 2: fewer copies between the ring and a client's
// socket): MessageRegistry.decodeAt leaves the message of an envelope its `raw` filter picks
// encoded, as a RawMessage, and encode() writes it back byte for byte; the main thread's ring
// inbox picks the replies to asks made with `raw` (a client's connection actor).

import { describe, expect, it } from 'vitest';
import { EnvelopeKind, MessageRegistry, RawMessage, type WireEnvelope } from '../../src/wire/registry.js';

const registry = MessageRegistry.standard();

const reply: WireEnvelope = {
  to: 'cabc@main#/',
  from: 't0#/n2',
  kind: EnvelopeKind.Reply,
  corr: 77,
  msg: { type: 'govfs.fs.FsReply', ok: true, result: 'ls', ls: { entries: [{ name: 'a', kind: 'dir' }, { name: 'b', kind: 'file' }] }, index: 5, term: 2 },
};

describe('RawMessage', () => {
  it('is what decodeAt gives for an envelope its filter picks, and encodes to the same bytes', () => {
    const bytes = registry.toBytes(reply);
    const seen: [number, number, string][] = [];
    const env = registry.decodeAt(bytes, undefined, 0, bytes.length, true, (kind, corr, type) => {
      seen.push([kind, corr, type]);
      return true;
    });
    expect(seen).toEqual([[EnvelopeKind.Reply, 77, 'govfs.fs.FsReply']]);
    expect(env.msg).toBeInstanceOf(RawMessage);
    expect(env.msg.type).toBe('govfs.fs.FsReply');
    expect(Buffer.from(registry.toBytes(env)).equals(Buffer.from(bytes))).toBe(true);
    // And the client decodes what was passed on as the node sent it.
    const back = registry.decode(registry.toBytes(env));
    expect((back.msg as unknown as { ls: { entries: { name: string }[] } }).ls.entries.map((e) => e.name)).toEqual(['a', 'b']);
  });

  it('copies the body: the frame it came from may be reused (ring memory)', () => {
    const bytes = registry.toBytes(reply);
    const env = registry.decodeAt(bytes, undefined, 0, bytes.length, true, () => true);
    const before = Buffer.from(registry.toBytes(env));
    bytes.fill(0);
    expect(Buffer.from(registry.toBytes(env)).equals(before)).toBe(true);
  });

  it('an envelope the filter does not pick is decoded as before', () => {
    const bytes = registry.toBytes(reply);
    const env = registry.decodeAt(bytes, undefined, 0, bytes.length, true, () => false);
    expect(env.msg).not.toBeInstanceOf(RawMessage);
    expect(env.msg.index).toBe(5);
  });
});
