import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';
import { CLIENT_CHANGE_TAG, decodeClientChange, encodeClientChange } from '../../src/actors/ministry-entry.js';
import { MinistryNamespace, type ClientOp } from '../../src/actors/ministry-namespace.js';
import type { ClientOp as NsClientOp } from '../../src/fs/namespace.js';
import { FsError } from '../../src/fs/errors.js';
import { SeededRandom } from '../../src/runtime/random.js';

// A client's change goes into the ministry log in binary (src/actors/ministry-entry.ts); other
// entries stay JSON. Both must mean the same thing on every member.

const samples: NsClientOp[] = [
  { op: 'client', clientId: 'c1-x', seq: 1, now: 1_700_000_000_123.25, body: { op: 'create', path: '/a/b' } },
  { op: 'client', clientId: 'c1-x', seq: 2 ** 40, acked: 2 ** 40 - 1, now: 0, body: { op: 'create', path: '/a/b', exclusive: false } },
  { op: 'client', clientId: 'c', seq: 3, now: 5, body: { op: 'create', path: '/x', exclusive: true } },
  { op: 'client', clientId: 'c', seq: 4, now: 5, body: { op: 'mkdir', path: '/ü/日本', parents: true } },
  { op: 'client', clientId: 'ü', seq: 5, now: 5, body: { op: 'mkdir', path: '/d', parents: false } },
  { op: 'client', clientId: 'c', seq: 6, now: 5, body: { op: 'rm', path: '/d/🙂' } },
  { op: 'client', clientId: 'c', seq: 7, now: 5, body: { op: 'rmdir', path: '/d', recursive: true } },
  { op: 'client', clientId: 'c', seq: 8, now: 5, body: { op: 'rmdir', path: '/d', recursive: false } },
  { op: 'client', clientId: 'c', seq: 9, acked: 3, now: 5, body: { op: 'rename', from: '/a', to: '/b/c' } },
];

describe('binary client changes', () => {
  it.each(samples.map((s) => [s.body.op, s] as const))('%s decodes to what was encoded', (_name, op) => {
    const bytes = encodeClientChange(op)!;
    expect(bytes[0]).toBe(CLIENT_CHANGE_TAG);
    expect(decodeClientChange(bytes)).toEqual(op);
  });

  it('a change without a binary form (setSize) is left to JSON', () => {
    expect(encodeClientChange({ op: 'client', clientId: 'c', seq: 1, now: 0, body: { op: 'setSize', path: '/f', size: 3 } })).toBeNull();
  });

  it('a truncated, extended or unknown entry is EINVAL, never a wrong change', () => {
    const good = encodeClientChange(samples[8]!)!;
    for (let n = 0; n < good.length; n++) expect(() => decodeClientChange(good.subarray(0, n))).toThrow(FsError);
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(() => decodeClientChange(longer)).toThrow(/bytes after the change/);
    const unknown = good.slice();
    unknown[1] = 99;
    expect(() => decodeClientChange(unknown)).toThrow(/unknown change kind 99/);
    try {
      decodeClientChange(good.subarray(0, 10));
    } catch (e) {
      expect((e as FsError).code).toBe('EINVAL');
    }
  });

  it('a path too long for an entry is EINVAL at the minister', () => {
    expect(() => encodeClientChange({ op: 'client', clientId: 'c', seq: 1, now: 0, body: { op: 'create', path: '/' + 'a'.repeat(70_000) } })).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
  });

  it('applying binary entries gives the results, state and snapshots JSON entries give (20 seeds)', () => {
    // The same random changes, one replica fed binary entries, the other their JSON form.
    const enc = new TextEncoder();
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = new SeededRandom(seed);
      const binary = new MinistryNamespace('/');
      const json = new MinistryNamespace('/');
      const below = (n: number) => rnd.int(0, n - 1);
      const names = ['a', 'b', 'c', 'ü'];
      const path = () => '/' + Array.from({ length: 1 + below(3) }, () => names[below(names.length)]).join('/');
      for (let seq = 1; seq <= 300; seq++) {
        const ops: ClientOp[] = [
          { op: 'mkdir', path: path(), parents: below(2) === 0 },
          { op: 'create', path: path() },
          { op: 'rm', path: path() },
          { op: 'rmdir', path: path(), recursive: below(2) === 0 },
          { op: 'rename', from: path(), to: path() },
        ];
        const op = ops[below(ops.length)]!;
        const entry = { clientId: `c${below(3)}`, seq, acked: seq - 1 - below(3), op, now: seq * 10 };
        const b = MinistryNamespace.encodeEntry(entry);
        expect(b[0]).toBe(CLIENT_CHANGE_TAG);
        // The JSON entry as built from the request itself (what the minister wrote before).
        const asJson = enc.encode(JSON.stringify({ op: 'client', clientId: entry.clientId, seq, ...(entry.acked > 0 ? { acked: entry.acked } : {}), now: entry.now, body: op }));
        expect(binary.applyEntry(b, seq, seq)).toEqual(json.applyEntry(asJson, seq, seq));
      }
      expect(binary.snapshot()).toEqual(json.snapshot());
    }
  });
});

describe('malformed changes at the minister', () => {
  it('get EINVAL, write nothing, and the ministry goes on serving', async () => {
    const cluster = await Cluster.start({ nodes: 3, scheduler: 'sim', seed: 11 });
    try {
      const fs = cluster.client();
      await fs.mkdir('/d');
      const minister = (await cluster.status()).ministries[0]!.minister;
      const runtime = cluster.sim!.host('clients').runtime;
      const before = (await cluster.status()).ministries[0]!;
      // What a client can put on the wire: no operation (or only an older client's JSON),
      // fields left out, a read sent as a change, a path too long for a log entry. (Two
      // operations in one request: test/actors/request-op.test.ts, from raw bytes.)
      const bad: Record<string, unknown>[] = [
        {},
        { opJson: '{"op":"create","path":"/d/x"}' },
        { create: {} },
        { rename: { from: '/d' } },
        { ls: { path: '/d' } }, // a read sent as a change
        { create: { path: '/d/' + 'a'.repeat(70_000) } },
      ];
      let seq = 0;
      for (const op of bad) {
        const what = JSON.stringify(op).slice(0, 60);
        const r = (await cluster.drive(
          runtime.ask(`${minister}#/${minister}`, { type: 'govfs.fs.FsRequest', clientId: 'mallory', seq: ++seq, ...op, path: '/d', lastSeen: 0, linearizable: false, ticketTo: '', mutation: true, acked: 0 }, { timeoutMs: 2_000 }),
        )) as { ok: boolean; error?: { code: string; message: string } };
        expect(r.ok, what).toBe(false);
        expect(r.error?.code, `${what}: ${r.error?.message}`).toBe('EINVAL');
      }
      const after = (await cluster.status()).ministries[0]!;
      expect([after.minister, after.term]).toEqual([before.minister, before.term]);
      expect(await fs.ls('/d')).toEqual([]);
      await fs.create('/d/f');
      expect(await fs.ls('/d')).toEqual([{ name: 'f', kind: 'file' }]);
    } finally {
      await cluster.stop();
    }
  });
});
