// `govfs mount` for real: a cluster and a mount as child processes, used with plain node:fs
// calls (mkdir, readdir, create, rename, unlink, rmdir; contents, chmod, chown, utimes,
// symlink, link, truncate), errors as errno, a stopped cluster answering an error within a
// bound, and SIGTERM unmounting cleanly. The binding is $GOVFS_MOUNT_BINDING, else the
// default (kernel); with the kernel binding, also what only it gives (the caller's ownership,
// both times of utimensat, hard links as one inode) and a smoke test of fuse-native beside it
// on the same cluster. Skips, saying why, where /dev/fuse or root (and, for fuse-native,
// libfuse2) are missing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, renameSync, rmdirSync, statSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { open as openAsync, stat as statAsync } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { connect, type RemoteGovClient } from '../../src/client/connect.js';
import { ENTRY_TIMEOUT_S } from '../../src/mount/fuse-mount.js';
import { GovfsProcess, until } from '../cli/helpers.js';
import { MountedCluster, isMounted, missingForMount, testBinding } from '../posix/pjdfstest.js';

const missing = missingForMount();
/** The mount's deadline for one operation in this test (ms). */
const DEADLINE_MS = 4_000;

const binding = testBinding();
/** As another user (util-linux's setpriv), with the given groups. */
const asUser = (uid: number, gid: number, groups: number[], cmd: string[]) => execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, groups.length ? `--groups=${groups.join(',')}` : '--clear-groups', ...cmd], { stdio: 'pipe' });

describe.skipIf(missing !== null)(`govfs mount through FUSE (${binding} binding)${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let m: MountedCluster;
  let client: RemoteGovClient;

  beforeAll(async () => {
    m = await MountedCluster.start({ deadlineMs: DEADLINE_MS });
    client = await connect([m.server]);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await m?.stop();
  }, 60_000);

  it('mkdir, ls, create, mv and rm through plain fs calls reach the cluster', async () => {
    const mnt = m.mountpoint;
    mkdirSync(join(mnt, 'a'));
    mkdirSync(join(mnt, 'a', 'b'));
    closeSync(openSync(join(mnt, 'a', 'f'), 'w'));
    expect(readdirSync(join(mnt, 'a')).sort()).toEqual(['b', 'f']);
    expect(statSync(join(mnt, 'a', 'b')).isDirectory()).toBe(true);
    expect(statSync(join(mnt, 'a', 'f')).isFile()).toBe(true);
    expect(statSync(join(mnt, 'a', 'f')).size).toBe(0);
    // What the mount did is in the cluster, for any client.
    expect((await client.ls('/a', { linearizable: true })).map((e) => `${e.name}:${e.kind}`).sort()).toEqual(['b:dir', 'f:file']);

    renameSync(join(mnt, 'a', 'f'), join(mnt, 'a', 'g'));
    renameSync(join(mnt, 'a', 'b'), join(mnt, 'c'));
    expect(readdirSync(join(mnt, 'a'))).toEqual(['g']);
    expect(readdirSync(mnt).sort()).toEqual(['a', 'c']);
    unlinkSync(join(mnt, 'a', 'g'));
    rmdirSync(join(mnt, 'a'));
    rmdirSync(join(mnt, 'c'));
    expect(readdirSync(mnt)).toEqual([]);
    expect((await client.ls('/', { linearizable: true })).map((e) => e.name)).toEqual([]);
  });

  it('refusals come back as their errno', () => {
    const mnt = m.mountpoint;
    mkdirSync(join(mnt, 'd'));
    closeSync(openSync(join(mnt, 'd', 'x'), 'w'));
    expect(() => mkdirSync(join(mnt, 'd'))).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => rmdirSync(join(mnt, 'd'))).toThrow(expect.objectContaining({ code: 'ENOTEMPTY' }));
    expect(() => statSync(join(mnt, 'nope'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => readdirSync(join(mnt, 'd', 'x'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(() => unlinkSync(join(mnt, 'd'))).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(EISDIR|EPERM)$/) }));
  });

  it("file contents and POSIX metadata go through the client's calls, not ENOSYS", async () => {
    const dir = join(m.mountpoint, 'p');
    mkdirSync(dir);
    const f = join(dir, 'f');
    const data = Buffer.from('hello through FUSE\n'.repeat(1000));
    writeFileSync(f, data);
    expect(readFileSync(f).equals(data)).toBe(true);
    // Stored in the cluster: another client reads the same bytes.
    expect(Buffer.from(await client.readFile('/p/f')).equals(data)).toBe(true);
    truncateSync(f, 5);
    expect(readFileSync(f, 'utf8')).toBe('hello');
    chmodSync(f, 0o640);
    chownSync(f, 123, 456);
    utimesSync(f, 1_900_000_000, 1_900_000_000);
    const s = await client.stat('/p/f', { linearizable: true });
    expect([s.mode & 0o7777, s.uid, s.gid, s.size, s.mtimeNs]).toEqual([0o640, 123, 456, 5, 1_900_000_000n * 1_000_000_000n]);
    symlinkSync('f', join(dir, 'l'));
    expect(readlinkSync(join(dir, 'l'))).toBe('f');
    linkSync(f, join(dir, 'h'));
    expect((await client.stat('/p/h', { linearizable: true })).nlink).toBe(2);
    // One inode number for both names (libfuse's use_ino), none shared with another file.
    expect(statSync(join(dir, 'h')).ino).toBe(statSync(f).ino);
    expect(statSync(dir).ino).not.toBe(statSync(f).ino);
    for (const n of ['l', 'h', 'f']) unlinkSync(join(dir, n));
    rmdirSync(dir);
  });

  it("another client's change shows through the mount once the kernel's 1 s cache runs out", async () => {
    const p = join(m.mountpoint, 'cached');
    mkdirSync(p);
    expect(statSync(p).isDirectory()).toBe(true); // now in the kernel's entry and attribute cache
    await client.rmdir('/cached');
    const removedAt = Date.now();
    let seenAfter = -1;
    while (Date.now() - removedAt < 10_000) {
      if (!existsSync(p)) {
        seenAfter = Date.now() - removedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`mount: another client's rmdir seen through the mount after ${seenAfter} ms (entry/attr timeout ${ENTRY_TIMEOUT_S} s)`);
    expect(seenAfter).toBeGreaterThanOrEqual(0);
    expect(seenAfter).toBeLessThan(ENTRY_TIMEOUT_S * 1000 + 2_000);
  });

  // $GOVFS_MOUNT_INVALIDATE=0 (the mount's timeouts alone) makes this fail: that is the
  // comparison. $GOVFS_INVAL_TRIALS trials (default 3), median printed.
  it.runIf(binding === 'kernel')("kernel binding: another client's write to an open file shows at once, its lease's revocation drops the kernel's cache", async () => {
    const trials = Number(process.env.GOVFS_INVAL_TRIALS ?? 3);
    const notifying = process.env.GOVFS_MOUNT_INVALIDATE !== '0';
    mkdirSync(join(m.mountpoint, 'inval'));
    const seen: number[] = [];
    for (let i = 0; i < trials; i++) {
      const p = `/inval/f${i}`;
      await client.writeFile(p, Buffer.from('old\n'));
      const fh = await openAsync(join(m.mountpoint, p), 'r');
      try {
        const buf = Buffer.alloc(64);
        expect((await fh.read(buf, 0, 64, 0)).bytesRead).toBe(4); // the mount holds a read lease
        // The writer's open returns once the mount's read lease is revoked and given back.
        const w = await client.open(p, { mode: 'write' });
        const fresh = Buffer.from(`new bytes of trial ${i}\n`);
        // Odd trials: reads alone, of pages the kernel cached at the first read, which the
        // notification drops. Even ones: fstat alone, with a stat between two of the writer's
        // writes (after the notification), which the kernel would cache for 1 s had the
        // revocation not marked the file. (A read that reaches the mount makes the next fstat
        // reach it too: the kernel invalidates atime after each READ it sends.)
        await w.write(0, fresh.subarray(0, 9));
        if (i % 2 === 0) expect((await fh.stat()).size).toBeGreaterThanOrEqual(4);
        await w.write(9, fresh.subarray(9));
        await w.close();
        const wroteAt = Date.now();
        const shows = async () => {
          if (i % 2 === 0) return (await fh.stat()).size === fresh.length;
          const { bytesRead } = await fh.read(buf, 0, 64, 0);
          return buf.subarray(0, bytesRead).equals(fresh);
        };
        let after = -1;
        while (Date.now() - wroteAt < 3_000) {
          if (await shows()) {
            after = Date.now() - wroteAt;
            break;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        seen.push(after);
        expect((await fh.stat()).size).toBe(fresh.length);
        const { bytesRead } = await fh.read(buf, 0, 64, 0);
        expect(buf.subarray(0, bytesRead).toString()).toBe(fresh.toString());
      } finally {
        await fh.close();
      }
    }
    const median = [...seen].sort((a, b) => a - b)[Math.floor(seen.length / 2)];
    console.log(`mount: another client's write to an open file seen through the mount after ${seen.join(', ')} ms (median ${median} ms; ${notifying ? 'FUSE_NOTIFY_INVAL_INODE at revocation' : `timeout alone, ${ENTRY_TIMEOUT_S} s`})`);
    for (const ms of seen) expect(ms).toBeGreaterThanOrEqual(0);
    for (const ms of seen) expect(ms).toBeLessThan(500);
    execFileSync('rm', ['-r', join(m.mountpoint, 'inval')]);
  }, 60_000);

  it.runIf(binding === 'kernel')('kernel binding: files belong to their caller, utimensat sets both times, hard links are one inode', async () => {
    // The mount point's temp parent is 0700: other users must get through it.
    chmodSync(join(m.mountpoint, '..'), 0o755);
    const dir = join(m.mountpoint, 'k');
    mkdirSync(dir, { mode: 0o777 });
    chmodSync(dir, 0o777);
    asUser(65534, 65533, [65532], ['mkdir', join(dir, 'byNobody')]);
    asUser(65534, 65533, [], ['touch', join(dir, 'fileByNobody')]);
    expect([statSync(join(dir, 'byNobody')).uid, statSync(join(dir, 'byNobody')).gid]).toEqual([65534, 65533]);
    const s = await client.stat('/k/fileByNobody', { linearizable: true });
    expect([s.uid, s.gid]).toEqual([65534, 65533]);
    // Another user may not remove what is not theirs from a sticky directory (the servers see
    // the real caller too).
    chmodSync(dir, 0o1777);
    expect(() => asUser(65000, 65000, [], ['rm', '-f', join(dir, 'fileByNobody')])).toThrow();
    expect(existsSync(join(dir, 'fileByNobody'))).toBe(true);

    const f = join(dir, 'times');
    writeFileSync(f, 'x');
    utimesSync(f, 1_000_000_000.5, 1_900_000_000.25);
    const st = statSync(f, { bigint: true });
    expect([st.atimeNs, st.mtimeNs]).toEqual([1_000_000_000_500_000_000n, 1_900_000_000_250_000_000n]);

    linkSync(f, join(dir, 'times2'));
    expect(statSync(join(dir, 'times2')).ino).toBe(statSync(f).ino);
    expect(statSync(f).nlink).toBe(2);
    unlinkSync(join(dir, 'times2'));
    expect(statSync(f).nlink).toBe(1); // no cached nlink of another path: one kernel inode

    // A file unlinked while open still reads, and does not keep its directory from being
    // removed (pjdfstest unlink/14.t).
    mkdirSync(join(dir, 'u'));
    writeFileSync(join(dir, 'u', 'open'), 'still here');
    const fd = openSync(join(dir, 'u', 'open'), 'r');
    try {
      unlinkSync(join(dir, 'u', 'open'));
      rmdirSync(join(dir, 'u'));
      const buf = Buffer.alloc(10);
      expect(readSync(fd, buf, 0, 10, 0)).toBe(10);
      expect(buf.toString()).toBe('still here');
    } finally {
      closeSync(fd);
    }
    execFileSync('rm', ['-r', dir]);
  });

  it.runIf(binding === 'kernel' && missingForMount('fuse-native') === null)('fuse-native still mounts the same cluster (smoke test)', async () => {
    const other = join(m.mountpoint, '..', 'native');
    mkdirSync(other, { recursive: true });
    const native = new GovfsProcess(['mount', other, '--server', m.server, '--binding', 'fuse-native', '--timeout', String(DEADLINE_MS)]);
    try {
      await native.waitFor(/govfs mounted at/, 60_000);
      await until(async () => isMounted(other), `${other} mounted`, 30_000);
      mkdirSync(join(other, 'n'));
      writeFileSync(join(other, 'n', 'f'), 'through libfuse');
      expect(readFileSync(join(m.mountpoint, 'n', 'f'), 'utf8')).toBe('through libfuse');
      expect((await native.stop('SIGTERM', 20_000)).code).toBe(0);
      expect(isMounted(other)).toBe(false);
      execFileSync('rm', ['-r', join(m.mountpoint, 'n')]);
    } finally {
      if (isMounted(other)) execFileSync('umount', ['-l', other]);
      await native.stop('SIGKILL').catch(() => undefined);
    }
  }, 120_000);

  it('a mount whose process was killed is taken over by the next govfs mount', async () => {
    mkdirSync(join(m.mountpoint, 'kept'));
    await m.mount.stop('SIGKILL');
    // The kernel still has the mount, with no one serving it.
    expect(isMounted(m.mountpoint)).toBe(true);
    expect(() => readdirSync(m.mountpoint)).toThrow(expect.objectContaining({ code: 'ENOTCONN' }));
    await m.remount();
    expect(readdirSync(m.mountpoint)).toContain('kept');
    rmdirSync(join(m.mountpoint, 'kept'));
  }, 120_000);

  it('a mount whose cluster stopped answers an error within a bound, not a hang', async () => {
    await m.cluster.stop('SIGKILL');
    const started = Date.now();
    // A name never looked up: the kernel has no cached answer for it.
    const err = await statAsync(join(m.mountpoint, 'never-seen')).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    const elapsed = Date.now() - started;
    expect(err?.code).toMatch(/^(EIO|ENOTCONN)$/);
    // The client's deadline, plus its last backoff and the answer's way back.
    expect(elapsed).toBeLessThan(DEADLINE_MS + 5_000);
  }, 60_000);

  it('SIGTERM unmounts cleanly', async () => {
    expect(isMounted(m.mountpoint)).toBe(true);
    const exit = await m.mount.stop('SIGTERM', 20_000);
    expect(exit.code).toBe(0);
    expect(isMounted(m.mountpoint)).toBe(false);
    expect(existsSync(m.mountpoint)).toBe(true);
    expect(m.mount.stderr).toMatch(/stopped cleanly/);
  }, 60_000);
});
