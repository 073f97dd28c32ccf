// The bridge's client role (issue 6, items 2-3): the client handshake with and without a client
// token, the confinement of clients (only asks, only whitelisted types, only node roots, `from`
// and `ticketTo` rewritten), hostile client input, and bounded buffering for slow clients. A
// real peer link (a ↔ b) runs beside every case and must stay undisturbed.

import type net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BridgeClientOptions } from '../../src/net/bridge.js';
import { ClientConnection } from '../../src/client/connection.js';
import { FrameKind, frameBytes } from '../../src/wire/frame.js';
import { EnvelopeKind, type WireEnvelope } from '../../src/wire/registry.js';
import type { Behaviour, Context, Message } from '../../src/runtime/types.js';
import { echo, ping, recorder } from './actors.js';
import { type Node, RawClient, node, rawClient, registry, stopAll, until } from './helpers.js';

afterEach(stopAll);

const TOKEN = Buffer.from('client token of the test cluster');

/** A stand-in for a node root: answers the client requests GovClient sends. */
function fakeNode(seen: Message[], opts: { bigReply?: number; silent?: boolean } = {}): Behaviour {
  return {
    receive(ctx: Context, msg: Message) {
      seen.push(msg);
      if (opts.silent) return;
      const m = msg as { type: string; ticketTo?: string; clientId?: string; seq?: number };
      switch (m.type) {
        case 'govfs.fs.StatusRequest':
          ctx.reply({ type: 'govfs.fs.ClusterStatus', president: 'n1', clusterTerm: 3, ministries: [], idle: [], nodes: [], shortStaffed: [] });
          return;
        case 'govfs.fs.NodeProbe':
          ctx.reply({ type: 'govfs.fs.NodeReport', id: 'n1', role: 'president' });
          return;
        case 'govfs.fs.FsRequest':
          if (m.ticketTo) ctx.ref(m.ticketTo).tell({ type: 'govfs.fs.Ticket', clientId: m.clientId, seq: m.seq, index: 7, term: 1, ministry: 'm0' });
          ctx.reply({ type: 'govfs.fs.FsReply', ok: true, result: 'ls', ls: { entries: opts.bigReply ? [{ name: 'x'.repeat(opts.bigReply), kind: 'file' }] : [] }, index: 7, term: 1, ministry: 'm0' });
          return;
      }
    },
  };
}

/** b serves clients (its root `b#/n1` plays a node) and is linked to a. */
async function setup(clients: Partial<BridgeClientOptions> = {}, fake: { bigReply?: number; silent?: boolean } = {}): Promise<{ a: Node; b: Node; seen: Message[]; internal: Message[] }> {
  const b = await node('b', {
    handshakeTimeoutMs: 500,
    clients: { allowTarget: (to) => to === 'b#/n1' || to === 'a#/n2', welcome: () => ({ nodes: { n1: 'b#/n1', n2: 'a#/n2' } }), ...clients },
  });
  const a = await node('a');
  a.bridge.connect('b', b.addr);
  await a.bridge.waitForPeer('b');
  const seen: Message[] = [];
  const internal: Message[] = [];
  b.runtime.spawnRoot('n1', () => fakeNode(seen, fake));
  b.runtime.spawnRoot('internal', () => recorder(internal));
  a.runtime.spawnRoot('n2', () => fakeNode(seen, fake));
  a.runtime.spawnRoot('echo', echo);
  return { a, b, seen, internal };
}

async function linkIntact(a: Node, b: Node): Promise<void> {
  b.runtime.spawnRoot(`echo${Math.random().toString(36).slice(2)}`, echo);
  await expect(b.runtime.ask('a#/echo', ping(42), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 42 });
  expect(a.events.filter((e) => e.type === 'peer-down')).toHaveLength(0);
  expect(b.events.filter((e) => e.type === 'peer-down')).toHaveLength(0);
}

function envelope(env: WireEnvelope): Buffer {
  return frameBytes(FrameKind.Envelope, registry.toBytes(env));
}

function replies(c: RawClient): WireEnvelope[] {
  return c.frames.filter((f) => f.kind === FrameKind.Envelope).map((f) => registry.decode(f.payload, true));
}

async function refused(b: Node, c: RawClient, code: string, reason: RegExp): Promise<void> {
  await c.closedP;
  await until(() => b.events.some((e) => e.type === 'rejected' && e.code === code && reason.test(e.reason)), `b reports ${code} ${reason}`);
  const log = b.lines.find((l) => l.code === code && /connection refused/.test(l.msg) && reason.test(l.msg));
  expect(log, `logged reason for ${code}`).toBeDefined();
  expect(log!.level).toBe(40);
}

describe('client handshake', () => {
  it('a client without a token connects when none is configured, learns its location and the node map, and asks', async () => {
    const { a, b, seen } = await setup();
    const conn = await ClientConnection.open(b.addr);
    expect(conn.location).toMatch(/^c[0-9a-f]{12}@b$/);
    expect(conn.serverLocation).toBe('b');
    expect(conn.welcome).toEqual({ nodes: { n1: 'b#/n1', n2: 'a#/n2' } });
    await expect(conn.ask('b#/n1', { type: 'govfs.fs.StatusRequest' }, 2000)).resolves.toMatchObject({ type: 'govfs.fs.ClusterStatus', president: 'n1', clusterTerm: 3 });
    // A node on another host answers through b (a routes `…@b` to b).
    await expect(conn.ask('a#/n2', { type: 'govfs.fs.NodeProbe' }, 2000)).resolves.toMatchObject({ type: 'govfs.fs.NodeReport', role: 'president' });
    expect(seen).toHaveLength(2);
    expect(b.bridge.stats.clientsOpen).toBe(1);
    await conn.close();
    await until(() => b.bridge.stats.clientsOpen === 0, 'client gone');
    expect(b.events.some((e) => e.type === 'client-up')).toBe(true);
    expect(b.events.some((e) => e.type === 'client-down')).toBe(true);
    await linkIntact(a, b);
  });

  it('with a client token: the right token connects (and the node proves it too); none or a wrong one is refused with a logged reason', async () => {
    const { a, b } = await setup({ token: TOKEN });
    const ok = await ClientConnection.open(b.addr, { token: TOKEN });
    await expect(ok.ask('b#/n1', { type: 'govfs.fs.StatusRequest' }, 2000)).resolves.toMatchObject({ president: 'n1' });
    await expect(ClientConnection.open(b.addr)).rejects.toMatchObject({ code: 'EAUTH', message: expect.stringMatching(/needs a client token/) });
    await expect(ClientConnection.open(b.addr, { token: Buffer.from('a guessed token, not the real one') })).rejects.toMatchObject({ code: 'EAUTH', message: expect.stringMatching(/wrong client token/) });
    await until(() => b.events.filter((e) => e.type === 'rejected' && e.code === 'EAUTH').length === 2, 'two refusals');
    expect(b.lines.filter((l) => l.code === 'EAUTH' && /connection refused: client authentication failed/.test(l.msg))).toHaveLength(2);
    // The token never crosses the wire.
    const { c } = await rawClient(b.addr, { token: TOKEN });
    expect(Buffer.concat(c.frames.map((f) => Buffer.from(f.payload))).includes(TOKEN)).toBe(false);
    expect(b.bridge.stats.clientsOpen).toBe(2);
    await ok.close();
    await linkIntact(a, b);
  });

  it('a client expecting a token refuses a node that cannot prove it', async () => {
    const { b } = await setup();
    await expect(ClientConnection.open(b.addr, { token: TOKEN })).rejects.toMatchObject({ code: 'EAUTH', message: expect.stringMatching(/does not prove the client token/) });
  });

  it('a client proof is not a peer proof: a client cannot become a peer with the token', async () => {
    const { a, b } = await setup({ token: TOKEN });
    const c = await RawClient.connect(b.addr);
    await c.handshake('mallory', TOKEN); // role peer, token as if it were the cluster secret
    await refused(b, c, 'EAUTH', /does not prove the cluster secret/);
    await linkIntact(a, b);
  });
});

describe('client confinement', () => {
  it('from and ticketTo are rewritten to the client location: a client cannot aim replies or tickets at cluster actors', async () => {
    const { a, b, seen, internal } = await setup();
    const { c, location, clientId } = await rawClient(b.addr);
    c.write(envelope({ to: 'b#/n1', from: 'b#/internal', kind: EnvelopeKind.Ask, corr: 5, msg: { type: 'govfs.fs.FsRequest', clientId, seq: 1, create: { path: '/f' }, path: '/', ticketTo: 'b#/internal', mutation: true } }));
    await until(() => replies(c).length === 2, 'ticket and reply back at the client');
    const [first, second] = replies(c);
    expect(seen[0]).toMatchObject({ ticketTo: `${location}#/tickets` });
    expect([first!.msg.type, second!.msg.type].sort()).toEqual(['govfs.fs.FsReply', 'govfs.fs.Ticket']);
    expect(replies(c).find((e) => e.kind === EnvelopeKind.Reply)).toMatchObject({ corr: 5, to: `${location}#/` });
    expect(internal).toHaveLength(0);
    await linkIntact(a, b);
  });

  const cases: [string, WireEnvelope, RegExp][] = [
    ['a tell', { to: 'b#/n1', from: '', kind: EnvelopeKind.Tell, corr: 0, msg: { type: 'govfs.fs.StatusRequest' } }, /a client may only ask \(it sent a tell envelope\)/],
    ['a system stop', { to: 'b#/n1', from: '', kind: EnvelopeKind.System, corr: 0, msg: { type: 'govfs.runtime.Stop' } }, /a client may only ask \(it sent a system envelope\)/],
    ['a remote spawn', { to: 'b#/', from: '', kind: EnvelopeKind.System, corr: 0, msg: { type: 'govfs.runtime.Spawn', parent: 'b#/n1', name: 'evil', behaviour: 'x' } }, /may only ask/],
    ['a reply', { to: 'b#/n1', from: '', kind: EnvelopeKind.Reply, corr: 3, msg: { type: 'govfs.fs.FsReply', ok: true } }, /may only ask/],
    ['a message type not for clients', { to: 'b#/n1', from: '', kind: EnvelopeKind.Ask, corr: 1, msg: ping(1) }, /a client may not send govfs.runtime.Ping/],
    ['an internal actor', { to: 'b#/internal', from: '', kind: EnvelopeKind.Ask, corr: 1, msg: { type: 'govfs.fs.StatusRequest' } }, /a client may not address b#\/internal/],
    ['another client', { to: 'cdeadbeef@b#/', from: '', kind: EnvelopeKind.Ask, corr: 1, msg: { type: 'govfs.fs.StatusRequest' } }, /may not address/],
  ];
  for (const [what, env, reason] of cases) {
    it(`${what} closes the client connection (EACCES) and reaches no actor`, async () => {
      const { a, b, seen, internal } = await setup();
      const other = await ClientConnection.open(b.addr);
      const { c } = await rawClient(b.addr);
      c.write(envelope(env));
      await refused(b, c, 'EACCES', reason);
      expect(seen).toHaveLength(0);
      expect(internal).toHaveLength(0);
      expect(b.runtime.cells.has('/n1')).toBe(true);
      expect(b.runtime.cells.has('/n1/evil')).toBe(false);
      // Other clients and the peer link carry on.
      await expect(other.ask('b#/n1', { type: 'govfs.fs.StatusRequest' }, 2000)).resolves.toMatchObject({ president: 'n1' });
      await linkIntact(a, b);
    });
  }
});

describe('hostile client input', () => {
  it('garbage, an oversized frame, a truncated frame or a corrupt envelope closes only that client', async () => {
    const { a, b } = await setup({ maxFrameBytes: 8192 });
    const other = await ClientConnection.open(b.addr);

    const g = await RawClient.connect(b.addr);
    g.write('GET / HTTP/1.1\r\n\r\n');
    await refused(b, g, 'EMSGSIZE', /oversized frame/);

    const big = await rawClient(b.addr);
    big.c.write(Buffer.from([0, 0, 0x20, 1, FrameKind.Envelope])); // 8,193 bytes announced, limit 8,192
    await refused(b, big.c, 'EMSGSIZE', /oversized frame: 8193 bytes announced, the limit is 8192/);

    const bad = await rawClient(b.addr);
    bad.c.write(frameBytes(FrameKind.Envelope, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2])));
    await refused(b, bad.c, 'EBADMSG', /corrupt envelope/);

    const cut = await rawClient(b.addr);
    cut.c.write(Buffer.from([0, 0, 1, 0, FrameKind.Envelope, 9, 9]));
    cut.c.socket.end();
    await cut.c.closedP;

    const mute = await RawClient.connect(b.addr);
    await refused(b, mute, 'ETIMEDOUT', /handshake not completed within 500 ms/);

    await expect(other.ask('b#/n1', { type: 'govfs.fs.StatusRequest' }, 2000)).resolves.toMatchObject({ president: 'n1' });
    await until(() => b.bridge.stats.clientsOpen === 1, 'only the good client left');
    await linkIntact(a, b);
  });

  it('clients are refused where the bridge serves none, and beyond maxClients', async () => {
    const { b } = await setup({ maxClients: 1 });
    const one = await ClientConnection.open(b.addr);
    await expect(ClientConnection.open(b.addr)).rejects.toMatchObject({ code: 'EUSERS', message: expect.stringMatching(/too many clients/) });
    await one.close();
    const peersOnly = await node('p');
    await expect(ClientConnection.open(peersOnly.addr)).rejects.toMatchObject({ code: 'EACCES', message: expect.stringMatching(/client connections are not served/) });
  });
});

describe('slow clients', () => {
  it('a client that does not read its replies makes the node drop them at the queue bound, not buffer them', async () => {
    const { a, b } = await setup({ maxQueueBytes: 256 * 1024 }, { bigReply: 32 * 1024 });
    const { c, clientId } = await rawClient(b.addr);
    c.socket.pause(); // never reads again
    const ask = (corr: number) => envelope({ to: 'b#/n1', from: '', kind: EnvelopeKind.Ask, corr, msg: { type: 'govfs.fs.FsRequest', clientId, ls: { path: '/' }, path: '/' } });
    for (let corr = 1; corr <= 400; corr++) c.write(ask(corr)); // 400 × 32 KiB = 12.5 MiB of replies
    await until(() => b.bridge.stats.dropped > 0, 'replies dropped at the bound', 20_000);
    const [info] = b.bridge.clientInfo();
    expect(info!.queuedBytes).toBeLessThanOrEqual(256 * 1024);
    expect(info!.dropped).toBeGreaterThan(0);
    expect(b.lines.some((l) => /dropping messages: the outbound queue to c[0-9a-f]+@b is full/.test(l.msg))).toBe(true);
    // Memory held for the client stays near its bound (plus what the kernel took).
    expect(process.memoryUsage().rss).toBeLessThan(2 * 1024 ** 3);
    await linkIntact(a, b);
  });

  it('a client with too many unanswered asks is not read from until they drain', async () => {
    const { a, b, seen } = await setup({ maxInflight: 8 }, { silent: true });
    const { c } = await rawClient(b.addr);
    for (let corr = 1; corr <= 50; corr++) c.write(envelope({ to: 'b#/n1', from: '', kind: EnvelopeKind.Ask, corr, msg: { type: 'govfs.fs.StatusRequest' } }));
    await until(() => seen.length === 8, '8 asks delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toHaveLength(8); // the rest waits in the socket (TCP pushes back on the client)
    expect(c.closed).toBe(false);
    await linkIntact(a, b);
  });
});

describe('request writes', () => {
  it('a lone request is written at once; the rest of one pass of the event loop go in one writev after it, in order', async () => {
    const { b, seen } = await setup();
    const conn = await ClientConnection.open(b.addr);
    const socket = (conn as unknown as { socket: net.Socket }).socket;
    const write = vi.spyOn(socket, 'write');
    const cork = vi.spyOn(socket, 'cork');
    const lone = conn.ask('b#/n1', { type: 'govfs.fs.NodeProbe' }, 2000);
    expect(write).toHaveBeenCalledTimes(1); // not held for a batch that never comes
    await expect(lone).resolves.toMatchObject({ type: 'govfs.fs.NodeReport' });
    write.mockClear();
    seen.length = 0;
    const asks = Array.from({ length: 20 }, (_, i) => conn.ask('b#/n1', { type: 'govfs.fs.NodeProbe', clusterTerm: i + 1 }, 2000));
    expect(write).toHaveBeenCalledTimes(1);
    await new Promise((r) => setImmediate(r));
    expect(write).toHaveBeenCalledTimes(20);
    expect(cork).toHaveBeenCalledTimes(1);
    await Promise.all(asks);
    expect(seen.map((m) => Number((m as { clusterTerm?: number }).clusterTerm))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await conn.close();
  });
});
