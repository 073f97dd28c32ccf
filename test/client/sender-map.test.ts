// The client's subtree map against the two kinds of ministry lists a reply carries: a node's
// whole map (a redirect, or the map sent along; it says its cluster log index, map_version) and
// a member's note of its own ministry (beside an EAGAIN such as "not the minister of /": no
// version). Only a whole map may drop ministries it does not list: taking a root member's note
// for one dropped /a, and since a whole map of the same version was then ignored, every request
// under /a went to the root's minister and was redirected until the deadline ("mkdir /a/d3: no
// answer within 30000 ms", govfs restore and the mount's mv after the h-balance and h-idle merges).

import { describe, expect, it } from 'vitest';
import { RequestSender, type ClientTransport } from '../../src/client/sender.js';
import type { FsOp, MinistryInfo } from '../../src/fs/requests.js';

const ROOT: MinistryInfo = { id: 'm0', subtree: '/', minister: 'n1', clerks: ['n3'], term: 1, down: false };
const A: MinistryInfo = { id: 'm1', subtree: '/a', minister: 'n5', clerks: ['n6'], term: 2, down: false };
const MAP_VERSION = 3;

/** A cluster of two ministries as the client sees it: n2 (no role) and the root's minister n1
 * redirect with the whole map for what they do not serve; the root's clerk n3 is catching up and
 * answers with its own ministry only; /a's minister n5 serves /a. */
function cluster(): { transport: ClientTransport; asked: string[] } {
  const asked: string[] = [];
  let now = 0;
  const whole = { type: 'govfs.fs.FsReply', ok: false, redirect: [ROOT, A], mapVersion: MAP_VERSION };
  const ok = (ministry: string) => ({ type: 'govfs.fs.FsReply', ok: true, ministry, index: 1 });
  const transport: ClientTransport = {
    ticketAddress: '',
    now: () => now,
    random: () => 0,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
    ask: (node, msg) => {
      const path = (msg as { path: string }).path;
      asked.push(`${node} ${path}`);
      const underA = path === '/a' || path.startsWith('/a/');
      if (node === 'n3') {
        const hint = { type: 'govfs.fs.FsReply', ok: false, error: { code: 'EAGAIN', message: 'clerk of / is catching up: try another member', path }, redirect: [ROOT], ministry: 'm0' };
        return Promise.resolve(hint);
      }
      if (node === 'n1' && !underA) return Promise.resolve(ok('m0'));
      if (node === 'n5' && underA) return Promise.resolve(ok('m1'));
      return Promise.resolve(whole);
    },
  };
  return { transport, asked };
}

const mkdir = (path: string): FsOp => ({ op: 'mkdir', mkdir: { path, parents: false } }) as FsOp;
const stat = (path: string): FsOp => ({ op: 'stat', stat: { path } }) as FsOp;

describe('RequestSender subtree map', () => {
  it("keeps /a when a root member's EAGAIN names only its own ministry, after the whole map", async () => {
    const { transport, asked } = cluster();
    const sender = new RequestSender(transport, 'c1', ['n2'], 1_000, 5_000);
    // The whole map (version 3) from n2, then the root's minister.
    await sender.send(mkdir('/d0'), '/d0', true, false);
    expect([...sender.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a']);
    // A read goes to the root's clerk, which says only "/ (m0)"; the minister answers it then.
    await sender.send(stat('/d0'), '/d0', false, false);
    expect(asked).toContain('n3 /d0');
    expect([...sender.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a']);
    // A change under /a goes to /a's minister at once.
    asked.length = 0;
    await sender.send(mkdir('/a/d3'), '/a/d3', true, false);
    expect(asked).toEqual(['n5 /a/d3']);
  });

  it('a newer whole map still drops a dissolved ministry and brings it back', async () => {
    const { transport } = cluster();
    const sender = new RequestSender(transport, 'c1', ['n2'], 1_000, 5_000);
    await sender.send(mkdir('/d0'), '/d0', true, false);
    // /a merged back into / (a newer whole map without it), then split off again (newer still).
    const merged = { type: 'govfs.fs.FsReply', ok: false, redirect: [ROOT], mapVersion: MAP_VERSION + 1 };
    const split = { type: 'govfs.fs.FsReply', ok: false, redirect: [ROOT, { ...A, term: 3 }], mapVersion: MAP_VERSION + 2 };
    let replies = [merged, { type: 'govfs.fs.FsReply', ok: true, ministry: 'm0', index: 2 }];
    const ask = transport.ask;
    transport.ask = (node, msg, t) => (replies.length > 0 ? Promise.resolve(replies.shift()) : ask(node, msg, t));
    await sender.send(mkdir('/d1'), '/d1', true, false);
    expect([...sender.ministries()].map((m) => m.subtree)).toEqual(['/']);
    replies = [split];
    await sender.send(mkdir('/a/x'), '/a/x', true, false);
    expect([...sender.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a']);
  });

  it('a redirect with a whole map of the version the client has is followed, not ignored', async () => {
    const { transport, asked } = cluster();
    const sender = new RequestSender(transport, 'c1', ['n2'], 1_000, 5_000);
    await sender.send(mkdir('/d0'), '/d0', true, false);
    // Whatever made this client's map lack /a: the root's minister redirects with the map of
    // the version the client has, and the client goes where it says.
    sender.map.delete('/a');
    asked.length = 0;
    await sender.send(mkdir('/a/d1'), '/a/d1', true, false);
    expect(asked).toEqual(['n1 /a/d1', 'n5 /a/d1']);
  });
});
