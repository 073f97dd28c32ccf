import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { protoTypes } from '../support/proto-types.js';

// A peer is authenticated (the cluster secret), but it may run another version or have a bug:
// a node must not throw in any actor on what arrives. Every message type of the cluster's
// protocols (not the runtime's own system messages, which a peer may legitimately send to
// stop or spawn) goes to every node's root and role actors with fields of the right types
// and arbitrary values. A forged Raft or cluster message may well disturb the cluster (peers
// are trusted for that); what is checked is that no handler throws.

const types = protoTypes((file) => file !== 'runtime.proto' && file !== 'bridge.proto');

const STRINGS = ['', 'n1', 'n2', 'm0', 'm1', '/', '/d', '/m', '/d/f', 'x'.repeat(300), 'lease-1', 'c1', 'clients#/clients', 'n2#/n2', '{"op":"ls","path":"/"}', 'read', 'write'];
const NUMBERS = [0, 1, 2, 3, 7, 100, 2 ** 31, 2 ** 40, 2 ** 53 - 1];
const DOUBLES = [0, -1, 0.5, 1e300, -1e300, Infinity, Number.NaN];

function value(rnd: SeededRandom, field: protobuf.Field, depth: number): unknown {
  const pick = <T>(a: readonly T[]): T => a[rnd.int(0, a.length - 1)]!;
  const one = (): unknown => {
    if (field.resolvedType instanceof protobuf.Type) return depth < 3 ? message(rnd, field.resolvedType, depth + 1) : {};
    if (field.resolvedType instanceof protobuf.Enum) return pick(Object.values(field.resolvedType.values));
    switch (field.type) {
      case 'string':
        return pick(STRINGS);
      case 'bool':
        return rnd.int(0, 1) === 1;
      case 'double':
      case 'float':
        return pick(DOUBLES);
      case 'bytes':
        return Uint8Array.from({ length: rnd.int(0, 12) }, () => rnd.int(0, 255));
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        return rnd.int(-3, 3);
      case 'uint32':
      case 'fixed32':
        return pick(NUMBERS.filter((n) => n < 2 ** 32));
      default:
        return pick(NUMBERS);
    }
  };
  return field.repeated ? Array.from({ length: rnd.int(0, 3) }, one) : one();
}

function message(rnd: SeededRandom, type: protobuf.Type, depth = 0): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (const f of type.fieldsArray) if (rnd.int(0, 3) > 0) m[f.name] = value(rnd, f, depth);
  return m;
}

/** Count the messages from `mallory` that the nodes' actors handle. */
function countArrivals(cluster: Cluster): { n: number } {
  const count = { n: 0 };
  for (const id of cluster.nodeIds) {
    const rt = cluster.sim!.host(id).runtime;
    const prev = rt.onInvoke;
    rt.onInvoke = (cell, msg) => {
      if ((cell as unknown as { current: { from?: string } | null }).current?.from?.startsWith('mallory#')) count.n++;
      prev?.(cell, msg);
    };
  }
  return count;
}

describe('hostile peers', () => {
  it(`every cluster message type (${types.length}), with arbitrary field values, to every node: no actor throws`, async () => {
    for (const seed of Array.from({ length: Number(process.env['HOSTILE_SEEDS'] ?? 3) }, (_, i) => i + 1)) {
      const cluster = await Cluster.start({ nodes: 7, scheduler: 'sim', seed, ministries: [{ subtree: '/m', clerks: 2 }] });
      try {
        const fs = cluster.client();
        await fs.mkdir('/d');
        await fs.create('/d/f');
        const peer = cluster.sim!.addHost('mallory', () => ({ receive: () => {} })).runtime;
        const rnd = new SeededRandom(seed);
        let sent = 0;
        const arrivals = countArrivals(cluster);
        for (let i = 0; i < 600; i++) {
          const node = cluster.nodeIds[rnd.int(0, cluster.nodeIds.length - 1)]!;
          const to = rnd.int(0, 1) === 0 ? `${node}#/${node}` : `${node}#/${node}/role`;
          const type = types[rnd.int(0, types.length - 1)]!;
          const msg = { type: type.fullName.replace(/^\./, ''), ...message(rnd, type) };
          try {
            if (rnd.int(0, 1) === 0) peer.send(to, msg, `mallory#/`, 0, 0);
            else void peer.ask(to, msg, { timeoutMs: 200 }).catch(() => {});
            sent++;
          } catch {
            // Not encodable as generated (e.g. a value out of its type's range): not sent.
          }
          if (i % 20 === 19) await cluster.runFor(50);
        }
        await cluster.runFor(2_000);
        // Most reach an actor (the rest: role actors of idle nodes, which do not exist).
        expect(sent).toBeGreaterThan(400);
        expect(arrivals.n).toBeGreaterThan(300);
        for (const id of cluster.nodeIds) {
          const rt = cluster.sim!.host(id).runtime;
          expect(rt.actorFailures, `seed ${seed}, ${id}: ${String((rt.lastActorFailure as Error | undefined)?.stack ?? rt.lastActorFailure)}`).toBe(0);
        }
      } finally {
        await cluster.stop();
      }
    }
  }, 120_000);
});
