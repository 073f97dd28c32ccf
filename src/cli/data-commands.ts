// `govfs put LOCAL PATH`, `govfs get PATH LOCAL`, `govfs cat PATH` (issue 17): file contents
// between the local file system and the cluster, with a progress bar on stderr for large files
// (when stderr is a terminal).

import { readFile, writeFile } from 'node:fs/promises';
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

export const put: Run = async (client, [local, remote], _flags, _out, cwd) => {
  const path = cliPath(remote!, cwd).path;
  const data = await readFile(local!);
  await client.writeFile(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { progress: progressBar(`put ${path}`) });
  return 0;
};

export const get: Run = async (client, [remote, local], _flags, _out, cwd) => {
  const path = cliPath(remote!, cwd).path;
  const data = await client.readFile(path, { progress: progressBar(`get ${path}`) });
  await writeFile(local!, data);
  return 0;
};

export const cat: Run = async (client, args, _flags, _out, cwd) => {
  for (const a of args) {
    const data = await client.readFile(cliPath(a, cwd).path);
    await new Promise<void>((resolve, reject) => process.stdout.write(data, (e) => (e ? reject(e) : resolve())));
  }
  return 0;
};
