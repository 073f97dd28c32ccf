// `govfs put LOCAL PATH`, `govfs get PATH LOCAL`, `govfs cat PATH` (issue 17): file contents
// between the local file system and the cluster, with a progress bar on stderr for large files
// (when stderr is a terminal).

import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { RemoteGovClient } from '../client/connect.js';
import { cliPath } from './paths.js';
import type { Out } from './usage.js';

/** Files at least this large get a progress bar. */
const PROGRESS_FROM = 4 << 20;

/** A bar on stderr, at most 10 updates a second; nothing when stderr is not a terminal. */
export function progressBar(label: string, enabled = process.stderr.isTTY): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    if (!enabled || total < PROGRESS_FROM) return;
    const now = Date.now();
    if (now - last < 100 && done < total) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB`);
    if (done >= total) process.stderr.write('\n');
  };
}

type Run = (client: RemoteGovClient, args: string[], flags: Record<string, unknown>, out: Out, cwd: string | undefined) => Promise<number>;

/** What `put` reads from the local file at a time (8 pieces: the write keeps its window full). */
const PUT_SLICE = 8 << 20;

/** Parts of PUT_SLICE bytes from a stream that delivers smaller ones (a pipe gives 64 KiB at a
 * time: each part is one write, acknowledged by every replica, so few large ones). */
async function* coalesced(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  // One buffer, filled again after each yield: writeStream has written a part before it asks
  // for the next (a fresh 8 MiB each time would cost its pages' first touch, as in put below).
  const part = new Uint8Array(PUT_SLICE);
  let n = 0;
  for await (const b of input) {
    for (let at = 0; at < b.length; ) {
      const k = Math.min(b.length - at, PUT_SLICE - n);
      part.set(b.subarray(at, at + k), n);
      n += k;
      at += k;
      if (n === PUT_SLICE) {
        yield part;
        n = 0;
      }
    }
  }
  if (n > 0) yield part.subarray(0, n);
}

/** A local file's error (Node's `ENOENT: no such file or directory, open '/x'`) as one that
 * names the command, the local file and what failed, with its code. */
function localError(op: string, what: string, local: string, e: unknown): Error {
  const err = e as Error & { code?: string };
  const why = (err.message ?? String(e)).replace(/^[A-Z]+: /, '').replace(/, \w+( '.*')?$/, '');
  return Object.assign(new Error(`${op} ${local}: cannot ${what} the local file: ${why}`), err.code ? { code: err.code } : {});
}

/** Under the remote directory `path`, if it is one (cp's rule): PATH/NAME. */
async function intoRemote(client: RemoteGovClient, path: string, name: string): Promise<string> {
  const st = await client.stat(path).catch(() => null);
  return st?.kind === 'dir' && name !== '' ? `${path === '/' ? '' : path}/${name}` : path;
}

export const put: Run = async (client, [local, remote], _flags, _out, cwd) => {
  let path = cliPath(remote!, cwd).path;
  if (local === '-') {
    await client.writeStream(path, coalesced(process.stdin), { progress: progressBar(`put ${path}`) });
    return 0;
  }
  const fh = await open(local!, 'r').catch((e: unknown) => {
    throw localError('put', 'open', local!, e);
  });
  try {
    const total = (await fh.stat()).size;
    path = await intoRemote(client, path, basename(local!));
    // Two buffers in turn, the next slice read while the last one is written: a write copies
    // what it sends (it never keeps the caller's bytes), and a fresh 8 MiB buffer per slice
    // would cost its pages' first touch each time (~3 ms of CPU per MiB on this VM).
    const bufs = [new Uint8Array(PUT_SLICE), new Uint8Array(PUT_SLICE)];
    const readSlice = (k: number): Promise<Uint8Array> =>
      fh.read(bufs[k % 2]!, 0, PUT_SLICE).then(
        ({ bytesRead }) => bufs[k % 2]!.subarray(0, bytesRead),
        (e: unknown) => {
          throw localError('put', 'read', local!, e);
        },
      );
    async function* slices(): AsyncGenerator<Uint8Array> {
      let next = readSlice(0);
      for (let k = 0; ; k++) {
        const slice = await next;
        if (slice.length === 0) return;
        // (Reads go on in file order: fh.read without a position reads on from the last.)
        next = readSlice(k + 1);
        next.catch(() => undefined);
        yield slice;
      }
    }
    await client.writeStream(path, slices(), { total, progress: progressBar(`put ${path}`) });
  } finally {
    await fh.close();
  }
  return 0;
};

export const get: Run = async (client, [remote, local], flags, out, cwd) => {
  if (local === '-') return cat(client, [remote!], flags, out, cwd);
  const path = cliPath(remote!, cwd).path;
  // Into a local directory as PATH's name (cp's rule). Piece by piece into a file beside the
  // target, renamed over it at the end: memory stays constant whatever the file's size, and a
  // get that fails leaves the target as it was. (A target that is not a regular file,
  // /dev/stdout say, is written in place.)
  let target = local!;
  let st = await stat(target).catch(() => null);
  if (st?.isDirectory()) {
    if (basename(path) === '') throw new Error(`get ${path}: not a file: give the local file a name`);
    target = join(target, basename(path));
    st = await stat(target).catch(() => null);
  }
  const inPlace = st !== null && !st.isFile();
  const into = inPlace ? target : join(dirname(target), `.${basename(target)}.govfs-get-${process.pid}`);
  const fh = await open(into, 'w').catch((e: unknown) => {
    throw localError('get', 'write', target, e);
  });
  try {
    for await (const piece of client.readStream(path, { progress: progressBar(`get ${path}`) })) {
      await fh.write(piece).catch((e: unknown) => {
        throw localError('get', 'write', target, e);
      });
    }
    await fh.close();
    if (!inPlace) await rename(into, target);
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (!inPlace) await rm(into, { force: true });
    throw e;
  }
  return 0;
};

export const cat: Run = async (client, args, _flags, _out, cwd) => {
  for (const a of args) {
    for await (const piece of client.readStream(cliPath(a, cwd).path)) {
      await new Promise<void>((resolve, reject) => process.stdout.write(piece, (e) => (e ? reject(e) : resolve())));
    }
  }
  return 0;
};
