// A data folder written before log entries became protobuf (test/fixtures/old-encodings/
// data-folder.tgz, made by make-data-folder.ts at fc59b08): its cluster log holds JSON orders
// (appointments, a fence after a failover), its ministry log binary tag-0x01 client changes and
// JSON lease entries. The new code starts on it with every file in place, goes on writing
// protobuf entries after the old ones, and starts again on the mixed logs.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const OLD_FILES = [...Array.from({ length: 18 }, (_, k) => `a${k + 2}`), 'after-failover'].sort();

/** Linearizable: a just restarted clerk may not have the last entries yet (plain reads may be
 * stale, README), which says nothing about what the folder kept. */
async function names(cluster: Cluster, path: string): Promise<string[]> {
  return (await cluster.client().ls(path, { linearizable: true })).map((e) => e.name).sort();
}

describe('a data folder of the old log encodings', () => {
  it('is read by the new code, which then writes after it and reads the mixed logs', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'govfs-old-data-'));
    dirs.push(dataDir);
    execFileSync('tar', ['xzf', new URL('../fixtures/old-encodings/data-folder.tgz', import.meta.url).pathname, '-C', dataDir]);

    let cluster = await Cluster.start({ nodes: 5, scheduler: 'threads', threads: 1, dataDir });
    try {
      expect(await names(cluster, '/d')).toEqual(OLD_FILES);
      expect(await names(cluster, '/e')).toEqual(['moved']);
      const root = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
      // The JSON orders replayed: the root ministry formed as m0, then was fenced and re-staffed.
      expect(root.id).toBe('m0');
      expect(root.term).toBeGreaterThanOrEqual(3);
      await cluster.client().create('/d/new');
      await cluster.client().mkdir('/n');
    } finally {
      await cluster.stop();
    }

    cluster = await Cluster.start({ nodes: 5, scheduler: 'threads', threads: 1, dataDir });
    try {
      expect(await names(cluster, '/d')).toEqual([...OLD_FILES, 'new'].sort());
      expect(await names(cluster, '/')).toEqual(['d', 'e', 'n']);
    } finally {
      await cluster.stop();
    }
  });
});
