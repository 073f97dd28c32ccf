// The CI subset of `npm run posix`: pjdfstest's tests of a few syscall directories through a
// govfs mount of a fresh cluster, beside the same tests on this machine's own file system.
// Skips, saying why, where root, /dev/fuse, libfuse2, the pjdfstest source or the build tools
// are missing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MountedCluster, buildPjdfstest, missingForPosix, runSuite, type DirResult } from './pjdfstest.js';

/** Tests that must pass through the mount, per directory: all of them, as `npm run posix`
 * measured through the kernel binding with FIFOs, sockets and device nodes stored and 8 KiB
 * paths (before those: mkdir 113/118, rmdir 140/145, unlink 437/440; before the POSIX metadata
 * and data plane 57, 68, 108). */
const FLOOR: Record<string, number> = { mkdir: 118, rmdir: 145, unlink: 440 };
const DIRS = Object.keys(FLOOR);

const missing = missingForPosix();

describe.skipIf(missing !== null)(`pjdfstest through a govfs mount (CI subset: ${DIRS.join(', ')})${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pjd = '';
  let local: DirResult[] = [];
  let mount: DirResult[] = [];

  beforeAll(async () => {
    pjd = buildPjdfstest();
    // Both sides and their directories at once (runSuite: parallel): 67 s here against 104 s
    // one after another.
    const dir = mkdtempSync(join(tmpdir(), 'govfs-posix-local-'));
    const m = await MountedCluster.start();
    try {
      [local, mount] = await Promise.all([
        runSuite(pjd, dir, DIRS, { timeoutMs: 120_000, parallel: true }),
        runSuite(pjd, m.mountpoint, DIRS, { timeoutMs: 240_000, parallel: true }),
      ]);
    } finally {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  afterAll(() => {
    const rows = DIRS.map((d) => `${d}: mount ${cell(mount, d)}, local ${cell(local, d)}`);
    console.log(`pjdfstest (passed/total): ${rows.join('; ')}`);
  });

  it('runs every test file of each directory on both sides', () => {
    for (const d of DIRS) {
      const l = local.find((r) => r.dir === d);
      const m = mount.find((r) => r.dir === d);
      expect(l?.files.length, d).toBeGreaterThan(0);
      expect(m?.files.map((f) => f.file.split('/').pop())).toEqual(l?.files.map((f) => f.file.split('/').pop()));
      // Every file ran (a script skips itself where pjdfstest's conf says a feature is optional
      // for the file system type: 1 test then).
      for (const f of m?.files ?? []) expect(f.total, f.file).toBeGreaterThan(0);
    }
  });

  it('passes at least as many tests through the mount as it did when measured', () => {
    for (const d of DIRS) expect(mount.find((r) => r.dir === d)?.passed ?? 0, d).toBeGreaterThanOrEqual(FLOOR[d]!);
  });
});

function cell(rs: DirResult[], d: string): string {
  const r = rs.find((x) => x.dir === d);
  return r ? `${r.passed}/${r.total}` : '-';
}
