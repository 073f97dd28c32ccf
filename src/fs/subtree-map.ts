// The subtree map: which ministry owns which part of the tree (DESIGN.md, src/fs).
//
// Keys are subtree roots (canonical absolute paths); a path belongs to the entry with the
// longest root that contains it, matching whole segments: '/a' contains '/a' and '/a/b' but not
// '/ab'. The root of a subtree belongs to that subtree's ministry (its own metadata is there);
// the parent ministry merely shows its name in listings (`childrenRoots`, then `mergeListing`
// in namespace.ts). Generic over the info kept per subtree (a ministry id, a term, members...).

import { FsError } from './errors.js';
import { baseName, checkPath, isAncestor, parentOf } from './path.js';

export interface SubtreeMatch<T> {
  subtree: string;
  info: T;
}

/** Plain JSON form: entries sorted by subtree path. */
export interface SubtreeMapJSON<T> {
  entries: Array<[string, T]>;
}

export class SubtreeMap<T> {
  private readonly roots = new Map<string, T>();
  /** parent directory → names of subtree roots directly inside it. */
  private readonly children = new Map<string, Set<string>>();

  get size(): number {
    return this.roots.size;
  }

  /** Add or replace the subtree rooted at `subtree` (EINVAL for a malformed path). */
  set(subtree: string, info: T): this {
    checkPath(subtree);
    if (!this.roots.has(subtree)) {
      const parent = parentOf(subtree);
      if (parent !== null) {
        let names = this.children.get(parent);
        if (names === undefined) this.children.set(parent, (names = new Set()));
        names.add(baseName(subtree));
      }
    }
    this.roots.set(subtree, info);
    return this;
  }

  delete(subtree: string): boolean {
    if (!this.roots.delete(subtree)) return false;
    const parent = parentOf(subtree);
    if (parent !== null) {
      const names = this.children.get(parent);
      names?.delete(baseName(subtree));
      if (names !== undefined && names.size === 0) this.children.delete(parent);
    }
    return true;
  }

  has(subtree: string): boolean {
    return this.roots.has(subtree);
  }

  get(subtree: string): T | undefined {
    return this.roots.get(subtree);
  }

  /**
   * The subtree owning `path` (longest matching root), or undefined when no root contains it
   * (only possible while '/' has no entry). EINVAL for a malformed path.
   */
  lookup(path: string): SubtreeMatch<T> | undefined {
    checkPath(path);
    let p: string | null = path;
    while (p !== null) {
      if (this.roots.has(p)) return { subtree: p, info: this.roots.get(p) as T };
      p = parentOf(p);
    }
    return undefined;
  }

  /** The owner of `path`, already known to be well formed (no check, nothing allocated but
   * the parent paths tried). */
  ownerOf(path: string): T | undefined {
    let p: string | null = path;
    while (p !== null) {
      const info = this.roots.get(p);
      if (info !== undefined) return info;
      p = parentOf(p);
    }
    return undefined;
  }

  /** Names of subtree roots that are direct children of `dirPath`, sorted. */
  childrenRoots(dirPath: string): string[] {
    const names = this.children.get(dirPath);
    return names === undefined ? [] : [...names].sort(compareNames);
  }

  /**
   * Subtree roots strictly below `path`, sorted. Non-empty means an operation on the whole of
   * `path` (rename of a directory, recursive delete) spans other ministries: EXDEV for a rename,
   * a subtree delete through the president for an rmdir.
   */
  within(path: string): string[] {
    const out: string[] = [];
    for (const r of this.roots.keys()) if (isAncestor(path, r)) out.push(r);
    return out.sort(compareNames);
  }

  /** All entries, sorted by path. */
  entries(): Array<[string, T]> {
    return [...this.roots.entries()].sort((a, b) => compareNames(a[0], b[0]));
  }

  toJSON(): SubtreeMapJSON<T> {
    return { entries: this.entries() };
  }

  /**
   * Rebuild from `toJSON()` output (possibly after JSON.stringify/parse). `parseInfo` may
   * validate or revive each info; it defaults to the identity. EINVAL for malformed input.
   */
  static fromJSON<T>(json: unknown, parseInfo: (raw: unknown, subtree: string) => T = (raw) => raw as T): SubtreeMap<T> {
    const entries = (json as { entries?: unknown } | null)?.entries;
    if (!Array.isArray(entries)) throw new FsError('EINVAL', 'malformed subtree map: expected { entries: [[path, info], ...] }');
    const map = new SubtreeMap<T>();
    for (const e of entries) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string')
        throw new FsError('EINVAL', 'malformed subtree map entry: expected [path, info]');
      if (map.has(e[0])) throw new FsError('EINVAL', `malformed subtree map: ${e[0]} appears twice`, e[0]);
      map.set(e[0], parseInfo(e[1], e[0]));
    }
    return map;
  }
}

/** Code-unit order: deterministic and the same everywhere (not locale-dependent). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
