// A write whose replicas answer only after its lease ran out is not acknowledged (issue 17, data
// sim seed 332): by then the ministry may have granted the range to a newer writer, whose write
// (a newer fencing token) can complete first and lands after this one's bytes, so acknowledging
// this one would order it after a write that overwrote it. Checked against a fake client whose
// chunk stores answer once the clock has moved on.

import { describe, expect, it } from 'vitest';
import { FileData, type DataClient } from '../../src/client/file-data.js';
import { LeaseHandle } from '../../src/client/leases.js';
import type { FileLayout, FsOp, FsReplyMessage, FsResult } from '../../src/fs/requests.js';

const CHUNK = 1 << 20;
const EXPIRES = 1_000;

/** Chunk stores that answer every write `takesMs` of the fake clock after it is sent. */
function fakeClient(takesMs: number) {
  const layout: FileLayout = { ino: 7, size: 64 * 1024, mtime: 0, chunkSize: CHUNK, chunks: [{ index: 0, chunkId: 'c0', version: 1, replicas: ['n1', 'n2', 'n3'] }] };
  const clock = { now: 0 };
  const written: string[] = [];
  const c: DataClient = {
    dataRequest(): Promise<FsResult | undefined> {
      return Promise.resolve({ result: 'layoutPlace', layoutPlace: { ...layout } });
    },
    askNode(node: string, op: FsOp): Promise<FsReplyMessage> {
      if (op.op === 'dataWrite' && op.dataWrite.data.length > 0) {
        clock.now = Math.max(clock.now, 900 + takesMs);
        written.push(node);
      }
      return Promise.resolve({ type: 'govfs.fs.FsReply', ok: true, result: 'dataWrite', dataWrite: { chunkId: 'c0', version: 1, size: 0 } } as unknown as FsReplyMessage);
    },
    random: () => 0,
    now: () => clock.now,
  };
  return { c, clock, written };
}

function handle(data: FileData): LeaseHandle {
  const owner = { data, releaseLease: () => Promise.resolve() };
  return new LeaseHandle({ id: 'l1', path: '/f', mode: 'write', range: [0, Number.MAX_SAFE_INTEGER], token: 8, expiresAt: EXPIRES, grantedBy: 'n1' }, owner);
}

describe('FileData: a write is acknowledged only under a valid lease', () => {
  for (const replication of ['parallel', 'pipelined'] as const) {
    it(`${replication}: replicas answering after the lease expired fail the write with ESTALE`, async () => {
      const f = fakeClient(200); // answered at 1,100: past the lease's end
      const data = new FileData(f.c, { replication, chainMinBytes: 0 });
      const h = handle(data);
      f.clock.now = 900;
      await expect(h.write(0, new Uint8Array(4096).fill(6))).rejects.toMatchObject({ code: 'ESTALE' });
      expect(f.written.length).toBeGreaterThan(0); // the bytes went out: only the answer came late
    });

    it(`${replication}: replicas answering within the lease acknowledge the write`, async () => {
      const f = fakeClient(50); // answered at 950
      const data = new FileData(f.c, { replication, chainMinBytes: 0 });
      const h = handle(data);
      f.clock.now = 900;
      await expect(h.write(0, new Uint8Array(4096).fill(6))).resolves.toBeUndefined();
    });
  }
});
