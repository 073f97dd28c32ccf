// The kernel binding's nodeids: the kernel names files by a 64-bit nodeid it got from a LOOKUP
// (or CREATE, MKDIR, ...), and govfs by path. A nodeid here is the file's inode number within
// this mount: each (ministry, inode) pair gets one, 2, 3, ... in the order the mount sees them
// (every ministry numbers its own inodes from 1), kept for the mount's life, so a file keeps
// its st_ino while it is known and hard links are one kernel inode, as on a local disk.
//
// Each live nodeid holds the paths it is known by (several for hard links) and how many
// lookups the kernel holds on it (FORGET gives them back; at 0 the entry goes). Unlink, rmdir
// and rename keep the paths current.

import { FUSE_ROOT_ID } from './protocol.js';

interface Node {
  /** Known paths, the first one used for operations on the node. */
  paths: string[];
  lookups: bigint;
}

export class NodeTable {
  private readonly nodes = new Map<bigint, Node>();
  private readonly byPath = new Map<string, bigint>();
  private readonly inos = new Map<string, bigint>();
  private nextIno = FUSE_ROOT_ID + 1n;

  constructor() {
    this.nodes.set(FUSE_ROOT_ID, { paths: ['/'], lookups: 1n });
    this.byPath.set('/', FUSE_ROOT_ID);
  }

  /** The mount's inode number (and nodeid) of a file: `key` names it across the cluster, e.g.
   * its ministry and inode; the root is always 1. */
  inoOf(key: string, path: string): bigint {
    if (path === '/') {
      this.inos.set(key, FUSE_ROOT_ID);
      return FUSE_ROOT_ID;
    }
    let ino = this.inos.get(key);
    if (ino === undefined) {
      ino = this.nextIno++;
      this.inos.set(key, ino);
    }
    return ino;
  }

  /** The path to use for `nodeid`, or undefined if the kernel names a node we do not know. */
  path(nodeid: bigint): string | undefined {
    return this.nodes.get(nodeid)?.paths[0];
  }

  /** The nodeid known at `path`, if any. */
  at(path: string): bigint | undefined {
    return this.byPath.get(path);
  }

  /** The kernel now holds one more lookup of `nodeid`, found at `path`. */
  lookedUp(nodeid: bigint, path: string): void {
    let node = this.nodes.get(nodeid);
    if (!node) {
      node = { paths: [], lookups: 0n };
      this.nodes.set(nodeid, node);
    }
    node.lookups++;
    this.addPath(nodeid, node, path);
  }

  /** FORGET: the kernel gives back `n` lookups. */
  forget(nodeid: bigint, n: bigint): void {
    const node = this.nodes.get(nodeid);
    if (!node || nodeid === FUSE_ROOT_ID) return;
    node.lookups -= n;
    if (node.lookups > 0n) return;
    for (const p of node.paths) if (this.byPath.get(p) === nodeid) this.byPath.delete(p);
    this.nodes.delete(nodeid);
  }

  /** `path` was unlinked or removed: its node is no longer known by it. */
  removed(path: string): void {
    const id = this.byPath.get(path);
    if (id === undefined) return;
    this.byPath.delete(path);
    const node = this.nodes.get(id);
    if (node) node.paths = node.paths.filter((p) => p !== path);
  }

  /** `from` was renamed to `to`: what was at `to` is gone, and every path at or below `from`
   * moves below `to`. */
  renamed(from: string, to: string): void {
    if (from === to) return;
    this.removed(to);
    const moves: [string, bigint][] = [];
    const prefix = from + '/';
    for (const [p, id] of this.byPath) if (p === from || p.startsWith(prefix)) moves.push([p, id]);
    for (const [p, id] of moves) {
      const q = to + p.slice(from.length);
      this.byPath.delete(p);
      const node = this.nodes.get(id);
      if (!node) continue;
      node.paths = node.paths.map((x) => (x === p ? q : x));
      if (!this.byPath.has(q)) this.byPath.set(q, id);
    }
  }

  /** Live nodes (the root included), for tests and leak checks. */
  get size(): number {
    return this.nodes.size;
  }

  private addPath(nodeid: bigint, node: Node, path: string): void {
    const old = this.byPath.get(path);
    if (old === nodeid) return;
    // Another file now at this path (replaced behind our back): it no longer names the old one.
    if (old !== undefined) {
      const o = this.nodes.get(old);
      if (o) o.paths = o.paths.filter((p) => p !== path);
    }
    this.byPath.set(path, nodeid);
    node.paths.push(path);
  }
}

/** `name` inside the directory `dir`. */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
