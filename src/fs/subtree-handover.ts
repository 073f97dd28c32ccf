// Live subtree migration (issue 16) at the level of one namespace: cut a subtree out as a
// namespace of its own (what the source ministry hands over), graft such a namespace into
// another at its path (what the target installs), and drop a subtree (what the source does once
// the map has moved it). Pure functions over snapshot bytes (namespace-snapshot.ts): a migration
// is rare, so a pass over the whole namespace each time costs nothing worth a second form.
//
// Exactly-once across a migration: the handed-over namespace carries EVERY client's completion
// record of the source, so that a retry of a change the source applied (its answer lost) finds
// its saved result at the target instead of applying again. Records of the same client merge:
// the higher acknowledgement wins, saved results of both are kept above it.
//
// Inode numbers are unique within a ministry: grafted nodes are numbered anew from the target's
// counter. Versions come from one counter per namespace: the target's counter jumps past the
// source's, so that every inode's version still only grows and (path, version) still names
// one listing.

import { FsError } from './errors.js';
import type { ClientState, INode } from './inode.js';
import { decodeNamespace, encodeNamespace, type NamespaceState } from './namespace-snapshot.js';
import { formatPath, parsePath } from './path.js';
import { IntTable } from '../runtime/int-table.js';

/** Segments of `path` below `root`, or null when it is not inside it. */
function below(root: string, path: string): string[] | null {
  const r = parsePath(root);
  const p = parsePath(path);
  if (p.length < r.length || r.some((s, i) => p[i] !== s)) return null;
  return p.slice(r.length);
}

/** The node at `rel` below the root, or undefined. */
function nodeAt(root: INode, rel: readonly string[]): INode | undefined {
  let n: INode | undefined = root;
  for (const s of rel) {
    if (n?.children == null) return undefined;
    n = n.children.get(s);
  }
  return n;
}

function copyClients(from: Map<string, ClientState>): Map<string, ClientState> {
  const out = new Map<string, ClientState>();
  for (const [id, r] of from) {
    const results: ClientState['results'] = new IntTable(8);
    for (const [seq, res] of r.results.sortedEntries()) results.set(seq, res);
    out.set(id, { acked: r.acked, results, lastSeen: r.lastSeen });
  }
  return out;
}

/** Why `path` of the namespace in `snapshot` cannot be handed over, or null: it must be a
 * directory strictly inside the namespace's root, or the root itself (a merge hands over the
 * child ministry's whole namespace). */
export function handoverProblem(snapshot: Uint8Array, path: string): string | null {
  const st = decodeNamespace(snapshot);
  const rel = below(st.root, path);
  if (rel === null) return `${path} is not in the subtree ${st.root} of this ministry`;
  const n = nodeAt(st.rootNode, rel);
  if (n === undefined) return `${path}: no such directory`;
  if (n.children === null) return `${path} is a file (only a directory can move to another ministry)`;
  // A file linked both inside and outside would become two files (one per ministry).
  const links = new Map<INode, number>();
  countLinks(n, links);
  for (const [f, k] of links) if (f.nlink > k) return `${path} holds a hard link to a file (inode ${f.ino}) also linked outside it`;
  return null;
}

function countLinks(n: INode, links: Map<INode, number>): void {
  for (const c of n.children!.values()) {
    if (c.children !== null) countLinks(c, links);
    else links.set(c, (links.get(c) ?? 0) + 1);
  }
}

/** The inode numbers of the files (and symlinks) of the subtree at `path` (none when it is
 * not a directory there): what a ministry's file layouts are keyed by. */
export function subtreeFileInos(snapshot: Uint8Array, path: string): number[] {
  const st = decodeNamespace(snapshot);
  const rel = below(st.root, path);
  const n = rel === null ? undefined : nodeAt(st.rootNode, rel);
  if (n?.children == null) return [];
  const links = new Map<INode, number>();
  countLinks(n, links);
  return [...links.keys()].map((f) => f.ino);
}

/** The subtree at `path` as a namespace rooted there, with every client's record. EINVAL
 * when it is no directory of this namespace (handoverProblem says why). */
export function extractSubtree(snapshot: Uint8Array, path: string): Uint8Array {
  const st = decodeNamespace(snapshot);
  const problem = handoverProblem(snapshot, path);
  if (problem !== null) throw new FsError('EINVAL', `cannot hand over ${path}: ${problem}`, path);
  const node = nodeAt(st.rootNode, below(st.root, path)!)!;
  return encodeNamespace({ root: path, version: st.version, nextIno: st.nextIno, rootNode: node, clients: st.clients });
}

/** Renumber `n` and everything below it from `next` (a hard-linked file once), noting
 * old -> new in `inos`; the next free number. */
function renumber(n: INode, next: number, inos: Map<number, number>, seen: Set<INode>): number {
  if (seen.has(n)) return next;
  seen.add(n);
  inos.set(n.ino, next);
  n.ino = next++;
  if (n.children !== null) for (const c of n.children.values()) next = renumber(c, next, inos, seen);
  return next;
}

/** `target` (snapshot bytes) with `handed` (extractSubtree's bytes) grafted at the handed
 * namespace's root, replacing whatever was there; missing directories above it are made (a
 * static ministry's parent may never have held them). Client records merge. The handed nodes
 * are numbered anew: `inos` (if given) gets each old number -> its new one (file layouts are
 * keyed by them). */
export function graftSubtree(target: Uint8Array, handed: Uint8Array, inos = new Map<number, number>()): Uint8Array {
  const st = decodeNamespace(target);
  const h = decodeNamespace(handed);
  const rel = below(st.root, h.root);
  if (rel === null) throw new FsError('EINVAL', `cannot install ${h.root} in the namespace of ${st.root}: not inside it`, h.root);
  const version = Math.max(st.version, h.version) + 1;
  const node = h.rootNode;
  const oldRoot = node.ino;
  const nextIno = renumber(node, st.nextIno, inos, new Set());
  const out: NamespaceState = { root: st.root, version, nextIno, rootNode: st.rootNode, clients: st.clients };
  if (rel.length === 0) {
    // The whole namespace (a split's new ministry): the root keeps its number.
    inos.set(oldRoot, 1);
    node.ino = 1;
    out.rootNode = node;
  } else {
    let dir = st.rootNode;
    for (let i = 0; i < rel.length - 1; i++) {
      let next = dir.children!.get(rel[i]!);
      if (next === undefined || next.children === null) {
        // (Made as the grafted directory is: its owner, mode and times.)
        next = { ...node, ino: out.nextIno++, nlink: 2, target: null, version, children: new Map() };
        if (dir.children!.get(rel[i]!) === undefined) dir.nlink++;
        dir.children!.set(rel[i]!, next);
      }
      dir = next;
    }
    if (dir.children!.get(rel[rel.length - 1]!)?.children == null) dir.nlink++;
    dir.children!.set(rel[rel.length - 1]!, node);
    dir.version = version;
  }
  for (const [id, r] of copyClients(h.clients)) {
    const mine = out.clients.get(id);
    if (mine === undefined) {
      out.clients.set(id, r);
      continue;
    }
    // Saved results at or below the higher acknowledgement go (a snapshot holds none there).
    const acked = Math.max(mine.acked, r.acked);
    if (acked > mine.acked) mine.results.deleteRange(mine.acked, acked);
    for (const [seq, res] of r.results.sortedEntries()) if (seq > acked && !mine.results.has(seq)) mine.results.set(seq, res);
    mine.acked = acked;
    mine.lastSeen = Math.max(mine.lastSeen, r.lastSeen);
  }
  return encodeNamespace(out);
}

/** `snapshot` without the subtree at `path` (nothing if it is not there, or is the root). */
export function pruneSubtree(snapshot: Uint8Array, path: string): Uint8Array {
  const st = decodeNamespace(snapshot);
  const rel = below(st.root, path);
  if (rel === null || rel.length === 0) return snapshot;
  const parent = nodeAt(st.rootNode, rel.slice(0, -1));
  if (parent?.children == null || !parent.children.has(rel[rel.length - 1]!)) return snapshot;
  if (parent.children.get(rel[rel.length - 1]!)!.children !== null) parent.nlink--;
  parent.children.delete(rel[rel.length - 1]!);
  st.version += 1;
  parent.version = st.version;
  return encodeNamespace(st);
}

/** The root path of a handed-over namespace. */
export function handedRoot(handed: Uint8Array): string {
  return formatPath(parsePath(decodeNamespace(handed).root));
}
