// Connection slots (hardening issue, point 2, and two parts of point 9): one address holding
// idle sockets, or one client process opening connections, cannot lock others out; an idle
// unauthenticated socket is closed at the handshake deadline; a refused connection is told why
// and the client's error says it (apart from nothing listening); a token file that cannot be
// used is reported as itself before connecting; and refusal warnings are rate-limited.
// Loopback has all of 127.0.0.0/8, so clients bound to 127.0.0.2, .3 act as other hosts.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Refusal } from '../../src/net/admission.js';
import { type BridgeClientOptions, type BridgeOptions, decodeHandshake } from '../../src/net/bridge.js';
import { ClientConnection, ConnectionRefusedError } from '../../src/client/connection.js';
import { ConnectError, connect } from '../../src/client/connect.js';
import { FrameDecoder, FrameKind } from '../../src/wire/frame.js';
import type { Context, Message } from '../../src/runtime/types.js';
import { govfs } from '../cli/helpers.js';
import { type Node, RawClient, cleanup, node, stopAll, until } from './helpers.js';

afterEach(stopAll);

const TOKEN = Buffer.from('client token of the test cluster');
const PROBE = { type: 'govfs.fs.NodeProbe' };

/** b serves clients; its root `b#/n1` answers a NodeProbe like a node. */
async function server(opts: Partial<BridgeOptions> = {}, clients: Partial<BridgeClientOptions> = {}): Promise<Node> {
  const b = await node('b', { ...opts, clients: { allowTarget: (to) => to === 'b#/n1', welcome: () => ({ nodes: { n1: 'b#/n1' } }), ...clients } });
  b.runtime.spawnRoot('n1', () => ({ receive: (ctx: Context, _msg: Message) => ctx.reply({ type: 'govfs.fs.NodeReport', id: 'n1', role: 'president' }) }));
  return b;
}

interface Goodbye {
  code: string;
  reason: string;
  refusal: number;
}

/** `n` idle sockets to `addr` that say nothing, each reopened as soon as the node closes it. */
class Flood {
  readonly refusals: Goodbye[] = [];
  opened = 0;
  private readonly sockets = new Set<net.Socket>();
  private stopped = false;

  constructor(private readonly addr: string, n: number) {
    for (let i = 0; i < n; i++) this.open();
    cleanup.push(() => this.stop());
  }

  private open(): void {
    if (this.stopped) return;
    const i = this.addr.lastIndexOf(':');
    const s = net.connect({ host: this.addr.slice(0, i), port: Number(this.addr.slice(i + 1)) });
    this.opened++;
    this.sockets.add(s);
    const decoder = new FrameDecoder(1 << 16, (kind, payload) => {
      if (kind === FrameKind.Goodbye) this.refusals.push(decodeHandshake(kind, payload) as unknown as Goodbye);
    });
    s.on('data', (c: Buffer) => {
      try {
        decoder.push(c);
      } catch {
        // not the node's frames: not counted
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      this.sockets.delete(s);
      setImmediate(() => this.open());
    });
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
  }
}

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return `127.0.0.1:${port}`;
}

describe('connection slots', () => {
  it('~100 idle sockets from one address, reopened as the node closes them, do not lock out a client from another address', async () => {
    const b = await server();
    const flood = new Flood(b.addr, 100);
    await until(() => b.bridge.stats.rejected >= 200, 'the flood is refused over and over');
    const conn = await ClientConnection.open(b.addr, { localAddress: '127.0.0.2' });
    await expect(conn.ask('b#/n1', PROBE, 5000)).resolves.toMatchObject({ role: 'president' });
    await conn.close();
    // The flooding address holds its share of the handshake slots, no more.
    expect(b.bridge.stats.handshaking).toBeLessThanOrEqual(16);
    // Each refused socket was told why before it was closed.
    expect(flood.refusals.length).toBeGreaterThan(50);
    expect(flood.refusals[0]).toEqual({ code: 'EAGAIN', refusal: Refusal.TooManyHandshakesFromAddress, reason: 'too many unauthenticated connections from 127.0.0.1 (16, the limit per address): try again in a moment' });
    // And the node's log did not get a warning for each of them.
    const warnings = b.lines.filter((l) => l.level === 40 && /connection refused/.test(l.msg));
    expect(warnings.length).toBeLessThanOrEqual(5);
    flood.stop();
  });

  it('a burst of 80 clients from one address all connect: those over its handshake share are told to try again, and do', async () => {
    // In one process the handshakes overlap little: a share of 1 makes them collide. Heartbeats
    // as in production (a client sends one after 1 s idle; the helper's 250 ms would drop it).
    const b = await server({ maxHandshakesPerAddress: 1, heartbeatMs: 1000 });
    const clients = await Promise.all(Array.from({ length: 80 }, () => connect([b.addr], { connectTimeoutMs: 10_000 })));
    expect(b.bridge.stats.clientsOpen).toBe(80);
    expect(b.events.filter((e) => e.type === 'rejected' && e.code === 'EAGAIN').length).toBeGreaterThan(0); // some had to try again
    await Promise.all(clients.map((c) => c.close()));
  });

  it('an idle unauthenticated socket is closed at the handshake deadline with a refusal saying so, and its slot is freed', async () => {
    const b = await server({ maxHandshakesPerAddress: 2, inboundHandshakeTimeoutMs: 400 });
    const started = Date.now();
    const idle = [await RawClient.connect(b.addr), await RawClient.connect(b.addr)];
    for (const c of idle) await c.serverHello(); // accepted: b holds two handshakes
    // A third from the same address is refused at once, and told why.
    const third = await RawClient.connect(b.addr);
    await third.closedP;
    expect(third.goodbye()).toMatchObject({ code: 'EAGAIN', refusal: Refusal.TooManyHandshakesFromAddress, reason: expect.stringMatching(/too many unauthenticated connections from 127\.0\.0\.1 \(2, the limit per address\)/) });
    // Another address is not affected.
    const other = await ClientConnection.open(b.addr, { localAddress: '127.0.0.3' });
    await other.close();
    await Promise.all(idle.map((c) => c.closedP));
    const held = Date.now() - started;
    expect(held).toBeGreaterThanOrEqual(350);
    expect(held).toBeLessThan(2000); // the inbound deadline, not the 2 s dial deadline
    for (const c of idle) expect(c.goodbye()).toMatchObject({ code: 'ETIMEDOUT', refusal: Refusal.HandshakeTimeout, reason: 'handshake not completed within 400 ms' });
    await until(() => b.bridge.stats.handshaking === 0, 'slots freed');
    const conn = await ClientConnection.open(b.addr);
    await expect(conn.ask('b#/n1', PROBE, 5000)).resolves.toMatchObject({ id: 'n1' });
    await conn.close();
  });

  it('one address cannot take every client slot; others still get theirs, and a closed client frees its slot', async () => {
    const b = await server({}, { maxClients: 8 }); // a quarter, 2, per address
    const mine = [await ClientConnection.open(b.addr), await ClientConnection.open(b.addr)];
    const refused = await ClientConnection.open(b.addr).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectionRefusedError);
    expect(refused).toMatchObject({ code: 'EUSERS', refusal: Refusal.TooManyClientsFromAddress, message: `${b.addr} refused the connection: too many clients from 127.0.0.1 (2 connected, the limit per address): close some, or use another node` });
    // Through connect(): said as it is, at once (no retrying for a slot held by a client).
    const t0 = Date.now();
    await expect(connect([b.addr], { connectTimeoutMs: 3000 })).rejects.toMatchObject({ code: 'EUSERS', message: expect.stringMatching(/^refused: too many connections at 127\.0\.0\.1:\d+ \(too many clients from 127\.0\.0\.1 \(2 connected/) });
    expect(Date.now() - t0).toBeLessThan(1500);
    const others = [await ClientConnection.open(b.addr, { localAddress: '127.0.0.2' }), await ClientConnection.open(b.addr, { localAddress: '127.0.0.3' })];
    for (const c of [...mine, ...others]) await expect(c.ask('b#/n1', PROBE, 5000)).resolves.toMatchObject({ id: 'n1' });
    expect(b.bridge.stats.clientsOpen).toBe(4);
    expect(b.events.filter((e) => e.type === 'rejected' && e.code === 'EUSERS').length).toBeGreaterThanOrEqual(2);
    await mine[0]!.close();
    await until(() => b.bridge.stats.clientsOpen === 3, 'a slot freed');
    const again = await ClientConnection.open(b.addr);
    await expect(again.ask('b#/n1', PROBE, 5000)).resolves.toMatchObject({ id: 'n1' });
    for (const c of [mine[1]!, ...others, again]) await c.close();
  });
});

describe('what a client is told', () => {
  it('too many connections (retried while handshake slots free, then reported), authentication failed, nothing listening', async () => {
    const b = await server({ maxHandshakesPerAddress: 1 }, { token: TOKEN });
    const idle = await RawClient.connect(b.addr);
    await idle.serverHello(); // the only slot of 127.0.0.1 is held
    const direct = await ClientConnection.open(b.addr, { token: TOKEN }).catch((e: unknown) => e);
    expect(direct).toMatchObject({ code: 'EAGAIN', refusal: Refusal.TooManyHandshakesFromAddress, transient: true });
    const t0 = Date.now();
    const busy = await connect([b.addr], { token: TOKEN, connectTimeoutMs: 400 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150); // tried again before giving up
    expect(busy).toBeInstanceOf(ConnectError);
    expect(busy).toMatchObject({ code: 'EAGAIN', message: `refused: too many connections at ${b.addr} (too many unauthenticated connections from 127.0.0.1 (1, the limit per address): try again in a moment)` });
    // A slot that frees while connect() is retrying is taken.
    const late = connect([b.addr], { token: TOKEN, connectTimeoutMs: 3000 });
    setTimeout(() => idle.socket.destroy(), 100);
    const fs = await late;
    await fs.close();

    const wrong = await connect([b.addr], { token: 'a guessed token, not the real one' }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: 'EAUTH', message: `refused: authentication failed at ${b.addr} (client authentication failed: wrong client token)` });
    await expect(connect([b.addr])).rejects.toMatchObject({ code: 'EAUTH', message: expect.stringMatching(/^refused: authentication failed at .*this cluster needs a client token/) });

    const dead = await deadPort();
    await expect(connect([dead])).rejects.toMatchObject({ code: 'ECONNREFUSED', message: `cannot reach the cluster at ${dead} (connect ECONNREFUSED: nothing listening at ${dead}): is a govfs cluster or node running there?` });
    // Several servers: each one's story.
    const both = await connect([dead, b.addr], { token: 'a guessed token, not the real one' }).catch((e: unknown) => e);
    expect(both).toMatchObject({ code: 'EAUTH' });
  });

  it('a token file that is missing, unreadable or empty is reported as itself, naming it, before any connection', async () => {
    const b = await server({}, { token: TOKEN });
    const dir = mkdtempSync(join(tmpdir(), 'govfs-token-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const missing = join(dir, 'nope');
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const short = join(dir, 'short');
    writeFileSync(short, 'abcde\n');
    const good = join(dir, 'token');
    writeFileSync(good, `${TOKEN.toString()}\n`);
    await expect(connect([b.addr], { tokenFile: missing })).rejects.toMatchObject({ code: 'ENOENT', message: `cannot read the client token file ${missing}: no such file` });
    await expect(connect([b.addr], { tokenFile: folder })).rejects.toMatchObject({ code: 'EISDIR', message: `cannot read the client token file ${folder}: it is a directory` });
    await expect(connect([b.addr], { tokenFile: empty })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(new RegExp(`^the client token file ${empty} is empty; it needs at least 16 bytes`)) });
    await expect(connect([b.addr], { tokenFile: short })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/is 5 bytes; it needs at least 16/) });
    expect(b.bridge.stats.accepted).toBe(0); // no connection was tried
    const fs = await connect([b.addr], { tokenFile: good });
    await fs.close();
    // The command line says the same, not "cannot reach the cluster".
    const cli = await govfs(['ls', '/', '--server', b.addr, '--token-file', missing]);
    expect(cli).toMatchObject({ code: 1, stderr: `govfs: cannot read the client token file ${missing}: no such file\n` });
    expect(b.bridge.stats.accepted).toBe(1);
  });
});

describe('refusal warnings', () => {
  it('a peer with a wrong secret, redialing many times a second, gets a few warnings and then one summary per interval', async () => {
    const b = await node('b', { refusalLogIntervalMs: 400 });
    const m = await node('m', { secret: Buffer.from('another cluster secret entirely!'), reconnect: { minMs: 5, maxMs: 40 } });
    const started = Date.now();
    m.bridge.connect('b', b.addr);
    const refusedAt = (n: Node) => n.events.filter((e) => e.type === 'rejected' && e.code === 'EAUTH').length;
    const summaries = (n: Node) => n.lines.filter((l) => l.level === 40 && /^bridge connections refused: \d+ more from 127\.0\.0\.1 in the last \d+ s \(EAUTH: \d+\); the last: authentication failed/.test(l.msg));
    await until(() => refusedAt(b) >= 40 && summaries(b).length >= 2, 'many refusals and two summaries', 20_000);
    const elapsed = Date.now() - started;
    for (const n of [b, m]) {
      const warnings = n.lines.filter((l) => l.level === 40 && /^bridge connection refused/.test(l.msg));
      expect(warnings.length, `${n.location}'s refusal warnings`).toBeLessThanOrEqual(5);
      expect(summaries(n).length, `${n.location}'s summaries`).toBeLessThanOrEqual(Math.ceil(elapsed / 400) + 1);
    }
    // Nothing is lost: what the warnings left out, the summaries count (and debug lines keep).
    const counted = summaries(b).reduce((sum, l) => sum + (l.refused as number), 0);
    const warned = b.lines.filter((l) => l.level === 40 && /^bridge connection refused/.test(l.msg)).length;
    expect(warned + counted).toBeLessThanOrEqual(refusedAt(b));
    expect(b.lines.filter((l) => /^bridge connection refused/.test(l.msg)).length).toBe(refusedAt(b));
  });
});
