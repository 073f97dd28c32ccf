// How a read spreads over a chunk's replicas (issue 17, the read goal): its pieces in flight go
// to the replica with the fewest of the client's reads under way, so three replicas serve a
// large read at once, and a replica that answers slowly gets fewer; a checksum refusal (EIO)
// still falls back to another replica. Checked against fake chunk stores that answer when told.

import { describe, expect, it } from 'vitest';
import { FileData, PIECE_BYTES, type DataClient } from '../../src/client/file-data.js';
import { LeaseHandle } from '../../src/client/leases.js';
import type { FileLayout, FsOp, FsReplyMessage, FsResult } from '../../src/fs/requests.js';

const CHUNK = 4 * PIECE_BYTES;
const byteAt = (pos: number): number => (pos * 7 + (pos >> 11)) & 0xff;
const FILE = new Uint8Array(2 * CHUNK);
for (let i = 0; i < FILE.length; i++) FILE[i] = byteAt(i);
const same = (out: Uint8Array, from: number): boolean => Buffer.from(out.buffer, out.byteOffset, out.length).equals(FILE.subarray(from, from + out.length));

/** Stores n1-n3 each holding every chunk of a `chunks`-chunk file; a read is answered when
 * `answer` is called (by the test) unless `auto`; `bad` answers EIO (a failed checksum). */
function stores(chunks: number, opts: { auto?: (node: string) => boolean; bad?: string } = {}) {
  const layout: FileLayout = {
    ino: 7,
    size: chunks * CHUNK,
    mtime: 0,
    chunkSize: CHUNK,
    chunks: Array.from({ length: chunks }, (_, i) => ({ index: i, chunkId: `c${i}`, version: 1, replicas: ['n1', 'n2', 'n3'] })),
  };
  const waiting: { node: string; go: () => void }[] = [];
  const served: string[] = [];
  const c: DataClient = {
    dataRequest(): Promise<FsResult | undefined> {
      return Promise.resolve({ result: 'layoutGet', layoutGet: layout });
    },
    askNode(node: string, op: FsOp): Promise<FsReplyMessage> {
      if (op.op !== 'dataRead') throw new Error(`unexpected ${op.op}`);
      const { chunkId, offset, length } = op.dataRead;
      const reply = (): FsReplyMessage => {
        if (node === opts.bad) return { type: 'govfs.fs.FsReply', ok: false, error: { code: 'EIO', message: `${chunkId}: block fails its CRC-32C checksum`, path: '' } } as FsReplyMessage;
        served.push(node);
        const base = Number(chunkId.slice(1)) * CHUNK + offset;
        const data = FILE.slice(base, base + length);
        return { type: 'govfs.fs.FsReply', ok: true, result: 'dataRead', dataRead: { chunkId, version: 1, offset, data, size: CHUNK } } as unknown as FsReplyMessage;
      };
      if (opts.auto?.(node) ?? true) return Promise.resolve(reply());
      return new Promise((resolve) => waiting.push({ node, go: () => resolve(reply()) }));
    },
    random: () => 0.5,
    now: () => 0,
  };
  return { c, waiting, served };
}

function reader(data: FileData): LeaseHandle {
  const owner = { data, releaseLease: () => Promise.resolve() };
  return new LeaseHandle({ id: 'l1', path: '/f', mode: 'read', range: [0, Number.MAX_SAFE_INTEGER], token: 3, expiresAt: Number.MAX_SAFE_INTEGER, grantedBy: 'n1' }, owner);
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('FileData reads: pieces in flight spread over the replicas', () => {
  it('a large read keeps 6 pieces in flight, two at each of the three replicas, and returns the bytes in order', async () => {
    const s = stores(2, { auto: () => false });
    const h = reader(new FileData(s.c));
    const read = h.read(0, 2 * CHUNK);
    await settle();
    const count = (xs: { node: string }[]) => ['n1', 'n2', 'n3'].map((n) => xs.filter((x) => x.node === n).length);
    expect(count(s.waiting)).toEqual([2, 2, 2]);
    // Answer them one at a time: each next piece goes where fewest are under way.
    while (s.waiting.length > 0) {
      s.waiting.shift()!.go();
      await settle();
      expect(s.waiting.length).toBeLessThanOrEqual(6);
    }
    const out = await read;
    expect(out.length).toBe(2 * CHUNK);
    expect(same(out, 0)).toBe(true);
  });

  it('a replica that does not answer gets no more pieces while the others serve the rest', async () => {
    const s = stores(2, { auto: (n) => n !== 'n2' });
    const h = reader(new FileData(s.c));
    const read = h.read(0, 2 * CHUNK);
    await settle();
    // n2 holds the pieces it was first given; the other 8 - 2 pieces were read from n1 and n3.
    expect(s.waiting.map((w) => w.node)).toEqual(['n2', 'n2']);
    expect(s.served.filter((n) => n === 'n2')).toEqual([]);
    expect(s.served.length).toBe(6);
    for (const w of s.waiting.splice(0)) w.go();
    expect(same(await read, 0)).toBe(true);
  });

  it('a replica whose block fails its checksum (EIO) is passed over for another, and the bytes are right', async () => {
    const s = stores(1, { bad: 'n1' });
    const h = reader(new FileData(s.c));
    const out = await h.read(0, CHUNK);
    expect(same(out, 0)).toBe(true);
    expect(s.served.length).toBe(4);
    expect(s.served).not.toContain('n1');
  });

  it('a read of one piece returns that piece as it came, without a copy', async () => {
    let sent: Uint8Array | undefined;
    const s = stores(1);
    const ask = s.c.askNode.bind(s.c);
    s.c.askNode = async (node, op, ms) => {
      const r = await ask(node, op, ms);
      if (r.ok && r.result === 'dataRead') sent = r.dataRead.data;
      return r;
    };
    const out = await reader(new FileData(s.c)).read(PIECE_BYTES, 4096);
    expect(out).toBe(sent);
    expect(same(out, PIECE_BYTES)).toBe(true);
  });
});
