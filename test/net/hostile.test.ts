// Hostile input against a listening bridge, from raw sockets. Each case must close only its own
// connection, with a logged reason; the node keeps running and its real link (a ↔ b) keeps
// working.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handshakeFrame } from '../../src/net/bridge.js';
import { FrameKind, frameBytes } from '../../src/wire/frame.js';
import { echo, ping } from './actors.js';
import { type Node, RawClient, SECRET, node, pair, stopAll, until } from './helpers.js';

let a: Node;
let b: Node;

beforeEach(async () => {
  [a, b] = await pair({ handshakeTimeoutMs: 300, maxFrameBytes: 64 * 1024 });
  b.runtime.spawnRoot('echo', echo);
});
afterEach(stopAll);

/** The a ↔ b link still works, and b saw no other disconnection. */
async function linkIntact(): Promise<void> {
  await expect(a.runtime.ask('b#/echo', ping(42), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 42 });
  expect(a.bridge.isConnected('b')).toBe(true);
  expect(b.events.filter((e) => e.type === 'peer-down' && e.location === 'a')).toHaveLength(0);
  expect(a.events.filter((e) => e.type === 'peer-down')).toHaveLength(0);
}

/** b closed the raw connection and logged why (with `code`, matching `reason`). */
async function refused(c: RawClient, code: string, reason: RegExp): Promise<void> {
  await c.closedP;
  await until(() => b.events.some((e) => e.type === 'rejected' && e.code === code), `b reports ${code}`);
  const ev = b.events.find((e) => e.type === 'rejected' && e.code === code)!;
  expect(ev).toMatchObject({ type: 'rejected', code, reason: expect.stringMatching(reason) });
  const log = b.lines.find((l) => l.code === code && /connection refused/.test(l.msg));
  expect(log, `a logged reason for ${code}`).toBeDefined();
  expect(log!.msg).toMatch(reason);
  expect(log!.level).toBe(40); // warn
}

describe('hostile input', () => {
  it('garbage before the handshake (an HTTP request) closes that connection', async () => {
    const c = await RawClient.connect(b.addr);
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // "GET " read as a length: 1.2 GB
    await refused(c, 'EMSGSIZE', /oversized frame: \d+ bytes announced, the limit is 4096/);
    await linkIntact();
  });

  it('an actor envelope from an unauthenticated peer is refused', async () => {
    const c = await RawClient.connect(b.addr);
    const env = b.runtime.registry.toBytes({ to: 'b#/echo', from: '', kind: 0, corr: 0, msg: ping(1) });
    c.write(frameBytes(FrameKind.Envelope, env));
    await refused(c, 'EACCES', /envelope before authentication/);
    expect(b.bridge.stats.received).toBe(0);
    await linkIntact();
  });

  it('a peer that never authenticates is dropped at the handshake deadline', async () => {
    const c = await RawClient.connect(b.addr);
    await c.serverHello();
    c.write(handshakeFrame('hello', { version: 1, role: 'peer', location: 'mallory', instance: 'x', nonce: Buffer.alloc(32, 1), maxFrameBytes: 4096 }));
    await refused(c, 'ETIMEDOUT', /handshake not completed within 300 ms/);
    await linkIntact();
  });

  it('a wrong secret is refused, and the secret never crosses the wire', async () => {
    const c = await RawClient.connect(b.addr);
    await c.handshake('mallory', Buffer.from('not the cluster secret, guessed!'));
    await refused(c, 'EAUTH', /authentication failed: mallory does not prove the cluster secret/);
    expect(c.goodbye()).toMatchObject({ code: 'EAUTH' }); // told why
    const seen = Buffer.concat(c.frames.map((f) => Buffer.from(f.payload)));
    expect(seen.includes(SECRET)).toBe(false);
    await linkIntact();
  });

  it('a bridge with a different secret is refused on both ends and keeps retrying quietly', async () => {
    const m = await node('m', { secret: Buffer.from('another cluster secret entirely!') });
    m.bridge.connect('b', b.addr);
    await until(() => b.events.some((e) => e.type === 'rejected' && e.code === 'EAUTH'), 'b refuses m');
    await until(() => m.events.some((e) => e.type === 'rejected' && e.code === 'EAUTH'), 'm refuses b');
    expect(m.bridge.isConnected('b')).toBe(false);
    expect(b.bridge.peerInfo().map((p) => p.location)).toEqual(['a']);
    await linkIntact();
  });

  it('a reflected proof (our own Auth sent back) is refused', async () => {
    const c = await RawClient.connect(b.addr);
    const server = await c.serverHello();
    // Claim b's own nonce and instance, hoping b's proof for them can be echoed back.
    c.write(handshakeFrame('hello', { version: 1, role: 'peer', location: 'mallory', instance: server.instance, nonce: server.nonce, maxFrameBytes: 4096 }));
    await until(() => c.frames.some((f) => f.kind === FrameKind.Auth), 'b answers with its proof');
    const bAuth = c.frames.find((f) => f.kind === FrameKind.Auth)!;
    c.write(frameBytes(FrameKind.Auth, bAuth.payload));
    await refused(c, 'EAUTH', /authentication failed/);
    await linkIntact();
  });

  it('a truncated frame then close (before and after authentication) closes only that connection', async () => {
    const c1 = await RawClient.connect(b.addr);
    c1.write(Buffer.from([0, 0, 0, 50, FrameKind.Hello, 1, 2, 3]));
    c1.socket.end();
    await c1.closedP;
    const c2 = await RawClient.connect(b.addr);
    await c2.handshake('raw');
    await until(() => b.bridge.isConnected('raw'), 'raw authenticated');
    c2.write(Buffer.from([0, 0, 1, 0, FrameKind.Envelope, 9, 9]));
    c2.socket.end();
    await c2.closedP;
    await until(() => b.events.some((e) => e.type === 'peer-down' && e.location === 'raw'), 'raw link down');
    expect(b.lines.some((l) => l.peer === 'raw' && /bridge connection closed/.test(l.msg))).toBe(true);
    await expect(a.runtime.ask('b#/echo', ping(42), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 42 });
    expect(a.bridge.isConnected('b')).toBe(true);
  });

  it('an oversized length prefix after authentication closes that link before buffering it', async () => {
    const c = await RawClient.connect(b.addr);
    await c.handshake('raw');
    await until(() => b.bridge.isConnected('raw'), 'raw authenticated');
    c.write(Buffer.from([0, 0x01, 0, 1, FrameKind.Envelope])); // 65,537 bytes announced, limit 65,536
    await refused(c, 'EMSGSIZE', /oversized frame: 65537 bytes announced, the limit is 65536/);
    await linkIntact();
  });

  it('a corrupt envelope after authentication closes that link', async () => {
    const c = await RawClient.connect(b.addr);
    await c.handshake('raw');
    await until(() => b.bridge.isConnected('raw'), 'raw authenticated');
    // A valid envelope first, then garbage that is not protobuf.
    const good = b.runtime.registry.toBytes({ to: 'b#/echo', from: '', kind: 0, corr: 0, msg: ping(1) });
    c.write(frameBytes(FrameKind.Envelope, good));
    c.write(frameBytes(FrameKind.Envelope, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2])));
    await refused(c, 'EBADMSG', /corrupt envelope/);
    expect(b.bridge.stats.received).toBe(1); // the good envelope was delivered before the bad one closed the link
    await linkIntact();
  });

  it('an unknown frame kind, a second hello and a client hello are refused', async () => {
    const c1 = await RawClient.connect(b.addr);
    c1.write(frameBytes(77));
    await refused(c1, 'EPROTO', /unknown frame kind 77/);
    const c2 = await RawClient.connect(b.addr);
    c2.write(handshakeFrame('hello', { version: 1, role: 'client', location: '', instance: 'c', nonce: Buffer.alloc(32), maxFrameBytes: 4096 }));
    await refused(c2, 'EACCES', /client connections are not served/);
    const c3 = await RawClient.connect(b.addr);
    c3.write(handshakeFrame('hello', { version: 9, role: 'peer', location: 'x', instance: 'c', nonce: Buffer.alloc(32), maxFrameBytes: 4096 }));
    await until(() => c3.closed, 'c3 closed');
    expect(b.events.some((e) => e.type === 'rejected' && /unsupported bridge protocol version 9/.test(e.reason))).toBe(true);
    await linkIntact();
  });

  it('many connections of garbage at once do not disturb the real link', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(b.addr)));
    clients.forEach((c, i) => c.write(Buffer.from([0, 0, 0, 3, i % 2 ? 99 : FrameKind.Envelope, 1, 2])));
    await Promise.all(clients.map((c) => c.closedP));
    expect(b.bridge.stats.rejected).toBeGreaterThanOrEqual(20);
    await linkIntact();
  });
});

describe('a peer that stops reading', () => {
  it('cannot make a node buffer without bound: the queue caps, drops are reported, the link is closed as stalled', async () => {
    const c = await node('c', { maxQueueBytes: 1 << 20, stallTimeoutMs: 300, heartbeatMs: 100, missedHeartbeats: 1000 });
    const raw = await RawClient.connect(c.addr);
    await raw.handshake('raw');
    await until(() => c.bridge.isConnected('raw'), 'raw authenticated');
    raw.socket.pause(); // reads nothing more: the kernel buffers fill, then c's socket backs up
    const target = c.runtime.ref('raw#/x');
    const big = { type: 'govfs.runtime.Ping', seq: 1, sender: 1, payload: new Uint8Array(60_000) };
    for (let turn = 0; turn < 400 && c.bridge.stats.dropped === 0; turn++) {
      for (let i = 0; i < 10; i++) target.tell(big);
      await new Promise((r) => setImmediate(r)); // let the bridge flush this turn's batch
    }
    expect(c.bridge.stats.dropped).toBeGreaterThan(0);
    expect(c.events.some((e) => e.type === 'overflow' && e.location === 'raw')).toBe(true);
    expect(c.bridge.peerInfo().find((p) => p.location === 'raw')!.queuedBytes).toBeLessThanOrEqual(1 << 20);
    await until(() => c.events.some((e) => e.type === 'peer-down' && e.location === 'raw'), 'the stalled link is closed');
    expect(c.lines.some((l) => /not reading/.test(l.msg))).toBe(true);
  });
});
