// The kernel's FUSE protocol (the messages read from and written to /dev/fuse), written from the
// structs and opcodes of <linux/fuse.h> (protocol 7.x; all fields little-endian on the machines
// we run on, 64-bit aligned). Pure encoders and decoders: no I/O, unit-tested without /dev/fuse
// (test/mount/kernel-protocol.test.ts).

export const FUSE_KERNEL_VERSION = 7;
/** The newest minor we speak. Every struct below has its 7.31 layout; the kernel adapts to it. */
export const FUSE_OUR_MINOR = 31;
export const FUSE_ROOT_ID = 1n;

export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
} as const;

export const OP_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k.toLowerCase()]));

/** FUSE_INIT flags (fuse_init_in/out.flags). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  ATOMIC_O_TRUNC: 1 << 3,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  AUTO_INVAL_DATA: 1 << 12,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
} as const;

/** fuse_setattr_in.valid bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

export const NotifyCode = { INVAL_INODE: 2, INVAL_ENTRY: 3 } as const;

export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const RENAME_NOREPLACE = 1 << 0;

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE;
export const ATTR_OUT_SIZE = 16 + ATTR_SIZE;
const DIRENT_HEADER = 24;

/** fuse_in_header: who asks what of which node. */
export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
}

/** One request: its header and the bytes after it (the op's own struct and names). */
export interface Request {
  header: InHeader;
  body: Buffer;
}

/** The protocol was broken (a short message): the request loop answers EIO or drops it. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function need(b: Buffer, n: number, what: string): void {
  if (b.length < n) throw new ProtocolError(`${what}: ${b.length} bytes, need ${n}`);
}

export function decodeRequest(buf: Buffer): Request {
  need(buf, IN_HEADER_SIZE, 'fuse_in_header');
  const len = buf.readUInt32LE(0);
  if (len < IN_HEADER_SIZE || len > buf.length) throw new ProtocolError(`fuse_in_header: len ${len} of a ${buf.length}-byte message`);
  const header: InHeader = {
    len,
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: buf.readBigUInt64LE(16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
  };
  return { header, body: buf.subarray(IN_HEADER_SIZE, len) };
}

/** A NUL-terminated name at `off` (names in LOOKUP, MKDIR, ...), and where the next one starts. */
export function cString(b: Buffer, off = 0): { value: string; next: number } {
  const end = b.indexOf(0, off);
  if (end < 0) throw new ProtocolError('name without its terminating NUL');
  return { value: b.toString('utf8', off, end), next: end + 1 };
}

/** Two names one after the other (SYMLINK: name then target; RENAME: old then new). */
export function twoStrings(b: Buffer, off = 0): [string, string] {
  const a = cString(b, off);
  return [a.value, cString(b, a.next).value];
}

// ---- request structs ----------------------------------------------------------------------------

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
}
export function decodeInit(b: Buffer): InitIn {
  need(b, 16, 'fuse_init_in');
  return { major: b.readUInt32LE(0), minor: b.readUInt32LE(4), maxReadahead: b.readUInt32LE(8), flags: b.readUInt32LE(12) };
}

export interface SetattrIn {
  valid: number;
  fh: bigint;
  size: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  mode: number;
  uid: number;
  gid: number;
}
export function decodeSetattr(b: Buffer): SetattrIn {
  need(b, 88, 'fuse_setattr_in');
  const ts = (secOff: number, nsOff: number) => b.readBigUInt64LE(secOff) * 1_000_000_000n + BigInt(b.readUInt32LE(nsOff));
  return {
    valid: b.readUInt32LE(0),
    fh: b.readBigUInt64LE(8),
    size: Number(b.readBigUInt64LE(16)),
    atimeNs: ts(32, 56),
    mtimeNs: ts(40, 60),
    mode: b.readUInt32LE(68),
    uid: b.readUInt32LE(76),
    gid: b.readUInt32LE(80),
  };
}

/** fuse_mknod_in (16 bytes since 7.12) then the name. */
export function decodeMknod(b: Buffer): { mode: number; rdev: number; umask: number; name: string } {
  need(b, 16, 'fuse_mknod_in');
  return { mode: b.readUInt32LE(0), rdev: b.readUInt32LE(4), umask: b.readUInt32LE(8), name: cString(b, 16).value };
}
export function decodeMkdir(b: Buffer): { mode: number; umask: number; name: string } {
  need(b, 8, 'fuse_mkdir_in');
  return { mode: b.readUInt32LE(0), umask: b.readUInt32LE(4), name: cString(b, 8).value };
}
export function decodeRename(b: Buffer): { newdir: bigint; oldName: string; newName: string } {
  need(b, 8, 'fuse_rename_in');
  const [oldName, newName] = twoStrings(b, 8);
  return { newdir: b.readBigUInt64LE(0), oldName, newName };
}
export function decodeRename2(b: Buffer): { newdir: bigint; flags: number; oldName: string; newName: string } {
  need(b, 16, 'fuse_rename2_in');
  const [oldName, newName] = twoStrings(b, 16);
  return { newdir: b.readBigUInt64LE(0), flags: b.readUInt32LE(8), oldName, newName };
}
export function decodeLink(b: Buffer): { oldNodeid: bigint; name: string } {
  need(b, 8, 'fuse_link_in');
  return { oldNodeid: b.readBigUInt64LE(0), name: cString(b, 8).value };
}
export function decodeOpen(b: Buffer): { flags: number } {
  need(b, 8, 'fuse_open_in');
  return { flags: b.readUInt32LE(0) };
}
export function decodeCreate(b: Buffer): { flags: number; mode: number; umask: number; name: string } {
  need(b, 16, 'fuse_create_in');
  return { flags: b.readUInt32LE(0), mode: b.readUInt32LE(4), umask: b.readUInt32LE(8), name: cString(b, 16).value };
}
/** fuse_read_in (READ, READDIR). */
export function decodeRead(b: Buffer): { fh: bigint; offset: number; size: number } {
  need(b, 24, 'fuse_read_in');
  return { fh: b.readBigUInt64LE(0), offset: Number(b.readBigUInt64LE(8)), size: b.readUInt32LE(16) };
}
/** fuse_write_in (40 bytes since 7.9) then the data. */
export function decodeWrite(b: Buffer): { fh: bigint; offset: number; size: number; data: Buffer } {
  need(b, 40, 'fuse_write_in');
  const size = b.readUInt32LE(16);
  need(b, 40 + size, 'fuse_write_in data');
  return { fh: b.readBigUInt64LE(0), offset: Number(b.readBigUInt64LE(8)), size, data: b.subarray(40, 40 + size) };
}
/** fuse_release_in, fuse_flush_in, fuse_fsync_in: the handle comes first in each. */
export function decodeFh(b: Buffer): bigint {
  need(b, 8, 'file handle');
  return b.readBigUInt64LE(0);
}
/** fuse_fsync_in's fsync_flags: bit 0 is FUSE_FSYNC_FDATASYNC (fdatasync: data only). */
export function decodeFsyncIsData(b: Buffer): boolean {
  need(b, 12, 'fuse_fsync_in');
  return (b.readUInt32LE(8) & 1) !== 0;
}
export function decodeForget(b: Buffer): bigint {
  need(b, 8, 'fuse_forget_in');
  return b.readBigUInt64LE(0);
}
export function decodeBatchForget(b: Buffer): { nodeid: bigint; nlookup: bigint }[] {
  need(b, 8, 'fuse_batch_forget_in');
  const count = b.readUInt32LE(0);
  need(b, 8 + count * 16, 'fuse_forget_one[]');
  const out: { nodeid: bigint; nlookup: bigint }[] = [];
  for (let i = 0; i < count; i++) out.push({ nodeid: b.readBigUInt64LE(8 + i * 16), nlookup: b.readBigUInt64LE(16 + i * 16) });
  return out;
}
export function decodeInterrupt(b: Buffer): bigint {
  need(b, 8, 'fuse_interrupt_in');
  return b.readBigUInt64LE(0);
}
export function decodeAccess(b: Buffer): number {
  need(b, 4, 'fuse_access_in');
  return b.readUInt32LE(0);
}
export function decodeGetxattr(b: Buffer): { size: number; name: string } {
  need(b, 8, 'fuse_getxattr_in');
  return { size: b.readUInt32LE(0), name: b.length > 8 ? cString(b, 8).value : '' };
}

// ---- replies ------------------------------------------------------------------------------------

/** fuse_attr, as the mount reports a file. Times are nanoseconds since the epoch. */
export interface Attr {
  ino: bigint;
  size: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

const NS = 1_000_000_000n;

function writeTime(b: Buffer, secOff: number, nsOff: number, t: bigint): void {
  // Times before 1970 are kept as a negative second with a positive nanosecond part.
  let sec = t / NS;
  let nsec = t % NS;
  if (nsec < 0n) {
    nsec += NS;
    sec -= 1n;
  }
  b.writeBigInt64LE(sec, secOff);
  b.writeUInt32LE(Number(nsec), nsOff);
}

export function writeAttr(b: Buffer, off: number, a: Attr): void {
  b.writeBigUInt64LE(a.ino, off);
  b.writeBigUInt64LE(BigInt(a.size), off + 8);
  b.writeBigUInt64LE(BigInt(a.blocks), off + 16);
  writeTime(b, off + 24, off + 48, a.atimeNs);
  writeTime(b, off + 32, off + 52, a.mtimeNs);
  writeTime(b, off + 40, off + 56, a.ctimeNs);
  b.writeUInt32LE(a.mode >>> 0, off + 60);
  b.writeUInt32LE(a.nlink >>> 0, off + 64);
  b.writeUInt32LE(a.uid >>> 0, off + 68);
  b.writeUInt32LE(a.gid >>> 0, off + 72);
  b.writeUInt32LE(a.rdev >>> 0, off + 76);
  b.writeUInt32LE(a.blksize >>> 0, off + 80);
  b.writeUInt32LE(0, off + 84);
}

export function decodeAttr(b: Buffer, off = 0): Attr {
  const t = (s: number, n: number) => b.readBigInt64LE(off + s) * NS + BigInt(b.readUInt32LE(off + n));
  return {
    ino: b.readBigUInt64LE(off),
    size: Number(b.readBigUInt64LE(off + 8)),
    blocks: Number(b.readBigUInt64LE(off + 16)),
    atimeNs: t(24, 48),
    mtimeNs: t(32, 52),
    ctimeNs: t(40, 56),
    mode: b.readUInt32LE(off + 60),
    nlink: b.readUInt32LE(off + 64),
    uid: b.readUInt32LE(off + 68),
    gid: b.readUInt32LE(off + 72),
    rdev: b.readUInt32LE(off + 76),
    blksize: b.readUInt32LE(off + 80),
  };
}

/** A cache lifetime in seconds and nanoseconds. */
function validity(seconds: number): [bigint, number] {
  const whole = Math.floor(seconds);
  return [BigInt(whole), Math.round((seconds - whole) * 1e9)];
}

export function entryOut(nodeid: bigint, attr: Attr, entrySeconds: number, attrSeconds: number): Buffer {
  const b = Buffer.alloc(ENTRY_OUT_SIZE);
  writeEntry(b, 0, nodeid, attr, entrySeconds, attrSeconds);
  return b;
}

function writeEntry(b: Buffer, off: number, nodeid: bigint, attr: Attr, entrySeconds: number, attrSeconds: number): void {
  const [es, ens] = validity(entrySeconds);
  const [as, ans] = validity(attrSeconds);
  b.writeBigUInt64LE(nodeid, off);
  b.writeBigUInt64LE(0n, off + 8); // generation: nodeids are never reused within a mount
  b.writeBigUInt64LE(es, off + 16);
  b.writeBigUInt64LE(as, off + 24);
  b.writeUInt32LE(ens, off + 32);
  b.writeUInt32LE(ans, off + 36);
  writeAttr(b, off + 40, attr);
}

export function attrOut(attr: Attr, attrSeconds: number): Buffer {
  const b = Buffer.alloc(ATTR_OUT_SIZE);
  const [s, ns] = validity(attrSeconds);
  b.writeBigUInt64LE(s, 0);
  b.writeUInt32LE(ns, 8);
  writeAttr(b, 16, attr);
  return b;
}

export interface InitOut {
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  /** Time granularity in ns (1: we keep nanoseconds). */
  timeGran: number;
  maxPages: number;
}
export function initOut(o: InitOut): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
  b.writeUInt32LE(o.minor, 4);
  b.writeUInt32LE(o.maxReadahead, 8);
  b.writeUInt32LE(o.flags >>> 0, 12);
  b.writeUInt16LE(o.maxBackground, 16);
  b.writeUInt16LE(o.congestionThreshold, 18);
  b.writeUInt32LE(o.maxWrite, 20);
  b.writeUInt32LE(o.timeGran, 24);
  b.writeUInt16LE(o.maxPages, 28);
  return b;
}

export function openOut(fh: bigint, openFlags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(fh, 0);
  b.writeUInt32LE(openFlags, 8);
  return b;
}

/** CREATE's reply: the new entry, then the open file. */
export function createOut(entry: Buffer, open: Buffer): Buffer {
  return Buffer.concat([entry, open]);
}

export function writeOut(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(size, 0);
  return b;
}

export interface Statfs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}
export function statfsOut(s: Statfs): Buffer {
  const b = Buffer.alloc(80);
  b.writeBigUInt64LE(BigInt(s.blocks), 0);
  b.writeBigUInt64LE(BigInt(s.bfree), 8);
  b.writeBigUInt64LE(BigInt(s.bavail), 16);
  b.writeBigUInt64LE(BigInt(s.files), 24);
  b.writeBigUInt64LE(BigInt(s.ffree), 32);
  b.writeUInt32LE(s.bsize, 40);
  b.writeUInt32LE(s.namelen, 44);
  b.writeUInt32LE(s.frsize, 48);
  return b;
}

/** GETXATTR/LISTXATTR asked for the size only. */
export function xattrSizeOut(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(size, 0);
  return b;
}

/** A whole reply: fuse_out_header (error a negative errno, or 0) and the payload. */
export function reply(unique: bigint, error: number, payload?: Buffer): Buffer {
  const len = OUT_HEADER_SIZE + (error === 0 && payload ? payload.length : 0);
  const b = Buffer.alloc(OUT_HEADER_SIZE);
  b.writeUInt32LE(len, 0);
  b.writeInt32LE(error, 4);
  b.writeBigUInt64LE(unique, 8);
  return error === 0 && payload && payload.length > 0 ? Buffer.concat([b, payload], len) : b;
}

/** A notification to the kernel (unique 0, error the notify code). */
export function notification(code: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(OUT_HEADER_SIZE);
  b.writeUInt32LE(OUT_HEADER_SIZE + payload.length, 0);
  b.writeInt32LE(code, 4);
  b.writeBigUInt64LE(0n, 8);
  return Buffer.concat([b, payload]);
}

export function invalInode(nodeid: bigint): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(nodeid, 0);
  b.writeBigInt64LE(0n, 8); // off 0, len 0: the attributes and every cached page
  b.writeBigInt64LE(0n, 16);
  return notification(NotifyCode.INVAL_INODE, b);
}

export function invalEntry(parent: bigint, name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(16 + n.length + 1);
  b.writeBigUInt64LE(parent, 0);
  b.writeUInt32LE(n.length, 8);
  n.copy(b, 16);
  return notification(NotifyCode.INVAL_ENTRY, b);
}

/** d_type of a directory entry (DT_DIR, DT_REG, DT_LNK, ...) from st_mode's file type. */
export function direntType(mode: number): number {
  return (mode >>> 12) & 0o17;
}

export interface Dirent {
  ino: bigint;
  /** The offset the kernel passes back to READDIR to continue after this entry. */
  off: number;
  type: number;
  name: string;
}

/** As many fuse_dirents as fit in `max` bytes (each 8-byte aligned), and how many that was. */
export function encodeDirents(entries: readonly Dirent[], max: number): { buf: Buffer; count: number } {
  const parts: Buffer[] = [];
  let used = 0;
  let count = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const size = (DIRENT_HEADER + name.length + 7) & ~7;
    if (used + size > max) break;
    const b = Buffer.alloc(size);
    b.writeBigUInt64LE(e.ino, 0);
    b.writeBigUInt64LE(BigInt(e.off), 8);
    b.writeUInt32LE(name.length, 16);
    b.writeUInt32LE(e.type, 20);
    name.copy(b, DIRENT_HEADER);
    parts.push(b);
    used += size;
    count++;
  }
  return { buf: Buffer.concat(parts, used), count };
}

/** Decodes what encodeDirents wrote (for tests). */
export function decodeDirents(b: Buffer): Dirent[] {
  const out: Dirent[] = [];
  let off = 0;
  while (off + DIRENT_HEADER <= b.length) {
    const namelen = b.readUInt32LE(off + 16);
    out.push({ ino: b.readBigUInt64LE(off), off: Number(b.readBigUInt64LE(off + 8)), type: b.readUInt32LE(off + 20), name: b.toString('utf8', off + DIRENT_HEADER, off + DIRENT_HEADER + namelen) });
    off += (DIRENT_HEADER + namelen + 7) & ~7;
  }
  return out;
}
