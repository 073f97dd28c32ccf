// `govfs node --metrics`: a node of a multi-process cluster exports its own node's series, and
// the cluster's as it sees it, asking its peers over the node links (nodeSource).

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeProcess } from '../../src/node-main.js';
import { OpsServer } from '../../src/ops/http.js';
import { nodeSource } from '../../src/ops/source.js';

const dir = mkdtempSync(join(tmpdir(), 'govfs-node-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

describe('govfs node --metrics', () => {
  it('serves its own node and the cluster as seen through its peers', async () => {
    const ids = ['n1', 'n2', 'n3'];
    const peers = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, `127.0.0.1:${await freePort()}`] as const)));
    const secret = new TextEncoder().encode('sixteen bytes or more of secret');
    const nodes: NodeProcess[] = [];
    let ops: OpsServer | null = null;
    try {
      for (const id of ids) {
        const [host, port] = peers[id]!.split(':') as [string, string];
        nodes.push(await NodeProcess.start({ id, listen: { host, port: Number(port) }, peers, dataDir: join(dir, id), secret }));
      }
      ops = await OpsServer.start(nodeSource(nodes[0]!), { metrics: { host: '127.0.0.1', port: 0 }, watcher: { intervalMs: 300 } });
      const deadline = Date.now() + 60_000;
      let text = '';
      // Every node up and a president elected, as n1 sees them.
      while (Date.now() < deadline) {
        text = await (await fetch(`http://${ops.addresses.metrics}/metrics`)).text();
        if (/^govfs_cluster_term [1-9]/m.test(text) && /role="president"/.test(text) && /govfs_node_up\{node="n1"\} 1/.test(text)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(text).toContain('govfs_node_up{node="n1"} 1');
      // Its own node only: each node's series come from that node's endpoint.
      expect(text).not.toContain('govfs_node_up{node="n2"}');
      expect(text).toMatch(/^govfs_cluster_term [1-9]\d*$/m);
      expect(text).toMatch(/^govfs_bridge_dials_total [1-9]\d*$/m);
      expect(text).toMatch(/^govfs_thread_actors\{thread="main"\} [1-9]\d*$/m);
      // The view through the peers: the president, wherever it is, answered the status round.
      const st = await nodeSource(nodes[0]!).status();
      expect(st.nodes.map((n) => [n.id, n.up])).toEqual([['n1', true], ['n2', true], ['n3', true]]);
      expect(ids).toContain(st.president);
    } finally {
      await ops?.stop();
      for (const n of nodes) await n.stop();
    }
  }, 120_000);
});
