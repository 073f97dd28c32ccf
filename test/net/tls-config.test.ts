// TLS settings on their own (src/net/tls-config.ts): node links check certificates both ways;
// with clients served the port asks for a certificate without requiring one (the bridge lets a
// connection without one be a client only); clients need a CA and present no certificate.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bridgeTls, clientTls, loadClientTls } from '../../src/net/tls-config.js';

const dir = mkdtempSync(join(tmpdir(), 'govfs-tlsconf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pem = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('bridge TLS options', () => {
  it('node links only: certificates required both ways; files read; host names checked unless told not to', () => {
    const t = bridgeTls({ certFile: pem('n.crt', 'CERT'), keyFile: pem('n.key', 'KEY'), ca: 'CA' }, { handshakeTimeoutMs: 1234, servesClients: false });
    expect(String(t.server.cert)).toBe('CERT');
    expect(t.server).toMatchObject({ key: expect.anything(), ca: 'CA', requestCert: true, rejectUnauthorized: true, handshakeTimeout: 1234 });
    expect(t.dial).toMatchObject({ ca: 'CA', rejectUnauthorized: true });
    expect(t.dial.checkServerIdentity).toBeUndefined();
    expect(t.clientsWithoutCert).toBe(false);
    expect(bridgeTls({ cert: 'C', key: 'K', checkServerIdentity: false }, { handshakeTimeoutMs: 1, servesClients: false }).dial.checkServerIdentity!('h', {} as never)).toBeUndefined();
  });

  it('serving clients: a certificate is asked for (when there is a CA) but not required', () => {
    const t = bridgeTls({ cert: 'C', key: 'K', ca: 'CA' }, { handshakeTimeoutMs: 1, servesClients: true });
    expect(t.server).toMatchObject({ requestCert: true, rejectUnauthorized: false });
    expect(t.clientsWithoutCert).toBe(true);
    expect(bridgeTls({ cert: 'C', key: 'K' }, { handshakeTimeoutMs: 1, servesClients: true }).server.requestCert).toBe(false);
  });

  it('refuses a missing certificate or key, and names a file it cannot read (EINVAL)', () => {
    expect(() => bridgeTls({ cert: 'C' }, { handshakeTimeoutMs: 1, servesClients: false })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/certificate and a key/) }));
    expect(() => bridgeTls({ certFile: join(dir, 'absent.crt'), key: 'K' }, { handshakeTimeoutMs: 1, servesClients: false })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/certificate file .*absent\.crt/) }));
  });
});

describe('client TLS options', () => {
  it('need a CA; present no certificate; send the host name as SNI only when it is not an address', () => {
    expect(() => clientTls({}, 'h')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/--tls-ca/) }));
    const byName = clientTls({ caFile: pem('ca.crt', 'CA') }, 'node1.example');
    expect(String(byName.ca)).toBe('CA');
    expect(byName).toMatchObject({ rejectUnauthorized: true, servername: 'node1.example' });
    expect(byName.cert).toBeUndefined();
    expect(clientTls({ ca: 'CA' }, '10.0.0.1').servername).toBeUndefined();
    expect(loadClientTls({ caFile: join(dir, 'ca.crt') }).ca.toString()).toBe('CA');
  });
});
