// The kernel binding's request handlers: each FUSE request, decoded (protocol.ts), becomes calls
// on the govfs client as the caller (the uid, gid and groups of the process that made the
// system call), and one reply. Files and directories are named by nodeid (nodes.ts); open
// files go through MountOperations (src/mount/operations.ts), which holds their leases.
//
// What the kernel itself does for us: permission checks (the mount has default_permissions,
// checked against the mode, uid and gid we report; the servers check again as the caller),
// umask (applied before MKNOD, MKDIR and CREATE reach us), caching of attributes and names for
// ATTR_TIMEOUT_S / ENTRY_TIMEOUT_S (dropped at once, through `notify`, when an open file's lease
// is revoked: see leaseLost), and POSIX locks (we do not claim them, so the kernel keeps
// them locally).

import { readFileSync } from 'node:fs';
import { fuseErrno, MountErrno } from '../errno.js';
import type { MountClient, MountCreds, MountStat } from '../client-api.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type MountOperations } from '../operations.js';
import { childPath, NodeTable } from './nodes.js';
import * as P from './protocol.js';

export interface SessionOptions {
  attrTimeoutS: number;
  entryTimeoutS: number;
  /** The largest WRITE we accept (offered in INIT). */
  maxWrite: number;
  /** Told of operations that failed with EIO (the cluster unreachable, a bug). */
  onError?: (op: string, path: string, e: unknown) => void;
  /** Print every request and its outcome on stderr. */
  debug?: boolean;
  /** Write a notification (FUSE_NOTIFY_*) to the kernel without blocking this thread: the
   * kernel may hold it until we answer a request it waits on. Absent: no invalidation. */
  notify?: (buf: Buffer) => void;
}

const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const ENOSYS = -38;
const ENOENT = -2;
const EINVAL = -22;
const EEXIST = -17;
const RENAME_EXCHANGE = 1 << 1;

const NS_PER_MS = 1_000_000n;

/** The groups of process `pid` (from /proc/PID/status), or just `gid` when it is gone. Read at
 * each call that needs them: pjdfstest changes its groups between calls. */
export function callerGroups(pid: number, gid: number): number[] {
  if (pid > 0) {
    try {
      const line = /^Groups:\t?(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (line) return line[1]!.trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // the process exited before we got to it
    }
  }
  return [gid];
}

type Send = (buf: Buffer) => void;
type Handler = (h: P.InHeader, body: Buffer) => Promise<Buffer | undefined | void> | Buffer | undefined;

interface DirHandle {
  path: string;
  entries: P.Dirent[] | null;
}

export class KernelSession {
  readonly nodes = new NodeTable();
  private readonly dirs = new Map<bigint, DirHandle>();
  /** Open handles per nodeid, and each handle's nodeid: an open file that is unlinked is
   * renamed aside until its last close (as libfuse does), so reads, writes and fstat go on. */
  private readonly opened = new Map<bigint, number>();
  private readonly fhNode = new Map<number, bigint>();
  /** Nodes unlinked while open: the hidden path they were renamed to. */
  private readonly hidden = new Map<bigint, string>();
  /** Hidden paths being removed at their last close, until the removal is done. */
  private readonly removing = new Map<string, Promise<void>>();
  private hiddenSeq = 0;
  /** Open files whose lease was revoked or expired: until their last close the kernel keeps
   * no attributes of them (timeout 0), so a stat between the revocation and the writer's
   * last write is not cached for the full timeout. */
  private readonly leaseLostNodes = new Set<bigint>();
  private nextDir = 1n;
  private readonly handlers: Record<number, Handler>;
  /** Set once INIT was answered. */
  initialized = false;

  constructor(
    private readonly client: MountClient,
    private readonly ops: MountOperations,
    private readonly opts: SessionOptions,
    private readonly send: Send,
  ) {
    this.handlers = this.table();
    if (opts.notify) ops.onLeaseLost = (fd) => this.leaseLost(fd);
  }

  /** An open file's lease ended (another client writes it, or changes it): the kernel drops
   * its cached attributes and pages of that file now, not when its timeout runs out. */
  private leaseLost(fd: number): void {
    const nodeid = this.fhNode.get(fd);
    if (nodeid === undefined || !this.initialized || !this.opts.notify) return;
    this.leaseLostNodes.add(nodeid);
    if (this.opts.debug) console.error(`fuse notify INVAL_INODE ${nodeid} (lease of ${this.nodes.path(nodeid) ?? '?'} ended)`);
    this.opts.notify(P.invalInode(nodeid));
  }

  private attrTimeout(nodeid: bigint): number {
    return this.leaseLostNodes.has(nodeid) ? 0 : this.opts.attrTimeoutS;
  }

  /** One request off the device: answer it (errors as a negative errno), or not at all for
   * the requests that take no answer (FORGET, BATCH_FORGET, INTERRUPT). */
  handle(buf: Buffer): void {
    let req: P.Request;
    try {
      req = P.decodeRequest(buf);
    } catch (e) {
      this.opts.onError?.('decode', '', e);
      return;
    }
    const { header: h, body } = req;
    const handler = this.handlers[h.opcode];
    if (!handler) {
      this.send(P.reply(h.unique, ENOSYS));
      return;
    }
    let out: ReturnType<Handler>;
    try {
      out = handler(h, body);
    } catch (e) {
      this.fail(h, e);
      return;
    }
    if (out instanceof Promise) out.then((b) => this.done(h, b), (e: unknown) => this.fail(h, e));
    else this.done(h, out);
  }

  private done(h: P.InHeader, payload: Buffer | undefined | void): void {
    if (h.opcode === P.Op.FORGET || h.opcode === P.Op.BATCH_FORGET || h.opcode === P.Op.INTERRUPT) return;
    if (this.opts.debug) console.error(`fuse ${P.OP_NAMES[h.opcode]} ${h.nodeid} -> ok`);
    this.send(P.reply(h.unique, 0, payload ?? undefined));
  }

  private fail(h: P.InHeader, e: unknown): void {
    const errno = e instanceof P.ProtocolError ? EINVAL : fuseErrno(e);
    const path = this.nodes.path(h.nodeid) ?? `#${h.nodeid}`;
    if (errno === -5) this.opts.onError?.(P.OP_NAMES[h.opcode] ?? String(h.opcode), path, e);
    if (this.opts.debug) console.error(`fuse ${P.OP_NAMES[h.opcode]} ${path} -> ${errno} ${(e as Error).message}`);
    this.send(P.reply(h.unique, errno));
  }

  // ---- helpers --------------------------------------------------------------------------------

  private pathOf(nodeid: bigint): string {
    const p = this.nodes.path(nodeid);
    if (p === undefined) throw new MountErrno('ESTALE', `no file is known as node ${nodeid} (forgotten, or removed)`);
    return p;
  }

  private creds(h: P.InHeader): MountCreds {
    return { uid: h.uid, gid: h.gid, groups: callerGroups(h.pid, h.gid) };
  }

  /** The kernel's view of a stat: 64-bit inode numbers by (ministry, inode), times in ns. */
  attrOf(s: MountStat, path: string): P.Attr {
    const type = s.kind === 'dir' ? S_IFDIR : s.kind === 'symlink' ? S_IFLNK : S_IFREG;
    const perms = s.kind === 'dir' ? 0o755 : s.kind === 'symlink' ? 0o777 : 0o644;
    const mode = s.mode === undefined ? type | perms : (s.mode & S_IFMT) === 0 ? type | s.mode : s.mode;
    const size = (mode & S_IFMT) === S_IFDIR ? 4096 : s.size;
    const key = s.ino ? `${this.client.ministryOf?.(path) ?? ''}\0${s.ino}` : `path\0${path}`;
    const mtimeNs = s.mtimeNs ?? BigInt(Math.round(s.mtime)) * NS_PER_MS;
    return {
      ino: this.nodes.inoOf(key, path),
      size,
      blocks: Math.ceil(size / 512),
      atimeNs: s.atimeNs ?? mtimeNs,
      mtimeNs,
      ctimeNs: s.ctimeNs ?? BigInt(Math.round(s.ctime)) * NS_PER_MS,
      mode,
      nlink: s.nlink ?? ((mode & S_IFMT) === S_IFDIR ? 2 : 1),
      uid: s.uid ?? 0,
      gid: s.gid ?? 0,
      rdev: 0,
      blksize: 4096,
    };
  }

  /** Stat `path` and answer it as a new entry the kernel holds one more lookup of. */
  private async entry(path: string): Promise<Buffer> {
    const attr = this.attrOf(await this.client.stat(path), path);
    this.nodes.lookedUp(attr.ino, path);
    return P.entryOut(attr.ino, attr, this.opts.entryTimeoutS, this.attrTimeout(attr.ino));
  }

  private async attr(path: string): Promise<Buffer> {
    const a = this.attrOf(await this.client.stat(path), path);
    // Unlinked while open: one link fewer than the hidden name gives it.
    if (this.hidden.has(a.ino)) a.nlink = Math.max(0, a.nlink - 1);
    return P.attrOut(a, this.attrTimeout(a.ino));
  }

  private optional<K extends 'chmod' | 'chown' | 'utimens' | 'symlink' | 'link' | 'mknod'>(name: K, path: string): NonNullable<MountClient[K]> {
    const fn = this.client[name];
    if (typeof fn !== 'function') throw new MountErrno('ENOSYS', `${name} ${path}: this govfs client has no ${name} yet`);
    const client = this.client;
    return ((...args: unknown[]) => (fn as (...a: unknown[]) => unknown).apply(client, args)) as NonNullable<MountClient[K]>;
  }

  // ---- the operations -------------------------------------------------------------------------

  private table(): Record<number, Handler> {
    const t: Record<number, Handler> = {
      [P.Op.INIT]: (_h, b) => this.init(b),
      [P.Op.DESTROY]: () => undefined,
      [P.Op.FORGET]: (h, b) => void this.nodes.forget(h.nodeid, P.decodeForget(b)),
      [P.Op.BATCH_FORGET]: (_h, b) => {
        for (const f of P.decodeBatchForget(b)) this.nodes.forget(f.nodeid, f.nlookup);
        return undefined;
      },
      // Requests run to their end (a client call cannot be withdrawn); the deadline bounds them.
      [P.Op.INTERRUPT]: () => undefined,
      [P.Op.LOOKUP]: (h, b) => this.entry(childPath(this.pathOf(h.nodeid), P.cString(b).value)),
      [P.Op.GETATTR]: (h) => this.attr(this.pathOf(h.nodeid)),
      [P.Op.SETATTR]: (h, b) => this.setattr(h, P.decodeSetattr(b)),
      [P.Op.READLINK]: async (h) => Buffer.from(await this.ops.readlink(this.pathOf(h.nodeid)), 'utf8'),
      [P.Op.SYMLINK]: async (h, b) => {
        const [name, target] = P.twoStrings(b);
        const path = childPath(this.pathOf(h.nodeid), name);
        await this.optional('symlink', path)(target, path, { as: this.creds(h) });
        return this.entry(path);
      },
      [P.Op.MKNOD]: (h, b) => this.mknod(h, P.decodeMknod(b)),
      [P.Op.MKDIR]: async (h, b) => {
        const m = P.decodeMkdir(b);
        const path = childPath(this.pathOf(h.nodeid), m.name);
        await this.client.mkdir(path, { mode: m.mode & 0o7777, as: this.creds(h) });
        return this.entry(path);
      },
      [P.Op.UNLINK]: (h, b) => this.unlink(h, P.cString(b).value),
      [P.Op.RMDIR]: async (h, b) => {
        const path = childPath(this.pathOf(h.nodeid), P.cString(b).value);
        await this.moveHiddenOutOf(path);
        await this.client.rmdir(path, { as: this.creds(h) });
        this.nodes.removed(path);
        return undefined;
      },
      [P.Op.RENAME]: (h, b) => {
        const r = P.decodeRename(b);
        return this.rename(h, r.newdir, r.oldName, r.newName, 0);
      },
      [P.Op.RENAME2]: (h, b) => {
        const r = P.decodeRename2(b);
        return this.rename(h, r.newdir, r.oldName, r.newName, r.flags);
      },
      [P.Op.LINK]: async (h, b) => {
        const l = P.decodeLink(b);
        const existing = this.pathOf(l.oldNodeid);
        const path = childPath(this.pathOf(h.nodeid), l.name);
        await this.optional('link', path)(existing, path, { as: this.creds(h) });
        return this.entry(path);
      },
      [P.Op.OPEN]: (h, b) => P.openOut(BigInt(this.opening(h.nodeid, this.ops.open(this.pathOf(h.nodeid), P.decodeOpen(b).flags))), 0),
      [P.Op.CREATE]: (h, b) => this.create(h, P.decodeCreate(b)),
      [P.Op.READ]: async (h, b) => {
        const r = P.decodeRead(b);
        const into = Buffer.allocUnsafe(r.size);
        const n = await this.ops.read(this.pathOf(h.nodeid), Number(r.fh), into, r.size, r.offset);
        return into.subarray(0, n);
      },
      [P.Op.WRITE]: async (h, b) => {
        const w = P.decodeWrite(b);
        return P.writeOut(await this.ops.write(this.pathOf(h.nodeid), Number(w.fh), w.data, w.size, w.offset));
      },
      [P.Op.STATFS]: () => {
        const s = this.ops.statfs();
        return P.statfsOut({ blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: s.namemax, frsize: s.frsize });
      },
      [P.Op.FLUSH]: (h, b) => this.ops.sync(this.nodes.path(h.nodeid) ?? '', Number(P.decodeFh(b))),
      [P.Op.FSYNC]: (h, b) => this.ops.sync(this.nodes.path(h.nodeid) ?? '', Number(P.decodeFh(b)), !P.decodeFsyncIsData(b)),
      [P.Op.RELEASE]: (h, b) => this.release(h.nodeid, Number(P.decodeFh(b))),
      [P.Op.OPENDIR]: (h) => {
        const fh = this.nextDir++;
        this.dirs.set(fh, { path: this.pathOf(h.nodeid), entries: null });
        return P.openOut(fh, 0);
      },
      [P.Op.READDIR]: (h, b) => this.readdir(h, P.decodeRead(b)),
      [P.Op.RELEASEDIR]: (_h, b) => void this.dirs.delete(P.decodeFh(b)),
      [P.Op.FSYNCDIR]: () => undefined,
      // default_permissions: the kernel checks access itself.
      [P.Op.ACCESS]: () => undefined,
    };
    return t;
  }

  private init(b: Buffer): Buffer {
    const i = P.decodeInit(b);
    if (i.major !== P.FUSE_KERNEL_VERSION) {
      // A newer major: answer ours alone, and the kernel asks again in it (or gives up).
      return P.initOut({ minor: P.FUSE_OUR_MINOR, maxReadahead: 0, flags: 0, maxBackground: 0, congestionThreshold: 0, maxWrite: 0, timeGran: 0, maxPages: 0 });
    }
    const want = P.InitFlag.ASYNC_READ | P.InitFlag.BIG_WRITES | P.InitFlag.PARALLEL_DIROPS | P.InitFlag.AUTO_INVAL_DATA | P.InitFlag.MAX_PAGES;
    this.initialized = true;
    return P.initOut({
      minor: Math.min(i.minor, P.FUSE_OUR_MINOR),
      maxReadahead: i.maxReadahead,
      flags: want & i.flags,
      maxBackground: 64,
      congestionThreshold: 48,
      maxWrite: this.opts.maxWrite,
      timeGran: 1,
      maxPages: Math.ceil(this.opts.maxWrite / 4096),
    });
  }

  /** chown, chmod, truncate and times, in that order (chown may clear set-id bits the chmod
   * then sets as asked), then the new attributes. */
  private async setattr(h: P.InHeader, s: P.SetattrIn): Promise<Buffer> {
    const path = this.pathOf(h.nodeid);
    const as = this.creds(h);
    const v = s.valid;
    if (v & (P.Fattr.UID | P.Fattr.GID)) await this.optional('chown', path)(path, v & P.Fattr.UID ? s.uid : -1, v & P.Fattr.GID ? s.gid : -1, { as });
    if (v & P.Fattr.MODE) await this.chmod(path, s.mode & 0o7777, as);
    if (v & P.Fattr.SIZE) {
      if (v & P.Fattr.FH) await this.ops.ftruncate(path, Number(s.fh), s.size);
      else await this.ops.truncate(path, s.size);
    }
    if (v & (P.Fattr.ATIME | P.Fattr.MTIME)) await this.utimens(path, v, s, as);
    return this.attr(path);
  }

  /** chmod as the caller; but the kernel also clears set-user-ID and set-group-ID bits itself
   * after a write or truncate by someone else (a SETATTR of the mode less those bits, sent as
   * the writer, who may not chmod): that one change goes as the mount's own user. */
  private async chmod(path: string, mode: number, as: MountCreds): Promise<void> {
    const chmod = this.optional('chmod', path);
    if (as.uid !== 0) {
      const cur = await this.client.stat(path);
      const bits = (cur.mode ?? 0) & 0o7777;
      const dropsSetIdOnly = mode !== bits && (mode & ~bits) === 0 && ((bits ^ mode) & ~0o6000) === 0;
      if (cur.uid !== as.uid && dropsSetIdOnly) return chmod(path, mode);
    }
    return chmod(path, mode, { as });
  }

  /** Each time set to a value, to now, or left as it is (UTIME_OMIT: the kernel leaves its bit
   * out): govfs's utimens sets both, so an omitted one is set to what it is. */
  private async utimens(path: string, v: number, s: P.SetattrIn, as: MountCreds): Promise<void> {
    const pick = (set: number, now: number, value: bigint, current: () => Promise<bigint>) => (v & set ? (v & now ? null : value) : current());
    let cur: Promise<MountStat> | null = null;
    const stat = () => (cur ??= this.client.stat(path));
    const a = await pick(P.Fattr.ATIME, P.Fattr.ATIME_NOW, s.atimeNs, async () => this.attrOf(await stat(), path).atimeNs);
    const m = await pick(P.Fattr.MTIME, P.Fattr.MTIME_NOW, s.mtimeNs, async () => this.attrOf(await stat(), path).mtimeNs);
    await this.optional('utimens', path)(path, a, m, { as });
  }

  private async mknod(h: P.InHeader, m: { mode: number; rdev: number; name: string }): Promise<Buffer> {
    const path = childPath(this.pathOf(h.nodeid), m.name);
    const type = m.mode & S_IFMT;
    if (type === 0 || type === S_IFREG) await this.client.create(path, { mode: m.mode & 0o7777, as: this.creds(h) });
    else await this.optional('mknod', path)(path, m.mode, m.rdev, { as: this.creds(h) });
    return this.entry(path);
  }

  private async create(h: P.InHeader, c: { flags: number; mode: number; name: string }): Promise<Buffer> {
    const path = childPath(this.pathOf(h.nodeid), c.name);
    try {
      await this.client.create(path, { mode: c.mode & 0o7777, as: this.creds(h) });
    } catch (e) {
      // Made meanwhile by another client: without O_EXCL, open the file that is there.
      if (fuseErrno(e) !== EEXIST || c.flags & O_EXCL) throw e;
      if (c.flags & O_TRUNC) await this.ops.truncate(path, 0);
    }
    const entry = await this.entry(path);
    const fh = this.opening(entry.readBigUInt64LE(0), this.ops.open(path, c.flags));
    return P.createOut(entry, P.openOut(BigInt(fh), 0));
  }

  private opening(nodeid: bigint, fh: number): number {
    this.opened.set(nodeid, (this.opened.get(nodeid) ?? 0) + 1);
    this.fhNode.set(fh, nodeid);
    return fh;
  }

  private async release(nodeid: bigint, fh: number): Promise<void> {
    const id = this.fhNode.get(fh) ?? nodeid;
    this.fhNode.delete(fh);
    const left = (this.opened.get(id) ?? 1) - 1;
    if (left > 0) this.opened.set(id, left);
    else {
      this.opened.delete(id);
      this.leaseLostNodes.delete(id);
    }
    await this.ops.release(this.nodes.path(id) ?? '', fh);
    const hiddenPath = this.hidden.get(id);
    if (left > 0 || hiddenPath === undefined) return;
    // Kept in `hidden` until removed: a readdir meanwhile must not list it, and an rmdir of its
    // directory waits for the removal (moveHiddenOutOf).
    const removal = this.removeHidden1(id, hiddenPath).finally(() => {
      this.hidden.delete(id);
      this.removing.delete(hiddenPath);
    });
    this.removing.set(hiddenPath, removal);
    await removal;
  }

  /** rm of a hidden file; moved meanwhile by moveHiddenOutOf (ENOENT here): rm it there. */
  private async removeHidden1(id: bigint, path: string): Promise<void> {
    try {
      await this.client.rm(path);
      this.nodes.removed(path);
    } catch (e) {
      const now = this.hidden.get(id);
      if (fuseErrno(e) !== ENOENT || now === undefined || now === path) throw e;
      await this.client.rm(now);
      this.nodes.removed(now);
    }
  }

  private async unlink(h: P.InHeader, name: string): Promise<void> {
    const path = childPath(this.pathOf(h.nodeid), name);
    const id = this.nodes.at(path);
    if (id !== undefined && this.opened.has(id) && !this.hidden.has(id)) {
      const aside = childPath(this.pathOf(h.nodeid), `.govfs_hidden_${id}_${++this.hiddenSeq}`);
      await this.client.rename(path, aside, { as: this.creds(h) });
      this.nodes.renamed(path, aside);
      this.hidden.set(id, aside);
      return;
    }
    await this.client.rm(path, { as: this.creds(h) });
    this.nodes.removed(path);
  }

  /** A file unlinked while open, renamed aside in `dir`, would keep rmdir from finding `dir`
   * empty (pjdfstest unlink/14.t): it moves up to dir's parent first (the mount's own
   * housekeeping, so as root, like its removal at the last close). */
  private async moveHiddenOutOf(dir: string): Promise<void> {
    const up = dir.slice(0, dir.lastIndexOf('/')) || '/';
    for (const [id, p] of [...this.hidden]) {
      const at = p.lastIndexOf('/');
      if ((p.slice(0, at) || '/') !== dir) continue;
      // Being removed at its last close (the kernel sends RELEASE after close returns): wait.
      const removal = this.removing.get(p);
      if (removal !== undefined) {
        await removal.catch(() => undefined);
        continue;
      }
      const aside = childPath(up, p.slice(at + 1));
      await this.client.rename(p, aside);
      this.nodes.renamed(p, aside);
      this.hidden.set(id, aside);
    }
  }

  /** Remove what was renamed aside for files still open (at unmount). */
  async removeHidden(): Promise<void> {
    for (const p of this.hidden.values()) await this.client.rm(p).catch(() => undefined);
    this.hidden.clear();
  }

  private async rename(h: P.InHeader, newdir: bigint, oldName: string, newName: string, flags: number): Promise<undefined> {
    const from = childPath(this.pathOf(h.nodeid), oldName);
    const to = childPath(this.pathOf(newdir), newName);
    if (flags & RENAME_EXCHANGE || flags & ~(P.RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new MountErrno('EINVAL', `rename ${from} ${to}: govfs renames with flags 0 or RENAME_NOREPLACE only`);
    if (flags & P.RENAME_NOREPLACE) {
      const there = await this.client.stat(to).then(
        () => true,
        (e: unknown) => {
          if (fuseErrno(e) === ENOENT) return false;
          throw e;
        },
      );
      if (there) throw new MountErrno('EEXIST', `rename ${from} ${to}: the target exists (RENAME_NOREPLACE)`);
    }
    await this.client.rename(from, to, { as: this.creds(h) });
    this.nodes.renamed(from, to);
    return undefined;
  }

  private async readdir(h: P.InHeader, r: { fh: bigint; offset: number; size: number }): Promise<Buffer> {
    const dir = this.dirs.get(r.fh);
    if (!dir) throw new MountErrno('EBADF', `readdir: no open directory ${r.fh}`);
    // Listed at the first READDIR (offset 0) and again on a rewinddir.
    if (dir.entries === null || r.offset === 0) {
      const list = await this.client.ls(dir.path);
      const self = h.nodeid;
      const parent = this.nodes.at(dir.path === '/' ? '/' : dir.path.slice(0, Math.max(1, dir.path.lastIndexOf('/')))) ?? UNKNOWN_INO;
      const entries: P.Dirent[] = [
        { ino: self, off: 1, type: 4, name: '.' },
        { ino: parent, off: 2, type: 4, name: '..' },
      ];
      // Files unlinked while open (renamed aside until their last close) are not listed, as a
      // local file system lists no unlinked file: `rm -r` would race their removal at release.
      const hidden = new Set(this.hidden.values());
      for (const e of list) {
        if (hidden.has(childPath(dir.path, e.name))) continue;
        // The inode number where the mount knows it; readdir's d_ino is a hint, stat is exact.
        const ino = this.nodes.at(childPath(dir.path, e.name)) ?? UNKNOWN_INO;
        entries.push({ ino, off: entries.length + 1, type: direntTypeOf(e.kind), name: e.name });
      }
      dir.entries = entries;
    }
    return P.encodeDirents(dir.entries.slice(r.offset), r.size).buf;
  }
}

/** d_ino for entries the mount has not numbered yet (libfuse's FUSE_UNKNOWN_INO). */
const UNKNOWN_INO = 0xffffffffn;

const DT: Readonly<Record<string, number>> = { dir: 4, file: 8, symlink: 10, fifo: 1, chardev: 2, blockdev: 6, socket: 12 };

function direntTypeOf(kind: string): number {
  return DT[kind] ?? 0;
}
