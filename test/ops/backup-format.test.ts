// The backup's file format (checked on read: truncated, altered, foreign files refused with a
// typed error) and its consistency rule (two passes with matching versions, else copy again),
// against an in-memory tree that a "client" changes while the backup reads it.

import { describe, expect, it } from 'vitest';
import type { DirEntry, Stat } from '../../src/client/gov-client.js';
import type { ClusterStatusView } from '../../src/client/status.js';
import { BackupFormatError, type BackupDocument, type BackupSource, decodeBackup, encodeBackup, takeBackup } from '../../src/ops/backup.js';

/** A ministry's tree with its version counter, read as the client protocol reads it. */
class FakeTree implements BackupSource {
  version = 0;
  index = 0;
  reads = 0;
  readonly nodes = new Map<string, { kind: 'dir' | 'file'; version: number }>([['/', { kind: 'dir', version: 0 }]]);
  /** Called before every read: lets a test change the tree mid-backup. */
  onRead: (reads: number) => void = () => {};

  add(path: string, kind: 'dir' | 'file'): void {
    const v = ++this.version;
    this.index += 3;
    this.nodes.set(path, { kind, version: v });
    this.nodes.get(parentOf(path))!.version = v;
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
    return { kind: n.kind, size: n.kind === 'dir' ? this.children(path).length : 0, ctime: 1, mtime: 1, version: n.version, ino: 0, mode: n.kind === 'dir' ? 0o40755 : 0o100644, uid: 0, gid: 0, nlink: 1, atimeNs: 1_000_000n, mtimeNs: 1_000_000n, ctimeNs: 1_000_000n };
  }
  seenIndex(): number {
    return this.index;
  }
  async status(): Promise<ClusterStatusView> {
    return {
      president: 'n1', clusterTerm: 2, idle: [], balancing: true,
      ministries: [{ id: 'root', subtree: '/', minister: 'n2', clerks: ['n3', 'n4'], term: 3, commitIndex: this.index, down: false, shortStaffed: false, load: null }],
      nodes: ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => ({ id, up: true, role: 'idle', ministry: '', commit: 0, applied: 0, caughtUp: true })),
    };
  }
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
    expect(() => decodeBackup(Buffer.from('{"hello": 1}\n'), 'b')).toThrow(/does not start with "govfs-backup 1"/);
    expect(() => decodeBackup(Buffer.from(text.replace(/^govfs-backup 1/, 'govfs-backup 9')), 'b')).toThrow(/format "govfs-backup 9"/);
    expect(() => decodeBackup(Buffer.alloc(0), 'b')).toThrow(BackupFormatError);
  });
});
