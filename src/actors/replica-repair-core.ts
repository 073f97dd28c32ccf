// Re-replication (issue 17, point 4): the minister's decisions on chunks with fewer good replicas
// than wanted. Pure: the shell (replica-repair.ts) feeds it what it heard from the chunk stores
// and the time, and carries out the jobs it returns.
//
// A replica is not good when its node
//   - was removed from the cluster, or is leaving it (a leaving node may still be copied from);
//   - has not answered the minister's probes for downAfterMs (taken for down: a down node may
//     come back, but its chunks must not wait for it);
//   - reported the chunk damaged (a block failed its checksum: the store flags it, the probe's
//     listing says so).
// A chunk with such a replica, or with fewer replicas than wanted while more nodes are up, is
// copied from a good replica to a new chunk id at the next version on the good replicas and
// fresh nodes (copy-on-replace, as a writer's replacement: no reader ever meets a replica set
// without the bytes), and the swap is logged as a ReplaceReplica entry. A chunk under a live
// write lease waits (its writer may be writing the old copy; a lease granted after the copy began
// makes the swap not apply: layouts.ts applyReplace).
//
// New replicas go, where there are several hosts, to hosts that hold no copy yet.
//
// Rate-limited: at most maxInFlight chunks copied at once, and bytesPerSec over time (a token
// bucket of one second's bytes, charged a chunk's bytes times its new replicas when it starts;
// a chunk starts once the bucket holds its charge).

import { chooseReplicas } from './layouts.js';
import type { PlacedChunkMsg } from '../wire/log-codec.js';

export interface RepairOptions {
  /** Chunks copied at once at most. Default 2. */
  maxInFlight?: number;
  /** Bytes written per second at most, over all copies. Default 32 MiB/s. */
  bytesPerSec?: number;
  /** A chunk store silent this long is taken for down. Default 10 s. */
  downAfterMs?: number;
  /** A copy no layout names this long after it was proposed is deleted (uncommitted-copies.ts).
   * Default 60 s. */
  orphanGraceMs?: number;
}

export const DEFAULT_REPAIR: Required<RepairOptions> = { maxInFlight: 2, bytesPerSec: 32 << 20, downAfterMs: 10_000, orphanGraceMs: 60_000 };

export interface RepairJob {
  ino: number;
  index: number;
  /** The chunk as the layout has it now. */
  old: PlacedChunkMsg;
  /** Good replicas to read it from, best first. */
  sources: string[];
  /** What it becomes: a new id, the next version, the good replicas and fresh nodes. */
  next: PlacedChunkMsg;
  /** Bytes charged to the rate limit. */
  bytes: number;
  why: string;
}

/** What the core sees of the ministry and the cluster on one tick. */
export interface RepairView {
  chunks: Iterable<{ ino: number; chunk: PlacedChunkMsg }>;
  /** Cluster members (removed ones left out). */
  nodes: readonly string[];
  leaving: ReadonlySet<string>;
  wanted: number;
  /** Bytes of the chunk at most (for the rate limit). */
  chunkBytes: number;
  /** A write lease may be writing this chunk now: leave it for later. */
  busy(ino: number, index: number): boolean;
  /** A fresh chunk id for chunk `index` of `ino` (unique across ministers and time). */
  newId(ino: number, index: number): string;
  /** The host node `node` runs on (copies spread across hosts); absent: one host. */
  hostOf?: (node: string) => string;
}

/** Why chunk `c` needs repair, and how, or null when it does not (or cannot be). */
interface Need {
  sources: string[];
  keep: string[];
  targets: string[];
  why: string;
}

const NONE: ReadonlySet<string> = new Set();

export class ReplicaRepairCore {
  private readonly o: Required<RepairOptions>;
  private readonly heardAt = new Map<string, number>();
  /** Damaged replicas by chunk id (their stores flagged them). */
  private readonly bad = new Map<string, Set<string>>();
  /** Jobs started, by old chunk id, until the layout moved past them or they time out. */
  private readonly jobs = new Map<string, { job: RepairJob; until: number }>();
  private budget: number;
  private budgetAt: number;
  /** Chunks repaired (their swap proposed), for status and tests. */
  repaired = 0;

  constructor(
    opts: RepairOptions,
    private readonly since: number,
  ) {
    this.o = { ...DEFAULT_REPAIR, ...opts };
    this.budget = this.o.bytesPerSec;
    this.budgetAt = since;
  }

  /** Node `node`'s chunk store answered a probe. */
  heard(node: string, now: number): void {
    this.heardAt.set(node, now);
  }

  isDown(node: string, now: number): boolean {
    return (this.heardAt.get(node) ?? this.since) < now - this.o.downAfterMs;
  }

  /** Node `node` holds a damaged copy of `chunkId`. */
  reportBad(chunkId: string, node: string): void {
    let s = this.bad.get(chunkId);
    if (!s) this.bad.set(chunkId, (s = new Set()));
    s.add(node);
  }

  badReplicas(chunkId: string): readonly string[] {
    return [...(this.bad.get(chunkId) ?? [])];
  }

  inFlight(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (j.until === Infinity) n++;
    return n;
  }

  /** Chunks that need repair now (status: under-replicated), whether or not one can start. */
  short(view: RepairView, now: number): number {
    let n = 0;
    const at = this.at(view, now);
    for (const { ino, chunk } of view.chunks) if (this.need(ino, chunk, view, at, true)) n++;
    return n;
  }

  /** The jobs to start now (marked started), within the rate limit. */
  plan(view: RepairView, now: number): RepairJob[] {
    this.refill(now);
    const live = new Set<string>();
    for (const { chunk } of view.chunks) live.add(chunk.chunkId);
    for (const [id, j] of this.jobs) if (j.until < now || (j.until !== Infinity && !live.has(id))) this.jobs.delete(id);
    for (const id of this.bad.keys()) if (!live.has(id)) this.bad.delete(id);
    const out: RepairJob[] = [];
    const at = this.at(view, now);
    for (const { ino, chunk } of view.chunks) {
      if (this.inFlight() >= this.o.maxInFlight) break;
      if (this.jobs.has(chunk.chunkId) || view.busy(ino, chunk.index)) continue;
      const need = this.need(ino, chunk, view, at, false);
      if (!need) continue;
      const replicas = [...need.keep, ...need.targets];
      const job: RepairJob = {
        ino,
        index: chunk.index,
        old: { ...chunk, replicas: [...chunk.replicas] },
        sources: need.sources,
        next: { index: chunk.index, chunkId: view.newId(ino, chunk.index), version: chunk.version + 1, replicas },
        bytes: view.chunkBytes * replicas.length,
        why: need.why,
      };
      // (A job bigger than a second's bytes waits for a full bucket.)
      if (this.budget < Math.min(job.bytes, this.o.bytesPerSec)) break;
      this.budget -= job.bytes;
      this.jobs.set(chunk.chunkId, { job, until: Infinity });
      out.push(job);
    }
    return out;
  }

  /** A job is through: `ok` (its swap proposed) keeps the chunk out of new jobs for `holdMs`,
   * until the swap applies; a failure frees it at once. Sources that failed their checksum are
   * noted damaged. */
  finished(job: RepairJob, ok: boolean, now: number, damaged: readonly string[] = [], holdMs = 5_000): void {
    for (const n of damaged) this.reportBad(job.old.chunkId, n);
    if (ok) {
      this.repaired++;
      this.jobs.set(job.old.chunkId, { job, until: now + holdMs });
    } else this.jobs.delete(job.old.chunkId);
  }

  private refill(now: number): void {
    this.budget = Math.min(this.o.bytesPerSec, this.budget + ((now - this.budgetAt) * this.o.bytesPerSec) / 1000);
    this.budgetAt = now;
  }

  /** What every chunk's decision shares on one pass: members, those up, those to place on. */
  private at(view: RepairView, now: number): { members: Set<string>; up: Set<string>; eligible: string[] } {
    const members = new Set(view.nodes);
    const up = new Set(view.nodes.filter((n) => !this.isDown(n, now)));
    return { members, up, eligible: view.nodes.filter((n) => up.has(n) && !view.leaving.has(n)) };
  }

  private need(ino: number, c: PlacedChunkMsg, view: RepairView, at: ReturnType<ReplicaRepairCore['at']>, counting: boolean): Need | null {
    const { members, up, eligible } = at;
    const bad = this.bad.get(c.chunkId) ?? NONE;
    const sources = c.replicas.filter((n) => up.has(n) && !bad.has(n));
    const keep = sources.filter((n) => !view.leaving.has(n));
    const wanted = Math.min(view.wanted, eligible.length);
    const dropped = c.replicas.filter((n) => !keep.includes(n));
    if (dropped.length === 0 && c.replicas.length >= wanted) return null;
    if (counting) return { sources, keep, targets: [], why: '' };
    if (sources.length === 0) return null; // no good copy left: nothing to copy from
    const policy = { nodes: eligible, avoid: bad, replicas: view.wanted, chunkBytes: view.chunkBytes };
    const order = chooseReplicas(policy, ino, c.index, eligible.length, new Set(c.replicas.filter((n) => !bad.has(n))));
    const targets = spread(order, keep, Math.max(0, wanted - keep.length), view.hostOf);
    // Nothing gained: a down (not removed) replica with no node to take its place stays listed.
    const removed = dropped.filter((n) => !members.has(n) || bad.has(n) || view.leaving.has(n));
    if (targets.length === 0 && removed.length === 0) return null;
    if (keep.length + targets.length === 0) return null;
    const why = [
      ...dropped.map((n) => `${n} ${!members.has(n) ? 'removed' : bad.has(n) ? 'damaged' : view.leaving.has(n) ? 'leaving' : 'down'}`),
      ...(c.replicas.length < wanted ? [`${c.replicas.length} of ${wanted} replicas`] : []),
    ].join(', ');
    return { sources: [...keep, ...sources.filter((n) => !keep.includes(n))], keep, targets, why };
  }
}

/** `count` of `order` (best first), those on hosts none of `keep` nor an earlier pick is on
 * first (spread across hosts when there are several). */
function spread(order: readonly string[], keep: readonly string[], count: number, hostOf?: (node: string) => string): string[] {
  if (!hostOf) return order.slice(0, count);
  const used = new Set(keep.map(hostOf));
  const out: string[] = [];
  for (const n of order) {
    if (out.length < count && !used.has(hostOf(n))) {
      out.push(n);
      used.add(hostOf(n));
    }
  }
  for (const n of order) if (out.length < count && !out.includes(n)) out.push(n);
  return out;
}
