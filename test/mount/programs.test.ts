// Real programs through a real mount (issue 18): git, tar, diff, cp -a, find, du and mv, run
// as child processes in a `govfs mount` of a fresh cluster with two ministries (/ and /b).
// Each program's exit code and output are checked, and what they left is compared with the
// original on the local disk. Skips, saying why, where /dev/fuse, libfuse2 or root are missing.
//
// The tar tree has PROGRAM_FILES small files (default 60: a file through the mount costs
// about 0.1 s on the loaded 2-core machine, tar doing create, write, utimens, chown and chmod
// for each); GOVFS_PROGRAM_FILES=3000 runs the few thousand of the issue.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type RemoteGovClient } from '../../src/client/connect.js';
import { MountedCluster, missingForMount } from '../posix/pjdfstest.js';
import { makeTree, run, type Ran, type TreeShape } from './tree.js';

const missing = missingForMount();
const PROGRAM_FILES = Number(process.env.GOVFS_PROGRAM_FILES ?? 60);
/** Time for tar -x: a second a file (5 to 12 files/s measured, on a loaded machine). */
const TAR_MS = 60_000 + PROGRAM_FILES * 1_000;
const git = (args: string[], cwd: string) => run('git', ['-c', 'user.name=Gov Clerk', '-c', 'user.email=clerk@govfs.test', '-c', 'init.defaultBranch=main', ...args], cwd, { env: { GIT_CONFIG_NOSYSTEM: '1', HOME: cwd } });

/** The program ran and exited 0; its output on failure, to say why. */
function ok(r: Ran): string {
  expect(r.code, `exit ${r.code}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe.skipIf(missing !== null)(`programs through govfs mount${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let m: MountedCluster;
  let client: RemoteGovClient;
  let local: string;
  let tree: TreeShape;

  beforeAll(async () => {
    local = mkdtempSync(join(tmpdir(), 'govfs-programs-'));
    tree = makeTree(join(local, 'tree'), PROGRAM_FILES);
    ok(await run('tar', ['-cf', join(local, 'tree.tar'), 'tree'], local));
    m = await MountedCluster.start({ nodes: 6, ministries: ['/b:1'], deadlineMs: 10_000 });
    client = await connect([m.server]);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await m?.stop();
    if (local) rmSync(local, { recursive: true, force: true });
  }, 60_000);

  it('git init, add, commit, log and fsck of a small repository', async () => {
    const repo = join(m.mountpoint, 'repo');
    mkdirSync(repo);
    // No template: its sample hooks are a dozen files more, nothing this test reads.
    ok(await git(['init', '-q', '--template=', '.'], repo));
    writeFileSync(join(repo, 'a.txt'), 'hello\n');
    mkdirSync(join(repo, 'src'));
    writeFileSync(join(repo, 'src', 'b.txt'), 'govfs\n'.repeat(500));
    ok(await git(['add', '.'], repo));
    ok(await git(['commit', '-q', '-m', 'first'], repo));
    writeFileSync(join(repo, 'a.txt'), 'hello again\n');
    ok(await git(['commit', '-q', '-am', 'second'], repo));
    expect(ok(await git(['log', '--format=%s %an'], repo))).toBe('second Gov Clerk\nfirst Gov Clerk\n');
    expect(ok(await git(['status', '--porcelain'], repo))).toBe('');
    expect(ok(await git(['show', 'HEAD~1:a.txt'], repo))).toBe('hello\n');
    // Every object reads back whole (git writes each to a temp name, links it, unlinks the temp).
    ok(await git(['fsck', '--strict', '--no-progress'], repo));
    // A local clone hard-links the objects and checks each link has its source's inode number.
    ok(await git(['clone', '-q', '--template=', 'repo', 'clone'], m.mountpoint));
    expect(ok(await git(['log', '--format=%s'], join(m.mountpoint, 'clone')))).toBe('second\nfirst\n');
    expect(ok(await run('cat', ['clone/src/b.txt'], m.mountpoint))).toBe('govfs\n'.repeat(500));
  }, 60_000);

  it(`tar -x of ${PROGRAM_FILES} small files, then diff -r, find and du against the original`, async () => {
    const r = await run('tar', ['-xf', join(local, 'tree.tar')], m.mountpoint, { timeoutMs: TAR_MS });
    ok(r);
    console.log(`programs: tar -x of ${tree.files} files through the mount in ${r.ms} ms (${((tree.files * 1000) / r.ms).toFixed(1)} files/s)`);
    const d = await run('diff', ['-r', join(local, 'tree'), 'tree'], m.mountpoint);
    expect(d.stdout + d.stderr).toBe('');
    expect(d.code).toBe(0);
    const count = async (type: string) => Number(ok(await run('find', ['tree', '-type', type], m.mountpoint)).trim().split('\n').length);
    expect([await count('f'), await count('d'), await count('l')]).toEqual([tree.files, tree.dirs, tree.symlinks]);
    // Apparent sizes: the files' bytes, 4096 per directory (what getattr shows), the links' targets.
    expect(ok(await run('du', ['-sb', 'tree'], m.mountpoint))).toBe(`${tree.bytes + 4096 * tree.dirs + tree.linkBytes}\ttree\n`);
    expect(Number(ok(await run('du', ['-sk', 'tree'], m.mountpoint)).split('\t')[0])).toBeGreaterThanOrEqual(Math.floor(tree.bytes / 1024));
  }, TAR_MS + 120_000);

  it('cp -a of a tree keeps contents, modes and links; mv across the two ministries moves it', async () => {
    const mnt = m.mountpoint;
    const small = makeTree(join(local, 'small'), 12);
    ok(await run('chmod', ['600', join(local, 'small', 'd0', 'e0', 'f3')], local));
    ok(await run('cp', ['-a', join(local, 'small'), 'small'], mnt, { timeoutMs: 300_000 }));
    ok(await run('cp', ['-a', 'small', 'copy'], mnt, { timeoutMs: 300_000 }));
    expect(ok(await run('diff', ['-r', 'small', 'copy'], mnt))).toBe('');
    // Names, types, modes; sizes and link targets of all but directories (whose size is the
    // local file system's business).
    const listing = async (dir: string) => {
      const all = ok(await run('find', [dir, '-printf', '%P %y %m\n'], mnt));
      const sizes = ok(await run('find', [dir, '!', '-type', 'd', '-printf', '%P %s %l\n'], mnt));
      return (all + sizes).split('\n').sort().join('\n');
    };
    const want = await listing(join(local, 'small'));
    expect(want).toMatch(/^d0\/e0\/f3 f 600$/m);
    expect(await listing('copy')).toBe(want);

    // A tree of files with contents crosses ministries by one rename too (their layouts go with
    // it, src/actors/rename-layouts.ts), after the source waits out the files' leases.
    const moved = ok(await run('mv', ['-v', 'copy', 'b/moved'], mnt, { timeoutMs: 300_000 }));
    expect(moved).toBe("renamed 'copy' -> 'b/moved'\n");
    expect(existsSync(join(mnt, 'copy'))).toBe(false);
    expect(ok(await run('diff', ['-r', join(local, 'small'), 'b/moved'], mnt))).toBe('');
    expect(await listing('b/moved')).toBe(want);
    expect((await client.ls('/b/moved/d0/e0', { linearizable: true })).length).toBe(small.files);

    // Empty files and directories cross by one atomic rename.
    mkdirSync(join(mnt, 'plain', 'sub'), { recursive: true });
    for (const n of ['x', 'y', 'sub/z']) writeFileSync(join(mnt, 'plain', n), '');
    expect(ok(await run('mv', ['-v', 'plain', 'b/plain'], mnt))).toBe("renamed 'plain' -> 'b/plain'\n");
    expect(existsSync(join(mnt, 'plain'))).toBe(false);
    expect(ok(await run('find', ['b/plain'], mnt)).split('\n').sort().filter(Boolean)).toEqual(['b/plain', 'b/plain/sub', 'b/plain/sub/z', 'b/plain/x', 'b/plain/y']);
    expect((await client.ls('/b/plain', { linearizable: true })).map((e) => e.name).sort()).toEqual(['sub', 'x', 'y']);
    // And back, within a program's view of one file system.
    expect(ok(await run('mv', ['-v', 'b/plain', 'plain2'], mnt))).toBe("renamed 'b/plain' -> 'plain2'\n");
    expect(ok(await run('find', ['plain2', '-type', 'f'], mnt)).split('\n').filter(Boolean).length).toBe(3);
  }, 300_000);
});
