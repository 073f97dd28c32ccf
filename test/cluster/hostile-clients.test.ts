import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';
import { FS_ERROR_CODES } from '../../src/fs/errors.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { wireOp } from '../support/fs-ops.js';

// "A node never crashes on what a peer or client sends." Every message type a client may send
// (CLIENT_MESSAGE_TYPES in src/net/bridge.ts) goes to every node, built from valid requests
// with fields dropped, oversized or out of range, and with no operation. No actor's handler may throw (the
// runtime counts those), every refusal is a typed error, and the cluster serves on as before.

const CODES: ReadonlySet<string> = new Set(FS_ERROR_CODES);

const VALID_OPS: Record<string, unknown>[] = [
  { op: 'mkdir', path: '/d/n', parents: true },
  { op: 'create', path: '/d/g' },
  { op: 'rm', path: '/d/f' },
  { op: 'rmdir', path: '/d', recursive: true },
  { op: 'rename', from: '/d/f', to: '/d/h' },
  { op: 'ls', path: '/d' },
  { op: 'stat', path: '/m/x' },
  { op: 'lease-open', path: '/d/f', mode: 'write', start: 0, end: 10, wait: false, deadlineMs: 0, reqId: 'r1' },
  { op: 'lease-open', path: '/m/y', mode: 'read', start: 0, end: null, wait: true, deadlineMs: 50, reqId: 'r2' },
  { op: 'lease-renew', id: 'l1', mode: 'write' },
  { op: 'lease-release', id: 'l1', mode: 'read' },
];

// Odd values of each field's own type (a value of another type would not encode: only what a
// client can put on the wire is worth sending).
const ODD: Record<string, unknown[]> = {
  string: ['', 'x'.repeat(5_000), '/', '/d/../d', '/d\u0000x', '/m', '/m/x/y/z', 'relative', 'read', 'write', 'lease-1'],
  number: [0, -1, 1.5, 1e300, 2 ** 53, NaN, Infinity, -Infinity],
  boolean: [true, false],
};

/** FsRequest's `oneof op` fields: a valid operation with fields dropped or given odd values,
 * or no operation, an empty one, or only what an older client sent (JSON). (The simulator's
 * registry refuses to send two: test/actors/request-op.test.ts decodes such bytes.) */
function hostileOp(rnd: SeededRandom): Record<string, unknown> {
  const below = (n: number) => rnd.int(0, n - 1);
  switch (below(8)) {
    case 0:
      return [
        {},
        { leaseOpen: {} },
        { mkdir: {} },
        { op: 'create' },
        { opJson: '{"op":"create","path":"/d/x"}' },
        { rename: { from: '/d/f' } },
        { leaseRenew: { id: 'l1', mode: 'exclusive' } },
      ][below(7)]!;
    default: {
      const op: Record<string, unknown> = { ...VALID_OPS[below(VALID_OPS.length)]! };
      const keys = Object.keys(op).filter((k) => k !== 'op');
      for (let n = 1 + below(3); n > 0; n--) {
        const k = keys[below(keys.length)]!;
        if (below(4) === 0) delete op[k];
        else {
          const odd = ODD[op[k] === null ? 'number' : typeof op[k]] ?? ODD['string']!;
          op[k] = odd[below(odd.length)];
        }
      }
      return wireOp(op);
    }
  }
}

function hostileMessage(rnd: SeededRandom, nodes: string[]): Record<string, unknown> {
  const below = (n: number) => rnd.int(0, n - 1);
  const num = () => [0, 1, 2, 7, 1_000, 2 ** 40, 2 ** 53 - 1][below(7)]!;
  switch (below(10)) {
    case 0:
      return { type: 'govfs.fs.TicketStatusRequest', ministry: ['', 'm1', 'nope', '/'][below(4)], index: num(), term: num() };
    case 1:
      return { type: 'govfs.fs.NodeProbe', clusterTerm: num() };
    case 2:
      return { type: 'govfs.fs.StatusRequest' };
    case 3:
      // (Never "off": the balancer is a cluster-wide switch any client may turn.)
      return { type: 'govfs.fs.BalanceRequest', action: ['plan', 'sideways', '', 'x'.repeat(300), 'on'][below(5)] };
    default: {
      return {
        type: 'govfs.fs.FsRequest',
        clientId: ['', 'mallory', 'x'.repeat(300), 'c-ok'][below(4)],
        seq: num(),
        ...hostileOp(rnd),
        path: ['', '/d', '/m/x', 'relative', '/d/'][below(5)],
        lastSeen: num(),
        linearizable: below(2) === 0,
        ticketTo: ['', 'clients#/clients', `${nodes[below(nodes.length)]}#/nowhere`][below(3)],
        mutation: below(2) === 0,
        acked: num(),
      };
    }
  }
}

describe('hostile clients', () => {
  it.each(Array.from({ length: Number(process.env['HOSTILE_SEEDS'] ?? 4) }, (_, i) => i + 1))('seed %i: malformed requests to every node throw in no actor, get typed errors, and the cluster serves on', async (seed) => {
    const cluster = await Cluster.start({ nodes: 7, scheduler: 'sim', seed, ministries: [{ subtree: '/m', clerks: 2 }] });
    try {
      const fs = cluster.client();
      await fs.mkdir('/d');
      await fs.create('/d/f');
      await fs.mkdir('/m/x');
      const runtime = cluster.sim!.host('clients').runtime;
      const rnd = new SeededRandom(seed);
      let answered = 0;
      for (let i = 0; i < 300; i++) {
        const node = cluster.nodeIds[rnd.int(0, cluster.nodeIds.length - 1)]!;
        const msg = hostileMessage(rnd, cluster.nodeIds);
        let reply: { type?: string; ok?: boolean; error?: { code?: string }; redirect?: unknown[] } | undefined;
        try {
          reply = (await cluster.drive(runtime.ask(`${node}#/${node}`, msg, { timeoutMs: 1_000 }))) as typeof reply;
        } catch {
          continue; // not answered in time, or not encodable: neither is the node's fault
        }
        answered++;
        // A refusal is a typed error, or a redirect to the nodes that serve the path.
        if (reply?.type === 'govfs.fs.FsReply' && reply.ok === false && !(reply.redirect?.length && !reply.error)) {
          expect(CODES.has(String(reply.error?.code)), JSON.stringify(reply).slice(0, 300)).toBe(true);
        }
      }
      expect(answered).toBeGreaterThan(200);
      for (const id of cluster.nodeIds) {
        const rt = cluster.sim!.host(id).runtime;
        expect(rt.actorFailures, `${id}: ${String((rt.lastActorFailure as Error | undefined)?.stack ?? rt.lastActorFailure)}`).toBe(0);
      }
      // Everything still works (some of the requests were valid: /d may be gone).
      await fs.mkdir('/after', { parents: true });
      await fs.create('/after/f');
      expect(await fs.ls('/after')).toEqual([{ name: 'f', kind: 'file' }]);
      await fs.mkdir('/m/x/after', { parents: true });
      const h = await fs.open('/m/x/after2', { mode: 'write' }).catch(async () => {
        await fs.create('/m/x/after2');
        return fs.open('/m/x/after2', { mode: 'write' });
      });
      await h.release();
    } finally {
      await cluster.stop();
    }
  });
});
