// Shared fixtures for the bridge tests: runtimes with bridges on loopback (ephemeral ports),
// log capture, raw sockets that speak (or break) the bridge protocol, and waiting for
// conditions with deadlines.

import net from 'node:net';
import pino, { type Logger } from 'pino';
import { Bridge, type BridgeEvent, type BridgeOptions, handshakeFrame, handshakeProof } from '../../src/net/bridge.js';
import { type ClientIdentity, clientIdentity, identityTranscript } from '../../src/net/client-identity.js';
import { FrameDecoder, FrameKind } from '../../src/wire/frame.js';
import { MessageRegistry } from '../../src/wire/registry.js';
import { decodeHandshake } from '../../src/net/bridge.js';
import { RealDispatcher } from '../../src/runtime/real-dispatcher.js';
import { LocalRuntime } from '../../src/runtime/runtime.js';

export const SECRET = Buffer.from('correct horse battery staple, 32b');
export const registry = MessageRegistry.standard();

export interface LogLine {
  level: number;
  msg: string;
  code?: string;
  remote?: string;
  [k: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: process.env.GOVFS_LOG ?? 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

export interface Node {
  location: string;
  runtime: LocalRuntime;
  bridge: Bridge;
  lines: LogLine[];
  events: BridgeEvent[];
  /** 'host:port' the bridge listens on. */
  addr: string;
}

/** Everything started by a test, stopped in afterEach. */
export const cleanup: (() => Promise<void> | void)[] = [];

export async function stopAll(): Promise<void> {
  const fns = cleanup.splice(0).reverse();
  for (const fn of fns) await fn();
}

/** A LocalRuntime (real time) with a started, installed Bridge listening on 127.0.0.1:port. */
export async function node(location: string, opts: Partial<BridgeOptions> & { port?: number } = {}): Promise<Node> {
  const { logger, lines } = captureLogger();
  const runtime = new LocalRuntime({ location, dispatcher: new RealDispatcher(), registry, logger });
  const events: BridgeEvent[] = [];
  const { port, ...rest } = opts;
  const bridge = new Bridge({
    runtime,
    secret: SECRET,
    listen: { host: '127.0.0.1', port: port ?? 0 },
    heartbeatMs: 250,
    handshakeTimeoutMs: 2000,
    reconnect: { minMs: 20, maxMs: 200 },
    onEvent: (e) => events.push(e),
    ...rest,
  }).install();
  await bridge.start();
  cleanup.push(async () => {
    await bridge.stop({ abrupt: true });
    runtime.stopAll();
  });
  const a = bridge.address;
  return { location, runtime, bridge, lines, events, addr: a ? `${a.host}:${a.port}` : '' };
}

/** Two linked nodes: `a` dials `b`. */
export async function pair(opts: Partial<BridgeOptions> = {}): Promise<[Node, Node]> {
  const b = await node('b', opts);
  const a = await node('a', opts);
  a.bridge.connect('b', b.addr);
  await a.bridge.waitForPeer('b', 10_000);
  await b.bridge.waitForPeer('a', 10_000);
  return [a, b];
}

/** Wait until `cond` holds, polling, with a deadline (no fixed sleeps). */
export async function until(cond: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw TCP client for hostile-input tests: collects the frames it receives. */
export class RawClient {
  readonly socket: net.Socket;
  readonly frames: { kind: number; payload: Uint8Array }[] = [];
  closed = false;
  readonly closedP: Promise<void>;
  private readonly decoder = new FrameDecoder(1 << 24, (kind, payload) => this.frames.push({ kind, payload: Uint8Array.from(payload) }));

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      try {
        this.decoder.push(c);
      } catch {
        // the tests look at frames, not at a broken stream from the server
      }
    });
    socket.on('error', () => {});
    this.closedP = new Promise((r) => socket.once('close', () => {
      this.closed = true;
      r();
    }));
  }

  static async connect(addr: string): Promise<RawClient> {
    const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
    const socket = net.connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    cleanup.push(() => void socket.destroy());
    return c;
  }

  write(b: Uint8Array | string): void {
    this.socket.write(b);
  }

  /** The server's hello (its first frame). */
  async serverHello(): Promise<{ location: string; instance: string; nonce: Uint8Array }> {
    await until(() => this.frames.length > 0 || this.closed, 'server hello');
    const f = this.frames[0]!;
    if (f.kind !== FrameKind.Hello) throw new Error(`first frame is kind ${f.kind}`);
    const h = decodeHandshake(f.kind, f.payload) as { location: string; instance: string; nonce: Uint8Array };
    return h;
  }

  /** Complete the handshake as peer `location` knowing `secret` (the server then sends Auth). */
  async handshake(location: string, secret: Uint8Array = SECRET): Promise<void> {
    const server = await this.serverHello();
    const own = { location, instance: 'raw-1', nonce: Buffer.alloc(32, 7) };
    this.write(handshakeFrame('hello', { version: 1, role: 'peer', ...own, maxFrameBytes: 1 << 20 }));
    this.write(handshakeFrame('auth', { proof: handshakeProof(secret, 'dial', own, server) }));
    await until(() => this.frames.some((f) => f.kind === FrameKind.Auth) || this.closed, 'server auth');
  }

  /** The reason the server gave when it closed (its Goodbye), if any. */
  goodbye(): { code: string; reason: string } | null {
    const f = this.frames.find((x) => x.kind === FrameKind.Goodbye);
    return f ? (decodeHandshake(f.kind, f.payload) as { code: string; reason: string }) : null;
  }
}

/** A raw socket that completes the client handshake: proves `token` if given, and the
 * identity (a fresh one by default; `identity: null` sends none, `badSignature` a wrong one).
 * Rejects ('refused') if the node closes instead of answering with its Auth. */
export async function rawClient(
  addr: string,
  opts: { token?: Uint8Array; identity?: ClientIdentity | null; badSignature?: boolean } = {},
): Promise<{ c: RawClient; location: string; clientId: string }> {
  const c = await RawClient.connect(addr);
  const server = await c.serverHello();
  const own = { location: 'client', instance: 'raw-client', nonce: Buffer.alloc(32, 3) };
  const identity = opts.identity === undefined ? clientIdentity() : opts.identity;
  const proof = opts.token ? handshakeProof(opts.token, 'dial', own, server) : new Uint8Array(0);
  let auth: { proof: Uint8Array; clientKey?: Uint8Array; clientSignature?: Uint8Array } = { proof };
  if (identity) {
    const transcript = identityTranscript(server, own, identity.publicKey);
    if (opts.badSignature) transcript[transcript.length - 1]! ^= 1;
    auth = { proof, clientKey: identity.publicKey, clientSignature: identity.sign(transcript) };
  }
  c.write(handshakeFrame('hello', { version: 1, role: 'client', location: '', instance: own.instance, nonce: own.nonce, maxFrameBytes: 1 << 20 }));
  c.write(handshakeFrame('auth', auth));
  await until(() => c.frames.some((f) => f.kind === FrameKind.Auth) || c.closed, 'server auth');
  const frame = c.frames.find((f) => f.kind === FrameKind.Auth);
  if (!frame) throw new Error('refused');
  const a = decodeHandshake(FrameKind.Auth, frame.payload) as { clientLocation: string; clientId: string };
  return { c, location: a.clientLocation, clientId: a.clientId };
}
