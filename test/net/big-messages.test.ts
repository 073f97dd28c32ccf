// Large messages over TCP (issue 17, point 5; src/wire/parts.ts, docs/data-path.md): 16 MiB
// between two nodes and over a client connection, in parts that let small messages pass; a
// message above the limit refused at the sender with EMSGSIZE; and hostile or broken parts
// (oversized, truncated, out of place) closing only their own connection.

import { createHash } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientConnection } from '../../src/client/connection.js';
import { type BridgeOptions, handshakeFrame } from '../../src/net/bridge.js';
import { clientIdentity } from '../../src/net/client-identity.js';
import type { Behaviour, Context, Message } from '../../src/runtime/types.js';
import { FrameDecoder, FrameKind } from '../../src/wire/frame.js';
import { PART_FIRST, PART_LAST } from '../../src/wire/parts.js';
import { EnvelopeKind, type TypedMessage } from '../../src/wire/registry.js';
import { echo, ping } from './actors.js';
import { type Node, type RawClient, RawClient as Raw, node, rawClient, stopAll, until } from './helpers.js';

afterEach(stopAll);

const MiB = 1024 * 1024;

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

interface ChunkData {
  type: string;
  chunkId: string;
  data: Uint8Array;
  size: number;
}

/** A stand-in chunk store: a ChunkWrite is answered with ChunkData carrying the SHA-256 of what
 * arrived as its id and the bytes themselves; a ChunkRead with a small ChunkData. */
function store(seen: Message[]): Behaviour {
  return {
    receive(ctx: Context, msg: Message) {
      const m = msg as { type: string; data?: Uint8Array; offset?: number };
      seen.push(m.type);
      if (m.type === 'govfs.data.ChunkWrite') ctx.reply({ type: 'govfs.data.ChunkData', chunkId: sha(m.data!), version: 0, offset: m.offset, data: m.data, size: m.data!.length });
      else if (m.type === 'govfs.data.ChunkRead') ctx.reply({ type: 'govfs.data.ChunkData', chunkId: 'small', version: 0, offset: 0, data: new Uint8Array(3), size: 3 });
    },
  };
}

function write(data: Uint8Array): TypedMessage {
  return { type: 'govfs.data.ChunkWrite', chunkId: 'c1', version: 1, token: 1, offset: 0, data };
}

const CLIENT_TYPES = ['govfs.data.ChunkWrite', 'govfs.data.ChunkRead'];

/** b serves clients (`b#/store`, `b#/small`; frames of at most 64 KiB from them, so a client's
 * parts must be cut to the limit its Auth names) and is linked to a, which runs `echo`. */
async function setup(opts: Partial<BridgeOptions> = {}): Promise<{ a: Node; b: Node; seen: Message[] }> {
  const b = await node('b', {
    handshakeTimeoutMs: 1000,
    clients: { allowTarget: (to) => to === 'b#/store' || to === 'b#/small', allowTypes: CLIENT_TYPES, maxMessageBytes: 20 * MiB, maxQueueBytes: 64 * MiB, maxFrameBytes: 64 * 1024 },
    ...opts,
  });
  const a = await node('a');
  a.bridge.connect('b', b.addr);
  await a.bridge.waitForPeer('b');
  await b.bridge.waitForPeer('a');
  const seen: Message[] = [];
  b.runtime.spawnRoot('store', () => store(seen));
  b.runtime.spawnRoot('small', () => store([]));
  a.runtime.spawnRoot('echo', echo);
  b.runtime.spawnRoot('echo', echo);
  return { a, b, seen };
}

async function linkIntact(a: Node, b: Node): Promise<void> {
  await expect(a.runtime.ask('b#/echo', ping(42), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 42 });
  expect(a.bridge.isConnected('b')).toBe(true);
  expect(b.events.filter((e) => e.type === 'peer-down' && e.location === 'a')).toHaveLength(0);
}

/** b closed the raw connection, reporting `code` with a reason matching `reason`. */
async function refused(b: Node, c: RawClient, code: string, reason: RegExp): Promise<void> {
  await c.closedP;
  await until(() => b.events.some((e) => e.type === 'rejected' && e.code === code), `b reports ${code}`);
  expect(b.events.find((e) => e.type === 'rejected' && e.code === code)).toMatchObject({ reason: expect.stringMatching(reason) });
  expect(c.goodbye()).toMatchObject({ code });
}

function part(flags: number, total: number | null, bytes: Uint8Array): Buffer {
  const head = total === null ? 1 : 5;
  const b = Buffer.alloc(5 + head + bytes.length);
  b.writeUInt32BE(1 + head + bytes.length, 0);
  b[4] = FrameKind.Part;
  b[5] = flags;
  if (total !== null) b.writeUInt32BE(total, 6);
  b.set(bytes, 5 + head);
  return b;
}

describe('large messages over the bridge', () => {
  it('carries 16 MiB from a node to another and back intact, letting other messages pass', async () => {
    const { a, b } = await setup();
    const data = pattern(16 * MiB, 1);
    const order: string[] = [];
    const big = a.runtime.ask<ChunkData>('b#/store', write(data), { timeoutMs: 60_000 }).then((r) => {
      order.push('big');
      return r;
    });
    // Sent after the big one, between other actors: it does not wait for 16 MiB to pass.
    const small = a.runtime.ask('b#/echo', ping(7), { timeoutMs: 60_000 }).then((r) => {
      order.push('small');
      return r;
    });
    const [r] = await Promise.all([big, small]);
    expect(r.chunkId).toBe(sha(data));
    expect(r.size).toBe(16 * MiB);
    expect(sha(r.data)).toBe(sha(data));
    expect(order).toEqual(['small', 'big']);
    expect(a.bridge.stats.bytesSent).toBeGreaterThan(16 * MiB);
    await linkIntact(a, b);
  });

  it('keeps the order of messages between the same two actors behind a large one', async () => {
    const { a, b } = await setup();
    const got: number[] = [];
    b.runtime.spawnRoot('order', () => ({
      receive(_ctx: Context, msg: Message) {
        const m = msg as { type: string; offset?: number };
        got.push(m.offset ?? -1);
      },
    }));
    const ref = a.runtime.ref('b#/order');
    ref.tell({ ...write(pattern(3 * MiB, 2)), offset: 0 });
    for (let i = 1; i <= 5; i++) ref.tell({ ...write(new Uint8Array(10)), offset: i });
    ref.tell({ ...write(pattern(2 * MiB, 3)), offset: 6 });
    ref.tell({ ...write(new Uint8Array(10)), offset: 7 });
    await until(() => got.length === 8, 'eight messages', 30_000);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('refuses at the sender, with EMSGSIZE, a message larger than the other node accepts', async () => {
    const { a } = await setup();
    const b2 = await node('b2', { maxMessageBytes: 2 * MiB });
    a.bridge.connect('b2', b2.addr);
    await a.bridge.waitForPeer('b2');
    let err: unknown;
    try {
      a.runtime.ref('b2#/x').tell(write(new Uint8Array(3 * MiB)));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'EMSGSIZE', message: expect.stringMatching(/above the largest message the other end accepts \(2097152 bytes, its maxMessageBytes/) });
    // Just under the limit goes.
    b2.runtime.spawnRoot('store', () => store([]));
    const r = await a.runtime.ask<ChunkData>('b2#/store', write(pattern(2 * MiB - 200, 4)), { timeoutMs: 30_000 });
    expect(r.chunkId).toBe(sha(pattern(2 * MiB - 200, 4)));
  });

  it('closes a link that announces a message over the limit, before buffering it; the node stays up', async () => {
    const { a, b } = await setup();
    const c = await Raw.connect(b.addr);
    await c.handshake('raw');
    await until(() => b.bridge.isConnected('raw'), 'raw authenticated');
    c.write(part(PART_FIRST, 65 * MiB, new Uint8Array(1000)));
    await refused(b, c, 'EMSGSIZE', /oversized message: raw at .* announced 68157440 bytes, the limit is 67108864 \(maxMessageBytes\)/);
    await linkIntact(a, b);
  });

  it('closes a link whose message is truncated (its last part short), or cut off by a close; the node stays up', async () => {
    const { a, b, seen } = await setup();
    const c = await Raw.connect(b.addr);
    await c.handshake('raw');
    await until(() => b.bridge.isConnected('raw'), 'raw authenticated');
    const env = b.runtime.registry.toBytes({ to: 'b#/store', from: 'raw#/x', kind: EnvelopeKind.Tell, corr: 0, msg: write(pattern(200_000, 5)) });
    c.write(part(PART_FIRST, env.length, env.subarray(0, 100_000)));
    c.write(part(PART_LAST, null, env.subarray(100_000, 150_000)));
    await refused(b, c, 'EBADMSG', /truncated message: its last part came after 150000 of the \d+ bytes announced/);

    // A connection that closes mid-message: its parts are dropped, nothing is delivered.
    const d = await Raw.connect(b.addr);
    await d.handshake('raw2');
    await until(() => b.bridge.isConnected('raw2'), 'raw2 authenticated');
    d.write(part(PART_FIRST, env.length, env.subarray(0, 100_000)));
    // A frame cut off mid-way, then the end of the stream.
    d.write(part(0, null, env.subarray(100_000, 150_000)).subarray(0, 30_000));
    d.socket.end();
    await d.closedP;
    await until(() => b.events.some((e) => e.type === 'peer-down' && e.location === 'raw2'), 'raw2 down');
    expect(seen).toEqual([]);
    await linkIntact(a, b);
  });

  it('closes a link that sends a part out of place (no first part, or a new message inside one)', async () => {
    const { a, b } = await setup();
    const c = await Raw.connect(b.addr);
    await c.handshake('raw');
    await until(() => b.bridge.isConnected('raw'), 'raw authenticated');
    c.write(part(PART_LAST, null, new Uint8Array(10)));
    await refused(b, c, 'EPROTO', /a part with no first part before it/);
    const d = await Raw.connect(b.addr);
    await d.handshake('raw3');
    await until(() => b.bridge.isConnected('raw3'), 'raw3 authenticated');
    d.write(part(PART_FIRST, 100, new Uint8Array(10)));
    d.write(part(PART_FIRST, 100, new Uint8Array(10)));
    await until(() => d.closed, 'raw3 closed');
    expect(b.events.some((e) => e.type === 'rejected' && e.code === 'EPROTO' && /a new message began/.test(e.reason))).toBe(true);
    await linkIntact(a, b);
  });
});

describe('large messages over a client connection', () => {
  it('carries 16 MiB from a client to a node and back intact, letting other requests pass', async () => {
    const { a, b } = await setup();
    const conn = await ClientConnection.open(b.addr);
    cleanup(conn);
    const data = pattern(16 * MiB, 6);
    const order: string[] = [];
    const big = conn.ask('b#/store', write(data), 60_000).then((r) => {
      order.push('big');
      return r as ChunkData;
    });
    const small = conn.ask('b#/small', { type: 'govfs.data.ChunkRead', chunkId: 'c', version: 0, offset: 0, length: 3 }, 60_000).then((r) => {
      order.push('small');
      return r as ChunkData;
    });
    const [r, s] = await Promise.all([big, small]);
    expect(r.chunkId).toBe(sha(data));
    expect(sha(r.data)).toBe(sha(data));
    expect(s.chunkId).toBe('small');
    expect(order).toEqual(['small', 'big']);
    await linkIntact(a, b);
  });

  it('refuses at the client, with EMSGSIZE, a request larger than the node accepts', async () => {
    const { b } = await setup();
    const conn = await ClientConnection.open(b.addr);
    cleanup(conn);
    await expect(conn.ask('b#/store', write(new Uint8Array(21 * MiB)), 10_000)).rejects.toMatchObject({
      code: 'EMSGSIZE',
      message: expect.stringMatching(/larger than node b at .* accepts \(20971520 bytes, its maxMessageBytes\)/),
    });
    // The connection is still good.
    await expect(conn.ask('b#/small', { type: 'govfs.data.ChunkRead', chunkId: 'c', version: 0, offset: 0, length: 3 }, 10_000)).resolves.toMatchObject({ chunkId: 'small' });
  });

  it('closes a client that announces a message over its limit; the node stays up', async () => {
    const { a, b } = await setup();
    const { c } = await rawClient(b.addr);
    c.write(part(PART_FIRST, 21 * MiB, new Uint8Array(100)));
    await refused(b, c, 'EMSGSIZE', /oversized message: c[0-9a-f]+@b at .* announced 22020096 bytes, the limit is 20971520/);
    await linkIntact(a, b);
    const conn = await ClientConnection.open(b.addr);
    cleanup(conn);
    await expect(conn.ask('b#/small', { type: 'govfs.data.ChunkRead', chunkId: 'c', version: 0, offset: 0, length: 3 }, 10_000)).resolves.toMatchObject({ chunkId: 'small' });
  });
});

describe('a client facing a hostile node', () => {
  /** A fake node that completes the client handshake, then sends `after` (frames). */
  async function fakeNode(after: (sock: Socket) => void): Promise<{ addr: string; server: Server }> {
    const server = createServer((sock) => {
      sock.on('error', () => {});
      sock.write(handshakeFrame('hello', { version: 1, role: 'peer', location: 'n9', instance: 'i9', nonce: Buffer.alloc(32, 9), maxFrameBytes: 1 << 20 }));
      let got = 0;
      const dec = new FrameDecoder(1 << 20, (kind) => {
        if (kind === FrameKind.Auth && got++ === 0) {
          sock.write(handshakeFrame('auth', { proof: new Uint8Array(0), clientLocation: 'cx@n9', welcomeJson: '', clientId: identity.clientId }));
          after(sock);
        }
      });
      sock.on('data', (c: Buffer) => dec.push(c));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { addr: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
  }
  const identity = clientIdentity();

  for (const [what, frames, code, reason] of [
    ['announces a reply over the client\'s limit', [part(PART_FIRST, 2 * MiB, new Uint8Array(10))], 'EMSGSIZE', /oversized message: node n9 at .* announced 2097152 bytes, the limit is 1048576/],
    ['truncates a reply', [part(PART_FIRST, 1000, new Uint8Array(10)), part(PART_LAST, null, new Uint8Array(10))], 'EBADMSG', /truncated message: its last part came after 20 of the 1000 bytes/],
  ] as const) {
    it(`fails the connection, with a typed error, when the node ${what}`, async () => {
      const { addr, server } = await fakeNode((sock) => {
        for (const f of frames) sock.write(f);
      });
      try {
        const conn = await ClientConnection.open(addr, { identity, maxMessageBytes: MiB });
        const closed = new Promise<Error>((r) => (conn.onClose = r));
        await expect(closed).resolves.toMatchObject({ code, message: expect.stringMatching(reason) });
        await expect(conn.ask('n9#/x', write(new Uint8Array(1)), 1000)).rejects.toMatchObject({ code });
      } finally {
        server.close();
      }
    });
  }
});

describe('the shared budget for clients\' large messages', () => {
  it('makes a client wait while another\'s message fills it, then serves it; nothing stays held', async () => {
    // Raw clients send no heartbeats: a period long enough for the test.
    const b = await node('b', { heartbeatMs: 2000, clients: { allowTarget: (to) => to === 'b#/store', allowTypes: CLIENT_TYPES, maxPartialBytes: 3 * MiB, maxQueueBytes: 64 * MiB } });
    const seen: Message[] = [];
    b.runtime.spawnRoot('store', () => store(seen));
    const env = (seed: number): Uint8Array => b.runtime.registry.toBytes({ to: 'b#/store', from: '', kind: EnvelopeKind.Ask, corr: seed, msg: write(pattern(2 * MiB, seed)) });
    const one = await rawClient(b.addr);
    const two = await rawClient(b.addr);
    const e1 = env(1);
    const e2 = env(2);
    // One holds 2 MiB of the 3 MiB budget; the other's 2 MiB does not fit: it waits, unread.
    const K = 512 * 1024; // parts within the client frame limit (1 MiB)
    /** Bytes [from, to) of `e` as parts: the first announces the total, the one at the end is last. */
    const parts = (c: RawClient, e: Uint8Array, from: number, to: number): void => {
      for (let at = from; at < to; at += K) {
        const end = Math.min(to, at + K);
        c.write(part((at === 0 ? PART_FIRST : 0) | (end === e.length ? PART_LAST : 0), at === 0 ? e.length : null, e.subarray(at, end)));
      }
    };
    parts(one.c, e1, 0, MiB);
    await until(() => b.bridge.slotsHeld().partialBytes === e1.length, 'the first client holds its share');
    parts(two.c, e2, 0, e2.length);
    await until(() => b.bridge.stats.partialWaits === 1, 'the second client waits');
    expect(seen).toEqual([]);
    // The first completes: its share goes to the second, which is read again and served.
    parts(one.c, e1, MiB, e1.length);
    await until(() => seen.length === 2, 'both messages delivered', 20_000);
    await until(() => b.bridge.slotsHeld().partialBytes === 0, 'nothing held');
    // A client that leaves mid-message gives its share back.
    one.c.write(part(PART_FIRST, e1.length, e1.subarray(0, 1000)));
    await until(() => b.bridge.slotsHeld().partialBytes === e1.length, 'the first client holds its share again');
    one.c.socket.destroy();
    await until(() => b.bridge.slotsHeld().partialBytes === 0, 'its share given back');
    expect(b.events.filter((e) => e.type === 'rejected')).toEqual([]);
  });
});

function cleanup(conn: ClientConnection): void {
  afterEachClose.push(conn);
}
const afterEachClose: ClientConnection[] = [];
afterEach(async () => {
  for (const c of afterEachClose.splice(0)) await c.close();
});
