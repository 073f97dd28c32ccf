// The bridge's public types: its options, events, counters and link descriptions (re-exported by
// src/net/bridge.ts, where callers import them from). Design: docs/bridge.md.

import type { Logger } from 'pino';
import type { LocalRuntime } from '../runtime/runtime.js';
import type { EnvelopeKind, MessageRegistry } from '../wire/registry.js';
import type { BridgeTlsOptions } from './tls-config.js';

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
  /** Largest message accepted from a client, whole or in parts (src/wire/parts.ts; default
   * 16 MiB, or maxFrameBytes when only that is set). A bigger one closes the connection
   * (EMSGSIZE); the client library refuses to send one (EMSGSIZE) before it gets that far. */
  maxMessageBytes?: number;
  /** Bytes of incomplete large messages held for all clients at once (default 256 MiB): a
   * client whose next large message does not fit is not read from until others complete (TCP
   * pushes back); one message is always admitted when none is held. */
  maxPartialBytes?: number;
  /** Bytes queued towards one client before replies to it are dropped (default 8 MiB). */
  maxQueueBytes?: number;
  /** Unanswered asks per client before its connection stops being read (default 256). */
  maxInflight?: number;
}

/** What a client may send by default: the GovFS client requests and the status probes. */
export const CLIENT_MESSAGE_TYPES: readonly string[] = ['govfs.fs.FsRequest', 'govfs.fs.StatusRequest', 'govfs.fs.TicketStatusRequest', 'govfs.fs.NodeProbe', 'govfs.fs.BalanceRequest', 'govfs.fs.MemberRequest', 'govfs.fs.MinistryCopyRequest'];

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
  /** Largest message accepted from a node, whole or in parts (src/wire/parts.ts; default
   * 64 MiB, or maxFrameBytes when only that is set). Advertised in the Hello: a sender refuses
   * a bigger one itself (EncodeError, EMSGSIZE); a node that sends one anyway is disconnected. */
  maxMessageBytes?: number;
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
  /** Times a client waited (was not read from) for the shared budget of incomplete large
   * messages (clients.maxPartialBytes). */
  partialWaits: number;
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
export function linkInfo(p: { location: string; conn?: unknown; instance: string | null; queuedBytes: number; sent: number; received: number; dropped: number; links: number }, address: string | null): PeerInfo {
  return { location: p.location, address, connected: !!p.conn, instance: p.instance, queuedBytes: p.queuedBytes, sent: p.sent, received: p.received, dropped: p.dropped, links: p.links };
}
