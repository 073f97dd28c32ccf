// LmdbStorage on a full disk (hardening issue, point 4): lmdb-js rejects the commit (EIO for a
// short write, ENOSPC otherwise) and also rejects promises nobody holds, which ended the process
// with a raw stack. Wanted: a typed ENOSPC naming the folder, the storage refusing every later
// read and write (its overlay holds writes that never became durable), one fault notice, and no
// unhandled rejection (vitest fails a run that has one).
//
// A real full disk needs a small tmpfs, which needs root (mount): elsewhere these tests skip.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeError } from '../../src/runtime/errors.js';
import { checkFreeSpace, freeBytes } from '../../src/runtime/storage-check.js';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';

/** Mounts an 8 MiB tmpfs, or says why not. */
export function smallTmpfs(prefix: string): { dir: string; unmount: () => void } | string {
  if (process.platform !== 'linux') return 'needs Linux (tmpfs)';
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
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

const mounted = smallTmpfs('govfs-enospc-');
const skip = typeof mounted === 'string' ? mounted : '';

describe.skipIf(skip !== '')(`LmdbStorage on a full disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let root: string;
  beforeAll(() => {
    root = (mounted as { dir: string }).dir;
  });
  afterAll(() => (mounted as { unmount: () => void }).unmount());

  it('a failed commit is ENOSPC naming the folder; the storage then refuses reads and writes; one fault notice', async () => {
    const dir = join(root, 'n1');
    mkdirSync(dir);
    const st = LmdbStorage.open(dir);
    st.put('a', new Uint8Array([1]));
    await st.sync();
    fill(root, 256 << 10);
    const faults: RuntimeError[] = [];
    st.onFault((e) => faults.push(e));
    let err: RuntimeError | undefined;
    for (let i = 0; i < 1000 && !err; i++) {
      try {
        st.put(`k${String(i).padStart(6, '0')}`, new Uint8Array(64 << 10).fill(i & 0xff));
        await st.sync();
      } catch (e) {
        err = e as RuntimeError;
      }
    }
    expect(err, 'the disk filled up').toBeDefined();
    expect(err!.code).toBe('ENOSPC');
    expect(err!.message).toMatch(new RegExp(`^disk full: cannot write to ${dir}: no space left on its file system`));
    expect(faults.map((f) => f.code)).toEqual(['ENOSPC']);
    expect(st.fault).toBe(faults[0]);
    expect(() => st.put('b', new Uint8Array(1))).toThrow(/disk full/);
    expect(() => st.get('a')).toThrow(/disk full/);
    await expect(st.sync()).rejects.toMatchObject({ code: 'ENOSPC' });
    await st.close();
    // Starting on the still-full disk is refused up front, with the same words.
    expect(() => checkFreeSpace(dir, 'govfs node n1')).toThrow(/^disk full: only .* free on the file system of .*: free space there, then start it again$/);
  }, 60_000);
});
