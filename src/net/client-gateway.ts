// The bridge's client gateway: serves connections whose Hello says role "client" on the node's
// port. It checks the client token and identity (src/net/client-identity.ts), holds client
// slots (src/net/admission.ts), gives each client a location `c<random>@<node>`, and spawns the
// client's connection actor (src/net/client-connection.ts) under the gateway actor of this
// runtime. It passes the client's asks, confined to the allowed types and targets and to its
// own client id, to that actor, which asks the nodes and queues the replies to the client;
// closing the connection stops the actor. Design: docs/bridge.md, "Clients" and "Client
// connections as actors".

import { randomBytes } from 'node:crypto';
import { RuntimeError } from '../runtime/errors.js';
import type { ActorCell } from '../runtime/runtime.js';
import type { Ref } from '../runtime/types.js';
import { SlotTable } from './admission.js';
import { type BridgeClientOptions, CLIENT_MESSAGE_TYPES, type PeerInfo, linkInfo } from './bridge-types.js';
import { type ClientLink, GATEWAY_ACTOR, GATEWAY_STRATEGY, clientConnectionBehaviour, gatewayBehaviour } from './client-connection.js';
import { clientIdOf, identityTranscript, verifyIdentity } from './client-identity.js';
import { FrameError, FrameKind } from '../wire/frame.js';
import { PartAssembler } from '../wire/parts.js';
import { type AuthMsg, CLIENT_PROOF_LOCATION, type Hello, authFrame, checkHelloIds, handshakeProof, proofMatches } from './handshake.js';
import { type Conn, ConnState, type LinkHost, type Peer } from './link.js';
import type { ClientSide } from './node-links.js';
import { EnvelopeKind, type WireEnvelope } from '../wire/registry.js';

/** Largest message accepted from a client by default (`clients.maxMessageBytes`). */
export const DEFAULT_CLIENT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export class ClientGateway implements ClientSide {
  /** Connected clients by their location. */
  readonly clients = new Map<string, Peer>();
  private readonly token: Uint8Array | undefined;
  private readonly allowed: Set<string>;
  /** Allowed types that name a client: their clientId must be the connection's. */
  private readonly withClientId: Set<string>;
  private readonly slots: SlotTable;
  private readonly maxInflight: number;
  /** The gateway actor connection actors are spawned under (made on the first client). */
  private supervisor: ActorCell | null = null;
  /** The shared budget for clients' incomplete large messages (maxPartialBytes). */
  private readonly partialBudget: number;
  private partialHeld = 0;
  /** Clients blocked on that budget, in the order they asked. */
  private readonly waiting: Conn[] = [];

  constructor(
    private readonly host: LinkHost,
    private readonly opts: BridgeClientOptions,
    /** A new client's outbound queue of `limit` bytes. */
    private readonly newPeer: (location: string, limit: number) => Peer,
    /** Hand frames held while a client was blocked back to the bridge, in order. */
    private readonly replay: (conn: Conn, frames: { kind: number; data: Uint8Array | Uint8Array[] }[]) => void = () => {},
  ) {
    const token = opts.token;
    if (token !== undefined && (!(token instanceof Uint8Array) || token.length < 8)) throw new RuntimeError('EINVAL', 'the client token must be at least 8 bytes');
    this.token = token ? Uint8Array.from(token) : undefined;
    this.allowed = new Set(opts.allowTypes ?? CLIENT_MESSAGE_TYPES);
    this.withClientId = new Set([...this.allowed].filter((t) => host.registry.fieldNames(t).includes('clientId')));
    const maxClients = opts.maxClients ?? 1024;
    this.slots = new SlotTable('client', maxClients, opts.maxClientsPerAddress ?? Math.max(1, Math.floor(maxClients / 4)));
    this.maxInflight = opts.maxInflight ?? 256;
    this.partialBudget = opts.maxPartialBytes ?? 256 * 1024 * 1024;
  }

  /** Bytes of the shared budget held by clients' incomplete large messages. */
  get partialBytes(): number {
    return this.partialHeld;
  }

  /** A frame from a client: false when it must wait (the client is blocked on the shared budget
   * for large messages; the frame is kept and handed back by `replay`). */
  admit(conn: Conn, kind: number, data: Uint8Array | Uint8Array[]): boolean {
    if (conn.blocked) {
      conn.pending.push({ kind, data });
      return false;
    }
    if (kind !== FrameKind.Part || conn.parts.busy) return true;
    const total = PartAssembler.announced(data);
    if (total === null || total > conn.parts.maxMessageBytes) return true; // the assembler refuses it
    if (this.reserve(conn, total)) return true;
    conn.blocked = true;
    this.host.stats.partialWaits++;
    conn.pending.push({ kind, data });
    conn.socket.pause();
    this.waiting.push(conn);
    return false;
  }

  private fits(total: number): boolean {
    return this.partialHeld === 0 || this.partialHeld + total <= this.partialBudget;
  }

  private reserve(conn: Conn, total: number): boolean {
    if (!this.fits(total)) return false;
    conn.reserved = total;
    this.partialHeld += total;
    return true;
  }

  /** The client's large message is complete (or the client is gone): its budget goes to the
   * clients waiting for it. */
  release(conn: Conn): void {
    if (conn.reserved > 0) {
      this.partialHeld -= conn.reserved;
      conn.reserved = 0;
    }
    const at = this.waiting.indexOf(conn);
    if (at >= 0) this.waiting.splice(at, 1);
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      // Its first part reserves the share again as it is replayed (admit).
      if (!this.fits(PartAssembler.announced(next.pending[0]!.data) ?? 0)) return;
      this.waiting.shift();
      next.blocked = false;
      const frames = next.pending;
      next.pending = [];
      this.replay(next, frames);
      if (!next.blocked && !next.paused && next.state === ConnState.Open) next.socket.resume();
    }
  }

  /** Client slots held now (admission.ts). */
  get slotsHeld(): number {
    return this.slots.size;
  }

  at(location: string): Peer | undefined {
    return this.clients.get(location);
  }

  info(): PeerInfo[] {
    return [...this.clients.values()].map((p) => ({ ...linkInfo(p, p.conn?.remote ?? null), clientId: p.conn?.clientId }));
  }

  /** A client's Hello: refused early (before it signs anything) if it would be at its Auth. */
  onHello(conn: Conn, h: Hello): void {
    checkHelloIds(h);
    const full = this.slots.check(conn.addressKey);
    if (full) throw full;
    conn.client = true;
    conn.peerInstance = h.instance;
    conn.peerNonce = Uint8Array.from(h.nonce);
    conn.peerMaxFrame = h.maxFrameBytes >>> 0;
    conn.peerMaxMessage = h.maxMessageBytes >>> 0;
    conn.state = ConnState.Auth;
  }

  /** A client's Auth: token proof, identity, a slot; then the client is served. */
  onAuth(conn: Conn, auth: AuthMsg): void {
    const host = this.host;
    const own = { location: host.location, instance: host.instance, nonce: conn.nonce };
    const client = { location: CLIENT_PROOF_LOCATION, instance: conn.peerInstance, nonce: conn.peerNonce! };
    if (this.token) {
      const proof = auth.proof;
      if (!proofMatches(proof, handshakeProof(this.token, 'dial', client, own))) {
        throw new FrameError('EAUTH', proof && proof.length > 0 ? 'client authentication failed: wrong client token' : 'client authentication failed: this cluster needs a client token (--token-file)');
      }
    }
    // The client's identity: its key signed both nonces, and its id is derived from the key.
    const key = auth.clientKey;
    if (!(key instanceof Uint8Array) || key.length === 0) {
      throw new FrameError('EAUTH', 'client authentication failed: no client identity (a client signs the handshake with the key its id derives from; upgrade the client)');
    }
    if (!verifyIdentity(key, identityTranscript(own, { instance: conn.peerInstance, nonce: conn.peerNonce! }, key), auth.clientSignature)) {
      throw new FrameError('EAUTH', 'client authentication failed: the client identity signature does not verify');
    }
    conn.clientId = clientIdOf(key);
    const full = this.slots.take(conn.addressKey);
    if (full) throw full;
    conn.clientSlot = true;
    let location: string;
    do location = `c${randomBytes(6).toString('hex')}@${host.location}`;
    while (this.clients.has(location));
    let welcomeJson = '';
    try {
      welcomeJson = this.opts.welcome ? JSON.stringify(this.opts.welcome()) ?? '' : '';
    } catch (e) {
      host.log.error({ err: e }, 'client welcome document failed');
    }
    host.endHandshake(conn);
    conn.state = ConnState.Open;
    conn.peerLocation = location;
    conn.asking = 0;
    conn.decoder.maxFrameBytes = this.opts.maxFrameBytes ?? 1024 * 1024;
    conn.parts.maxMessageBytes = this.opts.maxMessageBytes ?? this.opts.maxFrameBytes ?? DEFAULT_CLIENT_MAX_MESSAGE_BYTES;
    const peer = this.newPeer(location, this.opts.maxQueueBytes ?? 8 * 1024 * 1024);
    peer.out.maxFrameBytes = Math.min(host.maxMessageBytes, conn.peerMaxMessage || conn.peerMaxFrame || host.maxMessageBytes);
    peer.conn = conn;
    peer.instance = conn.peerInstance;
    peer.links = 1;
    conn.peer = peer;
    conn.actor = this.spawnConnection(conn, location);
    this.clients.set(location, peer);
    host.stats.clients++;
    host.stats.clientsOpen++;
    const proof = this.token ? handshakeProof(this.token, 'accept', own, client) : new Uint8Array(0);
    conn.write(authFrame({ proof, clientLocation: location, welcomeJson, clientId: conn.clientId, maxMessageBytes: conn.parts.maxMessageBytes, maxFrameBytes: conn.decoder.maxFrameBytes }));
    host.log.debug({ client: location, clientId: conn.clientId, remote: conn.remote }, 'client connected');
    host.emit({ type: 'client-up', location, remote: conn.remote, clientId: conn.clientId });
  }

  /** An envelope from a client: only asks of the allowed types to allowed addresses. */
  onEnvelope(conn: Conn, env: WireEnvelope): void {
    const peer = conn.peer!;
    if (env.kind !== EnvelopeKind.Ask || !env.corr) throw new FrameError('EACCES', `a client may only ask (it sent a ${kindName(env.kind)} envelope)`);
    if (!this.allowed.has(env.msg.type)) throw new FrameError('EACCES', `a client may not send ${String(env.msg.type).slice(0, 128)}`);
    if (!this.opts.allowTarget(env.to)) throw new FrameError('EACCES', `a client may not address ${env.to.slice(0, 128)}`);
    env.from = `${peer.location}#/`;
    if (this.withClientId.has(env.msg.type) && env.msg.clientId !== conn.clientId) {
      this.refuseForged(conn, env);
      return;
    }
    if (env.msg.type === 'govfs.fs.FsRequest' && env.msg.ticketTo) env.msg.ticketTo = `${peer.location}#/tickets`;
    peer.received++;
    this.host.stats.received++;
    // Paused: the rest of the chunk being decoded waits here (at most one socket read).
    if (conn.paused) conn.held.push(env);
    else this.dispatch(conn, env);
  }

  /** A client request under another client's id: answered EPERM, never delivered. The
   * connection stays open (a buggy client learns why; a hostile one gains nothing). */
  private refuseForged(conn: Conn, env: WireEnvelope): void {
    const host = this.host;
    const peer = conn.peer!;
    const raw = env.msg.clientId;
    const claimed = typeof raw === 'string' ? raw.slice(0, 64) : String(raw).slice(0, 64);
    const message = `${env.msg.type} refused: it names client "${claimed}", but this connection speaks for client ${conn.clientId} (the id proven in its handshake); a client may only send requests under its own id`;
    host.stats.forged++;
    conn.forged++;
    host.log[conn.forged === 1 ? 'warn' : 'debug']({ client: peer.location, clientId: conn.clientId, claimed, type: env.msg.type, remote: conn.remote, code: 'EPERM', refused: conn.forged }, 'client request under another client id refused');
    host.emit({ type: 'client-forged', location: peer.location, remote: conn.remote, clientId: conn.clientId, claimed, msgType: env.msg.type });
    try {
      host.send(peer, { to: env.from, from: env.to, kind: EnvelopeKind.Reply, corr: env.corr, msg: { type: 'govfs.runtime.AskFailed', code: 'EPERM', message } });
    } catch (e) {
      host.log.warn({ err: e, client: peer.location }, 'could not answer a refused client request');
    }
  }

  /** The client's connection actor, under this runtime's gateway actor (docs/bridge.md, "Client
   * connections as actors"). */
  private spawnConnection(conn: Conn, location: string): Ref<WireEnvelope> {
    const host = this.host;
    const link: ClientLink = {
      location,
      answer: (env) => this.answer(conn, env),
      stopped: (reason) => host.close(conn, 'ESHUTDOWN', `the client's connection actor stopped (${reason})`, { goodbye: true, level: 'debug' }),
    };
    return host.runtime.spawnChild(this.gatewayActor(), location, () => clientConnectionBehaviour(link), {}) as Ref<WireEnvelope>;
  }

  private gatewayActor(): ActorCell {
    if (this.supervisor !== null && !this.supervisor.stopped) return this.supervisor;
    const runtime = this.host.runtime;
    // Each bridge its own (a second bridge serving clients on one runtime is unusual).
    let name = GATEWAY_ACTOR;
    for (let i = 2; runtime.localCell(`${runtime.location}#/${name}`) !== null; i++) name = `${GATEWAY_ACTOR}-${i}`;
    const ref = runtime.spawnRoot(name, gatewayBehaviour, { strategy: GATEWAY_STRATEGY, host: this.host.location });
    this.supervisor = runtime.localCell(ref.address)!;
    return this.supervisor;
  }

  /** Stop the gateway actor (the bridge is stopping; its connections are closed first). */
  stop(): void {
    const cell = this.supervisor;
    this.supervisor = null;
    cell?.stop();
  }

  private dispatch(conn: Conn, env: WireEnvelope): void {
    if (this.supervisor === null || this.supervisor.stopped) {
      // The runtime crashed (its actors ended without their stop hooks): nothing serves it.
      this.host.close(conn, 'ESHUTDOWN', `${this.host.location} stopped serving clients`, { goodbye: true });
      return;
    }
    if (++conn.asking >= this.maxInflight && !conn.paused) {
      conn.paused = true;
      conn.socket.pause();
    }
    conn.actor!.tell(env);
  }

  /** The connection actor answers one of its client's asks. */
  private answer(conn: Conn, env: WireEnvelope): void {
    if (conn.state !== ConnState.Open) return;
    conn.asking--;
    try {
      this.host.send(conn.peer!, env);
    } catch (e) {
      this.host.log.warn({ err: e, client: conn.peer!.location, type: env.msg.type }, 'could not answer a client');
    }
    this.maybeResume(conn);
  }

  private maybeResume(conn: Conn): void {
    if (conn.paused && conn.asking <= this.maxInflight / 2 && conn.state === ConnState.Open) {
      conn.paused = false;
      while (conn.held.length > 0 && !conn.paused && conn.state === ConnState.Open) this.dispatch(conn, conn.held.shift()!);
      if (!conn.paused && !conn.blocked) conn.socket.resume();
    }
  }

  /** A client connection is closing: free its slot. */
  releaseSlot(conn: Conn): void {
    if (!conn.clientSlot) return;
    conn.clientSlot = false;
    this.slots.release(conn.addressKey);
  }

  /** A client connection closed: stop its actor (which cancels its asks), forget the client
   * and what was queued to it. */
  closed(conn: Conn, peer: Peer, code: string, reason: string): void {
    if (this.clients.get(peer.location) !== peer) return;
    const actor = conn.actor;
    conn.actor = null;
    conn.held = [];
    conn.pending = [];
    conn.blocked = false;
    this.release(conn);
    if (actor !== null) this.host.runtime.stopAddress(actor.address, '');
    this.clients.delete(peer.location);
    this.host.stats.clientsOpen--;
    peer.conn = null;
    peer.out.clear();
    peer.parts.clear();
    peer.backlog = [];
    peer.backlogBytes = 0;
    this.host.emit({ type: 'client-down', location: peer.location, remote: conn.remote, code, reason });
  }
}

function kindName(kind: number): string {
  return kind === EnvelopeKind.Tell ? 'tell' : kind === EnvelopeKind.Reply ? 'reply' : kind === EnvelopeKind.System ? 'system' : `kind-${kind}`;
}
