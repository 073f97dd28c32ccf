// The TCP bridge: joins the LocalRuntimes of different hosts, so a `Ref` to an actor on another
// host is used exactly like a local one (DESIGN.md, "src/net"). One Bridge serves one runtime
// (one location, e.g. the node id "n1"); install its transport into the runtime and every
// envelope for a peer's location travels over that peer's connection.
//
// Wiring:
//   const runtime = new LocalRuntime({ location: 'n1', dispatcher: new RealDispatcher(), registry });
//   const bridge = new Bridge({ runtime, secret, listen: { host: '0.0.0.0', port: 7100 },
//                               peers: { n2: '10.0.0.2:7100' } }).install();
//   await bridge.start();
//   runtime.ref('n2#/node/clerk').tell(msg);          // travels to n2 like a local tell
// `install()` chains the bridge in front of the runtime's transport: locations the bridge knows
// (configured, connect()ed, or peers that dialed in and authenticated) go over TCP, any other
// location to the previous transport (e.g. rings). `route(fallback)` builds the same without
// installing it; `transport` alone throws EHOSTUNREACH for unknown locations.
//
// Wire. Length-prefixed frames (src/net/frame.ts): [u32 length][u8 kind][payload]. Kinds:
// Envelope (a MessageRegistry envelope), Hello, Auth, Goodbye (src/net/proto/bridge.proto) and
// Heartbeat (empty). Before authentication a connection accepts frames of at most 4 KiB; after,
// of at most `maxFrameBytes` (each end advertises its limit in its Hello and senders respect the
// receiver's: a bigger message fails at the sender with an EncodeError, like a ring).
//
// Handshake (challenge-response, the secret never crosses the wire). Both ends send a Hello at
// once: version, role ("peer", or "client": see Clients below),
// location, a random instance id (per Bridge start) and a 32-byte random nonce. On the other's
// Hello each end sends Auth{proof}, proof = HMAC-SHA256(secret, "govfs-bridge/1", direction
// (dial | accept), own location, peer location, own instance, peer instance, own nonce, peer
// nonce), every field length-prefixed. Each end checks the other's proof (timingSafeEqual)
// against the one it computes for the opposite direction: a proof is bound to both fresh nonces
// and to who dialed, so it cannot be replayed on another connection or reflected back. Until a
// connection is authenticated only Hello, Auth and Goodbye are accepted; any other frame, a
// wrong proof, or no Auth within the handshake deadline closes it.
//
// Admission (src/net/admission.ts). At most `maxHandshakes` unauthenticated inbound connections
// are held at once, at most `maxHandshakesPerAddress` from one address, each for at most
// `inboundHandshakeTimeoutMs`; at most `clients.maxClients` clients, `clients.maxClientsPerAddress`
// from one address. A connection over a limit is refused with a Goodbye that names the Refusal
// (the client reports it as EAGAIN / EUSERS, not as an unreachable node), and refusals are
// logged as warnings at a bounded rate per remote address.
//
// One link per pair of nodes. When both could dial each other, the lower location name dials:
// a node refuses (Goodbye EDUPLICATE, before authenticating) an incoming connection from a
// higher-named peer while it is dialing that peer itself or is already linked to the same
// instance of it, and does not dial a peer that is mid-handshake inbound. An authenticated new
// link replaces the old one (which can then only be stale: the peer restarted, which its new
// instance id shows, or the old link died on the other side first). A message is written only
// to the current link, and the receiver closes the old link when it authenticates the new one
// (before reading anything the sender wrote on the new link), so per-sender order holds across
// reconnects; messages in flight on a link that dies are lost (at-most-once, like Akka).
//
// Liveness. A timer every `heartbeatMs` sends a Heartbeat on each link that sent nothing since
// the last tick, and closes a link that received nothing for `missedHeartbeats` ticks (a dead
// peer or a cut link) or whose socket accepted no bytes for `stallTimeoutMs` while it had some
// to send (a peer that stopped reading). A dialed peer is redialed after a close, with
// exponential backoff and jitter (`reconnect`); a peer that dialed us is waited for.
//
// Outbound queue per peer, bounded in bytes (`maxQueueBytes`): bytes encoded this turn, bytes
// held while the peer is disconnected or handshaking, and bytes the socket has not yet handed
// to the kernel. Envelopes are encoded straight into a slab (FrameEncoder) and flushed to the
// socket once per event-loop turn (a microtask), so a burst of tells becomes one write. A
// message that would exceed the bound is dropped and reported: `stats.dropped`, a warning log
// once per overflow episode (and a summary when it ends), the `overflow` event for every
// message, and an ask is failed at once (ENOBUFS) instead of waiting for its timeout. Raft
// tolerates the loss; anything else learns of it. Asks to a dead peer are not failed by the
// bridge: they time out through the runtime's ask timeout, like any unanswered ask.
//
// Hostile input. A malformed, truncated, oversized, out-of-place or unauthenticated frame closes
// that connection with a logged reason (warn, with the remote address, rate-limited per address:
// see Admission) and a `rejected` event, and a Goodbye telling the other end why; nothing else is
// disturbed. Inbound memory per connection is bounded by the frame limit; an envelope that does
// not decode closes its link.
//
// Clients (the client protocol, issue 6). With `clients` set, a connection whose Hello says
// role "client" is served on the same port, without the cluster secret: the client answers the
// node's Hello with Auth{proof, clientKey, clientSignature}. `proof` is the HMAC over both
// nonces with the per-cluster client token, like a peer's proof with location "client", or
// empty when no token is configured. `clientKey` and `clientSignature` prove the client's
// identity (src/net/client-identity.ts): an Ed25519 public key, derived from a secret only the
// client holds, and its signature over the node's location, instance and nonce and the
// client's instance and nonce (fresh per connection: not replayable elsewhere). The node
// derives the client id from the key (`c-` + 32 hex digits of SHA-256) and binds it to the
// connection; the same secret gives the same id on every connection, to any node (so retries
// after a failover stay exactly-once), and no other client can produce it. A handshake without
// an identity, or with a signature that does not verify, is refused (EAUTH). The node answers
// with its own Auth carrying the client's location (`c<random>@<this location>`: replies and
// tickets addressed there come back over this connection, from any node, because a location
// `x@gw` routes to peer `gw`), the bound client id, and a welcome document (e.g. the node →
// address map).
// A client is confined: it may only ask (no tells, replies or system envelopes: it cannot spawn
// or stop actors), only the message types `clients.allowTypes` lists, and only the addresses
// `clients.allowTarget` accepts (the node roots); its envelopes' `from` is rewritten to its own
// location and an FsRequest's `ticketTo` to `<location>#/tickets`, so it cannot make a node
// send anything to an actor of the cluster. Anything else closes the connection (EACCES, logged
// as refused). A client speaks only for itself: a request whose type has a `clientId` field
// (FsRequest: exactly-once records, sessions and leases are keyed by it) naming any id but the
// connection's is not delivered but answered with AskFailed EPERM, counted in `stats.forged`
// and reported as a `client-forged` event (the first per connection logged as a warning); the
// connection stays open. A client's frames are limited to `clients.maxFrameBytes`; replies to
// it queue in a buffer bounded by `clients.maxQueueBytes` (over it replies are dropped and the
// client times out); a client that stops reading is closed by the stall check; and a client
// with more than `clients.maxInflight` asks unanswered is not read from until answers drain
// (TCP pushes back).
//
// TLS (optional). With `tls`, links are node:tls with mutual certificate checks (each end
// presents its certificate and verifies the other's against `ca`); the HMAC handshake runs
// inside, unchanged.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import protobuf from 'protobufjs';
import { RuntimeError } from '../runtime/errors.js';
import type { LocalRuntime, Transport } from '../runtime/runtime.js';
import { AdmissionError, Refusal, SlotTable, WarnLimiter, addressKey, refusalOf } from './admission.js';
import { clientIdOf, identityTranscript, verifyIdentity } from './client-identity.js';
import { FrameDecoder, FrameEncoder, FrameError, FrameKind, frameBytes } from './frame.js';
import { EnvelopeKind, type MessageRegistry, type WireEnvelope, protoPath } from './registry.js';

export const BRIDGE_PROTOCOL_VERSION = 1;
/** Largest frame accepted before a connection is authenticated. */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;
const NONCE_BYTES = 32;
const LOCATION_RE = /^[A-Za-z0-9_.:@$-]{1,128}$/;

export interface BridgeTlsOptions {
  /** PEM contents (or give the *File paths). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The cluster's CA (PEM) that signs every node's certificate. */
  ca?: string | Buffer | (string | Buffer)[];
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** Check the dialed host name against the peer's certificate (default true). With node
   * certificates that name nodes rather than addresses, set false: the CA and the cluster
   * secret still authenticate the peer. */
  checkServerIdentity?: boolean;
}

export interface BridgeClientOptions {
  /** The per-cluster client token: clients must prove it (HMAC over the nonces). None: any
   * client may connect. */
  token?: Uint8Array;
  /** May a client address `to` (e.g. only the node roots)? */
  allowTarget: (to: string) => boolean;
  /** Message types a client may send (default: the GovFS client requests). Those with a
   * `clientId` field must carry the id bound to the connection (else answered EPERM). */
  allowTypes?: Iterable<string>;
  /** A JSON-able document sent to each client in the handshake (e.g. the node address map). */
  welcome?: () => unknown;
  /** Clients connected at once (default 1024). */
  maxClients?: number;
  /** Clients connected at once from one address (IPv4, or IPv6 /64; default a quarter of
   * maxClients), so one host or process cannot take every slot. */
  maxClientsPerAddress?: number;
  /** Largest frame accepted from a client (default 1 MiB). */
  maxFrameBytes?: number;
  /** Bytes queued towards one client before replies to it are dropped (default 8 MiB). */
  maxQueueBytes?: number;
  /** Unanswered asks per client before its connection stops being read (default 256). */
  maxInflight?: number;
}

/** What a client may send by default: the GovFS client requests and the status probes. */
export const CLIENT_MESSAGE_TYPES: readonly string[] = ['govfs.fs.FsRequest', 'govfs.fs.StatusRequest', 'govfs.fs.TicketStatusRequest', 'govfs.fs.NodeProbe'];

/** The location name a client presents in its proof. */
export const CLIENT_PROOF_LOCATION = 'client';

export interface BridgeOptions {
  runtime: LocalRuntime;
  /** Default: the runtime's registry. */
  registry?: MessageRegistry;
  /** This runtime's location (node id); default and must-match: `runtime.location`. */
  location?: string;
  /** The cluster's shared secret (at least 16 bytes). */
  secret: Uint8Array;
  /** Accept peers here (port 0: an ephemeral port, see `address`). */
  listen?: { host?: string; port: number };
  /** Peers to dial: location → 'host:port'. */
  peers?: Record<string, string>;
  tls?: BridgeTlsOptions;
  /** Largest frame accepted after authentication (default 16 MiB). */
  maxFrameBytes?: number;
  /** Outbound bytes held per peer before messages are dropped (default 64 MiB). */
  maxQueueBytes?: number;
  /** Heartbeat period (default 1000 ms). */
  heartbeatMs?: number;
  /** Ticks without a frame before a link is declared dead (default 3). */
  missedHeartbeats?: number;
  /** Connect + handshake deadline (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** A link whose socket accepts no bytes for this long while it has some to send is closed
   * (default 30,000 ms). */
  stallTimeoutMs?: number;
  /** Redial backoff: min·2^n capped at max, with jitter (default 100 ms .. 5000 ms). */
  reconnect?: { minMs?: number; maxMs?: number };
  /** Unauthenticated inbound connections held at once (default 256). */
  maxHandshakes?: number;
  /** Unauthenticated inbound connections from one address (IPv4, or IPv6 /64) at once
   * (default 16): a host holding idle sockets cannot lock others out. */
  maxHandshakesPerAddress?: number;
  /** An inbound connection not authenticated within this long is refused and its slot freed
   * (default 3,000 ms, at most handshakeTimeoutMs). */
  inboundHandshakeTimeoutMs?: number;
  /** Refused connections are logged as warnings (the first 5 per remote address), then as one
   * summary per address per this interval (default 10,000 ms). */
  refusalLogIntervalMs?: number;
  /** Serve clients (role "client") on the listening port; without it they are refused. */
  clients?: BridgeClientOptions;
  logger?: Logger;
  onEvent?: (event: BridgeEvent) => void;
}

export type BridgeEvent =
  | { type: 'peer-up'; location: string; instance: string; remote: string; dialed: boolean; restarted: boolean }
  | { type: 'peer-down'; location: string; code: string; reason: string }
  | { type: 'overflow'; location: string; to: string; msgType: string; kind: EnvelopeKind; bytes: number; queuedBytes: number; dropped: number }
  | { type: 'rejected'; remote: string; location: string | null; code: string; reason: string }
  | { type: 'client-up'; location: string; remote: string; clientId: string }
  | { type: 'client-forged'; location: string; remote: string; clientId: string; claimed: string; msgType: string }
  | { type: 'client-down'; location: string; remote: string; code: string; reason: string };

export interface BridgeStats {
  /** Envelopes accepted for sending / received and delivered. */
  sent: number;
  received: number;
  bytesSent: number;
  bytesReceived: number;
  /** Envelopes dropped because a peer's queue was full or the bridge was stopped. */
  dropped: number;
  droppedBytes: number;
  /** Connections closed for hostile or broken input, a failed handshake or a timeout. */
  rejected: number;
  /** Received envelopes addressed to another location (dropped, logged). */
  misrouted: number;
  accepted: number;
  dials: number;
  heartbeatTimeouts: number;
  /** Client connections authenticated so far, and open now. */
  clients: number;
  clientsOpen: number;
  /** Client requests refused (answered EPERM) for carrying a client id other than the one
   * bound to their connection. */
  forged: number;
  /** Unauthenticated inbound connections open now. */
  handshaking: number;
}

export interface PeerInfo {
  location: string;
  address: string | null;
  connected: boolean;
  instance: string | null;
  queuedBytes: number;
  sent: number;
  received: number;
  dropped: number;
  /** Links established with this peer so far. */
  links: number;
  /** A client: the client id bound to its connection. */
  clientId?: string;
}

/** The part of PeerInfo every link (peer or client) has. */
function linkInfo(p: { location: string; conn?: unknown; instance: string | null; queuedBytes: number; sent: number; received: number; dropped: number; links: number }, address: string | null): PeerInfo {
  return { location: p.location, address, connected: !!p.conn, instance: p.instance, queuedBytes: p.queuedBytes, sent: p.sent, received: p.received, dropped: p.dropped, links: p.links };
}

const bridgeRoot = protobuf.parse(readFileSync(protoPath('bridge.proto'), 'utf8'), { keepCase: false }).root;
const HelloType = bridgeRoot.lookupType('govfs.bridge.Hello');
const AuthType = bridgeRoot.lookupType('govfs.bridge.Auth');
const GoodbyeType = bridgeRoot.lookupType('govfs.bridge.Goodbye');

interface AuthMsg {
  proof: Uint8Array;
  clientLocation: string;
  welcomeJson: string;
  clientKey: Uint8Array;
  clientSignature: Uint8Array;
  clientId: string;
}

interface Hello {
  version: number;
  role: string;
  location: string;
  instance: string;
  nonce: Uint8Array;
  token: Uint8Array;
  maxFrameBytes: number;
}

/** The proof an end sends in its Auth (exported for tests and tools that speak the protocol). */
export function handshakeProof(
  secret: Uint8Array,
  direction: 'dial' | 'accept',
  own: { location: string; instance: string; nonce: Uint8Array },
  peer: { location: string; instance: string; nonce: Uint8Array },
): Buffer {
  const h = createHmac('sha256', secret);
  const field = (v: string | Uint8Array): void => {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length, 0);
    h.update(len);
    h.update(b);
  };
  field('govfs-bridge/1');
  field(direction);
  field(own.location);
  field(peer.location);
  field(own.instance);
  field(peer.instance);
  field(own.nonce);
  field(peer.nonce);
  return h.digest();
}

/** Encode a handshake message as a whole frame (for tests and tools). */
export function handshakeFrame(kind: 'hello', msg: Partial<Hello>): Buffer;
export function handshakeFrame(kind: 'auth', msg: { proof: Uint8Array; clientLocation?: string; welcomeJson?: string; clientKey?: Uint8Array; clientSignature?: Uint8Array; clientId?: string }): Buffer;
export function handshakeFrame(kind: 'goodbye', msg: { code: string; reason: string; refusal?: number }): Buffer;
export function handshakeFrame(kind: 'hello' | 'auth' | 'goodbye', msg: object): Buffer {
  const type = kind === 'hello' ? HelloType : kind === 'auth' ? AuthType : GoodbyeType;
  const k = kind === 'hello' ? FrameKind.Hello : kind === 'auth' ? FrameKind.Auth : FrameKind.Goodbye;
  return frameBytes(k, type.encode(type.fromObject(msg)).finish());
}

/** Decode a handshake frame's payload (for tests and tools). */
export function decodeHandshake(kind: number, payload: Uint8Array): Record<string, unknown> {
  const type = kind === FrameKind.Hello ? HelloType : kind === FrameKind.Auth ? AuthType : GoodbyeType;
  return type.toObject(type.decode(payload), { defaults: true }) as Record<string, unknown>;
}

/** 'host:port', '[v6]:port' → parts. */
export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535 || !host) {
    throw new RuntimeError('EINVAL', `bad peer address "${address}" (want host:port)`);
  }
  return { host, port };
}

const enum ConnState {
  Hello,
  Auth,
  Open,
  Closed,
}

class Conn {
  state = ConnState.Hello;
  readonly decoder: FrameDecoder;
  nonce: Buffer = randomBytes(NONCE_BYTES);
  peerLocation: string | null = null;
  peerInstance = '';
  peerNonce: Uint8Array | null = null;
  peerMaxFrame = 0;
  peer: Peer | null = null;
  /** Counted in its location's inbound handshakes (see Bridge.inbound). */
  inboundFor: string | null = null;
  /** The remote address connections are counted under (admission.ts addressKey). */
  addressKey = '';
  /** Holds a handshake slot / a client slot under addressKey. */
  handshakeSlot = false;
  clientSlot = false;
  handshakeTimer: ReturnType<typeof setTimeout> | null = null;
  killTimer: ReturnType<typeof setTimeout> | null = null;
  lastError: string | null = null;
  rx = false;
  tx = false;
  missed = 0;
  progress = 0;
  stalledSince = 0;
  /** A client connection (role "client"), and its asks not yet answered: corr → when sent. */
  client = false;
  /** A client: the id it proved in the handshake (its requests must carry it). */
  clientId = '';
  /** A client: requests refused for a forged id (the first is logged as a warning). */
  forged = 0;
  inflight: Map<number, number> | null = null;
  paused = false;
  /** Envelopes decoded while paused (the rest of one socket read). */
  held: WireEnvelope[] = [];

  constructor(
    readonly socket: net.Socket,
    readonly dialed: boolean,
    readonly remote: string,
    onFrame: (conn: Conn, kind: number, payload: Uint8Array) => void,
  ) {
    this.decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES, (kind, payload) => onFrame(this, kind, payload));
  }

  write(buf: Uint8Array): void {
    this.tx = true;
    this.socket.write(buf);
  }
}

class Peer {
  address: string | null = null;
  /** The authenticated link messages go to. */
  conn: Conn | null = null;
  /** Our dial in progress. */
  dialing: Conn | null = null;
  instance: string | null = null;
  readonly out: FrameEncoder;
  /** Frames written while no link was up, in order. */
  backlog: Buffer[] = [];
  backlogBytes = 0;
  flushScheduled = false;
  attempts = 0;
  reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  overflowing = 0;
  /** Outbound bytes held before messages are dropped. */
  limit = 0;
  sent = 0;
  received = 0;
  dropped = 0;
  links = 0;
  readonly flush: () => void;

  constructor(
    readonly location: string,
    registry: MessageRegistry,
    maxFrameBytes: number,
    flush: (peer: Peer) => void,
  ) {
    this.out = new FrameEncoder(registry, 256 * 1024, maxFrameBytes);
    this.flush = () => flush(this);
  }

  get queuedBytes(): number {
    return this.out.length + this.backlogBytes + (this.conn ? this.conn.socket.writableLength : 0);
  }
}

export class Bridge {
  readonly location: string;
  readonly runtime: LocalRuntime;
  readonly registry: MessageRegistry;
  readonly stats: BridgeStats = {
    sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, dropped: 0, droppedBytes: 0,
    rejected: 0, misrouted: 0, accepted: 0, dials: 0, heartbeatTimeouts: 0, clients: 0, clientsOpen: 0, forged: 0, handshaking: 0,
  };
  /** Random per start: lets peers tell our restart from a duplicate link. */
  instance = '';
  private readonly secret: Uint8Array;
  private readonly log: Logger;
  private readonly maxFrameBytes: number;
  private readonly maxQueueBytes: number;
  private readonly heartbeatMs: number;
  private readonly missedHeartbeats: number;
  private readonly handshakeTimeoutMs: number;
  private readonly stallTimeoutMs: number;
  private readonly backoffMin: number;
  private readonly backoffMax: number;
  private readonly handshakeSlots: SlotTable;
  private readonly clientSlots: SlotTable | null;
  private readonly inboundTimeoutMs: number;
  private readonly refusals: WarnLimiter;
  /** Sockets refused at accept, closing after their Goodbye. */
  private readonly refusing = new Set<net.Socket>();
  private readonly listenOn: { host?: string; port: number } | undefined;
  private readonly tlsServer: tls.TlsOptions | null;
  private readonly tlsClient: tls.ConnectionOptions | null;
  private readonly peers = new Map<string, Peer>();
  /** Connected clients by their location. */
  private readonly clients = new Map<string, Peer>();
  private readonly clientOpts: (BridgeClientOptions & { allowed: Set<string>; withClientId: Set<string> }) | null;
  private readonly conns = new Set<Conn>();
  /** Unauthenticated inbound connections by the location their Hello claims. */
  private readonly inbound = new Map<string, number>();
  private readonly listeners = new Set<(e: BridgeEvent) => void>();
  private readonly prefix: string;
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
    this.prefix = `${this.location}#`;
    this.maxFrameBytes = opts.maxFrameBytes ?? 16 * 1024 * 1024;
    this.maxQueueBytes = opts.maxQueueBytes ?? 64 * 1024 * 1024;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.missedHeartbeats = opts.missedHeartbeats ?? 3;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
    this.backoffMin = opts.reconnect?.minMs ?? 100;
    this.backoffMax = opts.reconnect?.maxMs ?? 5000;
    this.handshakeSlots = new SlotTable('handshake', opts.maxHandshakes ?? 256, opts.maxHandshakesPerAddress ?? 16);
    this.inboundTimeoutMs = Math.min(opts.inboundHandshakeTimeoutMs ?? 3000, this.handshakeTimeoutMs);
    this.refusals = new WarnLimiter(opts.refusalLogIntervalMs ?? 10_000);
    this.listenOn = opts.listen;
    this.log = (opts.logger ?? this.runtime.log).child({ component: 'bridge', location: this.location });
    if (opts.onEvent) this.listeners.add(opts.onEvent);
    if (this.maxFrameBytes < HANDSHAKE_MAX_FRAME_BYTES) throw new RuntimeError('EINVAL', `maxFrameBytes must be at least ${HANDSHAKE_MAX_FRAME_BYTES}`);
    if (opts.tls) {
      const t = opts.tls;
      const read = (v: string | Buffer | undefined, file: string | undefined): string | Buffer | undefined => v ?? (file ? readFileSync(file) : undefined);
      const cert = read(t.cert, t.certFile);
      const key = read(t.key, t.keyFile);
      const ca = t.ca ?? (t.caFile ? readFileSync(t.caFile) : undefined);
      if (!cert || !key) throw new RuntimeError('EINVAL', 'bridge TLS needs a certificate and a key (cert/key or certFile/keyFile)');
      this.tlsServer = { cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', handshakeTimeout: this.handshakeTimeoutMs };
      this.tlsClient = { cert, key, ca, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
      if (t.checkServerIdentity === false) this.tlsClient.checkServerIdentity = () => undefined;
    } else {
      this.tlsServer = null;
      this.tlsClient = null;
    }
    if (opts.clients) {
      const token = opts.clients.token;
      if (token !== undefined && (!(token instanceof Uint8Array) || token.length < 8)) throw new RuntimeError('EINVAL', 'the client token must be at least 8 bytes');
      const allowed = new Set(opts.clients.allowTypes ?? CLIENT_MESSAGE_TYPES);
      // Allowed types that name a client: their clientId must be the connection's.
      const withClientId = new Set([...allowed].filter((t) => this.registry.fieldNames(t).includes('clientId')));
      this.clientOpts = { ...opts.clients, token: token ? Uint8Array.from(token) : undefined, allowed, withClientId };
      const maxClients = opts.clients.maxClients ?? 1024;
      this.clientSlots = new SlotTable('client', maxClients, opts.clients.maxClientsPerAddress ?? Math.max(1, Math.floor(maxClients / 4)));
    } else {
      this.clientOpts = null;
      this.clientSlots = null;
    }
    for (const [location, address] of Object.entries(opts.peers ?? {})) this.addPeer(location, address);
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
      const server = this.tlsServer ? tls.createServer(this.tlsServer) : net.createServer({ noDelay: true });
      this.server = server;
      (server as net.Server).on(this.tlsServer ? 'secureConnection' : 'connection', (socket: net.Socket) => this.accept(socket));
      server.on('tlsClientError', (err: Error, socket: net.Socket) => {
        this.reject(`${socket.remoteAddress}:${socket.remotePort}`, addressKey(socket.remoteAddress), null, 'ETLS', `TLS handshake failed: ${err.message}`);
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
      this.log.info({ address: this.boundAddress, tls: !!this.tlsServer }, 'bridge listening');
    }
    for (const peer of this.peers.values()) this.dial(peer);
  }

  /** Where this bridge listens (after start), e.g. to tell peers about an ephemeral port. */
  get address(): { host: string; port: number } | null {
    return this.boundAddress;
  }

  /** Dial `location` at 'host:port' (now if started, else on start), and redial it after a
   * link drops. */
  connect(location: string, address: string): void {
    this.addPeer(location, address);
    const peer = this.peers.get(location)!;
    if (this.running) this.dial(peer);
  }

  /** The transport for this bridge's peers: throws EHOSTUNREACH for any other location, and
   * EncodeError for a message that cannot travel. */
  readonly transport: Transport = (location, env) => {
    const peer = this.peers.get(location) ?? this.viaClientOrGateway(location);
    if (peer === undefined) {
      throw new RuntimeError('EHOSTUNREACH', `no route from ${this.location} to location ${location}: not a peer of its bridge (add it to peers or connect() it)`);
    }
    this.send(peer, env);
  };

  /** A transport that sends to this bridge's peers (and clients) and everything else through
   * `fallback`. */
  route(fallback: Transport): Transport {
    return (location, env) => {
      const peer = this.peers.get(location) ?? this.viaClientOrGateway(location);
      if (peer === undefined) fallback(location, env);
      else this.send(peer, env);
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
    return [...this.clients.values()].map((p) => ({ ...linkInfo(p, p.conn?.remote ?? null), clientId: p.conn?.clientId }));
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
    for (const peer of this.peers.values()) {
      if (peer.reconnectTimer) clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = null;
      if (!opts.abrupt && peer.conn) this.flushPeer(peer);
    }
    const closing: Promise<void>[] = [];
    for (const conn of [...this.conns]) {
      if (!conn.socket.destroyed) closing.push(new Promise<void>((r) => conn.socket.once('close', () => r())));
      if (opts.abrupt) {
        try {
          if (!conn.socket.destroyed && !this.tlsClient) conn.socket.resetAndDestroy();
        } catch {
          // not a TCP handle (yet): destroy() below
        }
        this.close(conn, 'ESHUTDOWN', 'bridge stopped abruptly', { level: 'debug' });
      } else {
        this.close(conn, 'ESHUTDOWN', `${this.location} is shutting down`, { level: 'debug', goodbye: true });
      }
    }
    for (const socket of this.refusing) socket.destroy();
    this.refusing.clear();
    const server = this.server;
    this.server = null;
    if (server) closing.push(new Promise<void>((r) => server.close(() => r())));
    this.boundAddress = null;
    await Promise.all(closing);
  }

  // ---- sending ------------------------------------------------------------------------------

  private addPeer(location: string, address: string | null): Peer {
    if (location === this.location) throw new RuntimeError('EINVAL', `bridge ${this.location} cannot peer with its own location`);
    if (!LOCATION_RE.test(location)) throw new RuntimeError('EINVAL', `bad peer location "${location}" (letters, digits and _.:@$- only)`);
    if (address !== null) parseHostPort(address);
    let peer = this.peers.get(location);
    if (!peer) {
      peer = new Peer(location, this.registry, this.maxFrameBytes, (p) => this.flushPeer(p));
      peer.limit = this.maxQueueBytes;
      this.peers.set(location, peer);
    }
    if (address !== null) peer.address = address;
    return peer;
  }

  private send(peer: Peer, env: WireEnvelope): void {
    const out = peer.out;
    const size = out.prepareEnvelope(env); // throws EncodeError: the caller's to handle
    if (peer.conn !== null && peer.conn.client) this.answered(peer, env);
    const queued = peer.queuedBytes;
    if (queued + size > peer.limit || this.stopped) {
      out.discard();
      this.overflow(peer, env, size, queued);
      return;
    }
    out.commit();
    peer.sent++;
    this.stats.sent++;
    if (peer.overflowing > 0) {
      this.log.warn({ peer: peer.location, dropped: peer.overflowing }, 'outbound queue accepting again after dropping messages');
      peer.overflowing = 0;
    }
    if (!peer.flushScheduled) {
      peer.flushScheduled = true;
      queueMicrotask(peer.flush);
    }
  }

  private overflow(peer: Peer, env: WireEnvelope, bytes: number, queuedBytes: number): void {
    this.stats.dropped++;
    this.stats.droppedBytes += bytes;
    peer.dropped++;
    const why = !this.stopped ? `the outbound queue to ${peer.location} is full (${queuedBytes} of ${peer.limit} bytes)` : `bridge ${this.location} is stopped`;
    if (peer.overflowing++ === 0) {
      this.log.warn({ peer: peer.location, queuedBytes, maxQueueBytes: peer.limit, type: env.msg.type, to: env.to, stopped: this.stopped }, `dropping messages: ${why}`);
    }
    this.emit({ type: 'overflow', location: peer.location, to: env.to, msgType: env.msg.type, kind: env.kind, bytes, queuedBytes, dropped: peer.dropped });
    if (env.kind === EnvelopeKind.Ask && env.corr) {
      this.runtime.failAsk(env.corr, new RuntimeError('ENOBUFS', `ask to ${env.to} dropped: ${why}`));
    }
  }

  private flushPeer(peer: Peer): void {
    peer.flushScheduled = false;
    const chunks = peer.out.take();
    if (chunks === null) return;
    const conn = peer.conn;
    if (conn !== null && conn.state === ConnState.Open) {
      this.writeChunks(conn, chunks);
    } else {
      for (const c of chunks) {
        peer.backlog.push(c);
        peer.backlogBytes += c.length;
      }
    }
  }

  private writeChunks(conn: Conn, chunks: Buffer[]): void {
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
    this.stats.bytesSent += n;
  }

  // ---- connections --------------------------------------------------------------------------

  private dial(peer: Peer): void {
    if (!this.running || !peer.address || peer.conn || peer.dialing || (this.inbound.get(peer.location) ?? 0) > 0) return;
    if (peer.reconnectTimer) {
      clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = null;
    }
    const { host, port } = parseHostPort(peer.address);
    this.stats.dials++;
    let socket: net.Socket;
    if (this.tlsClient) {
      const servername = net.isIP(host) ? undefined : host;
      socket = tls.connect({ ...this.tlsClient, host, port, servername });
    } else {
      socket = net.connect({ host, port, noDelay: true });
    }
    const conn = this.track(socket, true, peer.address, addressKey(host));
    conn.peer = peer;
    peer.dialing = conn;
    socket.once(this.tlsClient ? 'secureConnect' : 'connect', () => {
      if (conn.state === ConnState.Closed) return;
      this.sendHello(conn);
    });
  }

  private accept(socket: net.Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (!this.running) {
      socket.destroy();
      return;
    }
    const key = addressKey(socket.remoteAddress);
    const refused = this.handshakeSlots.take(key);
    if (refused) {
      this.refuseSocket(socket, remote, key, refused);
      return;
    }
    this.stats.handshaking++;
    socket.setNoDelay(true);
    this.stats.accepted++;
    const conn = this.track(socket, false, remote, key);
    conn.handshakeSlot = true;
    this.sendHello(conn);
  }

  /** Refuse a socket before serving it: say why (a Goodbye naming the refusal), then close. */
  private refuseSocket(socket: net.Socket, remote: string, key: string, why: AdmissionError): void {
    this.reject(remote, key, null, why.code, why.message);
    socket.on('error', () => {});
    // A flood of refusals must not hold sockets open: past this many, close without a word.
    if (this.refusing.size >= MAX_REFUSING) {
      socket.destroy();
      return;
    }
    this.refusing.add(socket);
    // Read (and drop) what it sends: closing with unread bytes would reset the connection, and
    // the reset can discard the Goodbye before the other end reads it.
    socket.resume();
    socket.end(goodbyeFrame(why.code, why.message, why.refusal));
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.refusing.delete(socket);
    });
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
        const raw = (e as RuntimeError).code ?? 'EPROTO';
        const code = typeof raw === 'string' ? raw : 'EPROTO';
        const refusal = e instanceof AdmissionError ? e.refusal : refusalOf(code);
        this.close(conn, code, (e as Error).message, { goodbye: true, hostile: true, refusal });
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

  private sendHello(conn: Conn): void {
    const hello = {
      version: BRIDGE_PROTOCOL_VERSION,
      role: 'peer',
      location: this.location,
      instance: this.instance,
      nonce: conn.nonce,
      maxFrameBytes: this.maxFrameBytes,
    };
    conn.write(frameBytes(FrameKind.Hello, HelloType.encode(hello).finish()));
  }

  private readonly onFrame = (conn: Conn, kind: number, payload: Uint8Array): void => {
    if (kind === FrameKind.Envelope && conn.state === ConnState.Open) {
      this.onEnvelope(conn, payload);
      return;
    }
    switch (kind) {
      case FrameKind.Heartbeat:
        if (conn.state !== ConnState.Open) throw new FrameError('EPROTO', 'heartbeat before authentication');
        return;
      case FrameKind.Goodbye:
        this.onGoodbye(conn, payload);
        return;
      case FrameKind.Hello:
        if (conn.state !== ConnState.Hello) throw new FrameError('EPROTO', 'a second hello');
        this.onHello(conn, payload);
        return;
      case FrameKind.Auth:
        if (conn.state !== ConnState.Auth) throw new FrameError('EPROTO', conn.state === ConnState.Hello ? 'auth before hello' : 'a second auth');
        this.onAuth(conn, payload);
        return;
      case FrameKind.Envelope:
        throw new FrameError('EACCES', 'actor envelope before authentication');
      default:
        throw new FrameError('EPROTO', `unknown frame kind ${kind}`);
    }
  };

  private onHello(conn: Conn, payload: Uint8Array): void {
    let h: Hello;
    try {
      h = HelloType.decode(payload) as unknown as Hello;
    } catch (e) {
      throw new FrameError('EBADMSG', `malformed hello: ${(e as Error).message}`);
    }
    if (h.version !== BRIDGE_PROTOCOL_VERSION) throw new FrameError('EPROTO', `unsupported bridge protocol version ${h.version} (this node speaks ${BRIDGE_PROTOCOL_VERSION})`);
    if (h.role === 'client') {
      if (!this.clientOpts || conn.dialed) throw new FrameError('EACCES', 'client connections are not served on the cluster port');
      this.onClientHello(conn, h);
      return;
    }
    if (h.role !== 'peer') throw new FrameError('EPROTO', `unknown role "${h.role}" in hello`);
    if (!LOCATION_RE.test(h.location)) throw new FrameError('EPROTO', `bad location in hello: "${h.location.slice(0, 64)}"`);
    if (h.location === this.location) throw new FrameError('EPROTO', `the other end claims this node's own location ${h.location}`);
    if (!(h.nonce instanceof Uint8Array) || h.nonce.length !== NONCE_BYTES) throw new FrameError('EPROTO', `hello nonce must be ${NONCE_BYTES} bytes`);
    if (!h.instance || h.instance.length > 64) throw new FrameError('EPROTO', 'hello without a valid instance id');
    if (conn.dialed && h.location !== conn.peer!.location) {
      throw new FrameError('EPROTO', `dialed ${conn.peer!.location} at ${conn.remote}, but the node there is ${h.location}`);
    }
    conn.peerLocation = h.location;
    conn.peerInstance = h.instance;
    conn.peerNonce = Uint8Array.from(h.nonce);
    conn.peerMaxFrame = h.maxFrameBytes >>> 0;
    if (!conn.dialed) {
      // One link per pair: the lower location dials (see the top of this file).
      const peer = this.peers.get(h.location);
      if (peer && this.location < h.location) {
        if (peer.dialing) {
          this.close(conn, 'EDUPLICATE', `${this.location} is dialing ${h.location} itself (the lower location dials)`, { goodbye: true, level: 'debug' });
          return;
        }
        if (peer.conn && peer.conn.peerInstance === h.instance) {
          this.close(conn, 'EDUPLICATE', `${this.location} is already linked to this instance of ${h.location}`, { goodbye: true, level: 'info' });
          return;
        }
      }
      conn.inboundFor = h.location;
      this.inbound.set(h.location, (this.inbound.get(h.location) ?? 0) + 1);
    }
    conn.state = ConnState.Auth;
    const proof = handshakeProof(this.secret, conn.dialed ? 'dial' : 'accept', { location: this.location, instance: this.instance, nonce: conn.nonce }, { location: h.location, instance: h.instance, nonce: conn.peerNonce });
    conn.write(frameBytes(FrameKind.Auth, AuthType.encode({ proof }).finish()));
  }

  private onClientHello(conn: Conn, h: Hello): void {
    if (!(h.nonce instanceof Uint8Array) || h.nonce.length !== NONCE_BYTES) throw new FrameError('EPROTO', `hello nonce must be ${NONCE_BYTES} bytes`);
    if (!h.instance || h.instance.length > 64) throw new FrameError('EPROTO', 'hello without a valid instance id');
    // Refused early (before the client signs anything) if it would be refused at its Auth.
    const full = this.clientSlots!.check(conn.addressKey);
    if (full) throw full;
    conn.client = true;
    conn.peerInstance = h.instance;
    conn.peerNonce = Uint8Array.from(h.nonce);
    conn.peerMaxFrame = h.maxFrameBytes >>> 0;
    conn.state = ConnState.Auth;
  }

  private onClientAuth(conn: Conn, auth: AuthMsg): void {
    const opts = this.clientOpts!;
    const own = { location: this.location, instance: this.instance, nonce: conn.nonce };
    const client = { location: CLIENT_PROOF_LOCATION, instance: conn.peerInstance, nonce: conn.peerNonce! };
    if (opts.token) {
      const expected = handshakeProof(opts.token, 'dial', client, own);
      const proof = auth.proof;
      if (!(proof instanceof Uint8Array) || proof.length !== expected.length || !timingSafeEqual(proof, expected)) {
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
    const full = this.clientSlots!.take(conn.addressKey);
    if (full) throw full;
    conn.clientSlot = true;
    let location: string;
    do location = `c${randomBytes(6).toString('hex')}@${this.location}`;
    while (this.clients.has(location));
    let welcomeJson = '';
    try {
      welcomeJson = opts.welcome ? JSON.stringify(opts.welcome()) ?? '' : '';
    } catch (e) {
      this.log.error({ err: e }, 'client welcome document failed');
    }
    this.endHandshake(conn);
    conn.state = ConnState.Open;
    conn.peerLocation = location;
    conn.inflight = new Map();
    conn.decoder.maxFrameBytes = opts.maxFrameBytes ?? 1024 * 1024;
    const peer = new Peer(location, this.registry, this.maxFrameBytes, (p) => this.flushPeer(p));
    peer.limit = opts.maxQueueBytes ?? 8 * 1024 * 1024;
    peer.out.maxFrameBytes = Math.min(this.maxFrameBytes, conn.peerMaxFrame || this.maxFrameBytes);
    peer.conn = conn;
    peer.instance = conn.peerInstance;
    peer.links = 1;
    conn.peer = peer;
    this.clients.set(location, peer);
    this.stats.clients++;
    this.stats.clientsOpen++;
    const proof = opts.token ? handshakeProof(opts.token, 'accept', own, client) : new Uint8Array(0);
    conn.write(frameBytes(FrameKind.Auth, AuthType.encode({ proof, clientLocation: location, welcomeJson, clientId: conn.clientId }).finish()));
    this.log.debug({ client: location, clientId: conn.clientId, remote: conn.remote }, 'client connected');
    this.emit({ type: 'client-up', location, remote: conn.remote, clientId: conn.clientId });
  }

  /** An envelope from a client: only asks of the allowed types to allowed addresses. */
  private onClientEnvelope(conn: Conn, env: WireEnvelope): void {
    const opts = this.clientOpts!;
    const peer = conn.peer!;
    if (env.kind !== EnvelopeKind.Ask || !env.corr) throw new FrameError('EACCES', `a client may only ask (it sent a ${kindName(env.kind)} envelope)`);
    if (!opts.allowed.has(env.msg.type)) throw new FrameError('EACCES', `a client may not send ${String(env.msg.type).slice(0, 128)}`);
    if (!opts.allowTarget(env.to)) throw new FrameError('EACCES', `a client may not address ${env.to.slice(0, 128)}`);
    env.from = `${peer.location}#/`;
    if (opts.withClientId.has(env.msg.type) && env.msg.clientId !== conn.clientId) {
      this.refuseForged(conn, env);
      return;
    }
    if (env.msg.type === 'govfs.fs.FsRequest' && env.msg.ticketTo) env.msg.ticketTo = `${peer.location}#/tickets`;
    peer.received++;
    this.stats.received++;
    // Paused: the rest of the chunk being decoded waits here (at most one socket read).
    if (conn.paused) conn.held.push(env);
    else this.dispatchClient(conn, env);
  }

  /** A client request under another client's id: answered EPERM, never delivered. The
   * connection stays open (a buggy client learns why; a hostile one gains nothing). */
  private refuseForged(conn: Conn, env: WireEnvelope): void {
    const peer = conn.peer!;
    const raw = env.msg.clientId;
    const claimed = typeof raw === 'string' ? raw.slice(0, 64) : String(raw).slice(0, 64);
    const message = `${env.msg.type} refused: it names client "${claimed}", but this connection speaks for client ${conn.clientId} (the id proven in its handshake); a client may only send requests under its own id`;
    this.stats.forged++;
    conn.forged++;
    this.log[conn.forged === 1 ? 'warn' : 'debug']({ client: peer.location, clientId: conn.clientId, claimed, type: env.msg.type, remote: conn.remote, code: 'EPERM', refused: conn.forged }, 'client request under another client id refused');
    this.emit({ type: 'client-forged', location: peer.location, remote: conn.remote, clientId: conn.clientId, claimed, msgType: env.msg.type });
    try {
      this.send(peer, { to: env.from, from: env.to, kind: EnvelopeKind.Reply, corr: env.corr, msg: { type: 'govfs.runtime.AskFailed', code: 'EPERM', message } });
    } catch (e) {
      this.log.warn({ err: e, client: peer.location }, 'could not answer a refused client request');
    }
  }

  private dispatchClient(conn: Conn, env: WireEnvelope): void {
    const peer = conn.peer!;
    const inflight = conn.inflight!;
    inflight.set(env.corr, performance.now());
    if (!conn.paused && inflight.size >= (this.clientOpts!.maxInflight ?? 256)) {
      conn.paused = true;
      conn.socket.pause();
    }
    const hash = env.to.indexOf('#');
    const location = env.to.slice(0, hash);
    try {
      if (location === this.location) this.runtime.deliver(env);
      else this.runtime.transport(location, env);
    } catch (e) {
      this.log.debug({ err: e, client: peer.location, to: env.to }, 'a client request could not be delivered');
      const code = (e as { code?: unknown }).code;
      this.send(peer, { to: env.from, from: env.to, kind: EnvelopeKind.Reply, corr: env.corr, msg: { type: 'govfs.runtime.AskFailed', code: typeof code === 'string' ? code : 'EHOSTUNREACH', message: (e as Error).message } });
    }
  }

  /** A reply is going to a client: one ask fewer in flight. */
  private answered(peer: Peer, env: WireEnvelope): void {
    const conn = peer.conn;
    if (!conn?.inflight || env.kind !== EnvelopeKind.Reply) return;
    conn.inflight.delete(env.corr);
    this.maybeResume(conn);
  }

  private maybeResume(conn: Conn): void {
    if (conn.paused && conn.inflight!.size <= (this.clientOpts!.maxInflight ?? 256) / 2 && conn.state === ConnState.Open) {
      conn.paused = false;
      while (conn.held.length > 0 && !conn.paused && conn.state === ConnState.Open) this.dispatchClient(conn, conn.held.shift()!);
      if (!conn.paused) conn.socket.resume();
    }
  }

  private onAuth(conn: Conn, payload: Uint8Array): void {
    let proof: Uint8Array;
    try {
      const auth = AuthType.decode(payload) as unknown as AuthMsg;
      if (conn.client) {
        this.onClientAuth(conn, auth);
        return;
      }
      proof = auth.proof;
    } catch (e) {
      if (e instanceof FrameError) throw e;
      throw new FrameError('EBADMSG', `malformed auth: ${(e as Error).message}`);
    }
    const expected = handshakeProof(
      this.secret,
      conn.dialed ? 'accept' : 'dial',
      { location: conn.peerLocation!, instance: conn.peerInstance, nonce: conn.peerNonce! },
      { location: this.location, instance: this.instance, nonce: conn.nonce },
    );
    if (!(proof instanceof Uint8Array) || proof.length !== expected.length || !timingSafeEqual(proof, expected)) {
      throw new FrameError('EAUTH', `authentication failed: ${conn.peerLocation} does not prove the cluster secret`);
    }
    this.endHandshake(conn);
    conn.state = ConnState.Open;
    conn.decoder.maxFrameBytes = this.maxFrameBytes;
    this.activate(conn);
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
    if (conn.inboundFor !== null) {
      const n = (this.inbound.get(conn.inboundFor) ?? 1) - 1;
      if (n > 0) this.inbound.set(conn.inboundFor, n);
      else this.inbound.delete(conn.inboundFor);
      const peer = this.peers.get(conn.inboundFor);
      conn.inboundFor = null;
      if (peer && conn.state === ConnState.Closed) this.scheduleReconnect(peer);
    }
  }

  /** An authenticated link becomes the peer's link. */
  private activate(conn: Conn): void {
    const location = conn.peerLocation!;
    const peer = this.peers.get(location) ?? this.addPeer(location, null);
    const old = peer.conn;
    const restarted = peer.instance !== null && peer.instance !== conn.peerInstance;
    peer.conn = conn;
    conn.peer = peer;
    if (peer.dialing === conn) peer.dialing = null;
    if (old) this.close(old, 'EREPLACED', restarted ? `${location} restarted (new instance ${conn.peerInstance})` : `replaced by a newer link to ${location}`, { goodbye: true, level: 'info' });
    if (peer.dialing) {
      const d = peer.dialing;
      peer.dialing = null;
      this.close(d, 'EDUPLICATE', `superseded by the link ${location} dialed`, { goodbye: true, level: 'debug' });
    }
    if (peer.reconnectTimer) {
      clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = null;
    }
    peer.attempts = 0;
    peer.instance = conn.peerInstance;
    peer.links++;
    peer.out.maxFrameBytes = Math.min(this.maxFrameBytes, conn.peerMaxFrame || this.maxFrameBytes);
    if (peer.backlog.length > 0) {
      const backlog = peer.backlog;
      peer.backlog = [];
      peer.backlogBytes = 0;
      this.writeChunks(conn, backlog);
    }
    this.log.info({ peer: location, remote: conn.remote, dialed: conn.dialed, instance: conn.peerInstance, restarted }, 'bridge link up');
    this.emit({ type: 'peer-up', location, instance: conn.peerInstance, remote: conn.remote, dialed: conn.dialed, restarted });
  }

  private onEnvelope(conn: Conn, payload: Uint8Array): void {
    let env: WireEnvelope;
    try {
      env = this.registry.decode(payload, true);
    } catch (e) {
      throw new FrameError('EBADMSG', `corrupt envelope: ${(e as Error).message}`);
    }
    if (conn.client) {
      this.onClientEnvelope(conn, env);
      return;
    }
    const peer = conn.peer!;
    if (!env.to.startsWith(this.prefix)) {
      // A reply or ticket for one of our clients, sent by a node it asked through us.
      const client = this.clients.get(env.to.slice(0, env.to.indexOf('#')));
      if (client !== undefined) {
        peer.received++;
        this.stats.received++;
        try {
          this.send(client, env);
        } catch (e) {
          this.log.warn({ err: e, client: client.location, type: env.msg.type }, 'could not pass a message on to a client');
        }
        return;
      }
      this.stats.misrouted++;
      this.log.warn({ peer: peer.location, to: env.to, type: env.msg.type }, 'dropped an envelope addressed to another location');
      return;
    }
    peer.received++;
    this.stats.received++;
    try {
      this.runtime.deliver(env);
    } catch (e) {
      this.log.error({ err: e, peer: peer.location, to: env.to, type: env.msg.type }, 'delivering a bridged envelope failed');
    }
  }

  private onGoodbye(conn: Conn, payload: Uint8Array): void {
    let code = 'EPEER';
    let reason = '';
    try {
      const g = GoodbyeType.decode(payload) as unknown as { code: string; reason: string };
      code = g.code || code;
      reason = g.reason.slice(0, 512);
    } catch {
      reason = '(malformed goodbye)';
    }
    const level = code === 'EDUPLICATE' || code === 'ESHUTDOWN' ? 'debug' : 'info';
    this.close(conn, code, `the other end closed the link: ${reason || code}`, { level });
  }

  /** Close a connection with a logged reason; `hostile` counts and reports it as rejected. */
  private close(conn: Conn, code: string, reason: string, opts: { goodbye?: boolean; hostile?: boolean; level?: 'debug' | 'info' | 'warn'; refusal?: Refusal } = {}): void {
    if (conn.state === ConnState.Closed) return;
    const wasOpen = conn.state === ConnState.Open;
    conn.state = ConnState.Closed;
    conn.decoder.stop();
    this.endHandshake(conn);
    this.conns.delete(conn);
    const hostile = opts.hostile ?? false;
    if (conn.clientSlot) {
      conn.clientSlot = false;
      this.clientSlots!.release(conn.addressKey);
    }
    if (hostile) {
      this.reject(conn.remote, conn.addressKey, conn.peerLocation, code, reason);
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
    if (conn.client) {
      if (this.clients.get(peer.location) === peer) {
        this.clients.delete(peer.location);
        this.stats.clientsOpen--;
        peer.conn = null;
        peer.out.clear();
        peer.backlog = [];
        peer.backlogBytes = 0;
        this.emit({ type: 'client-down', location: peer.location, remote: conn.remote, code, reason });
      }
      return;
    }
    if (peer.conn === conn) {
      peer.conn = null;
      if (wasOpen) {
        this.emit({ type: 'peer-down', location: peer.location, code, reason });
        if (!hostile) this.log.info({ peer: peer.location, code }, `bridge link down: ${reason}`);
      }
    }
    if (peer.dialing === conn) peer.dialing = null;
    this.scheduleReconnect(peer);
  }

  /** Count, log (warnings rate-limited per address `key`) and report a refused connection. */
  private reject(remote: string, key: string, location: string | null, code: string, reason: string): void {
    this.stats.rejected++;
    const warn = this.refusals.admit(key, code, reason, performance.now());
    this.log[warn ? 'warn' : 'debug']({ remote, peer: location, code }, `bridge connection refused: ${reason}`);
    this.emit({ type: 'rejected', remote, location, code, reason });
  }

  /** One warning per noisy address per interval: how many refusals its warnings left out. */
  private summarizeRefusals(now: number): void {
    for (const s of this.refusals.drain(now)) {
      const codes = Object.entries(s.codes).map(([c, n]) => `${c}: ${n}`).join(', ');
      this.log.warn({ remote: s.key, refused: s.suppressed, codes: s.codes }, `bridge connections refused: ${s.suppressed} more from ${s.key} in the last ${s.seconds} s (${codes}); the last: ${s.last}`);
    }
  }

  private scheduleReconnect(peer: Peer): void {
    if (!this.running || !peer.address || peer.conn || peer.dialing || peer.reconnectTimer) return;
    const base = Math.min(this.backoffMax, this.backoffMin * 2 ** Math.min(peer.attempts, 30));
    peer.attempts++;
    const delay = base / 2 + Math.random() * (base / 2);
    peer.reconnectTimer = setTimeout(() => {
      peer.reconnectTimer = null;
      this.dial(peer);
      // A dial suppressed by an inbound handshake is retried when that handshake ends.
    }, delay);
  }

  private tick(): void {
    const now = performance.now();
    this.summarizeRefusals(now);
    for (const conn of this.conns) {
      if (conn.state !== ConnState.Open) continue;
      if (conn.inflight && conn.inflight.size > 0) {
        // Asks that will never be answered (dropped, timed out) stop counting after a while.
        for (const [corr, at] of conn.inflight) if (now - at > CLIENT_ASK_EXPIRY_MS) conn.inflight.delete(corr);
        this.maybeResume(conn);
      }
      if (conn.rx) {
        conn.missed = 0;
        conn.rx = false;
      } else if (++conn.missed >= this.missedHeartbeats) {
        this.stats.heartbeatTimeouts++;
        this.close(conn, 'ETIMEDOUT', `nothing from ${conn.peerLocation} for ${conn.missed} heartbeats of ${this.heartbeatMs} ms: peer dead or link cut`, { level: 'warn' });
        continue;
      }
      const s = conn.socket;
      const pending = s.writableLength;
      const progress = s.bytesWritten - pending;
      if (pending > 0 && progress === conn.progress) {
        if (conn.stalledSince === 0) conn.stalledSince = now;
        else if (now - conn.stalledSince >= this.stallTimeoutMs) {
          this.close(conn, 'ETIMEDOUT', `${conn.peerLocation} read nothing for ${Math.round(now - conn.stalledSince)} ms with ${pending} bytes waiting: not reading`, { level: 'warn' });
          continue;
        }
      } else {
        conn.stalledSince = 0;
      }
      conn.progress = progress;
      if (!conn.tx) conn.write(HEARTBEAT);
      conn.tx = false;
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

const HEARTBEAT = frameBytes(FrameKind.Heartbeat);
/** How long a socket refused at accept may take to read its Goodbye and close. */
const REFUSAL_LINGER_MS = 1000;
/** Refused sockets lingering at once, at most. */
const MAX_REFUSING = 256;

function goodbyeFrame(code: string, reason: string, refusal: Refusal): Buffer {
  return frameBytes(FrameKind.Goodbye, GoodbyeType.encode({ code, reason: reason.slice(0, 512), refusal }).finish());
}

/** A client's unanswered ask stops counting against its in-flight limit after this long. */
const CLIENT_ASK_EXPIRY_MS = 30_000;

function kindName(kind: number): string {
  return kind === EnvelopeKind.Tell ? 'tell' : kind === EnvelopeKind.Reply ? 'reply' : kind === EnvelopeKind.System ? 'system' : `kind-${kind}`;
}
