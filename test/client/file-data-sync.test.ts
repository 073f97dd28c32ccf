// The client's 4 KiB synced write (issue 17): a write inside the file's size costs the chunk
// stores' round alone. sync() has fdatasync semantics (the bytes are durable when write returns;
// the mtime follows in the background), close() and sync({ metadata: true }) wait for the
// mtime; a small piece goes to every replica at once even when the mode is pipelined. Checked
// against a fake client that records every request and holds the ministry's answers back.

import { describe, expect, it } from 'vitest';
import { FileData, type DataClient, type DataReplication } from '../../src/client/file-data.js';
import { LeaseHandle } from '../../src/client/leases.js';
import type { FileLayout, FsOp, FsReplyMessage, FsResult } from '../../src/fs/requests.js';

const CHUNK = 1 << 20;
const REPLICAS = ['n1', 'n2', 'n3'];

interface Sent {
  to: string;
  op: FsOp;
}

/** A client whose chunk stores answer at once and whose ministry answers only when let go. */
function fakeClient(size: number) {
  const layout: FileLayout = { ino: 7, size, mtime: 0, chunkSize: CHUNK, chunks: [{ index: 0, chunkId: 'c0', version: 1, replicas: REPLICAS }] };
  const sent: Sent[] = [];
  const held: (() => void)[] = [];
  const clock = { now: 0 };
  let committedSize = size;
  const c: DataClient = {
    dataRequest(op: FsOp, _path: string, how): Promise<FsResult | undefined> {
      sent.push({ to: how, op });
      if (op.op === 'fileResize') {
        const { size: s, extend } = op.fileResize;
        return new Promise((resolve) =>
          held.push(() => {
            committedSize = extend ? Math.max(committedSize, s) : s;
            resolve({ result: 'fileResize', fileResize: { version: 1, size: committedSize } });
          }),
        );
      }
      return Promise.resolve({ result: 'layoutPlace', layoutPlace: { ...layout, size: committedSize } });
    },
    askNode(node: string, op: FsOp): Promise<FsReplyMessage> {
      sent.push({ to: node, op });
      return Promise.resolve({ type: 'govfs.fs.FsReply', ok: true, result: 'dataWrite', dataWrite: { chunkId: 'c0', version: 1, size: 0 } } as unknown as FsReplyMessage);
    },
    random: () => 0,
    now: () => clock.now,
  };
  const release = (): void => {
    for (const r of held.splice(0)) r();
  };
  return { c, sent, release, held, clock };
}

function handle(data: FileData, onRelease: () => void = () => undefined): LeaseHandle {
  const owner = { data, releaseLease: () => Promise.resolve(onRelease()) };
  return new LeaseHandle({ id: 'l1', path: '/f', mode: 'write', range: [0, Number.MAX_SAFE_INTEGER], token: 3, expiresAt: Infinity, grantedBy: 'n1' }, owner);
}

const resizes = (sent: Sent[]): FsOp[] => sent.filter((s) => s.op.op === 'fileResize').map((s) => s.op);
const writes = (sent: Sent[]): Sent[] => sent.filter((s) => s.op.op === 'dataWrite' && s.op.dataWrite.data.length > 0);

describe('FileData: a synced write inside the size', () => {
  it('sync() returns without waiting for the ministry and commits the mtime at most once a second; close() waits until it is committed', async () => {
    const f = fakeClient(64 * 1024);
    const data = new FileData(f.c, { replication: 'parallel' });
    const h = handle(data);
    await h.write(4096, new Uint8Array(4096));
    expect(resizes(f.sent)).toHaveLength(0); // inside the size: no size to commit
    await h.sync(); // resolves though the ministry has not answered
    expect(resizes(f.sent)).toEqual([{ op: 'fileResize', fileResize: { path: '/f', size: 0, extend: true, token: 3 } }]);
    // A second write and sync while that commit runs starts no second commit yet...
    await h.write(8192, new Uint8Array(4096));
    await h.sync();
    expect(resizes(f.sent)).toHaveLength(1);
    // ...nor one within a second of it (the mtime goes with a later one)...
    f.release();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    f.clock.now = 999;
    await h.sync();
    expect(resizes(f.sent)).toHaveLength(1);
    f.clock.now = 1_000;
    await h.sync();
    expect(resizes(f.sent)).toHaveLength(2);
    await h.write(12_288, new Uint8Array(4096));
    // ...but close commits the mtime of that write after the first commit is done.
    let closed = false;
    const closing = h.close().then(() => (closed = true));
    await Promise.resolve();
    expect(closed).toBe(false);
    f.release();
    for (let i = 0; i < 50 && f.held.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(resizes(f.sent)).toHaveLength(3);
    expect(closed).toBe(false);
    f.release();
    await closing;
    expect(closed).toBe(true);
  });

  it('a write that grows the file commits its end before it returns', async () => {
    const f = fakeClient(4096);
    const data = new FileData(f.c, { replication: 'parallel' });
    const h = handle(data);
    let done = false;
    const w = h.write(4096, new Uint8Array(4096)).then(() => (done = true));
    for (let i = 0; i < 50 && f.held.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    expect(resizes(f.sent)).toEqual([{ op: 'fileResize', fileResize: { path: '/f', size: 8192, extend: true, token: 3 } }]);
    f.release();
    await w;
    expect(await data.size(h)).toBe(8192);
    // Its mtime went with the size: sync and close send nothing more.
    await h.sync();
    await h.close();
    expect(resizes(f.sent)).toHaveLength(1);
  });

  it('a truncate waits for a background mtime commit (which never carries a size) before its own', async () => {
    const f = fakeClient(64 * 1024);
    const data = new FileData(f.c, { replication: 'parallel' });
    const h = handle(data);
    await h.write(0, new Uint8Array(10));
    await h.sync();
    const t = h.truncate(CHUNK);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(resizes(f.sent)).toHaveLength(1); // the truncate waits
    f.release();
    for (let i = 0; i < 50 && f.held.length === 0; i++) await new Promise((r) => setImmediate(r));
    f.release();
    await t;
    expect(resizes(f.sent).map((o) => (o.op === 'fileResize' ? o.fileResize : null))).toEqual([
      { path: '/f', size: 0, extend: true, token: 3 },
      { path: '/f', size: CHUNK, extend: false, token: 3 },
    ]);
  });

  it('release gives the lease back only after an mtime commit sync() started', async () => {
    const f = fakeClient(64 * 1024);
    let released = false;
    const h = handle(new FileData(f.c, { replication: 'parallel' }), () => (released = true));
    await h.write(0, new Uint8Array(10));
    await h.sync();
    const r = h.release();
    for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
    expect(released).toBe(false);
    f.release();
    await r;
    expect(released).toBe(true);
    expect(resizes(f.sent)).toHaveLength(1);
  });

  it.each<[DataReplication, number, number]>([
    ['pipelined', 4096, 3],
    ['pipelined', 128 * 1024, 1],
    ['parallel', 128 * 1024, 3],
  ])('%s: a %d-byte piece is sent to %d node(s)', async (replication, n, sends) => {
    const f = fakeClient(CHUNK);
    const data = new FileData(f.c, { replication });
    const h = handle(data);
    await h.write(0, new Uint8Array(n));
    const w = writes(f.sent);
    expect(w.map((s) => s.to)).toEqual(REPLICAS.slice(0, sends));
    const chain = w[0]!.op.op === 'dataWrite' ? w[0]!.op.dataWrite.chain : undefined;
    expect(chain ?? []).toEqual(sends === 1 ? ['n2', 'n3'] : []);
  });
});
