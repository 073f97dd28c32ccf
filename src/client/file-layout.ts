// Helpers of the data plane's client (file-data.ts): a layout's chunks, a layout from a
// ministry's answer, and a bounded pool of pieces in flight (apart so that file-data.ts stays
// under 600 lines).

import { FsError } from '../fs/errors.js';
import type { FileLayout, FsResult, LayoutChunk } from '../fs/requests.js';

export function chunkOf(l: FileLayout, index: number): LayoutChunk | undefined {
  // Layouts are sorted by index and small next to the bytes they describe.
  for (const c of l.chunks) if (c.index === index) return c;
  return undefined;
}

export function layoutOf(r: FsResult | undefined, path: string): FileLayout {
  const l = r?.result === 'layoutGet' ? r.layoutGet : r?.result === 'layoutPlace' ? r.layoutPlace : r?.result === 'layoutReplace' ? r.layoutReplace : undefined;
  if (!l) throw new FsError('EIO', `${path}: the server answered without a layout (${r?.result ?? 'no result'})`, path);
  // As plain data (a decoded message's prototype would write 64-bit fields as strings).
  return { ino: l.ino, size: l.size, mtime: l.mtime, chunkSize: l.chunkSize, chunks: (l.chunks ?? []).map((c) => ({ index: c.index, chunkId: c.chunkId, version: c.version, replicas: [...c.replicas] })) };
}

/** Run `each` over `items`, at most `width` at once; the first failure rejects (after the
 * others in flight settle). */
export async function pool<T>(items: readonly T[], width: number, each: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === null) {
      const x = items[next++]!;
      try {
        await each(x);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failure !== null) throw failure;
}
