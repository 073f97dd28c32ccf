// File contents (issue 17) on the simulator: bytes written through the client are split in
// chunks, stored on three nodes' chunk stores and read back, across renames, truncates, node
// losses and a minister failover; a writer whose lease a newer writer took is refused (ESTALE).

import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import type { FsReplyMessage } from '../../src/fs/requests.js';

const CHUNK = 64 * 1024;
const bytes = (n: number, salt = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + salt * 7 + (i >> 9)) % 251);

async function setup(seed: number, nodes = 5) {
  const cluster = await Cluster.start({ nodes, seed, chunkBytes: CHUNK, leaseTtlMs: 1_000, leaseDriftMs: 50 });
  return { cluster, fs: cluster.client({ clientId: 'c1', dataTimeoutMs: 500 }) };
}

describe('file contents (sim)', () => {
  it('writeFile and readFile across several chunks, on three distinct nodes each; stat tells the size', async () => {
    const { cluster, fs } = await setup(41);
    const data = bytes(5 * CHUNK + 1234);
    await fs.writeFile('/f', data);
    expect(await fs.readFile('/f')).toEqual(data);
    expect((await fs.stat('/f', { linearizable: true })).size).toBe(data.length);
    const h = await fs.open('/f', { mode: 'read' });
    const layout = (await cluster.drive(fs.data['layout']('/f', 'read'))) as { chunks: { replicas: string[] }[] };
    expect(layout.chunks).toHaveLength(6);
    for (const c of layout.chunks) expect(new Set(c.replicas).size).toBe(3);
    expect(await cluster.drive(h.read(CHUNK - 10, 20))).toEqual(data.subarray(CHUNK - 10, CHUNK + 10));
    expect(await cluster.drive(h.read(data.length - 5, 100))).toEqual(data.subarray(data.length - 5)); // fewer at the end
    expect(await cluster.drive(h.read(data.length + 5, 100))).toEqual(new Uint8Array(0));
    await cluster.drive(h.release());
    // Replaced: shorter contents.
    await fs.writeFile('/f', bytes(100, 2));
    expect(await fs.readFile('/f')).toEqual(bytes(100, 2));
    await cluster.stop();
  });

  it('writeStream and readStream: a file from parts of any size, read back piece by piece in order (within chunks), progress to the end; a read stopped early gives its lease back', async () => {
    const { cluster, fs } = await setup(44);
    const parts = [bytes(100_000, 1), bytes(1, 2), bytes(3 * CHUNK + 17, 3)];
    async function* source(): AsyncGenerator<Uint8Array> {
      for (const p of parts) yield p;
    }
    const total = parts.reduce((a, p) => a + p.length, 0);
    const wrote: number[] = [];
    await fs.writeStream('/s', source(), { total, progress: (done) => wrote.push(done) });
    expect(wrote.at(-1)).toBe(total);
    const want = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      want.set(p, at);
      at += p.length;
    }
    expect(await fs.readFile('/s')).toEqual(want);
    const progress: [number, number][] = [];
    const it = fs.readStream('/s', { progress: (done, of) => progress.push([done, of]) });
    const pieces: Uint8Array[] = [];
    for (;;) {
      const r = await cluster.drive(it.next());
      if (r.done) break;
      pieces.push(r.value);
    }
    expect(pieces).toHaveLength(Math.ceil(total / CHUNK)); // one per chunk: a piece never spans two
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(want));
    expect(progress.at(-1)).toEqual([total, total]);
    expect(fs.openHandles).toHaveLength(0);
    // Stopped after its first piece: the read lease is released, the rest never handed out.
    const early = fs.readStream('/s');
    expect((await cluster.drive(early.next())).value).toEqual(want.subarray(0, CHUNK));
    await cluster.drive(early.return(undefined));
    expect(fs.openHandles).toHaveLength(0);
    // Replaced by a shorter stream: truncated first.
    await fs.writeStream('/s', (async function* () { yield parts[0]!; })());
    expect(await fs.readFile('/s')).toEqual(parts[0]);
    await cluster.stop();
  });

  it('handle writes at offsets (overlapping, past the end: a hole reads as zeros), truncate, and a rename keeps the bytes', async () => {
    const { cluster, fs } = await setup(42);
    await fs.create('/g');
    const h = await fs.open('/g', { mode: 'write' });
    await cluster.drive(h.write(0, bytes(1000, 3)));
    await cluster.drive(h.write(500, bytes(1000, 4))); // overlaps the first
    await cluster.drive(h.write(3 * CHUNK, bytes(10, 5))); // past the end: chunks 1 and 2 are a hole
    const want = new Uint8Array(3 * CHUNK + 10);
    want.set(bytes(1000, 3), 0);
    want.set(bytes(1000, 4), 500);
    want.set(bytes(10, 5), 3 * CHUNK);
    expect(await cluster.drive(h.read(0, want.length))).toEqual(want);
    await cluster.drive(h.truncate(700));
    await cluster.drive(h.truncate(2000)); // grows again: [700, 2000) must read as zeros
    const after = new Uint8Array(2000);
    after.set(want.subarray(0, 700));
    expect(await cluster.drive(h.read(0, 5000))).toEqual(after);
    await cluster.drive(h.close());
    await fs.rename('/g', '/h');
    expect(await fs.readFile('/h')).toEqual(after);
    expect((await fs.stat('/h', { linearizable: true })).size).toBe(2000);
    await fs.truncate('/h', 10);
    expect(await fs.readFile('/h')).toEqual(after.subarray(0, 10));
    await cluster.stop();
  });

  it('a replica lost mid-write is replaced (version bumped) and every acknowledged byte survives losing one more node', async () => {
    const { cluster, fs } = await setup(43, 6);
    const data = bytes(3 * CHUNK, 6);
    await fs.writeFile('/k', data);
    const before = (await cluster.drive(fs.data['layout']('/k', 'read'))) as { chunks: { replicas: string[]; version: number }[] };
    const status = await cluster.status();
    const minister = status.ministries.find((m) => m.subtree === '/')!.minister;
    // A replica that is not the minister, nor the president.
    const victim = before.chunks[0]!.replicas.find((n) => n !== minister && n !== status.president)!;
    await cluster.kill(victim);
    const h = await fs.open('/k', { mode: 'write' });
    await cluster.drive(h.write(10, bytes(CHUNK, 7)));
    await cluster.drive(h.close());
    const want = Uint8Array.from(data);
    want.set(bytes(CHUNK, 7), 10);
    const after = (await cluster.drive(fs.data['layout']('/k', 'read'))) as { chunks: { replicas: string[]; version: number }[] };
    for (const c of after.chunks) {
      expect(c.replicas).not.toContain(victim);
      expect(new Set(c.replicas).size).toBe(3);
    }
    expect(after.chunks[0]!.version).toBeGreaterThan(before.chunks[0]!.version);
    expect(await fs.readFile('/k')).toEqual(want);
    // One more node lost (not the minister, nor the president): still readable.
    const second = after.chunks[0]!.replicas.find((n) => n !== minister && n !== status.president && n !== victim);
    if (second) await cluster.kill(second);
    expect(await cluster.client({ clientId: 'c2', dataTimeoutMs: 500 }).readFile('/k')).toEqual(want);
    await cluster.stop();
  });

  it('status counts the chunks and those with a replica on a node that is down', async () => {
    const { cluster, fs } = await setup(47);
    await fs.writeFile('/s', bytes(3 * CHUNK, 1));
    await cluster.runFor(1_500); // the minister samples its chunks with its load, every second
    const st = await cluster.status();
    const root = st.ministries.find((m) => m.subtree === '/')!;
    expect(root.chunks).toEqual({ total: 3, underReplicated: 0 });
    const layout = (await cluster.drive(fs.data['layout']('/s', 'read'))) as { chunks: { replicas: string[] }[] };
    const victim = layout.chunks[0]!.replicas.find((n) => n !== root.minister && n !== st.president)!;
    await cluster.kill(victim);
    const after = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
    expect(after.chunks).toEqual({ total: 3, underReplicated: layout.chunks.filter((c) => c.replicas.includes(victim)).length });
    await cluster.stop();
  });

  it("garbage collection: a replaced file's old chunks are deleted from their replicas", async () => {
    const { cluster, fs } = await setup(48);
    await fs.writeFile('/g1', bytes(2 * CHUNK, 1));
    const old = (await cluster.drive(fs.data['layout']('/g1', 'read'))) as { chunks: { chunkId: string; version: number; replicas: string[] }[] };
    await fs.writeFile('/g1', bytes(100, 2)); // truncates to 0 first: both chunks are garbage
    await cluster.runFor(3_000);
    const ask = (fs as unknown as { transport: { ask(node: string, msg: object, timeoutMs: number): Promise<unknown> } }).transport;
    for (const c of old.chunks) {
      for (const node of c.replicas) {
        const r = (await cluster.drive(ask.ask(node, { type: 'govfs.fs.FsRequest', clientId: 'c1', seq: 0, path: '', lastSeen: 0, linearizable: false, ticketTo: '', mutation: false, acked: 0, dataRead: { chunkId: c.chunkId, version: c.version, offset: 0, length: 10 } }, 1_000))) as FsReplyMessage;
        expect(r.error?.code, `${c.chunkId} on ${node}`).toBe('ENOENT');
      }
    }
    expect(await fs.readFile('/g1')).toEqual(bytes(100, 2));
    await cluster.stop();
  });

  it('contents survive a minister failover', async () => {
    const { cluster, fs } = await setup(44);
    const data = bytes(2 * CHUNK + 77, 8);
    await fs.writeFile('/m', data);
    const minister = (await cluster.status()).ministries.find((m) => m.subtree === '/')!.minister;
    await cluster.kill(minister);
    const other = cluster.client({ clientId: 'c3', dataTimeoutMs: 500 });
    expect(await other.readFile('/m')).toEqual(data);
    await other.writeFile('/m2', bytes(CHUNK + 1, 9));
    expect(await other.readFile('/m2')).toEqual(bytes(CHUNK + 1, 9));
    await cluster.stop();
  });

  it('a writer whose lease a newer writer took is refused with ESTALE, by its client and by the chunk stores', async () => {
    const { cluster, fs } = await setup(45);
    await fs.writeFile('/p', bytes(1000, 10));
    const a = cluster.client({ host: 'a', clientId: 'a' });
    const la = await a.open('/p', { mode: 'write' });
    await cluster.drive(la.write(0, bytes(10, 11)));
    const oldToken = la.lease.token;
    const layout = (await cluster.drive(a.data['layout']('/p', 'minister'))) as { chunks: { chunkId: string; version: number; replicas: string[] }[] };
    // a is cut off (as if paused) until its lease runs out; b takes the file and writes.
    cluster.partition(['a'], cluster.nodeIds);
    const b = cluster.client({ host: 'b', clientId: 'b' });
    const lb = await b.open('/p', { mode: 'write' });
    expect(lb.lease.token).toBeGreaterThan(oldToken);
    await cluster.drive(lb.write(0, bytes(20, 12)));
    cluster.heal();
    await expect(cluster.drive(la.write(0, bytes(10, 13)))).rejects.toMatchObject({ code: 'ESTALE' });
    // The same write sent straight to a chunk store, as a client that ignored its lease would.
    const c = layout.chunks[0]!;
    const internals = a as unknown as { transport: { ask(node: string, msg: object, timeoutMs: number): Promise<unknown> } };
    for (const node of c.replicas) {
      const r = (await internals.transport.ask(node, { type: 'govfs.fs.FsRequest', clientId: 'a', seq: 0, path: '', lastSeen: 0, linearizable: false, ticketTo: '', mutation: false, acked: 0, dataWrite: { chunkId: c.chunkId, version: c.version, token: oldToken, offset: 0, data: bytes(10, 13) } }, 1_000)) as FsReplyMessage;
      expect(r.ok).toBe(false);
      expect(r.error?.code).toBe('ESTALE');
    }
    await cluster.drive(lb.close());
    const want = bytes(1000, 10);
    want.set(bytes(20, 12));
    expect(await fs.readFile('/p')).toEqual(want);
    await cluster.stop();
  });

  it('refuses writes without a write lease, outside the lease range, and on a released handle', async () => {
    const { cluster, fs } = await setup(46);
    await fs.writeFile('/r', bytes(100));
    const rh = await fs.open('/r', { mode: 'read' });
    await expect(cluster.drive(rh.write(0, bytes(1)))).rejects.toMatchObject({ code: 'EBADF' });
    await cluster.drive(rh.release());
    const wh = await fs.open('/r', { mode: 'write', start: 0, end: 50 });
    await expect(cluster.drive(wh.write(40, bytes(20)))).rejects.toMatchObject({ code: 'EINVAL' });
    await cluster.drive(wh.release());
    await expect(cluster.drive(wh.write(0, bytes(1)))).rejects.toMatchObject({ code: 'ESTALE' });
    await expect(fs.readFile('/nope')).rejects.toMatchObject({ code: 'ENOENT' });
    await cluster.stop();
  });
});
