// Whole-file calls (issue 17) over a handle's operations (file-data.ts): each takes one lease
// for the call. writeFile/readFile hold the file in memory; writeStream/readStream pass it a
// part at a time, so a file of any size goes through in constant memory (`govfs put/get/cat`).

import type { FileData, Progress } from './file-data.js';
import type { LeaseHandle, OpenOptions } from './leases.js';

/** What the whole-file calls use of the client. */
export interface FileOpener {
  create(path: string): Promise<void>;
  open(path: string, opts: OpenOptions): Promise<LeaseHandle>;
}

/** Opens `path` for writing (made if missing), empty, and runs `fill` on the handle. */
async function replace(data: FileData, client: FileOpener, path: string, fill: (h: LeaseHandle) => Promise<void>): Promise<void> {
  await client.create(path).catch((e: unknown) => {
    if ((e as { code?: unknown }).code !== 'EEXIST') throw e;
  });
  const h = await client.open(path, { mode: 'write' });
  try {
    if ((await data.size(h)) > 0) await data.truncate(h, 0);
    await fill(h);
  } finally {
    await h.close();
  }
}

export function writeFile(data: FileData, client: FileOpener, path: string, bytes: Uint8Array, progress?: Progress): Promise<void> {
  return replace(data, client, path, (h) => data.write(h, 0, bytes, progress));
}

/** Create or replace the file with the bytes `source` yields, in order (`total`, if known, is
 * what progress counts towards). */
export function writeStream(data: FileData, client: FileOpener, path: string, source: AsyncIterable<Uint8Array>, total = 0, progress?: Progress): Promise<void> {
  return replace(data, client, path, async (h) => {
    let at = 0;
    for await (const part of source) {
      const from = at;
      await data.write(h, from, part, progress && ((done) => progress(from + done, Math.max(total, from + part.length))));
      at += part.length;
    }
  });
}

export async function readFile(data: FileData, client: FileOpener, path: string, progress?: Progress): Promise<Uint8Array> {
  const h = await client.open(path, { mode: 'read' });
  try {
    return await data.read(h, 0, await data.size(h), progress);
  } finally {
    await h.release();
  }
}

/** The file's bytes piece by piece, in order (FileData.readPieces); the lease is released at
 * the end, or when the caller stops early. */
export async function* readStream(data: FileData, client: FileOpener, path: string, progress?: Progress): AsyncGenerator<Uint8Array, void, undefined> {
  const h = await client.open(path, { mode: 'read' });
  try {
    yield* data.readPieces(h, 0, await data.size(h), progress);
  } finally {
    await h.release();
  }
}

export async function truncateFile(data: FileData, client: FileOpener, path: string, size: number): Promise<void> {
  const h = await client.open(path, { mode: 'write' });
  try {
    await data.truncate(h, size);
  } finally {
    await h.close();
  }
}
