// The client gateway on its own (src/net/client-gateway.ts), against a fake bridge: the client
// handshake (token proof, identity signature, a slot, an assigned location), confinement of
// what a client may send, requests under another client's id answered EPERM, and the in-flight
// limit that stops reading a client until answers drain.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BridgeClientOptions } from '../../src/net/bridge.js';
import { ClientGateway } from '../../src/net/client-gateway.js';
import { clientIdentity, identityTranscript } from '../../src/net/client-identity.js';
import { FrameKind } from '../../src/wire/frame.js';
import { type AuthMsg, CLIENT_PROOF_LOCATION, type Hello, NONCE_BYTES, decodeAuth, handshakeProof } from '../../src/net/handshake.js';
import { type Conn, ConnState, Peer } from '../../src/net/link.js';
import { EnvelopeKind, type WireEnvelope } from '../../src/wire/registry.js';
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
  return { version: 1, role: 'client', location: '', instance: 'i-client', nonce: randomBytes(NONCE_BYTES), token: new Uint8Array(0), maxFrameBytes: 1 << 20 };
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
    clientLocation: '', welcomeJson: '', clientId: '',
  };
  g.onAuth(conn, auth);
  return { conn, socket, id: me.clientId, auth: () => decodeAuth(socket.written[0]!.subarray(5)) as unknown as Record<string, unknown> };
}

function ask(to: string, msg: Record<string, unknown>, corr: number, kind = EnvelopeKind.Ask): WireEnvelope {
  return { to, from: 'whatever#/', kind, corr, msg: { type: 'govfs.fs.FsRequest', ...msg } };
}

describe('client gateway: handshake', () => {
  it('serves a client that proves the token and its identity: a location, its id, the welcome, client-up', () => {
    const host = fakeHost('n1');
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
    const host = fakeHost('n1');
    const g = gateway(host, { token: TOKEN });
    expect(() => handshake(host, g)).toThrow(expect.objectContaining({ code: 'EAUTH', message: expect.stringMatching(/needs a client token/) }));
    expect(() => handshake(host, g, { token: Buffer.from('another token') })).toThrow(expect.objectContaining({ code: 'EAUTH', message: expect.stringMatching(/wrong client token/) }));
    expect(() => handshake(host, g, { token: TOKEN, sign: false })).toThrow(expect.objectContaining({ code: 'EAUTH', message: expect.stringMatching(/does not verify/) }));
    expect(() => g.onHello(fakeConn().conn, { ...clientHello(), nonce: randomBytes(4) })).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    expect(host.stats.clientsOpen).toBe(0);
  });

  it('refuses a client over the per-address limit, and frees the slot when one closes', () => {
    const host = fakeHost('n1');
    const g = gateway(host, { maxClients: 4, maxClientsPerAddress: 1 });
    const first = handshake(host, g);
    expect(() => handshake(host, g)).toThrow(expect.objectContaining({ code: 'EUSERS' }));
    g.releaseSlot(first.conn);
    g.closed(first.conn, first.conn.peer!, 'ECONNRESET', 'gone');
    expect(host.events).toContainEqual(expect.objectContaining({ type: 'client-down', code: 'ECONNRESET' }));
    expect(handshake(host, g).conn.state).toBe(ConnState.Open);
  });
});

describe('client gateway: requests', () => {
  it('delivers allowed asks with `from` and `ticketTo` rewritten to the client', () => {
    const host = fakeHost('n1');
    const g = gateway(host);
    const { conn, id } = handshake(host, g);
    const loc = conn.peer!.location;
    g.onEnvelope(conn, ask('n1#/n', { clientId: id, ticketTo: 'n1#/president' }, 1));
    expect(host.delivered).toHaveLength(1);
    expect(host.delivered[0]!.from).toBe(`${loc}#/`);
    expect(host.delivered[0]!.msg.ticketTo).toBe(`${loc}#/tickets`);
  });

  it('closes for a tell, a type or a target not allowed (EACCES), and answers another client id with EPERM', () => {
    const host = fakeHost('n1');
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

  it('stops reading a client with maxInflight unanswered asks, and resumes when half are answered', () => {
    const host = fakeHost('n1');
    const g = gateway(host, { maxInflight: 4 });
    const { conn, socket, id } = handshake(host, g);
    for (let corr = 1; corr <= 5; corr++) g.onEnvelope(conn, ask('n1#/n', { clientId: id }, corr));
    expect(socket.paused).toBe(true);
    expect(host.delivered).toHaveLength(4);
    expect(conn.held).toHaveLength(1);
    const reply = (corr: number): WireEnvelope => ({ to: `${conn.peer!.location}#/`, from: 'n1#/n', kind: EnvelopeKind.Reply, corr, msg: { type: 'govfs.runtime.AskFailed', code: 'EX', message: '' } });
    g.answered(conn.peer!, reply(1));
    expect(socket.paused).toBe(true);
    g.answered(conn.peer!, reply(2));
    expect(socket.paused).toBe(false);
    expect(host.delivered).toHaveLength(5);
    expect(conn.held).toHaveLength(0);
  });
});
