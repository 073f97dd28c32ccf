// The minister's garbage collection of chunks (issue 17): chunks a truncate, remove or replica
// replacement let go (FileLayouts.garbage) are deleted from every node that holds one, a few at
// a time (rate-limited: one batch in flight, at most every GC_EVERY_MS), and once all their
// replicas answered (deleted, or never held), the minister logs that (DropGarbage) so the list
// shrinks. A chunk with a replica on a node that does not answer stays for a later round;
// batches rotate through the list, so such chunks do not stall the rest; a replica on a node
// removed from the cluster counts as deleted (the node is gone for good).
// Garbage is never read again: its ids are never reused, and no layout names it any more.

import type { Context } from '../runtime/types.js';
import type { ChunkDelete, ChunkReply } from '../data/messages.js';
import type { FileLayouts } from './layouts.js';
import { MinistryNamespace } from './ministry-namespace.js';

export const GC_EVERY_MS = 1_000;
const GC_BATCH = 32;

/** What the shell tells itself when a batch is through: the chunks deleted everywhere. */
export interface GcDone {
  type: 'ministry.gc-done';
  ids: string[];
}

export interface ChunkGc {
  /** On the minister's tick: start a batch if none is in flight. */
  tick(ctx: Context, layouts: FileLayouts, removed?: ReadonlySet<string>): void;
  /** A batch is through: the log entry to propose, if any chunk went. */
  done(m: GcDone): Uint8Array | null;
}

export function chunkGc(addressOf: (node: string) => string): ChunkGc {
  let busy = false;
  let last = -Infinity;
  let from = 0;
  return {
    tick(ctx, layouts, removed = new Set()) {
      const now = ctx.clock.now();
      if (busy || layouts.garbage.length === 0 || now - last < GC_EVERY_MS) return;
      last = now;
      busy = true;
      const del = (node: string, chunkId: string, version: number): Promise<boolean> =>
        ctx
          .ask<ChunkReply>(ctx.ref(`${addressOf(node)}/chunks`), { type: 'govfs.data.ChunkDelete', chunkId, version } satisfies ChunkDelete, { timeoutMs: 2_000 })
          .then((r) => r.type === 'govfs.data.ChunkDeleted', () => false);
      if (from >= layouts.garbage.length) from = 0;
      const batch = layouts.garbage.slice(from, from + GC_BATCH);
      from += GC_BATCH;
      const ids = Promise.all(batch.map(async (c) => ((await Promise.all(c.replicas.map((n) => (removed.has(n) ? true : del(n, c.chunkId, c.version))))).every(Boolean) ? c.chunkId : null)));
      ctx.pipeToSelf(
        ids,
        (xs): GcDone => ({ type: 'ministry.gc-done', ids: xs.filter((x): x is string => x !== null) }),
        (): GcDone => ({ type: 'ministry.gc-done', ids: [] }),
      );
    },
    done(m) {
      busy = false;
      return m.ids.length > 0 ? MinistryNamespace.encodeLayout({ op: 'layout.gc', chunkIds: m.ids }) : null;
    },
  };
}
