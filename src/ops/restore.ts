// `govfs restore FILE --data DIR`: a new cluster's data folder made from a backup, so that
// `govfs cluster --data DIR` starts with its file system.
//
// The restore starts the cluster itself (in this process, on worker threads, serving no
// network port), in the backup's shape (as many nodes, the same static ministries with as many
// clerks), waits until every ministry serves, and re-creates every path through the client
// protocol, parents first: each entry passes the same checks as any client's, and the folder
// ends up as any cluster's would, logs and all. Then it stops the cluster cleanly.
//
// The order: every ministry's directories, files and symlinks, parents first; then its hard
// links (an entry with `link`, made by link() from the path it names); then, once every path of
// every ministry exists, each inode's owner (chown first: it clears setuid), mode and times
// (utimens last, after the children are made and linked, so that a directory's mtime is the
// backup's and not that of its last new entry). Attributes are set only on the first path of an
// inode: a hard link shares them.
//
// What a restore keeps: every path, its kind, a directory's entries (so its size), symlink
// targets, hard links (so link counts), modes, owners, atime and mtime to the nanosecond. What it
// cannot keep: ctime and btime (the time of the restore: the minister stamps every change with
// its own clock, and no operation sets them), inode numbers and versions (the new ministries
// count their own), terms and log indices (a new cluster starts at term 1). A format 1 backup
// (before POSIX metadata) has none of these attributes: its paths get what creating them gives
// (0755 directories, 0644 files, owned by root, times of the restore).
//
// File contents (format 3) are written back through the client, after every path exists and
// before the attributes (so that utimens sets the mtime last): writeFile under a write lease,
// as any writer's, so the new cluster's ministers place the chunks and its layouts are its own
// (new chunk ids and replicas on the new nodes). The cluster is started with the backup's chunk
// size (the most common one of its files), so restored files are split as they were. A file's
// holes are written as zeros (the backup holds its bytes, not where its chunks were).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { nodesNeeded } from '../actors/cluster-state.js';
import { LocalCluster } from '../cluster-main.js';
import type { GovClient } from '../client/gov-client.js';
import { RuntimeError } from '../runtime/errors.js';
import { TYPE_BITS } from '../fs/access.js';
import { type BackupDocument, type BackupEntry, decodeBackup } from './backup.js';

export interface RestoreOptions {
  threads?: number;
  /** Paths made at once (default 32). */
  parallel?: number;
  /** How long to wait for every ministry to serve (default 60 s). */
  readyTimeoutMs?: number;
  logger?: Logger;
  onProgress?: (done: number, total: number) => void;
  /** File contents written so far of `total` bytes (after each file). */
  onContents?: (done: number, total: number) => void;
}

export interface RestoreSummary {
  dataDir: string;
  nodes: number;
  ministries: { subtree: string; clerks: number; paths: number; fromIndex: number }[];
  paths: number;
  /** Files whose contents were written, and their bytes. */
  files: number;
  bytes: number;
}

/** Read and check a backup file (typed errors: ENOENT, EBADMSG). */
export function readBackupFile(file: string): BackupDocument {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new RuntimeError(code, `cannot read backup ${file}: ${(e as Error).message}`);
  }
  return decodeBackup(data, file);
}

/** The static ministries and node count a restored cluster gets. */
export function restoreShape(doc: BackupDocument): { nodes: number; ministries: { subtree: string; clerks: number }[]; chunkBytes?: number } {
  const ministries = doc.ministries.filter((m) => m.subtree !== '/').map((m) => ({ subtree: m.subtree, clerks: m.clerks.length }));
  // The balancer may have grown a ministry past what the nodes could staff from scratch.
  return { nodes: Math.max(doc.cluster.nodes.length, nodesNeeded(ministries)), ministries, chunkBytes: chunkBytesOf(doc) };
}

/** The chunk size most of the backup's files had (undefined: none recorded, the default). */
function chunkBytesOf(doc: BackupDocument): number | undefined {
  const count = new Map<number, number>();
  for (const m of doc.ministries) for (const e of m.entries) if (e.chunkSize) count.set(e.chunkSize, (count.get(e.chunkSize) ?? 0) + 1);
  let best: number | undefined;
  for (const [size, n] of count) if (best === undefined || n > count.get(best)!) best = size;
  return best;
}

export async function restoreBackup(file: string, dataDir: string, opts: RestoreOptions = {}): Promise<RestoreSummary> {
  const doc = readBackupFile(file);
  const dir = resolve(dataDir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new RuntimeError('EEXIST', `${dir} is not empty: restore makes a new cluster's data folder; give a new or empty --data folder`);
  }
  const shape = restoreShape(doc);
  const cluster = await LocalCluster.start({ dataDir: dir, nodes: shape.nodes, ministries: shape.ministries, threads: opts.threads, listen: { host: '127.0.0.1', port: 0 }, logger: opts.logger, chunkBytes: shape.chunkBytes });
  try {
    await untilServing(cluster, doc, opts.readyTimeoutMs ?? 60_000);
    const client = cluster.cluster.client();
    const total = doc.ministries.reduce((n, m) => n + m.entries.length, 0);
    let done = 0;
    const summary: RestoreSummary = { dataDir: dir, nodes: shape.nodes, ministries: [], paths: 0, files: 0, bytes: 0 };
    const parallel = opts.parallel ?? 32;
    for (const m of doc.ministries) {
      await makeAll(client, m.entries, parallel, () => opts.onProgress?.(++done, total));
      summary.ministries.push({ subtree: m.subtree, clerks: m.clerks.length, paths: m.entries.length, fromIndex: m.index });
      summary.paths += m.entries.length;
    }
    // Contents before attributes: a write sets the file's mtime.
    Object.assign(summary, await writeContents(client, doc, opts.onContents));
    // After every path of every ministry exists: nothing made later touches these times.
    await eachLimit(doc.ministries.flatMap((m) => m.entries), parallel, (e) => setAttributes(client, e));
    await client.close();
    return summary;
  } catch (e) {
    const err = e as Error & { code?: string };
    throw new RuntimeError(err.code ?? 'EIO', `${err.message} (${dir} holds a partly restored cluster: remove it before trying again)`, { cause: e });
  } finally {
    await cluster.stop();
  }
}

/** Wait until the president serves and every ministry of the backup is formed and up: a path
 * made before its ministry formed would land in the parent's. */
async function untilServing(cluster: LocalCluster, doc: BackupDocument, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no status yet';
  for (;;) {
    const st = await cluster.cluster.status().catch((e: unknown) => {
      last = (e as Error).message;
      return null;
    });
    if (st) {
      const missing = doc.ministries.filter((m) => !st.ministries.some((x) => x.subtree === m.subtree && !x.down));
      if (st.president && missing.length === 0) return;
      last = st.president ? `ministries not serving yet: ${missing.map((m) => m.subtree).join(', ')}` : 'no president yet';
    }
    if (Date.now() > deadline) throw new RuntimeError('ETIMEDOUT', `the restored cluster did not serve within ${timeoutMs} ms (${last}); ${cluster.dataDir} is incomplete: remove it and try again`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What restore asks of a client (GovClient; tests pass their own). */
export type RestoreClient = Pick<GovClient, 'mkdir' | 'create' | 'symlink' | 'link' | 'chown' | 'chmod' | 'utimens' | 'writeFile' | 'mknod'>;

/** Files written at once: each is pieces in flight to three replicas already. */
const FILES_AT_ONCE = 4;

/** Write every file's contents (format 3) into the paths made: a file of the backup with bytes
 * gets exactly them. */
export async function writeContents(client: RestoreClient, doc: BackupDocument, progress?: (done: number, total: number) => void): Promise<{ files: number; bytes: number }> {
  const files = doc.ministries.flatMap((m) => m.entries.filter((e) => e.contentAt !== undefined));
  const data = doc.contents ?? new Uint8Array(0);
  const total = files.reduce((n, e) => n + e.size, 0);
  let done = 0;
  await eachLimit(files, FILES_AT_ONCE, async (e) => {
    await client.writeFile(e.path, data.subarray(e.contentAt!, e.contentAt! + e.size));
    progress?.((done += e.size), total);
  });
  return { files: files.length, bytes: total };
}

/** Run `fn` over `items`, at most `n` at once. */
async function eachLimit<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/** Make every entry of one ministry, a level of the tree at a time (parents exist before
 * their children), then its hard links. The ministry's root exists already (the cluster made
 * it when forming the ministry). */
export async function makeAll(client: RestoreClient, entries: BackupEntry[], parallel: number, progress: () => void): Promise<void> {
  const byDepth = new Map<number, BackupEntry[]>();
  const links: BackupEntry[] = [];
  for (const e of entries) {
    const depth = e.path === '/' ? 0 : e.path.split('/').length - 1;
    byDepth.set(depth, [...(byDepth.get(depth) ?? []), e]);
  }
  const depths = [...byDepth.keys()].sort((a, b) => a - b);
  for (const depth of depths) {
    await eachLimit(byDepth.get(depth)!, parallel, async (e) => {
      if (e.link !== undefined) {
        links.push(e);
        return;
      }
      if (depth !== depths[0]) await makeOne(client, e);
      progress();
    });
  }
  // A link's first path may be at any depth: all of them exist now.
  await eachLimit(links, parallel, async (e) => {
    await client.link(e.link!, e.path);
    progress();
  });
}

function makeOne(client: RestoreClient, e: BackupEntry): Promise<void> {
  if (e.kind === 'dir') return client.mkdir(e.path, { parents: true });
  if (e.kind === 'symlink') return client.symlink(e.target!, e.path);
  if (e.kind !== 'file') return client.mknod(e.path, TYPE_BITS[e.kind] | 0o644, e.rdev ?? 0);
  return client.create(e.path);
}

/** An inode's owner, mode and times, as far as the entry holds them (format 1: none). */
export async function setAttributes(client: RestoreClient, e: BackupEntry): Promise<void> {
  if (e.link !== undefined) return;
  if (e.uid !== undefined || e.gid !== undefined) await client.chown(e.path, e.uid ?? -1, e.gid ?? -1);
  if (e.mode !== undefined) await client.chmod(e.path, e.mode);
  if (e.atimeNs !== undefined || e.mtimeNs !== undefined) {
    // A time the entry lacks becomes the restore's (null: the minister's now).
    await client.utimens(e.path, e.atimeNs === undefined ? null : BigInt(e.atimeNs), e.mtimeNs === undefined ? null : BigInt(e.mtimeNs));
  }
}
