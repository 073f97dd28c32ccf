// Client connections killed mid-request against a real cluster (Cluster.start({ listen }): nodes
// on a worker thread, the client gateway on the main thread's runtime; issue 15, point 6). Each
// victim client reaches the cluster through a TCP proxy of its own, so the test can cut its
// connection at any point (a reset or a FIN) and keep it from coming back, as if the client's
// process had died. Afterwards nothing of the victims is left at the gateway (no connection
// actor, ask, timer or slot), and the leases they held are not released by the disconnect but
// run out after their TTL (a client that reconnects keeps them: they belong to its client id,
// not to a connection), after which another client gets them.

import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { type RemoteGovClient, connect } from '../../src/client/connect.js';
import type { Bridge } from '../../src/net/bridge.js';
import { SeededRandom } from '../../src/runtime/random.js';

const LEASE_TTL_MS = 2000;

let dir: string;
let cluster: Cluster;
let gateway: Bridge;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-conn-kill-'));
  cluster = await Cluster.start({ nodes: 3, scheduler: 'threads', threads: 1, dataDir: dir, listen: '127.0.0.1:0', leaseTtlMs: LEASE_TTL_MS });
  // The bridge Cluster.start put in front of the nodes (private: the test inspects it).
  gateway = (cluster as unknown as { gateway: Bridge }).gateway;
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A TCP proxy to `target` for one client: `cut` kills every connection through it and stops
 * accepting, so the client cannot reconnect. */
async function proxy(target: string): Promise<{ address: string; cut: (reset: boolean) => void }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const pairs: [net.Socket, net.Socket][] = [];
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host, port });
    inbound.on('error', () => {});
    outbound.on('error', () => {});
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    pairs.push([inbound, outbound]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${a.port}`,
    cut(reset) {
      server.close();
      for (const [inbound, outbound] of pairs) {
        if (reset && !outbound.destroyed && outbound.readyState === 'open') outbound.resetAndDestroy();
        else outbound.destroy();
        inbound.destroy();
      }
    },
  };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, deadlineMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('client connections killed mid-request', () => {
  it('leave no connection actor, ask, timer or slot at the gateway; their leases run out and go to others', async () => {
    const direct = await connect([cluster.address], { deadlineMs: 20_000 });
    const runtime = gateway.runtime;
    const victims: RemoteGovClient[] = [];
    const leased: string[] = [];
    const rng = new SeededRandom(15, 6);
    let inFlightAtKill = 0;
    try {
      await direct.mkdir('/k');
      for (let i = 0; i < 12; i++) {
        const point = i % 3; // 0: mid-handshake, 1: requests in flight, 2: a lease held and requests in flight
        const reset = rng.int(0, 1) === 0;
        const p = await proxy(cluster.address);
        if (point === 0) {
          // The connection is cut before (or while) the handshake completes.
          const c = connect([p.address], { connectTimeoutMs: 1000, deadlineMs: 1000 }).catch(() => null);
          await new Promise((r) => setTimeout(r, rng.int(0, 5)));
          p.cut(reset);
          const client = await c;
          if (client) victims.push(client);
          continue;
        }
        const client = await connect([p.address], { requestTimeoutMs: 1000, deadlineMs: 2000 });
        victims.push(client);
        if (point === 2) {
          await client.create(`/k/f${i}`);
          await client.open(`/k/f${i}`, { mode: 'write' });
          leased.push(`/k/f${i}`);
        }
        const work = Array.from({ length: rng.int(1, 16) }, (_, k) => (k % 4 === 3 ? client.ls('/k') : client.create(`/k/g${i}-${k}`)).catch(() => null));
        await new Promise((r) => setTimeout(r, rng.int(0, 8)));
        inFlightAtKill = Math.max(inFlightAtKill, runtime.census('/gateway').under?.asks ?? 0);
        p.cut(reset);
        if (leased.length === 1 && point === 2) {
          // Cutting the connection did not release the lease: another client is refused it now.
          await expect(direct.open(leased[0]!, { mode: 'write', wait: false })).rejects.toMatchObject({ code: 'EBUSY' });
        }
        void Promise.all(work);
      }
      // Only the direct client is left at the gateway, with nothing in flight.
      await until(() => {
        const c = runtime.census('/gateway');
        const slots = gateway.slotsHeld();
        return cluster.clientsConnected === 1 && slots.clients === 1 && slots.handshakes === 0 && c.under!.actors === 2 && c.under!.asks === 0 && c.pendingAsks === 0 && !c.askTimer;
      }, 'only the direct client left at the gateway');
      expect(inFlightAtKill).toBeGreaterThan(0);
      expect(leased.length).toBe(4);
      // The victims' write leases run out (nobody renews them) and another client gets each.
      for (const path of leased) {
        const h = await direct.open(path, { mode: 'write', wait: true, deadlineMs: 4 * LEASE_TTL_MS });
        await h.release();
      }
      expect(await direct.ls('/k')).toEqual(expect.arrayContaining(leased.map((p) => ({ name: p.slice(3), kind: 'file' }))));
    } finally {
      await Promise.all(victims.map((v) => v.close().catch(() => {})));
      await direct.close();
    }
    await until(() => cluster.clientsConnected === 0 && runtime.census('/gateway').under!.actors <= 1, 'the direct client gone too');
  }, 120_000);
});
