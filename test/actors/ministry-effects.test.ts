// The ministry shell's reply helpers (ministry-effects.ts), driven directly: the FsReply built
// from a core's answer, and the subtree map that rides along a reply to a client whose map is
// old (so it learns a split or a new clerk without a redirect's extra round trip).

import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/actors/cluster-state.js';
import { fsReply, mapAlong } from '../../src/actors/ministry-effects.js';
import type { FsReplyMessage } from '../../src/fs/requests.js';
import type { Message } from '../../src/runtime/types.js';

function cluster(): ClusterState {
  const c = new ClusterState(['n1', 'n2', 'n3']);
  c.apply({ order: 'appoint', subtree: '/', minister: 'n1', clerks: ['n2'], clerksWanted: 1 }, 4);
  return c;
}

/** What `mapAlong` passes on for `msg`, sent to a client whose map is at `version`. */
function along(msg: Message, version: number, c = cluster()): FsReplyMessage {
  let sent: Message | undefined;
  mapAlong((m) => (sent = m), version, c)(msg);
  return sent as FsReplyMessage;
}

describe('ministry shell replies', () => {
  it('fsReply: a result carries its oneof case and field; an error, a redirect and a failed result say so', () => {
    const ok = fsReply('m0', { kind: 'result', result: { ok: true, value: { result: 'ls', ls: { entries: [] } } }, index: 7, term: 2 });
    expect(ok).toEqual({ type: 'govfs.fs.FsReply', ok: true, ministry: 'm0', result: 'ls', ls: { entries: [] }, index: 7, term: 2 });
    expect(fsReply('m0', { kind: 'result', result: { ok: true, value: null }, index: 3 })).toEqual({ type: 'govfs.fs.FsReply', ok: true, ministry: 'm0', index: 3 });
    const error = { code: 'ENOENT' as const, message: 'no such file' };
    expect(fsReply('m0', { kind: 'result', result: { ok: false, error }, index: 3 })).toEqual({ type: 'govfs.fs.FsReply', ok: false, error, ministry: 'm0', index: 3 });
    const redirect = [{ id: 'm1', subtree: '/a', minister: 'n3', clerks: [], term: 1, down: false }];
    expect(fsReply('m0', { kind: 'error', error, redirect })).toEqual({ type: 'govfs.fs.FsReply', ok: false, error, ministry: 'm0', redirect });
    expect(fsReply('m0', { kind: 'redirect', redirect })).toEqual({ type: 'govfs.fs.FsReply', ok: false, ministry: 'm0', redirect });
  });

  it('mapAlong: a client with an old map gets the whole map and its version; one with the current map gets the reply as it is', () => {
    const reply = (): FsReplyMessage => ({ type: 'govfs.fs.FsReply', ok: true, ministry: 'm0' });
    const old = along(reply(), 1);
    expect(old.mapVersion).toBe(4);
    expect(old.redirect).toEqual([expect.objectContaining({ id: 'm0', subtree: '/', minister: 'n1', clerks: ['n2'] })]);
    expect(along(reply(), 4)).toEqual(reply());
  });

  it('mapAlong: a redirect says its version; a reply that names a ministry already is left as it is; other messages pass untouched', () => {
    const named = [{ id: 'm0', subtree: '/', minister: 'n1', clerks: [], term: 1, down: false }];
    expect(along({ type: 'govfs.fs.FsReply', ok: false, ministry: 'm0', redirect: named }, 4).mapVersion).toBe(4);
    // An error naming a new minister (a change lost to it): not the whole map.
    const error = { code: 'EAGAIN' as const, message: 'retry' };
    const lost = along({ type: 'govfs.fs.FsReply', ok: false, error, ministry: 'm0', redirect: named }, 1);
    expect(lost.redirect).toBe(named);
    expect(lost.mapVersion).toBeUndefined();
    expect(along({ type: 'govfs.fs.ReadsRevoked', revoked: 1 }, 1)).toEqual({ type: 'govfs.fs.ReadsRevoked', revoked: 1 });
  });
});
