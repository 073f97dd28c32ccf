// A GovClient over the network: `connect(['host:port', ...])` returns a GovClient that works
// exactly like the in-process one (same class, same retries, redirects and exactly-once
// sequence numbers) over a ClientTransport that sends every request over one client
// connection (src/net/client-conn.ts) to one of the given servers. The server passes requests
// for nodes it does not host on to them (`govfs node`), or onto the worker threads
// (`govfs cluster`). When the connection breaks the next request reconnects, trying the
// servers in turn; requests in flight fail with a retryable error and GovClient retries them.
// The client's id is derived from a secret it generates (src/net/client-identity.ts) and proven
// on every connection, so it stays the same across reconnects (retries stay exactly-once) and
// no other client can send requests under it.
//
//   const fs = await connect(['127.0.0.1:7400']);
//   await fs.mkdir('/x'); console.log(await fs.ls('/'));
//   console.log(await fs.status()); await fs.close();

import { gatherStatus, type ClusterStatusView, type MinistryStatus, type NodeStatus } from '../fs/status.js';
import { GovClient, type ClientTransport, type TicketInfo } from '../fs/client.js';
import { RuntimeError } from '../runtime/errors.js';
import { ClientConnection, type Welcome } from './client-conn.js';
import { type ClientIdentity, clientIdentity } from './client-identity.js';
import type { TypedMessage } from './registry.js';

export interface ConnectOptions {
  /** The cluster's client token (bytes, or a string). */
  token?: Uint8Array | string;
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
}

export type { ClusterStatusView, MinistryStatus, NodeStatus };

/** A GovClient connected over TCP, plus what only a network client has. */
export type RemoteGovClient = GovClient & {
  /** The server this client is connected to now ('' between connections). */
  readonly server: string;
  /** Node ids of the cluster, as the server said. */
  readonly nodeIds: string[];
  /** The president, the cluster term, every ministry's staff and commit index, idle nodes. */
  status(timeoutMs?: number): Promise<ClusterStatusView>;
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
    private readonly opts: { token?: Uint8Array; connectTimeoutMs?: number; identity: ClientIdentity },
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
    const errors: string[] = [];
    let code = 'ECONNREFUSED';
    for (let i = 0; i < this.servers.length; i++) {
      const address = this.servers[(this.next + i) % this.servers.length]!;
      try {
        const conn = await ClientConnection.open(address, { token: this.opts.token, connectTimeoutMs: this.opts.connectTimeoutMs, identity: this.opts.identity });
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
        const err = e as RuntimeError;
        if (err.code === 'EAUTH' || err.code === 'EACCES' || err.code === 'ECANCELED') throw err;
        code = typeof err.code === 'string' ? err.code : code;
        errors.push(`${address}: ${err.message.replace(`${address}: `, '')}`);
      }
    }
    throw new RuntimeError(code === 'ETIMEDOUT' ? 'ETIMEDOUT' : 'EHOSTUNREACH', `cannot reach the cluster (${errors.join('; ')})`);
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
  const token = typeof opts.token === 'string' ? Buffer.from(opts.token, 'utf8') : opts.token;
  const identity = opts.identity ?? clientIdentity();
  const link = new ServerLink([...servers], { token, connectTimeoutMs: opts.connectTimeoutMs, identity });
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
  });
  const hooks = client as unknown as Record<string, ((m: unknown) => void) | undefined>;
  link.onTell = (msg) => {
    if (msg.type === 'govfs.fs.Ticket') client.onTicket(msg as unknown as TicketInfo & { clientId: string });
    else if (msg.type === 'govfs.fs.LeaseRevoked') hooks.onRevoked?.call(client, msg);
  };
  // The session's own close (releasing leases, where GovClient has one), then the connection.
  const endSession = (client as unknown as { close?: () => Promise<void> }).close;
  Object.defineProperties(client, {
    server: { get: () => link.current?.address ?? '' },
    nodeIds: { get: () => Object.keys(link.nodes) },
    status: { value: (timeoutMs = 1_000) => clusterStatus(link, timeoutMs) },
    close: {
      value: async () => {
        if (endSession) await Promise.race([endSession.call(client).catch(() => {}), new Promise((r) => setTimeout(r, 2_000).unref())]);
        await link.close();
      },
    },
  });
  return client as RemoteGovClient;
}
