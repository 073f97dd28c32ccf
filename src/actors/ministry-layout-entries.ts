// File layouts in a ministry's log (issue 17; the data plane beside thesis 3.3's replicated
// namespace): how the entries that place, replace and collect chunks apply, how layouts follow
// the namespace's own changes (a removed file's chunks and a truncated tail become garbage, a
// stale writer's resize is refused), and the minister's decision on a layout request
// (layouts.ts places and replaces). Cut out of ministry-namespace.ts, which keeps the state (one
// namespace, one FileLayouts, snapshotted and restored together) and applies entries in log
// order: these take that state as arguments.

import { FsError } from '../fs/errors.js';
import type { FsErrorData } from '../fs/errors.js';
import type { ClientOp, FileLayout } from '../fs/requests.js';
import type { ClientOp as NsClientOp, MutationOp, Namespace, OpOk, Stat } from '../fs/namespace.js';
import { commitReplacement, placement, proposeReplacement, type FileLayouts, type PlacementPolicy } from './layouts.js';
import type { LeaseEntry } from './leases.js';
import type { LayoutEntry } from './ministry-entry.js';

/** The file or directory at `path`, or undefined when there is none (or the path is bad). */
export function fileStat(ns: Namespace, path: string): Stat | undefined {
  try {
    return ns.stat(path);
  } catch (e) {
    if (e instanceof FsError) return undefined;
    throw e;
  }
}

/** Apply a committed PlaceChunks, ReplaceReplica or chunk collection entry. */
export function applyLayoutEntry(layouts: FileLayouts, e: LayoutEntry): void {
  if (e.op === 'layout.place') layouts.applyPlace(e);
  else if (e.op === 'layout.gc') layouts.dropGarbage(e.chunkIds);
  else layouts.applyReplace(e);
}

/** A write lease granted on a file: its token fences older writers' replacements and resizes. */
export function noteWriteGrant(ns: Namespace, layouts: FileLayouts, g: Extract<LeaseEntry, { op: 'lease.grant' }>, token: number): void {
  const st = fileStat(ns, g.path);
  if (st?.kind === 'file') layouts.noteWriteGrant(st.ino, token, g.start, g.end ?? Infinity);
}

/** The inode of the file a client's rm (or a rename over a file) is about to remove: only
 * when that name is its last link (git writes an object, links it, unlinks the temp name). */
export function doomedFile(ns: Namespace, op: unknown): number | undefined {
  if ((op as { op?: unknown }).op !== 'client') return undefined;
  const body = (op as NsClientOp).body;
  const path = body.op === 'rm' ? body.path : body.op === 'rename' ? body.to : undefined;
  if (path === undefined) return undefined;
  const st = fileStat(ns, path);
  return st?.kind === 'file' && st.nlink <= 1 ? st.ino : undefined;
}

/** Layouts follow the namespace: a removed file's chunks and a truncated file's tail become
 * garbage. (A file of a directory removed recursively keeps its layout until a GC scan.) */
export function layoutsAfter(ns: Namespace, layouts: FileLayouts, r: OpOk, doomed: number | undefined): void {
  // (A retry answered from its saved result applied nothing.)
  if (ns.lastClientOutcome !== 'new') return;
  if (r.op === 'setSize') layouts.trim(r.stat.ino, r.stat.size);
  else if (doomed !== undefined && (r.op === 'rm' || (r.op === 'rename' && r.replaced))) layouts.drop(doomed);
}

/** ESTALE when a write lease granted after this resize's writer's covers bytes it changes. */
export function staleResize(ns: Namespace, layouts: FileLayouts, body: Extract<MutationOp, { op: 'setSize' }>): FsErrorData | null {
  const st = fileStat(ns, body.path);
  if (st?.kind !== 'file' || body.token === undefined) return null;
  const size = body.extend === true ? Math.max(st.size, body.size) : body.size;
  const [lo, hi] = [Math.min(st.size, size), Math.max(st.size, size)];
  if (!layouts.newerWriter(st.ino, body.token, lo, hi)) return null;
  return { code: 'ESTALE', message: `resize of ${body.path} to ${size} bytes refused: a newer writer's lease covers bytes ${lo}-${hi} it would change (this writer's lease, token ${body.token}, was replaced)`, path: body.path };
}

/** The layout of the file at `path` (ENOENT, EISDIR as FsError). */
export function layoutOf(ns: Namespace, layouts: FileLayouts, path: string): FileLayout {
  const st = ns.stat(path);
  if (st.kind !== 'file') throw new FsError('EISDIR', `layout of ${path}: is a directory (only files have contents)`, path);
  return layouts.layout(st.ino, st.size, st.mtime);
}

/** The minister's entry for a layout request (layouts.ts decides); null when the layout
 * answers it as it is (every chunk asked for is placed, the chunk to replace moved on); or a
 * layout to answer with, logged nowhere (a proposed replacement in place of its chunk).
 * Throws FsError (ENOENT, EISDIR, EINVAL, EIO). */
export function layoutChange(ns: Namespace, layouts: FileLayouts, op: Extract<ClientOp, { op: 'layout-place' | 'layout-replace' }>, policy: PlacementPolicy, idStem: string): LayoutEntry | FileLayout | null {
  const st = ns.stat(op.path);
  if (st.kind !== 'file') throw new FsError('EISDIR', `${op.op} ${op.path}: is a directory (only files have contents)`, op.path);
  if (op.op === 'layout-place') {
    // (No bytes: only the layout, from the minister.)
    if (op.length === 0) return null;
    const chunkSize = layouts.layout(st.ino, 0, 0).chunkSize || policy.chunkBytes;
    if (!Number.isSafeInteger(op.offset + op.length)) throw new FsError('EINVAL', `layout-place ${op.path}: bad byte range ${op.offset}+${op.length}`, op.path);
    const first = Math.floor(op.offset / chunkSize);
    const e = placement(layouts, st.ino, chunkSize, first, Math.floor((op.offset + op.length - 1) / chunkSize) - first + 1, policy, idStem);
    return e && { op: 'layout.place', ...e };
  }
  if (op.newChunkId === '') {
    const p = proposeReplacement(layouts, st.ino, op.index, op.chunkId, op.version, op.failed.split(','), policy, idStem);
    if (p instanceof FsError) throw movedOn(p, op.path);
    const layout = layouts.layout(st.ino, st.size, st.mtime);
    layout.chunks = layout.chunks.map((c) => (c.index === op.index ? p : c));
    return layout;
  }
  const proposed = { index: op.index, chunkId: op.newChunkId, version: op.version + 1, replicas: op.replicas };
  const e = commitReplacement(layouts, st.ino, op.index, op.chunkId, op.version, proposed, policy, op.token);
  if (e instanceof FsError) throw movedOn(e, op.path);
  return { op: 'layout.replace', ...e };
}

/** A replacement of a chunk that is no longer the layout's: ESTALE (the writer fetches the
 * layout again), never EAGAIN, which the client library retries as it is. */
function movedOn(e: FsError, path: string): FsError {
  return e.code === 'EAGAIN' ? new FsError('ESTALE', e.message, path) : e;
}
