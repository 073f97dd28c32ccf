// /metrics of a running cluster (issue 20, item 1): the exposition text names the cluster's
// state in Prometheus terms, and a real Prometheus (Debian's `prometheus`, started here on
// loopback) scrapes it and answers a query for a series through its HTTP API.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { OpsServer } from '../../src/ops/http.js';
import { clusterSource } from '../../src/ops/source.js';

const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));
const dirs: string[] = [];
let cluster: Cluster;
let ops: OpsServer;

async function until<T>(what: string, f: () => Promise<T | null>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await f();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'govfs-metrics-'));
  dirs.push(dataDir);
  cluster = await Cluster.start({ nodes: 4, scheduler: 'threads', threads: 1, dataDir, listen: '127.0.0.1:0' });
  ops = await OpsServer.start(clusterSource(cluster), { metrics: { host: '127.0.0.1', port: 0 }, watcher: { intervalMs: 500 } });
}, 120_000);

afterAll(async () => {
  await ops?.stop();
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('/metrics', () => {
  it('exposes roles, terms, indices, thread and bridge counters with Prometheus names', async () => {
    const fs = cluster.client();
    await fs.mkdir('/m');
    await fs.create('/m/f');
    const st = await cluster.status();
    const root = st.ministries.find((m) => m.subtree === '/')!;
    const text = await until('a poll that sees the root ministry commit', async () => {
      const t = await (await fetch(`http://${ops.addresses.metrics}/metrics`)).text();
      const m = /^govfs_ministry_commit_index\{ministry="[^"]+",subtree="\/"\} (\d+)$/m.exec(t);
      return m && Number(m[1]) >= 2 ? t : null;
    }, 30_000);
    expect(text).toContain(`govfs_node_role{node="${st.president}",role="president",ministry=""} 1`);
    expect(text).toContain(`govfs_ministry_minister{ministry="${root.id}",subtree="/",node="${root.minister}"} 1`);
    expect(text).toMatch(/^govfs_cluster_term [1-9]\d*$/m);
    for (const id of cluster.nodeIds) expect(text).toContain(`govfs_node_up{node="${id}"} 1`);
    expect(text).toMatch(/^govfs_ring_messages_received_total\{thread="t0"\} [1-9]\d*$/m);
    expect(text).toMatch(/^govfs_thread_event_loop_active_seconds_total\{thread="t0"\} \d/m);
    expect(text).toMatch(/^govfs_status_round_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^govfs_bridge_dropped_messages_total 0$/m);
    expect(text).toContain('# TYPE govfs_ring_messages_sent_total counter');
    expect(text).toContain('# TYPE govfs_status_round_seconds histogram');
  }, 60_000);

  it.skipIf(!PROMETHEUS)(`is scraped by a real Prometheus and queried back (${PROMETHEUS ?? 'skipped: no prometheus binary; apt-get install prometheus'})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-prometheus-'));
    dirs.push(dir);
    const port = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: govfs',
      `    static_configs: [{ targets: ['${ops.addresses.metrics}'] }]`,
      '',
    ].join('\n'));
    let proc: ChildProcess | null = null;
    let log = '';
    try {
      proc = spawn(PROMETHEUS!, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stderr!.on('data', (b: Buffer) => (log += b.toString()));
      const api = `http://127.0.0.1:${port}`;
      await until('prometheus to be ready', async () => ((await fetch(`${api}/-/ready`)).ok ? true : null), 60_000).catch((e: Error) => {
        throw new Error(`${e.message}\n${log.slice(-2000)}`);
      });
      type Result = { metric: Record<string, string>; value: [number, string] }[];
      const query = async (q: string): Promise<Result> => {
        const body = (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { status: string; data: { result: Result } };
        expect(body.status).toBe('success');
        return body.data.result;
      };
      const up = await until('govfs_node_up for every node in prometheus', async () => {
        const r = await query('govfs_node_up');
        return r.length === cluster.nodeIds.length ? r : null;
      }, 60_000);
      expect(up.map((s) => s.metric.node).sort()).toEqual([...cluster.nodeIds].sort());
      expect(up.every((s) => s.value[1] === '1' && s.metric.job === 'govfs')).toBe(true);
      const st = await cluster.status();
      const minister = await query('govfs_ministry_minister{subtree="/"}');
      expect(minister.map((s) => s.metric.node)).toContain(st.ministries.find((m) => m.subtree === '/')!.minister);
      // A rate over a counter needs two scrapes: proof the series are counters that grow.
      const rate = await until('a rate of ring messages', async () => {
        const r = await query('sum(rate(govfs_ring_messages_received_total[5s]))');
        return r.length === 1 && Number(r[0]!.value[1]) > 0 ? Number(r[0]!.value[1]) : null;
      }, 30_000);
      expect(rate).toBeGreaterThan(0);
    } finally {
      proc?.kill('SIGTERM');
      if (proc && proc.exitCode === null) await new Promise((r) => proc!.once('exit', r));
    }
  }, 180_000);
});
