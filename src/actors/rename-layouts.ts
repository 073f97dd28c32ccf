// Renames across ministries carry file contents (issue 16): the moved files' layouts (where
// their chunks live, layouts.ts) go with the tree in the target's phase-one entry, keyed by the
// source's inode numbers, and the target adopts them under the numbers its graft gives. The
// chunks themselves stay where they are: only which ministry's log names them changes, so the
// source forgets the layouts at its commit (never garbage) and keeps them on an abort.
//
// While `from` is locked nothing may change the files' layouts or let a writer go on: write
// leases in it are neither granted nor renewed, opens are refused, and placements and replica
// replacements of its files are refused at apply (every member from the same entry). The source
// sends Begin (which exports tree and layouts) only once every lease that could still be
// believed in it has run out, as a live migration waits before its handover; the target's lease
// tokens go on above the source's, so that a chunk store's per-chunk fence refuses any writer
// of the old name. Kept apart from ministry-namespace.ts (over 600 lines).

import { FsError, type FsErrorData } from '../fs/errors.js';
import type { Namespace } from '../fs/namespace.js';
import { isWithin } from '../fs/path.js';
import { DecodeError } from '../wire/errors.js';
import { FileLayouts } from './layouts.js';
import type { WriteLeaseState } from './leases.js';
import type { InTx, OutTx, RenameLedger } from './rename-ledger.js';

/** The inode numbers of the files in `from` (a locked name: nothing in it changes; none if it
 * cannot be exported, which the lock rules out). */
export function movedFileInos(ns: Namespace, from: string): number[] {
  try {
    return [...new Set(ns.exportTree(from).filter((n) => n.kind === 'file').map((n) => n.ino))];
  } catch (err) {
    if (err instanceof FsError) return [];
    throw err;
  }
}

/** What the source's phase-one entry for the target carries besides the tree. */
export function carriedLayouts(ns: Namespace, layouts: FileLayouts, leases: WriteLeaseState, from: string): { layouts: Uint8Array; leaseToken: number } {
  return { layouts: layouts.subset(movedFileInos(ns, from))?.toBytes() ?? new Uint8Array(0), leaseToken: leases.token };
}

/** Why carried layouts cannot be installed (a corrupt entry from a peer), or null. */
export function carriedProblem(bytes: Uint8Array | undefined): string | null {
  if (bytes === undefined || bytes.length === 0) return null;
  try {
    FileLayouts.fromBytes(bytes);
    return null;
  } catch (err) {
    if (err instanceof DecodeError) return `the file layouts carried are corrupt: ${err.message}`;
    throw err;
  }
}

/** The target's commit: the moved files' layouts under their new numbers (`inos`, filled by the
 * graft; a layout of a file not in it is ignored), and lease tokens above the source's. */
export function adoptCarried(inn: InTx, inos: ReadonlyMap<number, number>, layouts: FileLayouts, leases: WriteLeaseState): void {
  if (inn.layouts.length > 0) {
    const carried = FileLayouts.fromBytes(inn.layouts).subset(inos.keys());
    if (carried) layouts.adopt(carried, inos);
  }
  leases.token = Math.max(leases.token, inn.leaseToken);
}

/** When (this member's clock) the source may export a locked tree: once every write lease in
 * it could no longer be believed, and, if it holds contents, once a read lease a lagging clerk
 * granted before it applied the lock has run out (`waitMs`: TTL, drift, catch-up window). A
 * tree without contents waits for nothing but its write leases. */
export function exportAt(tx: OutTx, ns: Namespace, layouts: FileLayouts, leases: WriteLeaseState, waitMs: number): number {
  let at = -Infinity;
  for (const l of leases.leases.values()) if (isWithin(l.path, tx.from)) at = Math.max(at, l.since + l.ttlMs + waitMs);
  if (layouts.subset(movedFileInos(ns, tx.from)) !== null) at = Math.max(at, tx.since + waitMs);
  return at;
}

/** The files of each locked name, by transaction (a locked tree does not change). */
export class LockedFiles {
  private readonly byTx = new Map<string, Set<number>>();

  /** The open transaction whose locked tree holds file `ino`, or undefined. */
  holding(ino: number, renames: RenameLedger, ns: Namespace): OutTx | undefined {
    for (const txid of this.byTx.keys()) if (!renames.outs.has(txid)) this.byTx.delete(txid);
    for (const tx of renames.outs.values()) {
      let files = this.byTx.get(tx.txid);
      if (!files) {
        files = new Set(movedFileInos(ns, tx.from));
        this.byTx.set(tx.txid, files);
      }
      if (files.has(ino)) return tx;
    }
    return undefined;
  }

  clear(): void {
    this.byTx.clear();
  }
}

/** Why a lease or layout entry must not apply while a rename across ministries holds its file
 * (EAGAIN, nothing changed: the writer retries, and finds the file under its new name), or null. */
export function lockedRefusal(op: { op?: unknown; path?: unknown; id?: unknown; ino?: unknown }, renames: RenameLedger, leases: WriteLeaseState, ns: Namespace, locked: LockedFiles): FsErrorData | null {
  if (renames.outs.size === 0) return null;
  let path: string | undefined;
  if (op.op === 'lease.grant' && typeof op.path === 'string') path = op.path;
  else if (op.op === 'lease.renew' && typeof op.id === 'string') path = leases.leases.get(op.id)?.path;
  if (path !== undefined) {
    for (const tx of renames.outs.values()) if (isWithin(path, tx.from)) return held(String(op.op), path, tx);
    return null;
  }
  if ((op.op === 'layout.place' || op.op === 'layout.replace') && typeof op.ino === 'number') {
    const tx = locked.holding(op.ino, renames, ns);
    if (tx) return held(op.op, `inode ${op.ino}`, tx);
  }
  return null;
}

function held(op: string, what: string, tx: OutTx): FsErrorData {
  return { code: 'EAGAIN', message: `${op} ${what}: ${tx.from} is being renamed across ministries (transaction ${tx.txid}): retry`, path: tx.from };
}
