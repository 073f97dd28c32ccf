// File contents (issue 17) on real threads and lmdb, through connect() (the bytes ride in
// FsRequest dataWrite/dataRead over TCP): a file of a few MiB over several chunks, and a writer
// whose lease ran out while it was stalled (as a paused process), refused with ESTALE by the
// chunk stores after another writer took the file; synced 4 KiB writes read back from a replica
// whose node was stopped and started again.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { connect } from '../../src/client/connect.js';
import type { LeaseHandle } from '../../src/client/gov-client.js';

let dir: string;
let cluster: Cluster;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-data-'));
  cluster = await Cluster.start({ nodes: 3, scheduler: 'threads', threads: 1, dataDir: dir, listen: '127.0.0.1:0', chunkBytes: 1 << 20, leaseTtlMs: 1_500 });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (n: number, salt: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + salt + (i >> 12)) % 256);

describe('file contents over connect() (threads)', () => {
  it('writes and reads a file of a few MiB over several chunks', async () => {
    const fs = await connect([cluster.address]);
    try {
      const data = bytes(3 * (1 << 20) + 12345, 1);
      let progress = 0;
      await fs.writeFile('/big', data, { progress: (done) => (progress = done) });
      expect(progress).toBe(data.length);
      expect((await fs.stat('/big', { linearizable: true })).size).toBe(data.length);
      const back = await fs.readFile('/big');
      expect(back.length).toBe(data.length);
      expect(Buffer.compare(back, data)).toBe(0);
      // Another client in this process reads the same bytes.
      const local = await cluster.client().readFile('/big');
      expect(Buffer.compare(local, data)).toBe(0);
    } finally {
      await fs.close();
    }
  }, 120_000);

  it('refuses a stalled writer with ESTALE once another writer took the file', async () => {
    const a = await connect([cluster.address]);
    const b = await connect([cluster.address]);
    try {
      await a.writeFile('/p', bytes(5000, 2));
      const la: LeaseHandle = await a.open('/p', { mode: 'write' });
      await la.write(0, bytes(100, 3));
      // a stalls: it renews no more (its lease runs out at the ministry), and its own check of
      // the lease passed before the stall (as a process paused between the check and the send).
      (a as unknown as { renewOnce: () => Promise<boolean> }).renewOnce = () => Promise.resolve(false);
      la.valid = () => true;
      const lb = await b.open('/p', { mode: 'write' });
      expect(lb.lease.token).toBeGreaterThan(la.lease.token);
      await lb.write(0, bytes(200, 4));
      await expect(la.write(0, bytes(100, 5))).rejects.toMatchObject({ code: 'ESTALE' });
      await lb.close();
      const want = bytes(5000, 2);
      want.set(bytes(200, 4));
      expect(Buffer.compare(await b.readFile('/p'), want)).toBe(0);
    } finally {
      await a.close().catch(() => undefined);
      await b.close();
    }
  }, 120_000);

  it('keeps synced 4 KiB writes across a replica node stopped and started again (its chunk store reopens its journaled storage)', async () => {
    const fs = cluster.client({ dataTimeoutMs: 20_000, deadlineMs: 60_000 });
    const want = bytes(256 << 10, 6);
    await fs.writeFile('/s', want);
    const h = await fs.open('/s', { mode: 'write' });
    for (let i = 0; i < 8; i++) {
      const piece = bytes(4096, 10 + i);
      await h.write(i * 20_480, piece);
      await h.sync();
      want.set(piece, i * 20_480);
    }
    await h.close();
    const [victim] = cluster.nodeIds.filter((n) => n !== cluster.nodeIds[0]);
    await cluster.kill(victim!);
    await cluster.restart(victim!);
    // Read from the restarted node's store itself: the file's one chunk has a replica on each node.
    const transport = (fs as unknown as { transport: { ask(to: string, m: object, ms: number): Promise<{ ok: boolean; dataRead?: { data: Uint8Array } }> } }).transport;
    const sender = (fs as unknown as { sender: { send(op: object, path: string, a: boolean, b: boolean): Promise<{ layoutGet?: { chunks: { chunkId: string; version: number }[] } } | undefined> } }).sender;
    const chunkId = (await sender.send({ op: 'layoutGet', layoutGet: { path: '/s' } }, '/s', false, true))?.layoutGet?.chunks[0];
    expect(chunkId).toBeDefined();
    let r: { ok: boolean; dataRead?: { data: Uint8Array } } | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !r?.ok) {
      r = await transport.ask(victim!, { type: 'govfs.fs.FsRequest', path: '', dataRead: { chunkId: chunkId!.chunkId, version: chunkId!.version, offset: 0, length: want.length } }, 5_000).catch(() => undefined);
      if (!r?.ok) await new Promise((res) => setTimeout(res, 100));
    }
    expect(r?.ok).toBe(true);
    expect(Buffer.compare(Buffer.from(r!.dataRead!.data), want)).toBe(0);
  }, 120_000);
});
