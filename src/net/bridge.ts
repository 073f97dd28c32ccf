// The TCP bridge: joins the LocalRuntimes of different hosts, so a `Ref` to an actor on another
// host is used exactly like a local one, and serves GovFS clients on the same port. The design
// (wire, handshake, admission, links, liveness, queues, hostile input, clients, TLS) is in
// docs/bridge.md. This file composes the parts and owns what they share: the listener, each
// connection's reads, handshake deadline and close, and the heartbeat timer. The parts:
//   src/net/handshake.ts       Hello/Auth/Goodbye and the proofs (shared with the client end)
//   src/net/link.ts            a connection and a destination's outbound queue
//   src/net/node-links.ts      node links: dialing, one link per pair, backpressure, liveness
//   src/net/client-gateway.ts  clients: identity, slots, confinement, forwarding
//   src/net/admission.ts       connection limits and refusals
//   src/net/refusals.ts        refused connections: the Goodbye, counting, rate-limited logs
//   src/net/tls-config.ts      TLS options for the port, the dials and clients
//
// Wiring:
//   const bridge = new Bridge({ runtime, secret, listen: { host: '0.0.0.0', port: 7100 },
//                               peers: { n2: '10.0.0.2:7100' } }).install();
//   await bridge.start();
//   runtime.ref('n2#/node/clerk').tell(msg);          // travels to n2 like a local tell

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { RuntimeError } from '../runtime/errors.js';
import { handOver } from '../runtime/hand-over.js';
import type { LocalRuntime, Transport } from '../runtime/runtime.js';
import { AdmissionError, Refusal, SlotTable, addressKey, refusalOf } from './admission.js';
import type { BridgeEvent, BridgeOptions, BridgeStats, PeerInfo } from './bridge-types.js';
import { linkInfo } from './bridge-types.js';
import { ClientGateway } from './client-gateway.js';
import { FrameError, FrameKind } from '../wire/frame.js';
import { BRIDGE_PROTOCOL_VERSION, HANDSHAKE_MAX_FRAME_BYTES, LOCATION_RE, decodeAuth, decodeGoodbye, decodeHello, goodbyeFrame, helloFrame } from './handshake.js';
import { type CloseOptions, Conn, ConnState, type LinkHost, type Peer } from './link.js';
import { NodeLinks } from './node-links.js';
import { Refusals } from './refusals.js';
import type { MessageRegistry, WireEnvelope } from '../wire/registry.js';
import { type BridgeTls, bridgeTls } from './tls-config.js';

export type { BridgeClientOptions, BridgeEvent, BridgeOptions, BridgeStats, PeerInfo } from './bridge-types.js';
export { CLIENT_MESSAGE_TYPES } from './bridge-types.js';
export type { BridgeTlsOptions, ClientTlsOptions } from './tls-config.js';
export { BRIDGE_PROTOCOL_VERSION, CLIENT_PROOF_LOCATION, HANDSHAKE_MAX_FRAME_BYTES, decodeHandshake, handshakeFrame, handshakeProof, parseHostPort } from './handshake.js';

/** Largest message accepted by default, whole or in parts (`maxMessageBytes`). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** The wire's own bound on a message (a part announces the total in 32 bits). */
const MAX_MESSAGE_BYTES_LIMIT = 0xffff_ffff;

export class Bridge {
  readonly location: string;
  readonly runtime: LocalRuntime;
  readonly registry: MessageRegistry;
  readonly stats: BridgeStats = {
    sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, dropped: 0, droppedBytes: 0,
    rejected: 0, misrouted: 0, accepted: 0, dials: 0, heartbeatTimeouts: 0, clients: 0, clientsOpen: 0, forged: 0, handshaking: 0, partialWaits: 0,
  };
  /** Random per start: lets peers tell our restart from a duplicate link. */
  instance = '';
  private readonly secret: Uint8Array;
  private readonly log: Logger;
  private readonly maxFrameBytes: number;
  private readonly maxMessageBytes: number;
  private readonly heartbeatMs: number;
  private readonly missedHeartbeats: number;
  private readonly handshakeTimeoutMs: number;
  private readonly stallTimeoutMs: number;
  private readonly handshakeSlots: SlotTable;
  private readonly inboundTimeoutMs: number;
  private readonly refusals: Refusals;
  private readonly listenOn: { host?: string; port: number } | undefined;
  private readonly tls: BridgeTls | null;
  private readonly links: NodeLinks;
  /** The node links' destinations, by location (the links' own map). */
  private readonly peers: Map<string, Peer>;
  private readonly gateway: ClientGateway | null;
  /** Connected clients by their location (the gateway's map; empty without clients). */
  private readonly clients: Map<string, Peer>;
  private readonly conns = new Set<Conn>();
  private readonly listeners = new Set<(e: BridgeEvent) => void>();
  private server: net.Server | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private running = false;
  private stopped = false;
  private boundAddress: { host: string; port: number } | null = null;

  constructor(opts: BridgeOptions) {
    this.runtime = opts.runtime;
    this.registry = opts.registry ?? opts.runtime.registry;
    this.location = opts.location ?? opts.runtime.location;
    if (this.location !== opts.runtime.location) {
      throw new RuntimeError('EINVAL', `bridge location "${this.location}" differs from its runtime's location "${opts.runtime.location}"`);
    }
    if (!LOCATION_RE.test(this.location)) throw new RuntimeError('EINVAL', `bad location "${this.location}" for a bridge (letters, digits and _.:@$- only)`);
    if (!(opts.secret instanceof Uint8Array) || opts.secret.length < 16) {
      throw new RuntimeError('EINVAL', 'the cluster secret must be at least 16 bytes');
    }
    this.secret = Uint8Array.from(opts.secret);
    this.maxFrameBytes = opts.maxFrameBytes ?? 16 * 1024 * 1024;
    // A frame limit set without a message limit bounds messages too (as before parts).
    this.maxMessageBytes = opts.maxMessageBytes ?? (opts.maxFrameBytes !== undefined ? opts.maxFrameBytes : DEFAULT_MAX_MESSAGE_BYTES);
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.missedHeartbeats = opts.missedHeartbeats ?? 3;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
    this.handshakeSlots = new SlotTable('handshake', opts.maxHandshakes ?? 256, opts.maxHandshakesPerAddress ?? 16);
    this.inboundTimeoutMs = Math.min(opts.inboundHandshakeTimeoutMs ?? 3000, this.handshakeTimeoutMs);
    this.listenOn = opts.listen;
    this.log = (opts.logger ?? this.runtime.log).child({ component: 'bridge', location: this.location });
    this.refusals = new Refusals(this.stats, this.log, (e) => this.emit(e), opts.refusalLogIntervalMs ?? 10_000);
    if (opts.onEvent) this.listeners.add(opts.onEvent);
    if (this.maxFrameBytes < HANDSHAKE_MAX_FRAME_BYTES) throw new RuntimeError('EINVAL', `maxFrameBytes must be at least ${HANDSHAKE_MAX_FRAME_BYTES}`);
    if (!(this.maxMessageBytes >= 1 && this.maxMessageBytes <= MAX_MESSAGE_BYTES_LIMIT)) throw new RuntimeError('EINVAL', `maxMessageBytes must be between 1 and ${MAX_MESSAGE_BYTES_LIMIT}, got ${this.maxMessageBytes}`);
    this.tls = opts.tls ? bridgeTls(opts.tls, { handshakeTimeoutMs: this.handshakeTimeoutMs, servesClients: !!opts.clients }) : null;
    const host = this.linkHost();
    const newPeer = (location: string, limit: number): Peer => this.links.newPeer(location, limit);
    const replay = (conn: Conn, frames: { kind: number; data: Uint8Array | Uint8Array[] }[]): void => {
      try {
        for (const f of frames) if (conn.state !== ConnState.Closed) this.onFrame(conn, f.kind, f.data);
      } catch (e) {
        this.refuseFrame(conn, e);
      }
    };
    this.gateway = opts.clients ? new ClientGateway(host, opts.clients, newPeer, replay) : null;
    this.clients = this.gateway?.clients ?? new Map();
    this.links = new NodeLinks(host, {
      maxQueueBytes: opts.maxQueueBytes ?? 64 * 1024 * 1024,
      backoffMinMs: opts.reconnect?.minMs ?? 100,
      backoffMaxMs: opts.reconnect?.maxMs ?? 5000,
      tlsDial: this.tls?.dial ?? null,
      track: (socket, dialed, remote, key) => this.track(socket, dialed, remote, key),
      sendHello: (conn) => this.sendHello(conn),
    }, this.gateway);
    this.peers = this.links.peers;
    for (const [location, address] of Object.entries(opts.peers ?? {})) this.links.addPeer(location, address);
  }

  /** What the parts see of this bridge. */
  private linkHost(): LinkHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      location: this.location,
      get instance() {
        return self.instance;
      },
      runtime: this.runtime,
      registry: this.registry,
      stats: this.stats,
      log: this.log,
      maxFrameBytes: this.maxFrameBytes,
      maxMessageBytes: this.maxMessageBytes,
      get running() {
        return self.running;
      },
      get stopped() {
        return self.stopped;
      },
      emit: (e) => this.emit(e),
      close: (conn, code, reason, opts) => this.close(conn, code, reason, opts),
      endHandshake: (conn) => this.endHandshake(conn),
      send: (peer, env) => this.links.send(peer, env),
    };
  }

  // ---- public API ---------------------------------------------------------------------------

  /** Listen (if configured) and dial the configured peers. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.stopped = false;
    this.instance = randomBytes(8).toString('hex');
    this.heartbeat = setInterval(() => this.tick(), this.heartbeatMs);
    this.heartbeat.unref();
    if (this.listenOn) {
      const tlsServer = this.tls?.server ?? null;
      const server = tlsServer ? tls.createServer(tlsServer) : net.createServer({ noDelay: true });
      this.server = server;
      (server as net.Server).on(tlsServer ? 'secureConnection' : 'connection', (socket: net.Socket) => this.accept(socket));
      server.on('tlsClientError', (err: Error, socket: net.Socket) => {
        this.refusals.reject(`${socket.remoteAddress}:${socket.remotePort}`, addressKey(socket.remoteAddress), null, 'ETLS', `TLS handshake failed: ${err.message}`);
      });
      const { host, port } = this.listenOn;
      await new Promise<void>((resolve, reject) => {
        const onError = (e: Error): void => reject(new RuntimeError('EADDRINUSE', `bridge ${this.location} cannot listen on ${host ?? '*'}:${port}: ${e.message}`, { cause: e }));
        server.once('error', onError);
        server.listen({ host, port }, () => {
          server.off('error', onError);
          server.on('error', (e) => this.log.error({ err: e }, 'bridge server error'));
          resolve();
        });
      }).catch(async (e: unknown) => {
        await this.stop();
        throw e;
      });
      const a = server.address() as net.AddressInfo;
      this.boundAddress = { host: a.address, port: a.port };
      this.log.info({ address: this.boundAddress, tls: !!tlsServer }, 'bridge listening');
    }
    for (const peer of this.peers.values()) this.links.dial(peer);
  }

  /** Where this bridge listens (after start), e.g. to tell peers about an ephemeral port. */
  get address(): { host: string; port: number } | null {
    return this.boundAddress;
  }

  /** Dial `location` at 'host:port' (now if started, else on start), and redial it after a
   * link drops. */
  connect(location: string, address: string): void {
    const peer = this.links.addPeer(location, address);
    if (this.running) this.links.dial(peer);
  }

  /** Refuse node `location` from now on (it was removed from the cluster): its links close,
   * it is not dialed again, and its Hello is answered with `why`. */
  refusePeer(location: string, why: string): void {
    this.links.refused.set(location, why);
    const peer = this.peers.get(location);
    if (!peer) return;
    this.peers.delete(location);
    if (peer.reconnectTimer) clearTimeout(peer.reconnectTimer);
    peer.reconnectTimer = null;
    for (const conn of [peer.conn, peer.dialing]) if (conn) this.close(conn, 'EACCES', why, { goodbye: true, level: 'info' });
  }

  /** The transport for this bridge's peers: throws EHOSTUNREACH for any other location, and
   * EncodeError for a message that cannot travel. */
  readonly transport: Transport = (location, env) => {
    const peer = this.peers.get(location) ?? this.viaClientOrGateway(location);
    if (peer === undefined) {
      throw new RuntimeError('EHOSTUNREACH', `no route from ${this.location} to location ${location}: not a peer of its bridge (add it to peers or connect() it)`);
    }
    this.links.send(peer, env);
  };

  /** A transport that sends to this bridge's peers (and clients) and everything else through
   * `fallback`. */
  route(fallback: Transport): Transport {
    return (location, env) => {
      const peer = this.peers.get(location) ?? this.viaClientOrGateway(location);
      if (peer === undefined) fallback(location, env);
      else this.links.send(peer, env);
    };
  }

  /** A client of ours, or a client `x@gw` of peer `gw` (routed through that peer). */
  private viaClientOrGateway(location: string): Peer | undefined {
    const client = this.clients.get(location);
    if (client !== undefined) return client;
    const at = location.lastIndexOf('@');
    return at < 0 ? undefined : this.peers.get(location.slice(at + 1));
  }

  /** The clients connected now (location, queue, counters). */
  clientInfo(): PeerInfo[] {
    return this.gateway?.info() ?? [];
  }

  /** Admission slots held now: unauthenticated inbound connections and clients, and the bytes
   * of clients' large messages in progress (a leak check: all are 0 once every connection has
   * closed). */
  slotsHeld(): { handshakes: number; clients: number; partialBytes: number } {
    return { handshakes: this.handshakeSlots.size, clients: this.gateway?.slotsHeld ?? 0, partialBytes: this.gateway?.partialBytes ?? 0 };
  }

  /** Chain this bridge into its runtime's transport (peers here, the rest as before). */
  install(): this {
    this.runtime.transport = this.route(this.runtime.transport);
    return this;
  }

  /** Is there an authenticated link to `location`? */
  isConnected(location: string): boolean {
    return !!this.peers.get(location)?.conn;
  }

  /** Resolves once `location` is linked (at once if it is); rejects with ETIMEDOUT. */
  waitForPeer(location: string, timeoutMs = 10_000): Promise<void> {
    if (this.isConnected(location)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const off = this.on((e) => {
        if (e.type === 'peer-up' && e.location === location) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
      const timer = setTimeout(() => {
        off();
        reject(new RuntimeError('ETIMEDOUT', `bridge ${this.location}: no link to ${location} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  /** Subscribe to peer up/down, overflow and rejected-connection events; returns unsubscribe. */
  on(listener: (e: BridgeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  peerInfo(): PeerInfo[] {
    return [...this.peers.values()].map((p) => linkInfo(p, p.address));
  }

  /** Stop: close the listener and every link. Gracefully (pending frames flushed, a Goodbye,
   * then FIN) unless `abrupt` (sockets destroyed at once, as if the process died). */
  async stop(opts: { abrupt?: boolean } = {}): Promise<void> {
    this.running = false;
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.links.stop(opts.abrupt ?? false);
    const closing: Promise<void>[] = [];
    for (const conn of [...this.conns]) {
      if (!conn.socket.destroyed) closing.push(new Promise<void>((r) => conn.socket.once('close', () => r())));
      if (opts.abrupt) {
        try {
          if (!conn.socket.destroyed && !this.tls) conn.socket.resetAndDestroy();
        } catch {
          // not a TCP handle (yet): destroy() below
        }
        this.close(conn, 'ESHUTDOWN', 'bridge stopped abruptly', { level: 'debug' });
      } else {
        this.close(conn, 'ESHUTDOWN', `${this.location} is shutting down`, { level: 'debug', goodbye: true });
      }
    }
    // Every client connection is closed by now, and with it its actor: the gateway actor goes.
    this.gateway?.stop();
    this.refusals.destroyAll();
    const server = this.server;
    this.server = null;
    if (server) closing.push(new Promise<void>((r) => server.close(() => r())));
    this.boundAddress = null;
    await Promise.all(closing);
  }

  // ---- connections --------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (!this.running) {
      socket.destroy();
      return;
    }
    const key = addressKey(socket.remoteAddress);
    const refused = this.handshakeSlots.take(key);
    if (refused) {
      this.refusals.refuseSocket(socket, remote, key, refused);
      return;
    }
    this.stats.handshaking++;
    socket.setNoDelay(true);
    this.stats.accepted++;
    const conn = this.track(socket, false, remote, key);
    conn.handshakeSlot = true;
    if (this.tls?.clientsWithoutCert && !this.certify(conn, socket as tls.TLSSocket)) return;
    this.sendHello(conn);
  }

  /** Over TLS with clients served, the TLS layer let through a connection with no certificate or
   * one the CA did not sign: the first may be a client (not a node), the second is refused. */
  private certify(conn: Conn, socket: tls.TLSSocket): boolean {
    if (socket.authorized) return true;
    conn.certified = false;
    const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
    if (!presented) return true;
    this.close(conn, 'ETLS', `TLS handshake failed: ${String(socket.authorizationError)} (a certificate the cluster CA did not sign)`, { hostile: true });
    return false;
  }

  private track(socket: net.Socket, dialed: boolean, remote: string, key: string): Conn {
    const conn = new Conn(socket, dialed, remote, this.onFrame);
    conn.addressKey = key;
    this.conns.add(conn);
    const deadline = dialed ? this.handshakeTimeoutMs : this.inboundTimeoutMs;
    conn.handshakeTimer = setTimeout(() => {
      const what = dialed && conn.peerLocation === null && !conn.peerNonce ? 'connect and handshake' : 'handshake';
      this.close(conn, 'ETIMEDOUT', `${what} not completed within ${deadline} ms`, { goodbye: true, hostile: !dialed, level: dialed ? 'info' : 'warn', refusal: Refusal.HandshakeTimeout });
    }, deadline);
    socket.on('data', (chunk: Buffer) => {
      if (conn.state === ConnState.Closed) return;
      conn.rx = true;
      this.stats.bytesReceived += chunk.length;
      try {
        conn.decoder.push(chunk);
      } catch (e) {
        this.refuseFrame(conn, e);
      }
    });
    socket.on('error', (e: Error) => {
      conn.lastError = e.message;
    });
    socket.on('close', () => {
      if (conn.killTimer) clearTimeout(conn.killTimer);
      if (conn.state !== ConnState.Closed) {
        const open = conn.state === ConnState.Open;
        this.close(conn, 'ECONNRESET', conn.lastError ? `connection lost: ${conn.lastError}` : 'connection closed by the other end', { level: open ? 'info' : 'debug' });
      }
    });
    return conn;
  }

  /** A frame broke the protocol (or a handler refused it): close with why. */
  private refuseFrame(conn: Conn, e: unknown): void {
    const raw = (e as RuntimeError).code ?? 'EPROTO';
    const code = typeof raw === 'string' ? raw : 'EPROTO';
    const refusal = e instanceof AdmissionError ? e.refusal : refusalOf(code);
    this.close(conn, code, (e as Error).message, { goodbye: true, hostile: true, refusal });
  }

  private sendHello(conn: Conn): void {
    conn.write(helloFrame({ version: BRIDGE_PROTOCOL_VERSION, role: 'peer', location: this.location, instance: this.instance, nonce: conn.nonce, maxFrameBytes: this.maxFrameBytes, maxMessageBytes: this.maxMessageBytes }));
  }

  /** A frame; a Part that straddled reads comes as pieces (FrameDecoder.gather). */
  private readonly onFrame = (conn: Conn, kind: number, data: Uint8Array | Uint8Array[]): void => {
    // A client waits for the shared budget of large messages (the gateway keeps the frame).
    if (conn.client && conn.state === ConnState.Open && !this.gateway!.admit(conn, kind, data)) return;
    if (kind === FrameKind.Part && conn.state === ConnState.Open) {
      const whole = conn.parts.push(data); // throws FrameError: the connection closes
      if (whole !== null) {
        if (conn.client) this.gateway!.release(conn);
        this.onEnvelope(conn, whole, true);
      }
      return;
    }
    const payload = data instanceof Uint8Array ? data : Buffer.concat(data);
    if (kind === FrameKind.Envelope && conn.state === ConnState.Open) {
      this.onEnvelope(conn, payload, false);
      return;
    }
    switch (kind) {
      case FrameKind.Heartbeat:
        if (conn.state !== ConnState.Open) throw new FrameError('EPROTO', 'heartbeat before authentication');
        return;
      case FrameKind.Goodbye: {
        const { code, reason } = decodeGoodbye(payload);
        const level = code === 'EDUPLICATE' || code === 'ESHUTDOWN' ? 'debug' : 'info';
        this.close(conn, code, `the other end closed the link: ${reason || code}`, { level });
        return;
      }
      case FrameKind.Hello:
        if (conn.state !== ConnState.Hello) throw new FrameError('EPROTO', 'a second hello');
        this.onHello(conn, payload);
        return;
      case FrameKind.Auth:
        if (conn.state !== ConnState.Auth) throw new FrameError('EPROTO', conn.state === ConnState.Hello ? 'auth before hello' : 'a second auth');
        this.onAuth(conn, payload);
        return;
      case FrameKind.Envelope:
      case FrameKind.Part:
        throw new FrameError('EACCES', 'actor envelope before authentication');
      default:
        throw new FrameError('EPROTO', `unknown frame kind ${kind}`);
    }
  };

  private onHello(conn: Conn, payload: Uint8Array): void {
    const h = decodeHello(payload);
    if (h.role === 'client') {
      if (!this.gateway || conn.dialed) throw new FrameError('EACCES', 'client connections are not served on the cluster port');
      this.gateway.onHello(conn, h);
      return;
    }
    if (h.role !== 'peer') throw new FrameError('EPROTO', `unknown role "${h.role}" in hello`);
    if (!conn.certified) throw new FrameError('EACCES', 'a node link over TLS needs a certificate the cluster CA signed; this connection presented none (only clients may connect without one)');
    this.links.onHello(conn, h, this.secret);
  }

  private onAuth(conn: Conn, payload: Uint8Array): void {
    const auth = decodeAuth(payload);
    if (!conn.client) {
      this.links.onAuth(conn, auth, this.secret);
      return;
    }
    try {
      this.gateway!.onAuth(conn, auth);
    } catch (e) {
      if (e instanceof FrameError) throw e;
      throw new FrameError('EBADMSG', `malformed auth: ${(e as Error).message}`);
    }
  }

  /** `assembled`: the payload is a buffer of its own, reassembled from parts: its bytes fields
   * stay views of it (no copy). */
  private onEnvelope(conn: Conn, payload: Uint8Array, assembled: boolean): void {
    let env: WireEnvelope;
    try {
      env = this.registry.decode(payload, !assembled);
    } catch (e) {
      throw new FrameError('EBADMSG', `corrupt envelope: ${(e as Error).message}`);
    }
    // Nothing on this thread keeps a reassembled buffer when the message goes on to another
    // thread (or to a client's connection actor, which only passes it on): it may move there
    // without a copy (src/runtime/ring-side.ts).
    if (assembled && (conn.client || !env.to.startsWith(`${this.location}#`))) handOver(payload);
    if (conn.client) this.gateway!.onEnvelope(conn, env);
    else this.links.onEnvelope(conn, env);
  }

  private endHandshake(conn: Conn): void {
    if (conn.handshakeTimer) {
      clearTimeout(conn.handshakeTimer);
      conn.handshakeTimer = null;
    }
    if (conn.handshakeSlot) {
      conn.handshakeSlot = false;
      this.handshakeSlots.release(conn.addressKey);
      this.stats.handshaking--;
    }
    this.links.endInbound(conn);
  }

  /** Close a connection with a logged reason; `hostile` counts and reports it as rejected. */
  private close(conn: Conn, code: string, reason: string, opts: CloseOptions = {}): void {
    if (conn.state === ConnState.Closed) return;
    const wasOpen = conn.state === ConnState.Open;
    conn.state = ConnState.Closed;
    conn.decoder.stop();
    conn.parts.reset();
    this.endHandshake(conn);
    this.conns.delete(conn);
    const hostile = opts.hostile ?? false;
    this.gateway?.releaseSlot(conn);
    if (hostile) {
      this.refusals.reject(conn.remote, conn.addressKey, conn.peerLocation, code, reason);
    } else {
      this.log[opts.level ?? 'info']({ remote: conn.remote, peer: conn.peerLocation, code, dialed: conn.dialed }, `bridge connection closed: ${reason}`);
    }
    const socket = conn.socket;
    if (opts.goodbye && !socket.destroyed && socket.writable) {
      socket.end(goodbyeFrame(code, reason, opts.refusal ?? Refusal.Unspecified));
      conn.killTimer = setTimeout(() => socket.destroy(), 2000);
      conn.killTimer.unref();
    } else {
      socket.destroy();
    }
    const peer = conn.peer;
    if (!peer) return;
    if (conn.client) this.gateway?.closed(conn, peer, code, reason);
    else this.links.closed(conn, peer, wasOpen, hostile, code, reason);
  }

  private tick(): void {
    const now = performance.now();
    this.refusals.summarize(now);
    for (const conn of this.conns) {
      if (conn.state !== ConnState.Open) continue;
      this.links.liveness(conn, now, this.heartbeatMs, this.missedHeartbeats, this.stallTimeoutMs);
    }
  }

  private emit(e: BridgeEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err, event: e.type }, 'bridge event listener threw');
      }
    }
  }
}
