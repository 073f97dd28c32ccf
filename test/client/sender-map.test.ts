// The client's subtree map (src/client/sender.ts): what a reply's ministry list teaches it.
// Seed 17 of the cluster simulation: the root ministry's own entry (an EAGAIN of one of its
// clerks) was taken for a whole map and removed "/a" and "/d/m"; every node's redirect then
// carried the map version the client had already seen, was ignored as not newer, and the
// client asked the root ministry about "/d/m" until its deadline.

import { describe, expect, it } from 'vitest';
import { RequestSender, type ClientTransport } from '../../src/client/sender.js';
import type { FsOp, FsReplyMessage, MinistryInfo } from '../../src/fs/requests.js';

const ROOT: MinistryInfo = { id: 'm0', subtree: '/', minister: 'n10', clerks: ['n9', 'n2'], term: 33, down: false };
const A: MinistryInfo = { id: 'm1', subtree: '/a', minister: 'n3', clerks: ['n1', 'n11'], term: 28, down: false };
const DM: MinistryInfo = { id: 'm2', subtree: '/d/m', minister: 'n6', clerks: ['n5', 'n7'], term: 27, down: false };
const WHOLE = [ROOT, A, DM];
const VERSION = 77;
const NODES = ['n1', 'n2', 'n3', 'n5', 'n6', 'n8', 'n7', 'n9', 'n10', 'n11']; // (the 6th: n8, in no ministry)

type Answer = (node: string, req: { path: string; mapVersion: number }) => Partial<FsReplyMessage>;

/** A transport on a clock of its own: sleeping moves the clock, each answer takes 1 ms. */
function transport(answer: Answer): ClientTransport & { asked: string[] } {
  let now = 0;
  const asked: string[] = [];
  return {
    asked,
    ticketAddress: '',
    now: () => now,
    random: () => 0.5,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
    ask: (node, msg) => {
      now += 1;
      const req = msg as { path: string; mapVersion: number };
      asked.push(`${node} ${req.path}`);
      return Promise.resolve({ type: 'govfs.fs.FsReply', ...answer(node, req) });
    },
  };
}

const stat = (path: string): FsOp => ({ op: 'stat', stat: { path } }) as FsOp;
const ok = (ministry: MinistryInfo): Partial<FsReplyMessage> => ({ ok: true, ministry: ministry.id, index: 5, result: 'stat', stat: { kind: 'dir' } } as Partial<FsReplyMessage>);
const owner = (path: string): MinistryInfo => (path.startsWith('/d/m') ? DM : path.startsWith('/a') ? A : ROOT);
const members = (m: MinistryInfo): string[] => [m.minister, ...m.clerks];

/** A settled cluster: members serve their own subtree; any other node redirects with the whole
 * map, version 77. Root clerk n2 says once (of /b) that it cannot serve yet, naming its own ministry. */
function cluster(): Answer {
  let lagged = false;
  return (node, req) => {
    const m = owner(req.path);
    if (!members(m).includes(node)) return { ok: false, redirect: WHOLE, mapVersion: VERSION };
    if (node === 'n2' && req.path === '/b' && !lagged) {
      lagged = true;
      return { ok: false, error: { code: 'EAGAIN', message: 'catching up: retry', path: req.path }, redirect: [ROOT] };
    }
    return ok(m);
  };
}

describe('the client subtree map', () => {
  it("keeps the other ministries when the root ministry names only itself, and finds /d/m's members", async () => {
    const t = transport(cluster());
    const s = new RequestSender(t, 'final', NODES, 500, 30_000);
    // First contact: a node outside the ministry redirects with the whole map.
    await s.send(stat('/'), '/', false, false);
    expect([...s.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a', '/d/m']);
    // A read of /b on root clerk n2: EAGAIN naming the root ministry only (a clerk picked at
    // random: ask until n2 has said it).
    for (let i = 0; i < 20 && !t.asked.some((a) => a.startsWith('n2 /b')); i++) await s.send(stat('/b'), '/b', false, false);
    expect(t.asked.some((a) => a.startsWith('n2 /b')), t.asked.join('; ')).toBe(true);
    expect([...s.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a', '/d/m']);
    // /d/m goes to its own members at once.
    const before = t.asked.length;
    await s.send(stat('/d/m'), '/d/m', false, false);
    expect(t.asked.slice(before)).toHaveLength(1);
    expect(members(DM)).toContain(t.asked[before]!.split(' ')[0]);
  });

  it('takes a whole map as new as its own again, to set right what an unversioned entry changed', async () => {
    // A node whose cluster log lags says /d/m is down (no version: one ministry's entry); the
    // next node redirects with the map of the version the client already has, /d/m up.
    let toldDown = false;
    const t = transport((node, req) => {
      const m = owner(req.path);
      if (req.path === '/d/m' && !toldDown) {
        toldDown = true;
        return { ok: false, error: { code: 'EUNAVAILABLE', message: 'the ministry serving /d/m is down', path: req.path }, redirect: [{ ...DM, down: true }] };
      }
      if (!members(m).includes(node)) return { ok: false, redirect: WHOLE, mapVersion: VERSION };
      return ok(m);
    });
    const s = new RequestSender(t, 'c', NODES, 500, 30_000);
    await s.send(stat('/'), '/', false, false);
    await s.send(stat('/d/m'), '/d/m', false, false);
    expect([...s.ministries()].find((m) => m.subtree === '/d/m')?.down).toBe(false);
  });

  it('never goes back to an older whole map, and drops a ministry a newer one leaves out', async () => {
    let version = VERSION;
    let map = WHOLE;
    let dissolved = false;
    const t = transport((node, req) => {
      const m = dissolved && req.path.startsWith('/d/m') ? ROOT : owner(req.path);
      if (!members(m).includes(node)) return { ok: false, redirect: map, mapVersion: version };
      // (As a ministry's answer to a client whose map is older: the whole map along.)
      return { ...ok(m), redirect: map, mapVersion: version };
    });
    const s = new RequestSender(t, 'c', NODES, 500, 30_000);
    await s.send(stat('/'), '/', false, false);
    expect([...s.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a', '/d/m']);
    // A lagging member's map without /a (an older version): not taken.
    [version, map] = [VERSION - 10, [ROOT, DM]];
    await s.send(stat('/x'), '/x', false, false);
    expect([...s.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a', '/d/m']);
    // A newer map without /d/m (dissolved by a subtree delete): taken.
    [version, map, dissolved] = [VERSION + 5, [ROOT, A], true];
    await s.send(stat('/d/m/e'), '/d/m/e', false, false);
    expect([...s.ministries()].map((m) => m.subtree).sort()).toEqual(['/', '/a']);
  });
});
