// `govfs backup FILE`: one consistent copy of a running cluster, taken through the client
// protocol (any node, over the network or in process), and its file format.
//
// What a backup holds: the cluster as its log shows it (president, term, nodes, every ministry's
// subtree and staff; `govfs restore` builds a cluster of the same shape from it) and, for every
// ministry, every path of its subtree with its stat, as of one applied index of that ministry's
// group log. Ministries are copied one after another: each is consistent in itself, at its own
// index; a change spanning two ministries (none exists yet: renames are within one) could be
// seen in one and not the other.
//
// How one ministry is copied at one point without stopping it: two passes over its subtree with
// linearizable reads (each answered by the minister at an applied index at least that of every
// read before it). Pass 1 stats every directory before listing it, and stats every file; pass 2
// stats every path again. A path's version is the ministry's global change counter at its last
// change (src/fs/namespace.ts), and a directory's changes with every entry added or removed, so
// a path with the same version in both passes did not change between its two reads. Let I be
// the highest index a pass-1 read was served at: every pass-1 read is at or before I and every
// pass-2 read at or after it, so when all versions match, the copy is exactly the subtree at
// index I. When some changed, the ministry is copied again, after a pause (a few times, then
// EAGAIN): a ministry written to without a pause for longer than that cannot be copied this way.
//
// So where the source can ask for it (BackupSource.ministryCopy: a connected client, a Cluster),
// the minister makes the copy itself: its replicated state at one applied index, built off its
// actor thread as a Raft snapshot is (src/actors/ministry-copy.ts), whatever the writes. That
// state's namespace is restored here and walked as the live one would be, once: it holds still.
// The two passes remain for a source without it.
//
// POSIX metadata (format 2): each entry also holds its permission bits, owner, and atime and
// mtime in nanoseconds (strings in the JSON: they pass 2^53), a symlink its target (readlink in
// pass 1; a target never changes, a replaced symlink has a new version), and a path whose inode
// (`ino`, numbered per ministry) an earlier entry of its ministry has is recorded as a hard
// link to that entry's path (`link`), which restore links rather than makes.
//
// File contents (format 3): every file's bytes as of its ministry's copy, read under read
// leases (src/ops/backup-contents.ts says how, and why a file that moved on has its ministry
// copied again rather than recorded at a later point).
//
// File format (its first line and the document are text, so that `head -c 300` shows what a
// file is): line 1 `govfs-backup 3`, line 2 the document as JSON, then the data section (the
// contents of every file, one after another, `contentBytes` bytes, each file's at its entry's
// `contentAt`) and a newline, then `sha256 HEX BYTES` of everything between the first line and
// that last line. A truncated or altered file fails the check with a typed error
// (BackupFormatError, EBADMSG) that says so. Format 1 files (before POSIX metadata: no modes,
// owners, times, symlinks or links) and format 2 files (before contents: line 2 is the
// document and the checksum line follows it) are still read.

import { createHash } from 'node:crypto';
import type { DirEntry, Stat } from '../client/gov-client.js';
import type { FileData } from '../client/file-data.js';
import type { LeaseHandle, OpenOptions } from '../client/leases.js';
import type { ClusterStatusView } from '../client/status.js';
import type { MinistryCopyAnswer } from '../client/ministry-copy.js';
import { FileLayouts } from '../actors/layouts.js';
import { splitMinistrySnapshot } from '../actors/ministry-snapshot-format.js';
import { Namespace, SPECIAL_KINDS, type NodeKind } from '../fs/namespace.js';
import { RuntimeError } from '../runtime/errors.js';
import { canReadContents, readAsCopied, type ContentSource } from './backup-contents.js';

export const BACKUP_MAGIC = 'govfs-backup';
export const BACKUP_VERSION = 3;
/** Formats this govfs reads: 1 (before POSIX metadata), 2 (before file contents) and 3. */
const READABLE_VERSIONS: readonly number[] = [1, 2, 3];

export interface BackupEntry {
  path: string;
  /** Or, since issue 18's mknod, 'fifo' | 'socket' | 'chardev' | 'blockdev' (with `rdev`). */
  kind: NodeKind;
  /** Bytes of a file (a symlink's target); entries of a directory. */
  size: number;
  /** ms (informational: restore cannot set ctime; mtime is restored from mtimeNs) */
  ctime: number;
  mtime: number;
  version: number;
  // Format 2 (absent in format 1 files: restore keeps what creating the path gives).
  /** Permission bits with setuid, setgid and sticky (st_mode & 07777). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Link count when copied (restore does not set it: links make it). */
  nlink?: number;
  /** Nanoseconds since the epoch, as a decimal string. */
  atimeNs?: string;
  mtimeNs?: string;
  /** A symlink's target. */
  target?: string;
  /** A device node's number. */
  rdev?: number;
  /** A hard link: the path of the earlier entry of this ministry with the same inode. Its
   * attributes are that entry's (one inode). */
  link?: string;
  // Format 3.
  /** Where a file's contents (`size` bytes) start in the data section; absent for an empty
   * file and a hard link (its first path has them). */
  contentAt?: number;
  /** A file's chunk size as its layout had it in the copy (0 or absent: no chunk placed, or
   * copied without layouts). */
  chunkSize?: number;
}

export interface MinistryBackup {
  id: string;
  subtree: string;
  minister: string;
  clerks: string[];
  term: number;
  /** The copy is the subtree as of this applied index of the ministry's group log. */
  index: number;
  /** Every path of the subtree (its root first, parents before children), other ministries'
   * subtrees left out. */
  entries: BackupEntry[];
}

export interface BackupDocument {
  format: typeof BACKUP_MAGIC;
  /** BACKUP_VERSION when written; 1 for a file written before POSIX metadata, 2 before file
   * contents. */
  version: 1 | 2 | typeof BACKUP_VERSION;
  /** When the copy was finished (ISO 8601, the backing-up machine's clock). */
  takenAt: string;
  cluster: { president: string; clusterTerm: number; nodes: string[]; idle: string[] };
  ministries: MinistryBackup[];
  /** Formats 1 and 2: null (no file contents). */
  chunks?: null;
  /** Format 3: the length of the data section (file contents). */
  contentBytes?: number;
  /** Format 3: the data section itself. In memory only: the file holds it after the JSON
   * document, not in it (encodeBackup, decodeBackup). */
  contents?: Uint8Array;
}

/** What a backup reads from: a client (in process or connected) and the cluster's status. */
export interface BackupSource {
  ls(path: string, opts: { linearizable: boolean }): Promise<DirEntry[]>;
  stat(path: string, opts: { linearizable: boolean }): Promise<Stat>;
  readlink(path: string, opts: { linearizable: boolean }): Promise<string>;
  /** The highest index of ministry `id` a reply has shown this client. */
  seenIndex(ministry: string): number;
  status(): Promise<ClusterStatusView>;
  /** Ministry `ministry`'s state at one applied index, copied by its minister (asked first). */
  ministryCopy?(ministry: string, minister: string): Promise<MinistryCopyAnswer>;
  /** File contents (format 3): read leases and the data plane (a GovClient's). A source
   * without them can back up only a cluster whose files are all empty. */
  open?(path: string, opts: OpenOptions): Promise<LeaseHandle>;
  readonly data?: Pick<FileData, 'read'>;
}

/** A backup file that cannot be read back: truncated, altered, or not a backup. */
export class BackupFormatError extends RuntimeError {
  constructor(file: string, why: string) {
    super('EBADMSG', `${file} is not a usable govfs backup: ${why}`);
  }
}

export interface BackupOptions {
  /** Copies of one ministry to try before giving up on a tree that keeps changing (default 8,
   * waiting 0.2 s, 0.4 s, ... up to 3 s between them: about 15 s for a burst of writes to pass). */
  attempts?: number;
  /** The first wait between copies (default 200 ms; doubles, at most 3 s). */
  retryMs?: number;
  /** Reads in flight at once (default 16; files read at once: a quarter of it). */
  parallel?: number;
  onProgress?: (ministry: string, paths: number) => void;
  /** File contents copied so far of `total` bytes, for ministry `subtree` (after each file). */
  onContents?: (subtree: string, done: number, total: number) => void;
  /** A copy of `subtree` did not hold still: it is copied again (`changed`: some such paths). */
  onRetry?: (subtree: string, changed: string[], attempt: number) => void;
}

/** Copy the whole cluster: the status, then every ministry at a recorded index, with the
 * contents of its files as of that index. */
export async function takeBackup(src: BackupSource, opts: BackupOptions = {}): Promise<BackupDocument> {
  const status = await src.status();
  if (!status.president) throw new RuntimeError('EAGAIN', 'the cluster has no president right now: back up once `govfs status` shows one');
  const subtrees = status.ministries.map((m) => m.subtree);
  const ministries: MinistryBackup[] = [];
  const data: Uint8Array[] = [];
  let at = 0;
  for (const m of [...status.ministries].sort((a, b) => a.subtree.localeCompare(b.subtree))) {
    if (m.down) throw new RuntimeError('EAGAIN', `ministry ${m.id} (${m.subtree}) is down: back up once it serves again`);
    const { contents, ...copy } = await copyWithContents(src, m, subtrees, opts);
    for (const e of copy.entries) {
      const bytes = contents.get(e.path);
      if (bytes === undefined) continue;
      e.contentAt = at;
      data.push(bytes);
      at += bytes.length;
    }
    ministries.push({ id: m.id, subtree: m.subtree, minister: m.minister, clerks: [...m.clerks], ...copy });
    opts.onProgress?.(m.subtree, copy.entries.length);
  }
  return {
    format: BACKUP_MAGIC,
    version: BACKUP_VERSION,
    takenAt: new Date().toISOString(),
    cluster: { president: status.president, clusterTerm: status.clusterTerm, nodes: status.nodes.map((n) => n.id), idle: [...status.idle] },
    ministries,
    contentBytes: at,
    contents: Buffer.concat(data, at),
  };
}

type StatusMinistry = ClusterStatusView['ministries'][number];
type Copy = { index: number; term: number; entries: BackupEntry[] };

const pause = (attempt: number, opts: BackupOptions): Promise<void> => new Promise((r) => setTimeout(r, Math.min(3_000, (opts.retryMs ?? 200) * 2 ** (attempt - 1))));

/** One ministry's copy, and the bytes of each of its files with contents as of that copy (by
 * path). A file that moved on before its bytes were read has the ministry copied again (see
 * backup-contents.ts for why not the file alone at a later point); bytes read are kept for the
 * files whose version the next copy still shows. */
async function copyWithContents(src: BackupSource, m: StatusMinistry, subtrees: string[], opts: BackupOptions): Promise<Copy & { contents: Map<string, Uint8Array> }> {
  const attempts = opts.attempts ?? 8;
  const held = new Map<string, { version: number; bytes: Uint8Array }>();
  let moved: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) {
      opts.onRetry?.(m.subtree, moved, attempt + 1);
      await pause(attempt, opts);
    }
    const copy: Copy = src.ministryCopy ? await copyFromMinister(src, m.id, m.subtree, subtrees, opts) : { ...(await copyMinistry(src, m.id, m.subtree, subtrees, opts)), term: m.term };
    const files = copy.entries.filter((e) => e.kind === 'file' && e.link === undefined && e.size > 0);
    if (files.length === 0) return { ...copy, contents: new Map() };
    if (!canReadContents(src)) {
      const more = files.length > 1 ? ` (and ${files.length - 1} more files)` : '';
      throw new RuntimeError('ENOTSUP', `ministry ${m.id} (${m.subtree}): ${files[0]!.path}${more} has contents, and this backup source cannot read file contents (it needs a client with read leases and the data plane)`);
    }
    moved = await readContents(src, m.subtree, files, held, opts);
    if (moved.length === 0) return { ...copy, contents: new Map(files.map((e) => [e.path, held.get(e.path)!.bytes])) };
  }
  throw new RuntimeError('EAGAIN', `ministry ${m.id} (${m.subtree}): files kept changing while their contents were copied (${attempts} copies; last changed: ${moved.slice(0, 3).join(', ')}${moved.length > 3 ? ', ...' : ''}): back up at a quieter moment`);
}

/** Read the files of one copy not held at their version yet; the paths that moved on. */
async function readContents(src: ContentSource, subtree: string, files: BackupEntry[], held: Map<string, { version: number; bytes: Uint8Array }>, opts: BackupOptions): Promise<string[]> {
  const wanted = new Map(files.map((e) => [e.path, e.version]));
  for (const [path, h] of held) if (wanted.get(path) !== h.version) held.delete(path);
  const total = files.reduce((n, e) => n + e.size, 0);
  let done = 0;
  const moved: string[] = [];
  await mapLimit(files, Math.max(1, Math.floor((opts.parallel ?? 16) / 4)), async (e) => {
    if (!held.has(e.path)) {
      let got = 0;
      const bytes = await readAsCopied(src, e, (n) => {
        done += n - got;
        got = n;
        opts.onContents?.(subtree, done, total);
      });
      done -= got;
      if (bytes === null) return void moved.push(e.path);
      held.set(e.path, { version: e.version, bytes });
    }
    done += e.size;
    opts.onContents?.(subtree, done, total);
  });
  return moved;
}

/** Whether `path` is `root` or below it. */
function within(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Run `fn` over `items`, at most `n` at once, keeping their order in the result. */
async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** The ministry's state as its minister copied it at one applied index, walked here. A
 * minister that changes meanwhile (EAGAIN: not the minister now) is asked again. */
async function copyFromMinister(src: BackupSource, id: string, subtree: string, subtrees: string[], opts: BackupOptions): Promise<{ index: number; term: number; entries: BackupEntry[] }> {
  const others = subtrees.filter((s) => s !== subtree && within(s, subtree));
  const ours = (p: string): boolean => !others.some((o) => within(p, o));
  const attempts = opts.attempts ?? 8;
  let minister = '';
  let last = '';
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) {
      opts.onRetry?.(subtree, [], attempt + 1);
      await new Promise((r) => setTimeout(r, Math.min(3_000, (opts.retryMs ?? 200) * 2 ** (attempt - 1))));
      minister = (await src.status().catch(() => null))?.ministries.find((m) => m.id === id)?.minister ?? '';
    }
    const r = await src.ministryCopy!(id, minister);
    if (r.ok) {
      const copy = snapshotSource(r.state);
      const entries = await firstPass(copy, subtree, ours, opts.parallel ?? 16);
      for (const e of entries) {
        const cs = e.kind === 'file' && e.link === undefined && e.size > 0 ? copy.chunkSize(e.path) : 0;
        if (cs > 0) e.chunkSize = cs;
      }
      return { index: r.index, term: r.term, entries };
    }
    if (r.code !== 'EAGAIN' && r.code !== 'EUNAVAILABLE') throw new RuntimeError(r.code || 'EIO', `ministry ${id} (${subtree}): its minister could not copy it: ${r.reason}`);
    last = r.reason;
  }
  throw new RuntimeError('EAGAIN', `ministry ${id} (${subtree}): no minister made a copy (${attempts} tries; last: ${last}): back up once govfs status shows it serving`);
}

/** A ministry's state (ministry snapshot bytes) read as the client reads the live ministry,
 * and the chunk size of each file's layout in it (by path, once the path was stat'ed). */
function snapshotSource(state: Uint8Array): Pick<BackupSource, 'ls' | 'stat' | 'readlink'> & { chunkSize(path: string): number } {
  const parts = splitMinistrySnapshot(state);
  const ns = Namespace.restore(parts.ns);
  const layouts = parts.layouts && parts.layouts.length > 0 ? FileLayouts.fromBytes(parts.layouts) : null;
  const inos = new Map<string, number>();
  return {
    ls: async (path) => ns.ls(path),
    stat: async (path) => {
      const s = ns.stat(path);
      inos.set(path, s.ino);
      return { kind: s.kind, size: s.size, ctime: s.ctime, mtime: s.mtime, version: s.version, ino: s.ino, mode: s.mode, uid: s.uid, gid: s.gid, nlink: s.nlink, rdev: s.rdev, atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs } satisfies Stat;
    },
    readlink: async (path) => ns.readlink(path),
    chunkSize: (path) => {
      const ino = inos.get(path);
      return layouts && ino !== undefined ? layouts.layout(ino, 0, 0).chunkSize : 0;
    },
  };
}

async function copyMinistry(src: BackupSource, id: string, subtree: string, subtrees: string[], opts: BackupOptions): Promise<{ index: number; entries: BackupEntry[] }> {
  // Paths of ministries below this one are theirs: not walked here.
  const others = subtrees.filter((s) => s !== subtree && within(s, subtree));
  const ours = (p: string): boolean => !others.some((o) => within(p, o));
  const lin = { linearizable: true };
  const parallel = opts.parallel ?? 16;
  const attempts = opts.attempts ?? 8;
  let changed: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) opts.onRetry?.(subtree, changed, attempt + 1);
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(3_000, (opts.retryMs ?? 200) * 2 ** (attempt - 1))));
    // Pass 1: breadth first, a directory's stat before its listing. A path removed (or a
    // directory replaced) between its listing and its own read is a change: copy again.
    let entries: BackupEntry[];
    try {
      entries = await firstPass(src, subtree, ours, parallel);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      changed = [(e as { path?: string }).path ?? '(a path)'];
      continue;
    }
    const index = src.seenIndex(id);
    // Pass 2: every path again, at or after `index`.
    const again = await mapLimit(entries, parallel, (e) => src.stat(e.path, lin).then((s) => s.version === e.version && s.kind === e.kind, () => false));
    changed = entries.filter((_, i) => !again[i]).map((e) => e.path);
    if (changed.length === 0) return { index, entries };
  }
  throw new RuntimeError('EAGAIN', `ministry ${id} (${subtree}) kept changing while it was copied (${attempts} tries; last changed: ${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', ...' : ''}): back up at a quieter moment`);
}

async function firstPass(src: Pick<BackupSource, 'ls' | 'stat' | 'readlink'>, subtree: string, ours: (p: string) => boolean, parallel: number): Promise<BackupEntry[]> {
  const lin = { linearizable: true };
  const entries: BackupEntry[] = [];
  /** The first path seen of each non-directory inode: later ones are its hard links. */
  const inodes = new Map<number, string>();
  let level = [subtree];
  while (level.length > 0) {
    const stats = await mapLimit(level, parallel, async (path) => ({ path, stat: await src.stat(path, lin) }));
    const listings = await mapLimit(
      stats.filter((s) => s.stat.kind === 'dir'),
      parallel,
      (s) => src.ls(s.path, lin).then((l) => ({ path: s.path, entries: l })),
    );
    const targets = await mapLimit(stats, parallel, (s) => (s.stat.kind === 'symlink' ? src.readlink(s.path, lin) : Promise.resolve(undefined)));
    for (const [i, s] of stats.entries()) entries.push(entry(s.path, s.stat, targets[i], inodes));
    const next: string[] = [];
    for (const l of listings) for (const e of l.entries) if (ours(join(l.path, e.name))) next.push(join(l.path, e.name));
    level = next;
  }
  return entries;
}

function entry(path: string, s: Stat, target: string | undefined, inodes: Map<number, string>): BackupEntry {
  const e: BackupEntry = {
    path, kind: s.kind, size: s.size, ctime: s.ctime, mtime: s.mtime, version: s.version,
    mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, nlink: s.nlink, atimeNs: s.atimeNs.toString(), mtimeNs: s.mtimeNs.toString(),
  };
  if (target !== undefined) e.target = target;
  if (s.rdev !== 0) e.rdev = s.rdev;
  if (s.kind !== 'dir' && s.ino > 0) {
    const first = inodes.get(s.ino);
    if (first === undefined) inodes.set(s.ino, path);
    else e.link = first;
  }
  return e;
}

// ---- the file --------------------------------------------------------------------------------

export function encodeBackup(doc: BackupDocument): Buffer {
  const { contents, ...json } = doc;
  const text = Buffer.from(JSON.stringify(json));
  let body = text;
  if (doc.version >= 3) {
    const data = contents ?? new Uint8Array(0);
    if (data.length !== (doc.contentBytes ?? 0)) throw new RuntimeError('EINVAL', `backup document: contentBytes says ${String(doc.contentBytes)}, its contents hold ${data.length} bytes`);
    body = Buffer.concat([text, Buffer.from('\n'), data]);
  }
  const sum = createHash('sha256').update(body).digest('hex');
  return Buffer.concat([Buffer.from(`${BACKUP_MAGIC} ${doc.version}\n`), body, Buffer.from(`\nsha256 ${sum} ${body.length}\n`)]);
}

/** Check and read a backup file's bytes; `file` names it in errors. */
export function decodeBackup(data: Buffer, file: string): BackupDocument {
  if (data.length === 0) throw new BackupFormatError(file, 'the file is empty');
  const first = data.indexOf(0x0a);
  const header = data.subarray(0, first < 0 ? Math.min(data.length, 100) : first).toString('utf8');
  if (first < 0 && READABLE_VERSIONS.some((v) => `${BACKUP_MAGIC} ${v}`.startsWith(header))) throw new BackupFormatError(file, `the file is truncated after ${data.length} bytes (its header line is not complete); use a complete copy`);
  if (!header.startsWith(`${BACKUP_MAGIC} `)) throw new BackupFormatError(file, `it does not start with "${BACKUP_MAGIC} ${BACKUP_VERSION}" (is it the file govfs backup wrote?)`);
  const version = Number(header.slice(BACKUP_MAGIC.length + 1));
  if (!/^\d+$/.test(header.slice(BACKUP_MAGIC.length + 1)) || !READABLE_VERSIONS.includes(version)) {
    throw new BackupFormatError(file, `it is format "${header}", and this govfs reads formats ${READABLE_VERSIONS.slice(0, -1).join(', ')} and ${READABLE_VERSIONS.at(-1)!} only`);
  }
  // The closing line: from the newline before the last one to the end.
  const last = data[data.length - 1] === 0x0a ? data.lastIndexOf(0x0a, data.length - 2) : -1;
  const m = last > first ? /^sha256 ([0-9a-f]{64}) (\d+)$/.exec(data.subarray(last + 1, data.length - 1).toString('latin1')) : null;
  if (!m) throw new BackupFormatError(file, `its closing checksum line is missing: the file is truncated (${data.length} bytes); use a complete copy`);
  const body = data.subarray(first + 1, last);
  if (body.length !== Number(m[2]) || createHash('sha256').update(body).digest('hex') !== m[1]) {
    throw new BackupFormatError(file, 'its checksum does not match its contents: the file was altered or damaged');
  }
  // Format 3: the document's line, then the data section.
  const end = version >= 3 ? body.indexOf(0x0a) : body.length;
  if (end < 0) throw new BackupFormatError(file, 'its document line has no end (format 3 has a data section after it)');
  let doc: unknown;
  try {
    doc = JSON.parse(body.subarray(0, end).toString('utf8'));
  } catch (e) {
    throw new BackupFormatError(file, `its document is not JSON (${(e as Error).message})`);
  }
  const contents = version >= 3 ? body.subarray(end + 1) : null;
  checkDocument(doc, file, version, contents);
  if (contents) doc.contents = contents;
  return doc;
}

function checkDocument(doc: unknown, file: string, version: number, contents: Uint8Array | null): asserts doc is BackupDocument {
  const bad = (why: string): never => {
    throw new BackupFormatError(file, why);
  };
  const d = doc as Partial<BackupDocument> | null;
  if (!d || typeof d !== 'object' || d.format !== BACKUP_MAGIC || d.version !== version) bad(`its document has no govfs-backup format and version ${version}`);
  if (!d!.cluster || !Array.isArray(d!.cluster.nodes)) bad('its cluster section is missing');
  if (!Array.isArray(d!.ministries) || !d!.ministries.some((m) => m?.subtree === '/')) bad('it holds no root ministry');
  if (version < 3 && d!.chunks !== null) bad('a format 1 or 2 backup with file contents is not one govfs wrote');
  const bytes = contents?.length ?? 0;
  if (version >= 3 && d!.contentBytes !== bytes) bad(`its data section holds ${bytes} bytes, and its document says ${String(d!.contentBytes)}`);
  for (const m of d!.ministries!) {
    if (typeof m.id !== 'string' || typeof m.subtree !== 'string' || !m.subtree.startsWith('/') || !Number.isSafeInteger(m.index) || !Array.isArray(m.entries)) {
      bad(`ministry ${JSON.stringify(m?.id)} is malformed`);
    }
    const kinds = new Map<string, string>();
    for (const e of m.entries) {
      const why = entryProblem(e, m.subtree, kinds) ?? (version >= 3 ? contentProblem(e, bytes) : null);
      if (why) bad(`ministry ${m.id} has a malformed entry ${JSON.stringify(e?.path ?? e)} (${why})`);
      kinds.set(e.path, e.kind);
    }
  }
}

const isId = (x: unknown): boolean => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 0xffffffff;
const isNs = (x: unknown): boolean => typeof x === 'string' && /^-?\d{1,30}$/.test(x);

/** What is wrong with one entry, or null. `earlier`: the kinds of the ministry's entries before
 * it (a hard link names one of them). Format 2's fields are optional: absent, restore keeps
 * the defaults of creating the path. */
function entryProblem(e: BackupEntry | null, subtree: string, earlier: Map<string, string>): string | null {
  if (!e || typeof e.path !== 'string' || !within(e.path, subtree)) return 'no path in its ministry';
  if (e.kind !== 'dir' && e.kind !== 'file' && e.kind !== 'symlink' && !SPECIAL_KINDS.includes(e.kind)) return `kind ${JSON.stringify(e.kind)}`;
  if (e.rdev !== undefined && !(Number.isSafeInteger(e.rdev) && e.rdev >= 0)) return 'rdev';
  if (!Number.isSafeInteger(e.size)) return 'size';
  if (e.mode !== undefined && !(Number.isInteger(e.mode) && e.mode >= 0 && e.mode <= 0o7777)) return 'mode';
  if ((e.uid !== undefined && !isId(e.uid)) || (e.gid !== undefined && !isId(e.gid))) return 'owner';
  if ((e.atimeNs !== undefined && !isNs(e.atimeNs)) || (e.mtimeNs !== undefined && !isNs(e.mtimeNs))) return 'times';
  if (e.kind === 'symlink' && e.link === undefined && (typeof e.target !== 'string' || e.target.length === 0)) return 'a symlink without a target';
  if (e.link !== undefined) {
    const k = earlier.get(e.link);
    if (typeof e.link !== 'string' || k === undefined || k === 'dir' || e.kind === 'dir') return 'a hard link to no earlier file of its ministry';
  }
  return null;
}

/** What is wrong with a format 3 entry's contents, or null: a file with bytes (not a hard
 * link) has them in the data section, nothing else has any. */
function contentProblem(e: BackupEntry, bytes: number): string | null {
  if (e.chunkSize !== undefined && !(Number.isSafeInteger(e.chunkSize) && e.chunkSize >= 0)) return 'chunk size';
  const wants = e.kind === 'file' && e.link === undefined && e.size > 0;
  if (!wants) return e.contentAt === undefined ? null : 'contents on an entry that has none';
  if (e.contentAt === undefined) return 'a file with bytes but no contents';
  if (!Number.isSafeInteger(e.contentAt) || e.contentAt < 0 || e.contentAt + e.size > bytes) return `contents at ${String(e.contentAt)} pass the data section's ${bytes} bytes`;
  return null;
}
