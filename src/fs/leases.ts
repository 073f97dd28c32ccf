// The range/lease table of one ministry: capabilities as leases (thesis 3.1, 3.3).
//
// Capabilities: `read` and `write` on a whole file, `read-region` and `write-region` on a
// half-open byte range [start, end). Here a capability is a mode ('read' | 'write') and a
// range; the whole file is [0, Infinity) (`capabilityOf` names the four kinds).
//
// Compatibility: any number of holders at once as long as no write range overlaps another
// holder's range. Two leases conflict iff their ranges overlap and at least one is a write.
// Same-client policy: by default leases of the same client never conflict with each other (a
// client is one holder and orders its own accesses; this lets it hold a read and a write on
// the same bytes, e.g. to upgrade without a gap). `sameClientConflicts: true` makes the same
// client's leases conflict like anyone else's.
//
// Time and drift: every call takes `now` (ms on the grantor's clock). A lease granted (or
// renewed) at `now` for `ttlMs` tells the holder `expiresAt = now + ttlMs`. Clocks of the
// grantor and the holder may disagree by up to `maxDriftMs` over a lease period, so the
// grantor treats the lease as possibly valid until `validUntil = expiresAt + maxDriftMs`, and
// grants nothing conflicting with it before then (unless it is released). The holder must stop
// using the lease at (its own clock when it SENT the request) + ttlMs. Leases whose
// `validUntil` has passed no longer count, even before `expire(now)` removes them.
//
// Fencing tokens: every grant takes the next number of one table-wide increasing counter,
// so tokens are monotonic per file (a later lease on a file always has a higher token than
// any earlier one, including across delete/recreate of the path). Renewal keeps the token.
// Tokens from different tables (e.g. read leases held by clerks) are not comparable; write
// leases come from the minister's table.
//
// Fair waiting: a request that cannot be granted may wait in the FIFO queue of its file
// (`enqueue`, or `grantOrEnqueue`). Fairness rule: a waiter is grantable iff it conflicts with
// no live lease AND with no earlier waiter still in the queue (grantable or not). So a later
// request never overtakes an earlier conflicting one (a reader behind a waiting writer of the
// same bytes waits: writers do not starve), while requests for disjoint ranges, or readers
// behind readers, go ahead. A new `grant` obeys the same rule against the whole queue.
// Renewing a lease that conflicts with a waiter is refused (EBUSY), so holders cannot keep a
// waiter out forever by renewing; the lease stays valid until its current expiry. A waiter
// may carry a deadline; after it, the waiter is ignored and `expireWaiters` drops it.
// The caller wakes waiters by calling `grantWaiting(path, now)` after a release, and at
// `nextDeadline()` (the earliest validUntil or waiter deadline), instead of polling.

import { FsError, fsErrors, type FsErrorData } from './errors.js';
import { parsePath } from './path.js';

export type LeaseMode = 'read' | 'write';
export type Capability = 'read' | 'write' | 'read-region' | 'write-region';

/** Half-open [start, end); end = Infinity means to the end of the file, however long. */
export interface ByteRange {
  start: number;
  end: number;
}

export const WHOLE_FILE: Readonly<ByteRange> = Object.freeze({ start: 0, end: Infinity });

export interface LeaseRequest {
  clientId: string;
  path: string;
  mode: LeaseMode;
  /** Omitted: the whole file. */
  range?: ByteRange;
  ttlMs: number;
}

export interface Lease {
  id: string;
  clientId: string;
  path: string;
  mode: LeaseMode;
  start: number;
  end: number;
  token: number;
  grantedAt: number;
  /** What the holder is told: last grant/renewal time + ttl. */
  expiresAt: number;
  /** expiresAt + maxDriftMs: until then the grantor treats the lease as live. */
  validUntil: number;
}

export interface Waiter {
  id: string;
  /** Arrival order, table-wide. */
  seq: number;
  clientId: string;
  path: string;
  mode: LeaseMode;
  start: number;
  end: number;
  ttlMs: number;
  enqueuedAt: number;
  /** After this time the waiter no longer counts (the client gave up); Infinity: never. */
  deadline: number;
}

export type GrantResult = { granted: Lease } | { conflicts: Lease[]; blockedBy: Waiter[] };
export type RenewResult = { renewed: Lease } | { error: FsErrorData };

export interface LeaseTableOptions {
  /** Bound on clock disagreement between grantor and holders over a lease period, ms. */
  maxDriftMs: number;
  /** Prefix of lease and waiter ids (e.g. the node id when several tables hand out leases). */
  idPrefix?: string;
  /** Whether leases of the same client conflict with each other (default false). */
  sameClientConflicts?: boolean;
  /**
   * Most waiters one file may queue (default 256); beyond it `enqueue` fails with EAGAIN.
   * Bounds memory and the cost of a wake-up (the fairness scan is quadratic in the queue).
   */
  maxWaitersPerFile?: number;
}

interface Holder {
  clientId: string;
  mode: LeaseMode;
  start: number;
  end: number;
}

interface FileState {
  leases: Map<string, Lease>;
  queue: Waiter[];
}

/** The four capability kinds of the thesis. */
export function capabilityOf(x: { mode: LeaseMode; start: number; end: number }): Capability {
  const whole = x.start === 0 && x.end === Infinity;
  return x.mode === 'read' ? (whole ? 'read' : 'read-region') : whole ? 'write' : 'write-region';
}

export function rangesOverlap(a: ByteRange, b: ByteRange): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Range ends on the wire: Infinity is not JSON, so it travels as null. */
export function encodeRangeEnd(end: number): number | null {
  return end === Infinity ? null : end;
}

export function decodeRangeEnd(end: number | null): number {
  return end === null ? Infinity : end;
}

const SNAPSHOT_FORMAT = 'govfs.leases';
const SNAPSHOT_VERSION = 1;

export class LeaseTable {
  readonly maxDriftMs: number;
  readonly idPrefix: string;
  readonly sameClientConflicts: boolean;
  readonly maxWaitersPerFile: number;
  private readonly files = new Map<string, FileState>();
  private readonly byId = new Map<string, Lease>();
  private nextLease = 1;
  private nextToken = 1;
  private nextWaiter = 1;

  constructor(options: LeaseTableOptions) {
    if (typeof options.maxDriftMs !== 'number' || !Number.isFinite(options.maxDriftMs) || options.maxDriftMs < 0)
      throw new FsError('EINVAL', `lease table: maxDriftMs must be a finite number >= 0, got ${String(options.maxDriftMs)}`);
    this.maxDriftMs = options.maxDriftMs + 0;
    this.idPrefix = options.idPrefix ?? '';
    this.sameClientConflicts = options.sameClientConflicts ?? false;
    this.maxWaitersPerFile = options.maxWaitersPerFile ?? 256;
    if (!Number.isSafeInteger(this.maxWaitersPerFile) || this.maxWaitersPerFile < 1)
      throw new FsError('EINVAL', `lease table: maxWaitersPerFile must be a positive integer, got ${String(options.maxWaitersPerFile)}`);
  }

  // --- queries -------------------------------------------------------------------------------

  get(leaseId: string): Lease | undefined {
    const l = this.byId.get(leaseId);
    return l === undefined ? undefined : copy(l);
  }

  /** Every lease in the table (including dead ones not yet expired), in grant order. */
  all(): Lease[] {
    return [...this.byId.values()].map(copy);
  }

  /** Leases on `path`; with `now`, only those still live (validUntil > now). */
  leasesOf(path: string, now?: number): Lease[] {
    const f = this.files.get(path);
    if (f === undefined) return [];
    return [...f.leases.values()].filter((l) => now === undefined || l.validUntil > now).map(copy);
  }

  /** The queue of `path`, in arrival order (including waiters past their deadline). */
  waiting(path: string): Waiter[] {
    return (this.files.get(path)?.queue ?? []).map((w) => ({ ...w }));
  }

  /**
   * Leases on `path` that conflict with `mode` on `range`. With `now`, only live ones; with
   * `clientId`, the same-client policy applies (a client's own leases are left out unless
   * sameClientConflicts).
   */
  conflicting(path: string, mode: LeaseMode, range: ByteRange = WHOLE_FILE, opts: { now?: number; clientId?: string } = {}): Lease[] {
    const f = this.files.get(path);
    if (f === undefined) return [];
    const me: Holder = { clientId: opts.clientId ?? '\0none', mode, start: range.start, end: range.end };
    return [...f.leases.values()]
      .filter((l) => (opts.now === undefined || l.validUntil > opts.now) && this.conflict(me, l))
      .map(copy);
  }

  /** The earliest time at which something changes by time alone (a lease or a waiter lapses). */
  nextDeadline(): number | undefined {
    let t = Infinity;
    for (const l of this.byId.values()) t = Math.min(t, l.validUntil);
    for (const f of this.files.values()) for (const w of f.queue) t = Math.min(t, w.deadline);
    return t === Infinity ? undefined : t;
  }

  // --- grants --------------------------------------------------------------------------------

  /**
   * Grant `request` now if it conflicts with no live lease and no earlier waiter of the file;
   * otherwise say with what it conflicts (nothing changes). EINVAL for a malformed request.
   */
  grant(request: LeaseRequest, now: number): GrantResult {
    const req = checkLeaseRequest(request);
    checkNow(now);
    const f = this.files.get(req.path);
    const conflicts = f === undefined ? [] : [...f.leases.values()].filter((l) => l.validUntil > now && this.conflict(req, l));
    const blockedBy = f === undefined ? [] : f.queue.filter((w) => w.deadline > now && this.conflict(req, w));
    if (conflicts.length > 0 || blockedBy.length > 0) return { conflicts: conflicts.map(copy), blockedBy: blockedBy.map((w) => ({ ...w })) };
    return { granted: copy(this.insert(req, now)) };
  }

  /** Grant now, or queue the request (fairly) and say what it waits for. */
  grantOrEnqueue(
    request: LeaseRequest,
    now: number,
    opts: { deadline?: number } = {},
  ): { granted: Lease } | { waiter: Waiter; conflicts: Lease[]; blockedBy: Waiter[] } {
    const r = this.grant(request, now);
    if ('granted' in r) return r;
    return { waiter: this.enqueue(request, now, opts), conflicts: r.conflicts, blockedBy: r.blockedBy };
  }

  /** Put a request at the back of its file's queue. `deadline`: when the client gives up. */
  enqueue(request: LeaseRequest, now: number, opts: { deadline?: number } = {}): Waiter {
    const req = checkLeaseRequest(request);
    checkNow(now);
    const deadline = opts.deadline ?? Infinity;
    if (typeof deadline !== 'number' || !(Number.isFinite(deadline) || deadline === Infinity))
      throw fsErrors.invalid('enqueue', req.path, `deadline must be a finite number (ms) or Infinity, got ${String(deadline)}`);
    const queue = this.files.get(req.path)?.queue;
    if (queue !== undefined && queue.length >= this.maxWaitersPerFile)
      throw new FsError('EAGAIN', `lease ${req.path}: ${queue.length} requests already wait for this file; retry later`, req.path);
    const seq = this.nextWaiter++;
    const w: Waiter = { id: `${this.idPrefix}w${seq}`, seq, ...req, enqueuedAt: now, deadline: deadline + 0 };
    this.file(req.path).queue.push(w);
    return { ...w };
  }

  /** Remove a waiter (the client gave up or disconnected). */
  cancel(waiterId: string): Waiter | undefined {
    for (const [path, f] of this.files) {
      const i = f.queue.findIndex((w) => w.id === waiterId);
      if (i >= 0) {
        const [w] = f.queue.splice(i, 1);
        this.gc(path, f);
        return w;
      }
    }
    return undefined;
  }

  /** Waiters of `path` that can be granted now, in arrival order (see the fairness rule). */
  nextGrantable(path: string, now: number): Waiter[] {
    const f = this.files.get(path);
    if (f === undefined) return [];
    const live = [...f.leases.values()].filter((l) => l.validUntil > now);
    const earlier: Waiter[] = [];
    const out: Waiter[] = [];
    for (const w of f.queue) {
      if (w.deadline <= now) continue;
      if (!live.some((l) => this.conflict(w, l)) && !earlier.some((e) => this.conflict(w, e))) out.push({ ...w });
      earlier.push(w);
    }
    return out;
  }

  /** Dequeue and grant every waiter of `path` that `nextGrantable` allows, in order. */
  grantWaiting(path: string, now: number): Array<{ waiter: Waiter; lease: Lease }> {
    checkNow(now);
    const ready = this.nextGrantable(path, now);
    if (ready.length === 0) return [];
    const f = this.files.get(path) as FileState;
    const ids = new Set(ready.map((w) => w.id));
    f.queue = f.queue.filter((w) => !ids.has(w.id));
    return ready.map((w) => ({ waiter: w, lease: copy(this.insert(w, now)) }));
  }

  /** grantWaiting for every file with a queue (after expire, or at nextDeadline()). */
  grantAllWaiting(now: number): Array<{ waiter: Waiter; lease: Lease }> {
    const out: Array<{ waiter: Waiter; lease: Lease }> = [];
    for (const path of [...this.files.keys()]) out.push(...this.grantWaiting(path, now));
    return out;
  }

  // --- holders -------------------------------------------------------------------------------

  /** The holder is done (or confirmed a revocation): the lease stops counting at once. */
  release(leaseId: string): Lease | undefined {
    const l = this.byId.get(leaseId);
    if (l === undefined) return undefined;
    this.remove(l);
    return copy(l);
  }

  /** Release every lease and cancel every waiter of a client (its session ended). */
  releaseClient(clientId: string): { leases: Lease[]; waiters: Waiter[] } {
    const leases = [...this.byId.values()].filter((l) => l.clientId === clientId);
    for (const l of leases) this.remove(l);
    const waiters: Waiter[] = [];
    for (const [path, f] of [...this.files]) {
      waiters.push(...f.queue.filter((w) => w.clientId === clientId));
      f.queue = f.queue.filter((w) => w.clientId !== clientId);
      this.gc(path, f);
    }
    return { leases: leases.map(copy), waiters };
  }

  /**
   * Extend a live lease to now + ttlMs (never shortening it). ESTALE if it is gone or lapsed;
   * EBUSY if a waiter conflicts with it (finish and release instead; it stays valid until its
   * current expiry).
   */
  renew(leaseId: string, now: number, ttlMs: number): RenewResult {
    checkNow(now);
    checkTtl(ttlMs, 'renew', undefined);
    const l = this.byId.get(leaseId);
    if (l === undefined || l.validUntil <= now)
      return { error: fsErrors.stale('renew lease', l?.path, `lease ${leaseId} has expired or was released; request a new one`).toJSON() };
    const f = this.files.get(l.path) as FileState;
    const waiter = f.queue.find((w) => w.deadline > now && this.conflict(w, l));
    if (waiter !== undefined)
      return {
        error: fsErrors
          .busy('renew lease', l.path, `lease ${leaseId} cannot be renewed: ${waiter.mode} request ${waiter.id} of ${waiter.clientId} is waiting for [${waiter.start}, ${waiter.end}); release the lease when done`)
          .toJSON(),
      };
    l.expiresAt = Math.max(l.expiresAt, now + ttlMs);
    l.validUntil = l.expiresAt + this.maxDriftMs;
    return { renewed: copy(l) };
  }

  /** Remove leases whose validUntil has passed; returns them. */
  expire(now: number): Lease[] {
    checkNow(now);
    const gone = [...this.byId.values()].filter((l) => l.validUntil <= now);
    for (const l of gone) this.remove(l);
    return gone.map(copy);
  }

  /** Remove waiters whose deadline has passed; returns them. */
  expireWaiters(now: number): Waiter[] {
    checkNow(now);
    const gone: Waiter[] = [];
    for (const [path, f] of [...this.files]) {
      gone.push(...f.queue.filter((w) => w.deadline <= now));
      f.queue = f.queue.filter((w) => w.deadline > now);
      this.gc(path, f);
    }
    return gone;
  }

  // --- snapshots -----------------------------------------------------------------------------

  toJSON(): LeaseTableJSON {
    const waiters: Waiter[] = [];
    for (const f of this.files.values()) waiters.push(...f.queue);
    waiters.sort((a, b) => a.seq - b.seq);
    return {
      format: SNAPSHOT_FORMAT,
      v: SNAPSHOT_VERSION,
      maxDriftMs: this.maxDriftMs,
      idPrefix: this.idPrefix,
      sameClientConflicts: this.sameClientConflicts,
      maxWaitersPerFile: this.maxWaitersPerFile,
      nextLease: this.nextLease,
      nextToken: this.nextToken,
      nextWaiter: this.nextWaiter,
      leases: [...this.byId.values()].map((l) => ({ ...l, end: encodeRangeEnd(l.end) })),
      waiters: waiters.map((w) => ({ ...w, end: encodeRangeEnd(w.end), deadline: encodeRangeEnd(w.deadline) })),
    };
  }

  static fromJSON(json: unknown): LeaseTable {
    const corrupt = (what: string) => new FsError('EINVAL', `corrupt lease table snapshot: ${what}`);
    const d = json as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || d['format'] !== SNAPSHOT_FORMAT) throw corrupt('not a govfs lease table');
    if (d['v'] !== SNAPSHOT_VERSION) throw corrupt(`unsupported format version ${String(d['v'])}`);
    if (typeof d['idPrefix'] !== 'string' || typeof d['sameClientConflicts'] !== 'boolean') throw corrupt('bad options');
    const t = new LeaseTable({
      maxDriftMs: d['maxDriftMs'] as number,
      idPrefix: d['idPrefix'],
      sameClientConflicts: d['sameClientConflicts'],
      maxWaitersPerFile: d['maxWaitersPerFile'] as number,
    });
    for (const k of ['nextLease', 'nextToken', 'nextWaiter'] as const) {
      const v = d[k];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw corrupt(`bad ${k}`);
      t[k] = v;
    }
    if (!Array.isArray(d['leases']) || !Array.isArray(d['waiters'])) throw corrupt('bad leases or waiters');
    for (const raw of d['leases'] as Array<Record<string, unknown>>) {
      const l = { ...raw, end: decodeRangeEnd(raw?.['end'] as number | null) } as unknown as Lease;
      if (!validLease(l) || t.byId.has(l.id) || l.token >= t.nextToken) throw corrupt(`bad lease ${String(raw?.['id'])}`);
      t.byId.set(l.id, l);
      t.file(l.path).leases.set(l.id, l);
    }
    let lastSeq = 0;
    for (const raw of d['waiters'] as Array<Record<string, unknown>>) {
      const w = {
        ...raw,
        end: decodeRangeEnd(raw?.['end'] as number | null),
        deadline: decodeRangeEnd(raw?.['deadline'] as number | null),
      } as unknown as Waiter;
      if (!validWaiter(w) || w.seq <= lastSeq || w.seq >= t.nextWaiter) throw corrupt(`bad waiter ${String(raw?.['id'])}`);
      lastSeq = w.seq;
      t.file(w.path).queue.push(w);
    }
    return t;
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.toJSON()));
  }

  static restore(bytes: Uint8Array): LeaseTable {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (e) {
      throw new FsError('EINVAL', `corrupt lease table snapshot: not UTF-8 JSON (${(e as Error).message})`, undefined, { cause: e });
    }
    return LeaseTable.fromJSON(json);
  }

  // --- internals -----------------------------------------------------------------------------

  private conflict(a: Holder, b: Holder): boolean {
    if (!this.sameClientConflicts && a.clientId === b.clientId) return false;
    return (a.mode === 'write' || b.mode === 'write') && a.start < b.end && b.start < a.end;
  }

  private file(path: string): FileState {
    let f = this.files.get(path);
    if (f === undefined) this.files.set(path, (f = { leases: new Map(), queue: [] }));
    return f;
  }

  private gc(path: string, f: FileState): void {
    if (f.leases.size === 0 && f.queue.length === 0) this.files.delete(path);
  }

  private insert(req: NormalLeaseRequest, now: number): Lease {
    const n = this.nextLease++;
    const expiresAt = now + req.ttlMs;
    const lease: Lease = {
      id: `${this.idPrefix}${n}`,
      clientId: req.clientId,
      path: req.path,
      mode: req.mode,
      start: req.start,
      end: req.end,
      token: this.nextToken++,
      grantedAt: now,
      expiresAt,
      validUntil: expiresAt + this.maxDriftMs,
    };
    this.byId.set(lease.id, lease);
    this.file(req.path).leases.set(lease.id, lease);
    return lease;
  }

  private remove(l: Lease): void {
    this.byId.delete(l.id);
    const f = this.files.get(l.path);
    if (f !== undefined) {
      f.leases.delete(l.id);
      this.gc(l.path, f);
    }
  }
}

export interface LeaseTableJSON {
  format: string;
  v: number;
  maxDriftMs: number;
  idPrefix: string;
  sameClientConflicts: boolean;
  maxWaitersPerFile: number;
  nextLease: number;
  nextToken: number;
  nextWaiter: number;
  leases: Array<Omit<Lease, 'end'> & { end: number | null }>;
  waiters: Array<Omit<Waiter, 'end' | 'deadline'> & { end: number | null; deadline: number | null }>;
}

/** A validated request with its range filled in. */
export interface NormalLeaseRequest {
  clientId: string;
  path: string;
  mode: LeaseMode;
  start: number;
  end: number;
  ttlMs: number;
}

function copy(l: Lease): Lease {
  return { ...l };
}

function checkNow(now: number): void {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new FsError('EINVAL', `lease table: now must be a finite number (ms), got ${String(now)}`);
}

function checkTtl(ttlMs: unknown, op: string, path: string | undefined): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) throw fsErrors.invalid(op, path, `ttlMs must be a finite number > 0, got ${String(ttlMs)}`);
}

/** Validate a request and normalise it (range filled in). Throws FsError EINVAL. */
export function checkLeaseRequest(r: LeaseRequest): NormalLeaseRequest {
  if (typeof r !== 'object' || r === null) throw fsErrors.invalid('lease', undefined, 'a lease request must be an object');
  const path = r.path;
  parsePath(path);
  if (typeof r.clientId !== 'string' || r.clientId.length === 0) throw fsErrors.invalid('lease', path, 'clientId must be a non-empty string');
  if (r.mode !== 'read' && r.mode !== 'write') throw fsErrors.invalid('lease', path, `mode must be 'read' or 'write', got ${String(r.mode)}`);
  const range = r.range ?? WHOLE_FILE;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) throw fsErrors.invalid('lease', path, `range start must be an integer >= 0, got ${String(start)}`);
  if (!(end === Infinity || Number.isSafeInteger(end)) || end <= start)
    throw fsErrors.invalid('lease', path, `range [${String(start)}, ${String(end)}) is empty or malformed (end must be > start, or Infinity for the whole file)`);
  checkTtl(r.ttlMs, 'lease', path);
  return { clientId: r.clientId, path, mode: r.mode, start: start + 0, end, ttlMs: r.ttlMs + 0 };
}

function validHolderFields(x: Record<string, unknown>): boolean {
  if (typeof x['id'] !== 'string' || typeof x['clientId'] !== 'string' || typeof x['path'] !== 'string') return false;
  if (x['mode'] !== 'read' && x['mode'] !== 'write') return false;
  const s = x['start'];
  const e = x['end'];
  return typeof s === 'number' && Number.isSafeInteger(s) && s >= 0 && typeof e === 'number' && (e === Infinity || Number.isSafeInteger(e)) && e > s;
}

function validLease(l: Lease): boolean {
  const x = l as unknown as Record<string, unknown>;
  return (
    typeof x === 'object' &&
    x !== null &&
    validHolderFields(x) &&
    Number.isSafeInteger(l.token) &&
    l.token >= 1 &&
    [l.grantedAt, l.expiresAt, l.validUntil].every((v) => typeof v === 'number' && Number.isFinite(v))
  );
}

function validWaiter(w: Waiter): boolean {
  const x = w as unknown as Record<string, unknown>;
  return (
    typeof x === 'object' &&
    x !== null &&
    validHolderFields(x) &&
    Number.isSafeInteger(w.seq) &&
    typeof w.ttlMs === 'number' &&
    w.ttlMs > 0 &&
    Number.isFinite(w.enqueuedAt) &&
    typeof w.deadline === 'number' &&
    (Number.isFinite(w.deadline) || w.deadline === Infinity)
  );
}
