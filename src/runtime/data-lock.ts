// One owner per data folder. Two clusters (or two `govfs node`s) started on the same folder
// would both write the same Raft logs and lmdb databases, and corrupt each other without a
// word; so whoever starts on a folder first takes its LOCK file (created exclusively, holding
// the owner's pid), and the second is refused with EBUSY, naming the first. A LOCK whose
// process is gone (killed, crashed) is stale and taken over.

import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RuntimeError } from './errors.js';

export const LOCK_FILE = 'LOCK';

/** A LOCK file younger than this with nothing readable in it is being written, not stale. */
const FRESH_MS = 5_000;

/** Folders this process holds (a second cluster in the same process is refused too). */
const held = new Set<string>();

export interface DataDirLock {
  readonly dir: string;
  /** Give the folder up (idempotent). */
  release(): void;
}

interface Holder {
  pid: number;
  owner: string;
  since: string;
}

/** Take `dir`'s lock for `owner` (e.g. "govfs cluster"), creating the folder if needed, or
 * throw EBUSY naming who holds it. */
export function lockDataDir(dir: string, owner: string): DataDirLock {
  const abs = resolve(dir);
  const file = join(abs, LOCK_FILE);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw new RuntimeError('EIO', `cannot create data folder ${abs}: ${(e as Error).message}`, { cause: e });
  }
  if (held.has(abs)) throw new RuntimeError('EBUSY', `${abs} is in use by another cluster in this process: stop it first, or use another data folder`);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new RuntimeError('EIO', `cannot lock data folder ${abs}: ${(e as Error).message}`, { cause: e });
      const holder = readHolder(file);
      if (holder === 'fresh') throw new RuntimeError('EBUSY', `${abs} is being taken by another process (${file} was just created): stop it first, or use another data folder`);
      if (holder !== null && holder.pid !== process.pid && alive(holder.pid)) {
        throw new RuntimeError('EBUSY', `${abs} is in use by process ${holder.pid} (${holder.owner}, since ${holder.since}): stop it first, or use another data folder. If process ${holder.pid} is not govfs, remove ${file}`);
      }
      // Stale: its process is gone, or it is this process's own, left by an owner that never
      // released it.
      try {
        unlinkSync(file);
      } catch (u) {
        if ((u as NodeJS.ErrnoException).code !== 'ENOENT') throw new RuntimeError('EIO', `cannot remove the stale lock ${file}: ${(u as Error).message}`, { cause: u });
      }
      continue;
    }
    try {
      const me: Holder = { pid: process.pid, owner, since: new Date().toISOString() };
      writeSync(fd, `${JSON.stringify(me)}\n`);
    } finally {
      closeSync(fd);
    }
    held.add(abs);
    let released = false;
    return {
      dir: abs,
      release: () => {
        if (released) return;
        released = true;
        held.delete(abs);
        const h = readHolder(file);
        if (h !== null && h !== 'fresh' && h.pid === process.pid) {
          try {
            unlinkSync(file);
          } catch {
            // Already gone: nothing to give up.
          }
        }
      },
    };
  }
  throw new RuntimeError('EBUSY', `could not lock ${abs}: another process keeps taking ${file}`);
}

/** Who holds the lock; null if nobody (the file is gone, or unreadable and old), 'fresh' if
 * the file is too new to have its contents yet. */
function readHolder(file: string): Holder | null | 'fresh' {
  let text: string;
  let age: number;
  try {
    text = readFileSync(file, 'utf8');
    age = Date.now() - statSync(file).mtimeMs;
  } catch {
    return null;
  }
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h.pid === 'number' && Number.isSafeInteger(h.pid) && h.pid > 0) return { pid: h.pid, owner: String(h.owner ?? 'unknown'), since: String(h.since ?? 'unknown') };
  } catch {
    // Unreadable: see its age.
  }
  return age < FRESH_MS ? 'fresh' : null;
}

/** Is there a process `pid`? (EPERM: there is, owned by someone else.) */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
