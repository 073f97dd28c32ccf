// Node links on their own (src/net/node-links.ts), against a fake bridge and fake sockets: the
// outbound queue (one write per turn, a backlog while no link is up, bounded with drops
// reported and asks failed), the handshake's proof and one-link-per-pair rules, routing of
// received envelopes, and the heartbeat and stall checks.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FrameKind } from '../../src/wire/frame.js';
import { type Hello, NONCE_BYTES, handshakeProof } from '../../src/net/handshake.js';
import { ConnState, type Peer } from '../../src/net/link.js';
import { NodeLinks } from '../../src/net/node-links.js';
import { EnvelopeKind, type WireEnvelope } from '../../src/wire/registry.js';
import { type FakeHost, fakeConn, fakeHost } from './link-fakes.js';

const SECRET = Buffer.from('a cluster secret of 32 bytes!!!!');

function links(host: FakeHost, clients: Map<string, Peer> | null = null, maxQueueBytes = 1 << 20): NodeLinks {
  return new NodeLinks(host, {
    maxQueueBytes, backoffMinMs: 10, backoffMaxMs: 20, tlsDial: null,
    track: () => { throw new Error('no dialing in these tests'); },
    sendHello: () => {},
  }, clients && { at: (l) => clients.get(l) });
}

function env(to: string, kind = EnvelopeKind.Tell, corr = 0): WireEnvelope {
  return { to, from: 'n1#/sender', kind, corr, msg: { type: 'govfs.runtime.AskFailed', code: 'EX', message: 'a test message' } };
}

function hello(location: string, instance = 'i-peer'): Hello {
  return { version: 1, role: 'peer', location, instance, nonce: randomBytes(NONCE_BYTES), maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 24 };
}

/** Link `location` to the fake host as an accepted, authenticated connection. */
function linkUp(host: FakeHost, l: NodeLinks, location: string) {
  const { conn, socket } = fakeConn();
  const h = hello(location);
  l.onHello(conn, h, SECRET);
  const proof = handshakeProof(SECRET, 'dial', { location, instance: h.instance, nonce: h.nonce }, { location: host.location, instance: host.instance, nonce: conn.nonce });
  l.onAuth(conn, { proof, clientLocation: '', welcomeJson: '', clientKey: new Uint8Array(0), clientSignature: new Uint8Array(0), clientId: '', maxMessageBytes: 0, maxFrameBytes: 0 }, SECRET);
  socket.written.length = 0;
  return { conn, socket, peer: l.peers.get(location)! };
}

describe('node links: handshake', () => {
  it('answers a Hello with our proof, and opens the link on the right proof (peer-up)', () => {
    const host = fakeHost('n1');
    const l = links(host);
    const { conn, socket } = fakeConn();
    const h = hello('n2');
    l.onHello(conn, h, SECRET);
    expect(conn.state).toBe(ConnState.Auth);
    expect(socket.written[0]![4]).toBe(FrameKind.Auth);
    const proof = handshakeProof(SECRET, 'dial', { location: 'n2', instance: h.instance, nonce: h.nonce }, { location: 'n1', instance: host.instance, nonce: conn.nonce });
    l.onAuth(conn, { proof, clientLocation: '', welcomeJson: '', clientKey: new Uint8Array(0), clientSignature: new Uint8Array(0), clientId: '', maxMessageBytes: 0, maxFrameBytes: 0 }, SECRET);
    expect(conn.state).toBe(ConnState.Open);
    expect(host.ended).toContain(conn);
    expect(l.peers.get('n2')!.conn).toBe(conn);
    expect(host.events).toContainEqual(expect.objectContaining({ type: 'peer-up', location: 'n2', dialed: false }));
  });

  it('refuses a wrong proof (EAUTH), its own location, and a dialed node answering under another name', () => {
    const host = fakeHost('n1');
    const l = links(host);
    const { conn } = fakeConn();
    l.onHello(conn, hello('n2'), SECRET);
    const wrong = handshakeProof(Buffer.from('not the secret, but 32 bytes!!!!'), 'dial', { location: 'n2', instance: 'i-peer', nonce: conn.peerNonce! }, { location: 'n1', instance: host.instance, nonce: conn.nonce });
    expect(() => l.onAuth(conn, { proof: wrong } as never, SECRET)).toThrow(expect.objectContaining({ code: 'EAUTH' }));
    expect(() => l.onHello(fakeConn().conn, hello('n1'), SECRET)).toThrow(expect.objectContaining({ code: 'EPROTO', message: expect.stringMatching(/own location/) }));
    const dialed = fakeConn({ dialed: true }).conn;
    dialed.peer = l.addPeer('n3', '127.0.0.1:1');
    expect(() => l.onHello(dialed, hello('n4'), SECRET)).toThrow(expect.objectContaining({ code: 'EPROTO', message: expect.stringMatching(/dialed n3/) }));
  });

  it('one link per pair: refuses a higher-named peer that dials while we dial it, or that is linked already', () => {
    const host = fakeHost('n1');
    const l = links(host);
    const peer = l.addPeer('n2', '127.0.0.1:1');
    peer.dialing = fakeConn({ dialed: true }).conn;
    const { conn } = fakeConn();
    l.onHello(conn, hello('n2'), SECRET);
    expect(host.closed).toContainEqual(expect.objectContaining({ conn, code: 'EDUPLICATE' }));
    peer.dialing = null;
    const up = linkUp(host, l, 'n2');
    const again = fakeConn().conn;
    l.onHello(again, hello('n2', up.conn.peerInstance), SECRET);
    expect(host.closed).toContainEqual(expect.objectContaining({ conn: again, code: 'EDUPLICATE', reason: expect.stringMatching(/already linked/) }));
  });
});

describe('node links: outbound queue', () => {
  it('writes a turn of messages as one write, and holds them while no link is up', async () => {
    const host = fakeHost('n1');
    const l = links(host);
    const peer = l.addPeer('n2', null);
    l.send(peer, env('n2#/a'));
    l.send(peer, env('n2#/a'));
    await Promise.resolve();
    expect(peer.backlog.length).toBe(1);
    const held = peer.backlogBytes;
    expect(held).toBeGreaterThan(0);
    const { socket } = linkUp(host, l, 'n2');
    expect(peer.backlog).toHaveLength(0);
    l.send(peer, env('n2#/a'));
    l.send(peer, env('n2#/a'));
    l.send(peer, env('n2#/a'));
    expect(socket.written).toHaveLength(0);
    await Promise.resolve();
    expect(socket.written).toHaveLength(1);
    expect(host.stats.sent).toBe(5);
    expect(host.stats.bytesSent).toBe(held + socket.written[0]!.length);
  });

  it('drops past its bound: counted, reported per message, and an ask failed at once with ENOBUFS', () => {
    const host = fakeHost('n1');
    const l = links(host, null, 200);
    const peer = l.addPeer('n2', null);
    let i = 0;
    while (host.stats.dropped === 0 && i++ < 100) l.send(peer, env('n2#/a'));
    expect(host.stats.dropped).toBe(1);
    l.send(peer, env('n2#/a', EnvelopeKind.Ask, 42));
    expect(host.stats.dropped).toBe(2);
    expect(host.failed).toEqual([{ corr: 42, code: 'ENOBUFS' }]);
    expect(host.events.filter((e) => e.type === 'overflow')).toHaveLength(2);
  });
});

describe('node links: received envelopes', () => {
  it('delivers envelopes for actors here, passes replies on to our clients, and counts the rest as misrouted', () => {
    const host = fakeHost('n1');
    const client = links(fakeHost('n1')).newPeer('cab@n1', 1 << 20);
    const l = links(host, new Map([['cab@n1', client]]));
    const { conn } = linkUp(host, l, 'n2');
    l.onEnvelope(conn, env('n1#/a'));
    expect(host.delivered).toHaveLength(1);
    l.onEnvelope(conn, env('cab@n1#/'));
    expect(client.sent).toBe(1);
    l.onEnvelope(conn, env('n9#/a'));
    l.onEnvelope(conn, env('n1x#/a'));
    expect(host.stats.misrouted).toBe(2);
    expect(host.delivered).toHaveLength(1);
  });
});

describe('node links: liveness', () => {
  it('heartbeats an idle link, and closes one silent for missedHeartbeats ticks', () => {
    const host = fakeHost('n1');
    const l = links(host);
    const { conn, socket } = linkUp(host, l, 'n2');
    conn.rx = true;
    conn.tx = false;
    expect(l.liveness(conn, 0, 100, 3, 10_000)).toBe(true);
    expect(socket.written).toHaveLength(1);
    expect(socket.written[0]![4]).toBe(FrameKind.Heartbeat);
    expect(l.liveness(conn, 100, 100, 3, 10_000)).toBe(true);
    expect(l.liveness(conn, 200, 100, 3, 10_000)).toBe(true);
    expect(l.liveness(conn, 300, 100, 3, 10_000)).toBe(false);
    expect(host.closed).toContainEqual(expect.objectContaining({ conn, code: 'ETIMEDOUT', reason: expect.stringMatching(/3 heartbeats/) }));
    expect(host.stats.heartbeatTimeouts).toBe(1);
  });

  it('closes a link whose socket takes no bytes for stallTimeoutMs while it has some to send', () => {
    const host = fakeHost('n1');
    const l = links(host);
    const { conn, socket } = linkUp(host, l, 'n2');
    socket.writableLength = 1000;
    socket.bytesWritten = 1000;
    conn.progress = 0;
    for (const now of [1, 500, 1000]) {
      conn.rx = true;
      expect(l.liveness(conn, now, 100, 3, 1000)).toBe(true);
    }
    conn.rx = true;
    expect(l.liveness(conn, 1500, 100, 3, 1000)).toBe(false);
    expect(host.closed).toContainEqual(expect.objectContaining({ conn, code: 'ETIMEDOUT', reason: expect.stringMatching(/not reading/) }));
  });
});
