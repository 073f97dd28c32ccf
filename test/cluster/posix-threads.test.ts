// POSIX metadata (issue 18) end to end: a cluster on worker threads with lmdb, a client over
// the network through connect(), acting as root and as other users; attributes survive a
// restart of the whole cluster (the ministry log and snapshots carry them).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { connect, type RemoteGovClient } from '../../src/client/connect.js';

const alice = { uid: 1000, gid: 100, groups: [100] };
const bob = { uid: 2000, gid: 200, groups: [200] };

let dir: string;
let cluster: Cluster;
let fs: RemoteGovClient;

const start = () => Cluster.start({ nodes: 6, scheduler: 'threads', threads: 1, dataDir: dir, listen: '127.0.0.1:0', ministries: [{ subtree: '/m', clerks: 1 }] });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-posix-'));
  cluster = await start();
  fs = await connect([cluster.address]);
}, 180_000);
afterAll(async () => {
  await fs?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('POSIX metadata through connect()', () => {
  it('modes, owners, nanosecond times, symlinks, hard links and permission errors', async () => {
    await fs.mkdir('/home', { mode: 0o1777 });
    await fs.mkdir('/home/a', { mode: 0o750, as: alice });
    await fs.create('/home/a/f', { mode: 0o640, as: alice });
    let st = await fs.stat('/home/a/f');
    expect(st).toMatchObject({ kind: 'file', mode: 0o100640, uid: 1000, gid: 100, nlink: 1 });
    expect(typeof st.mtimeNs).toBe('bigint');

    await fs.utimens('/home/a/f', 1_234_567_890_123_456_789n, -5n, { as: alice });
    st = await fs.stat('/home/a/f');
    expect([st.atimeNs, st.mtimeNs]).toEqual([1_234_567_890_123_456_789n, -5n]);

    await expect(fs.chmod('/home/a', 0o777, { as: bob })).rejects.toMatchObject({ code: 'EPERM' });
    await expect(fs.chmod('/home/a/f', 0o777, { as: bob })).rejects.toMatchObject({ code: 'EACCES' });
    await expect(fs.stat('/home/a/f', { as: bob })).rejects.toMatchObject({ code: 'EACCES' });
    await expect(fs.create('/home/a/g', { as: bob })).rejects.toMatchObject({ code: 'EACCES' });
    await expect(fs.chown('/home/a/f', 2000, -1, { as: alice })).rejects.toMatchObject({ code: 'EPERM' });
    await fs.chown('/home/a/f', 2000, 200);
    expect(await fs.stat('/home/a/f')).toMatchObject({ uid: 2000, gid: 200 });

    await fs.symlink('a/f', '/home/l', { as: alice });
    expect(await fs.readlink('/home/l')).toBe('a/f');
    expect(await fs.stat('/home/l')).toMatchObject({ kind: 'symlink', mode: 0o120777, size: 3 });
    expect(await fs.ls('/home')).toEqual([{ name: 'a', kind: 'dir' }, { name: 'l', kind: 'symlink' }]);

    await fs.link('/home/a/f', '/home/hard');
    expect(await fs.stat('/home/hard')).toMatchObject({ nlink: 2, ino: st.ino });
    // Across ministries: EXDEV, as between two file systems.
    await expect(fs.link('/home/a/f', '/m/f')).rejects.toMatchObject({ code: 'EXDEV' });
    // The sticky /home: bob may not remove alice's symlink.
    await expect(fs.rm('/home/l', { as: bob })).rejects.toMatchObject({ code: 'EPERM' });

    // A rename over an existing file; a directory over an empty one.
    await fs.create('/home/x');
    await fs.rename('/home/x', '/home/hard');
    expect(await fs.stat('/home/a/f')).toMatchObject({ nlink: 1 });
    await fs.mkdir('/home/d1');
    await fs.mkdir('/home/d2');
    await fs.rename('/home/d1', '/home/d2');
    await expect(fs.rename('/home/d2', '/home/d2/in')).rejects.toMatchObject({ code: 'EINVAL' });

    // Opening a file (a lease) needs read or write permission.
    await fs.create('/home/ro', { mode: 0o444, as: alice });
    await expect(fs.open('/home/ro', { mode: 'write', as: alice })).rejects.toMatchObject({ code: 'EACCES' });
    await expect(fs.open('/home/a/f', { mode: 'read', as: bob })).rejects.toMatchObject({ code: 'EACCES' });
    const lease = await fs.open('/home/ro', { mode: 'read', as: alice });
    await lease.release();

    // The client's own credentials, overridden per call.
    const asBob = await connect([cluster.address], { credentials: bob });
    try {
      await asBob.create('/home/bobs');
      expect(await asBob.stat('/home/bobs')).toMatchObject({ uid: 2000, gid: 200 });
      await expect(asBob.ls('/home/a')).rejects.toMatchObject({ code: 'EACCES' });
      expect(await asBob.ls('/home/a', { as: alice })).toEqual([{ name: 'f', kind: 'file' }]);
    } finally {
      await asBob.close();
    }
  }, 180_000);

  it('keeps the attributes across a restart of the cluster', async () => {
    const before = await fs.stat('/home/a/f', { linearizable: true });
    await fs.close();
    await cluster.stop();
    cluster = await start();
    fs = await connect([cluster.address]);
    const after = await fs.stat('/home/a/f', { linearizable: true });
    expect(after).toEqual(before);
    expect(await fs.readlink('/home/l')).toBe('a/f');
  }, 240_000);
});
