// TLS settings for the bridge's port (node links and clients) and for the client end: one path
// from PEM contents or file names to node:tls options. Node links check certificates both ways
// (each end presents one signed by the cluster CA); clients only check the node's certificate
// against the CA they were given and present none. Design: docs/bridge.md, "TLS".

import { readFileSync } from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import { RuntimeError } from '../runtime/errors.js';

type Pem = string | Buffer;

export interface BridgeTlsOptions {
  /** PEM contents (or give the *File paths). */
  cert?: Pem;
  key?: Pem;
  /** The cluster's CA (PEM) that signs every node's certificate. */
  ca?: Pem | Pem[];
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** Check the dialed host name against the peer's certificate (default true). With node
   * certificates that name nodes rather than addresses, set false: the CA and the cluster
   * secret still authenticate the peer. */
  checkServerIdentity?: boolean;
}

/** What a client needs to reach a node over TLS: the CA that signed the node's certificate. */
export interface ClientTlsOptions {
  /** PEM contents, or give caFile. */
  ca?: Pem | Pem[];
  caFile?: string;
  /** Check the server's host name against its certificate (default true; see BridgeTlsOptions). */
  checkServerIdentity?: boolean;
}

/** The node:tls options of a bridge's listener and of its dials. */
export interface BridgeTls {
  server: tls.TlsOptions;
  dial: tls.ConnectionOptions;
  /** Does the listener serve clients without a certificate (node links still need one)? */
  clientsWithoutCert: boolean;
}

function readPem(v: Pem | undefined, file: string | undefined, what: string): Pem | undefined {
  if (v !== undefined) return v;
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new RuntimeError('EINVAL', `cannot read the TLS ${what} file ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** Resolve a bridge's TLS options. With `servesClients`, the listener asks for a certificate but
 * does not require one: a connection without one may only be a client (the bridge checks). */
export function bridgeTls(t: BridgeTlsOptions, opts: { handshakeTimeoutMs: number; servesClients: boolean }): BridgeTls {
  const cert = readPem(t.cert, t.certFile, 'certificate');
  const key = readPem(t.key, t.keyFile, 'key');
  const ca = t.ca ?? readPem(undefined, t.caFile, 'CA');
  if (!cert || !key) throw new RuntimeError('EINVAL', 'bridge TLS needs a certificate and a key (cert/key or certFile/keyFile)');
  const clientsWithoutCert = opts.servesClients;
  // Serving clients, a connection without a certificate is let through the TLS layer (the
  // bridge lets it be a client only); without a CA no node could be verified, so none is asked.
  const server: tls.TlsOptions = { cert, key, ca, requestCert: !clientsWithoutCert || ca !== undefined, rejectUnauthorized: !clientsWithoutCert, minVersion: 'TLSv1.2', handshakeTimeout: opts.handshakeTimeoutMs };
  const dial: tls.ConnectionOptions = { cert, key, ca, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
  if (t.checkServerIdentity === false) dial.checkServerIdentity = () => undefined;
  return { server, dial, clientsWithoutCert };
}

/** A client's TLS options with the CA read (once, before connecting: a missing or unreadable
 * file is reported as itself). Throws EINVAL. */
export function loadClientTls(t: ClientTlsOptions): ClientTlsOptions & { ca: Pem | Pem[] } {
  const ca = t.ca ?? readPem(undefined, t.caFile, 'CA');
  if (!ca) throw new RuntimeError('EINVAL', 'client TLS needs the CA that signed the nodes\' certificates (ca or caFile, --tls-ca)');
  return { ca, checkServerIdentity: t.checkServerIdentity };
}

/** The node:tls options a client dials `host` with. */
export function clientTls(t: ClientTlsOptions, host: string): tls.ConnectionOptions {
  const { ca } = loadClientTls(t);
  const opts: tls.ConnectionOptions = { ca, rejectUnauthorized: true, minVersion: 'TLSv1.2', servername: net.isIP(host) ? undefined : host };
  if (t.checkServerIdentity === false) opts.checkServerIdentity = () => undefined;
  return opts;
}
