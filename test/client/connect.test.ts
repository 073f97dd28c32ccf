// GovClient over the network against a whole cluster on worker threads (src/cluster-main.ts):
// the same client API as in process, requests routed main → worker rings → node and replies
// (and tickets) back from the workers through main to the client's connection.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../src/cluster-main.js';
import { connect } from '../../src/client/connect.js';

let dir: string;
let cluster: LocalCluster;
const TOKEN = 'token of the threads cluster';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-netclient-'));
  cluster = await LocalCluster.start({ nodes: 4, threads: 2, dataDir: dir, listen: { host: '127.0.0.1', port: 0 }, clientToken: Buffer.from(TOKEN) });
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('network GovClient against govfs cluster', () => {
  it('mkdir, create, ls, stat, rename, rm work as in process, with POSIX-like errors', async () => {
    const fs = await connect([cluster.address], { token: TOKEN });
    expect(fs.nodeIds).toEqual(['n1', 'n2', 'n3', 'n4']);
    await fs.mkdir('/x');
    await fs.create('/x/f');
    await fs.create('/x/g');
    expect(await fs.ls('/x')).toEqual([{ name: 'f', kind: 'file' }, { name: 'g', kind: 'file' }]);
    const st = await fs.stat('/x/f');
    expect(st).toMatchObject({ kind: 'file', size: 0 });
    // Plain data off the wire: numbers stay numbers in JSON (as `govfs stat --json` prints).
    // (All but the nanosecond times, which are bigint.)
    const { atimeNs, mtimeNs, ctimeNs, ...numbers } = st;
    expect(JSON.parse(JSON.stringify(numbers))).toEqual({ kind: 'file', size: 0, ctime: st.ctime, mtime: st.mtime, version: st.version, ino: st.ino, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0 });
    expect([typeof atimeNs, typeof mtimeNs, typeof ctimeNs]).toEqual(['bigint', 'bigint', 'bigint']);
    expect(typeof st.version).toBe('number');
    expect(JSON.parse(JSON.stringify(await fs.ls('/x')))).toEqual([{ name: 'f', kind: 'file' }, { name: 'g', kind: 'file' }]);
    await fs.rename('/x/g', '/x/h');
    await fs.rm('/x/f');
    expect((await fs.ls('/x')).map((e) => e.name)).toEqual(['h']);
    await expect(fs.mkdir('/x')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.ls('/nope')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.rmdir('/x')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    // Tickets come back over the connection from the worker threads.
    expect(fs.tickets.size).toBeGreaterThan(0);
    await fs.close();
  });

  it('status shows the president, the root ministry and every node up', async () => {
    const fs = await connect([cluster.address], { token: TOKEN });
    const st = await fs.status();
    expect(st.president).toMatch(/^n[1-4]$/);
    const root = st.ministries.find((m) => m.subtree === '/')!;
    expect(root.minister).toMatch(/^n[1-4]$/);
    expect(root.clerks).toHaveLength(2);
    expect(st.nodes.every((n) => n.up)).toBe(true);
    await fs.close();
  });

  it('leases: a read lease held over one connection is revoked over it when another client writes', async () => {
    const reader = await connect([cluster.address], { token: TOKEN });
    const writer = await connect([cluster.address], { token: TOKEN });
    await writer.mkdir('/leases', { parents: true });
    await writer.create('/leases/f');
    const r = await reader.open('/leases/f', { mode: 'read' });
    const revoked = new Promise<void>((res) => r.addEventListener('revoked', () => res()));
    const w = await writer.open('/leases/f', { mode: 'write' });
    await revoked; // the LeaseRevoked tell came back from a worker thread through main
    expect(r.signal.aborted).toBe(true);
    await w.release();
    await reader.close();
    await writer.close();
  });

  it('connect skips servers that do not answer; a client without the token is refused', async () => {
    const fs = await connect(['127.0.0.1:1', cluster.address], { token: TOKEN });
    expect(fs.server).toBe(cluster.address);
    expect((await fs.ls('/')).length).toBeGreaterThanOrEqual(0);
    await fs.close();
    await expect(connect([cluster.address])).rejects.toMatchObject({ code: 'EAUTH' });
    await expect(connect(['127.0.0.1:1'], { connectTimeoutMs: 500 })).rejects.toMatchObject({ code: 'ECONNREFUSED', message: expect.stringMatching(/^cannot reach the cluster at 127.0.0.1:1 \(connect ECONNREFUSED: nothing listening at 127.0.0.1:1\): is a govfs cluster or node running there\?$/) });
  });
});
