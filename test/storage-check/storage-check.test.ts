// The startup check of a shared environment (govfs cluster, Cluster.start on threads): a sound
// environment with several node databases passes every time. Its child once opened each node's
// database while a cursor still walked the main one, and lmdb-js then failed the walk with
// MDB_BAD_TXN in about 6 runs of 10: a sound folder reported corrupt.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';
import { checkStorage } from '../../src/storage-check/storage-check.js';

const root = mkdtempSync(join(tmpdir(), 'govfs-check-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('checkStorage on a shared environment', () => {
  it('a sound environment of four node databases passes, run after run', async () => {
    const dir = join(root, 'nodes');
    for (const n of ['n1', 'n2', 'n3', 'n4']) {
      const s = LmdbStorage.openShared(dir, n);
      for (let i = 0; i < 2000; i++) s.put(`k${i}`, new Uint8Array(50));
      await s.close();
    }
    await LmdbStorage.closeShared();
    for (let run = 0; run < 4; run++) {
      const r = await checkStorage(dir, { shared: true });
      expect(r.records).toBeGreaterThanOrEqual(8000);
    }
  });
});
