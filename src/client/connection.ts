// One client connection to a GovFS node over TCP (the client end of the bridge's "client" role,
// see docs/bridge.md, "Clients"): the same framing as the bridge, a client Hello, an Auth
// proving the client token if the cluster has one (HMAC over both nonces, the token never
// crosses the wire) and the client's identity (its public key and a signature over both
// nonces, src/net/client-identity.ts), then asks as actor envelopes and their replies. The
// node names the location this client's replies and tickets are addressed to, confirms the
// client id it bound to the connection (requests under any other id are refused, EPERM), and
// sends a welcome document (the node id → actor address map).
//
// No runtime here: asks are matched to replies by correlation id, tells addressed to this
// client (tickets) go to `onTell`. Heartbeats keep the connection alive and notice a dead node.
//
// A node that refuses the connection says why in a Goodbye (src/net/admission.ts): `open`
// rejects with a ConnectionRefusedError whose code tells "try again in a moment" (EAGAIN), "too
// many clients" (EUSERS), a handshake deadline (ETIMEDOUT) and a failed authentication (EAUTH)
// apart from nothing listening at the address (ECONNREFUSED, from the socket).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { RuntimeError } from '../runtime/errors.js';
import { IntTable } from '../runtime/int-table.js';
import { Refusal, refusalCode } from '../net/admission.js';
import { BRIDGE_PROTOCOL_VERSION, CLIENT_PROOF_LOCATION, decodeHandshake, handshakeFrame, handshakeProof, parseHostPort } from '../net/handshake.js';
import { type ClientIdentity, clientIdentity, identityTranscript } from '../net/client-identity.js';
import { DirectWriter } from '../wire/direct-writer.js';
import { FrameDecoder, FrameError, FrameKind, frameBytes } from '../wire/frame.js';
import { PART_HIGH_WATER, PartAssembler, PartQueue, WHOLE_FRAME_MAX } from '../wire/parts.js';
import { EnvelopeKind, MessageRegistry, type TypedMessage, type WireEnvelope } from '../wire/registry.js';
import { type ClientTlsOptions, clientTls } from '../net/tls-config.js';

export interface ClientConnOptions {
  /** The cluster's client token, if it has one. */
  token?: Uint8Array;
  /** Who this client is: its requests must carry `identity.clientId`. Reuse it on every
   * connection of one client (e.g. after a failover). Default: a fresh identity. */
  identity?: ClientIdentity;
  /** Connect + handshake deadline (default 3000 ms). */
  connectTimeoutMs?: number;
  /** The local address to connect from (default: the system's choice). */
  localAddress?: string;
  /** Send a heartbeat after this long without sending (default 1000 ms); the node is taken
   * for dead after 5× this without a frame from it. */
  heartbeatMs?: number;
  /** Largest frame accepted from the node (default 16 MiB). */
  maxFrameBytes?: number;
  /** Largest message accepted from the node, whole or in parts (src/wire/parts.ts; default
   * 64 MiB): a bigger one closes the connection (EMSGSIZE). */
  maxMessageBytes?: number;
  registry?: MessageRegistry;
  /** Reach the node over TLS, checking its certificate against this CA (the node's --tls-ca). */
  tls?: ClientTlsOptions;
}

/** What a node tells its clients in the handshake. */
export interface Welcome {
  /** Node id → actor address of its root (what client requests are addressed to). */
  nodes?: Record<string, string>;
  /** The node this connection reached (`govfs node`), or '' for a whole-cluster process. */
  node?: string;
  [k: string]: unknown;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
  to: string;
}

let sharedRegistry: MessageRegistry | null = null;

/** Largest message accepted from a node by default (`maxMessageBytes`). */
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The node at `server` refused this connection before serving it, and said why. */
export class ConnectionRefusedError extends RuntimeError {
  constructor(
    /** 'host:port' that refused. */
    readonly server: string,
    /** What the node named (govfs.bridge.Refusal; Unspecified from an older node or for a
     * refusal without a class, e.g. EACCES "client connections are not served"). */
    readonly refusal: Refusal,
    /** The node's own words. */
    readonly reason: string,
    code: string,
  ) {
    super(code, `${server} refused the connection: ${reason}`);
  }

  /** Refused for lack of a free slot, which frees by itself (EAGAIN): worth another try soon. */
  get transient(): boolean {
    return this.refusal === Refusal.TooManyHandshakes || this.refusal === Refusal.TooManyHandshakesFromAddress;
  }

  static fromGoodbye(server: string, g: { code?: string; reason?: string; refusal?: number }): ConnectionRefusedError {
    const known = Object.values(Refusal).includes(g.refusal as Refusal) ? (g.refusal as Refusal) : Refusal.Unspecified;
    const code = refusalCode(known) || g.code || 'ECONNABORTED';
    return new ConnectionRefusedError(server, known, (g.reason || g.code || 'no reason given').slice(0, 512), code);
  }
}

const HEARTBEAT = frameBytes(FrameKind.Heartbeat);

/** A TLS record (handshake or alert, TLS 1.x) where a bridge frame was expected. */
function looksLikeTls(b: Buffer): boolean {
  return b.length >= 3 && (b[0] === 0x15 || b[0] === 0x16) && b[1] === 0x03 && b[2]! <= 0x04;
}

/** Why a TLS connection failed before it was secured, in the user's terms. */
function tlsFailure(address: string, e: NodeJS.ErrnoException & { reason?: string }): RuntimeError {
  const code = e.code ?? '';
  // OpenSSL's own message is a multi-line dump; its `reason` says it in a few words.
  if (/CERT|SELF_SIGNED|UNABLE_TO|VERIFY|ALTNAME/.test(code)) {
    return new RuntimeError('ETLS', `${address}: the node's TLS certificate is not trusted: ${e.message} (is tls.ca / --tls-ca the CA that signed the cluster's certificates?)`);
  }
  if (/SSL|TLS|EPROTO/.test(code)) {
    return new RuntimeError('ETLS', `${address}: TLS handshake failed: ${e.reason ?? e.message.trim()} (does this node serve TLS?)`);
  }
  return new RuntimeError(code || 'ECONNRESET', `${address}: ${e.message}`);
}

export class ClientConnection {
  /** Where this client is addressed (assigned by the node). */
  readonly location: string;
  /** The client id bound to this connection: every request with a `clientId` must carry it. */
  readonly clientId: string;
  /** The node's location (e.g. "n1", or "main" for `govfs cluster`). */
  readonly serverLocation: string;
  /** Tells addressed to this client (tickets). */
  onTell: ((msg: TypedMessage, to: string) => void) | null = null;
  /** Called once when the connection ends, with why. */
  onClose: ((err: RuntimeError) => void) | null = null;
  /** Asks awaiting their reply, by correlation id (an IntTable, not a Map: see
   * runtime/int-table.ts). */
  private readonly pending = new IntTable<Pending>();
  private nextCorr = 1;
  private closedWith: RuntimeError | null = null;
  private readonly serverMaxFrame: number;
  /** The largest message the node accepts (its Hello). */
  private readonly serverMaxMessage: number;
  /** Large requests in parts, and requests held behind them (src/wire/parts.ts). */
  private readonly outParts = new PartQueue();
  private partsWaiting = false;
  private readonly inParts: PartAssembler;
  private lastTx = Date.now();
  private lastRx = Date.now();
  private readonly timer: ReturnType<typeof setInterval>;
  /** Requests written in this pass of the event loop after its first: the first goes out at
   * once (a lone request waits for nothing), the rest in one writev at the loop's check phase
   * (issue 19: one write per request cost a syscall each here, and a socket read each at the
   * node, when many are in flight). */
  private held: Uint8Array[] = [];
  /** A write went out in this pass of the loop (cleared at its check phase). */
  private wroteThisPass = false;

  /** A connection whose handshake ended: the node's hello (`hello`), and its answer binding
   * this client (`accept`: the client's location and id, and the limits it takes, where it
   * says them; else the hello's). */
  private constructor(
    private readonly socket: net.Socket,
    readonly address: string,
    private readonly registry: MessageRegistry,
    readonly welcome: Welcome,
    handshake: { hello: { location: string; maxFrameBytes: number; maxMessageBytes: number }; accept: { clientLocation: string; clientId: string; maxFrameBytes: number; maxMessageBytes: number } },
    local: { maxMessageBytes: number; heartbeatMs: number },
  ) {
    const { hello, accept } = handshake;
    this.location = accept.clientLocation;
    this.clientId = accept.clientId;
    this.serverLocation = hello.location;
    this.serverMaxFrame = accept.maxFrameBytes || hello.maxFrameBytes || 16 * 1024 * 1024;
    this.serverMaxMessage = accept.maxMessageBytes || hello.maxMessageBytes || hello.maxFrameBytes || 16 * 1024 * 1024;
    this.inParts = new PartAssembler(local.maxMessageBytes, () => `node ${hello.location} at ${address}`);
    const hb = local.heartbeatMs;
    this.timer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastRx > 5 * Math.max(hb, 1000)) {
        this.fail(new RuntimeError('ETIMEDOUT', `node ${this.serverLocation} at ${this.address} sent nothing for ${now - this.lastRx} ms`));
        return;
      }
      if (now - this.lastTx >= hb) this.write(HEARTBEAT);
    }, hb);
    this.timer.unref();
  }

  /** Connect to a node at 'host:port' and complete the client handshake. */
  static open(address: string, opts: ClientConnOptions = {}): Promise<ClientConnection> {
    const { host, port } = parseHostPort(address);
    const registry = opts.registry ?? (sharedRegistry ??= MessageRegistry.standard());
    const timeoutMs = opts.connectTimeoutMs ?? 3000;
    const heartbeatMs = opts.heartbeatMs ?? 1000;
    const nonce = randomBytes(32);
    const instance = randomBytes(8).toString('hex');
    let identity: ClientIdentity;
    let tlsOpts: tls.ConnectionOptions | null;
    try {
      identity = opts.identity ?? clientIdentity();
      tlsOpts = opts.tls ? clientTls(opts.tls, host) : null;
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<ClientConnection>((resolve, reject) => {
      const socket = tlsOpts ? tls.connect({ ...tlsOpts, host, port, localAddress: opts.localAddress } as tls.ConnectionOptions).setNoDelay(true) : net.connect({ host, port, noDelay: true, localAddress: opts.localAddress });
      /** Bytes from the node so far, until the handshake ends (to tell a TLS node apart). */
      let heard = 0;
      let secured = false;
      let conn: ClientConnection | null = null;
      let server: { location: string; instance: string; nonce: Uint8Array; maxFrameBytes: number; maxMessageBytes: number } | null = null;
      let settled = false;
      const fail = (err: RuntimeError): void => {
        if (conn) {
          conn.fail(err);
          return;
        }
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new RuntimeError('ETIMEDOUT', `no handshake with ${address} within ${timeoutMs} ms`)), timeoutMs);
      const decoder = new FrameDecoder(opts.maxFrameBytes ?? 16 * 1024 * 1024, (kind, payload) => {
        if (conn) {
          conn.onFrame(kind, payload);
          return;
        }
        if (kind === FrameKind.Goodbye) throw ConnectionRefusedError.fromGoodbye(address, decodeHandshake(kind, payload) as { code: string; reason: string; refusal: number });
        if (kind === FrameKind.Hello && !server) {
          const h = decodeHandshake(kind, payload) as { version: number; role: string; location: string; instance: string; nonce: Uint8Array; maxFrameBytes: number; maxMessageBytes: number };
          if (h.version !== BRIDGE_PROTOCOL_VERSION) throw new FrameError('EPROTO', `${address} speaks protocol version ${h.version}, this client ${BRIDGE_PROTOCOL_VERSION}`);
          if (!(h.nonce instanceof Uint8Array) || h.nonce.length !== 32) throw new FrameError('EPROTO', `${address} sent a malformed hello`);
          server = { location: h.location, instance: h.instance, nonce: Uint8Array.from(h.nonce), maxFrameBytes: h.maxFrameBytes, maxMessageBytes: h.maxMessageBytes };
          const own = { location: CLIENT_PROOF_LOCATION, instance, nonce };
          const proof = opts.token ? handshakeProof(opts.token, 'dial', own, server) : new Uint8Array(0);
          const clientSignature = identity.sign(identityTranscript(server, { instance, nonce }, identity.publicKey));
          socket.write(handshakeFrame('auth', { proof, clientKey: identity.publicKey, clientSignature }));
          return;
        }
        if (kind === FrameKind.Auth && server) {
          const a = decodeHandshake(kind, payload) as { proof: Uint8Array; clientLocation: string; welcomeJson: string; clientId: string; maxMessageBytes: number; maxFrameBytes: number };
          if (opts.token) {
            // The node proves it knows the token too: this is the cluster we meant.
            const expected = handshakeProof(opts.token, 'accept', server, { location: CLIENT_PROOF_LOCATION, instance, nonce });
            if (!(a.proof instanceof Uint8Array) || a.proof.length !== expected.length || !timingSafeEqual(a.proof, expected)) {
              throw new FrameError('EAUTH', `${address} does not prove the client token: not the cluster you meant`);
            }
          }
          if (!a.clientLocation) throw new FrameError('EPROTO', `${address} did not assign this client a location`);
          if (a.clientId !== identity.clientId) {
            throw new FrameError('EPROTO', a.clientId ? `${address} bound this connection to client ${a.clientId.slice(0, 64)}, not to ${identity.clientId}` : `${address} did not confirm this client's identity (an older node?)`);
          }
          let welcome: Welcome = {};
          try {
            welcome = a.welcomeJson ? (JSON.parse(a.welcomeJson) as Welcome) : {};
          } catch {
            throw new FrameError('EPROTO', `${address} sent a malformed welcome document`);
          }
          clearTimeout(timer);
          settled = true;
          conn = new ClientConnection(socket, address, registry, welcome, { hello: server, accept: a }, { maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, heartbeatMs });
          resolve(conn);
          return;
        }
        if (kind === FrameKind.Heartbeat) return;
        throw new FrameError('EPROTO', `${address} sent frame kind ${kind} during the handshake`);
      });
      // Parts of large replies are reassembled from views of the reads, not copied twice.
      decoder.gather(FrameKind.Part, (kind, pieces) => {
        if (!conn) throw new FrameError('EPROTO', `${address} sent frame kind ${kind} during the handshake`);
        conn.onFrame(kind, pieces);
      });
      socket.on(tlsOpts ? 'secureConnect' : 'connect', () => {
        secured = true;
        socket.write(handshakeFrame('hello', { version: BRIDGE_PROTOCOL_VERSION, role: 'client', location: '', instance, nonce, maxFrameBytes: opts.maxFrameBytes ?? 16 * 1024 * 1024, maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES }));
      });
      socket.on('data', (chunk: Buffer) => {
        if (conn) conn.lastRx = Date.now();
        else if (heard++ === 0 && !tlsOpts && looksLikeTls(chunk)) {
          fail(new RuntimeError('ETLS', `${address} speaks TLS: connect with the CA that signed its certificate (tls: { ca } / --tls-ca)`));
          return;
        }
        try {
          decoder.push(chunk);
        } catch (e) {
          decoder.stop();
          const code = (e as RuntimeError).code;
          fail(e instanceof RuntimeError ? e : new RuntimeError(typeof code === 'string' ? code : 'EPROTO', (e as Error).message));
        }
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        fail(tlsOpts && !secured ? tlsFailure(address, e) : new RuntimeError(e.code ?? 'ECONNRESET', `${address}: ${e.message}`));
      });
      socket.on('close', () => {
        // A node serving TLS drops a plain connection without a word.
        const why = !conn && heard === 0 && !tlsOpts ? ' before saying hello (if it serves TLS, connect with its CA: tls: { ca } / --tls-ca)' : '';
        fail(new RuntimeError('ECONNRESET', `connection to ${address} closed${why}`));
      });
    });
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  /** Ask the actor at `to` (e.g. "t0#/n1"); rejects with ETIMEDOUT, ECONNRESET, or the
   * code of a failed ask (ENOENT, EACCES, ...). */
  ask(to: string, msg: TypedMessage | object, timeoutMs: number): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const corr = this.nextCorr++;
    const env: WireEnvelope = { to, from: `${this.location}#/`, kind: EnvelopeKind.Ask, corr, msg: msg as TypedMessage };
    let bytes: Uint8Array;
    try {
      // A writer of its own: its bytes are this request's, sent without another copy.
      bytes = this.registry.encode(env, new DirectWriter(256)).view();
    } catch (e) {
      return Promise.reject(e);
    }
    if (bytes.length > this.serverMaxMessage) {
      const type = (msg as { type?: unknown }).type;
      return Promise.reject(
        new RuntimeError('EMSGSIZE', `request ${String(type)} of ${bytes.length} bytes is larger than node ${this.serverLocation} at ${this.address} accepts (${this.serverMaxMessage} bytes, its maxMessageBytes): send the data in smaller pieces`),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(corr);
        reject(new RuntimeError('ETIMEDOUT', `no answer from ${to} via ${this.address} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(corr, { resolve, reject, timer, to });
      const small = bytes.length <= Math.min(WHOLE_FRAME_MAX, this.serverMaxFrame - 1);
      if (small && !this.outParts.holds(to)) {
        this.send(frameBytes(FrameKind.Envelope, bytes));
      } else {
        // Large (in parts), or behind a large one to the same node (kept in order).
        this.outParts.push(to, bytes, small);
        this.pumpParts();
      }
    });
  }

  /** Write parts while the socket buffers less than PART_HIGH_WATER, the rest when it drains:
   * other requests pass between them (src/wire/parts.ts). */
  private pumpParts(): void {
    if (this.partsWaiting || this.closedWith) return;
    this.flushHeld(); // requests sent before these parts go before them
    const socket = this.socket;
    socket.cork(); // one writev for the parts written now
    while (!this.outParts.empty && socket.writableLength < PART_HIGH_WATER) {
      for (const f of this.outParts.next(this.serverMaxFrame)!) socket.write(f);
    }
    socket.uncork();
    this.lastTx = Date.now();
    if (this.outParts.empty) return;
    this.partsWaiting = true;
    socket.once('drain', () => {
      this.partsWaiting = false;
      this.pumpParts();
    });
  }

  /** Close the connection (a Goodbye, then FIN); pending asks fail with ECONNRESET. */
  close(): Promise<void> {
    if (!this.closedWith) {
      const done = new Promise<void>((r) => this.socket.once('close', () => r()));
      this.socket.end(handshakeFrame('goodbye', { code: 'ESHUTDOWN', reason: 'client closing' }));
      setTimeout(() => this.socket.destroy(), 1000).unref();
      this.fail(new RuntimeError('ECONNRESET', 'connection closed by the client'), false);
      return done;
    }
    return Promise.resolve();
  }

  private write(buf: Uint8Array): void {
    if (this.closedWith) return;
    this.lastTx = Date.now();
    this.socket.write(buf);
  }

  /** A request's frame: written now if it is the first of this pass of the event loop, else
   * held for one writev at the pass's check phase. */
  private send(frame: Uint8Array): void {
    if (!this.wroteThisPass) {
      this.wroteThisPass = true;
      setImmediate(this.endPass);
      this.write(frame);
    } else {
      this.held.push(frame);
    }
  }

  private readonly endPass = (): void => {
    this.wroteThisPass = false;
    this.flushHeld();
  };

  private flushHeld(): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    if (this.closedWith) return;
    this.lastTx = Date.now();
    if (held.length === 1) {
      this.socket.write(held[0]!);
      return;
    }
    this.socket.cork();
    for (const f of held) this.socket.write(f);
    this.socket.uncork();
  }

  /** A frame; a Part that straddled reads comes as pieces (FrameDecoder.gather). */
  private onFrame(kind: number, data: Uint8Array | Uint8Array[]): void {
    if (kind === FrameKind.Part) {
      const whole = this.inParts.push(data); // throws FrameError: the connection fails
      if (whole !== null) this.onEnvelope(this.registry.decode(whole, false));
      return;
    }
    const payload = data instanceof Uint8Array ? data : Buffer.concat(data);
    switch (kind) {
      case FrameKind.Heartbeat:
        return;
      case FrameKind.Goodbye: {
        const g = decodeHandshake(kind, payload) as { code: string; reason: string };
        this.fail(new RuntimeError('ECONNRESET', `node ${this.serverLocation} closed the connection: ${g.reason || g.code}`));
        return;
      }
      case FrameKind.Envelope:
        this.onEnvelope(this.registry.decode(payload, true));
        return;
      default:
        throw new FrameError('EPROTO', `unexpected frame kind ${kind} from ${this.address}`);
    }
  }

  private onEnvelope(env: WireEnvelope): void {
    if (env.kind === EnvelopeKind.Reply) {
      const p = this.pending.get(env.corr);
      if (!p) return; // late
      this.pending.delete(env.corr);
      clearTimeout(p.timer);
      const m = env.msg;
      if (m.type === 'govfs.runtime.AskFailed') p.reject(new RuntimeError(String(m.code || 'EFAULT'), `ask to ${p.to} failed: ${String(m.message)}`));
      else p.resolve(m);
      return;
    }
    this.onTell?.(env.msg, env.to);
  }

  private fail(err: RuntimeError, destroy = true): void {
    if (this.closedWith) return;
    this.closedWith = err;
    clearInterval(this.timer);
    this.outParts.clear();
    this.inParts.reset();
    if (destroy) this.socket.destroy();
    const pending = this.pending.keyList().map((corr) => this.pending.get(corr)!);
    this.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.onClose?.(err);
  }
}
