// One owner per data folder: a second one is refused with EBUSY naming the first; a lock
// whose process is gone is taken over.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../../src/runtime/data-lock.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'govfs-lock-'));
  dirs.push(d);
  return d;
};
const holderFile = (dir: string, pid: number) => writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify({ pid, owner: 'govfs cluster', since: '2026-01-01T00:00:00.000Z' })}\n`);

describe('data folder lock', () => {
  it('a second owner in the same process is refused until the first releases', () => {
    const dir = tempDir();
    const first = lockDataDir(join(dir, 'data'), 'first'); // the folder is created
    expect(JSON.parse(readFileSync(join(dir, 'data', LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, owner: 'first' });
    expect(() => lockDataDir(join(dir, 'data'), 'second')).toThrow(expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/in use by another cluster in this process/) }));
    first.release();
    first.release(); // idempotent
    expect(existsSync(join(dir, 'data', LOCK_FILE))).toBe(false);
    lockDataDir(join(dir, 'data'), 'second').release();
  });

  it('a folder held by a live process is refused with its pid; once that process is gone the lock is taken over', async () => {
    const dir = tempDir();
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      holderFile(dir, other.pid!);
      expect(() => lockDataDir(dir, 'me')).toThrow(expect.objectContaining({ code: 'EBUSY', message: expect.stringContaining(`in use by process ${other.pid} (govfs cluster`) }));
    } finally {
      const exited = new Promise((r) => other.once('exit', r));
      other.kill('SIGKILL');
      await exited;
    }
    const lock = lockDataDir(dir, 'me'); // the holder died without releasing: stale
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('a lock left by a process that exited is stale', () => {
    const dir = tempDir();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    holderFile(dir, Number(gone.stdout));
    lockDataDir(dir, 'me').release();
  });

  it('an unreadable lock file is being written while fresh, and stale once old', () => {
    const dir = tempDir();
    const file = join(dir, LOCK_FILE);
    writeFileSync(file, '');
    expect(() => lockDataDir(dir, 'me')).toThrow(expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/being taken by another process/) }));
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(file, old, old);
    lockDataDir(dir, 'me').release();
  });
});
