// Storage of a cluster on worker threads. Its nodes keep their databases in one lmdb
// environment under the data folder (a Raft round on a thread is one transaction, not one per
// member). Killing and restarting a node, and stopping and starting the whole cluster, keep
// every acknowledged change; a folder made when each node had its own environment keeps using
// those environments.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'govfs-threads-storage-'));
  dirs.push(d);
  return d;
};

async function start(dataDir: string, nodes: number, threads: number): Promise<Cluster> {
  return Cluster.start({ nodes, scheduler: 'threads', threads, dataDir });
}

describe('cluster storage on worker threads', () => {
  it('a killed minister is replaced and rejoins; a restarted cluster has every acknowledged file', async () => {
    const dataDir = tempDir();
    let cluster = await start(dataDir, 5, 2);
    try {
      // One cluster per data folder.
      await expect(start(dataDir, 5, 1)).rejects.toMatchObject({ code: 'EBUSY', message: expect.stringMatching(/in use by another cluster in this process/) });
      const fs = cluster.client();
      await fs.mkdir('/d');
      await Promise.all(Array.from({ length: 50 }, (_, k) => fs.create(`/d/a${k}`)));
      const before = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
      await cluster.kill(before.minister);
      // Acknowledged after the failover: the client retries through the new minister.
      await Promise.all(Array.from({ length: 50 }, (_, k) => fs.create(`/d/b${k}`)));
      const after = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
      expect(after.minister).not.toBe(before.minister);
      await cluster.restart(before.minister);
      const back = await cluster.waitFor(async () => (await cluster.status()).nodes.find((n) => n.id === before.minister)?.up === true, 20_000);
      expect(back).toBe(true);
    } finally {
      await cluster.stop();
    }
    expect(existsSync(join(dataDir, 'nodes', 'data.mdb'))).toBe(true);
    expect(existsSync(join(dataDir, 'n1'))).toBe(false);

    cluster = await start(dataDir, 5, 1); // another thread count: the nodes find their data
    try {
      // Linearizable: a just restarted clerk may answer before it learnt the commit index
      // (plain reads may be stale, README), which says nothing about what storage kept.
      const names = (await cluster.client().ls('/d', { linearizable: true })).map((e) => e.name).sort();
      expect(names).toEqual([...Array.from({ length: 50 }, (_, k) => `a${k}`), ...Array.from({ length: 50 }, (_, k) => `b${k}`)].sort());
    } finally {
      await cluster.stop();
    }
  });

  it('a data folder with a node environment of its own keeps using it', async () => {
    const dataDir = tempDir();
    // What a node's folder looked like before nodes shared an environment.
    const own = LmdbStorage.open(join(dataDir, 'n1'));
    own.put('made-before', new Uint8Array([1]));
    await own.close();
    let cluster = await start(dataDir, 4, 1);
    try {
      await cluster.client().mkdir('/kept');
    } finally {
      await cluster.stop();
    }
    const reopened = LmdbStorage.open(join(dataDir, 'n1'));
    const keys = [...reopened.range({})].map(([k]) => k);
    await reopened.close();
    expect(keys).toContain('made-before');
    expect(keys.length).toBeGreaterThan(1); // n1 wrote its node state there
    cluster = await start(dataDir, 4, 1);
    try {
      expect((await cluster.client().ls('/', { linearizable: true })).map((e) => e.name)).toContain('kept');
    } finally {
      await cluster.stop();
    }
  });
});
