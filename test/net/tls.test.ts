// The bridge over TLS (node:tls, mutual certificates from files): the same handshake inside,
// and refusals for a plain-TCP client and for a certificate from another CA. Clients over TLS
// on the same port: they check the node's certificate against their CA and present none.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { handshakeFrame } from '../../src/net/bridge.js';
import { LocalCluster } from '../../src/cluster-main.js';
import { ClientConnection } from '../../src/client/connection.js';
import { connect } from '../../src/client/connect.js';
import type { Behaviour, Context } from '../../src/runtime/types.js';
import { echo, ping } from './actors.js';
import { RawClient, cleanup, node, stopAll, until } from './helpers.js';

let dir = '';
let haveOpenssl = true;

/** A self-signed certificate for 127.0.0.1 (it is its own CA). */
function selfSigned(name: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  return { certFile, keyFile };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-tls-'));
  try {
    selfSigned('cluster');
    selfSigned('other');
  } catch {
    haveOpenssl = false;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(stopAll);

describe('bridge over TLS', () => {
  const cluster = () => ({ certFile: join(dir, 'cluster.crt'), keyFile: join(dir, 'cluster.key'), caFile: join(dir, 'cluster.crt') });

  it('links two nodes over mutual TLS and carries asks', async (t) => {
    if (!haveOpenssl) t.skip();
    const b = await node('b', { tls: cluster() });
    const a = await node('a', { tls: cluster() });
    a.bridge.connect('b', b.addr);
    await a.bridge.waitForPeer('b');
    b.runtime.spawnRoot('echo', echo);
    await expect(a.runtime.ask('b#/echo', ping(5), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 5 });
  });

  it('refuses a plain TCP client and a certificate from another CA, with logged reasons', async (t) => {
    if (!haveOpenssl) t.skip();
    const b = await node('b', { tls: cluster() });
    const raw = await RawClient.connect(b.addr);
    raw.write(Buffer.from([0, 0, 0, 1, 3]));
    await raw.closedP;
    await until(() => b.events.some((e) => e.type === 'rejected' && e.code === 'ETLS'), 'b refuses plain TCP');
    const other = join(dir, 'other');
    const m = await node('m', { tls: { certFile: `${other}.crt`, keyFile: `${other}.key`, caFile: join(dir, 'cluster.crt') } });
    m.bridge.connect('b', b.addr);
    await until(() => b.events.filter((e) => e.type === 'rejected' && e.code === 'ETLS').length >= 2, 'b refuses the foreign certificate');
    expect(m.bridge.isConnected('b')).toBe(false);
    expect(b.lines.some((l) => l.code === 'ETLS' && /TLS handshake failed/.test(l.msg))).toBe(true);
  });
});

describe('clients over TLS', () => {
  const caFile = () => join(dir, 'cluster.crt');
  const status = { type: 'govfs.fs.StatusRequest' };
  /** A node serving TLS (the cluster certificate) to nodes and clients; its root answers status. */
  async function server(location: string) {
    const n = await node(location, {
      tls: { certFile: join(dir, 'cluster.crt'), keyFile: join(dir, 'cluster.key'), caFile: caFile() },
      clients: { allowTarget: (to) => to === `${location}#/n`, welcome: () => ({ nodes: { [location]: `${location}#/n` } }) },
    });
    const root: Behaviour = {
      receive(ctx: Context) {
        ctx.reply({ type: 'govfs.fs.ClusterStatus', president: location, clusterTerm: 1, ministries: [], idle: [], nodes: [], shortStaffed: [] });
      },
    };
    n.runtime.spawnRoot('n', () => root);
    return n;
  }

  it('a client with the right CA connects and asks; the node still links to a node with a certificate', async (t) => {
    if (!haveOpenssl) t.skip();
    const b = await server('b');
    const c = await ClientConnection.open(b.addr, { tls: { caFile: caFile() } });
    cleanup.push(() => c.close());
    await expect(c.ask('b#/n', status, 5000)).resolves.toMatchObject({ type: 'govfs.fs.ClusterStatus', president: 'b' });
    expect(b.bridge.clientInfo()).toHaveLength(1);
    const a = await node('a', { tls: { certFile: join(dir, 'cluster.crt'), keyFile: join(dir, 'cluster.key'), caFile: caFile() } });
    a.bridge.connect('b', b.addr);
    await a.bridge.waitForPeer('b');
    b.runtime.spawnRoot('echo', echo);
    await expect(a.runtime.ask('b#/echo', ping(7), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 7 });
  });

  it('connect() with the wrong CA is refused with a clear error, and so is a plain client', async (t) => {
    if (!haveOpenssl) t.skip();
    const b = await server('b');
    const wrong = connect([b.addr], { tls: { caFile: join(dir, 'other.crt') }, connectTimeoutMs: 2000 });
    await expect(wrong).rejects.toMatchObject({ code: 'ETLS', message: expect.stringMatching(/cannot connect securely.*certificate is not trusted.*--tls-ca/) });
    const plain = connect([b.addr], { connectTimeoutMs: 2000 });
    await expect(plain).rejects.toMatchObject({ message: expect.stringMatching(/TLS.*--tls-ca/) });
    await until(() => b.events.filter((e) => e.type === 'rejected' && e.code === 'ETLS').length >= 2, 'b reports both TLS failures');
    expect(b.bridge.clientInfo()).toHaveLength(0);
    await expect(connect([b.addr], { tls: {} })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/needs the CA/) });
    await expect(connect([b.addr], { tls: { caFile: join(dir, 'missing.crt') } })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^cannot read the TLS CA file .*missing\.crt/) });
  });

  it('a TLS client to a plain port gets a clear error', async (t) => {
    if (!haveOpenssl) t.skip();
    const p = await node('p', { clients: { allowTarget: () => true, welcome: () => ({ nodes: { p: 'p#/n' } }) } });
    await expect(ClientConnection.open(p.addr, { tls: { caFile: caFile() }, connectTimeoutMs: 2000 })).rejects.toMatchObject({ code: 'ETLS', message: expect.stringMatching(/TLS handshake failed.*does this node serve TLS/) });
  });

  it('a connection without a certificate may be a client but not a node: a peer Hello is refused', async (t) => {
    if (!haveOpenssl) t.skip();
    const b = await server('b');
    const [host, port] = [b.addr.slice(0, b.addr.lastIndexOf(':')), Number(b.addr.slice(b.addr.lastIndexOf(':') + 1))];
    const s = tls.connect({ host, port, ca: readFileSync(caFile()) });
    s.on('error', () => {});
    cleanup.push(() => void s.destroy());
    s.once('secureConnect', () => s.write(handshakeFrame('hello', { version: 1, role: 'peer', location: 'x', instance: 'i', nonce: Buffer.alloc(32, 1) })));
    await until(() => b.events.some((e) => e.type === 'rejected' && e.code === 'EACCES' && /needs a certificate/.test(e.reason)), 'b refuses a node link without a certificate');
    const other = join(dir, 'other');
    const m = await node('m', { tls: { certFile: `${other}.crt`, keyFile: `${other}.key`, caFile: caFile() } });
    m.bridge.connect('b', b.addr);
    await until(() => b.events.some((e) => e.type === 'rejected' && e.code === 'ETLS' && /did not sign/.test(e.reason)), 'b refuses the foreign certificate');
    expect(m.bridge.isConnected('b')).toBe(false);
  });
});

describe('govfs cluster over TLS', () => {
  it('LocalCluster with tls serves GovClients that trust its CA, and only those', async (t) => {
    if (!haveOpenssl) t.skip();
    const data = mkdtempSync(join(tmpdir(), 'govfs-tls-cluster-'));
    const cluster = await LocalCluster.start({ nodes: 3, threads: 1, dataDir: data, listen: { host: '127.0.0.1', port: 0 }, tls: { certFile: join(dir, 'cluster.crt'), keyFile: join(dir, 'cluster.key') } });
    cleanup.push(async () => {
      await cluster.stop();
      rmSync(data, { recursive: true, force: true });
    });
    const fs = await connect([cluster.address], { tls: { caFile: join(dir, 'cluster.crt') } });
    cleanup.push(() => fs.close());
    await fs.mkdir('/secure');
    expect(await fs.ls('/')).toContainEqual({ name: 'secure', kind: 'dir' });
    await expect(connect([cluster.address], { connectTimeoutMs: 2000 })).rejects.toMatchObject({ message: expect.stringMatching(/--tls-ca/) });
  });
});
