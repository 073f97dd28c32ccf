// A ministry's replicated state: its subtree's namespace (src/fs/namespace.ts) with the
// clients' completion records, as the group log's state machine. Log entries are protobuf
// (ministry-entry.ts); results go back to the proposing client.

import type { ClientOp as WireOp, DirEntry, FsResult, StatResult } from '../fs/requests.js';
import { ROOT, nsToPair, pairToNs, type Creds } from '../fs/access.js';
import type { FsErrorData } from '../fs/errors.js';
import { FsError } from '../fs/errors.js';
import { Namespace, mergeListing, type ClientOp as NsClientOp, type MutationOp, type Op, type OpOk, type OpResult, type Stat } from '../fs/namespace.js';
import { decodeMinistryEntry, encodeMinistryEntry } from './ministry-entry.js';
import { IntTable } from '../runtime/int-table.js';
import type { ClusterState } from './cluster-state.js';
import { isWithin } from '../fs/path.js';
import { WriteLeaseState, type LeaseEntry } from './leases.js';
import { RenameLedger } from './rename-ledger.js';
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

/** First word of a snapshot that holds a rename ledger (see snapshot). */
const WITH_RENAMES = 0xffffffff;

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
    if (kind !== 'expireClients' && kind !== 'ack') this.applied.note(index, op);
    if (typeof kind === 'string' && kind.startsWith('xrename.')) return this.applyCrossRename(op as CrossRenameEntry, index);
    if (typeof kind === 'string' && kind.startsWith('lease.')) {
      const r = this.leases.apply(op as LeaseEntry, now);
      return r.ok ? { ok: true, value: { token: r.token ?? 0 } } : { ok: false, error: r.error };
    }
    const o = op as { op?: string; clientId?: unknown; seq?: unknown; acked?: unknown; body?: MutationOp };
    if (!this.renames.empty && kind === 'client' && typeof o.clientId === 'string' && typeof o.seq === 'number' && o.body && this.ns.savedResult(o.clientId, o.seq) === undefined) {
      // A name a rename across ministries holds: refused for now, not saved (the client retries).
      const held = this.renames.refusesChange(o.body);
      if (held) return { ok: false, error: held };
    }
    const r = this.ns.apply(op as Op);
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
    // The namespace's own result: the minister makes a client's answer of it (clientOutcome),
    // the clerks, which answer no change, make nothing.
    return r.ok ? { ok: true, value: r } : { ok: false, error: r.error };
  }

  /** A phase of a rename across ministries: the ledger's outcome (an OutOutcome, a Vote, or the
   * source's transaction an end closed). */
  private applyCrossRename(e: CrossRenameEntry, index: number): Outcome {
    switch (e.op) {
      case 'xrename.out':
        return { ok: true, value: this.renames.applyOut(this.ns, e, index) };
      case 'xrename.in':
        return { ok: true, value: this.renames.applyIn(this.ns, e, index) };
      case 'xrename.end': {
        const out = this.renames.applyEnd(this.ns, e.decision, e.now);
        if (out && e.decision.commit) this.noteNew(out.clientId, out.seq);
        return { ok: true, value: out };
      }
    }
  }

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

  /** The answer to a client's change, from what applying its entry gave (applyEntry). */
  static clientOutcome(o: Outcome): ClientOutcome {
    return o.ok ? { ok: true, value: changeResult(o.value as OpOk) } : o;
  }

  /** The saved answer of a client's change `seq`, if it already applied. */
  completed(clientId: string, seq: number): ClientOutcome | undefined {
    const r = this.ns.savedResult(clientId, seq);
    return r === undefined ? undefined : outcome(r);
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
      if (!this.ns.may(path, as, mode === 'read' ? 4 : 2)) return { code: 'EACCES', message: `open ${path}: permission denied (uid ${as.uid} may not ${mode} it, mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}:${st.gid})`, path };
      return null;
    } catch (e) {
      if (e instanceof FsError) return e.toJSON();
      throw e;
    }
  }

  /** [u32 length of the namespace snapshot][namespace snapshot][lease state] (the lease state
   * is protobuf; JSON in snapshots of older data folders: leases.ts reads both). With renames
   * across ministries open (or remembered), [WITH_RENAMES][u32 n][namespace][u32 r][ledger]
   * [lease state] instead: a namespace snapshot is never that long. */
  snapshot(): Uint8Array {
    const ns = this.ns.snapshot();
    const leases = this.leases.toBytes();
    const renames = this.renames.empty && this.renames.ended.size === 0 ? null : this.renames.toBytes();
    const head = renames === null ? 4 : 12 + renames.length;
    const out = new Uint8Array(head + ns.length + leases.length);
    const view = new DataView(out.buffer);
    if (renames === null) view.setUint32(0, ns.length);
    else {
      view.setUint32(0, WITH_RENAMES);
      view.setUint32(4, ns.length);
      view.setUint32(8 + ns.length, renames.length);
      out.set(renames, 12 + ns.length);
    }
    out.set(ns, renames === null ? 4 : 8);
    out.set(leases, head + ns.length);
    return out;
  }

  restore(data: Uint8Array, now = 0): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let at = 0;
    const withRenames = view.getUint32(0) === WITH_RENAMES;
    if (withRenames) at = 4;
    const n = view.getUint32(at);
    this.ns = Namespace.restore(data.subarray(at + 4, at + 4 + n));
    at += 4 + n;
    if (withRenames) {
      const r = view.getUint32(at);
      this.renames = RenameLedger.fromBytes(data.subarray(at + 4, at + 4 + r), this.renames.owner);
      at += 4 + r;
    } else this.renames = Object.assign(new RenameLedger(), { owner: this.renames.owner });
    this.listings.clear();
    this.listingBytes = 0;
    this.leases = WriteLeaseState.fromBytes(data.subarray(at), now);
  }

  /** The namespace itself, for the halves of a rename across ministries (rename-core.ts). */
  get namespace(): Namespace {
    return this.ns;
  }
}

function toMutation(op: ClientOp): MutationOp | null {
  switch (op.op) {
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
