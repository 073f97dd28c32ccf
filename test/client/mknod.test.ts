// mknod through the client library (issue 18): FIFOs, sockets and device nodes travel the typed
// wire and the ministry log, show in stat and ls, move across ministries with their kind and
// rdev, and have no contents here (opening one is ENXIO). In the simulator: fast and seeded.

import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

const alice = { uid: 1000, gid: 100, groups: [100] };
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

describe('GovClient.mknod', () => {
  it('makes FIFOs, sockets and devices (root only), shows them, links, renames them across ministries, refuses to open them', async () => {
    const cluster = await Cluster.start({ nodes: 6, scheduler: 'sim', seed: 31, ministries: [{ subtree: '/a', clerks: 1 }] });
    const fs = cluster.client();
    try {
      await fs.mkdir('/home', { mode: 0o777 });
      await fs.mknod('/home/p', S_IFIFO | 0o640, 0, { as: alice });
      await fs.mknod('/home/s', S_IFSOCK | 0o755, 0, { as: alice });
      await fs.mknod('/home/c', S_IFCHR | 0o600, 0x0103);
      await fs.mknod('/a/b', S_IFBLK | 0o660, 0x0801);
      expect(await fs.stat('/home/p')).toMatchObject({ kind: 'fifo', mode: S_IFIFO | 0o640, uid: 1000, gid: 100, rdev: 0, nlink: 1 });
      expect(await fs.stat('/home/s')).toMatchObject({ kind: 'socket', mode: S_IFSOCK | 0o755 });
      expect(await fs.stat('/home/c')).toMatchObject({ kind: 'chardev', mode: S_IFCHR | 0o600, rdev: 0x0103, uid: 0 });
      expect(await fs.stat('/a/b')).toMatchObject({ kind: 'blockdev', rdev: 0x0801 });
      expect(await fs.ls('/home')).toEqual([
        { name: 'c', kind: 'chardev' },
        { name: 'p', kind: 'fifo' },
        { name: 's', kind: 'socket' },
      ]);

      // Devices need root; existing names, missing parents and types mknod does not make.
      await expect(fs.mknod('/home/c2', S_IFCHR | 0o600, 1, { as: alice })).rejects.toMatchObject({ code: 'EPERM' });
      await expect(fs.mknod('/home/p', S_IFIFO | 0o600)).rejects.toMatchObject({ code: 'EEXIST' });
      await expect(fs.mknod('/none/p', S_IFIFO | 0o600)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(fs.mknod('/home/d', 0o040755)).rejects.toMatchObject({ code: 'EINVAL' });
      // A regular file by mknod is a create.
      await fs.mknod('/home/f', 0o100600);
      expect(await fs.stat('/home/f')).toMatchObject({ kind: 'file', mode: 0o100600 });

      // No contents in govfs: the kernel of the host that opens one serves it.
      await expect(fs.open('/home/p', { mode: 'read' })).rejects.toMatchObject({ code: 'ENXIO' });
      await expect(fs.open('/a/b', { mode: 'write' })).rejects.toMatchObject({ code: 'ENXIO' });

      // Links and renames as for a file, across ministries with kind and rdev.
      await fs.link('/home/p', '/home/p2', { as: alice });
      expect(await fs.stat('/home/p2')).toMatchObject({ kind: 'fifo', nlink: 2 });
      await fs.rename('/home/c', '/a/c');
      expect(await fs.stat('/a/c', { linearizable: true })).toMatchObject({ kind: 'chardev', rdev: 0x0103, mode: S_IFCHR | 0o600 });
      await fs.rename('/a/b', '/home/b');
      expect(await fs.stat('/home/b', { linearizable: true })).toMatchObject({ kind: 'blockdev', rdev: 0x0801 });
      await fs.rm('/home/p');
      await fs.rm('/home/p2');
      expect((await fs.ls('/home', { linearizable: true })).map((e) => e.name)).toEqual(['b', 'f', 's']);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
