// A GovClient over the network: `connect(['host:port', ...])` returns a GovClient that works
// exactly like the in-process one (same class, same retries, redirects and exactly-once
// sequence numbers) over a ClientTransport that sends every request over one client
// connection (src/client/connection.ts) to one of the given servers. The server passes requests
// for nodes it does not host on to them (`govfs node`), or onto the worker threads
// (`govfs cluster`). When the connection breaks the next request reconnects, trying the
// servers in turn; requests in flight fail with a retryable error and GovClient retries them.
// The client's id is derived from a secret it generates (src/net/client-identity.ts) and proven
// on every connection, so it stays the same across reconnects (retries stay exactly-once) and
// no other client can send requests under it.
//
// When no server can be used, `connect` (and a request needing a new connection) rejects with a
// ConnectError whose code and message say why, for a person to read as is:
//   ECONNREFUSED  "cannot reach the cluster at A (connect ECONNREFUSED: nothing listening at A)"
//   EUSERS/EAGAIN "refused: too many connections at A (...the node's reason...)"
//   EAUTH         "refused: authentication failed at A (client authentication failed: wrong client token)"
//   ETIMEDOUT     "cannot reach the cluster at A (no handshake with A within 3000 ms)"
// A refusal for want of a free handshake slot (EAGAIN: they free within seconds) is retried
// with backoff for up to the connect timeout before it is reported. A token file that cannot be
// read is reported as such (`tokenFile`), before any connection is made.
//
//   const fs = await connect(['127.0.0.1:7400']);
//   await fs.mkdir('/x'); console.log(await fs.ls('/'));
//   console.log(await fs.status()); await fs.close();

import { memberRequest, type MemberAnswer } from './members.js';
import type { DataReplication } from './file-data.js';
import { ministryCopyRequest, type MinistryCopyAnswer } from './ministry-copy.js';
import type { MemberRequestMessage } from '../fs/requests.js';
import { balanceRequest, gatherStatus, type BalanceAnswer, type ClusterStatusView, type MinistryStatus, type NodeStatus } from './status.js';
import { GovClient, type ClientTransport, type Creds } from './gov-client.js';
import type { TicketMessage } from '../fs/requests.js';
import { RuntimeError } from '../runtime/errors.js';
import { ClientConnection, ConnectionRefusedError, type Welcome } from './connection.js';
import { type ClientIdentity, clientIdentity } from '../net/client-identity.js';
import { readKeyFile } from '../net/key-file.js';
import type { TypedMessage } from '../wire/registry.js';
import { type ClientTlsOptions, loadClientTls } from '../net/tls-config.js';

export interface ConnectOptions {
  /** The cluster's client token (bytes, or a string). */
  token?: Uint8Array | string;
  /** Or a file holding it (read before connecting: a missing, unreadable or empty file is
   * reported as such, with its name). */
  tokenFile?: string;
  /** Who this client is (its client id derives from it, see src/net/client-identity.ts):
   * pass the same identity (or `clientIdentity(savedSecret)`) to speak as the same client
   * again. Default: a fresh one. */
  identity?: ClientIdentity;
  /** One attempt's timeout (default 2,000 ms). */
  requestTimeoutMs?: number;
  /** Give up on an operation after this long (default 30,000 ms). */
  deadlineMs?: number;
  /** Per server: connect + handshake deadline (default 3,000 ms). */
  connectTimeoutMs?: number;
  /** The local address to connect from (default: the system's choice). */
  localAddress?: string;
  /** Reach the servers over TLS, trusting the CA that signed their certificates
   * (`{ caFile }` or `{ ca }`, the servers' --tls-ca). Default: plain TCP. */
  tls?: ClientTlsOptions;
  /** Who the client acts as for permission checks, as GovClientOptions.credentials (default
   * root); each call may say otherwise with `{ as }`. */
  credentials?: Creds;
  /** File contents, as GovClientOptions: chunk store timeout, pieces in flight, and how a
   * write reaches a chunk's replicas (and from what piece size a pipelined one is chained). */
  dataTimeoutMs?: number;
  dataWindow?: number;
  dataReplication?: DataReplication;
  dataChainMinBytes?: number;
}

export type { ClusterStatusView, MinistryStatus, NodeStatus };
export { ConnectionRefusedError };

/** No server could be used: `failures` has each one's error; code and message sum them up. */
export class ConnectError extends RuntimeError {
  constructor(readonly failures: readonly { server: string; error: RuntimeError }[]) {
    const code = summaryCode(failures.map((f) => f.error.code));
    const servers = failures.map((f) => f.server).join(', ');
    const details = failures.map((f) => (failures.length > 1 ? `${f.server}: ${detail(f.server, f.error)}` : detail(f.server, f.error))).join('; ');
    const hint = code === 'ECONNREFUSED' ? ': is a govfs cluster or node running there?' : '';
    super(code, `${headline(code)} at ${servers} (${details})${hint}`);
  }
}

/** One code for all servers: all alike, or that some server is full, or unreachable. */
function summaryCode(codes: string[]): string {
  if (codes.length > 0 && codes.every((c) => c === codes[0])) return codes[0]!;
  return codes.find((c) => c === 'EUSERS') ?? codes.find((c) => c === 'EAGAIN') ?? (codes.every((c) => c === 'ETIMEDOUT') ? 'ETIMEDOUT' : 'EHOSTUNREACH');
}

function headline(code: string): string {
  switch (code) {
    case 'EUSERS':
    case 'EAGAIN':
      return 'refused: too many connections';
    case 'EAUTH':
      return 'refused: authentication failed';
    case 'EACCES':
      return 'refused: not allowed';
    case 'ETLS':
      return 'cannot connect securely';
    default:
      return 'cannot reach the cluster';
  }
}

/** What happened at one server, without repeating its address first. */
function detail(server: string, e: RuntimeError): string {
  if (e instanceof ConnectionRefusedError) return e.reason;
  if (e.code === 'ECONNREFUSED') return `connect ECONNREFUSED: nothing listening at ${server}`;
  return e.message.startsWith(`${server}: `) ? e.message.slice(server.length + 2) : e.message;
}

/** A GovClient connected over TCP, plus what only a network client has. */
export type RemoteGovClient = GovClient & {
  /** The server this client is connected to now ('' between connections). */
  readonly server: string;
  /** Node ids of the cluster, as the server said. */
  readonly nodeIds: string[];
  /** The president, the cluster term, every ministry's staff and commit index, idle nodes. */
  status(timeoutMs?: number): Promise<ClusterStatusView>;
  /** `govfs balance on|off|plan`: turn the president's balancer on or off, or get its plan. */
  balance(action: 'on' | 'off' | 'plan', timeoutMs?: number): Promise<BalanceAnswer>;
  /** `govfs node add|remove`: ask the president to add or remove a node (issue 20). */
  member(req: Omit<MemberRequestMessage, 'type'>, timeoutMs?: number): Promise<MemberAnswer>;
  /** `govfs backup`: ministry `ministry`'s state at one applied index, copied by its minister
   * (`minister`, when known, is asked first). */
  ministryCopy(ministry: string, minister?: string, timeoutMs?: number): Promise<MinistryCopyAnswer>;
  /** `govfs ministry split|merge PATH`: ask the president to start the migration (`plan[0]`
   * says what it ordered); `status().migrations` shows how it goes. */
  migrate(action: 'split' | 'merge', path: string, timeoutMs?: number): Promise<BalanceAnswer>;
  /** End the session (releasing what the client holds) and close the connection. */
  close(): Promise<void>;
};

async function clusterStatus(link: ServerLink, timeoutMs: number): Promise<ClusterStatusView> {
  await link.ensure();
  return gatherStatus(Object.keys(link.nodes), (id, msg) => link.transport.ask(id, msg, timeoutMs));
}

/** The connection to one of several servers, reconnecting on demand. */
class ServerLink {
  current: ClientConnection | null = null;
  nodes: Record<string, string> = {};
  /** Tells addressed to this client (tickets, lease revocations). */
  onTell: ((msg: TypedMessage) => void) | null = null;
  private connecting: Promise<ClientConnection> | null = null;
  private next = 0;
  private closed = false;
  readonly transport: ClientTransport;

  constructor(
    private readonly servers: string[],
    private readonly opts: { token?: Uint8Array; connectTimeoutMs?: number; localAddress?: string; identity: ClientIdentity; tls?: ClientTlsOptions },
  ) {
    const current = () => this.current;
    this.transport = {
      ask: async (node, msg, timeoutMs) => {
        const conn = await this.ensure();
        const address = this.nodes[node];
        if (!address) throw new RuntimeError('ENOENT', `no node ${node} in this cluster (nodes: ${Object.keys(this.nodes).join(', ')})`);
        return conn.ask(address, msg, timeoutMs);
      },
      get ticketAddress() {
        const c = current();
        return c ? `${c.location}#/tickets` : '';
      },
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      random: () => Math.random(),
      now: () => Date.now(),
    };
  }

  /** The open connection, or a new one to the next server that answers. */
  ensure(): Promise<ClientConnection> {
    if (this.closed) return Promise.reject(new RuntimeError('ECANCELED', 'this client is closed'));
    if (this.current && !this.current.closed) return Promise.resolve(this.current);
    this.connecting ??= this.dial().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async dial(): Promise<ClientConnection> {
    const timeoutMs = this.opts.connectTimeoutMs ?? 3000;
    const until = Date.now() + timeoutMs;
    for (let round = 0; ; round++) {
      const failures: { server: string; error: RuntimeError }[] = [];
      const conn = await this.dialRound(failures);
      if (conn) return conn;
      // Every server is short of handshake slots only (they free within seconds, e.g. a burst
      // of clients connecting at once): try again shortly.
      const delay = Math.min(1000, 50 * 2 ** round) * (0.5 + Math.random() / 2);
      const transient = failures.every((f) => f.error instanceof ConnectionRefusedError && f.error.transient);
      if (!transient || this.closed || Date.now() + delay > until) throw new ConnectError(failures);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Try each server once, from the one after the last that served; null if none would. */
  private async dialRound(failures: { server: string; error: RuntimeError }[]): Promise<ClientConnection | null> {
    for (let i = 0; i < this.servers.length; i++) {
      const address = this.servers[(this.next + i) % this.servers.length]!;
      try {
        const conn = await ClientConnection.open(address, { ...this.opts });
        this.next = (this.next + i) % this.servers.length;
        if (this.closed) {
          await conn.close();
          throw new RuntimeError('ECANCELED', 'this client is closed');
        }
        const welcome: Welcome = conn.welcome;
        if (welcome.nodes && Object.keys(welcome.nodes).length > 0) this.nodes = welcome.nodes;
        conn.onTell = (msg) => this.onTell?.(msg);
        conn.onClose = () => {
          if (this.current === conn) {
            this.current = null;
            this.next = (this.next + 1) % this.servers.length; // the next try starts elsewhere
          }
        };
        this.current = conn;
        return conn;
      } catch (e) {
        const err = e instanceof RuntimeError ? e : new RuntimeError('EIO', String((e as Error).message ?? e));
        if (err.code === 'ECANCELED') throw err;
        // Another server of the same cluster would not take this token or identity either.
        if (err.code === 'EAUTH' || err.code === 'EACCES') throw new ConnectError([{ server: address, error: err }]);
        failures.push({ server: address, error: err });
      }
    }
    return null;
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.current;
    this.current = null;
    await c?.close();
  }
}

/** Connect to a cluster through any of `servers` ('host:port'); rejects if none answers. */
export async function connect(servers: string[], opts: ConnectOptions = {}): Promise<RemoteGovClient> {
  if (servers.length === 0) throw new RuntimeError('EINVAL', 'connect() needs at least one server address (host:port)');
  const token = opts.tokenFile !== undefined ? readKeyFile(opts.tokenFile, 'client token') : typeof opts.token === 'string' ? Buffer.from(opts.token, 'utf8') : opts.token;
  const identity = opts.identity ?? clientIdentity();
  const tls = opts.tls ? loadClientTls(opts.tls) : undefined;
  const link = new ServerLink([...servers], { token, connectTimeoutMs: opts.connectTimeoutMs, localAddress: opts.localAddress, identity, tls });
  await link.ensure();
  const nodes = Object.keys(link.nodes);
  if (nodes.length === 0) {
    await link.close();
    throw new RuntimeError('EPROTO', `${servers.join(', ')} did not say which nodes the cluster has (not a govfs server?)`);
  }
  const client = new GovClient(link.transport, {
    clientId: identity.clientId,
    nodes,
    requestTimeoutMs: opts.requestTimeoutMs ?? 2_000,
    deadlineMs: opts.deadlineMs,
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
    dataTimeoutMs: opts.dataTimeoutMs,
    dataWindow: opts.dataWindow,
    dataReplication: opts.dataReplication,
    dataChainMinBytes: opts.dataChainMinBytes,
  });
  const hooks = client as unknown as Record<string, ((m: unknown) => void) | undefined>;
  link.onTell = (msg) => {
    if (msg.type === 'govfs.fs.Ticket') client.onTicket(msg as unknown as TicketMessage);
    else if (msg.type === 'govfs.fs.LeaseRevoked') hooks.onRevoked?.call(client, msg);
  };
  // The session's own close (releasing leases, where GovClient has one), then the connection.
  const endSession = (client as unknown as { close?: () => Promise<void> }).close;
  Object.defineProperties(client, {
    server: { get: () => link.current?.address ?? '' },
    nodeIds: { get: () => Object.keys(link.nodes) },
    status: { value: (timeoutMs = 1_000) => clusterStatus(link, timeoutMs) },
    balance: {
      value: async (action: 'on' | 'off' | 'plan', timeoutMs = 2_000) => {
        await link.ensure();
        return balanceRequest(Object.keys(link.nodes), (id, msg) => link.transport.ask(id, msg, timeoutMs), action);
      },
    },
    member: {
      value: async (req: Omit<MemberRequestMessage, 'type'>, timeoutMs = 2_000) => {
        await link.ensure();
        return memberRequest(Object.keys(link.nodes), (id, msg) => link.transport.ask(id, msg, timeoutMs), req);
      },
    },
    ministryCopy: {
      value: async (ministry: string, minister = '', timeoutMs = 30_000) => {
        await link.ensure();
        return ministryCopyRequest(Object.keys(link.nodes), (id, msg) => link.transport.ask(id, msg, timeoutMs), ministry, minister);
      },
    },
    migrate: {
      value: async (action: 'split' | 'merge', path: string, timeoutMs = 2_000) => {
        await link.ensure();
        return balanceRequest(Object.keys(link.nodes), (id, msg) => link.transport.ask(id, msg, timeoutMs), action, path);
      },
    },
    close: {
      value: async () => {
        if (endSession) await Promise.race([endSession.call(client).catch(() => {}), new Promise((r) => setTimeout(r, 2_000).unref())]);
        await link.close();
      },
    },
  });
  return client as RemoteGovClient;
}
