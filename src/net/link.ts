// One connection (Conn) and one destination's outbound queue (Peer) of the bridge: the state the
// node links (src/net/node-links.ts), the client gateway (src/net/client-gateway.ts) and the
// bridge (src/net/bridge.ts) share. A Peer is a node we link to or a connected client; its
// `conn` is the authenticated connection messages go to. Design: docs/bridge.md.

import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Logger } from 'pino';
import type { LocalRuntime } from '../runtime/runtime.js';
import type { Ref } from '../runtime/types.js';
import type { Refusal } from './admission.js';
import type { BridgeEvent, BridgeStats } from './bridge-types.js';
import { FrameDecoder, FrameEncoder, FrameKind } from '../wire/frame.js';
import { PartAssembler, PartQueue } from '../wire/parts.js';
import { HANDSHAKE_MAX_FRAME_BYTES, NONCE_BYTES } from './handshake.js';
import type { MessageRegistry, WireEnvelope } from '../wire/registry.js';

export enum ConnState {
  Hello,
  Auth,
  Open,
  Closed,
}

export interface CloseOptions {
  goodbye?: boolean;
  hostile?: boolean;
  level?: 'debug' | 'info' | 'warn';
  refusal?: Refusal;
}

export class Conn {
  state = ConnState.Hello;
  readonly decoder: FrameDecoder;
  nonce: Buffer = randomBytes(NONCE_BYTES);
  peerLocation: string | null = null;
  peerInstance = '';
  peerNonce: Uint8Array | null = null;
  peerMaxFrame = 0;
  /** The largest message the other end accepts, whole or in parts (its Hello; 0: not said). */
  peerMaxMessage = 0;
  /** Reassembles large messages sent in parts (src/wire/parts.ts); its limit is set when the
   * connection is authenticated (until then no part is accepted). */
  readonly parts = new PartAssembler(0, () => `${this.peerLocation ?? 'the other end'} at ${this.remote}`);
  peer: Peer | null = null;
  /** Counted in its location's inbound handshakes (see NodeLinks.inbound). */
  inboundFor: string | null = null;
  /** The remote address connections are counted under (admission.ts addressKey). */
  addressKey = '';
  /** Holds a handshake slot / a client slot under addressKey. */
  handshakeSlot = false;
  clientSlot = false;
  /** Over TLS: did the other end present a certificate the cluster CA signed? Only such a
   * connection may become a node link; one without a certificate may only be a client. */
  certified = true;
  handshakeTimer: ReturnType<typeof setTimeout> | null = null;
  killTimer: ReturnType<typeof setTimeout> | null = null;
  lastError: string | null = null;
  rx = false;
  tx = false;
  missed = 0;
  progress = 0;
  stalledSince = 0;
  /** A client connection (role "client"). */
  client = false;
  /** A client: the id it proved in the handshake (its requests must carry it). */
  clientId = '';
  /** A client: requests refused for a forged id (the first is logged as a warning). */
  forged = 0;
  /** A client: its connection actor (src/net/client-connection.ts), and its asks passed to it
   * and not yet answered. */
  actor: Ref<WireEnvelope> | null = null;
  asking = 0;
  paused = false;
  /** Envelopes decoded while paused (the rest of one socket read). */
  held: WireEnvelope[] = [];
  /** A client: bytes of the shared budget for incomplete large messages (ClientGateway) its
   * message in progress holds. */
  reserved = 0;
  /** A client waiting for that budget: not read from; the frames of the read that were already
   * in hand wait here (at most one socket read). */
  blocked = false;
  pending: { kind: number; data: Uint8Array | Uint8Array[] }[] = [];

  constructor(
    readonly socket: net.Socket,
    readonly dialed: boolean,
    readonly remote: string,
    onFrame: (conn: Conn, kind: number, payload: Uint8Array | Uint8Array[]) => void,
  ) {
    this.decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES, (kind, payload) => onFrame(this, kind, payload));
    // Parts of large messages are reassembled from views of the reads, not copied twice.
    this.decoder.gather(FrameKind.Part, (kind, pieces) => onFrame(this, kind, pieces));
  }

  write(buf: Uint8Array): void {
    this.tx = true;
    this.socket.write(buf);
  }
}

export class Peer {
  address: string | null = null;
  /** The authenticated link messages go to. */
  conn: Conn | null = null;
  /** Our dial in progress. */
  dialing: Conn | null = null;
  instance: string | null = null;
  readonly out: FrameEncoder;
  /** Large messages (in parts) and the messages held behind them (src/wire/parts.ts). */
  readonly parts = new PartQueue();
  /** Waiting for the socket to drain before writing more parts. */
  partsWaiting = false;
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
    return this.out.length + this.backlogBytes + this.parts.bytes + (this.conn ? this.conn.socket.writableLength : 0);
  }
}

/** What the bridge lends its parts: identity, counters, logging, and closing a connection. */
export interface LinkHost {
  readonly location: string;
  /** Random per start (changes on restart). */
  readonly instance: string;
  readonly runtime: LocalRuntime;
  readonly registry: MessageRegistry;
  readonly stats: BridgeStats;
  readonly log: Logger;
  /** Largest frame accepted after authentication. */
  readonly maxFrameBytes: number;
  /** Largest message accepted from a node, whole or in parts. */
  readonly maxMessageBytes: number;
  readonly running: boolean;
  readonly stopped: boolean;
  emit(e: BridgeEvent): void;
  close(conn: Conn, code: string, reason: string, opts?: CloseOptions): void;
  /** The handshake is over (authenticated or closed): free its slot and timer. */
  endHandshake(conn: Conn): void;
  /** Queue an envelope to a peer or client (throws EncodeError). */
  send(peer: Peer, env: WireEnvelope): void;
}
