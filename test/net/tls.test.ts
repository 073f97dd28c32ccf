// The bridge over TLS (node:tls, mutual certificates from files): the same handshake inside,
// and refusals for a plain-TCP client and for a certificate from another CA.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echo, ping } from './actors.js';
import { RawClient, node, stopAll, until } from './helpers.js';

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
