// The backup's file format (checked on read: truncated, altered, foreign files refused with a
// typed error) and its consistency rule (two passes with matching versions, else copy again),
// against an in-memory tree that a "client" changes while the backup reads it; what a backup
// records of POSIX metadata (modes, owners, nanosecond times, symlinks, hard links) and the order
// restore re-creates it in; format 1 files (before that metadata) still read and restored;
// file contents (format 3): read under a read lease as of the copy, a file rewritten meanwhile
// copied again, written back byte for byte; format 2 files (before contents) still read.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DirEntry, LeaseHandle, Stat } from '../../src/client/gov-client.js';
import type { ClusterStatusView } from '../../src/client/status.js';
import { BackupFormatError, type BackupDocument, type BackupEntry, type BackupSource, decodeBackup, encodeBackup, takeBackup } from '../../src/ops/backup.js';
import { makeAll, setAttributes, writeContents, type RestoreClient } from '../../src/ops/restore.js';

interface FakeNode {
  kind: 'dir' | 'file' | 'symlink';
  version: number;
  ino: number;
  mode?: number;
  uid?: number;
  target?: string;
  bytes?: Uint8Array;
}

/** A ministry's tree with its version counter, read as the client protocol reads it. */
class FakeTree implements BackupSource {
  version = 0;
  index = 0;
  reads = 0;
  readonly nodes = new Map<string, FakeNode>([['/', { kind: 'dir', version: 0, ino: 1 }]]);
  /** Called before every read: lets a test change the tree mid-backup. */
  onRead: (reads: number) => void = () => {};
  /** Called as a file's contents are read (under its lease). */
  onContentRead: (path: string) => void = () => {};
  /** Read leases taken and released (file contents). */
  leases = { taken: 0, released: 0 };

  add(path: string, kind: 'dir' | 'file' | 'symlink', more: Partial<FakeNode> = {}): void {
    const v = ++this.version;
    this.index += 3;
    this.nodes.set(path, { kind, version: v, ino: this.nodes.size + 1, ...more });
    this.nodes.get(parentOf(path))!.version = v;
  }
  /** A hard link: the same node object under a second path. */
  link(from: string, to: string): void {
    const n = this.nodes.get(from)!;
    n.version = ++this.version;
    this.nodes.set(to, n);
    this.nodes.get(parentOf(to))!.version = n.version;
  }
  /** A data write's commit: new bytes, a new version of the file. */
  write(path: string, bytes: Uint8Array): void {
    const n = this.nodes.get(path)!;
    n.bytes = bytes;
    n.version = ++this.version;
    this.index += 1;
  }
  async open(path: string): Promise<LeaseHandle> {
    if (!this.nodes.has(path)) throw Object.assign(new Error(`open ${path}: no such file`), { code: 'ENOENT' });
    this.leases.taken++;
    return { lease: { path }, signal: new AbortController().signal, release: async () => void this.leases.released++ } as unknown as LeaseHandle;
  }
  readonly data = {
    read: async (h: LeaseHandle, offset: number, length: number): Promise<Uint8Array> => {
      this.onContentRead(h.lease.path);
      return (this.nodes.get(h.lease.path)?.bytes ?? new Uint8Array(0)).slice(offset, offset + length);
    },
  };
  async readlink(path: string): Promise<string> {
    this.onRead(++this.reads);
    const n = this.nodes.get(path);
    if (n?.kind !== 'symlink') throw Object.assign(new Error(`readlink ${path}: not a symlink`), { code: n ? 'EINVAL' : 'ENOENT' });
    return n.target!;
  }
  async ls(path: string): Promise<DirEntry[]> {
    this.onRead(++this.reads);
    return this.children(path);
  }
  children(path: string): DirEntry[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    return [...this.nodes.entries()]
      .filter(([p]) => p !== path && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map(([p, n]) => ({ name: p.slice(prefix.length), kind: n.kind }));
  }
  async stat(path: string): Promise<Stat> {
    this.onRead(++this.reads);
    const n = this.nodes.get(path);
    if (!n) throw Object.assign(new Error(`stat ${path}: no such file`), { code: 'ENOENT' });
    const nlink = [...this.nodes.values()].filter((x) => x === n).length;
    const type = { dir: 0o40000, file: 0o100000, symlink: 0o120000 }[n.kind];
    const mode = type | (n.mode ?? (n.kind === 'dir' ? 0o755 : 0o644));
    const mtimeNs = 1_700_000_000_123_456_789n + BigInt(n.ino);
    return { kind: n.kind, size: n.kind === 'dir' ? this.children(path).length : (n.bytes?.length ?? 0), ctime: 1, mtime: 1, version: n.version, ino: n.ino, mode, uid: n.uid ?? 0, gid: 5, nlink, rdev: 0, atimeNs: 7n, mtimeNs, ctimeNs: 1_000_000n };
  }
  seenIndex(): number {
    return this.index;
  }
  async status(): Promise<ClusterStatusView> {
    return {
      president: 'n1', clusterTerm: 2, idle: [], balancing: true, migrations: [],
      ministries: [{ id: 'root', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 3, commitIndex: this.index, down: false, shortStaffed: false, load: null }],
      nodes: ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => ({ id, up: true, role: 'idle', ministry: '', commit: 0, applied: 0, caughtUp: true })),
    };
  }
}

const sha = (d: Uint8Array): string => createHash('sha256').update(d).digest('hex').slice(0, 16);

/** `n` bytes from a seed: tells versions of a file apart. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i === 0 ? '/' : p.slice(0, i);
}

function tree(): FakeTree {
  const t = new FakeTree();
  t.add('/a', 'dir');
  t.add('/a/f', 'file');
  t.add('/a/g', 'file');
  t.add('/b', 'dir');
  t.add('/b/c', 'dir');
  t.add('/b/c/h', 'file');
  return t;
}

describe('takeBackup', () => {
  it('copies every path of a quiet tree at the index its first pass ended at', async () => {
    const t = tree();
    const doc = await takeBackup(t);
    const m = doc.ministries[0]!;
    expect(m.entries.map((e) => e.path).sort()).toEqual(['/', '/a', '/a/f', '/a/g', '/b', '/b/c', '/b/c/h']);
    expect(m.index).toBe(18);
    expect(doc.cluster).toEqual({ president: 'n1', clusterTerm: 2, nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], idle: [] });
    expect(m.entries.find((e) => e.path === '/a')).toMatchObject({ kind: 'dir', size: 2 });
  });

  it('copies again when a path changed between its two reads, and records the later point', async () => {
    const t = tree();
    let changed = false;
    t.onRead = (n) => {
      // A client's create lands in /a during the first copy's second pass (reads 12-18; the
      // 13th re-reads /a).
      if (!changed && n === 13) {
        changed = true;
        t.add('/a/new', 'file');
      }
    };
    const doc = await takeBackup(t, { retryMs: 1 });
    const m = doc.ministries[0]!;
    expect(m.entries.map((e) => e.path)).toContain('/a/new');
    expect(m.index).toBe(21);
  });

  it('gives up with EAGAIN on a tree that never holds still', async () => {
    const t = tree();
    let k = 0;
    t.onRead = (n) => {
      if (n % 5 === 0) t.add(`/b/x${k++}`, 'file');
    };
    await expect(takeBackup(t, { attempts: 3, retryMs: 1 })).rejects.toMatchObject({ code: 'EAGAIN', message: expect.stringContaining('kept changing') });
  });
});

describe('POSIX metadata', () => {
  it('records modes, owners, nanosecond times, symlink targets and hard links (the first path)', async () => {
    const t = tree();
    t.add('/b/c/s', 'symlink', { target: '../../a/f' });
    t.add('/a/x', 'file', { mode: 0o4711, uid: 1000 });
    t.link('/a/x', '/b/c/x2');
    t.link('/a/x', '/b/x3');
    const doc = await takeBackup(t);
    const by = new Map(doc.ministries[0]!.entries.map((e) => [e.path, e]));
    expect(by.get('/a/x')).toMatchObject({ kind: 'file', mode: 0o4711, uid: 1000, gid: 5, nlink: 3, atimeNs: '7', mtimeNs: (1_700_000_000_123_456_789n + 9n).toString() });
    expect(by.get('/a/x')!.link).toBeUndefined();
    // Breadth first: /b/x3 (depth 2) before /b/c/x2 (depth 3); both name /a/x.
    expect(by.get('/b/x3')).toMatchObject({ link: '/a/x' });
    expect(by.get('/b/c/x2')).toMatchObject({ link: '/a/x' });
    expect(by.get('/b/c/s')).toMatchObject({ kind: 'symlink', target: '../../a/f', mode: 0o644 });
    expect(by.get('/b')).toMatchObject({ kind: 'dir', mode: 0o755 });
    // The times survive the file (strings: past 2^53).
    const back = decodeBackup(encodeBackup(doc), 'b');
    expect(back.ministries[0]!.entries.find((e) => e.path === '/a/x')!.mtimeNs).toBe('1700000000123456798');
  });

  /** A client that logs what restore asks of it. */
  function recorder(): { client: RestoreClient; calls: string[] } {
    const calls: string[] = [];
    const log = (s: string) => async () => void calls.push(s);
    const client: RestoreClient = {
      mkdir: (p) => log(`mkdir ${p}`)(),
      create: (p) => log(`create ${p}`)(),
      symlink: (t, p) => log(`symlink ${p} -> ${t}`)(),
      link: (f, p) => log(`link ${p} = ${f}`)(),
      chown: (p, u, g) => log(`chown ${p} ${u}:${g}`)(),
      chmod: (p, m) => log(`chmod ${p} ${m.toString(8)}`)(),
      utimens: (p, a, m) => log(`utimens ${p} ${String(a)} ${String(m)}`)(),
      writeFile: (p, d) => log(`write ${p} ${sha(d)}`)(),
      mknod: (p, m, r) => log(`mknod ${p} ${m.toString(8)} ${String(r)}`)(),
    };
    return { client, calls };
  }

  async function restoreInto(r: ReturnType<typeof recorder>, entries: BackupEntry[]): Promise<void> {
    await makeAll(r.client, entries, 4, () => {});
    for (const e of entries) await setAttributes(r.client, e);
  }

  it('restore makes paths, then links, then sets owner, mode and times (a directory\'s last)', async () => {
    const t = tree();
    t.add('/b/c/s', 'symlink', { target: '/elsewhere' });
    t.add('/a/x', 'file', { mode: 0o4711, uid: 1000 });
    t.link('/a/x', '/b/c/x2');
    const doc = decodeBackup(encodeBackup(await takeBackup(t)), 'b');
    const r = recorder();
    await restoreInto(r, doc.ministries[0]!.entries);
    const at = (s: string): number => {
      const i = r.calls.indexOf(s);
      expect(i, `${s} in ${r.calls.join('; ')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(r.calls.filter((c) => c.startsWith('create /b/c/x2'))).toEqual([]);
    expect(at('link /b/c/x2 = /a/x')).toBeGreaterThan(at('create /a/x'));
    expect(at('symlink /b/c/s -> /elsewhere')).toBeGreaterThan(at('mkdir /b/c'));
    // The hard link's attributes are its first path's: set once. chown before chmod (it
    // clears setuid), utimens after every path exists.
    expect(r.calls.filter((c) => c.startsWith('chmod /b/c/x2'))).toEqual([]);
    expect(at('chmod /a/x 4711')).toBeGreaterThan(at('chown /a/x 1000:5'));
    const lastMade = Math.max(...r.calls.map((c, i) => (/^(mkdir|create|symlink|link) /.test(c) ? i : -1)));
    expect(at(`utimens /b 7 ${1_700_000_000_123_456_789n + 5n}`)).toBeGreaterThan(lastMade);
    expect(r.calls.filter((c) => c.startsWith('utimens '))).toHaveLength(doc.ministries[0]!.entries.length - 1);
  });

  it('keeps FIFOs, sockets and devices (kind and rdev) and restores them with mknod', async () => {
    const v2 = {
      format: 'govfs-backup', version: 2, takenAt: '2026-12-01T00:00:00.000Z',
      cluster: { president: 'n1', clusterTerm: 2, nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], idle: [] },
      ministries: [{ id: 'root', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 3, index: 9, entries: [
        { path: '/', kind: 'dir', size: 3, ctime: 1, mtime: 1, version: 4 },
        { path: '/c', kind: 'chardev', size: 0, ctime: 1, mtime: 1, version: 3, mode: 0o600, rdev: 0x0103 },
        { path: '/p', kind: 'fifo', size: 0, ctime: 1, mtime: 1, version: 2, mode: 0o640 },
        { path: '/s', kind: 'socket', size: 0, ctime: 1, mtime: 1, version: 1 },
      ] }],
      chunks: null,
    };
    const body = JSON.stringify(v2);
    const file = (b: string) => Buffer.from(`govfs-backup 2\n${b}\nsha256 ${createHash('sha256').update(b).digest('hex')} ${Buffer.byteLength(b)}\n`);
    const doc = decodeBackup(file(body), 'dev.backup');
    const r = recorder();
    await restoreInto(r, doc.ministries[0]!.entries);
    expect(r.calls.filter((c) => c.startsWith('mknod'))).toEqual(['mknod /c 20644 259', 'mknod /p 10644 0', 'mknod /s 140644 0']);
    expect(r.calls).toContain('chmod /c 600');
    expect(() => decodeBackup(file(body.replace('"rdev":259', '"rdev":-1')), 'x')).toThrow(/malformed entry "\/c" \(rdev\)/);
  });

  it('reads and restores a format 1 file (before POSIX metadata) with the defaults of creating its paths', async () => {
    const v1 = {
      format: 'govfs-backup', version: 1, takenAt: '2026-12-01T00:00:00.000Z',
      cluster: { president: 'n1', clusterTerm: 2, nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], idle: [] },
      ministries: [{ id: 'root', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 3, index: 9, entries: [
        { path: '/', kind: 'dir', size: 1, ctime: 1, mtime: 1, version: 2 },
        { path: '/d', kind: 'dir', size: 1, ctime: 1, mtime: 1, version: 2 },
        { path: '/d/f', kind: 'file', size: 0, ctime: 1, mtime: 1, version: 1 },
      ] }],
      chunks: null,
    };
    const body = JSON.stringify(v1);
    const file = Buffer.from(`govfs-backup 1\n${body}\nsha256 ${createHash('sha256').update(body).digest('hex')} ${Buffer.byteLength(body)}\n`);
    const doc = decodeBackup(file, 'old.backup');
    expect(doc.version).toBe(1);
    const r = recorder();
    await restoreInto(r, doc.ministries[0]!.entries);
    expect(r.calls).toEqual(['mkdir /d', 'create /d/f']);
    // A format 1 file holding a kind of format 2 is not one govfs wrote.
    const bad = body.replace('"kind":"file"', '"kind":"symlink"');
    expect(() => decodeBackup(Buffer.from(`govfs-backup 1\n${bad}\nsha256 ${createHash('sha256').update(bad).digest('hex')} ${Buffer.byteLength(bad)}\n`), 'x')).toThrow(/malformed entry "\/d\/f" \(a symlink without a target\)/);
  });

  it('reads and restores a format 2 file (before file contents) as written then', async () => {
    const v2 = {
      format: 'govfs-backup', version: 2, takenAt: '2026-12-04T00:00:00.000Z',
      cluster: { president: 'n1', clusterTerm: 2, nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], idle: [] },
      ministries: [{ id: 'root', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 3, index: 9, entries: [
        { path: '/', kind: 'dir', size: 1, ctime: 1, mtime: 1, version: 3, mode: 0o755, uid: 0, gid: 0, nlink: 3, atimeNs: '5', mtimeNs: '6' },
        { path: '/d', kind: 'dir', size: 1, ctime: 1, mtime: 1, version: 3, mode: 0o700, uid: 7, gid: 8, nlink: 2, atimeNs: '5', mtimeNs: '6' },
        { path: '/d/f', kind: 'file', size: 0, ctime: 1, mtime: 1, version: 2, mode: 0o600, uid: 7, gid: 8, nlink: 1, atimeNs: '5', mtimeNs: '6' },
      ] }],
      chunks: null,
    };
    const body = JSON.stringify(v2);
    const doc = decodeBackup(Buffer.from(`govfs-backup 2\n${body}\nsha256 ${createHash('sha256').update(body).digest('hex')} ${Buffer.byteLength(body)}\n`), 'v2.backup');
    expect(doc.version).toBe(2);
    const r = recorder();
    await restoreInto(r, doc.ministries[0]!.entries);
    expect(await writeContents(r.client, doc)).toEqual({ files: 0, bytes: 0 });
    expect(r.calls).toEqual(['mkdir /d', 'create /d/f', 'chown / 0:0', 'chmod / 755', 'utimens / 5 6', 'chown /d 7:8', 'chmod /d 700', 'utimens /d 5 6', 'chown /d/f 7:8', 'chmod /d/f 600', 'utimens /d/f 5 6']);
  });

  it('copies file contents as of its copy: a file rewritten while read has the ministry copied again', async () => {
    const t = tree();
    t.write('/a/f', bytes(1_000, 1));
    t.write('/b/c/h', bytes(70_000, 2));
    t.link('/b/c/h', '/a/h2');
    // A writer commits new bytes of /b/c/h while the backup reads the old ones (through /a/h2,
    // its first path breadth first).
    let rewrote = false;
    t.onContentRead = (path) => {
      if (path === '/a/h2' && !rewrote) {
        rewrote = true;
        t.write('/b/c/h', bytes(5_000, 3));
      }
    };
    const retries: string[][] = [];
    const progress: [number, number][] = [];
    const taken = await takeBackup(t, { retryMs: 1, onRetry: (_, changed) => retries.push(changed), onContents: (_, done, total) => progress.push([done, total]) });
    expect(retries).toEqual([['/a/h2']]);
    expect(t.leases.released).toBe(t.leases.taken);
    // The second copy's bytes: /a/f kept from the first read (same version), /a/h2 read again.
    expect(t.leases.taken).toBe(3);
    expect(progress.at(-1)).toEqual([6_000, 6_000]);
    const doc = decodeBackup(encodeBackup(taken), 'b');
    expect(doc.version).toBe(3);
    expect(doc.contentBytes).toBe(6_000);
    const by = new Map(doc.ministries[0]!.entries.map((e) => [e.path, e]));
    expect(by.get('/b/c/h')).toMatchObject({ link: '/a/h2', size: 5_000 });
    expect(by.get('/b/c/h')!.contentAt).toBeUndefined();
    expect(by.get('/a/g')!.contentAt).toBeUndefined();
    const r = recorder();
    await restoreInto(r, doc.ministries[0]!.entries);
    expect(await writeContents(r.client, doc)).toEqual({ files: 2, bytes: 6_000 });
    expect(r.calls.filter((c) => c.startsWith('write ')).sort()).toEqual([`write /a/f ${sha(bytes(1_000, 1))}`, `write /a/h2 ${sha(bytes(5_000, 3))}`]);
    // A damaged byte of the data section fails the checksum; contents past its end are refused.
    const file = encodeBackup(taken);
    file[file.indexOf('\n', 20) + 100]! ^= 1;
    expect(() => decodeBackup(file, 'b')).toThrow(/checksum does not match/);
    const d = { ...taken, ministries: taken.ministries.map((m) => ({ ...m, entries: m.entries.map((e) => (e.path === '/a/f' ? { ...e, contentAt: 5_500 } : e)) })) };
    expect(() => decodeBackup(encodeBackup(d), 'b')).toThrow(/malformed entry "\/a\/f" \(contents at 5500 pass the data section's 6000 bytes\)/);
  });

  it('refuses (ENOTSUP) to back up files with contents from a source that cannot read them', async () => {
    const t = tree();
    t.write('/a/g', bytes(5, 1));
    const namesOnly: BackupSource = { ls: (p) => t.ls(p), stat: (p) => t.stat(p), readlink: (p) => t.readlink(p), seenIndex: () => t.seenIndex(), status: () => t.status() };
    await expect(takeBackup(namesOnly)).rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringContaining('/a/g has contents') });
  });

  it('gives up with EAGAIN, naming the file, when a file never holds still', async () => {
    const t = tree();
    t.write('/a/f', bytes(10, 1));
    let k = 0;
    t.onContentRead = () => t.write('/a/f', bytes(10, ++k));
    await expect(takeBackup(t, { attempts: 3, retryMs: 1 })).rejects.toMatchObject({ code: 'EAGAIN', message: expect.stringMatching(/files kept changing .*\(3 copies; last changed: \/a\/f\)/) });
  });
});

describe('backup file', () => {
  const doc = (): Promise<BackupDocument> => takeBackup(tree());

  it('reads back what it wrote', async () => {
    const d = await doc();
    expect(decodeBackup(encodeBackup(d), 'b')).toEqual(d);
  });

  it('refuses a truncated file, saying it is truncated', async () => {
    const bytes = encodeBackup(await doc());
    for (const cut of [10, 40, bytes.length - 30, bytes.length - 1]) {
      const e = (() => {
        try {
          decodeBackup(bytes.subarray(0, cut), 'x.backup');
        } catch (err) {
          return err;
        }
        return null;
      })();
      expect(e).toBeInstanceOf(BackupFormatError);
      expect(e).toMatchObject({ code: 'EBADMSG' });
      expect((e as Error).message).toMatch(/x\.backup .*(truncated|checksum)/);
    }
  });

  it('refuses an altered file, a foreign file and a newer format', async () => {
    const text = encodeBackup(await doc()).toString();
    const altered = Buffer.from(text.replace('"/a/f"', '"/a/F"'));
    expect(() => decodeBackup(altered, 'b')).toThrow(/checksum does not match/);
    expect(() => decodeBackup(Buffer.from('{"hello": 1}\n'), 'b')).toThrow(/does not start with "govfs-backup 3"/);
    expect(() => decodeBackup(Buffer.from(text.replace(/^govfs-backup 3/, 'govfs-backup 9')), 'b')).toThrow(/format "govfs-backup 9", and this govfs reads formats 1, 2 and 3 only/);
    // A hard link to a path not before it, a mode out of range: refused, naming the entry.
    const withEntries = (f: (e: BackupEntry[]) => void): Buffer => {
      const d = JSON.parse(text.split('\n')[1]!) as BackupDocument;
      f(d.ministries[0]!.entries);
      return encodeBackup(d);
    };
    expect(() => decodeBackup(withEntries((es) => void (es[1]!.link = '/nope')), 'b')).toThrow(/malformed entry .*hard link to no earlier file/);
    expect(() => decodeBackup(withEntries((es) => void (es[1]!.mode = 0o10000)), 'b')).toThrow(/malformed entry .*\(mode\)/);
    expect(() => decodeBackup(withEntries((es) => void (es[1]!.mtimeNs = '1e9')), 'b')).toThrow(/malformed entry .*\(times\)/);
    expect(() => decodeBackup(Buffer.alloc(0), 'b')).toThrow(BackupFormatError);
  });
});
