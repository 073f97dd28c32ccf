// The client gateway on its own (src/net/client-gateway.ts), against a fake bridge: the client
// handshake (token proof, identity signature, a slot, an assigned location), confinement of
// what a client may send, requests under another client's id answered EPERM, the in-flight
// limit that stops reading a client until answers drain, and the client's connection actor
// (src/net/client-connection.ts): it asks for the client, and closing stops it and its asks.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BridgeClientOptions } from '../../src/net/bridge.js';
import { ClientGateway } from '../../src/net/client-gateway.js';
import { clientIdentity, identityTranscript } from '../../src/net/client-identity.js';
import { FrameKind } from '../../src/wire/frame.js';
import { type AuthMsg, CLIENT_PROOF_LOCATION, type Hello, NONCE_BYTES, decodeAuth, handshakeProof } from '../../src/net/handshake.js';
import { type Conn, ConnState, Peer } from '../../src/net/link.js';
import { EnvelopeKind, type WireEnvelope } from '../../src/wire/registry.js';
import { CLIENT_ASK_TIMEOUT_MS } from '../../src/net/client-connection.js';
import { type ActorCell, type Dispatcher, LocalRuntime } from '../../src/runtime/runtime.js';
import type { Context, Message } from '../../src/runtime/types.js';
import { type FakeHost, type FakeSocket, fakeConn, fakeHost, registry } from './link-fakes.js';

const TOKEN = Buffer.from('client token!');

function gateway(host: FakeHost, opts: Partial<BridgeClientOptions> = {}): ClientGateway {
  return new ClientGateway(host, { allowTarget: (to) => to === 'n1#/n', ...opts }, (location, limit) => {
    const p = new Peer(location, registry, host.maxFrameBytes, () => {});
    p.limit = limit;
    return p;
  });
}

function clientHello(): Hello {
  return { version: 1, role: 'client', location: '', instance: 'i-client', nonce: randomBytes(NONCE_BYTES), maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 24 };
}

/** Run a client handshake through the gateway; returns the connection and what the node sent. */
function handshake(host: FakeHost, g: ClientGateway, opts: { token?: Uint8Array; sign?: boolean } = {}): { conn: Conn; socket: FakeSocket; id: string; auth: () => Record<string, unknown> } {
  const { conn, socket } = fakeConn();
  const h = clientHello();
  g.onHello(conn, h);
  const me = clientIdentity();
  const server = { location: host.location, instance: host.instance, nonce: conn.nonce };
  const own = { location: CLIENT_PROOF_LOCATION, instance: h.instance, nonce: h.nonce };
  const auth: AuthMsg = {
    proof: opts.token ? handshakeProof(opts.token, 'dial', own, server) : new Uint8Array(0),
    clientKey: me.publicKey,
    clientSignature: opts.sign === false ? Buffer.alloc(64) : me.sign(identityTranscript(server, { instance: h.instance, nonce: h.nonce }, me.publicKey)),
    clientLocation: '', welcomeJson: '', clientId: '', maxMessageBytes: 0, maxFrameBytes: 0,
  };
  g.onAuth(conn, auth);
  return { conn, socket, id: me.clientId, auth: () => decodeAuth(socket.written[0]!.subarray(5)) as unknown as Record<string, unknown> };
}

function ask(to: string, msg: Record<string, unknown>, corr: number, kind = EnvelopeKind.Ask): WireEnvelope {
  return { to, from: 'whatever#/', kind, corr, msg: { type: 'govfs.fs.FsRequest', ...msg } };
}

describe('client gateway: handshake', () => {
  it('serves a client that proves the token and its identity: a location, its id, the welcome, client-up', () => {
    const { host } = runtimeHost();
    const g = gateway(host, { token: TOKEN, welcome: () => ({ nodes: { n1: 'n1#/n' } }) });
    const { conn, socket, id, auth } = handshake(host, g, { token: TOKEN });
    expect(conn.state).toBe(ConnState.Open);
    expect(conn.clientId).toBe(id);
    expect(socket.written[0]![4]).toBe(FrameKind.Auth);
    const a = auth();
    expect(a.clientLocation).toMatch(/^c[0-9a-f]{12}@n1$/);
    expect(a.clientId).toBe(id);
    expect(JSON.parse(a.welcomeJson as string)).toEqual({ nodes: { n1: 'n1#/n' } });
    expect(g.at(a.clientLocation as string)?.conn).toBe(conn);
    expect(host.stats.clientsOpen).toBe(1);
    expect(host.events).toContainEqual(expect.objectContaining({ type: 'client-up', clientId: id }));
  });

  it('refuses a missing or wrong token and a signature that does not verify (EAUTH), and a short nonce (EPROTO)', () => {
    const { host } = runtimeHost();
    const g = gateway(host, { token: TOKEN });
    expect(() => handshake(host, g)).toThrow(expect.objectContaining({ code: 'EAUTH', message: expect.stringMatching(/needs a client token/) }));
    expect(() => handshake(host, g, { token: Buffer.from('another token') })).toThrow(expect.objectContaining({ code: 'EAUTH', message: expect.stringMatching(/wrong client token/) }));
    expect(() => handshake(host, g, { token: TOKEN, sign: false })).toThrow(expect.objectContaining({ code: 'EAUTH', message: expect.stringMatching(/does not verify/) }));
    expect(() => g.onHello(fakeConn().conn, { ...clientHello(), nonce: randomBytes(4) })).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    expect(host.stats.clientsOpen).toBe(0);
  });

  it('refuses a client over the per-address limit, and frees the slot when one closes', () => {
    const { host } = runtimeHost();
    const g = gateway(host, { maxClients: 4, maxClientsPerAddress: 1 });
    const first = handshake(host, g);
    expect(() => handshake(host, g)).toThrow(expect.objectContaining({ code: 'EUSERS' }));
    g.releaseSlot(first.conn);
    g.closed(first.conn, first.conn.peer!, 'ECONNRESET', 'gone');
    expect(host.events).toContainEqual(expect.objectContaining({ type: 'client-down', code: 'ECONNRESET' }));
    expect(handshake(host, g).conn.state).toBe(ConnState.Open);
  });
});

/** Time and a run queue the test turns by hand. */
class ManualDispatcher implements Dispatcher {
  t = 0;
  private readonly ready_: ActorCell[] = [];
  private timers: { at: number; fn: () => void }[] = [];
  now(): number {
    return this.t;
  }
  schedule(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return () => void (this.timers = this.timers.filter((x) => x !== timer));
  }
  ready(cell: ActorCell): void {
    this.ready_.push(cell);
  }
  asyncPending(): void {}
  /** Run every ready actor, and settle what their promises started. */
  async drain(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      while (this.ready_.length > 0) this.ready_.shift()!.run();
      await new Promise((r) => setImmediate(r));
    }
  }
  async advance(ms: number): Promise<void> {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const x of due) x.fn();
    await this.drain();
  }
}

/** A fake bridge over a real runtime whose node root `n1#/n` records each ask (as `delivered`,
 * with the asker as `from`) and keeps its answer for the test to give. */
function runtimeHost(): { host: FakeHost; dispatcher: ManualDispatcher; runtime: LocalRuntime; answer: ((msg: Message) => void)[] } {
  const host = fakeHost('n1');
  const dispatcher = new ManualDispatcher();
  const runtime = new LocalRuntime({ location: 'n1', dispatcher, registry });
  const answer: ((msg: Message) => void)[] = [];
  runtime.spawnRoot('n', () => ({
    receive(ctx: Context, msg: Message) {
      host.delivered.push({ to: 'n1#/n', from: ctx.sender!.address, kind: EnvelopeKind.Ask, corr: 0, msg: msg as WireEnvelope['msg'] });
      answer.push(ctx.deferReply());
    },
  }));
  Object.assign(host, { runtime });
  return { host, dispatcher, runtime, answer };
}

describe('client gateway: requests', () => {
  it('passes allowed asks to the client\'s connection actor under the gateway actor, which asks the node; `ticketTo` is rewritten to the client', async () => {
    const { host, dispatcher, runtime } = runtimeHost();
    const g = gateway(host);
    const { conn, id } = handshake(host, g);
    const loc = conn.peer!.location;
    g.onEnvelope(conn, ask('n1#/n', { clientId: id, ticketTo: 'n1#/president' }, 1));
    await dispatcher.drain();
    expect(host.delivered).toHaveLength(1);
    expect(host.delivered[0]!.from).toBe(`n1#/gateway/${loc}`);
    expect(host.delivered[0]!.msg.ticketTo).toBe(`${loc}#/tickets`);
    expect(runtime.census('/gateway').under).toEqual({ actors: 2, asks: 1, timers: 0 });
  });

  it('closes for a tell, a type or a target not allowed (EACCES), and answers another client id with EPERM', () => {
    const { host } = runtimeHost();
    const g = gateway(host);
    const { conn, id } = handshake(host, g);
    expect(() => g.onEnvelope(conn, ask('n1#/n', { clientId: id }, 0, EnvelopeKind.Tell))).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringMatching(/only ask/) }));
    expect(() => g.onEnvelope(conn, { ...ask('n1#/n', {}, 2), msg: { type: 'govfs.runtime.Spawn' } })).toThrow(expect.objectContaining({ code: 'EACCES' }));
    expect(() => g.onEnvelope(conn, ask('n1#/president', { clientId: id }, 3))).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringMatching(/may not address/) }));
    g.onEnvelope(conn, ask('n1#/n', { clientId: 'c-someone-else' }, 4));
    expect(host.delivered).toHaveLength(0);
    expect(host.sent).toHaveLength(1);
    expect(host.sent[0]!.env).toMatchObject({ kind: EnvelopeKind.Reply, corr: 4, msg: { type: 'govfs.runtime.AskFailed', code: 'EPERM' } });
    expect(host.stats.forged).toBe(1);
  });

  it('answers the client under its own correlation id, and a failed ask with the node\'s code and message', async () => {
    const { host, dispatcher, answer } = runtimeHost();
    const g = gateway(host);
    const { conn, id } = handshake(host, g);
    g.onEnvelope(conn, ask('n1#/n', { clientId: id }, 41));
    g.onEnvelope(conn, ask('n1#/n', { clientId: id }, 42));
    await dispatcher.drain();
    answer[1]!({ type: 'govfs.fs.FsReply', ok: true, index: 3 });
    answer[0]!({ type: 'govfs.runtime.AskFailed', code: 'ENOENT', message: 'no such file' });
    await dispatcher.drain();
    expect(host.sent.map((s) => s.env)).toEqual([
      { to: `${conn.peer!.location}#/`, from: 'n1#/n', kind: EnvelopeKind.Reply, corr: 42, msg: { type: 'govfs.fs.FsReply', ok: true, index: 3 } },
      { to: `${conn.peer!.location}#/`, from: 'n1#/n', kind: EnvelopeKind.Reply, corr: 41, msg: { type: 'govfs.runtime.AskFailed', code: 'ENOENT', message: 'no such file' } },
    ]);
    expect(conn.asking).toBe(0);
  });

  it('stops reading a client with maxInflight unanswered asks, and resumes when half are answered', async () => {
    const { host, dispatcher, answer } = runtimeHost();
    const g = gateway(host, { maxInflight: 4 });
    const { conn, socket, id } = handshake(host, g);
    for (let corr = 1; corr <= 5; corr++) g.onEnvelope(conn, ask('n1#/n', { clientId: id }, corr));
    await dispatcher.drain();
    expect(socket.paused).toBe(true);
    expect(host.delivered).toHaveLength(4);
    expect(conn.held).toHaveLength(1);
    answer[0]!({ type: 'govfs.runtime.AskFailed', code: 'EX', message: '' });
    await dispatcher.drain();
    expect(socket.paused).toBe(true);
    answer[1]!({ type: 'govfs.runtime.AskFailed', code: 'EX', message: '' });
    await dispatcher.drain();
    expect(socket.paused).toBe(false);
    expect(host.delivered).toHaveLength(5);
    expect(conn.held).toHaveLength(0);
  });

  it('an ask the node never answers is failed ETIMEDOUT after CLIENT_ASK_TIMEOUT_MS, and stops counting', async () => {
    const { host, dispatcher } = runtimeHost();
    const g = gateway(host, { maxInflight: 2 });
    const { conn, socket, id } = handshake(host, g);
    g.onEnvelope(conn, ask('n1#/n', { clientId: id }, 1));
    g.onEnvelope(conn, ask('n1#/n', { clientId: id }, 2));
    await dispatcher.drain();
    expect(socket.paused).toBe(true);
    await dispatcher.advance(CLIENT_ASK_TIMEOUT_MS + 1);
    expect(host.sent.map((s) => s.env.msg)).toEqual([1, 2].map(() => ({ type: 'govfs.runtime.AskFailed', code: 'ETIMEDOUT', message: expect.stringMatching(/no answer from n1#\/n within 30000 ms/) })));
    expect(socket.paused).toBe(false);
    expect(conn.asking).toBe(0);
  });

  it('closing the connection stops its actor: its asks and their deadline timer are cancelled, the slot freed, and a late answer goes nowhere', async () => {
    const { host, dispatcher, runtime, answer } = runtimeHost();
    const g = gateway(host);
    const { conn, id } = handshake(host, g);
    const peer = conn.peer!;
    for (let corr = 1; corr <= 3; corr++) g.onEnvelope(conn, ask('n1#/n', { clientId: id }, corr));
    await dispatcher.drain();
    expect(runtime.census()).toMatchObject({ pendingAsks: 3, askTimer: true });
    g.releaseSlot(conn);
    g.closed(conn, peer, 'ECONNRESET', 'gone');
    expect(runtime.census('/gateway')).toEqual({ actors: 2, pendingAsks: 0, askTimer: false, timers: 0, under: { actors: 1, asks: 0, timers: 0 } });
    for (const a of answer) a({ type: 'govfs.fs.FsReply', ok: true });
    await dispatcher.drain();
    expect(host.sent).toHaveLength(0);
    expect(host.stats.clientsOpen).toBe(0);
    // The gateway actor goes with the bridge.
    g.stop();
    expect(runtime.census('/gateway').under).toEqual({ actors: 0, asks: 0, timers: 0 });
  });

  it('a connection actor that stops (its gateway actor stopped) closes its connection', async () => {
    const { host, runtime } = runtimeHost();
    const g = gateway(host);
    const { conn } = handshake(host, g);
    runtime.stopAddress('n1#/gateway', '');
    expect(host.closed).toEqual([expect.objectContaining({ conn, code: 'ESHUTDOWN', reason: expect.stringMatching(/connection actor stopped/) })]);
  });

  it('after a crash of the runtime (no stop hooks), the next request closes the connection', () => {
    const { host, runtime } = runtimeHost();
    const g = gateway(host);
    const { conn, id } = handshake(host, g);
    runtime.crash();
    expect(host.closed).toEqual([]);
    g.onEnvelope(conn, ask('n1#/n', { clientId: id }, 1));
    expect(host.closed).toEqual([expect.objectContaining({ conn, code: 'ESHUTDOWN', reason: expect.stringMatching(/stopped serving clients/) })]);
  });
});
