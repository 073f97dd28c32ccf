// The client's lease table (src/client/leases.ts) against a fake cluster: what a holder sees
// when it releases a lease.

import { describe, expect, it } from 'vitest';
import { ClientLeases, type LeaseClient } from '../../src/client/leases.js';
import type { FileData } from '../../src/client/file-data.js';
import type { FsOp, FsRequestMessage, FsResult } from '../../src/fs/requests.js';

interface Asked {
  node: string;
  msg: FsRequestMessage;
  answer: (reply: object) => void;
}

/** A client whose opens are granted at once and whose other asks wait for the test to answer. */
function fakeClient(): LeaseClient & { asked: Asked[] } {
  const asked: Asked[] = [];
  return {
    asked,
    requestTimeoutMs: 1_000,
    transport: {
      ticketAddress: '',
      now: () => 0,
      random: () => 0.5,
      sleep: () => new Promise(() => {}), // no renewals in these tests
      ask: (node, msg) => new Promise((answer) => asked.push({ node, msg: msg as FsRequestMessage, answer })),
    },
    sendOpen: (op: FsOp): Promise<FsResult> => {
      const o = (op as Extract<FsOp, { op: 'leaseOpen' }>).leaseOpen;
      return Promise.resolve({ result: 'leaseOpen', leaseOpen: { id: 'n1-w1-2', path: o.path, mode: o.mode, start: 0, end: Infinity, token: 7, ttlMs: 5_000, grantedBy: 'n1', heldMs: 0, driftRate: 0.02 } });
    },
    ministerOf: () => 'n1',
    leaseRequest: (op, path) => ({ type: 'govfs.fs.FsRequest', clientId: 'c1', seq: 0, path, lastSeen: 0, linearizable: false, ticketTo: '', mutation: false, acked: 0, ...op }) as FsRequestMessage,
  };
}

describe('ClientLeases.release', () => {
  it('sends the release before the handle ends, and the handle is unusable before the grantor answers', async () => {
    const c = fakeClient();
    const leases = new ClientLeases(c, undefined, {} as FileData);
    const h = await leases.open('/f', { mode: 'write' });
    expect(h.valid(0)).toBe(true);
    let sentWhenEnded: number | null = null;
    h.addEventListener('end', () => (sentWhenEnded = c.asked.length));
    const released = leases.releaseLease(h);
    // Synchronously: the release is on its way and the handle already ended.
    expect(c.asked.map((a) => [a.node, (a.msg as { leaseRelease?: { id: string } }).leaseRelease?.id])).toEqual([['n1', 'n1-w1-2']]);
    expect(sentWhenEnded).toBe(1);
    expect(h.signal.aborted).toBe(true);
    expect(h.valid(0)).toBe(false);
    expect(leases.openHandles).toEqual([]);
    let done = false;
    void released.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false); // waits for the grantor's answer
    c.asked[0]!.answer({ type: 'govfs.fs.FsReply', ok: true, result: 'leaseRelease', leaseRelease: {} });
    await released;
    // A second release sends nothing.
    await leases.releaseLease(h);
    expect(c.asked).toHaveLength(1);
  });
});
