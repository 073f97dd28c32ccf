import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClusterState, decodeOrder, encodeOrder, type ClusterOrder } from '../../src/actors/cluster-state.js';
import { LOG_FORMAT_PROTOBUF } from '../../src/wire/log-codec.js';

// The cluster log's orders and snapshots are protobuf (govfs.log.ClusterOrder and
// ClusterSnapshot behind the format byte). Data folders written before hold them as JSON; the
// fixtures were written by that encoder (test/fixtures/old-encodings/make-entries.ts).

const fx = JSON.parse(readFileSync(new URL('../fixtures/old-encodings/entries.json', import.meta.url), 'utf8')) as { orders: string[]; clusterSnapshots: string[] };
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];

/** Everything a ClusterState holds, to compare two. */
function contents(s: ClusterState): unknown {
  return { nodes: s.nodes, ministries: [...s.ministries.values()], termCounter: s.termCounter, ministryCounter: s.ministryCounter, applied: s.applied, formed: [...s.formed].sort() };
}

describe('cluster log orders', () => {
  const orders = fx.orders.map((h) => decodeOrder(bytes(h))!);

  it('the old JSON fixtures hold every kind of order', () => {
    expect(fx.orders.every((h) => h.startsWith('7b'))).toBe(true);
    expect(new Set(orders.map((o) => o.order))).toEqual(new Set(['noop', 'appoint', 'down', 'fence', 'dissolve']));
  });

  it.each(fx.orders.map((h, i) => [i, h] as const))('order %i: its protobuf form decodes to what the JSON one does, and starts with the format byte', (_i, hex) => {
    const old = decodeOrder(bytes(hex))!;
    const encoded = encodeOrder(old);
    expect(encoded[0]).toBe(LOG_FORMAT_PROTOBUF);
    expect(encoded[0]).not.toBe(0x7b);
    expect(decodeOrder(encoded)).toEqual(old);
  });

  it('an appointment of a new ministry stays one (no ministry id), a re-staffing names it', () => {
    const fresh: ClusterOrder = { order: 'appoint', subtree: '/a', minister: 'n1', clerks: [], clerksWanted: 0 };
    expect(decodeOrder(encodeOrder(fresh))).toEqual(fresh);
    expect('ministry' in decodeOrder(encodeOrder(fresh))!).toBe(false);
    const again: ClusterOrder = { ...fresh, ministry: 'm3' };
    expect(decodeOrder(encodeOrder(again))).toEqual(again);
  });

  it('old and new orders applied give the same states, and every snapshot restores to it from either form', () => {
    const fromOld = new ClusterState(NODES);
    const fromNew = new ClusterState(NODES);
    fx.orders.forEach((hex, i) => {
      const r1 = fromOld.apply(decodeOrder(bytes(hex))!, i + 1);
      const r2 = fromNew.apply(decodeOrder(encodeOrder(decodeOrder(bytes(hex))!))!, i + 1);
      expect(r2).toEqual(r1);
      expect(r1.ok, `order ${i}`).toBe(true);
      expect(contents(fromNew)).toEqual(contents(fromOld));
      const oldSnapshot = bytes(fx.clusterSnapshots[i]!);
      expect(oldSnapshot[0]).toBe(0x7b);
      const newSnapshot = fromNew.snapshot();
      expect(newSnapshot[0]).toBe(LOG_FORMAT_PROTOBUF);
      expect(contents(ClusterState.restore(oldSnapshot))).toEqual(contents(fromOld));
      expect(contents(ClusterState.restore(newSnapshot))).toEqual(contents(fromOld));
    });
    expect(fromOld.ministries.size).toBe(2);
    expect(fromOld.ministries.get('m0')).toMatchObject({ minister: 'n2', term: 4, fenced: false });
  });

  it('a JSON snapshot from before `formed` was kept counts the live ministries as formed', () => {
    const o = JSON.parse(Buffer.from(fx.clusterSnapshots.at(-1)!, 'hex').toString('utf8')) as Record<string, unknown>;
    delete o['formed'];
    const s = ClusterState.restore(new TextEncoder().encode(JSON.stringify(o)));
    expect([...s.formed].sort()).toEqual(['/', '/b']);
  });

  it('an empty or undecodable entry is no order', () => {
    expect(decodeOrder(new Uint8Array(0))).toBeNull();
    expect(decodeOrder(new TextEncoder().encode('{"order":'))).toBeNull();
    expect(decodeOrder(Uint8Array.of(LOG_FORMAT_PROTOBUF, 0x0a, 0x05))).toBeNull(); // runs past the end
    expect(decodeOrder(Uint8Array.of(LOG_FORMAT_PROTOBUF))).toBeNull(); // no order in it
    expect(decodeOrder(Uint8Array.of(0x01, 2, 3))).toBeNull();
  });
  it('the balancer is on by default, and a balance order turns it off and on, through snapshots too', () => {
    const s = new ClusterState(['n1', 'n2']);
    expect(s.balancing).toBe(true);
    expect(ClusterState.restore(s.snapshot()).balancing).toBe(true);
    const off = decodeOrder(encodeOrder({ order: 'balance', on: false }))!;
    expect(off).toEqual({ order: 'balance', on: false });
    expect(s.apply(off, 1).ok).toBe(true);
    expect(s.balancing).toBe(false);
    expect(ClusterState.restore(s.snapshot()).balancing).toBe(false);
    s.apply({ order: 'balance', on: true }, 2);
    expect(ClusterState.restore(s.snapshot()).balancing).toBe(true);
  });
});
