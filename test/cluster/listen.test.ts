// Cluster.start({ scheduler: 'threads', listen }) serves network clients itself (node-host.ts's
// client gateway): what `govfs cluster` runs, without the CLI.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { connect } from '../../src/client/connect.js';

let dir: string;
let cluster: Cluster;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-listen-'));
  cluster = await Cluster.start({ nodes: 3, scheduler: 'threads', threads: 1, dataDir: dir, listen: '127.0.0.1:0' });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Cluster.start with listen', () => {
  it('serves a connect() client next to in-process clients', async () => {
    expect(cluster.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const fs = await connect([cluster.address]);
    try {
      expect(fs.nodeIds).toEqual(['n1', 'n2', 'n3']);
      expect(cluster.clientsConnected).toBe(1);
      await fs.mkdir('/net');
      await fs.create('/net/f');
      expect(await fs.ls('/net')).toEqual([{ name: 'f', kind: 'file' }]);
      // The same file system, seen by a client in this process.
      expect(await cluster.client().ls('/net')).toEqual([{ name: 'f', kind: 'file' }]);
    } finally {
      await fs.close();
    }
  }, 120_000);

  it('refuses listen on the sim scheduler', async () => {
    await expect(Cluster.start({ nodes: 3, scheduler: 'sim', listen: '127.0.0.1:0' })).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
