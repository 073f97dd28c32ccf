import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { LOG_FORMAT_PROTOBUF, LogCodec, type LogMessages } from '../../src/wire/log-codec.js';
import { MessageRegistry } from '../../src/wire/registry.js';
import { protoTypes } from '../support/proto-types.js';

// The TypeScript types of src/wire/log-codec.ts against src/wire/proto/log.proto: the same
// messages, the same fields (camelCase, as protobufjs decodes them), and values of those types
// survive an encoding. `samples` must give every field of every message (the compiler holds it
// to the types: no field missing, none extra).

type Full<T> = { [K in keyof T as K extends 'order' | 'change' | 'entry' ? never : K]-?: NonNullable<T[K]> };

const appoint = { ministry: 'm1', subtree: '/a', minister: 'n2', clerks: ['n3', 'n4'], clerksWanted: 2 };
const record = { id: 'm0', subtree: '/', minister: 'n1', clerks: ['n2'], term: 2 ** 40, down: true, clerksWanted: 3, fenced: true };
const caller = { uid: 65534, gid: 4_000_000_000, groups: [1, 2, 65533] };
const chmod = { path: '/f', mode: 0o6755 };
const chown = { path: '/f', uid: -1, gid: 65533 };
const utimens = { path: '/f', atimeNow: true, atimeSec: -(2 ** 40), atimeNsec: 999_999_999, mtimeNow: true, mtimeSec: 1_700_000_000, mtimeNsec: 1 };
const join = { node: 'n6', address: 'n6#/n6', endpoint: '10.0.0.6:7401' };
const change = { clientId: 'c1', seq: 2 ** 40, acked: 7, now: 1_700_000_000_000.25 };
const grant = { id: 'n1-w1', clientId: 'c1', path: '/f', start: 10, end: 2 ** 33, ttlMs: 5_000, notify: 'clients#/clients' };
const placed = { index: 3, chunkId: 'm0-9-3-2-a1', version: 2, replicas: ['n1', 'n4', 'n2'] };
const held = { id: 'n1-w1', clientId: 'c1', notify: 'n', path: '/ü', start: 0, end: 2 ** 35, token: 9, ttlMs: 5_000 };
const bytes = Buffer.from([0, 71, 78, 83, 3, 255]); // (protobufjs decodes bytes as Buffers in Node)
const mstart = { id: 'g1', subtree: '/a/b', from: 'm0', to: '', minister: 'n5', clerks: ['n6', 'n7'], clerksWanted: 2, why: 'asked by a client' };
const handover = { id: 'g1', namespace: bytes, leaseToken: 2 ** 34 };
const migration = { id: 'g1', subtree: '/a/b', from: 'm0', to: 'm3', phase: 1, split: true, namespace: bytes, leaseToken: 12, reason: 'r', startedAt: 2 ** 36 };
const install = { id: 'g1', subtree: '/a/b', namespace: bytes, leaseToken: 3 };
const decision = { txid: 'm1@7', commit: true, retry: true, code: 'ENOENT', message: 'no such directory', source: 'm1', target: 'm2', targetIndex: 2 ** 35, replaced: true };
const xcaller = { uid: 1000, gid: 100, groups: [4, 2 ** 31] };
const xout = { clientId: 'c1', seq: 2 ** 40, acked: 3, now: 5.5, from: '/a/f', to: '/b/g', target: 'm2', txid: 'm1@7', caller: xcaller };
const xnode = {
  path: 'x/y', dir: true, size: 2 ** 33, btime: 1.5, ino: 2 ** 40, mode: 0o1777, uid: 2 ** 32 - 2, gid: 7, symlink: true, target: 'ünï/../x', special: 'chardev', rdev: 2 ** 40 + 3,
  atimeSec: -(2 ** 40), atimeNsec: 999_999_999, mtimeSec: 2 ** 50, mtimeNsec: 1, ctimeSec: 3, ctimeNsec: 500_000_000,
};
const xin = { txid: 'm1@7', source: 'm1', from: '/a/f', to: '/b/g', tree: [xnode, { ...xnode, path: '', dir: false }], now: 9.25, index: 44, replaced: true, caller: { uid: 0, gid: 0, groups: [3] }, layouts: bytes, leaseToken: 41 };
const xend = { decision, now: 12.5 };
const samples: { [K in keyof LogMessages]: Full<LogMessages[K]> } = {
  'govfs.log.Appoint': appoint,
  'govfs.log.Down': { ministry: 'm1', down: true },
  'govfs.log.Fence': { ministry: 'm1' },
  'govfs.log.Dissolve': { ministry: 'm2' },
  'govfs.log.Noop': {},
  'govfs.log.Balance': { on: true },
  'govfs.log.MemberJoin': join,
  'govfs.log.MemberLeave': { node: 'n6' },
  'govfs.log.MemberGone': { node: 'n6' },
  'govfs.log.MigrateStart': mstart,
  'govfs.log.MigrateHandover': handover,
  'govfs.log.MapCommit': { id: 'g1' },
  'govfs.log.MigrateAbort': { id: 'g1', reason: 'the source did not answer' },
  'govfs.log.SubtreeMigrationRecord': migration,
  'govfs.log.ClusterOrder': {
    appoint, down: { ministry: 'm', down: true }, fence: { ministry: 'm' }, dissolve: { ministry: 'm' }, noop: {}, balance: { on: false },
    memberJoin: join, memberLeave: { node: 'n2' }, memberGone: { node: 'n2' },
    migrateStart: mstart, migrateHandover: handover, mapCommit: { id: 'g2' }, migrateAbort: { id: 'g3', reason: 'x' }, crossRename: decision, crossRenameForget: { txids: ['m1@1'] },
  },
  'govfs.log.MinistryRecord': record,
  'govfs.log.ClusterSnapshot': { nodes: ['n1', 'n2'], ministries: [record], termCounter: 5, ministryCounter: 2, applied: 2 ** 41, formed: ['/', '/a'], balancingOff: true, joined: [join], leaving: ['n2'], removed: ['n3'], migrations: [migration], migrationCounter: 4, crossRenames: [decision] },
  'govfs.log.Mkdir': { path: '/d', parents: true, mode: 0o1777 },
  'govfs.log.Create': { path: '/d/f', exclusive: true, mode: 0o4755 },
  'govfs.log.Rm': { path: '/d/f' },
  'govfs.log.Rmdir': { path: '/d', recursive: true },
  'govfs.log.Rename': { from: '/a', to: '/b' },
  'govfs.log.SetSize': { path: '/f', size: 2 ** 45 },
  'govfs.log.ClientChange': {
    ...change, mkdir: { path: '/d', parents: true, mode: 0o700 }, create: { path: '/f', exclusive: false, mode: 0o600 }, rm: { path: '/f' }, rmdir: { path: '/d', recursive: true }, rename: { from: '/a', to: '/b' }, setSize: { path: '/f', size: 1 },
    resizeFile: { path: '/f', size: 2 ** 34, extend: true, token: 3 },
    chmod, chown, utimens, symlink: { path: '/l', target: '../x' }, link: { from: '/f', to: '/g' }, mknod: { path: '/p', kind: 'fifo', mode: 0o640, rdev: 0 }, caller,
  },
  'govfs.log.PosixCaller': caller,
  'govfs.log.PosixChmod': chmod,
  'govfs.log.PosixChown': chown,
  'govfs.log.PosixUtimens': utimens,
  'govfs.log.PosixSymlink': { path: '/l', target: 'ünï/../x' },
  'govfs.log.PosixLink': { from: '/f', to: '/d/g' },
  'govfs.log.PosixMknod': { path: '/d/dev', kind: 'blockdev', mode: 0o600, rdev: 0x801 },
  'govfs.log.ExpireClients': { now: 12.5, ttlMs: 600_000 },
  'govfs.log.LeaseGrant': grant,
  'govfs.log.LeaseRenew': { id: 'n1-w1', ttlMs: 6_000 },
  'govfs.log.LeaseRelease': { id: 'n1-w1' },
  'govfs.log.MigrationFence': { id: 'g1', subtree: '/a/b' },
  'govfs.log.MigrationInstall': install,
  'govfs.log.MigrationDrop': { id: 'g1', subtree: '/a/b' },
  'govfs.log.MigrationUnfence': { id: 'g1' },
  'govfs.log.MigrationForget': { ids: ['g1', 'g2'] },
  'govfs.log.MinistryEntry': {
    client: { ...change, rm: { path: '/f' } }, expireClients: { now: 1, ttlMs: 2 }, leaseGrant: grant, leaseRenew: { id: 'x', ttlMs: 1 }, leaseRelease: { id: 'x' },
    migrationFence: { id: 'g1', subtree: '/a/b' }, migrationInstall: install, migrationDrop: { id: 'g1', subtree: '/a/b' }, migrationUnfence: { id: 'g1' }, migrationForget: { ids: ['g3'] },
    placeChunks: { ino: 7, chunkSize: 4096, chunks: [placed] }, dropGarbage: { chunkIds: ['a', 'b'] }, replaceReplica: { ino: 7, chunk: placed, oldChunkId: 'm0-9-3-1-a0', token: 12 },
    crossRenameOut: xout, crossRenameIn: xin, crossRenameEnd: xend,
  },
  'govfs.log.MigrationMark': { id: 'g1', subtree: '/a/b', state: 2 },
  'govfs.log.MigrationMarks': { marks: [{ id: 'g1', subtree: '/a/b', state: 0 }] },
  'govfs.log.HeldWriteLease': held,
  'govfs.log.WriteLeases': { token: 9, leases: [held, { ...held, id: 'n1-w2' }] },
  'govfs.log.ResizeFile': { path: '/f', size: 2 ** 40, extend: true, token: 2 ** 40 },
  'govfs.log.PlacedChunk': placed,
  'govfs.log.DropGarbage': { chunkIds: ['m0-9-3-1-a0', 'x'] },
  'govfs.log.PlaceChunks': { ino: 2 ** 35, chunkSize: 4 << 20, chunks: [placed, { ...placed, index: 1, chunkId: 'm0-9-1' }] },
  'govfs.log.ReplaceReplica': { ino: 9, chunk: placed, oldChunkId: 'm0-9-3-1-a0', token: 12 },
  'govfs.log.FileChunks': { ino: 9, chunkSize: 1024, chunks: [placed] },
  'govfs.log.Layouts': { files: [{ ino: 9, chunkSize: 1024, chunks: [placed] }], garbage: [placed], grants: [{ ino: 9, grants: [{ token: 3, start: 0, end: Infinity }] }] },
  'govfs.log.FileWriteGrants': { ino: 9, grants: [{ token: 3, start: 1024, end: 2048 }] },
  'govfs.log.WriteGrant': { token: 2 ** 40, start: 0, end: 4096 },
  'govfs.log.CrossRenameDecision': decision,
  'govfs.log.CrossRenameForget': { txids: ['m1@7', 'm2@12'] },
  'govfs.log.CrossRenameOut': xout,
  'govfs.log.CrossRenameNode': xnode,
  'govfs.log.CrossRenameIn': xin,
  'govfs.log.CrossRenameEnd': xend,
  'govfs.log.CrossRenameLedger': { outs: [xout], ins: [xin], ended: ['m1@3'], endedAt: [77.5] },
};
/** The oneof of each message that has one, by the name the decoded message answers to. */
const oneofs: Partial<Record<keyof LogMessages, string>> = { 'govfs.log.ClusterOrder': 'order', 'govfs.log.ClientChange': 'change', 'govfs.log.MinistryEntry': 'entry' };

const types = new Map(protoTypes((f) => f === 'log.proto').map((t) => [t.fullName.slice(1), t]));
const names = Object.keys(samples) as (keyof LogMessages)[];

describe('log.proto and its TypeScript types', () => {
  it('declare the same messages', () => {
    expect([...types.keys()].sort()).toEqual([...names].sort());
  });

  it.each(names)('%s: the same fields, and its oneof', (name) => {
    const t = types.get(name)!;
    expect(Object.keys(samples[name]).sort()).toEqual(t.fieldsArray.map((f) => f.name).sort());
    const real = t.oneofsArray.filter((o) => !o.name.startsWith('_')); // (not proto3 `optional`)
    expect(real.map((o) => o.name)).toEqual(oneofs[name] === undefined ? [] : [oneofs[name]]);
  });

  it.each(names.filter((n) => oneofs[n] === undefined))('%s: a value of its type encodes behind the format byte and decodes back', (name) => {
    const codec = new LogCodec(name);
    const bytes = codec.encode(samples[name] as never);
    expect(bytes[0]).toBe(LOG_FORMAT_PROTOBUF);
    expect(bytes[0]).not.toBe(0x7b); // never taken for an old JSON entry
    const back = (types.get(name)!).toObject(codec.decode(bytes) as unknown as protobuf.Message, { defaults: false });
    expect(back).toEqual(samples[name]);
  });

  it.each(names.filter((n) => oneofs[n] !== undefined))('%s: each member of its oneof decodes back and is the one named', (name) => {
    const codec = new LogCodec(name);
    const full = samples[name] as Record<string, unknown>;
    const t = types.get(name)!;
    const members = t.oneofs[oneofs[name]!]!.oneof;
    for (const member of members) {
      const msg = Object.fromEntries(Object.entries(full).filter(([k]) => !members.includes(k) || k === member));
      const decoded = codec.decode(codec.encode(msg as never)) as Record<string, unknown>;
      expect(decoded[oneofs[name]!]).toBe(member);
      expect(t.toObject(decoded as unknown as protobuf.Message, { defaults: false })).toEqual(msg);
    }
  });

  it('is registered in the message registry with every other schema', () => {
    const r = MessageRegistry.standard();
    for (const n of names) expect(r.has(n), n).toBe(true);
  });

  it('bytes of anything but the format byte do not decode', () => {
    const codec = new LogCodec('govfs.log.ClusterOrder');
    expect(() => codec.decode(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    expect(() => codec.decode(new TextEncoder().encode('{"order":"noop"}'))).toThrow(/not a protobuf log record/);
    expect(() => codec.decode(Uint8Array.of(LOG_FORMAT_PROTOBUF, 0x0a, 0x09))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
  });
});
