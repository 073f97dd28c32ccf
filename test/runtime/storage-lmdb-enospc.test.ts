// LmdbStorage on a full disk (hardening issue, point 4): lmdb-js rejects the commit (EIO for a
// short write, ENOSPC otherwise) and also rejects promises nobody holds, which ended the process
// with a raw stack. Wanted: a typed ENOSPC naming the folder, the storage refusing every later
// read and write (its overlay holds writes that never became durable), one fault notice, and no
// unhandled rejection (vitest fails a run that has one).
//
// A real full disk needs a small tmpfs, which needs root (mount): elsewhere these tests skip.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeError } from '../../src/runtime/errors.js';
import { checkFreeSpace } from '../../src/runtime/storage-faults.js';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';
import { fill, smallTmpfs } from '../support/tmpfs.js';

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
