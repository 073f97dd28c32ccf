// The command line over TLS: `govfs cluster --tls-cert/--tls-key` serves clients that give
// `--tls-ca`, and a client without it is told to give one (not "nothing listening").
// Needs the openssl command to make a certificate; skipped where it is missing.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GovfsProcess, govfs } from './helpers.js';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let dir: string;
let cluster: GovfsProcess | null = null;
let server = '';
let certFile = '';

describe.skipIf(!hasOpenssl)('govfs cluster over TLS (needs the openssl command)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'govfs-cli-tls-'));
    certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
    cluster = new GovfsProcess(['cluster', '--nodes', '4', '--threads', '1', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0',
      '--tls-cert', certFile, '--tls-key', keyFile]);
    server = (await cluster.waitFor(/clients connect to (127\.0\.0\.1:\d+)/))[1]!;
    await cluster.waitFor(/^ready: president n\d/m, 60_000);
  });
  afterAll(async () => {
    await cluster?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a client with --tls-ca works; one without is told to give it', async () => {
    expect(await govfs(['mkdir', '/t', '--server', server, '--tls-ca', certFile])).toMatchObject({ code: 0, stderr: '' });
    expect(await govfs(['ls', '/', '--server', server], { GOVFS_TLS_CA: certFile })).toMatchObject({ code: 0, stdout: 't/\n' });
    const plain = await govfs(['ls', '/', '--server', server, '--timeout', '3000']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/--tls-ca/);
  });

  it('--tls-cert without --tls-key is a usage error', async () => {
    const r = await govfs(['cluster', '--tls-cert', certFile, '--data', join(dir, 'other'), '--listen', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tls-cert and --tls-key/);
  });
});
