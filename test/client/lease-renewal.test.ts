// Lease renewal when the grantor answers slowly (issue 17): a 256 MiB writeFile under load lost
// its write lease (ESTALE) because each renewal waited only a third of the period for an answer
// queued behind chunk data on the minister's thread, so one slow answer lost the lease. Here a
// client's lease table runs on a virtual clock against a grantor whose answers take longer.

import { describe, expect, it } from 'vitest';
import { ClientLeases, type LeaseClient } from '../../src/client/leases.js';
import { FileData, type DataClient } from '../../src/client/file-data.js';
import type { ClientTransport } from '../../src/client/sender.js';
import type { FsOp, FsRequestMessage, FsResult } from '../../src/fs/requests.js';

const TTL = 3_000;

/** Timers on a virtual clock, run in order by advance(). */
class VirtualTime {
  now = 0;
  private timers: { at: number; seq: number; fire: () => void }[] = [];
  private seq = 0;
  at(ms: number, fire: () => void): void {
    this.timers.push({ at: this.now + ms, seq: this.seq++, fire });
  }
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await new Promise((r) => setImmediate(r)); // let the client react to what fired
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.now = next.at;
      next.fire();
    }
    this.now = end;
  }
}

/** A grantor answering each renewal after `answerMs` (never, for Infinity), with `refuse`'s
 * error while it gives one. */
function leaseTable(answerMs: number, refuse: (now: number) => string | null = () => null): { time: VirtualTime; leases: ClientLeases; renewals: () => number } {
  const time = new VirtualTime();
  let renewals = 0;
  const transport: ClientTransport = {
    ticketAddress: '',
    now: () => time.now,
    random: () => 0.5,
    sleep: (ms) => new Promise((r) => time.at(ms, r)),
    ask: (_node, msg, timeoutMs) =>
      new Promise((resolve, reject) => {
        if ('leaseRenew' in msg) renewals++;
        const code = refuse(time.now);
        const reply = code === null ? { ok: true } : { ok: false, error: { code, message: `refused: ${code}`, path: '/f' } };
        if (answerMs !== Infinity) time.at(answerMs, () => resolve({ type: 'govfs.fs.FsReply', ...reply }));
        time.at(timeoutMs, () => reject(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
      }),
  };
  const client: LeaseClient = {
    transport,
    requestTimeoutMs: 1_000,
    ministerOf: () => 'n1',
    leaseRequest: (op, path) => ({ type: 'govfs.fs.FsRequest', path, ...{ [op.op]: op[op.op as keyof typeof op] } }) as unknown as FsRequestMessage,
    sendOpen: (op: FsOp, path, lease) => {
      lease.sentAt.t = time.now;
      const grant = { id: 'l1', path, mode: 'write' as const, start: 0, end: Infinity, token: 7, ttlMs: TTL, grantedBy: 'n1', heldMs: 0, driftRate: 0 };
      return Promise.resolve({ result: 'leaseOpen', leaseOpen: grant } as FsResult);
    },
  };
  const data = new FileData({} as DataClient);
  return { time, leases: new ClientLeases(client, undefined, data), renewals: () => renewals };
}

describe('client lease renewal', () => {
  it('keeps a lease whose grantor answers each renewal later than a third of the period', async () => {
    const { time, leases, renewals } = leaseTable(TTL / 2);
    const h = await leases.open('/f', { mode: 'write' });
    await time.advance(10 * TTL);
    expect(h.signal.aborted).toBe(false);
    expect(h.valid(time.now)).toBe(true);
    expect(renewals()).toBeGreaterThanOrEqual(29);
  });

  it('keeps a lease through a moment its ministry answers EUNAVAILABLE, and ends it on ESTALE', async () => {
    const { time, leases } = leaseTable(10, (now) => (now < 1_500 ? 'EUNAVAILABLE' : now < 20_000 ? null : 'ESTALE'));
    const h = await leases.open('/f', { mode: 'write' });
    await time.advance(15_000);
    expect(h.valid(time.now)).toBe(true);
    await time.advance(10_000);
    expect(h.signal.aborted).toBe(true);
  });

  it('still lets a lease expire when no renewal is answered', async () => {
    const { time, leases } = leaseTable(Infinity);
    const h = await leases.open('/f', { mode: 'write' });
    await time.advance(TTL + TTL / 3 + 1);
    expect(h.signal.aborted).toBe(true);
    expect(h.valid(time.now)).toBe(false);
  });
});
