// A preflight for a node's lmdb storage, before the process opens it for real. lmdb trusts its
// file: a damaged page can crash the process (SIGSEGV) with no message, or be read as data. So
// a short-lived child process (storage-check-child.ts) opens the environment read-only and
// reads every record, checking govfs's checksums; a child that dies by a signal, or reports a
// problem, means the file is damaged, and the node must refuse to start rather than serve from
// it. Measured: see README ("Damaged or full storage"). It sits above src/raft (the child
// checks Raft log segments) and below the node host that runs it.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '../runtime/errors.js';
import { NODE_CORRUPT_ADVICE, StorageCorruptError } from '../runtime/storage-faults.js';
import type { CheckReport } from './storage-check-child.js';

/** The child's first line (storage-check-child.ts: CHECKER_STARTED; not imported, which would
 * load lmdb here). */
const CHECKER_STARTED = 'govfs-storage-check: reading';

export interface StorageCheck {
  records: number;
  bytes: number;
  ms: number;
}

export interface StorageCheckOptions {
  /** An environment of one database per node (a local cluster's `nodes`), or one node's own. */
  shared?: boolean;
  /** What to tell the operator to do about a damaged file (default: the advice for `govfs node`). */
  advice?: string;
  /** Give up on a check that takes longer (default 10 minutes). */
  timeoutMs?: number;
}

function childCommand(): { args: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // A checkout runs the TypeScript sources: the child loads them through tsx too.
    return { args: ['--import', import.meta.resolve('tsx/esm'), fileURLToPath(new URL('./storage-check-child.ts', here))] };
  }
  return { args: [fileURLToPath(new URL('./storage-check-child.js', here))] };
}

/** Checks the lmdb environment in `dir` (if it has one yet); resolves with what it read, or
 * rejects with a StorageCorruptError. */
export async function checkStorage(dir: string, opts: StorageCheckOptions = {}): Promise<StorageCheck> {
  const file = join(dir, 'data.mdb');
  const started = Date.now();
  if (!existsSync(file)) return { records: 0, bytes: 0, ms: 0 };
  const advice = opts.advice ?? NODE_CORRUPT_ADVICE;
  const { args } = childCommand();
  const child = spawn(process.execPath, [...args, dir, opts.shared ? 'shared' : 'own'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  }).finally(() => clearTimeout(timer));
  const ms = Date.now() - started;
  if (signal === 'SIGKILL' && ms >= timeoutMs) throw new StorageCorruptError(file, `checking it took over ${timeoutMs / 1000} s`, advice);
  if (signal) throw new StorageCorruptError(file, `lmdb crashed reading it (${signal})`, advice);
  let report: CheckReport | undefined;
  try {
    report = JSON.parse(out.trim().split('\n').pop() ?? '') as CheckReport;
  } catch {
    report = undefined;
  }
  if (!out.startsWith(CHECKER_STARTED)) {
    // The checker never got to the file (not found, would not load): say so, not "corrupt".
    const why = err.trim().split('\n').find((l) => /error/i.test(l)) ?? err.trim().split('\n')[0] ?? '';
    throw new RuntimeError('EIO', `cannot check ${file}: the storage checker did not start (exit status ${code}${why ? `: ${why.slice(0, 300)}` : ''})`);
  }
  if (code !== 0 || !report) {
    const why = err.trim().split('\n').find((l) => /error/i.test(l)) ?? err.trim().split('\n')[0] ?? '';
    throw new StorageCorruptError(file, `reading it failed with exit status ${code}${why ? `: ${why.slice(0, 300)}` : ''}`, advice);
  }
  if (report.problems.length > 0) throw new StorageCorruptError(file, report.problems.join('; '), advice);
  return { records: report.records, bytes: report.bytes, ms };
}
