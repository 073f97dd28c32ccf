// The command line's edges: exit status without a command, a reader that goes away (EPIPE),
// paths it must not rewrite, names it must not print raw, over-long names, arguments that are
// not UTF-8, a port in use, and a shell script whose commands failed.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { GOVFS, GovfsProcess, freePorts, govfs } from './helpers.js';

let dir: string;
let cluster: GovfsProcess;
let server = '';
const env = () => ({ GOVFS_SERVER: server });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-cli-hard-'));
  cluster = new GovfsProcess(['cluster', '--nodes', '4', '--threads', '2', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0']);
  server = (await cluster.waitFor(/clients connect to (127\.0\.0\.1:\d+)/))[1]!;
  await cluster.waitFor(/^ready: president n\d/m, 60_000);
});
afterAll(async () => {
  await cluster?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Run govfs with stdout piped to a reader that closes after the first chunk. */
function readFirstChunkThenClose(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; first: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GOVFS, ...args], { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let first = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.once('data', (c: Buffer) => {
      first = c.toString();
      child.stdout.destroy();
    });
    child.once('exit', (code, signal) => resolve({ code, signal, first, stderr }));
  });
}

describe('govfs command line edges', () => {
  it('no command: the help on stderr and exit status 2 (a usage error)', async () => {
    const r = await govfs([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^govfs — a strongly consistent/);
    expect(r.stderr).toMatch(/govfs: no command given\n$/);
  });

  it('a reader that closes early (ls | head -1, status --watch | head): no stack trace, the SIGPIPE status', async () => {
    // Enough output to fill a pipe: 400 names of 250 bytes.
    const client = await connect([server]);
    try {
      await client.mkdir('/many');
      for (let i = 0; i < 400; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => client.create(`/many/${String(i + k).padStart(4, '0')}${'x'.repeat(246)}`)));
    } finally {
      await client.close();
    }
    const ls = await readFirstChunkThenClose(['ls', '/many']);
    expect(ls.first).toMatch(/^0000x+\n/);
    expect(ls.stderr).toBe('');
    expect(ls.code).toBe(141);
    const watch = await readFirstChunkThenClose(['status', '--watch']);
    expect(watch.first).toMatch(/cluster via/);
    expect(watch.stderr).toBe('');
    expect(watch.code).toBe(141);
  });

  it('does not rewrite paths the library refuses: it refuses them too, saying what was meant', async () => {
    const rel = await govfs(['mkdir', 'rel'], env());
    expect(rel.code).toBe(1);
    expect(rel.stderr).toMatch(/^govfs: mkdir rel: invalid path "rel": not absolute .*did you mean "\/rel"\?\) \[EINVAL\]\n$/);
    const dotdot = await govfs(['touch', '/nonexist/../z'], env());
    expect(dotdot.code).toBe(1);
    expect(dotdot.stderr).toMatch(/"\.\." is not allowed.*if you meant "\/z", write that \[EINVAL\]/);
    expect((await govfs(['mkdir', '/p'], env())).code).toBe(0);
    expect((await govfs(['touch', '/p/file'], env())).code).toBe(0);
    const slash = await govfs(['touch', '/p/file/'], env());
    expect(slash.code).toBe(1);
    expect(slash.stderr).toMatch(/a trailing "\/" names a directory/);
    expect((await govfs(['stat', '/p/file/'], env())).stderr).toMatch(/not a directory.*\[ENOTDIR\]/);
    // A trailing "/" on a directory means what it says.
    expect(await govfs(['ls', '/p/'], env())).toMatchObject({ code: 0, stdout: 'file\n' });
    expect(await govfs(['ls', '/'], env())).toMatchObject({ code: 0, stdout: 'many/\np/\n' });
  });

  it('a 5,000-byte name: ENAMETOOLONG, and the message does not echo it whole', async () => {
    const r = await govfs(['touch', `/p/${'n'.repeat(5_000)}`], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a name is 5000 bytes, over the limit of 255 bytes \[ENAMETOOLONG\]\n$/);
    expect(r.stderr.length).toBeLessThan(400);
  });

  it('names with control characters are refused; others that a terminal would act on are printed escaped', async () => {
    for (const bad of ['/p/a\x1b[31mred', '/p/two\nlines', '/p/bell\x07']) {
      const r = await govfs(['touch', bad], env());
      expect(r.code, JSON.stringify(bad)).toBe(1);
      expect(r.stderr).toMatch(/control character U\+00(1B|0A|07)/);
      // eslint-disable-next-line no-control-regex -- looking for raw control characters
      expect(r.stderr).not.toMatch(/[\x07\x1b]/);
    }
    expect((await govfs(['touch', '/p/r\u202eevil', "/p/$'x'"], env())).code).toBe(0);
    const ls = await govfs(['ls', '/p'], env());
    expect(ls).toMatchObject({ code: 0, stdout: "$'$\\'x\\''\nfile\n$'r\\u202eevil'\n" });
    const stat = await govfs(['stat', '/p/r\u202eevil'], env());
    expect(stat.stdout).toMatch(/^\$'\/p\/r\\u202eevil'\n {2}kind +file/);
    expect(stat.stdout).not.toMatch(/\u202e/);
    const json = await govfs(['stat', '--json', '/p/r\u202eevil'], env());
    expect(JSON.parse(json.stdout)).toMatchObject({ path: '/p/r\u202eevil', kind: 'file' });
    expect(json.stdout).not.toMatch(/\u202e/);
  });

  it('an argument that is not valid UTF-8 is refused, not stored with U+FFFD', async () => {
    const r = spawnSync('/bin/sh', ['-c', `exec "${process.execPath}" "${GOVFS}" touch "$(printf '/p/bad\\377name')"`], { env: { ...process.env, ...env() }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is not valid UTF-8/);
    expect((await govfs(['ls', '/p'], env())).stdout).not.toMatch(/bad/);
    // U+FFFD typed as such (valid UTF-8) is a character like any other.
    expect((await govfs(['touch', '/p/ok\ufffd'], env())).code).toBe(0);
    // The shell reads decoded lines: it refuses any U+FFFD.
    const shell = spawnSync('/bin/sh', ['-c', `printf 'touch /p/sh\\377bad\\n' | "${process.execPath}" "${GOVFS}" shell`], { env: { ...process.env, ...env(), GOVFS_HISTORY: join(dir, 'history') }, encoding: 'utf8', timeout: 30_000 });
    expect(shell.status).toBe(1);
    expect(shell.stderr).toMatch(/holds U\+FFFD, what bytes that are not UTF-8 decode to/);
    expect((await govfs(['ls', '/p'], env())).stdout).not.toMatch(/sh/);
  });

  it('a port in use is refused before the data folder is made', async () => {
    const [port] = await freePorts(1);
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      const data = join(dir, 'never-made');
      const r = await govfs(['cluster', '--data', data, '--listen', `127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/EADDRINUSE.*choose another port with --listen/);
      expect(existsSync(data)).toBe(false);
      const secret = join(dir, 'secret');
      writeFileSync(secret, 'a-secret-of-enough-bytes\n');
      const nodeData = join(dir, 'node-never-made');
      const n = await govfs(['node', '--id', 'n1', '--peers', `n1=127.0.0.1:${port}`, '--data', nodeData, '--secret-file', secret]);
      expect(n.code).toBe(1);
      expect(n.stderr).toMatch(/EADDRINUSE/);
      expect(existsSync(nodeData)).toBe(false);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('shell fed a script: exit status 1 when a command failed, 0 when all succeeded', () => {
    const run = (input: string) =>
      spawnSync(process.execPath, [GOVFS, 'shell'], { input, env: { ...process.env, ...env(), GOVFS_HISTORY: join(dir, 'history') }, encoding: 'utf8', timeout: 30_000 });
    const failing = run('mkdir /sh\nstat /nope\ntouch /sh/f\n');
    expect(failing.stderr).toMatch(/stat \/nope: no such file/);
    expect(failing.status).toBe(1);
    expect(run('ls /sh\ncd /sh\nls ../p\nexit\n').status).toBe(0);
    expect(run('frobnicate\n').status).toBe(1);
    // Relative paths in the shell: '..' after a name is refused there too.
    const rel = run('cd /sh\ntouch ../sh/g\ntouch x/../y\n');
    expect(rel.status).toBe(1);
    expect(rel.stderr).toMatch(/touch x\/\.\.\/y: invalid path "\/sh\/x\/\.\.\/y": "\.\." is not allowed/);
  });
});
