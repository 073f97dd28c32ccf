// A deterministic tree of small files on the local disk, and a way to run a program and
// collect its exit code and output: what test/mount/programs.test.ts and `npm run bench --
// mount` feed through a govfs mount.

import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeShape {
  files: number;
  dirs: number;
  symlinks: number;
  /** Bytes in the files. */
  bytes: number;
  /** Bytes of the symbolic links' targets (their size in `du -b`). */
  linkBytes: number;
}

/** Files per directory: `ls` of one stays a single reply, and there are several levels. */
const PER_DIR = 100;

/** `files` small files under `root` (made here): d<i>/e<j>/f<k>, 100 to a directory, sizes 0
 * to ~2 KB from a fixed sequence (every 17th file empty), a symbolic link in each top-level
 * directory and one empty directory. The same `files` always gives the same bytes. */
export function makeTree(root: string, files: number): TreeShape {
  mkdirSync(root, { recursive: true });
  const shape: TreeShape = { files: 0, dirs: 1, symlinks: 0, bytes: 0, linkBytes: 0 };
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < files; i++) {
    const top = Math.floor(i / (PER_DIR * 10));
    const mid = Math.floor(i / PER_DIR) % 10;
    const dir = join(root, `d${top}`, `e${mid}`);
    if (i % PER_DIR === 0) {
      mkdirSync(dir, { recursive: true });
      shape.dirs += mid === 0 ? 2 : 1;
    }
    const size = i % 17 === 0 ? 0 : next() % 2048;
    const line = `file ${i} of ${files}\n`;
    const data = Buffer.from(line.repeat(Math.ceil(size / line.length) + 1)).subarray(0, size);
    writeFileSync(join(dir, `f${i}`), data);
    shape.files++;
    shape.bytes += size;
    if (i % (PER_DIR * 10) === 0) {
      const target = `e${mid}/f${i}`;
      symlinkSync(target, join(root, `d${top}`, 'first'));
      shape.symlinks++;
      shape.linkBytes += target.length;
    }
  }
  mkdirSync(join(root, 'empty'));
  shape.dirs++;
  return shape;
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run `cmd args` in `cwd` (no shell; messages in the C locale), waiting at most `timeoutMs`;
 * never throws. */
export function run(cmd: string, args: string[], cwd: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Ran> {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, LC_ALL: 'C', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${opts.timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.once('error', (e) => (stderr += String(e)));
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
