import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';
import { CHANGE_MEMBERS, ENTRY_MEMBERS, decodeMinistryEntry, encodeMinistryEntry, type MinistryLogEntry } from '../../src/actors/ministry-entry.js';
import { CLIENT_CHANGE_TAG, decodeClientChange } from '../../src/actors/ministry-entry-legacy.js';
import { MinistryNamespace, type ClientOp, type Outcome } from '../../src/actors/ministry-namespace.js';
import { splitMinistrySnapshot } from '../../src/actors/ministry-snapshot-format.js';
import type { ClientOp as NsClientOp } from '../../src/fs/namespace.js';
import { FsError } from '../../src/fs/errors.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { LOG_FORMAT_PROTOBUF, LogCodec } from '../../src/wire/log-codec.js';
import { encodeLegacyClientChange } from '../support/legacy-client-change.js';

// Every ministry log entry is protobuf (src/actors/ministry-entry.ts). Logs written before hold
// client changes in a binary form of their own (tag 0x01) and everything else as JSON; both are
// still read, and must mean the same thing on every member.

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
const others: MinistryLogEntry[] = [
  { op: 'client', clientId: 'c', seq: 10, now: 6, body: { op: 'setSize', path: '/f', size: 2 ** 40 + 3 } },
  { op: 'expireClients', now: 1_700_000_000_000.5, ttlMs: 600_000 },
  { op: 'lease.grant', id: 'n1-w1', clientId: 'c', path: '/f', start: 0, end: null, ttlMs: 5_000, notify: 'clients#/clients' },
  { op: 'lease.grant', id: 'n1-w2', clientId: 'c', path: '/f', start: 4_096, end: 2 ** 40, ttlMs: 5_000, notify: '' },
  { op: 'lease.renew', id: 'n1-w1', ttlMs: 6_000 },
  { op: 'lease.release', id: 'n1-w1' },
];
const name = (e: MinistryLogEntry): string => (e.op === 'client' ? `client ${e.body.op}` : e.op);

describe('protobuf ministry entries', () => {
  it.each([...samples, ...others].map((s) => [name(s), s] as const))('%s decodes to what was encoded, behind the format byte', (_name, op) => {
    const bytes = encodeMinistryEntry(op);
    expect(bytes[0]).toBe(LOG_FORMAT_PROTOBUF);
    expect(decodeMinistryEntry(bytes)).toEqual(op);
  });

  it('reads the oneof cases it knows of as log.proto declares them, and two set as protobufjs does (the later one)', () => {
    const root = new protobuf.Root();
    protobuf.parse(readFileSync(new URL('../../src/wire/proto/log.proto', import.meta.url), 'utf8'), root, { keepCase: false });
    expect([...ENTRY_MEMBERS].sort()).toEqual([...root.lookupType('govfs.log.MinistryEntry').oneofs['entry']!.oneof].sort());
    expect([...CHANGE_MEMBERS].sort()).toEqual([...root.lookupType('govfs.log.ClientChange').oneofs['change']!.oneof].sort());
    // Bytes no encoder of ours writes: a create, then an rm, in one change. protobufjs's getter
    // takes the later; so does the decoder, on every member alike.
    const change = new LogCodec('govfs.log.ClientChange');
    const create = change.encode({ clientId: 'c', seq: 1, acked: 0, now: 1, create: { path: '/a' } });
    const rm = change.encode({ clientId: 'c', seq: 1, acked: 0, now: 1, rm: { path: '/b' } });
    const both = new Uint8Array([...create, ...rm.subarray(1)]);
    const entry = new LogCodec('govfs.log.MinistryEntry');
    const bytes = new Uint8Array([LOG_FORMAT_PROTOBUF, 0x0a, both.length - 1, ...both.subarray(1)]);
    expect(entry.decode(bytes).client!.change).toBe('rm');
    expect(decodeMinistryEntry(bytes)).toMatchObject({ op: 'client', body: { op: 'rm', path: '/b' } });
  });

  it('a truncated, unknown or garbled entry is EINVAL, never a wrong change', () => {
    const good = encodeMinistryEntry(samples[8]!);
    for (let n = 0; n < good.length; n++) expect(() => decodeMinistryEntry(good.subarray(0, n)), `${n} bytes`).toThrow(FsError);
    expect(() => decodeMinistryEntry(Uint8Array.of(LOG_FORMAT_PROTOBUF))).toThrow(/no known kind/);
    expect(() => decodeMinistryEntry(Uint8Array.of(0x09, 1, 2))).toThrow(/unknown format 9/);
    expect(() => decodeMinistryEntry(new TextEncoder().encode('{"op":'))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    // A client change that names no change.
    const noChange = new LogCodec('govfs.log.MinistryEntry').encode({ client: { clientId: 'c', seq: 1, acked: 0, now: 1 } });
    expect(() => decodeMinistryEntry(noChange)).toThrow(/client change of no known kind/);
    const r = new MinistryNamespace('/').applyEntry(noChange, 1);
    expect(r.ok ? undefined : r.error.code).toBe('EINVAL');
  });

  it('an entry is decoded once on a thread: the same bytes again give the same change, as decoding a copy of them does', () => {
    const creates: NsClientOp[] = [
      ...samples,
      { op: 'client', clientId: 'c', seq: 11, now: 7, body: { op: 'create', path: '/m', mode: 0o640 }, as: { uid: 1000, gid: 100, groups: [100, 0, 7] } },
      { op: 'client', clientId: 'c', seq: 12, acked: 11, now: 7, body: { op: 'create', path: '/z', mode: 0 } },
      // Changed on the wire, so never taken from the encoder's message: a lone surrogate (U+FFFD
      // once decoded), a -0 (the encoder may leave out a zero), a mode that is no uint32.
      { op: 'client', clientId: 'c', seq: 13, now: 7, body: { op: 'create', path: '/a\ud800' } },
      { op: 'client', clientId: 'c\udc00', seq: 14, now: 7, body: { op: 'create', path: '/a' } },
      { op: 'client', clientId: 'c', seq: 15, now: -0, body: { op: 'create', path: '/a' } },
      { op: 'client', clientId: 'c', seq: 16, now: 7, body: { op: 'create', path: '/a' }, as: { uid: -0, gid: 1, groups: [] } },
      { op: 'client', clientId: 'c', seq: 17, now: 7, body: { op: 'create', path: '/a', mode: 2 ** 33 + 1 } },
    ];
    for (const op of [...creates, ...others]) {
      const bytes = encodeMinistryEntry(op);
      const first = decodeMinistryEntry(bytes);
      expect(first, name(op)).toStrictEqual(decodeMinistryEntry(bytes.slice()));
      if (op.op === 'client') expect(decodeMinistryEntry(bytes), name(op)).toBe(first);
      // (A lease entry goes to an applier that may keep it: a fresh object each time.)
      else expect(decodeMinistryEntry(bytes), name(op)).not.toBe(first);
    }
    expect((decodeMinistryEntry(encodeMinistryEntry(creates.find((c) => c.seq === 13)!)) as NsClientOp).body).toEqual({ op: 'create', path: '/a\ufffd' });
  });

  it('replicas that share an entry\'s decoded change apply it alike', () => {
    const [a, b] = [new MinistryNamespace('/'), new MinistryNamespace('/')];
    const as = { uid: 1000, gid: 100, groups: [100] };
    const entries = [
      MinistryNamespace.encodeEntry({ clientId: 'c', seq: 1, acked: 0, op: { op: 'mkdir', path: '/d', mode: 0o777 }, now: 1 }),
      ...Array.from({ length: 5 }, (_, i) => MinistryNamespace.encodeEntry({ clientId: 'c', seq: i + 2, acked: i, op: { op: 'create', path: `/d/f${i}`, mode: 0o600 }, now: 2 + i, as })),
    ];
    entries.forEach((e, i) => {
      const ra = a.applyEntry(e, i + 1, i);
      expect(b.applyEntry(e, i + 1, i)).toStrictEqual(ra);
      // A retry of the same change from the same bytes: its saved answer, not a second file.
      expect(a.applyEntry(e, i + 1, i)).toStrictEqual(ra);
    });
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(a.duplicateApplies + b.duplicateApplies).toBe(0);
  });

  it('a path too long for the namespace is ENAMETOOLONG when applied, and the entry changes nothing', () => {
    const ns = new MinistryNamespace('/');
    const e = MinistryNamespace.encodeEntry({ clientId: 'c', seq: 1, acked: 0, op: { op: 'create', path: '/' + 'a'.repeat(70_000) }, now: 1 });
    const r = ns.applyEntry(e, 1, 1);
    expect(r.ok ? undefined : r.error.code).toBe('ENAMETOOLONG');
    const empty = new MinistryNamespace('/');
    expect(ns.read({ op: 'ls', path: '/' }, { ministries: new Map(), applied: 0 } as never)).toEqual(empty.read({ op: 'ls', path: '/' }, { ministries: new Map(), applied: 0 } as never));
  });
});

describe('binary client changes of older logs (tag 0x01)', () => {
  it.each(samples.map((s) => [s.body.op, s] as const))('%s decodes to what was encoded', (_name, op) => {
    const bytes = encodeLegacyClientChange(op)!;
    expect(bytes[0]).toBe(CLIENT_CHANGE_TAG);
    expect(decodeClientChange(bytes)).toEqual(op);
    expect(decodeMinistryEntry(bytes)).toEqual(op);
  });

  it('a truncated, extended or unknown entry is EINVAL, never a wrong change', () => {
    const good = encodeLegacyClientChange(samples[8]!)!;
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
});

describe('old and new entries apply alike', () => {
  it('protobuf, tag-0x01 and JSON entries give the same results, state and snapshots (20 seeds)', () => {
    // The same random changes; one replica fed protobuf entries, one the old binary form, one
    // the JSON form the minister wrote before either.
    const enc = new TextEncoder();
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = new SeededRandom(seed);
      const proto = new MinistryNamespace('/');
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
        const p = MinistryNamespace.encodeEntry(entry);
        expect(p[0]).toBe(LOG_FORMAT_PROTOBUF);
        const b = encodeLegacyClientChange(decodeMinistryEntry(p) as NsClientOp)!;
        // The JSON entry as built from the request itself (what the minister wrote first).
        const asJson = enc.encode(JSON.stringify({ op: 'client', clientId: entry.clientId, seq, ...(entry.acked > 0 ? { acked: entry.acked } : {}), now: entry.now, body: op }));
        const r = proto.applyEntry(p, seq, seq);
        expect(binary.applyEntry(b, seq, seq)).toEqual(r);
        expect(json.applyEntry(asJson, seq, seq)).toEqual(r);
      }
      expect(binary.snapshot()).toEqual(proto.snapshot());
      expect(json.snapshot()).toEqual(proto.snapshot());
    }
  });

  it('entries and a snapshot written by the old encoders (fixtures) read as the same state', () => {
    const fx = JSON.parse(readFileSync(new URL('../fixtures/old-encodings/entries.json', import.meta.url), 'utf8')) as { ministryEntries: string[]; ministryResults: unknown[]; ministrySnapshot: string };
    const old = fx.ministryEntries.map((h) => new Uint8Array(Buffer.from(h, 'hex')));
    // Every form the old logs held is there: binary changes, JSON changes, leases, expiry.
    expect(new Set(old.map((b) => b[0]))).toEqual(new Set([CLIENT_CHANGE_TAG, 0x7b]));
    const fromOld = new MinistryNamespace('/');
    const fromNew = new MinistryNamespace('/');
    // The recorded results are the namespace's answers without their `ok` (as the old
    // applyEntry gave them); the new one hands the whole answer on to the minister.
    const plain = (o: Outcome): Outcome => (o.ok && o.value !== null && typeof o.value === 'object' && 'ok' in o.value ? { ok: true, value: Object.fromEntries(Object.entries(o.value).filter(([k]) => k !== 'ok')) } : o);
    old.forEach((b, i) => {
      // (Results now say more: a stat's POSIX attributes, issue 18.)
      expect(plain(fromOld.applyEntry(b, i + 1, 2_000 + i)), `entry ${i + 1}`).toMatchObject(fx.ministryResults[i] as object);
      const again = encodeMinistryEntry(decodeMinistryEntry(b) as MinistryLogEntry);
      expect(again[0]).toBe(LOG_FORMAT_PROTOBUF);
      expect(plain(fromNew.applyEntry(again, i + 1, 2_000 + i)), `entry ${i + 1} as protobuf`).toMatchObject(fx.ministryResults[i] as object);
    });
    const snap = fromOld.snapshot();
    expect(fromNew.snapshot()).toEqual(snap);
    // The old snapshot (lease state in JSON) restores to that same state.
    const restored = new MinistryNamespace('/');
    restored.restore(new Uint8Array(Buffer.from(fx.ministrySnapshot, 'hex')), 5_000);
    // (Old snapshots kept no write lease grants: the layouts part lacks only those.)
    const { layouts: restoredLayouts, ...restoredRest } = splitMinistrySnapshot(restored.snapshot());
    const { layouts: snapLayouts, ...snapRest } = splitMinistrySnapshot(snap);
    expect(restoredRest).toEqual(snapRest);
    const layoutsCodec = new LogCodec('govfs.log.Layouts');
    expect(layoutsCodec.decode(restoredLayouts!)).toEqual({ ...layoutsCodec.decode(snapLayouts!), grants: [] });
    expect(layoutsCodec.decode(snapLayouts!).grants.length).toBeGreaterThan(0);
    expect([...restored.leases.leases.keys()].sort()).toEqual(['n1-w1', 'n1-w3']);
    expect(restored.leases.token).toBe(3);
    expect(restored.leases.leases.get('n1-w1')).toMatchObject({ end: Infinity, ttlMs: 6_000, since: 5_000, notify: 'clients#/clients' });
    // And the new snapshot restores to it as well.
    const again = new MinistryNamespace('/');
    again.restore(snap, 5_000);
    expect(again.snapshot()).toEqual(snap);
    expect(again.leases.leases).toEqual(restored.leases.leases);
  });
});

describe('malformed changes at the minister', () => {
  it('get EINVAL (ENAMETOOLONG), write nothing, and the ministry goes on serving', async () => {
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
        // (A path too long is its own error, refused before it reaches the log.)
        expect(r.error?.code, `${what}: ${r.error?.message}`).toBe(what.length >= 60 && what.includes('aaaa') ? 'ENAMETOOLONG' : 'EINVAL');
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
