// A ministry's replicated state: its subtree's namespace (src/fs/namespace.ts) with the
// clients' completion records, as the group log's state machine. Log entries are protobuf
// (ministry-entry.ts); results go back to the proposing client.

import type { ClientOp as WireOp, DirEntry, FsResult, StatResult } from '../fs/requests.js';
import type { FsErrorData } from '../fs/errors.js';
import { FsError } from '../fs/errors.js';
import { Namespace, mergeListing, type ClientOp as NsClientOp, type MutationOp, type Op, type OpOk, type OpResult, type Stat } from '../fs/namespace.js';
import { decodeMinistryEntry, encodeMinistryEntry } from './ministry-entry.js';
import { IntTable } from '../runtime/int-table.js';
import type { ClusterState } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import { WriteLeaseState, type LeaseEntry } from './leases.js';
import { MigrationMarks, type MigrationMark } from './ministry-migrations.js';
import type { MigrationEntry } from './ministry-entry.js';
import { extractSubtree, graftSubtree, handedRoot, pruneSubtree } from '../fs/subtree-handover.js';

/** What a member says of a migration (the president's MigrationQuery). */
export interface HandoverProgress {
  state: 'none' | MigrationMark['state'] | 'ready';
  reason: string;
  namespace?: Uint8Array;
  leaseToken?: number;
}

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

/** The first word of a ministry snapshot that holds migration marks. */
const MARKS_FORMAT = 0xffff_ffff;

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

function outcome(r: OpResult): ClientOutcome {
  return r.ok ? { ok: true, value: changeResult(r) } : { ok: false, error: r.error };
}

/** A client's change as FsReply's result; null for a change no client sends (setSize). */
function changeResult(r: OpOk): FsResult | null {
  switch (r.op) {
    case 'mkdir':
      return { result: 'mkdir', mkdir: { version: r.version, created: r.created } };
    case 'create':
      return { result: 'create', create: { version: r.version, created: r.created, stat: statResult(r.stat) } };
    case 'rm':
      return { result: 'rm', rm: { version: r.version } };
    case 'rmdir':
      return { result: 'rmdir', rmdir: { version: r.version, removed: r.removed } };
    case 'rename':
      return { result: 'rename', rename: { version: r.version, replaced: r.replaced } };
    default:
      return null;
  }
}

/** What a client sees of a stat: not the inode number or birth time. */
function statResult(st: Stat): StatResult {
  return { kind: st.kind, size: st.size, ctime: st.ctime, mtime: st.mtime, version: st.version };
}

export class MinistryNamespace {
  private ns: Namespace;
  /** Write leases (issue 5), replicated with the namespace. */
  leases = new WriteLeaseState();
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

  constructor(readonly root: string) {
    this.ns = new Namespace(root);
  }

  /** The log entry for a client's change (`op` checked by requestOp, as the minister does
   * when it reads the request): the minister stamps it with its clock. Protobuf
   * (ministry-entry.ts; its numbers are doubles, so a sequence number apply refuses is
   * refused the same way as from JSON). Throws FsError EINVAL when `op` is not a change. */
  static encodeEntry(e: { clientId: string; seq: number; acked: number; op: ClientOp; now: number }): Uint8Array {
    const body = toMutation(e.op);
    if (!body) throw new FsError('EINVAL', `${String(e.op.op)} is not a change`);
    const entry: NsClientOp = { op: 'client', clientId: e.clientId, seq: e.seq, now: e.now, body };
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
    if (kind !== 'expireClients' && kind !== 'ack') this.applied.note(index, op);
    if (typeof kind === 'string' && kind.startsWith('lease.')) {
      const r = this.leases.apply(op as LeaseEntry, now);
      return r.ok ? { ok: true, value: { token: r.token ?? 0 } } : { ok: false, error: r.error };
    }
    const o = op as { op?: string; clientId?: unknown; seq?: unknown; acked?: unknown };
    const r = this.ns.apply(op as Op);
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
    return null;
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
          if (handedRoot(e.namespace) !== e.subtree) return { ok: false, error: { code: 'EINVAL', message: `migration ${e.id}: the state handed over is not of ${e.subtree}` } };
          this.replaceNamespace(graftSubtree(this.ns.snapshot(), e.namespace));
        } catch (err) {
          if (err instanceof FsError) return { ok: false, error: err.toJSON() };
          throw err;
        }
        this.leases.token = Math.max(this.leases.token, e.leaseToken);
        this.migrations.clearWithin(e.subtree);
        this.migrations.set({ id: e.id, subtree: e.subtree, state: 'installed', since: now });
        return { ok: true, value: null };
      }
      case 'migration.drop': {
        if (had?.state === 'dropped') return { ok: true, value: null };
        if (e.subtree !== this.root) this.replaceNamespace(pruneSubtree(this.ns.snapshot(), e.subtree));
        for (const [id, l] of this.leases.leases) if (isWithin(l.path, e.subtree)) this.leases.leases.delete(id);
        this.migrations.set({ id: e.id, subtree: e.subtree, state: 'dropped', since: now });
        return { ok: true, value: null };
      }
      case 'migration.unfence':
        if (had?.state === 'fenced' || had?.state === 'failed') this.migrations.set({ ...had, state: 'unfenced' });
        return { ok: true, value: null };
    }
  }

  /** Why `subtree` cannot be fenced and handed over here, or null: it must be a directory of
   * this namespace (its root too: a merge hands over a whole ministry). */
  private fenceProblem(subtree: string): string | null {
    try {
      return this.ns.stat(subtree).kind === 'dir' ? null : `${subtree} is a file (only a directory can move to another ministry)`;
    } catch (err) {
      if (err instanceof FsError) return err.message;
      throw err;
    }
  }

  private replaceNamespace(bytes: Uint8Array): void {
    this.ns = Namespace.restore(bytes);
    this.listings.clear();
    this.listingBytes = 0;
  }

  /** What this member can say of migration `id` (the president's query): a fenced subtree is
   * `ready`, with its state, once every lease that could still be believed in it has run out:
   * `waitMs` (the lease TTL, the clock drift bound and a clerk's catch-up window) after this
   * member applied the fence, and after the last renewal of any write lease in it. */
  handover(id: string, now: number, waitMs: number): HandoverProgress {
    const m = this.migrations.get(id);
    if (!m) return { state: 'none', reason: '' };
    if (m.state !== 'fenced') return { state: m.state, reason: m.reason ?? '' };
    let until = m.since + waitMs;
    for (const l of this.leases.leases.values()) if (isWithin(l.path, m.subtree)) until = Math.max(until, l.since + l.ttlMs + waitMs);
    if (now < until) return { state: 'fenced', reason: `waiting out the leases of ${m.subtree} for ${Math.ceil(until - now)} ms` };
    return { state: 'ready', reason: '', namespace: extractSubtree(this.ns.snapshot(), m.subtree), leaseToken: this.leases.token };
  }

  /** The answer to a client's change, from what applying its entry gave (applyEntry). */
  static clientOutcome(o: Outcome): ClientOutcome {
    return o.ok ? { ok: true, value: changeResult(o.value as OpOk) } : o;
  }

  /** The saved answer of a client's change `seq`, if it already applied. */
  completed(clientId: string, seq: number): ClientOutcome | undefined {
    const r = this.ns.savedResult(clientId, seq);
    return r === undefined ? undefined : outcome(r);
  }

  /** `ls` and `stat`. A directory that is the root of another ministry's subtree shows in its
   * parent's listing as a directory. */
  read(op: ClientOp, cluster: ClusterState): ClientOutcome {
    try {
      if (op.op === 'ls') {
        const version = this.ns.listingVersion(op.path);
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
      if (op.op === 'stat') return { ok: true, value: { result: 'stat', stat: statResult(this.ns.stat(op.path)) } };
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

  /** Would `rmdir -r path` succeed now: a directory of this namespace, not its root? */
  isRemovableDir(path: string): boolean {
    try {
      return path !== this.root && this.ns.stat(path).kind === 'dir';
    } catch (e) {
      if (e instanceof FsError) return false;
      throw e;
    }
  }

  /** Why `path` cannot be opened (missing, a directory), or null if it is a file. */
  fileCheck(path: string): FsErrorData | null {
    try {
      const st = this.ns.stat(path);
      return st.kind === 'file' ? null : { code: 'EISDIR', message: `open ${path}: is a directory (leases are on files)`, path };
    } catch (e) {
      if (e instanceof FsError) return e.toJSON();
      throw e;
    }
  }

  /** [u32 length of the namespace snapshot][namespace snapshot][lease state] (the lease state
   * is protobuf; JSON in snapshots of older data folders: leases.ts reads both). With migration
   * marks: [u32 MARKS_FORMAT][u32 length][marks] first (no namespace snapshot is that long),
   * so that a ministry no migration touched writes the same bytes as before. */
  snapshot(): Uint8Array {
    const ns = this.ns.snapshot();
    const leases = this.leases.toBytes();
    const marks = this.migrations.size === 0 ? null : this.migrations.toBytes();
    const head = marks === null ? 0 : 8 + marks.length;
    const out = new Uint8Array(head + 4 + ns.length + leases.length);
    const view = new DataView(out.buffer);
    if (marks !== null) {
      view.setUint32(0, MARKS_FORMAT);
      view.setUint32(4, marks.length);
      out.set(marks, 8);
    }
    view.setUint32(head, ns.length);
    out.set(ns, head + 4);
    out.set(leases, head + 4 + ns.length);
    return out;
  }

  restore(data: Uint8Array, now = 0): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.migrations = new MigrationMarks();
    if (view.getUint32(0) === MARKS_FORMAT) {
      const m = view.getUint32(4);
      this.migrations = MigrationMarks.fromBytes(data.subarray(8, 8 + m), now);
      data = data.subarray(8 + m);
    }
    const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
    this.ns = Namespace.restore(data.subarray(4, 4 + n));
    this.listings.clear();
    this.listingBytes = 0;
    this.leases = WriteLeaseState.fromBytes(data.subarray(4 + n), now);
  }
}

function toMutation(op: ClientOp): MutationOp | null {
  switch (op.op) {
    case 'mkdir':
      return { op: 'mkdir', path: op.path, parents: op.parents ?? false };
    case 'create':
      return { op: 'create', path: op.path };
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
