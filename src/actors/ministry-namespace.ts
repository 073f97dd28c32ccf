// A ministry's replicated state: its subtree's namespace (src/fs/namespace.ts) with the
// clients' completion records, as the group log's state machine. Log entries are protobuf
// (ministry-entry.ts); results go back to the proposing client.
// Over 600 lines (728) since renames across ministries met the data plane and live migration in
// one merge. Kept whole for now because all three apply entries to the one namespace and
// completion table below, in log order; the cut to come moves the layout and migration appliers
// into files of their own that take that state as an argument.

import type { ClientOp as WireOp, DirEntry, FileLayout, FsResult, StatResult } from '../fs/requests.js';
import { ROOT, nsToPair, pairToNs, type Creds } from '../fs/access.js';
import { mknodChange } from '../fs/namespace-posix.js';
import type { FsErrorData } from '../fs/errors.js';
import { FsError } from '../fs/errors.js';
import { DecodeError } from '../wire/errors.js';
import { Namespace, mergeListing, type ClientOp as NsClientOp, type MutationOp, type Op, type OpOk, type OpResult, type Stat } from '../fs/namespace.js';
import { decodeMinistryEntry, encodeMinistryEntry } from './ministry-entry.js';
import { LOG_FORMAT_PROTOBUF } from '../wire/log-codec.js';
import { IntTable } from '../runtime/int-table.js';
import type { ClusterState } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import { WriteLeaseState, type LeaseEntry } from './leases.js';
import { FileLayouts, commitReplacement, placement, proposeReplacement, type PlacementPolicy } from './layouts.js';
import type { LayoutEntry } from './ministry-entry.js';
import { MigrationMarks, type LeaseQuiet, type MigrationMark } from './ministry-migrations.js';
import type { MigrationEntry } from './ministry-entry.js';
import { extractSubtree, graftSubtree, handedRoot, handoverProblem, pruneSubtree, subtreeFileInos } from '../fs/subtree-handover.js';
import { joinHandover, joinMinistrySnapshot, splitHandover, splitMinistrySnapshot } from './ministry-snapshot-format.js';

/** What a member says of a migration (the president's MigrationQuery). */
export interface HandoverProgress {
  /** `clear`: ready as far as this member's own read leases go (MigrationMarks' LeaseQuiet). */
  state: 'none' | MigrationMark['state'] | 'ready' | 'clear';
  reason: string;
  namespace?: Uint8Array;
  leaseToken?: number;
}
import { RenameLedger, type OutTx, type PhaseOneChecks } from './rename-ledger.js';
import { adoptCarried, carriedLayouts, carriedProblem, exportAt, LockedFiles, lockedRefusal, movedFileInos } from './rename-layouts.js';
import type { CrossRenameEntry } from './ministry-entry.js';

export type ClientOp = WireOp;

/** What applying an entry gave: for a client's change the namespace's result (OpOk; see
 * MinistryNamespace.clientOutcome), for a lease entry `{ token }`. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: FsErrorData };

/** The answer to a client's operation: FsReply's result, or its error. */
export type ClientOutcome = { ok: true; value: FsResult | null } | { ok: false; error: FsErrorData };

/** The last changes a replica applied, with their log index: client changes (the decoded
 * entry, `{ op: 'client', body }`) and lease entries. Tests check them against the subtree map
 * (the simulator's "no ministry applies a change outside its subtree"). A fixed ring of what
 * the apply decoded anyway: two stores per entry, nothing allocated. */
export class AppliedChanges {
  static readonly KEPT = 256;
  /** Changes noted since this replica started (the latest is number count - 1). */
  count = 0;
  private readonly indexes = new Float64Array(AppliedChanges.KEPT);
  private readonly ops: unknown[] = new Array<unknown>(AppliedChanges.KEPT).fill(null);

  note(index: number, op: unknown): void {
    const at = this.count++ % AppliedChanges.KEPT;
    this.indexes[at] = index;
    this.ops[at] = op;
  }

  /** Change number `n` (count - KEPT <= n < count), or undefined when no longer kept. */
  at(n: number): { index: number; op: unknown } | undefined {
    if (n < 0 || n >= this.count || n < this.count - AppliedChanges.KEPT) return undefined;
    const at = n % AppliedChanges.KEPT;
    return { index: this.indexes[at]!, op: this.ops[at] };
  }
}

/** Listings kept, per replica: at most this many directories and (about) bytes of names. */
const LISTINGS_KEPT = 1_024;
const LISTING_BYTES_KEPT = 8 << 20;

interface CachedListing {
  version: number;
  /** The cluster log index the mounts were read at. */
  clusterApplied: number;
  /** The reply's result, frozen: replies to clients on this thread share it. */
  result: FsResult;
  /** About its size on the wire. */
  bytes: number;
}

function outcome(r: OpResult, withStat: boolean): ClientOutcome {
  return r.ok ? { ok: true, value: changeResult(r, withStat) } : { ok: false, error: r.error };
}

/** A client's change as FsReply's result; null for a change no client sends (setSize).
 * `withStat` false: a create's without its stat (the request said noStat). */
function changeResult(r: OpOk, withStat: boolean): FsResult | null {
  switch (r.op) {
    case 'mkdir':
      return { result: 'mkdir', mkdir: { version: r.version, created: r.created } };
    case 'create':
      return { result: 'create', create: withStat ? { version: r.version, created: r.created, stat: statResult(r.stat) } : { version: r.version, created: r.created } };
    case 'rm':
      return { result: 'rm', rm: { version: r.version } };
    case 'rmdir':
      return { result: 'rmdir', rmdir: { version: r.version, removed: r.removed } };
    case 'rename':
      return {
        result: 'rename',
        rename: r.targetMinistry === undefined ? { version: r.version, replaced: r.replaced } : { version: r.version, replaced: r.replaced, targetMinistry: r.targetMinistry, targetIndex: r.targetIndex ?? 0 },
      };
    case 'chmod':
      return { result: 'chmod', chmod: { version: r.version, stat: statResult(r.stat) } };
    case 'chown':
      return { result: 'chown', chown: { version: r.version, stat: statResult(r.stat) } };
    case 'utimens':
      return { result: 'utimens', utimens: { version: r.version, stat: statResult(r.stat) } };
    case 'symlink':
      return { result: 'symlink', symlink: { version: r.version, stat: statResult(r.stat) } };
    case 'link':
      return { result: 'link', link: { version: r.version, stat: statResult(r.stat) } };
    case 'mknod':
      return { result: 'mknod', mknod: { version: r.version, stat: statResult(r.stat) } };
    case 'setSize':
      return { result: 'fileResize', fileResize: { version: r.version, size: r.stat.size } };
    default:
      return null;
  }
}

/** What a client sees of a stat: not the birth time; times also as (sec, nsec). */
function statResult(st: Stat): StatResult {
  const a = nsToPair(st.atimeNs);
  const m = nsToPair(st.mtimeNs);
  const c = nsToPair(st.ctimeNs);
  return {
    kind: st.kind,
    size: st.size,
    ctime: st.ctime,
    mtime: st.mtime,
    version: st.version,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    nlink: st.nlink,
    rdev: st.rdev ?? 0, // (a result saved before rdev was kept has none)
    atimeSec: a.sec,
    atimeNsec: a.nsec,
    mtimeSec: m.sec,
    mtimeNsec: m.nsec,
    ctimeSec: c.sec,
    ctimeNsec: c.nsec,
    ino: st.ino,
  };
}

export class MinistryNamespace {
  private ns: Namespace;
  /** Write leases (issue 5), replicated with the namespace. */
  leases = new WriteLeaseState();
  /** Where each file's chunks live (issue 17), by inode number. */
  layouts = new FileLayouts();
  /** Open renames across ministries (rename-ledger.ts), replicated with the namespace. */
  renames = new RenameLedger();
  /** Per client, what this replica saw applied as new (and the client's acknowledgement):
   * applying an acknowledged request, or one already applied, as new again would be a change
   * applied twice (counted; tests require 0). Kept apart from the namespace's own table. */
  private readonly appliedNew = new Map<string, { acked: number; seqs: IntTable<true> }>();
  duplicateApplies = 0;
  /** Listings by path, as reply results, for clerks answering the same `ls` again and again
   * (the thesis's workload): sorting and merging the mounts cost more than the rest of a read.
   * Valid while the directory's version and the cluster log's applied index are unchanged. */
  private readonly listings = new Map<string, CachedListing>();
  private listingBytes = 0;
  readonly applied = new AppliedChanges();
  /** Live subtree migrations that touched this ministry (ministry-migrations.ts). */
  migrations = new MigrationMarks();
  /** The files of each fenced subtree, by migration id (fencedFile). */
  private readonly fencedFiles = new Map<string, Set<number>>();
  /** The files of each name a rename across ministries locked (rename-layouts.ts). */
  private readonly lockedFiles = new LockedFiles();

  constructor(readonly root: string) {
    this.ns = new Namespace(root);
  }

  /** The log entry for a client's change (`op` checked by requestOp, as the minister does
   * when it reads the request): the minister stamps it with its clock. Protobuf
   * (ministry-entry.ts; its numbers are doubles, so a sequence number apply refuses is
   * refused the same way as from JSON). Throws FsError EINVAL when `op` is not a change. */
  static encodeEntry(e: { clientId: string; seq: number; acked: number; op: ClientOp; now: number; as?: Creds }): Uint8Array {
    const body = toMutation(e.op);
    if (!body) throw new FsError('EINVAL', `${String(e.op.op)} is not a change`);
    const entry: NsClientOp = { op: 'client', clientId: e.clientId, seq: e.seq, now: e.now, body };
    if (e.as !== undefined && e.as !== ROOT) entry.as = e.as;
    if (e.acked > 0 && e.acked < e.seq) entry.acked = e.acked;
    return encodeMinistryEntry(entry);
  }

  /** The log entry that forgets clients silent for `ttlMs` (RIFL's garbage collection). A
   * client's requests give up long before (its deadline is seconds), so no retry can outlive
   * its completion record. */
  static encodeExpiry(now: number, ttlMs: number): Uint8Array {
    return encodeMinistryEntry({ op: 'expireClients', now, ttlMs });
  }

  /** Clients with a completion record (for tests and status). */
  get clientCount(): number {
    return this.ns.clientIds().length;
  }

  static encodeLease(e: LeaseEntry): Uint8Array {
    return encodeMinistryEntry(e);
  }

  static encodeLayout(e: LayoutEntry): Uint8Array {
    return encodeMinistryEntry(e);
  }

  /** Apply one committed entry; `now` is this member's clock when it learned of the commit. */
  applyEntry(data: Uint8Array, index: number, now = 0): Outcome {
    if (data.length === 0) return { ok: true, value: null };
    let op: unknown;
    try {
      op = decodeMinistryEntry(data);
    } catch (e) {
      return { ok: false, error: { code: 'EINVAL', message: e instanceof FsError ? e.message : 'undecodable log entry' } };
    }
    const kind = (op as { op?: unknown }).op;
    if (typeof kind === 'string' && kind.startsWith('migration.')) return this.applyMigration(op as MigrationEntry, now);
    const refused = this.migrations.size === 0 ? null : this.migrationRefusal(op);
    // Refused without a completion record: the client's retry must be taken anew (here after an
    // abort, at the target once the map moved).
    if (refused !== null) return { ok: false, error: { code: 'EAGAIN', message: refused } };
    // A file a rename across ministries locked: no writer goes on, its layout stays as exported.
    const locked = this.renames.outs.size === 0 ? null : lockedRefusal(op as object, this.renames, this.leases, this.ns, this.lockedFiles);
    if (locked !== null) return { ok: false, error: locked };
    if (kind !== 'expireClients' && kind !== 'ack') this.applied.note(index, op);
    if (typeof kind === 'string' && kind.startsWith('xrename.')) return this.applyCrossRename(op as CrossRenameEntry, index, now);
    if (typeof kind === 'string' && kind.startsWith('lease.')) {
      const r = this.leases.apply(op as LeaseEntry, now);
      if (r.ok && kind === 'lease.grant') this.noteGrant(op as Extract<LeaseEntry, { op: 'lease.grant' }>, r.token ?? 0);
      return r.ok ? { ok: true, value: { token: r.token ?? 0 } } : { ok: false, error: r.error };
    }
    if (kind === 'layout.place' || kind === 'layout.replace' || kind === 'layout.gc') return this.applyLayout(op as LayoutEntry);
    const o = op as { op?: string; clientId?: unknown; seq?: unknown; acked?: unknown; body?: MutationOp };
    if (!this.renames.empty && kind === 'client' && typeof o.clientId === 'string' && typeof o.seq === 'number' && o.body && this.ns.savedResult(o.clientId, o.seq) === undefined) {
      // A name a rename across ministries holds: refused for now, not saved (the client retries).
      const held = this.renames.refusesChange(o.body);
      if (held) return { ok: false, error: held };
    }
    // A writer's resize once a newer writer's lease covers what it changes: refused, not saved
    // (a retry is refused again: the newer grant stays known, snapshots included).
    if (kind === 'client' && o.body?.op === 'setSize' && o.body.token !== undefined && typeof o.clientId === 'string' && typeof o.seq === 'number' && this.ns.savedResult(o.clientId, o.seq) === undefined) {
      const stale = this.staleResize(o.body);
      if (stale) return { ok: false, error: stale };
    }
    const doomed = this.doomedFile(op);
    // (A protobuf entry's op is the decoder's own object, shared only by this thread's replicas
    // of the entry: checked in place, which normalises it the same way each time.)
    const r = this.ns.apply(op as Op, data[0] === LOG_FORMAT_PROTOBUF);
    if (r.ok) this.layoutsAfter(r, doomed);
    if (kind === 'expireClients') this.renames.expire((op as { now: number }).now, (op as { ttlMs: number }).ttlMs);
    if (this.ns.lastClientOutcome !== null && typeof o.clientId === 'string' && typeof o.seq === 'number') {
      let seen = this.appliedNew.get(o.clientId);
      if (!seen) this.appliedNew.set(o.clientId, (seen = { acked: 0, seqs: new IntTable(8) }));
      if (typeof o.acked === 'number' && o.acked > seen.acked) {
        seen.seqs.deleteRange(seen.acked, o.acked);
        seen.acked = o.acked;
      }
      if (this.ns.lastClientOutcome === 'new') {
        if (o.seq <= seen.acked || seen.seqs.has(o.seq)) this.duplicateApplies++;
        else seen.seqs.set(o.seq, true);
      }
    }
    // A removed directory takes the marks of subtrees that had moved out of it along.
    if (r.ok && r.op === 'rmdir' && this.migrations.size > 0) {
      const path = (op as { body?: { path?: string }; path?: string }).body?.path ?? (op as { path?: string }).path;
      if (typeof path === 'string') this.migrations.clearWithin(path);
    }
    // The namespace's own result: the minister makes a client's answer of it (clientOutcome),
    // the clerks, which answer no change, make nothing.
    return r.ok ? { ok: true, value: r } : { ok: false, error: r.error };
  }

  private noteGrant(g: Extract<LeaseEntry, { op: 'lease.grant' }>, token: number): void {
    const st = this.fileStat(g.path);
    if (st?.kind === 'file') this.layouts.noteWriteGrant(st.ino, token, g.start, g.end ?? Infinity);
  }

  private applyLayout(e: LayoutEntry): Outcome {
    if (e.op === 'layout.place') this.layouts.applyPlace(e);
    else if (e.op === 'layout.gc') this.layouts.dropGarbage(e.chunkIds);
    else this.layouts.applyReplace(e);
    return { ok: true, value: null };
  }

  /** The inode of the file a client's rm (or a rename over a file) is about to remove: only
   * when that name is its last link (git writes an object, links it, unlinks the temp name). */
  private doomedFile(op: unknown): number | undefined {
    if ((op as { op?: unknown }).op !== 'client') return undefined;
    const body = (op as NsClientOp).body;
    const path = body.op === 'rm' ? body.path : body.op === 'rename' ? body.to : undefined;
    if (path === undefined) return undefined;
    const st = this.fileStat(path);
    return st?.kind === 'file' && st.nlink <= 1 ? st.ino : undefined;
  }

  /** Layouts follow the namespace: a removed file's chunks and a truncated file's tail become
   * garbage. (A file of a directory removed recursively keeps its layout until a GC scan.) */
  private layoutsAfter(r: OpOk, doomed: number | undefined): void {
    // (A retry answered from its saved result applied nothing.)
    if (this.ns.lastClientOutcome !== 'new') return;
    if (r.op === 'setSize') this.layouts.trim(r.stat.ino, r.stat.size);
    else if (doomed !== undefined && (r.op === 'rm' || (r.op === 'rename' && r.replaced))) this.layouts.drop(doomed);
  }

  /** ESTALE when a write lease granted after this resize's writer's covers bytes it changes. */
  private staleResize(body: Extract<MutationOp, { op: 'setSize' }>): FsErrorData | null {
    const st = this.fileStat(body.path);
    if (st?.kind !== 'file' || body.token === undefined) return null;
    const size = body.extend === true ? Math.max(st.size, body.size) : body.size;
    const [lo, hi] = [Math.min(st.size, size), Math.max(st.size, size)];
    if (!this.layouts.newerWriter(st.ino, body.token, lo, hi)) return null;
    return { code: 'ESTALE', message: `resize of ${body.path} to ${size} bytes refused: a newer writer's lease covers bytes ${lo}-${hi} it would change (this writer's lease, token ${body.token}, was replaced)`, path: body.path };
  }

  /** The file or directory at `path`, or undefined when there is none (or the path is bad). */
  fileStat(path: string): Stat | undefined {
    try {
      return this.ns.stat(path);
    } catch (e) {
      if (e instanceof FsError) return undefined;
      throw e;
    }
  }

  /** The layout of the file at `path` (ENOENT, EISDIR as FsError). */
  layoutOf(path: string): FileLayout {
    const st = this.ns.stat(path);
    if (st.kind !== 'file') throw new FsError('EISDIR', `layout of ${path}: is a directory (only files have contents)`, path);
    return this.layouts.layout(st.ino, st.size, st.mtime);
  }

  /** The minister's entry for a layout request (layouts.ts decides); null when the layout
   * answers it as it is (every chunk asked for is placed, the chunk to replace moved on); or a
   * layout to answer with, logged nowhere (a proposed replacement in place of its chunk).
   * Throws FsError (ENOENT, EISDIR, EINVAL, EIO). */
  layoutChange(op: Extract<ClientOp, { op: 'layout-place' | 'layout-replace' }>, policy: PlacementPolicy, idStem: string): LayoutEntry | FileLayout | null {
    const st = this.ns.stat(op.path);
    if (st.kind !== 'file') throw new FsError('EISDIR', `${op.op} ${op.path}: is a directory (only files have contents)`, op.path);
    if (op.op === 'layout-place') {
      // (No bytes: only the layout, from the minister.)
      if (op.length === 0) return null;
      const chunkSize = this.layouts.layout(st.ino, 0, 0).chunkSize || policy.chunkBytes;
      if (!Number.isSafeInteger(op.offset + op.length)) throw new FsError('EINVAL', `layout-place ${op.path}: bad byte range ${op.offset}+${op.length}`, op.path);
      const first = Math.floor(op.offset / chunkSize);
      const e = placement(this.layouts, st.ino, chunkSize, first, Math.floor((op.offset + op.length - 1) / chunkSize) - first + 1, policy, idStem);
      return e && { op: 'layout.place', ...e };
    }
    if (op.newChunkId === '') {
      const p = proposeReplacement(this.layouts, st.ino, op.index, op.chunkId, op.version, op.failed.split(','), policy, idStem);
      if (p instanceof FsError) throw movedOn(p, op.path);
      const layout = this.layouts.layout(st.ino, st.size, st.mtime);
      layout.chunks = layout.chunks.map((c) => (c.index === op.index ? p : c));
      return layout;
    }
    const proposed = { index: op.index, chunkId: op.newChunkId, version: op.version + 1, replicas: op.replicas };
    const e = commitReplacement(this.layouts, st.ino, op.index, op.chunkId, op.version, proposed, policy, op.token);
    if (e instanceof FsError) throw movedOn(e, op.path);
    return { op: 'layout.replace', ...e };
  }

  // ---- live subtree migration (ministry-migrations.ts) -----------------------------------------

  static encodeMigration(e: MigrationEntry): Uint8Array {
    return encodeMinistryEntry(e);
  }

  /** Why `op` (a decoded entry) must not apply while a subtree it names is leaving, or null. */
  private migrationRefusal(op: unknown): string | null {
    const o = op as { op?: string; body?: { op?: string; path?: string; from?: string; to?: string }; path?: string; id?: string };
    if (o.op === 'client' && o.body) {
      const b = o.body;
      const paths = [b.path, b.from, b.to].filter((p): p is string => typeof p === 'string');
      const whole = b.op === 'rename' ? { path: b.from!, op: 'rename' as const } : b.op === 'rmdir' ? { path: b.path!, op: 'rmdir' as const } : null;
      return this.migrations.refusal(paths, whole);
    }
    if (o.op === 'lease.grant' && typeof o.path === 'string') return this.migrations.refusal([o.path], null);
    if (o.op === 'lease.renew' && typeof o.id === 'string') {
      const l = this.leases.leases.get(o.id);
      return l ? this.migrations.refusal([l.path], null) : null;
    }
    // A chunk placed or replaced after the handover was taken would be lost to the target.
    const ino = (op as { ino?: unknown }).ino;
    if ((o.op === 'layout.place' || o.op === 'layout.replace') && typeof ino === 'number') {
      const m = this.fencedFile(ino);
      if (m) return `${m.subtree} is moving to another ministry (migration ${m.id}): retry`;
    }
    return null;
  }

  /** The fenced migration whose subtree holds file `ino`. Each fenced subtree's files are
   * listed once: while it is fenced no change adds or moves a file in or out of it. */
  private fencedFile(ino: number): MigrationMark | undefined {
    for (const m of this.migrations.marks.values()) {
      if (m.state !== 'fenced') continue;
      let files = this.fencedFiles.get(m.id);
      if (!files) this.fencedFiles.set(m.id, (files = new Set(subtreeFileInos(this.ns.snapshot(), m.subtree))));
      if (files.has(ino)) return m;
    }
    return undefined;
  }

  private applyMigration(e: MigrationEntry, now: number): Outcome {
    const had = this.migrations.get(e.id);
    switch (e.op) {
      case 'migration.fence': {
        if (had) return { ok: true, value: null }; // (idempotent: one fence per migration)
        const problem = this.fenceProblem(e.subtree);
        this.migrations.set({ id: e.id, subtree: e.subtree, state: problem === null ? 'fenced' : 'failed', since: now, ...(problem !== null && { reason: problem }) });
        return { ok: true, value: null };
      }
      case 'migration.install': {
        if (had?.state === 'installed') return { ok: true, value: null };
        try {
          const handed = splitHandover(e.namespace);
          if (handedRoot(handed.ns) !== e.subtree) return { ok: false, error: { code: 'EINVAL', message: `migration ${e.id}: the state handed over is not of ${e.subtree}` } };
          const layouts = handed.layouts === null ? null : FileLayouts.fromBytes(handed.layouts);
          // The grafted files are numbered anew here: their layouts follow the new numbers.
          const inos = new Map<number, number>();
          this.replaceNamespace(graftSubtree(this.ns.snapshot(), handed.ns, inos));
          if (layouts !== null) this.layouts.adopt(layouts, inos);
        } catch (err) {
          if (err instanceof FsError) return { ok: false, error: err.toJSON() };
          if (err instanceof DecodeError) return { ok: false, error: { code: 'EINVAL', message: `migration ${e.id}: the file layouts handed over are corrupt: ${err.message}` } };
          throw err;
        }
        this.leases.token = Math.max(this.leases.token, e.leaseToken);
        this.migrations.clearWithin(e.subtree);
        this.migrations.set({ id: e.id, subtree: e.subtree, state: 'installed', since: now });
        return { ok: true, value: null };
      }
      case 'migration.drop': {
        if (had?.state === 'dropped') return { ok: true, value: null };
        const snap = this.ns.snapshot();
        // Its files' chunks now belong to the other ministry's layouts (or, after an abort, to
        // the source's still): forgotten here, not garbage.
        this.layouts.forget(subtreeFileInos(snap, e.subtree));
        if (e.subtree !== this.root) this.replaceNamespace(pruneSubtree(snap, e.subtree));
        for (const [id, l] of this.leases.leases) if (isWithin(l.path, e.subtree)) this.leases.leases.delete(id);
        this.migrations.set({ id: e.id, subtree: e.subtree, state: 'dropped', since: now });
        return { ok: true, value: null };
      }
      case 'migration.unfence':
        if (had?.state === 'fenced' || had?.state === 'failed') this.migrations.set({ ...had, state: 'unfenced' });
        return { ok: true, value: null };
      case 'migration.forget':
        this.migrations.forget(e.ids);
        return { ok: true, value: null };
    }
  }

  /** Why `subtree` cannot be fenced and handed over here, or null: it must be a directory of
   * this namespace (its root too: a merge hands over a whole ministry). */
  private fenceProblem(subtree: string): string | null {
    // A rename across ministries holding a name in (or above) the subtree finishes first.
    const held = this.renames.holding(subtree);
    if (held) return `${held.name} is being renamed across ministries (transaction ${held.txid}): the migration of ${subtree} waits for it`;
    try {
      return this.ns.stat(subtree).kind === 'dir' ? handoverProblem(this.ns.snapshot(), subtree) : `${subtree} is a file (only a directory can move to another ministry)`;
    } catch (err) {
      if (err instanceof FsError) return err.message;
      throw err;
    }
  }

  private replaceNamespace(bytes: Uint8Array): void {
    this.ns = Namespace.restore(bytes);
    this.fencedFiles.clear();
    this.lockedFiles.clear();
    this.listings.clear();
    this.listingBytes = 0;
  }

  /** What this member can say of migration `id` (the president's query): a fenced subtree is
   * `ready`, with its state, once every lease that could still be believed in it has run out:
   * `waitMs` (the lease TTL, the clock drift bound and a clerk's catch-up window) after this
   * member applied the fence, and after the last renewal of any write lease in it. Sooner, it
   * is `clear` (migration-core.ts: the president hands over once every member says so) when
   * `quiet` shows that no read lease this member granted there is live, and that it has served
   * unchanged for `waitMs` (none granted before, by an earlier appointment, can be). */
  handover(id: string, now: number, waitMs: number, quiet?: LeaseQuiet): HandoverProgress {
    const m = this.migrations.get(id);
    if (!m) return { state: 'none', reason: '' };
    if (m.state !== 'fenced') return { state: m.state, reason: m.reason ?? '' };
    let writes = -Infinity;
    for (const l of this.leases.leases.values()) if (isWithin(l.path, m.subtree)) writes = Math.max(writes, l.since + l.ttlMs + waitMs);
    const full = Math.max(m.since + waitMs, writes);
    const fast = quiet ? Math.max(writes, quiet.readsUntil(m.subtree), quiet.since + waitMs) : Infinity;
    if (now < full && now < fast) return { state: 'fenced', reason: `waiting out the leases of ${m.subtree} for ${Math.ceil(Math.min(full, fast) - now)} ms` };
    const snap = this.ns.snapshot();
    const layouts = this.layouts.subset(subtreeFileInos(snap, m.subtree));
    return { state: now >= full ? 'ready' : 'clear', reason: '', namespace: joinHandover(extractSubtree(snap, m.subtree), layouts?.toBytes() ?? null), leaseToken: this.leases.token };
  }

  /** A phase of a rename across ministries: the ledger's outcome (an OutOutcome, a Vote, or the
   * source's transaction an end closed). */
  private applyCrossRename(e: CrossRenameEntry, index: number, now: number): Outcome {
    switch (e.op) {
      case 'xrename.out':
        return { ok: true, value: this.renames.applyOut(this.ns, e, index, this.phaseOneChecks, now) };
      case 'xrename.in': {
        const bad = this.renames.ins.has(e.txid) ? null : carriedProblem(e.layouts);
        if (bad !== null) return { ok: true, value: { ok: false, retry: false, code: 'EINVAL', message: `rename ${e.from} -> ${e.to}: ${bad}`, index, replaced: false } };
        return { ok: true, value: this.renames.applyIn(this.ns, e, index, this.phaseOneChecks) };
      }
      case 'xrename.end': {
        // A file the graft replaces at the target: its chunks become garbage, as a rename's.
        const inn = e.decision.commit ? this.renames.ins.get(e.decision.txid) : undefined;
        const doomed = inn ? this.fileStat(inn.to) : undefined;
        // The source's moved files: their chunks are the target's now (forgotten, not garbage).
        const leaving = e.decision.commit ? this.renames.outs.get(e.decision.txid) : undefined;
        const moved = leaving ? movedFileInos(this.ns, leaving.from) : [];
        const inos = new Map<number, number>();
        const out = this.renames.applyEnd(this.ns, e.decision, e.now, inos);
        if (doomed?.kind === 'file' && doomed.nlink <= 1 && this.fileStat(inn!.to)?.ino !== doomed.ino) this.layouts.drop(doomed.ino);
        if (inn) adoptCarried(inn, inos, this.layouts, this.leases);
        this.layouts.forget(moved);
        // Its write leases (run out: Begin waited) go too, so no late renewal revives one.
        if (leaving) for (const [id, l] of this.leases.leases) if (isWithin(l.path, leaving.from)) this.leases.leases.delete(id);
        if (out && e.decision.commit) this.noteNew(out.clientId, out.seq);
        return { ok: true, value: out };
      }
    }
  }

  /** When this member may export the tree of the source's open transaction `tx` (its leases
   * waited out; rename-layouts.ts), and what it carries besides the tree. */
  renameExportAt(tx: OutTx, waitMs: number): number {
    return exportAt(tx, this.ns, this.layouts, this.leases, waitMs);
  }

  renameCarried(from: string): { layouts: Uint8Array; leaseToken: number } {
    return carriedLayouts(this.ns, this.layouts, this.leases, from);
  }

  /** Phase one of a rename across ministries refuses a name in a fenced subtree (EAGAIN). */
  private readonly phaseOneChecks: PhaseOneChecks = {
    fenced: (path) => (this.migrations.size === 0 ? null : this.migrations.refusal([path], { path, op: 'rename' })),
  };

  /** The duplicate-apply check's record of a client change applied as new outside ns.apply:
   * a rename across ministries, at its end. That end may come after the client gave up on the
   * request and acknowledged past it (its phase one applied before): the rename still applies,
   * once; only a second apply counts. */
  private noteNew(clientId: string, seq: number): void {
    let seen = this.appliedNew.get(clientId);
    if (!seen) this.appliedNew.set(clientId, (seen = { acked: 0, seqs: new IntTable(8) }));
    if (seen.seqs.has(seq)) this.duplicateApplies++;
    else if (seq > seen.acked) seen.seqs.set(seq, true);
  }

  /** The answer to a client's change, from what applying its entry gave (applyEntry);
   * `withStat` false leaves a create's stat out (the request said noStat). */
  static clientOutcome(o: Outcome, withStat = true): ClientOutcome {
    return o.ok ? { ok: true, value: changeResult(o.value as OpOk, withStat) } : o;
  }

  /** The saved answer of a client's change `seq`, if it already applied (`withStat`: as
   * clientOutcome). */
  completed(clientId: string, seq: number, withStat = true): ClientOutcome | undefined {
    const r = this.ns.savedResult(clientId, seq);
    return r === undefined ? undefined : outcome(r, withStat);
  }

  /** `ls`, `stat` and `readlink`, as `as` (search permission on the path; read permission on
   * a listed directory). A directory that is the root of another ministry's subtree shows in
   * its parent's listing as a directory. */
  read(op: ClientOp, cluster: ClusterState, as: Creds = ROOT): ClientOutcome {
    if (!this.renames.empty && (op.op === 'ls' || op.op === 'stat' || op.op === 'readlink')) {
      const held = this.renames.refusesRead(op.op === 'ls' ? 'ls' : 'stat', op.path);
      if (held) return { ok: false, error: held };
    }
    try {
      if (op.op === 'ls') {
        const version = this.ns.listingVersion(op.path, as);
        const hit = this.listings.get(op.path);
        if (hit !== undefined && hit.version === version && hit.clusterApplied === cluster.applied) return { ok: true, value: hit.result };
        const entries = this.ns.ls(op.path);
        const roots = [...cluster.ministries.values()]
          .map((m) => m.subtree)
          .filter((s) => s !== op.path && isWithin(s, op.path) && s.slice(op.path === '/' ? 1 : op.path.length + 1).indexOf('/') < 0)
          .map((s) => s.slice(s.lastIndexOf('/') + 1));
        const listing: DirEntry[] = mergeListing(entries, roots);
        let bytes = 8;
        for (const e of listing) {
          bytes += 16 + e.name.length;
          Object.freeze(e);
        }
        const result: FsResult = Object.freeze({ result: 'ls', ls: Object.freeze({ entries: Object.freeze(listing) as DirEntry[] }) });
        this.keepListing(op.path, { version, clusterApplied: cluster.applied, result, bytes });
        return { ok: true, value: result };
      }
      if (op.op === 'stat') return { ok: true, value: { result: 'stat', stat: statResult(this.ns.stat(op.path, as)) } };
      if (op.op === 'readlink') return { ok: true, value: { result: 'readlink', readlink: { target: this.ns.readlink(op.path, as) } } };
      if (op.op === 'layout-get') return { ok: true, value: { result: 'layoutGet', layoutGet: this.layoutOf(op.path) } };
      return { ok: false, error: { code: 'EINVAL', message: `${op.op} is not a read` } };
    } catch (e) {
      if (e instanceof FsError) return { ok: false, error: e.toJSON() };
      throw e;
    }
  }

  private keepListing(path: string, l: CachedListing): void {
    const old = this.listings.get(path);
    if (old !== undefined) {
      this.listings.delete(path);
      this.listingBytes -= old.bytes;
    }
    if (l.bytes > LISTING_BYTES_KEPT / 8) return;
    this.listings.set(path, l);
    this.listingBytes += l.bytes;
    // Oldest first (a Map iterates in insertion order).
    for (const [p, x] of this.listings) {
      if (this.listings.size <= LISTINGS_KEPT && this.listingBytes <= LISTING_BYTES_KEPT) break;
      this.listings.delete(p);
      this.listingBytes -= x.bytes;
    }
  }

  /** Would `rmdir -r path` by `as` succeed now: a directory of this namespace, not its root,
   * that `as` may remove (search, write on its parent, the sticky rule)? */
  isRemovableDir(path: string, as: Creds = ROOT): boolean {
    try {
      return path !== this.root && this.ns.mayRemoveDir(path, as);
    } catch (e) {
      if (e instanceof FsError) return false;
      throw e;
    }
  }

  /** Why `path` cannot be opened for `mode` by `as` (missing, a directory, a symlink, no read
   * or write permission: EACCES), or null if it can. */
  fileCheck(path: string, as: Creds = ROOT, mode: 'read' | 'write' = 'read'): FsErrorData | null {
    try {
      const st = this.ns.stat(path, as);
      if (st.kind === 'dir') return { code: 'EISDIR', message: `open ${path}: is a directory (leases are on files)`, path };
      if (st.kind === 'symlink') return { code: 'EINVAL', message: `open ${path}: is a symbolic link (the mount follows it; leases are on files)`, path };
      if (st.kind !== 'file') return { code: 'ENXIO', message: `open ${path}: is a ${st.kind}, which has no contents in govfs (the kernel of the host that opens it serves it)`, path };
      const held = this.renames.outs.size === 0 ? null : this.renames.refusesChange({ op: 'rm', path });
      if (held !== null) return { ...held, message: held.message.replace(/^rm /, 'open ') };
      if (!this.ns.may(path, as, mode === 'read' ? 4 : 2)) return { code: 'EACCES', message: `open ${path}: permission denied (uid ${as.uid} may not ${mode} it, mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}:${st.gid})`, path };
      return null;
    } catch (e) {
      if (e instanceof FsError) return e.toJSON();
      throw e;
    }
  }

  /** The snapshot: ministry-snapshot-format.ts has its layout. */
  snapshot(): Uint8Array {
    const marks = this.migrations.size === 0 ? null : this.migrations.toBytes();
    const renames = this.renames.empty && this.renames.ended.size === 0 ? null : this.renames.toBytes();
    return joinMinistrySnapshot({ ns: this.ns.snapshot(), leases: this.leases.toBytes(), layouts: this.layouts.toBytes(), marks, renames });
  }

  restore(data: Uint8Array, now = 0): void {
    const p = splitMinistrySnapshot(data);
    this.migrations = p.marks === null ? new MigrationMarks() : MigrationMarks.fromBytes(p.marks, now);
    this.ns = Namespace.restore(p.ns);
    this.renames = p.renames ? RenameLedger.fromBytes(p.renames, this.renames.owner, now) : Object.assign(new RenameLedger(), { owner: this.renames.owner });
    this.fencedFiles.clear();
    this.lockedFiles.clear();
    this.listings.clear();
    this.listingBytes = 0;
    this.leases = WriteLeaseState.fromBytes(p.leases, now);
    this.layouts = p.layouts === null ? new FileLayouts() : FileLayouts.fromBytes(p.layouts);
  }

  /** The namespace itself, for the halves of a rename across ministries (rename-core.ts). */
  get namespace(): Namespace {
    return this.ns;
  }
}

/** A replacement of a chunk that is no longer the layout's: ESTALE (the writer fetches the
 * layout again), never EAGAIN, which the client library retries as it is. */
function movedOn(e: FsError, path: string): FsError {
  return e.code === 'EAGAIN' ? new FsError('ESTALE', e.message, path) : e;
}

function toMutation(op: ClientOp): MutationOp | null {
  switch (op.op) {
    case 'file-resize':
      return op.token > 0 ? { op: 'setSize', path: op.path, size: op.size, extend: op.extend, token: op.token } : { op: 'setSize', path: op.path, size: op.size, extend: op.extend };
    case 'mkdir':
      return op.mode === undefined || op.mode === null ? { op: 'mkdir', path: op.path, parents: op.parents ?? false } : { op: 'mkdir', path: op.path, parents: op.parents ?? false, mode: op.mode };
    case 'create':
      return op.mode === undefined || op.mode === null ? { op: 'create', path: op.path } : { op: 'create', path: op.path, mode: op.mode };
    case 'chmod':
      return { op: 'chmod', path: op.path, mode: op.mode };
    case 'chown':
      return { op: 'chown', path: op.path, uid: op.uid, gid: op.gid };
    case 'utimens':
      return { op: 'utimens', path: op.path, atimeNs: wireTime(op.atimeNow, op.atimeSec, op.atimeNsec), mtimeNs: wireTime(op.mtimeNow, op.mtimeSec, op.mtimeNsec) };
    case 'symlink':
      return { op: 'symlink', path: op.path, target: op.target };
    case 'link':
      return { op: 'link', from: op.from, to: op.to };
    case 'mknod':
      return mknodChange(op.path, op.mode, op.rdev);
    case 'rm':
      return { op: 'rm', path: op.path };
    case 'rmdir':
      return { op: 'rmdir', path: op.path, recursive: op.recursive ?? false };
    case 'rename':
      return { op: 'rename', from: op.from, to: op.to };
    default:
      return null;
  }
}

/** A utimens time from a request: null for now; EINVAL for a pair that is no time. */
function wireTime(now: boolean, sec: number, nsec: number): bigint | null {
  if (now) return null;
  const t = pairToNs(sec, nsec);
  if (t === null) throw new FsError('EINVAL', `utimens: a time must be whole seconds and nanoseconds in [0, 1e9), got (${sec}, ${nsec})`);
  return t;
}
