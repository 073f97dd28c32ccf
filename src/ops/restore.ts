// `govfs restore FILE --data DIR`: a new cluster's data folder made from a backup, so that
// `govfs cluster --data DIR` starts with its file system.
//
// The restore starts the cluster itself (in this process, on worker threads, serving no
// network port), in the backup's shape (as many nodes, the same static ministries with as many
// clerks), waits until every ministry serves, and re-creates every path through the client
// protocol, parents first: each entry passes the same checks as any client's, and the folder
// ends up as any cluster's would, logs and all. Then it stops the cluster cleanly.
//
// What a restore keeps: every path, its kind, a directory's entries (so its size). What it
// cannot keep: times (btime, ctime, mtime become the time of the restore: the minister stamps
// every change with its own clock) and versions (the new ministries count their own changes),
// terms and log indices (a new cluster starts at term 1). File sizes are 0 until files have
// contents (the data plane); a backup holding contents is refused (decodeBackup).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { nodesNeeded } from '../actors/cluster-state.js';
import { LocalCluster } from '../cluster-main.js';
import type { GovClient } from '../client/gov-client.js';
import { RuntimeError } from '../runtime/errors.js';
import { type BackupDocument, type BackupEntry, decodeBackup } from './backup.js';

export interface RestoreOptions {
  threads?: number;
  /** Paths made at once (default 32). */
  parallel?: number;
  /** How long to wait for every ministry to serve (default 60 s). */
  readyTimeoutMs?: number;
  logger?: Logger;
  onProgress?: (done: number, total: number) => void;
}

export interface RestoreSummary {
  dataDir: string;
  nodes: number;
  ministries: { subtree: string; clerks: number; paths: number; fromIndex: number }[];
  paths: number;
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
export function restoreShape(doc: BackupDocument): { nodes: number; ministries: { subtree: string; clerks: number }[] } {
  const ministries = doc.ministries.filter((m) => m.subtree !== '/').map((m) => ({ subtree: m.subtree, clerks: m.clerks.length }));
  // The balancer may have grown a ministry past what the nodes could staff from scratch.
  return { nodes: Math.max(doc.cluster.nodes.length, nodesNeeded(ministries)), ministries };
}

export async function restoreBackup(file: string, dataDir: string, opts: RestoreOptions = {}): Promise<RestoreSummary> {
  const doc = readBackupFile(file);
  const dir = resolve(dataDir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new RuntimeError('EEXIST', `${dir} is not empty: restore makes a new cluster's data folder; give a new or empty --data folder`);
  }
  const shape = restoreShape(doc);
  const cluster = await LocalCluster.start({ dataDir: dir, nodes: shape.nodes, ministries: shape.ministries, threads: opts.threads, listen: { host: '127.0.0.1', port: 0 }, logger: opts.logger });
  try {
    await untilServing(cluster, doc, opts.readyTimeoutMs ?? 60_000);
    const client = cluster.cluster.client();
    const total = doc.ministries.reduce((n, m) => n + m.entries.length, 0);
    let done = 0;
    const summary: RestoreSummary = { dataDir: dir, nodes: shape.nodes, ministries: [], paths: 0 };
    for (const m of doc.ministries) {
      await makeAll(client, m.entries, opts.parallel ?? 32, () => opts.onProgress?.(++done, total));
      summary.ministries.push({ subtree: m.subtree, clerks: m.clerks.length, paths: m.entries.length, fromIndex: m.index });
      summary.paths += m.entries.length;
    }
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

/** Make every entry, a level of the tree at a time (parents exist before their children). */
async function makeAll(client: GovClient, entries: BackupEntry[], parallel: number, progress: () => void): Promise<void> {
  const byDepth = new Map<number, BackupEntry[]>();
  for (const e of entries) {
    const depth = e.path === '/' ? 0 : e.path.split('/').length - 1;
    byDepth.set(depth, [...(byDepth.get(depth) ?? []), e]);
  }
  // A ministry's root exists already (the cluster made it when forming the ministry).
  const [rootDepth] = [...byDepth.keys()].sort((a, b) => a - b);
  for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
    const level = byDepth.get(depth)!;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < level.length) {
        const e = level[next++]!;
        if (depth !== rootDepth) await (e.kind === 'dir' ? client.mkdir(e.path, { parents: true }) : client.create(e.path));
        progress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, level.length) }, worker));
  }
}
