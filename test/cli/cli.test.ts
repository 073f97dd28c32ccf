// The command line against a real `govfs cluster` process: what a shell user does in a second
// terminal (mkdir, touch, ls, status), error messages and exit codes, Ctrl-C, and a restart on
// the same data folder bringing the same file system back.

import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GovfsProcess, govfs, govfsPiped } from './helpers.js';

let dir: string;
let cluster: GovfsProcess | null = null;
let server = '';

async function startCluster(): Promise<void> {
  cluster = new GovfsProcess(['cluster', '--nodes', '4', '--threads', '2', '--data', dir, '--listen', '127.0.0.1:0']);
  server = (await cluster.waitFor(/clients connect to (127\.0\.0\.1:\d+)/))[1]!;
  await cluster.waitFor(/^ready: president n\d/m, 60_000);
}

const env = () => ({ GOVFS_SERVER: server });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-cli-'));
  await startCluster();
});
afterAll(async () => {
  await cluster?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('govfs against govfs cluster', () => {
  it('mkdir /x && touch /x/f && ls /x', async () => {
    expect(cluster!.stdout).toMatch(/govfs cluster: 4 nodes on 2 worker threads, data in /);
    expect(await govfs(['mkdir', '/x'], env())).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await govfs(['touch', '/x/f'], env())).toMatchObject({ code: 0, stderr: '' });
    expect(await govfs(['ls', '/x'], env())).toMatchObject({ code: 0, stdout: 'f\n' });
    expect(await govfs(['ls', '/', '--server', server])).toMatchObject({ code: 0, stdout: 'x/\n' });
  });

  it('errors: exit 1 with the path and the reason; usage errors exit 2', async () => {
    const exists = await govfs(['mkdir', '/x'], env());
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/^govfs: mkdir \/x: already exists .*\[EEXIST\]\n$/);
    const missing = await govfs(['ls', '/nope'], env());
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/^govfs: ls \/nope: no such file or directory/);
    expect((await govfs(['frobnicate'], env())).code).toBe(2);
    const usage = await govfs(['mkdir'], env());
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/mkdir needs a path/);
    const unreachable = await govfs(['ls', '/', '--server', '127.0.0.1:1']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the cluster at 127\.0\.0\.1:1 \(connect ECONNREFUSED/);
  });

  it('put, cat and get: file contents between local files and the cluster', async () => {
    const local = join(dir, 'in.txt');
    writeFileSync(local, 'hello, govfs\n'.repeat(1000));
    expect(await govfs(['put', local, '/hello.txt'], env())).toMatchObject({ code: 0, stderr: '' });
    expect(await govfs(['cat', '/hello.txt'], env())).toMatchObject({ code: 0, stdout: 'hello, govfs\n'.repeat(1000) });
    const out = join(dir, 'out.txt');
    expect(await govfs(['get', '/hello.txt', out], env())).toMatchObject({ code: 0 });
    expect(readFileSync(out, 'utf8')).toBe('hello, govfs\n'.repeat(1000));
    const missing = await govfs(['cat', '/nope.txt'], env());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^govfs: cat \/nope.txt: .*\[ENOENT\]/);
    // Three of put's slices (its two buffers each reused) and many pieces: streamed both ways, byte for byte.
    const big = Buffer.from(Uint8Array.from({ length: (17 << 20) + 123 }, (_, i) => (i * 13 + (i >> 12)) % 256));
    writeFileSync(join(dir, 'big.bin'), big);
    expect(await govfs(['put', join(dir, 'big.bin'), '/big.bin'], env())).toMatchObject({ code: 0, stderr: '' });
    expect(await govfs(['get', '/big.bin', join(dir, 'big-back.bin')], env())).toMatchObject({ code: 0 });
    expect(readFileSync(join(dir, 'big-back.bin')).equals(big)).toBe(true);
    // - is stdin for put (a pipe: 64 KiB at a time, gathered into 8 MiB writes), stdout for get.
    expect(await govfsPiped(['put', '-', '/piped.bin'], big, env())).toMatchObject({ code: 0, stderr: '' });
    const piped = await govfsPiped(['get', '/piped.bin', '-'], new Uint8Array(0), env());
    expect(piped.code).toBe(0);
    expect(piped.stdout.equals(big)).toBe(true);
    // Into a directory, local or remote, as the file's own name (cp's rule).
    expect(await govfs(['mkdir', '/into'], env())).toMatchObject({ code: 0 });
    expect(await govfs(['put', local, '/into'], env())).toMatchObject({ code: 0, stderr: '' });
    expect(await govfs(['ls', '/into'], env())).toMatchObject({ code: 0, stdout: 'in.txt\n' });
    mkdirSync(join(dir, 'here'));
    expect(await govfs(['get', '/into/in.txt', join(dir, 'here')], env())).toMatchObject({ code: 0 });
    expect(readFileSync(join(dir, 'here', 'in.txt'), 'utf8')).toBe('hello, govfs\n'.repeat(1000));
    // Local files' errors name the local file and what failed.
    const noLocal = await govfs(['put', join(dir, 'absent.txt'), '/absent.txt'], env());
    expect(noLocal).toMatchObject({ code: 1, stderr: `govfs: put ${join(dir, 'absent.txt')}: cannot open the local file: no such file or directory [ENOENT]\n` });
    const noDir = await govfs(['get', '/hello.txt', join(dir, 'no-such-dir', 'x')], env());
    expect(noDir).toMatchObject({ code: 1, stderr: `govfs: get ${join(dir, 'no-such-dir', 'x')}: cannot write the local file: no such file or directory [ENOENT]\n` });
    // A get that fails leaves the local file as it was, and nothing beside it.
    const failed = await govfs(['get', '/nope.txt', out], env());
    expect(failed.code).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe('hello, govfs\n'.repeat(1000));
    expect(readdirSync(dir).filter((f) => f.includes('govfs-get'))).toEqual([]);
  });

  it('status: a table and --json, with the ministries', async () => {
    const table = await govfs(['status'], env());
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/president n\d, cluster term \d+, 4 of 4 nodes up/);
    expect(table.stdout).toMatch(/MINISTRY\s+SUBTREE\s+MINISTER\s+CLERKS\s+TERM\s+COMMIT\s+CPU\s+READS\/S\s+WRITES\/S\s+CHUNKS\(UNDER-REPL\)\s+STATE\nm0\s+\/\s+n\d\s+n\d,n\d\s+\d+\s+\d+\s+(\d+%|-)\s+(\d+\.\d|-)\s+(\d+\.\d|-)\s+(\d+\(\d+\)|-)\s+ok/);
    expect(table.stdout).toMatch(/balancer: on/);
    const json = await govfs(['status', '--json'], env());
    expect(json.code).toBe(0);
    const st = JSON.parse(json.stdout) as { president: string; ministries: { subtree: string; clerks: string[] }[]; nodes: { up: boolean }[] };
    expect(st.president).toMatch(/^n\d$/);
    expect(st.ministries.map((m) => m.subtree)).toEqual(['/']);
    expect(st.nodes.filter((n) => n.up)).toHaveLength(4);
  });

  it('balance: plan explains, off and on are orders, anything else is a usage error', async () => {
    const plan = await govfs(['balance', 'plan'], env());
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^balancer on \(grow above 95%, shrink to 85%, at least 2 clerks; split a minister saturated by writes, merge cold split-off ministries back\)\nequation 7 \(clerks per ministry\): [^\n]*\nm0 \(\/, 2 clerks\): [^\n]*equation 7: n_c = /);
    const off = await govfs(['balance', 'off'], env());
    expect([off.code, off.stdout.trim()]).toEqual([0, 'balancer off']);
    const on = await govfs(['balance', 'on'], env());
    expect([on.code, on.stdout.trim()]).toEqual([0, 'balancer on']);
    expect((await govfs(['balance', 'sideways'], env())).code).toBe(2);
  });

  it('ministry: list shows the map, split needs an idle node and says so, anything else is a usage error', async () => {
    const list = await govfs(['ministry', 'list'], env());
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^MINISTRY\s+SUBTREE\s+MINISTER\s+CLERKS\s+TERM\s+MIGRATION\nm0\s+\/\s+n\d\s+n\d,n\d\s+\d+\s+-\n$/);
    // 4 nodes: the president and the root's three; none idle to form a ministry.
    const split = await govfs(['ministry', 'split', '/x'], env());
    expect(split).toMatchObject({ code: 1, stdout: '' });
    expect(split.stderr).toMatch(/^govfs: ministry split \/x: no idle node to form a ministry for \/x \[EBUSY\]\n$/);
    const merge = await govfs(['ministry', 'merge', '/x'], env());
    expect(merge.stderr).toMatch(/no ministry has \/x as its subtree .*\[ENOENT\]/);
    expect((await govfs(['ministry', 'split'], env())).code).toBe(2);
    expect((await govfs(['ministry', 'sideways', '/x'], env())).code).toBe(2);
  });

  it('every command has --help', async () => {
    const results = await Promise.all(['cluster', 'node', 'ls', 'mkdir', 'touch', 'stat', 'rm', 'rmdir', 'mv', 'status', 'balance', 'ministry', 'shell', 'bench', 'demo'].map((c) => govfs([c, '--help']).then((r) => [c, r] as const)));
    for (const [c, r] of results) {
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`^govfs ${c}`));
    }
  });

  it('shell: commands from stdin, relative paths, errors do not end it', async () => {
    const { spawnSync } = await import('node:child_process');
    const { GOVFS } = await import('./helpers.js');
    const r = spawnSync(process.execPath, [GOVFS, 'shell'], {
      input: 'cd /x\ntouch g\nls\nstat nope\nmv g h\nls -l\nexit\n',
      env: { ...process.env, ...env(), GOVFS_HISTORY: join(dir, 'history') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1); // stat nope failed (the script went on)
    expect(r.stdout).toMatch(/f\ng\n/);
    expect(r.stdout).toMatch(/-\s+0 .* f\n-\s+0 .* h\n/);
    expect(r.stderr).toMatch(/govfs: stat \/x\/nope: no such file or directory/);
  });

  it('Ctrl-C stops it cleanly; started again on the same folder it brings the file system back', async () => {
    const stopped = await cluster!.stop('SIGINT');
    expect(stopped).toEqual({ code: 0, signal: null });
    expect(cluster!.stderr).toMatch(/stopped cleanly/);
    await startCluster();
    const ls = await govfs(['ls', '/x'], env());
    expect(ls).toMatchObject({ code: 0, stdout: 'f\nh\n' });
    // One cluster per data folder: a second one on it is refused, naming the first.
    const busy = await govfs(['cluster', '--nodes', '4', '--data', dir, '--listen', '127.0.0.1:0']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/is in use by process \d+ \(govfs cluster, since /);
    // The stored shape is enforced.
    const wrong = await govfs(['cluster', '--nodes', '5', '--data', dir, '--listen', '127.0.0.1:0']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/holds a cluster of 4 nodes, not 5/);
  });

  it('refuses, at once, static ministries it has too few nodes for, and says how many', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'govfs-cli-staff-'));
    try {
      const r = await govfs(['cluster', '--nodes', '5', '--ministry', '/a:2', '--data', fresh, '--listen', '127.0.0.1:0']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/5 nodes cannot staff .*\/a \(1 \+ 2\): 7 nodes are needed\. Start with --nodes 7/);
      // Without --nodes it starts as many as the ministries need, and they form.
      const p = new GovfsProcess(['cluster', '--ministry', '/a:2', '--threads', '1', '--data', fresh, '--listen', '127.0.0.1:0']);
      try {
        await p.waitFor(/govfs cluster: 7 nodes on 1 worker thread/);
        await p.waitFor(/^ready: .*\/a served by minister n\d/m, 60_000);
      } finally {
        await p.stop('SIGINT');
      }
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  }, 90_000);
});
