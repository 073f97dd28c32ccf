// Corruption found while a node runs (hardening issue, point 3): before, the actor that read the
// bad value failed, the process stayed up, accepted clients and showed DOWN in status with only
// a log line. Now a stored value that fails its checksum, found by any actor of the node, makes
// the node stop serving: it says why once (file, reason, what to do), its actors stop (it no
// longer votes or leads), and clients get EIO with the reason instead of timeouts.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { NodeProcess } from '../../src/node-main.js';
import { CorruptStorageError } from '../../src/runtime/sealed.js';
import { until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'govfs-fault-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a node that finds a corrupt value while running', () => {
  it('stops serving, says why once, and answers clients EIO with the reason', async () => {
    const faults: string[] = [];
    const node = await NodeProcess.start({
      id: 'n1',
      listen: { host: '127.0.0.1', port: 0 },
      peers: {},
      dataDir: join(dir, 'n1'),
      secret: new TextEncoder().encode('sixteen bytes or more of secret'),
      onStorageFault: (m) => faults.push(m),
    });
    const fs = await connect([node.address], { deadlineMs: 5_000 });
    try {
      await until(async () => (await fs.status()).president === 'n1', 'n1 is elected president', 10_000);
      // Any actor of the node reading a value that fails its checksum (as RaftShell does).
      node.runtime.spawnRoot('reader', () => ({
        started() {
          throw new CorruptStorageError('raft m0 g/m0/e/0000000000000007 fails its checksum (stored crc32 00000000, computed 12345678 over 40 bytes)');
        },
        receive() {},
      }));
      await until(async () => faults.length > 0, 'the node reports the fault', 5_000);
      expect(faults).toHaveLength(1);
      expect(faults[0]).toMatch(/^storage failed: raft m0 g\/m0\/e\/0000000000000007 fails its checksum .*\. this node stopped serving .*move the folder aside, and start it with an empty folder/);
      await until(async () => {
        const err = await fs.mkdir('/x').then(() => null, (e: unknown) => e as { code?: string; message: string });
        return err?.code === 'EIO' && /node n1 serves nothing: storage failed: .* fails its checksum/.test(err.message);
      }, 'clients get EIO with the reason', 10_000);
      expect((await fs.status()).nodes.find((n) => n.id === 'n1')?.up).toBe(false);
      // The client kept its connection (its actor is under the gateway actor, not the node).
      expect(node.bridge.stats.clients).toBe(1);
    } finally {
      await fs.close();
      await node.stop();
    }
  }, 60_000);
});
