// Garbage collection of uncommitted copies (issue 17, point 3). A chunk copy is written to its
// stores before the layout names it: a writer's replacement (proposed, copied, then committed)
// and a re-replication's copy. If the commit never comes (the writer died, the swap did not
// apply, the minister lost its term), the copy is on disk under an id no layout names.
//
// The minister notes every chunk id it proposes for a copy, with its replicas. An id a layout
// (or the garbage list) names is forgotten: it is the layouts' now. One still unnamed graceMs
// after it was proposed is deleted from its replicas; and a commit of a proposal older than
// half the grace is refused (EAGAIN: the writer proposes again), so no commit can name a copy
// the collector deletes. In memory only: a copy left by a minister that lost its term is not
// collected (its ids are never reused, so it is never read either).

import type { PlacedChunkMsg } from '../wire/log-codec.js';

export const DEFAULT_ORPHAN_GRACE_MS = 60_000;
/** Collected ids remembered (a commit naming an older one is refused by age anyway... unless
 * its proposal was forgotten too: ids are remembered far longer than any copy takes). */
const COLLECTED_KEPT = 100_000;

interface Proposed {
  chunk: PlacedChunkMsg;
  at: number;
}

export class UncommittedCopies {
  private readonly proposed = new Map<string, Proposed>();
  /** Ids deleted (or being deleted): never committed from then on. */
  private readonly collected = new Set<string>();

  constructor(readonly graceMs = DEFAULT_ORPHAN_GRACE_MS) {}

  /** The minister proposed chunk `chunk` (a new id) for a copy at `now`. */
  note(chunk: PlacedChunkMsg, now: number): void {
    if (!this.proposed.has(chunk.chunkId)) this.proposed.set(chunk.chunkId, { chunk: { ...chunk, replicas: [...chunk.replicas] }, at: now });
  }

  /** Why a commit naming copy `chunkId` must be refused now, or null. An id this minister did
   * not propose (a predecessor's) is never collected here, so it may commit. */
  refuseCommit(chunkId: string, now: number): string | null {
    if (this.collected.has(chunkId)) return `the copy ${chunkId} was collected as never committed: propose the replacement again`;
    const p = this.proposed.get(chunkId);
    if (p && now - p.at > this.graceMs / 2) return `the proposal ${chunkId} is ${Math.round(now - p.at)} ms old (over ${this.graceMs / 2} ms): propose the replacement again`;
    return null;
  }

  /** Copies to delete now: proposed over graceMs ago and named by no layout (`named`). Those
   * named are forgotten. The ones returned count as collected. */
  due(now: number, named: (chunkId: string) => boolean): PlacedChunkMsg[] {
    const out: PlacedChunkMsg[] = [];
    for (const [id, p] of this.proposed) {
      if (named(id)) this.proposed.delete(id);
      else if (now - p.at > this.graceMs) {
        this.proposed.delete(id);
        this.collected.add(id);
        if (this.collected.size > COLLECTED_KEPT) this.collected.delete(this.collected.values().next().value!);
        out.push(p.chunk);
      }
    }
    return out;
  }

  /** A deletion failed (a replica did not answer): try again on a later round. */
  retry(chunk: PlacedChunkMsg, now: number): void {
    this.proposed.set(chunk.chunkId, { chunk, at: now - this.graceMs });
  }

  get pending(): number {
    return this.proposed.size;
  }
}
