// File layouts (issue 17): where each chunk of each file of a ministry lives, replicated in the
// ministry log beside the namespace (MinistryNamespace) and in its snapshot. A layout is keyed by
// the file's inode number, which a rename keeps, so a renamed file keeps its bytes; sizes and
// mtimes stay in the namespace (a data write commits its end as a setSize change).
//
// The minister decides, the log applies: placement (which nodes hold a new chunk) and a
// replica's replacement are computed by the minister from its applied state and proposed as
// entries (PlaceChunks, ReplaceReplica); applying them is deterministic and idempotent: a chunk
// already placed stays as it is, and a replacement applies only over the version it replaces.
// Chunks a truncate or remove lets go are kept as garbage for the chunk stores' GC.

import { FsError } from '../fs/errors.js';
import type { FileLayout, LayoutChunk } from '../fs/requests.js';
import { LogCodec, type LayoutsMsg, type PlaceChunksMsg, type PlacedChunkMsg, type ReplaceReplicaMsg } from '../wire/log-codec.js';

/** Default bytes per chunk (NodeConfig.chunkBytes) and replicas per chunk (chunkReplicas). */
export const DEFAULT_CHUNK_BYTES = 4 << 20;
export const DEFAULT_CHUNK_REPLICAS = 3;
/** Most chunks one placement request may ask for (a bigger write asks again). */
export const MAX_PLACE = 1024;
/** Garbage kept for GC at most (the oldest go: their chunks leak until a store scan). */
const GARBAGE_KEPT = 100_000;
/** Write lease grants remembered per file, for fencing replacements and resizes at apply
 * (in snapshots too: every member must refuse the same stale writer's entry). */
const GRANTS_KEPT = 16;

interface FileChunks {
  chunkSize: number;
  chunks: Map<number, PlacedChunkMsg>;
}

const CODEC = new LogCodec('govfs.log.Layouts');

export class FileLayouts {
  private readonly files = new Map<number, FileChunks>();
  /** Chunks no file refers to any more, oldest first. */
  garbage: PlacedChunkMsg[] = [];

  /** The layout of file `ino` as a client sees it (size and mtime from the namespace). */
  layout(ino: number, size: number, mtime: number): FileLayout {
    const f = this.files.get(ino);
    const chunks: LayoutChunk[] = f ? [...f.chunks.values()].sort((a, b) => a.index - b.index).map(copyChunk) : [];
    return { ino, size, mtime, chunkSize: f?.chunkSize ?? 0, chunks };
  }

  /** Chunks, those with fewer than `wanted` replicas, and replicas per node (for status). */
  summary(wanted: number): { chunks: number; short: number; holders: Map<string, number> } {
    let chunks = 0;
    let short = 0;
    const holders = new Map<string, number>();
    for (const { chunk } of this.allChunks()) {
      chunks++;
      if (chunk.replicas.length < wanted) short++;
      for (const n of chunk.replicas) holders.set(n, (holders.get(n) ?? 0) + 1);
    }
    return { chunks, short, holders };
  }

  chunk(ino: number, index: number): PlacedChunkMsg | undefined {
    return this.files.get(ino)?.chunks.get(index);
  }

  /** Every placed chunk, with its file (status, re-replication). */
  *allChunks(): Iterable<{ ino: number; chunk: PlacedChunkMsg }> {
    for (const [ino, f] of this.files) for (const chunk of f.chunks.values()) yield { ino, chunk };
  }

  applyPlace(e: PlaceChunksMsg): void {
    let f = this.files.get(e.ino);
    if (!f) this.files.set(e.ino, (f = { chunkSize: e.chunkSize, chunks: new Map() }));
    for (const c of e.chunks) if (!f.chunks.has(c.index)) f.chunks.set(c.index, copyChunk(c));
  }

  /** Write leases granted per file, newest last (a few): [token, start, end). */
  private readonly grants = new Map<number, { token: number; start: number; end: number }[]>();

  /** A write lease on [start, end) of file `ino` was granted with `token`. */
  noteWriteGrant(ino: number, token: number, start: number, end: number): void {
    let g = this.grants.get(ino);
    if (!g) this.grants.set(ino, (g = []));
    g.push({ token, start, end });
    if (g.length > GRANTS_KEPT) g.shift();
  }

  /** A write lease granted after the one with `token` covers some of [start, end) of `ino`:
   * that token's holder is a stale writer there. */
  newerWriter(ino: number, token: number, start: number, end: number): boolean {
    return start < end && (this.grants.get(ino) ?? []).some((g) => g.token > token && g.start < end && g.end > start);
  }

  /** Applies only over the chunk and version it replaces, which becomes garbage; and only if
   * no write lease overlapping the chunk was granted after the proposing writer's (its holder
   * may have written to the old chunk after the copy was taken). */
  applyReplace(e: ReplaceReplicaMsg): boolean {
    const c = e.chunk;
    const f = this.files.get(e.ino);
    const old = c ? f?.chunks.get(c.index) : undefined;
    if (!c || !old || old.chunkId !== e.oldChunkId || old.version !== c.version - 1) return false;
    const [start, end] = [c.index * f!.chunkSize, (c.index + 1) * f!.chunkSize];
    if (this.newerWriter(e.ino, e.token, start, end)) return false;
    this.files.get(e.ino)!.chunks.set(c.index, copyChunk(c));
    this.toGarbage(old);
    return true;
  }

  /** The file is `size` bytes now: chunks wholly past it are garbage. */
  trim(ino: number, size: number): void {
    const f = this.files.get(ino);
    if (!f || f.chunkSize === 0) return;
    for (const [i, c] of f.chunks) {
      if (i * f.chunkSize >= size) {
        f.chunks.delete(i);
        this.toGarbage(c);
      }
    }
    if (f.chunks.size === 0) this.files.delete(ino);
  }

  /** The file is gone (removed, or replaced by a rename): all its chunks are garbage. */
  drop(ino: number): void {
    this.grants.delete(ino);
    const f = this.files.get(ino);
    if (!f) return;
    for (const c of f.chunks.values()) this.toGarbage(c);
    this.files.delete(ino);
  }

  // ---- live subtree migration: a moved subtree's files take their layouts along ----

  /** The layouts of files `inos` (no garbage), or null when none of them has one. */
  subset(inos: Iterable<number>): FileLayouts | null {
    const out = new FileLayouts();
    for (const ino of inos) {
      const f = this.files.get(ino);
      if (f) out.applyPlace({ ino, chunkSize: f.chunkSize, chunks: [...f.chunks.values()] });
    }
    return out.files.size === 0 ? null : out;
  }

  /** Take the handed-over layouts `from`, each under its file's new number (`inos`: old ->
   * new; a file not in it keeps its number). */
  adopt(from: FileLayouts, inos: ReadonlyMap<number, number>): void {
    for (const [ino, f] of from.files) {
      const to = inos.get(ino) ?? ino;
      this.files.delete(to);
      this.applyPlace({ ino: to, chunkSize: f.chunkSize, chunks: [...f.chunks.values()] });
      this.grants.delete(to);
    }
  }

  /** Files `inos` moved to another ministry: forget their layouts. Not garbage: the chunks
   * still belong to the files, now kept by the other ministry. */
  forget(inos: Iterable<number>): void {
    for (const ino of inos) {
      this.files.delete(ino);
      this.grants.delete(ino);
    }
  }

  /** The chunk stores deleted these: forget them. */
  dropGarbage(ids: readonly string[]): void {
    const gone = new Set(ids);
    this.garbage = this.garbage.filter((c) => !gone.has(c.chunkId));
  }

  private toGarbage(c: PlacedChunkMsg): void {
    this.garbage.push(c);
    if (this.garbage.length > GARBAGE_KEPT) this.garbage.splice(0, this.garbage.length - GARBAGE_KEPT);
  }

  toBytes(): Uint8Array {
    const grants = [...this.grants].map(([ino, gs]) => ({ ino, grants: gs.map((g) => ({ ...g })) }));
    const msg: LayoutsMsg = { files: [...this.files].map(([ino, f]) => ({ ino, chunkSize: f.chunkSize, chunks: [...f.chunks.values()] })), garbage: this.garbage, grants };
    return CODEC.encode(msg);
  }

  static fromBytes(data: Uint8Array): FileLayouts {
    const out = new FileLayouts();
    if (data.length === 0) return out;
    const m = CODEC.decode(data);
    for (const f of m.files) out.applyPlace({ ino: f.ino, chunkSize: f.chunkSize, chunks: f.chunks });
    out.garbage = m.garbage.map(copyChunk);
    // (Snapshots from before grants were kept have none.)
    for (const f of m.grants ?? []) for (const g of f.grants) out.noteWriteGrant(f.ino, g.token, g.start, g.end);
    return out;
  }
}

// ---- the minister's decisions ------------------------------------------------------------------

export interface PlacementPolicy {
  /** Nodes that run chunk stores (every node of the cluster). */
  nodes: readonly string[];
  /** Nodes to avoid (taken for failed); used only when too few others are left. */
  avoid?: ReadonlySet<string>;
  replicas: number;
  chunkBytes: number;
}

/** `count` distinct nodes for chunk `index` of file `ino`, spread by rotating through the sorted
 * nodes (deterministic: no randomness in the minister's core), avoiding `exclude` and, while
 * others are left, `policy.avoid`. */
export function chooseReplicas(policy: PlacementPolicy, ino: number, index: number, count: number, exclude: ReadonlySet<string> = new Set()): string[] {
  const nodes = [...policy.nodes].sort();
  const start = (ino * 7 + index) % Math.max(1, nodes.length);
  const order = [...nodes.slice(start), ...nodes.slice(0, start)].filter((n) => !exclude.has(n));
  const good = order.filter((n) => !policy.avoid?.has(n));
  const rest = order.filter((n) => policy.avoid?.has(n));
  return [...good, ...rest].slice(0, count);
}

/** The PlaceChunks entry for chunks first .. first + count - 1 of `ino` not yet placed, or
 * null when all are. `idStem` makes chunk ids unique across ministers and time (ministry id,
 * term, the minister's clock and a counter). */
export function placement(layouts: FileLayouts, ino: number, chunkSize: number, first: number, count: number, policy: PlacementPolicy, idStem: string): PlaceChunksMsg | null {
  if (!Number.isSafeInteger(first) || first < 0 || !Number.isSafeInteger(count) || count < 1 || count > MAX_PLACE) {
    throw new FsError('EINVAL', `place chunks ${first}+${count}: want 0 <= first and 1 <= count <= ${MAX_PLACE}`);
  }
  if (policy.nodes.length === 0) throw new FsError('EIO', 'no node to place chunks on');
  const chunks: PlacedChunkMsg[] = [];
  for (let i = first; i < first + count; i++) {
    if (layouts.chunk(ino, i)) continue;
    chunks.push({ index: i, chunkId: `${idStem}-${ino}-${i}`, version: 1, replicas: chooseReplicas(policy, ino, i, Math.min(policy.replicas, policy.nodes.length)) });
  }
  return chunks.length === 0 ? null : { ino, chunkSize, chunks };
}

/** A proposed replacement of chunk `index` whose replicas `failed` did not take a write: a new
 * chunk id (the writer copies the chunk there before the layout changes, so no reader meets a
 * replica set without the bytes), the next version, the other replicas and fresh nodes; or why
 * not: EAGAIN when the layout moved on (the caller fetches it again), EIO when no node is left. */
export function proposeReplacement(layouts: FileLayouts, ino: number, index: number, chunkId: string, version: number, failed: readonly string[], policy: PlacementPolicy, idStem: string): PlacedChunkMsg | FsError {
  const c = layouts.chunk(ino, index);
  if (!c || c.chunkId !== chunkId || c.version !== version) {
    return new FsError('EAGAIN', `chunk ${index} of inode ${ino} is no longer ${chunkId} at version ${version}: fetch the layout again`);
  }
  const keep = c.replicas.filter((r) => !failed.includes(r));
  const fresh = chooseReplicas(policy, ino, index, c.replicas.length - keep.length, new Set([...c.replicas, ...failed]));
  // With too few other nodes the chunk carries on with fewer replicas (under-replicated)
  // rather than refuse every write.
  const replicas = [...keep, ...fresh];
  if (replicas.length === 0) return new FsError('EIO', `chunk ${chunkId}: no node left to hold a replica`);
  return { index, chunkId: `${idStem}-${ino}-${index}`, version: version + 1, replicas };
}

/** The ReplaceReplica entry committing a proposal, or EAGAIN when the layout moved on, EINVAL
 * when the proposal is malformed (unknown or repeated nodes, a bad id). */
export function commitReplacement(layouts: FileLayouts, ino: number, index: number, chunkId: string, version: number, proposed: PlacedChunkMsg, policy: PlacementPolicy, token: number): ReplaceReplicaMsg | FsError {
  const c = layouts.chunk(ino, index);
  if (!c || c.chunkId !== chunkId || c.version !== version) {
    return new FsError('EAGAIN', `chunk ${index} of inode ${ino} is no longer ${chunkId} at version ${version}: fetch the layout again`);
  }
  const { replicas } = proposed;
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(proposed.chunkId) || proposed.chunkId === chunkId) return new FsError('EINVAL', `replace chunk ${chunkId}: bad new chunk id`);
  if (replicas.length === 0 || new Set(replicas).size !== replicas.length || !replicas.every((r) => policy.nodes.includes(r))) {
    return new FsError('EINVAL', `replace chunk ${chunkId}: the replicas must be distinct nodes of the cluster, got ${replicas.join(',')}`);
  }
  return { ino, chunk: { index, chunkId: proposed.chunkId, version: version + 1, replicas: [...replicas] }, oldChunkId: chunkId, token };
}

function copyChunk(c: PlacedChunkMsg): PlacedChunkMsg {
  return { index: c.index, chunkId: c.chunkId, version: c.version, replicas: [...c.replicas] };
}
