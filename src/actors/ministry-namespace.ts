// A ministry's replicated state: its subtree's namespace (src/fs/namespace.ts) with the
// clients' completion records, as the group log's state machine. Log entries are protobuf
// (ministry-entry.ts); results go back to the proposing client. Entries apply here in log
// order; the layout and migration entries' appliers live in ministry-layout-entries.ts and
// ministry-migration-entries.ts, which take this state as an argument.

import type { AttrResult, ClientOp as WireOp, DirEntry, FileLayout, FsResult, StatResult } from '../fs/requests.js';
import { ROOT, pairToNs, timePairs, type Creds } from '../fs/access.js';
import { mknodChange } from '../fs/namespace-posix.js';
import type { FsErrorData } from '../fs/errors.js';
import { FsError } from '../fs/errors.js';
import { Namespace, mergeListing, type ClientOp as NsClientOp, type MutationOp, type Op, type OpOk, type OpResult, type Stat } from '../fs/namespace.js';
import { decodeMinistryEntry, encodeMinistryEntry } from './ministry-entry.js';
import { LOG_FORMAT_PROTOBUF } from '../wire/log-codec.js';
import { IntTable } from '../runtime/int-table.js';
import type { ClusterState } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import { WriteLeaseState, type LeaseEntry } from './leases.js';
import { FileLayouts, type PlacementPolicy } from './layouts.js';
import { applyLayoutEntry, doomedFile, fileStat, layoutChange, layoutOf, layoutsAfter, noteWriteGrant, staleResize } from './ministry-layout-entries.js';
import type { LayoutEntry } from './ministry-entry.js';
import { MigrationMarks, type LeaseQuiet } from './ministry-migrations.js';
import { applyMigrationEntry, FencedFiles, handoverProgress, migrationRefusal, type HandoverProgress } from './ministry-migration-entries.js';
import type { MigrationEntry } from './ministry-entry.js';
import { joinMinistrySnapshot, splitMinistrySnapshot, type MinistrySnapshotParts } from './ministry-snapshot-format.js';
import { NamespaceDecoder, type NamespaceState } from '../fs/namespace-snapshot.js';
import { RenameLedger, type OutTx, type PhaseOneChecks } from './rename-ledger.js';
import { adoptCarried, carriedLayouts, carriedProblem, exportAt, LockedFiles, lockedRefusal, movedFileInos } from './rename-layouts.js';
import type { CrossRenameEntry } from './ministry-entry.js';

export type { HandoverProgress };
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
    case 'setSize':
      return { result: 'fileResize', fileResize: { version: r.version, size: r.stat.size } };
    case 'ack':
    case 'expireClients':
      return null;
    default:
      return attrResult(r.op, { version: r.version, stat: statResult(r.stat) });
  }
}

/** The POSIX changes whose result is the attributes after them. */
type AttrChange = 'chmod' | 'chown' | 'utimens' | 'symlink' | 'link' | 'mknod';

function attrResult(op: AttrChange, attrs: AttrResult): FsResult {
  // (A computed key's case is lost to the type checker: `result` names it.)
  return { result: op, [op]: attrs } as Extract<FsResult, { result: typeof op }>;
}

/** What a client sees of a stat: not the birth time; times also as (sec, nsec). */
function statResult(st: Stat): StatResult {
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
    ...timePairs(st.atimeNs, st.mtimeNs, st.ctimeNs),
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
  /** The files of each fenced subtree (ministry-migration-entries.ts). */
  private readonly fencedFiles = new FencedFiles();
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
    if (typeof kind === 'string' && kind.startsWith('migration.')) {
      const error = applyMigrationEntry(this, op as MigrationEntry, now, (bytes) => this.replaceNamespace(bytes));
      return error === null ? { ok: true, value: null } : { ok: false, error };
    }
    const refused = this.migrations.size === 0 ? null : migrationRefusal(this, this.fencedFiles, op);
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
      if (r.ok && kind === 'lease.grant') noteWriteGrant(this.ns, this.layouts, op as Extract<LeaseEntry, { op: 'lease.grant' }>, r.token ?? 0);
      return r.ok ? { ok: true, value: { token: r.token ?? 0 } } : { ok: false, error: r.error };
    }
    if (kind === 'layout.place' || kind === 'layout.replace' || kind === 'layout.gc') {
      applyLayoutEntry(this.layouts, op as LayoutEntry);
      return { ok: true, value: null };
    }
    const o = op as { op?: string; clientId?: unknown; seq?: unknown; acked?: unknown; body?: MutationOp };
    if (!this.renames.empty && kind === 'client' && typeof o.clientId === 'string' && typeof o.seq === 'number' && o.body && this.ns.savedResult(o.clientId, o.seq) === undefined) {
      // A name a rename across ministries holds: refused for now, not saved (the client retries).
      const held = this.renames.refusesChange(o.body);
      if (held) return { ok: false, error: held };
    }
    // A writer's resize once a newer writer's lease covers what it changes: refused, not saved
    // (a retry is refused again: the newer grant stays known, snapshots included).
    if (kind === 'client' && o.body?.op === 'setSize' && o.body.token !== undefined && typeof o.clientId === 'string' && typeof o.seq === 'number' && this.ns.savedResult(o.clientId, o.seq) === undefined) {
      const stale = staleResize(this.ns, this.layouts, o.body);
      if (stale) return { ok: false, error: stale };
    }
    const doomed = doomedFile(this.ns, op);
    // (A protobuf entry's op is the decoder's own object, shared only by this thread's replicas
    // of the entry: checked in place, which normalises it the same way each time.)
    const r = this.ns.apply(op as Op, data[0] === LOG_FORMAT_PROTOBUF);
    if (r.ok) layoutsAfter(this.ns, this.layouts, r, doomed);
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

  /** The file or directory at `path`, or undefined when there is none (or the path is bad). */
  fileStat(path: string): Stat | undefined {
    return fileStat(this.ns, path);
  }

  /** The layout of the file at `path` (ENOENT, EISDIR as FsError). */
  layoutOf(path: string): FileLayout {
    return layoutOf(this.ns, this.layouts, path);
  }

  /** The minister's entry for a layout request (ministry-layout-entries.ts; null: the layout
   * answers it as it is; a layout: logged nowhere). Throws FsError (ENOENT, EISDIR, EINVAL, EIO). */
  layoutChange(op: Extract<ClientOp, { op: 'layout-place' | 'layout-replace' }>, policy: PlacementPolicy, idStem: string): LayoutEntry | FileLayout | null {
    return layoutChange(this.ns, this.layouts, op, policy, idStem);
  }

  // ---- live subtree migration (ministry-migrations.ts) -----------------------------------------

  static encodeMigration(e: MigrationEntry): Uint8Array {
    return encodeMinistryEntry(e);
  }

  private replaceNamespace(bytes: Uint8Array): void {
    this.ns = Namespace.restore(bytes);
    this.fencedFiles.clear();
    this.lockedFiles.clear();
    this.listings.clear();
    this.listingBytes = 0;
  }

  /** What this member can say of migration `id` (the president's query; ministry-migration-entries.ts). */
  handover(id: string, now: number, waitMs: number, quiet?: LeaseQuiet): HandoverProgress {
    return handoverProgress(this, id, now, waitMs, quiet);
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
    const steps = this.restoreSteps(data, () => now);
    while (!steps.step(() => true));
  }

  /** restore() in steps (RaftShell, StateMachine.restoreSteps): the namespace is decoded a
   * slice at a time (the bulk of a big snapshot), then the whole state is replaced at once in
   * a last step of its own, read at the time `now()` gives then; until then this state stays as
   * it was. (A step of its own, so that every restore in steps spans two turns at least: under
   * the simulator, whose small namespaces decode in one, a restore under way meets the rest.) */
  restoreSteps(data: Uint8Array, now: () => number): { step(more: () => boolean): boolean } {
    const p = splitMinistrySnapshot(data);
    const decoder = new NamespaceDecoder(p.ns);
    let decoded: NamespaceState | null = null;
    return {
      step: (more) => {
        if (decoded === null) {
          decoded = decoder.step(more);
          return false;
        }
        this.install(p, Namespace.fromState(decoded), now());
        return true;
      },
    };
  }

  private install(p: MinistrySnapshotParts, ns: Namespace, now: number): void {
    this.migrations = p.marks === null ? new MigrationMarks() : MigrationMarks.fromBytes(p.marks, now);
    this.ns = ns;
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
