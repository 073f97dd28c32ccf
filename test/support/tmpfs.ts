// A small tmpfs for full-disk tests: mounting needs root on Linux; elsewhere the tests that use
// it skip, saying why.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeBytes } from '../../src/runtime/storage-faults.js';

/** Mounts a tmpfs of `sizeMiB`, or says why not. */
export function smallTmpfs(prefix: string, sizeMiB = 8): { dir: string; unmount: () => void } | string {
  if (process.platform !== 'linux') return 'needs Linux (tmpfs)';
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs failed here (${(e as Error).message.split('\n')[0]})`;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system of `dir` up to `leave` bytes. */
export function fill(dir: string, leave: number): void {
  const free = freeBytes(dir)!;
  writeFileSync(join(dir, `filler-${free}`), Buffer.alloc(Math.max(0, free - leave)));
}

