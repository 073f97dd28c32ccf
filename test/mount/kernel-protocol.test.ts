// The kernel FUSE binding without /dev/fuse: the protocol's encoders and decoders against the
// byte layouts of <linux/fuse.h>, the nodeid table, and the request handlers (KernelSession)
// fed encoded requests, against a small fake client.

import { describe, expect, it } from 'vitest';
import { constants } from 'node:os';
import { FsError } from '../../src/fs/errors.js';
import type { MountClient, MountCreds, MountStat } from '../../src/mount/client-api.js';
import { MountOperations } from '../../src/mount/operations.js';
import { NodeTable } from '../../src/mount/kernel/nodes.js';
import * as P from '../../src/mount/kernel/protocol.js';
import { callerGroups, KernelSession } from '../../src/mount/kernel/session.js';

const E = constants.errno;

/** A request as the kernel writes it: fuse_in_header, then the body. */
function request(opcode: number, body: Buffer, o: { unique?: bigint; nodeid?: bigint; uid?: number; gid?: number; pid?: number } = {}): Buffer {
  const h = Buffer.alloc(P.IN_HEADER_SIZE);
  h.writeUInt32LE(P.IN_HEADER_SIZE + body.length, 0);
  h.writeUInt32LE(opcode, 4);
  h.writeBigUInt64LE(o.unique ?? 7n, 8);
  h.writeBigUInt64LE(o.nodeid ?? 1n, 16);
  h.writeUInt32LE(o.uid ?? 0, 24);
  h.writeUInt32LE(o.gid ?? 0, 28);
  h.writeUInt32LE(o.pid ?? 0, 32);
  return Buffer.concat([h, body]);
}

const name = (...names: string[]) => Buffer.concat(names.map((n) => Buffer.from(`${n}\0`)));
const u32s = (...v: number[]) => {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => b.writeUInt32LE(x, i * 4));
  return b;
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

function setattrIn(s: Partial<{ valid: number; fh: bigint; size: number; atime: [number, number]; mtime: [number, number]; mode: number; uid: number; gid: number }>): Buffer {
  const b = Buffer.alloc(88);
  b.writeUInt32LE(s.valid ?? 0, 0);
  b.writeBigUInt64LE(s.fh ?? 0n, 8);
  b.writeBigUInt64LE(BigInt(s.size ?? 0), 16);
  b.writeBigUInt64LE(BigInt(s.atime?.[0] ?? 0), 32);
  b.writeBigUInt64LE(BigInt(s.mtime?.[0] ?? 0), 40);
  b.writeUInt32LE(s.atime?.[1] ?? 0, 56);
  b.writeUInt32LE(s.mtime?.[1] ?? 0, 60);
  b.writeUInt32LE(s.mode ?? 0, 68);
  b.writeUInt32LE(s.uid ?? 0, 76);
  b.writeUInt32LE(s.gid ?? 0, 80);
  return b;
}

/** A reply off the session: fuse_out_header and payload. */
function parseReply(b: Buffer): { len: number; error: number; unique: bigint; payload: Buffer } {
  return { len: b.readUInt32LE(0), error: b.readInt32LE(4), unique: b.readBigUInt64LE(8), payload: b.subarray(P.OUT_HEADER_SIZE) };
}

describe('FUSE protocol encoders and decoders', () => {
  it('decodes the in-header and refuses short or inconsistent messages', () => {
    const r = P.decodeRequest(request(P.Op.LOOKUP, name('x'), { unique: 0x1_0000_0001n, nodeid: 0x2_0000_0003n, uid: 65534, gid: 100, pid: 4242 }));
    expect(r.header).toEqual({ len: 42, opcode: P.Op.LOOKUP, unique: 0x1_0000_0001n, nodeid: 0x2_0000_0003n, uid: 65534, gid: 100, pid: 4242 });
    expect(P.cString(r.body).value).toBe('x');
    expect(() => P.decodeRequest(Buffer.alloc(20))).toThrow(P.ProtocolError);
    const lying = request(P.Op.LOOKUP, name('x'));
    lying.writeUInt32LE(500, 0);
    expect(() => P.decodeRequest(lying)).toThrow(/len 500/);
    expect(() => P.cString(Buffer.from('no-nul'))).toThrow(P.ProtocolError);
  });

  it('decodes setattr with both times in nanoseconds and the valid bits', () => {
    const s = P.decodeSetattr(setattrIn({ valid: P.Fattr.ATIME | P.Fattr.MTIME_NOW | P.Fattr.MTIME, size: 5, atime: [1_000_000_000, 123_456_789], mtime: [7, 8], mode: 0o104755, uid: 1, gid: 2 }));
    expect(s.atimeNs).toBe(1_000_000_000_123_456_789n);
    expect(s.mtimeNs).toBe(7_000_000_008n);
    expect(s).toMatchObject({ valid: P.Fattr.ATIME | P.Fattr.MTIME_NOW | P.Fattr.MTIME, size: 5, mode: 0o104755, uid: 1, gid: 2 });
    expect(() => P.decodeSetattr(Buffer.alloc(40))).toThrow(P.ProtocolError);
  });

  it('decodes mknod, mkdir, create, rename2, link, write, batch forget', () => {
    expect(P.decodeMknod(Buffer.concat([u32s(0o10644, 0, 0o22, 0), name('fifo')]))).toEqual({ mode: 0o10644, rdev: 0, umask: 0o22, name: 'fifo' });
    expect(P.decodeMkdir(Buffer.concat([u32s(0o755, 0o22), name('d')]))).toEqual({ mode: 0o755, umask: 0o22, name: 'd' });
    expect(P.decodeCreate(Buffer.concat([u32s(0o1101, 0o644, 0o22, 0), name('f')]))).toEqual({ flags: 0o1101, mode: 0o644, umask: 0o22, name: 'f' });
    expect(P.decodeRename2(Buffer.concat([u64(9n), u32s(1, 0), name('a', 'b')]))).toEqual({ newdir: 9n, flags: 1, oldName: 'a', newName: 'b' });
    expect(P.decodeLink(Buffer.concat([u64(5n), name('l')]))).toEqual({ oldNodeid: 5n, name: 'l' });
    const w = Buffer.concat([u64(3n), u64(4096n), u32s(3, 0), u64(0n), u32s(0, 0), Buffer.from('abc')]);
    expect(P.decodeWrite(w)).toMatchObject({ fh: 3n, offset: 4096, size: 3 });
    expect(P.decodeWrite(w).data.toString()).toBe('abc');
    expect(() => P.decodeWrite(w.subarray(0, 42))).toThrow(/data/);
    expect(P.decodeBatchForget(Buffer.concat([u32s(2, 0), u64(5n), u64(1n), u64(6n), u64(3n)]))).toEqual([
      { nodeid: 5n, nlookup: 1n },
      { nodeid: 6n, nlookup: 3n },
    ]);
  });

  it('tells fdatasync from fsync by the FUSE_FSYNC_FDATASYNC bit', () => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(7n, 0);
    expect(P.decodeFsyncIsData(b)).toBe(false);
    b.writeUInt32LE(1, 8);
    expect(P.decodeFsyncIsData(b)).toBe(true);
    expect(P.decodeFh(b)).toBe(7n);
    expect(() => P.decodeFsyncIsData(b.subarray(0, 8))).toThrow();
  });

  it('writes fuse_attr at its offsets, times before 1970 included', () => {
    const a: P.Attr = { ino: 0x1_0000_0002n, size: 12345, blocks: 25, atimeNs: -1_500_000_000n, mtimeNs: 1_700_000_000_999_999_999n, ctimeNs: 5n, mode: 0o100644, nlink: 3, uid: 65534, gid: 65533, rdev: 0, blksize: 4096 };
    const out = P.attrOut(a, 1.5);
    expect(out.length).toBe(P.ATTR_OUT_SIZE);
    expect(out.readBigUInt64LE(0)).toBe(1n);
    expect(out.readUInt32LE(8)).toBe(500_000_000);
    expect(out.readBigInt64LE(16 + 24)).toBe(-2n); // atime: -1.5 s is -2 s + 0.5 s
    expect(out.readUInt32LE(16 + 48)).toBe(500_000_000);
    expect(P.decodeAttr(out, 16)).toEqual(a);
    const e = P.entryOut(42n, a, 2, 1);
    expect(e.length).toBe(P.ENTRY_OUT_SIZE);
    expect(e.readBigUInt64LE(0)).toBe(42n);
    expect(e.readBigUInt64LE(16)).toBe(2n);
    expect(P.decodeAttr(e, 40).ino).toBe(0x1_0000_0002n);
  });

  it('packs dirents 8-byte aligned, as many as fit', () => {
    const ents: P.Dirent[] = ['.', '..', 'a', 'longer-name'].map((n, i) => ({ ino: BigInt(i + 1), off: i + 1, type: 4, name: n }));
    const all = P.encodeDirents(ents, 4096);
    expect(all.count).toBe(4);
    expect(all.buf.length % 8).toBe(0);
    expect(P.decodeDirents(all.buf)).toEqual(ents);
    const some = P.encodeDirents(ents, 64); // 32 + 32: two entries of short names
    expect(some.count).toBe(2);
    expect(P.decodeDirents(some.buf).map((d) => d.name)).toEqual(['.', '..']);
  });

  it('writes reply headers, init, statfs and notifications', () => {
    const ok = parseReply(P.reply(9n, 0, Buffer.from('xy')));
    expect(ok).toMatchObject({ len: 18, error: 0, unique: 9n });
    const err = P.reply(9n, -E.ENOENT!, Buffer.from('ignored'));
    expect(parseReply(err)).toMatchObject({ len: 16, error: -E.ENOENT! });
    const init = P.initOut({ minor: 31, maxReadahead: 65536, flags: 0x21, maxBackground: 64, congestionThreshold: 48, maxWrite: 131072, timeGran: 1, maxPages: 32 });
    expect([init.readUInt32LE(0), init.readUInt32LE(4), init.readUInt32LE(12), init.readUInt16LE(16), init.readUInt32LE(20), init.readUInt32LE(24), init.readUInt16LE(28)]).toEqual([7, 31, 0x21, 64, 131072, 1, 32]);
    const st = P.statfsOut({ blocks: 10, bfree: 9, bavail: 8, files: 7, ffree: 6, bsize: 4096, namelen: 255, frsize: 4096 });
    expect([st.length, st.readUInt32LE(44)]).toEqual([80, 255]);
    const inval = P.invalEntry(5n, 'né');
    expect(inval.readInt32LE(4)).toBe(P.NotifyCode.INVAL_ENTRY);
    expect(inval.readBigUInt64LE(16)).toBe(5n);
    expect(inval.readUInt32LE(24)).toBe(3); // bytes, not characters
    expect(inval[inval.length - 1]).toBe(0);
  });
});

describe('NodeTable', () => {
  it('numbers files by their key, root 1, and keeps numbers after a forget', () => {
    const t = new NodeTable();
    expect(t.inoOf('/\0' + '1', '/')).toBe(1n);
    const a = t.inoOf('/\0' + '5', '/a');
    const b = t.inoOf('/b\0' + '5', '/b/x'); // same inode number in another ministry
    expect(a).not.toBe(b);
    expect(t.inoOf('/\0' + '5', '/a-link')).toBe(a);
    t.lookedUp(a, '/a');
    t.lookedUp(a, '/a-link');
    expect(t.path(a)).toBe('/a');
    t.removed('/a');
    expect(t.path(a)).toBe('/a-link');
    t.forget(a, 2n);
    expect(t.path(a)).toBeUndefined();
    expect(t.inoOf('/\0' + '5', '/a-link')).toBe(a);
    t.forget(1n, 100n);
    expect(t.path(1n)).toBe('/');
  });

  it('moves every path below a renamed directory, and drops what the rename replaced', () => {
    const t = new NodeTable();
    const [d, f, g, other] = [t.inoOf('k1', '/d'), t.inoOf('k2', '/d/f'), t.inoOf('k3', '/d/e/g'), t.inoOf('k4', '/z')];
    t.lookedUp(d, '/d');
    t.lookedUp(f, '/d/f');
    t.lookedUp(g, '/d/e/g');
    t.lookedUp(other, '/z');
    const dd = t.inoOf('k5', '/dd');
    t.lookedUp(dd, '/dd');
    t.renamed('/d', '/z');
    expect([t.path(d), t.path(f), t.path(g), t.at('/z')]).toEqual(['/z', '/z/f', '/z/e/g', d]);
    expect(t.path(other)).toBeUndefined();
    expect(t.path(dd)).toBe('/dd'); // a sibling with the same prefix is not below /d
    expect(t.at('/d/f')).toBeUndefined();
  });
});

interface FakeNode extends MountStat {
  target?: string;
}

/** A namespace in a map, recording who each change acted as. */
function fakeClient() {
  let nextIno = 2;
  const nodes = new Map<string, FakeNode>([['/', { kind: 'dir', size: 0, mtime: 0, ctime: 0, ino: 1, mode: 0o40755, uid: 0, gid: 0, nlink: 2 }]]);
  const acted: { op: string; path: string; as?: MountCreds }[] = [];
  const utimens: [string, bigint | null, bigint | null][] = [];
  const notFound = (p: string) => new FsError('ENOENT', `${p}: no such file`, p);
  const make = (path: string, kind: string, mode: number, as?: MountCreds, target?: string) => {
    if (nodes.has(path)) throw new FsError('EEXIST', `${path}: exists`, path);
    nodes.set(path, { kind, size: target?.length ?? 0, mtime: 1, ctime: 1, ino: nextIno++, mode, uid: as?.uid ?? 0, gid: as?.gid ?? 0, nlink: 1, atimeNs: 10n, mtimeNs: 20n, ctimeNs: 30n, target });
  };
  const client: MountClient = {
    async stat(p) {
      const n = nodes.get(p);
      if (!n) throw notFound(p);
      return n;
    },
    async ls(p) {
      const prefix = p === '/' ? '/' : `${p}/`;
      return [...nodes.entries()].filter(([k]) => k !== p && k.startsWith(prefix) && !k.slice(prefix.length).includes('/')).map(([k, v]) => ({ name: k.slice(prefix.length), kind: v.kind }));
    },
    async mkdir(p, o) {
      acted.push({ op: 'mkdir', path: p, as: o?.as });
      make(p, 'dir', 0o40000 | (o?.mode ?? 0o755), o?.as);
    },
    async create(p, o) {
      acted.push({ op: 'create', path: p, as: o?.as });
      make(p, 'file', 0o100000 | (o?.mode ?? 0o644), o?.as);
    },
    async rm(p, o) {
      acted.push({ op: 'rm', path: p, as: o?.as });
      if (!nodes.delete(p)) throw notFound(p);
    },
    async rmdir(p, o) {
      acted.push({ op: 'rmdir', path: p, as: o?.as });
      if (!nodes.delete(p)) throw notFound(p);
    },
    async rename(from, to, o) {
      acted.push({ op: 'rename', path: `${from}>${to}`, as: o?.as });
      const n = nodes.get(from);
      if (!n) throw notFound(from);
      nodes.delete(from);
      nodes.set(to, n);
    },
    async open() {
      throw new FsError('EIO', 'no leases here', '');
    },
    async symlink(target, p, o) {
      acted.push({ op: 'symlink', path: p, as: o?.as });
      make(p, 'symlink', 0o120777, o?.as, target);
    },
    async readlink(p) {
      return nodes.get(p)?.target ?? '';
    },
    async utimens(p, a, m, o) {
      acted.push({ op: 'utimens', path: p, as: o?.as });
      utimens.push([p, a, m]);
    },
    async chmod(p, mode, o) {
      acted.push({ op: 'chmod', path: p, as: o?.as });
      const n = nodes.get(p)!;
      n.mode = (n.mode! & 0o170000) | mode;
    },
  };
  return { client, nodes, acted, utimens };
}

function session() {
  const fake = fakeClient();
  const replies: Buffer[] = [];
  const notified: Buffer[] = [];
  const ops = new MountOperations(fake.client, { uid: 0, gid: 0, leaseDeadlineMs: 1000 });
  const s = new KernelSession(fake.client, ops, { attrTimeoutS: 1, entryTimeoutS: 1, maxWrite: 131072, notify: (b) => notified.push(b) }, (b) => replies.push(b));
  /** Send one request and wait for its reply. */
  const call = async (buf: Buffer) => {
    const before = replies.length;
    s.handle(buf);
    for (let i = 0; i < 100 && replies.length === before; i++) await new Promise((r) => setImmediate(r));
    expect(replies.length).toBe(before + 1);
    return parseReply(replies[replies.length - 1]!);
  };
  return { ...fake, s, ops, replies, notified, call };
}

describe('KernelSession', () => {
  it('answers INIT with our minor, the flags both sides have, and max_write', async () => {
    const { call } = session();
    const r = await call(request(P.Op.INIT, Buffer.concat([u32s(7, 45, 131072, 0xffffffff, 0), Buffer.alloc(44)])));
    expect(r.error).toBe(0);
    expect(r.payload.readUInt32LE(4)).toBe(P.FUSE_OUR_MINOR);
    expect(r.payload.readUInt32LE(12) & P.InitFlag.BIG_WRITES).toBe(P.InitFlag.BIG_WRITES);
    expect(r.payload.readUInt32LE(12) & P.InitFlag.ATOMIC_O_TRUNC).toBe(0);
    expect(r.payload.readUInt32LE(20)).toBe(131072);
    const old = await call(request(P.Op.INIT, Buffer.concat([u32s(7, 26, 65536, P.InitFlag.ASYNC_READ, 0), Buffer.alloc(44)])));
    expect(old.payload.readUInt32LE(4)).toBe(26);
    expect(old.payload.readUInt32LE(12)).toBe(P.InitFlag.ASYNC_READ);
  });

  it('makes files as the caller, with its groups, and looks them up by nodeid', async () => {
    const { call, acted, nodes, s } = session();
    const me = { uid: 65534, gid: 65533, pid: process.pid };
    const mk = await call(request(P.Op.MKDIR, Buffer.concat([u32s(0o750, 0o22), name('d')]), me));
    expect(mk.error).toBe(0);
    const dir = P.decodeAttr(mk.payload, 40);
    expect(mk.payload.readBigUInt64LE(0)).toBe(dir.ino);
    expect(dir.mode).toBe(0o40750);
    expect(acted[0]).toEqual({ op: 'mkdir', path: '/d', as: { uid: 65534, gid: 65533, groups: callerGroups(process.pid, 65533) } });
    expect(nodes.get('/d')!.uid).toBe(65534);
    const sl = await call(request(P.Op.SYMLINK, name('l', '../target'), { nodeid: dir.ino, ...me }));
    expect(sl.error).toBe(0);
    expect(P.decodeAttr(sl.payload, 40).uid).toBe(65534);
    const lnk = sl.payload.readBigUInt64LE(0);
    const rl = await call(request(P.Op.READLINK, Buffer.alloc(0), { nodeid: lnk }));
    expect(rl.payload.toString()).toBe('../target');
    const miss = await call(request(P.Op.LOOKUP, name('nope'), { nodeid: dir.ino }));
    expect(miss.error).toBe(-E.ENOENT!);
    const found = await call(request(P.Op.LOOKUP, name('d')));
    expect(found.payload.readBigUInt64LE(0)).toBe(dir.ino);
    expect(s.nodes.path(dir.ino)).toBe('/d');
  });

  it('sets the two times apart: a value, now, or left as it is', async () => {
    const { call, utimens } = session();
    const f = await call(request(P.Op.CREATE, Buffer.concat([u32s(0o101, 0o644, 0o22, 0), name('f')])));
    expect(f.error).toBe(0);
    const nodeid = f.payload.readBigUInt64LE(0);
    const set = (s: Parameters<typeof setattrIn>[0]) => call(request(P.Op.SETATTR, setattrIn(s), { nodeid }));
    await set({ valid: P.Fattr.ATIME | P.Fattr.MTIME, atime: [5, 6], mtime: [7, 8] });
    await set({ valid: P.Fattr.ATIME | P.Fattr.MTIME | P.Fattr.ATIME_NOW | P.Fattr.MTIME_NOW });
    await set({ valid: P.Fattr.MTIME, mtime: [9, 1] }); // atime UTIME_OMIT: kept (10 ns here)
    await set({ valid: P.Fattr.ATIME | P.Fattr.ATIME_NOW }); // mtime omitted: kept (20 ns)
    expect(utimens).toEqual([
      ['/f', 5_000_000_006n, 7_000_000_008n],
      ['/f', null, null],
      ['/f', 10n, 9_000_000_001n],
      ['/f', null, 20n],
    ]);
    const chmod = await set({ valid: P.Fattr.MODE, mode: 0o100600 });
    expect(P.decodeAttr(chmod.payload, 16).mode).toBe(0o100600);
  });

  it('renames with flags 0 and RENAME_NOREPLACE, refuses RENAME_EXCHANGE, and follows the new path', async () => {
    const { call, s } = session();
    const a = await call(request(P.Op.MKNOD, Buffer.concat([u32s(0o100644, 0, 0, 0), name('a')])));
    await call(request(P.Op.MKNOD, Buffer.concat([u32s(0o100644, 0, 0, 0), name('b')])));
    const id = a.payload.readBigUInt64LE(0);
    expect((await call(request(P.Op.RENAME2, Buffer.concat([u64(1n), u32s(P.RENAME_NOREPLACE, 0), name('a', 'b')])))).error).toBe(-E.EEXIST!);
    expect((await call(request(P.Op.RENAME2, Buffer.concat([u64(1n), u32s(2, 0), name('a', 'c')])))).error).toBe(-E.EINVAL!);
    expect((await call(request(P.Op.RENAME2, Buffer.concat([u64(1n), u32s(P.RENAME_NOREPLACE, 0), name('a', 'c')])))).error).toBe(0);
    expect(s.nodes.path(id)).toBe('/c');
    const st = await call(request(P.Op.GETATTR, Buffer.alloc(16), { nodeid: id }));
    expect(P.decodeAttr(st.payload, 16).ino).toBe(id);
    expect((await call(request(P.Op.UNLINK, name('c')))).error).toBe(0);
    expect((await call(request(P.Op.GETATTR, Buffer.alloc(16), { nodeid: id }))).error).toBe(-E.ESTALE!);
  });

  it('keeps an unlinked open file under a hidden name until its last close', async () => {
    const { call, nodes, acted } = session();
    const c = await call(request(P.Op.CREATE, Buffer.concat([u32s(0o102, 0o644, 0, 0), name('tmp')])));
    const id = c.payload.readBigUInt64LE(0);
    const fh = c.payload.readBigUInt64LE(P.ENTRY_OUT_SIZE);
    expect((await call(request(P.Op.UNLINK, name('tmp')))).error).toBe(0);
    expect(nodes.has('/tmp')).toBe(false);
    const hidden = [...nodes.keys()].find((k) => k.startsWith('/.govfs_hidden_'));
    expect(hidden).toBeDefined();
    const st = await call(request(P.Op.GETATTR, Buffer.alloc(16), { nodeid: id }));
    expect(st.error).toBe(0);
    expect(P.decodeAttr(st.payload, 16).nlink).toBe(0); // fstat after unlink
    expect((await call(request(P.Op.RELEASE, Buffer.concat([u64(fh), u32s(0, 0), u64(0n)]), { nodeid: id }))).error).toBe(0);
    expect(nodes.has(hidden!)).toBe(false);
    expect(acted.filter((a) => a.op === 'rm').map((a) => a.path)).toEqual([hidden]);
    // Not open: removed at once.
    await call(request(P.Op.CREATE, Buffer.concat([u32s(0o102, 0o644, 0, 0), name('t2')])));
    await call(request(P.Op.RELEASE, Buffer.concat([u64(2n), u32s(0, 0), u64(0n)])));
    expect((await call(request(P.Op.UNLINK, name('t2')))).error).toBe(0);
    expect([...nodes.keys()].filter((k) => k !== '/')).toEqual([]);
  });

  it("drops the kernel's cache of an open file whose lease is lost, and caches none of it until its last close", async () => {
    const { call, ops, notified } = session();
    await call(request(P.Op.INIT, Buffer.concat([u32s(7, 31, 131072, 0, 0), Buffer.alloc(44)])));
    const c = await call(request(P.Op.CREATE, Buffer.concat([u32s(0o100, 0o644, 0, 0), name('f')])));
    const id = c.payload.readBigUInt64LE(0);
    const fh = c.payload.readBigUInt64LE(P.ENTRY_OUT_SIZE);
    const attrValid = async () => (await call(request(P.Op.GETATTR, Buffer.alloc(16), { nodeid: id }))).payload.readBigUInt64LE(0);
    expect(await attrValid()).toBe(1n);
    ops.onLeaseLost!(Number(fh), '/f'); // what MountOperations does when the ministry revokes it
    expect(notified).toEqual([P.invalInode(id)]);
    expect(await attrValid()).toBe(0n);
    await call(request(P.Op.RELEASE, Buffer.concat([u64(fh), u32s(0, 0), u64(0n)]), { nodeid: id }));
    expect(await attrValid()).toBe(1n);
  });

  it('lists a directory across READDIR calls by offset', async () => {
    const { call } = session();
    for (const n of ['x', 'y', 'z']) await call(request(P.Op.MKDIR, Buffer.concat([u32s(0o755, 0), name(n)])));
    const fh = (await call(request(P.Op.OPENDIR, u32s(0, 0)))).payload.readBigUInt64LE(0);
    const read = (offset: number, size: number) => Buffer.concat([u64(fh), u64(BigInt(offset)), u32s(size, 0), u64(0n), u32s(0, 0)]);
    const first = P.decodeDirents((await call(request(P.Op.READDIR, read(0, 80)))).payload);
    expect(first.map((d) => d.name)).toEqual(['.', '..']);
    const rest = P.decodeDirents((await call(request(P.Op.READDIR, read(first[first.length - 1]!.off, 4096)))).payload);
    expect(rest.map((d) => [d.name, d.type])).toEqual([
      ['x', 4],
      ['y', 4],
      ['z', 4],
    ]);
    expect((await call(request(P.Op.READDIR, read(5, 4096)))).payload.length).toBe(0);
  });

  it('answers unknown and xattr requests ENOSYS, and FORGET and INTERRUPT not at all', async () => {
    const { call, s, replies } = session();
    expect((await call(request(P.Op.GETXATTR, Buffer.concat([u32s(0, 0), name('user.x')])))).error).toBe(-E.ENOSYS!);
    expect((await call(request(999, Buffer.alloc(0)))).error).toBe(-E.ENOSYS!);
    expect((await call(request(P.Op.LOOKUP, Buffer.from('no-nul')))).error).toBe(-E.EINVAL!);
    const n = replies.length;
    s.handle(request(P.Op.FORGET, u64(1n), { nodeid: 5n }));
    s.handle(request(P.Op.INTERRUPT, u64(3n)));
    s.handle(request(P.Op.BATCH_FORGET, Buffer.concat([u32s(1, 0), u64(5n), u64(1n)])));
    await new Promise((r) => setImmediate(r));
    expect(replies.length).toBe(n);
  });
});
