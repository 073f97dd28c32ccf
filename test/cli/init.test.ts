// `govfs init --nodes ...` and the deploy files of docs/deploy/: the secret and per-node flags
// it writes start a working cluster of `govfs node` processes; the systemd unit passes
// `systemd-analyze verify` where that runs; the image builds where a Docker daemon answers.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GOVFS, GovfsProcess, freePorts, govfs, until } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'govfs-init-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function envFile(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('govfs init', () => {
  it('writes a private secret and each node\'s flags, and will not overwrite a secret', async () => {
    const out = join(dir, 'deploy');
    const r = await govfs(['init', '--nodes', 'h1,h2:7500,10.0.0.3', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(out, 'secret')).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(join(out, 'secret'), 'utf8').trim(), 'base64')).toHaveLength(32);
    const n2 = envFile(join(out, 'n2.env'));
    expect(n2.GOVFS_PEERS).toBe('n1=h1:7401,n2=h2:7500,n3=10.0.0.3:7401');
    expect(n2.GOVFS_NODE_ARGS).toBe('--id n2 --peers n1=h1:7401,n2=h2:7500,n3=10.0.0.3:7401 --listen 0.0.0.0:7500 --data /var/lib/govfs --secret-file /etc/govfs/secret --log info');
    expect(r.stdout).toMatch(/with 5 or more/);

    const again = await govfs(['init', '--nodes', 'h1,h2', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds secret.*--force/);
    expect((await govfs(['init', '--nodes', 'h1,h1', '--out', join(dir, 'x')])).stderr).toMatch(/given twice/);
    expect((await govfs(['init', '--out', join(dir, 'x')])).code).toBe(2);
  });

  it('gives flags that start a cluster of govfs node processes', async () => {
    const ports = await freePorts(5);
    const out = join(dir, 'local');
    const r = await govfs(['init', '--nodes', ports.map((p) => `127.0.0.1:${p}`).join(','), '--out', out, '--listen-host', '127.0.0.1', '--data', join(dir, 'node-data')]);
    expect(r.code, r.stderr).toBe(0);
    const procs: GovfsProcess[] = [];
    try {
      for (let i = 1; i <= 5; i++) {
        // As the systemd unit does: the env file's flags, the secret at its own path here.
        const args = envFile(join(out, `n${i}.env`)).GOVFS_NODE_ARGS!.replace('/etc/govfs/secret', join(out, 'secret')).replace(`--data ${join(dir, 'node-data')}`, `--data ${join(dir, 'node-data', `n${i}`)}`).split(' ');
        procs.push(new GovfsProcess(['node', ...args, '--log-file', join(dir, 'logs', `n${i}.log`)]));
      }
      const server = `127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
      await until(async () => (await govfs(['mkdir', '/deployed', '--server', server], {}, 20_000)).code === 0, 'mkdir through the init cluster', 90_000, 500);
      const ls = await govfs(['ls', '/', '--linearizable', '--server', server]);
      expect(ls.stdout).toContain('deployed/');
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
    }
    // --log info from the env file, to each node's --log-file: every line names its node (the
    // bridge's too), and the root ministry's members logged their appointments.
    const appointed: Record<string, unknown>[] = [];
    for (let i = 1; i <= 5; i++) {
      const lines = readFileSync(join(dir, 'logs', `n${i}.log`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(l.node, String(l.msg)).toBe(`n${i}`);
      appointed.push(...lines.filter((l) => / appointed (minister|clerk) of ministry /.test(String(l.msg))));
    }
    expect(appointed.map((l) => l.role).sort()).toEqual(expect.arrayContaining(['clerk', 'clerk', 'minister']));
    for (const l of appointed) expect(l).toMatchObject({ ministry: expect.any(String), term: expect.any(Number) });
  }, 150_000);
});

describe('docs/deploy', () => {
  const analyze = spawnSync('systemd-analyze', ['--version']);
  it.skipIf(analyze.status !== 0)('the systemd unit passes systemd-analyze verify', () => {
    // verify checks that ExecStart's program exists: point it at this checkout's bin/govfs.
    const unit = readFileSync(join(ROOT, 'docs/deploy/govfs-node.service'), 'utf8').replace('ExecStart=/usr/local/bin/govfs', `ExecStart=${GOVFS}`);
    const file = join(dir, 'govfs-node.service');
    writeFileSync(file, unit);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    // Warnings about the host (no govfs user here, no /etc/govfs) are not the unit's.
    const problems = r.stderr.split('\n').filter((l) => l.trim() && !/user|group|EnvironmentFile|\/etc\/govfs|No such file|Failed to prepare filename/i.test(l));
    expect(problems, r.stderr).toEqual([]);
    expect(r.status, r.stderr).toBe(0);
  });

  const docker = spawnSync('docker', ['info'], { timeout: 10_000 });
  it.skipIf(docker.status !== 0)('the image builds', () => {
    execFileSync('docker', ['build', '-f', 'docs/deploy/Dockerfile', '-t', 'govfs-test:latest', '.'], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    const help = execFileSync('docker', ['run', '--rm', '--entrypoint', 'govfs', 'govfs-test:latest', '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/govfs node --id ID/);
  }, 900_000);
});
