import { describe, expect, it } from 'vitest';
import type protobuf from 'protobufjs';
import { EnvelopeKind, MessageRegistry, type TypedMessage } from '../../src/wire/registry.js';
import {
  FS_OP_CASES,
  type AttrResult,
  type ChmodOp,
  type ChownOp,
  type CredsMessage,
  type LinkOp,
  type MknodOp,
  type ReadlinkOp,
  type ReadlinkResult,
  type SymlinkOp,
  type UtimensOp,
  type CreateOp,
  type DataBytesResult,
  type DataReadOp,
  type DataWriteOp,
  type DataWrittenResult,
  type FileLayout,
  type FileResizedResult,
  type FileResizeOp,
  type LayoutChunk,
  type LayoutGetOp,
  type LayoutPlaceOp,
  type LayoutReplaceOp,
  type CreateResult,
  type DirEntry,
  type FsOpCase,
  type FsReplyFields,
  type FsRequestFields,
  type FsResult,
  type LeaseGrantResult,
  type LeaseOpenOp,
  type LeaseReleaseOp,
  type LeaseReleaseResult,
  type LeaseRenewOp,
  type LeaseRenewResult,
  type LsOp,
  type LsResult,
  type MinistryInfo,
  type MkdirOp,
  type MkdirResult,
  type RenameOp,
  type RenameResult,
  type RmdirOp,
  type RmdirResult,
  type RmOp,
  type RmResult,
  type StatOp,
  type StatResult,
} from '../../src/fs/requests.js';
import type { FsErrorData } from '../../src/fs/errors.js';
import { protoTypes } from '../support/proto-types.js';

// src/fs/requests.ts is the TypeScript mirror of FsRequest, FsReply and their oneofs in
// src/wire/proto/govfs.proto. Each sample below has every field of its TS type (`satisfies
// Required<T>`: the compiler refuses a missing or an extra one) set to a value that is not the
// proto3 default; the test checks the sample's field names are the message's, and that it comes
// back equal from the registry's wire (so a field whose TS type is not its proto type fails).

const stat = {
  kind: 'symlink', size: 12, ctime: 1700000000000.5, mtime: 1700000000001, version: 42, mode: 0o120777, uid: 65534, gid: 4_000_000_000, nlink: 3,
  atimeSec: -(2 ** 40), atimeNsec: 999_999_999, mtimeSec: 1_700_000_000, mtimeNsec: 1, ctimeSec: 2 ** 50, ctimeNsec: 500, ino: 2 ** 40, rdev: 2 ** 40 + 0x801,
} satisfies Required<StatResult>;
const attrs = { version: 8, stat } satisfies Required<AttrResult>;
const creds = { uid: 1000, gid: 100, groups: [4, 24, 2 ** 32 - 2] } satisfies Required<CredsMessage>;
const entry = { name: 'naïve 文件', kind: 'dir' } satisfies Required<DirEntry>;
const chunk = { index: 2, chunkId: 'm0-3-2-2-k', version: 3, replicas: ['n1', 'n3', 'n5'] } satisfies Required<LayoutChunk>;
const layout = { ino: 3, size: 2 ** 34, mtime: 1700000000002.5, chunkSize: 4 << 20, chunks: [chunk, { ...chunk, index: 7 }] } satisfies Required<FileLayout>;

/** The result message of case C of FsReply's `oneof result`. */
type ResultOf<C extends FsOpCase> = Extract<FsResult, { result: C }> extends infer R ? (C extends keyof R ? R[C] : never) : never;

/** Every case of the oneofs: the op's and the result's samples, by case name. */
const OPS = {
  mkdir: { path: '/a/b', parents: true, mode: 0o1777 } satisfies Required<MkdirOp>,
  create: { path: '/a/f', mode: 0o4755, noStat: true } satisfies Required<CreateOp>,
  rm: { path: '/a/f' } satisfies Required<RmOp>,
  rmdir: { path: '/a', recursive: true } satisfies Required<RmdirOp>,
  rename: { from: '/a/f', to: '/a/g' } satisfies Required<RenameOp>,
  ls: { path: '/a' } satisfies Required<LsOp>,
  stat: { path: '/a/f' } satisfies Required<StatOp>,
  leaseOpen: { path: '/a/f', mode: 'write', start: 4096, end: Infinity, wait: true, deadlineMs: 250, reqId: 'o7' } satisfies Required<LeaseOpenOp>,
  leaseRenew: { id: 'n2:17', mode: 'read' } satisfies Required<LeaseRenewOp>,
  leaseRelease: { id: 'n2:17', mode: 'write' } satisfies Required<LeaseReleaseOp>,
  chmod: { path: '/a/f', mode: 0o6755 } satisfies Required<ChmodOp>,
  chown: { path: '/a/f', uid: -1, gid: 4_000_000_000 } satisfies Required<ChownOp>,
  utimens: { path: '/a/f', atimeNow: true, atimeSec: -5, atimeNsec: 7, mtimeNow: true, mtimeSec: 2 ** 40, mtimeNsec: 999_999_999 } satisfies Required<UtimensOp>,
  symlink: { target: '../ü/x', path: '/a/l' } satisfies Required<SymlinkOp>,
  readlink: { path: '/a/l' } satisfies Required<ReadlinkOp>,
  link: { from: '/a/f', to: '/a/g' } satisfies Required<LinkOp>,
  mknod: { path: '/a/fifo', mode: 0o010640, rdev: 0x801 } satisfies Required<MknodOp>,
  dataWrite: { chunkId: 'm0-3-1-2-k', version: 2, token: 2 ** 40, offset: 65536, data: Uint8Array.from([1, 2, 3, 0, 255]), chain: ['n2', 'n3'], chainMs: 3_750 } satisfies Required<DataWriteOp>,
  dataRead: { chunkId: 'm0-3-1-2-k', version: 2, offset: 10, length: 4096 } satisfies Required<DataReadOp>,
  layoutGet: { path: '/a/f' } satisfies Required<LayoutGetOp>,
  layoutPlace: { path: '/a/f', offset: 2 ** 33, length: 8 << 20 } satisfies Required<LayoutPlaceOp>,
  layoutReplace: { path: '/a/f', index: 3, chunkId: 'm0-3-1-2-k', version: 5, failed: 'n4,n2', newChunkId: 'm0-3-1-3-q', replicas: ['n1', 'n5'], token: 2 ** 36 } satisfies Required<LayoutReplaceOp>,
  fileResize: { path: '/a/f', size: 2 ** 41, extend: true, token: 7 } satisfies Required<FileResizeOp>,
} satisfies Record<FsOpCase, object>;

const RESULTS = {
  mkdir: { version: 3, created: ['/a', '/a/b'] } satisfies Required<MkdirResult>,
  create: { version: 4, created: true, stat } satisfies Required<CreateResult>,
  rm: { version: 5 } satisfies Required<RmResult>,
  rmdir: { version: 6, removed: 3 } satisfies Required<RmdirResult>,
  rename: { version: 7, replaced: true, targetMinistry: 'm2', targetIndex: 2 ** 35 } satisfies Required<RenameResult>,
  ls: { entries: [entry, { name: 'f', kind: 'file' }] } satisfies Required<LsResult>,
  stat,
  leaseOpen: { id: 'n2:17', path: '/a/f', mode: 'read', start: 10, end: 20, token: 9, ttlMs: 1500, grantedBy: 'n2', heldMs: 3.5, driftRate: 0.05 } satisfies Required<LeaseGrantResult>,
  leaseRenew: { ttlMs: 1500 } satisfies Required<LeaseRenewResult>,
  leaseRelease: {} satisfies LeaseReleaseResult,
  chmod: attrs,
  chown: attrs,
  utimens: attrs,
  symlink: attrs,
  readlink: { target: '../ü/x' } satisfies Required<ReadlinkResult>,
  link: attrs,
  mknod: attrs,
  dataWrite: { chunkId: 'm0-3-1-2-k', version: 2, size: 70000 } satisfies Required<DataWrittenResult>,
  dataRead: { chunkId: 'm0-3-1-2-k', version: 2, offset: 10, data: Uint8Array.from([9, 8, 7]), size: 13 } satisfies Required<DataBytesResult>,
  layoutGet: layout,
  layoutPlace: { ...layout, chunks: [] },
  layoutReplace: layout,
  fileResize: { version: 8, size: 2 ** 41 } satisfies Required<FileResizedResult>,
} satisfies { [C in FsOpCase]: ResultOf<C> };

const requestFields = { clientId: 'c-1', seq: 2 ** 40, path: '/a', lastSeen: 17, linearizable: true, ticketTo: 'clients#/tickets', mutation: true, acked: 3, creds, mapVersion: 41 } satisfies Required<Omit<FsRequestFields, 'type'>>;
const ministry = { id: 'm1', subtree: '/a', minister: 'n1', clerks: ['n2', 'n3'], term: 4, down: true } satisfies Required<MinistryInfo>;
const error = { code: 'ENOENT', message: 'no such file', path: '/a/x', retryAfterMs: 50 } satisfies Required<FsErrorData>;
const replyFields = { ok: true, error, redirect: [ministry], index: 99, term: 4, ministry: 'm1', mapVersion: 42 } satisfies Required<Omit<FsReplyFields, 'type'>>;

const registry = MessageRegistry.standard({ verify: true });
const types = new Map(protoTypes((f) => f === 'govfs.proto').map((t) => [t.fullName.replace(/^\./, ''), t]));
const fieldsOf = (name: string): string[] => registry.fieldNames(name).sort();
const keys = (o: object): string[] => Object.keys(o).sort();
/** The message type of a field of `message` (a oneof member, a nested message). */
const typeOf = (message: string, field: string): string => {
  const f = types.get(message)!.fields[field]!;
  return (f.resolvedType as protobuf.Type).fullName.replace(/^\./, '');
};
const roundTrip = (msg: TypedMessage): Record<string, unknown> => registry.roundTrip({ to: 'n1#/n1', from: 'c#/', kind: EnvelopeKind.Ask, corr: 1, msg }).msg;
/** A decoded message as plain data: its own fields, without protobufjs's prototypes (whose
 * toJSON would turn 64-bit numbers into strings). */
const plain = (x: unknown): unknown => {
  if (Array.isArray(x)) return x.map(plain);
  if (typeof x !== 'object' || x === null) return x;
  return Object.fromEntries(Object.keys(x).map((k) => [k, plain((x as Record<string, unknown>)[k])]));
};

describe('the fs messages of src/fs/requests.ts mirror govfs.proto', () => {
  it('FsRequest: the header fields and `oneof op`, whose cases are FS_OP_CASES in field order', () => {
    const oneof = types.get('govfs.fs.FsRequest')!.oneofs['op']!;
    expect(oneof.fieldsArray.map((f) => f.name)).toEqual(FS_OP_CASES);
    expect(fieldsOf('govfs.fs.FsRequest')).toEqual([...keys(requestFields), ...FS_OP_CASES].sort());
  });

  it('FsReply: the header fields and `oneof result`, with the same case names as the op', () => {
    const oneof = types.get('govfs.fs.FsReply')!.oneofs['result']!;
    expect(oneof.fieldsArray.map((f) => f.name)).toEqual(FS_OP_CASES);
    expect(fieldsOf('govfs.fs.FsReply')).toEqual([...keys(replyFields), ...FS_OP_CASES].sort());
    expect(fieldsOf('govfs.fs.Ministry')).toEqual(keys(ministry));
    expect(fieldsOf('govfs.fs.FsError')).toEqual(keys(error));
  });

  it.each(FS_OP_CASES)('op %s: its TS type has the fields of its message, and a request with it survives the wire', (c) => {
    const op = OPS[c];
    expect(fieldsOf(typeOf('govfs.fs.FsRequest', c))).toEqual(keys(op));
    const back = roundTrip({ type: 'govfs.fs.FsRequest', ...requestFields, op: c, [c]: op });
    expect(back['op']).toBe(c); // protobufjs's virtual oneof field names the case
    expect(plain(back[c])).toEqual(plain(op));
    expect(back[c]).toMatchObject(op);
    for (const [k, v] of Object.entries(requestFields)) expect(back[k], k).toEqual(v);
  });

  it.each(FS_OP_CASES)('result %s: its TS type has the fields of its message, and a reply with it survives the wire', (c) => {
    const result = RESULTS[c];
    expect(fieldsOf(typeOf('govfs.fs.FsReply', c))).toEqual(keys(result));
    const back = roundTrip({ type: 'govfs.fs.FsReply', ...replyFields, result: c, [c]: result });
    expect(back['result']).toBe(c);
    expect(plain(back[c])).toEqual(plain(result));
    expect(plain(back['redirect'])).toEqual([ministry]);
    expect(plain(back['error'])).toEqual(error);
  });

  it('the nested results: StatResult (in create) and DirEntry (in ls)', () => {
    expect(fieldsOf(typeOf('govfs.fs.CreateResult', 'stat'))).toEqual(keys(stat));
    expect(typeOf('govfs.fs.FsReply', 'stat')).toBe(typeOf('govfs.fs.CreateResult', 'stat'));
    expect(fieldsOf(typeOf('govfs.fs.LsResult', 'entries'))).toEqual(keys(entry));
  });

  it('a range to the end of the file travels as Infinity, both ways', () => {
    const req = roundTrip({ type: 'govfs.fs.FsRequest', ...requestFields, op: 'leaseOpen', leaseOpen: OPS.leaseOpen });
    expect((req['leaseOpen'] as LeaseOpenOp).end).toBe(Infinity);
    const reply = roundTrip({ type: 'govfs.fs.FsReply', ok: true, result: 'leaseOpen', leaseOpen: { ...RESULTS.leaseOpen, end: Infinity } });
    expect((reply['leaseOpen'] as LeaseGrantResult).end).toBe(Infinity);
  });
});
