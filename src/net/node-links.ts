// The bridge's node links: one authenticated link per pair of nodes, dialed by the lower
// location and redialed with backoff after it drops; the outbound queue per destination
// (bounded in bytes, flushed once per event-loop turn) with its overflow reporting; and the
// heartbeat and stall checks every open connection gets. Design: docs/bridge.md, "One link per
// pair of nodes", "Liveness" and "Outbound queue".

import net from 'node:net';
import tls from 'node:tls';
import { RuntimeError } from '../runtime/errors.js';
import { addressKey } from './admission.js';
import { FRAME_OVERHEAD, FrameError, FrameKind, frameBytes } from '../wire/frame.js';
import { PART_HIGH_WATER, WHOLE_FRAME_MAX } from '../wire/parts.js';
import { type AuthMsg, type Hello, LOCATION_RE, authFrame, checkHelloIds, handshakeProof, parseHostPort, proofMatches } from './handshake.js';
import { Conn, ConnState, type LinkHost, Peer } from './link.js';
import { EnvelopeKind, type WireEnvelope } from '../wire/registry.js';

/** What node links need from the client gateway (null without clients). */
export interface ClientSide {
  /** The client at this location, if it is connected here. */
  at(location: string): Peer | undefined;
}

export interface NodeLinksOptions {
  maxQueueBytes: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  tlsDial: tls.ConnectionOptions | null;
  /** Start tracking a new connection (the bridge's: handshake deadline, reads, close). */
  track: (socket: net.Socket, dialed: boolean, remote: string, key: string) => Conn;
  /** Send this end's Hello on a connection. */
  sendHello: (conn: Conn) => void;
}

const HEARTBEAT = frameBytes(FrameKind.Heartbeat);

export class NodeLinks {
  /** The nodes we link to (configured, connect()ed, or that dialed in), by location. */
  readonly peers = new Map<string, Peer>();
  /** Nodes removed from the cluster (issue 20), refused at their Hello with why. */
  readonly refused = new Map<string, string>();
  /** Unauthenticated inbound connections by the location their Hello claims. */
  private readonly inbound = new Map<string, number>();
  /** Addresses of actors here start with this. */
  private readonly prefix: string;

  constructor(
    private readonly host: LinkHost,
    private readonly opts: NodeLinksOptions,
    private readonly clients: ClientSide | null,
  ) {
    this.prefix = `${host.location}#`;
  }

  addPeer(location: string, address: string | null): Peer {
    const self = this.host.location;
    if (location === self) throw new RuntimeError('EINVAL', `bridge ${self} cannot peer with its own location`);
    if (!LOCATION_RE.test(location)) throw new RuntimeError('EINVAL', `bad peer location "${location}" (letters, digits and _.:@$- only)`);
    if (address !== null) parseHostPort(address);
    let peer = this.peers.get(location);
    if (!peer) {
      peer = this.newPeer(location, this.opts.maxQueueBytes);
      this.peers.set(location, peer);
    }
    if (address !== null) peer.address = address;
    return peer;
  }

  /** A destination (node or client) with an outbound queue of `limit` bytes. */
  newPeer(location: string, limit: number): Peer {
    const peer = new Peer(location, this.host.registry, this.host.maxMessageBytes, this.flushPeer);
    peer.limit = limit;
    return peer;
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Queue `env` to `peer` (a node or a client); flushed at the end of this turn. A large
   * message goes in parts (src/wire/parts.ts), and so does any later one between the same two
   * actors while it is queued, to keep their order. */
  send(peer: Peer, env: WireEnvelope): void {
    const out = peer.out;
    const size = out.prepareEnvelope(env); // throws EncodeError: the caller's to handle
    const queued = peer.queuedBytes;
    const host = this.host;
    // One message larger than the whole queue bound still goes when nothing else is queued
    // (it is bounded by the other end's message limit).
    if ((queued > 0 && queued + size > peer.limit) || host.stopped) {
      out.discard();
      this.overflow(peer, env, size, queued);
      return;
    }
    const len = size - FRAME_OVERHEAD;
    const frameLimit = (peer.conn?.peerMaxFrame || host.maxFrameBytes) - 1;
    const key = peer.parts.empty ? '' : `${env.from}\n${env.to}`;
    if (len > Math.min(WHOLE_FRAME_MAX, frameLimit) || (key !== '' && peer.parts.holds(key))) {
      peer.parts.push(key || `${env.from}\n${env.to}`, out.takePrepared(), len <= Math.min(WHOLE_FRAME_MAX, frameLimit));
    } else {
      out.commit();
    }
    peer.sent++;
    host.stats.sent++;
    if (peer.overflowing > 0) {
      host.log.warn({ peer: peer.location, dropped: peer.overflowing }, 'outbound queue accepting again after dropping messages');
      peer.overflowing = 0;
    }
    if (!peer.flushScheduled) {
      peer.flushScheduled = true;
      queueMicrotask(peer.flush);
    }
  }

  private overflow(peer: Peer, env: WireEnvelope, bytes: number, queuedBytes: number): void {
    const host = this.host;
    host.stats.dropped++;
    host.stats.droppedBytes += bytes;
    peer.dropped++;
    const why = !host.stopped ? `the outbound queue to ${peer.location} is full (${queuedBytes} of ${peer.limit} bytes)` : `bridge ${host.location} is stopped`;
    if (peer.overflowing++ === 0) {
      host.log.warn({ peer: peer.location, queuedBytes, maxQueueBytes: peer.limit, type: env.msg.type, to: env.to, stopped: host.stopped }, `dropping messages: ${why}`);
    }
    host.emit({ type: 'overflow', location: peer.location, to: env.to, msgType: env.msg.type, kind: env.kind, bytes, queuedBytes, dropped: peer.dropped });
    if (env.kind === EnvelopeKind.Ask && env.corr) {
      host.runtime.failAsk(env.corr, new RuntimeError('ENOBUFS', `ask to ${env.to} dropped: ${why}`));
    }
  }

  readonly flushPeer = (peer: Peer): void => {
    peer.flushScheduled = false;
    const chunks = peer.out.take();
    const conn = peer.conn;
    if (chunks !== null) {
      if (conn !== null && conn.state === ConnState.Open) {
        this.writeChunks(conn, chunks);
      } else {
        for (const c of chunks) {
          peer.backlog.push(c);
          peer.backlogBytes += c.length;
        }
      }
    }
    this.pumpParts(peer);
  };

  /** Write parts of the queued large messages while the socket buffers less than
   * PART_HIGH_WATER; then again when it drains (src/wire/parts.ts). */
  private pumpParts(peer: Peer): void {
    const conn = peer.conn;
    if (peer.parts.empty || peer.partsWaiting || conn === null || conn.state !== ConnState.Open) return;
    const socket = conn.socket;
    const maxFrame = conn.peerMaxFrame || this.host.maxFrameBytes;
    // One writev for the parts written now.
    socket.cork();
    while (!peer.parts.empty && socket.writableLength < PART_HIGH_WATER) {
      const frames = peer.parts.next(maxFrame)!;
      this.writeChunks(conn, frames);
    }
    socket.uncork();
    if (peer.parts.empty) return;
    peer.partsWaiting = true;
    socket.once('drain', () => {
      peer.partsWaiting = false;
      if (peer.conn === conn) this.pumpParts(peer);
    });
  }

  private writeChunks(conn: Conn, chunks: Uint8Array[]): void {
    let n = 0;
    if (chunks.length === 1) {
      n = chunks[0]!.length;
      conn.write(chunks[0]!);
    } else {
      conn.socket.cork();
      for (const c of chunks) {
        n += c.length;
        conn.write(c);
      }
      conn.socket.uncork();
    }
    this.host.stats.bytesSent += n;
  }

  // ---- links --------------------------------------------------------------------------------

  dial(peer: Peer): void {
    if (!this.host.running || !peer.address || peer.conn || peer.dialing || (this.inbound.get(peer.location) ?? 0) > 0) return;
    if (peer.reconnectTimer) {
      clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = null;
    }
    const { host, port } = parseHostPort(peer.address);
    this.host.stats.dials++;
    const tlsDial = this.opts.tlsDial;
    let socket: net.Socket;
    if (tlsDial) {
      const servername = net.isIP(host) ? undefined : host;
      socket = tls.connect({ ...tlsDial, host, port, servername });
    } else {
      socket = net.connect({ host, port, noDelay: true });
    }
    const conn = this.opts.track(socket, true, peer.address, addressKey(host));
    conn.peer = peer;
    peer.dialing = conn;
    socket.once(tlsDial ? 'secureConnect' : 'connect', () => {
      if (conn.state === ConnState.Closed) return;
      this.opts.sendHello(conn);
    });
  }

  /** A node's Hello (role "peer"): check it, settle who keeps the link, answer with our proof. */
  onHello(conn: Conn, h: Hello, secret: Uint8Array): void {
    const self = this.host.location;
    if (!LOCATION_RE.test(h.location)) throw new FrameError('EPROTO', `bad location in hello: "${h.location.slice(0, 64)}"`);
    if (h.location === self) throw new FrameError('EPROTO', `the other end claims this node's own location ${h.location}`);
    checkHelloIds(h);
    const refusal = this.refused.get(h.location);
    if (refusal !== undefined) throw new FrameError('EACCES', refusal);
    if (conn.dialed && h.location !== conn.peer!.location) {
      throw new FrameError('EPROTO', `dialed ${conn.peer!.location} at ${conn.remote}, but the node there is ${h.location}`);
    }
    conn.peerLocation = h.location;
    conn.peerInstance = h.instance;
    conn.peerNonce = Uint8Array.from(h.nonce);
    conn.peerMaxFrame = h.maxFrameBytes >>> 0;
    conn.peerMaxMessage = h.maxMessageBytes >>> 0;
    if (!conn.dialed) {
      // One link per pair: the lower location dials (docs/bridge.md).
      const peer = this.peers.get(h.location);
      if (peer && self < h.location) {
        if (peer.dialing) {
          this.host.close(conn, 'EDUPLICATE', `${self} is dialing ${h.location} itself (the lower location dials)`, { goodbye: true, level: 'debug' });
          return;
        }
        if (peer.conn && peer.conn.peerInstance === h.instance) {
          this.host.close(conn, 'EDUPLICATE', `${self} is already linked to this instance of ${h.location}`, { goodbye: true, level: 'info' });
          return;
        }
      }
      conn.inboundFor = h.location;
      this.inbound.set(h.location, (this.inbound.get(h.location) ?? 0) + 1);
    }
    conn.state = ConnState.Auth;
    const proof = handshakeProof(secret, conn.dialed ? 'dial' : 'accept', { location: self, instance: this.host.instance, nonce: conn.nonce }, { location: h.location, instance: h.instance, nonce: conn.peerNonce });
    conn.write(authFrame({ proof }));
  }

  /** A node's Auth: its proof of the cluster secret makes the connection its link. */
  onAuth(conn: Conn, auth: AuthMsg, secret: Uint8Array): void {
    const expected = handshakeProof(
      secret,
      conn.dialed ? 'accept' : 'dial',
      { location: conn.peerLocation!, instance: conn.peerInstance, nonce: conn.peerNonce! },
      { location: this.host.location, instance: this.host.instance, nonce: conn.nonce },
    );
    if (!proofMatches(auth.proof, expected)) {
      throw new FrameError('EAUTH', `authentication failed: ${conn.peerLocation} does not prove the cluster secret`);
    }
    this.host.endHandshake(conn);
    conn.state = ConnState.Open;
    conn.decoder.maxFrameBytes = this.host.maxFrameBytes;
    conn.parts.maxMessageBytes = this.host.maxMessageBytes;
    this.activate(conn);
  }

  /** The handshake of an inbound connection ended: a dial it held back may go now. */
  endInbound(conn: Conn): void {
    if (conn.inboundFor === null) return;
    const n = (this.inbound.get(conn.inboundFor) ?? 1) - 1;
    if (n > 0) this.inbound.set(conn.inboundFor, n);
    else this.inbound.delete(conn.inboundFor);
    const peer = this.peers.get(conn.inboundFor);
    conn.inboundFor = null;
    if (peer && conn.state === ConnState.Closed) this.scheduleReconnect(peer);
  }

  /** An authenticated link becomes the peer's link. */
  private activate(conn: Conn): void {
    const host = this.host;
    const location = conn.peerLocation!;
    const peer = this.peers.get(location) ?? this.addPeer(location, null);
    const old = peer.conn;
    const restarted = peer.instance !== null && peer.instance !== conn.peerInstance;
    peer.conn = conn;
    conn.peer = peer;
    if (peer.dialing === conn) peer.dialing = null;
    if (old) host.close(old, 'EREPLACED', restarted ? `${location} restarted (new instance ${conn.peerInstance})` : `replaced by a newer link to ${location}`, { goodbye: true, level: 'info' });
    if (peer.dialing) {
      const d = peer.dialing;
      peer.dialing = null;
      host.close(d, 'EDUPLICATE', `superseded by the link ${location} dialed`, { goodbye: true, level: 'debug' });
    }
    if (peer.reconnectTimer) {
      clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = null;
    }
    peer.attempts = 0;
    peer.instance = conn.peerInstance;
    peer.links++;
    peer.out.maxFrameBytes = Math.min(host.maxMessageBytes, conn.peerMaxMessage || conn.peerMaxFrame || host.maxMessageBytes);
    peer.partsWaiting = false;
    if (peer.backlog.length > 0) {
      const backlog = peer.backlog;
      peer.backlog = [];
      peer.backlogBytes = 0;
      this.writeChunks(conn, backlog);
    }
    this.pumpParts(peer);
    host.log.info({ peer: location, remote: conn.remote, dialed: conn.dialed, instance: conn.peerInstance, restarted }, 'bridge link up');
    host.emit({ type: 'peer-up', location, instance: conn.peerInstance, remote: conn.remote, dialed: conn.dialed, restarted });
  }

  /** An envelope over a node link: for an actor here, or a reply for one of our clients. */
  onEnvelope(conn: Conn, env: WireEnvelope): void {
    const host = this.host;
    const peer = conn.peer!;
    if (!env.to.startsWith(this.prefix)) {
      // A reply or ticket for one of our clients, sent by a node it asked through us.
      const client = this.clients?.at(env.to.slice(0, env.to.indexOf('#')));
      if (client !== undefined) {
        peer.received++;
        host.stats.received++;
        try {
          this.send(client, env);
        } catch (e) {
          host.log.warn({ err: e, client: client.location, type: env.msg.type }, 'could not pass a message on to a client');
        }
        return;
      }
      host.stats.misrouted++;
      host.log.warn({ peer: peer.location, to: env.to, type: env.msg.type }, 'dropped an envelope addressed to another location');
      return;
    }
    peer.received++;
    host.stats.received++;
    try {
      host.runtime.deliver(env);
    } catch (e) {
      host.log.error({ err: e, peer: peer.location, to: env.to, type: env.msg.type }, 'delivering a bridged envelope failed');
    }
  }

  /** A node connection closed (after the bridge's bookkeeping): report the link down, redial. */
  closed(conn: Conn, peer: Peer, wasOpen: boolean, hostile: boolean, code: string, reason: string): void {
    if (peer.conn === conn) {
      peer.conn = null;
      // A message partly written is lost with the link (at most once, like any in flight).
      const lost = peer.parts.abortCurrent();
      peer.dropped += lost;
      this.host.stats.dropped += lost;
      if (wasOpen) {
        this.host.emit({ type: 'peer-down', location: peer.location, code, reason });
        if (!hostile) this.host.log.info({ peer: peer.location, code }, `bridge link down: ${reason}`);
      }
    }
    if (peer.dialing === conn) peer.dialing = null;
    this.scheduleReconnect(peer);
  }

  private scheduleReconnect(peer: Peer): void {
    if (!this.host.running || !peer.address || peer.conn || peer.dialing || peer.reconnectTimer) return;
    const { backoffMinMs, backoffMaxMs } = this.opts;
    const base = Math.min(backoffMaxMs, backoffMinMs * 2 ** Math.min(peer.attempts, 30));
    peer.attempts++;
    const delay = base / 2 + Math.random() * (base / 2);
    peer.reconnectTimer = setTimeout(() => {
      peer.reconnectTimer = null;
      this.dial(peer);
      // A dial suppressed by an inbound handshake is retried when that handshake ends.
    }, delay);
  }

  /** Stop redialing; flush what is queued unless `abrupt`. */
  stop(abrupt: boolean): void {
    for (const peer of this.peers.values()) {
      if (peer.reconnectTimer) clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = null;
      if (!abrupt && peer.conn) this.flushPeer(peer);
    }
  }

  /** One heartbeat tick for an open connection (node or client): close it if it is dead or
   * stalled (false), else send a heartbeat if it sent nothing since the last tick. */
  liveness(conn: Conn, now: number, heartbeatMs: number, missedHeartbeats: number, stallTimeoutMs: number): boolean {
    if (conn.rx || conn.blocked) {
      // (A client waiting for the budget of large messages is not read: its silence is ours.)
      conn.missed = 0;
      conn.rx = false;
    } else if (++conn.missed >= missedHeartbeats) {
      this.host.stats.heartbeatTimeouts++;
      this.host.close(conn, 'ETIMEDOUT', `nothing from ${conn.peerLocation} for ${conn.missed} heartbeats of ${heartbeatMs} ms: peer dead or link cut`, { level: 'warn' });
      return false;
    }
    const s = conn.socket;
    const pending = s.writableLength;
    const progress = s.bytesWritten - pending;
    if (pending > 0 && progress === conn.progress) {
      if (conn.stalledSince === 0) conn.stalledSince = now;
      else if (now - conn.stalledSince >= stallTimeoutMs) {
        this.host.close(conn, 'ETIMEDOUT', `${conn.peerLocation} read nothing for ${Math.round(now - conn.stalledSince)} ms with ${pending} bytes waiting: not reading`, { level: 'warn' });
        return false;
      }
    } else {
      conn.stalledSince = 0;
    }
    conn.progress = progress;
    if (!conn.tx) conn.write(HEARTBEAT);
    conn.tx = false;
    return true;
  }
}
