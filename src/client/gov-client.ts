// GovClient: the client library (DESIGN.md, "GovFS roles"; thesis 3.3). It caches the subtree
// map (longest-prefix match), sends changes to a subtree's minister and reads to its clerks,
// follows redirects, retries with backoff on timeouts and failovers, and never applies a
// change twice: every change carries this client's id and a sequence number, and ministries
// keep each client's last result in their replicated state (RIFL).
//
// Pure: it talks through a `ClientTransport`, so the same client runs in process, over the
// network, and under the simulator (where the transport's time is virtual).
//
// Over 600 lines on purpose: this class is the whole API a program sees (namespace, POSIX
// metadata, leases, file contents) and its retry loop; the parts with their own state live
// beside it (posix.ts, file-data.ts, status.ts).

import type { LeaseMode } from '../fs/ranges.js';
import { FsError } from '../fs/errors.js';
import { checkPath } from '../fs/path.js';
import { SubtreeMap } from '../fs/subtree-map.js';
import type { CredsMessage, DirEntry, EntryKind, FsOp, FsReplyMessage, FsRequestMessage, FsResult, MinistryInfo, TicketInfo, TicketStatusMessage, TicketStatusRequestMessage } from '../fs/requests.js';
import { checkMode, checkOwner, clientStat, credsMessage, utimensOp, type AsOptions, type Creds, type Stat } from './posix.js';
import { FileData, type Progress } from './file-data.js';

export type { AsOptions, Creds, DirEntry, EntryKind, FsOp, FsReplyMessage, FsRequestMessage, MinistryInfo, Stat, TicketInfo };

export interface ClientTransport {
  /** Ask node `node`; rejects (with an error whose `code` is ETIMEDOUT, ENOENT, ...) when no
   * answer comes in `timeoutMs`. */
  ask(node: string, msg: object, timeoutMs: number): Promise<unknown>;
  /** Address that receives this client's tickets ('' for none). */
  readonly ticketAddress: string;
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1) (seeded under the simulator). */
  random(): number;
  now(): number;
}

export interface GovClientOptions {
  clientId: string;
  /** Node ids the client may contact first. */
  nodes: string[];
  /** One attempt's timeout (default 1,000 ms). */
  requestTimeoutMs?: number;
  /** Give up after this long (default 30,000 ms): the last error, or ETIMEDOUT. */
  deadlineMs?: number;
  /** Who this client acts as for permission checks (default root: uid 0, gid 0). */
  credentials?: Creds;
  /** Chunk store answer timeout (default 5,000 ms: then its replica counts as failed); pieces in flight per call (4). */
  dataTimeoutMs?: number;
  dataWindow?: number;
}

export interface ReadOptions extends AsOptions {
  /** Confirm with the minister before answering (ReadIndex): see every change committed
   * before the call, not only your own. */
  linearizable?: boolean;
}


export type { LeaseMode };

export interface OpenOptions {
  mode: LeaseMode;
  /** Half-open byte range [start, end); the whole file when omitted. */
  range?: [number, number];
  /** The same range as `range` gives, bound by bound (either may be left out). */
  start?: number;
  end?: number;
  /** Wait for a conflicting lease to free (default true); false: EBUSY at once. */
  wait?: boolean;
  /** Give up waiting after this long: ETIMEDOUT. */
  deadlineMs?: number;
  /** Open as this caller (read or write permission on the file). */
  as?: Creds;
}

/** What the holder of a lease knows of it. */
export interface LeaseInfo {
  id: string;
  path: string;
  mode: LeaseMode;
  range: [number, number];
  /** Monotonic per file: work done under an older token can be refused. */
  token: number;
  /** Local time (this client's clock) after which the lease must not be used. */
  expiresAt: number;
  grantedBy: string;
}

/** An open capability: renewed automatically until released, revoked or lost. */
export class LeaseHandle extends EventTarget {
  private readonly controller = new AbortController();
  constructor(
    readonly lease: LeaseInfo,
    private readonly client: GovClient,
  ) {
    super();
  }
  /** Aborted when the lease is revoked, expires without renewal, or is released. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  /** True while the holder may use it: not aborted and not past its expiry on this clock. */
  valid(now: number): boolean {
    return !this.controller.signal.aborted && now < this.lease.expiresAt;
  }
  /** @internal */
  end(reason: 'revoked' | 'expired' | 'released' | 'lost'): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(new FsError(reason === 'released' ? 'ECANCELED' : 'ESTALE', `lease ${this.lease.id} on ${this.lease.path} ${reason}`, this.lease.path));
    if (reason === 'revoked') this.dispatchEvent(new Event('revoked'));
    this.dispatchEvent(new Event('end'));
  }
  release(): Promise<void> {
    return this.client.releaseLease(this);
  }
  /** File contents (issue 17, file-data.ts): up to `length` bytes (fewer at the end). */
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.client.data.read(this, offset, length);
  }
  /** Done once every replica holds the bytes durably (and a new size is committed). */
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.client.data.write(this, offset, data);
  }
  truncate(size: number): Promise<void> {
    return this.client.data.truncate(this, size);
  }
  /** Commit the mtime of writes that did not grow the file. */
  sync(): Promise<void> {
    return this.client.data.sync(this);
  }
  async close(): Promise<void> {
    try {
      await this.sync();
    } finally {
      await this.release();
    }
  }
}

/** Tickets of answered changes a client keeps (for ticketStatus); older ones are dropped. */
const TICKETS_KEPT = 1024;

const RETRYABLE = new Set(['EAGAIN', 'ETIMEDOUT', 'EUNAVAILABLE', 'ECANCELED', 'ENOENT_ACTOR', 'EHOSTDOWN', 'EHOSTUNREACH']);

export class GovClient {
  readonly clientId: string;
  private readonly transport: ClientTransport;
  private readonly nodes: string[];
  private readonly requestTimeoutMs: number;
  private readonly deadlineMs: number;
  /** The credentials requests carry (undefined: none, which servers take as root). */
  private readonly creds: CredsMessage | undefined;
  private readonly map = new SubtreeMap<MinistryInfo>();
  private readonly lastSeen = new Map<string, number>();
  private seq = 0;
  /** Changes sent and not yet answered (or given up): several may be in flight at once. */
  private readonly inflight = new Set<number>();
  /** Tickets of changes, by sequence number, as the ministers sent them: those of changes in
   * flight and of the last TICKETS_KEPT answered ones. */
  readonly tickets = new Map<number, TicketInfo>();
  /** Nodes that recently failed to answer, until when to avoid them. */
  private readonly suspects = new Map<string, number>();
  /** Counters for tests and `govfs status`. */
  readonly stats = { requests: 0, redirects: 0, retries: 0, timeouts: 0 };

  /** @internal File contents (file-data.ts). */
  readonly data: FileData;

  constructor(transport: ClientTransport, opts: GovClientOptions) {
    this.transport = transport;
    this.data = new FileData(
      {
        dataRequest: (op, path, how) => (how === 'change' ? this.change(op, path, undefined) : how === 'read' ? this.send(op, path, false, true) : this.send(op, path, false, false, { toMinister: true, attemptTimeoutMs: this.requestTimeoutMs, sentAt: { t: 0 } })),
        askNode: (node, op, timeoutMs) => this.transport.ask(node, this.request(op), timeoutMs) as Promise<FsReplyMessage>,
        random: () => this.transport.random(),
        now: () => this.transport.now(),
      },
      { timeoutMs: opts.dataTimeoutMs, window: opts.dataWindow },
    );
    this.clientId = opts.clientId;
    this.nodes = [...opts.nodes];
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 1_000;
    this.deadlineMs = opts.deadlineMs ?? 30_000;
    this.creds = opts.credentials === undefined ? undefined : credsMessage(opts.credentials);
    if (this.nodes.length === 0) throw new FsError('EINVAL', 'a client needs at least one node to contact');
  }

  /** The highest log index of ministry `id` seen in a reply to this client (a change it made, or
   * the applied index a read was served at); 0 if none. `govfs backup` records by it the point
   * its copy of a ministry holds. */
  seenIndex(ministry: string): number {
    return this.lastSeen.get(ministry) ?? 0;
  }

  /** The subtree of the ministry this client's map has serving `path` (undefined before it
   * knows one). Each ministry numbers its inodes itself: `govfs mount` qualifies them with it. */
  ministryOf(path: string): string | undefined {
    return this.map.lookup(path)?.subtree;
  }

  /** `mode`: permission bits (default 0755). Every operation takes `as` (AsOptions). */
  async mkdir(path: string, opts: { parents?: boolean; mode?: number } & AsOptions = {}): Promise<void> {
    const mode = opts.mode === undefined ? {} : { mode: checkMode(opts.mode, 'mkdir', path) };
    return this.change({ op: 'mkdir', mkdir: { path: checkPath(path), parents: opts.parents ?? false, ...mode } }, path, opts.as).then(() => undefined);
  }
  /** `mode`: permission bits (default 0644). */
  async create(path: string, opts: { mode?: number } & AsOptions = {}): Promise<void> {
    const mode = opts.mode === undefined ? {} : { mode: checkMode(opts.mode, 'create', path) };
    return this.change({ op: 'create', create: { path: checkPath(path), ...mode } }, path, opts.as).then(() => undefined);
  }
  async rm(path: string, opts: AsOptions = {}): Promise<void> {
    return this.change({ op: 'rm', rm: { path: checkPath(path) } }, path, opts.as).then(() => undefined);
  }
  async rmdir(path: string, opts: { recursive?: boolean } & AsOptions = {}): Promise<void> {
    return this.change({ op: 'rmdir', rmdir: { path: checkPath(path), recursive: opts.recursive ?? false } }, path, opts.as).then(() => undefined);
  }
  /** POSIX rename: over an existing file, or a directory over an empty directory. */
  async rename(from: string, to: string, opts: AsOptions = {}): Promise<void> {
    checkPath(to);
    return this.change({ op: 'rename', rename: { from: checkPath(from), to } }, from, opts.as).then(() => undefined);
  }
  /** Permission bits with setuid, setgid and sticky (07777): the owner or root only. */
  async chmod(path: string, mode: number, opts: AsOptions = {}): Promise<void> {
    return this.change({ op: 'chmod', chmod: { path: checkPath(path), mode: checkMode(mode, 'chmod', path) } }, path, opts.as).then(() => undefined);
  }
  /** -1 keeps the uid or gid. */
  async chown(path: string, uid: number, gid: number, opts: AsOptions = {}): Promise<void> {
    return this.change({ op: 'chown', chown: { path: checkPath(path), uid: checkOwner(uid, 'uid', path), gid: checkOwner(gid, 'gid', path) } }, path, opts.as).then(() => undefined);
  }
  /** Nanoseconds since the epoch; null: the time of the change. */
  async utimens(path: string, atimeNs: bigint | null, mtimeNs: bigint | null, opts: AsOptions = {}): Promise<void> {
    return this.change({ op: 'utimens', utimens: utimensOp(checkPath(path), atimeNs, mtimeNs) }, path, opts.as).then(() => undefined);
  }
  /** A symbolic link at `path` holding `target` (never resolved by the servers). */
  async symlink(target: string, path: string, opts: AsOptions = {}): Promise<void> {
    return this.change({ op: 'symlink', symlink: { target, path: checkPath(path) } }, path, opts.as).then(() => undefined);
  }
  /** A hard link `newPath` of the file `existing`, in the same ministry (else EXDEV). */
  async link(existing: string, newPath: string, opts: AsOptions = {}): Promise<void> {
    checkPath(newPath);
    return this.change({ op: 'link', link: { from: checkPath(existing), to: newPath } }, existing, opts.as).then(() => undefined);
  }
  // Reads are not `async` functions: each async layer around the request added a promise and
  // a resolve job per call (the client thread of the ls benchmark makes 100,000 a second).
  ls(path: string, opts: ReadOptions = {}): Promise<DirEntry[]> {
    return this.read({ op: 'ls', ls: { path } }, path, opts, lsEntries);
  }
  stat(path: string, opts: ReadOptions = {}): Promise<Stat> {
    return this.read({ op: 'stat', stat: { path } }, path, opts, statOf);
  }
  readlink(path: string, opts: ReadOptions = {}): Promise<string> {
    return this.read({ op: 'readlink', readlink: { path } }, path, opts, readlinkTarget);
  }

  /** Create or replace the file with `data`, under a write lease (file-data.ts). */
  writeFile(path: string, data: Uint8Array, opts: { progress?: Progress } = {}): Promise<void> {
    return this.data.writeFile(this, path, data, opts.progress);
  }
  readFile(path: string, opts: { progress?: Progress } = {}): Promise<Uint8Array> {
    return this.data.readFile(this, path, opts.progress);
  }
  truncate(path: string, size: number): Promise<void> {
    return this.data.truncateFile(this, path, size);
  }

  private readonly handles = new Map<string, LeaseHandle>();
  /** Ids of leases revoked before this client learnt of them (see onRevoked). */
  private readonly revokedUnseen = new Set<string>();
  private openSeq = 0;

  /** Take a capability on a file (thesis 3.1): `read`/`write` on the whole file, or on a byte
   * range (read-region / write-region). Renewed automatically until released. */
  async open(path: string, opts: OpenOptions): Promise<LeaseHandle> {
    checkPath(path);
    if (opts.mode !== 'read' && opts.mode !== 'write') throw new FsError('EINVAL', `open ${path}: mode must be "read" or "write"`, path);
    const [start, end] = opts.range ?? [opts.start ?? 0, opts.end ?? Infinity];
    if (!(Number.isSafeInteger(start) && start >= 0 && (end === Infinity || (Number.isSafeInteger(end) && end > start)))) {
      throw new FsError('EINVAL', `open ${path}: bad range [${start}, ${end}) (want 0 <= start < end)`, path);
    }
    // The same request id on every retry: the grantor answers a retry with what the first
    // attempt queued or got, instead of queueing (and later holding) a second lease.
    const reqId = `o${++this.openSeq}`;
    const op: FsOp = { op: 'leaseOpen', leaseOpen: { path, mode: opts.mode, start, end, wait: opts.wait ?? true, deadlineMs: opts.deadlineMs ?? 0, reqId } };
    const sentAt = { t: 0 };
    const result = await this.send(op, path, false, false, {
      toMinister: opts.mode === 'write',
      // The grantor may hold the request while a conflicting lease goes; a dead one is left
      // after a few seconds for another member.
      attemptTimeoutMs: Math.max(this.requestTimeoutMs, Math.min(opts.deadlineMs || Infinity, 5_000) + 500),
      sentAt,
    }, opts.as === undefined ? this.creds : credsMessage(opts.as));
    if (result?.result !== 'leaseOpen') throw new FsError('EINVAL', `open ${path}: the server answered without a lease (${result?.result ?? 'no result'})`, path);
    const grant = result.leaseOpen;
    // Count from the send time plus the time the grantor held the request, less what the two
    // clocks may have drifted apart meanwhile.
    const held = Math.max(0, grant.heldMs) * (1 - Math.min(1, Math.max(0, grant.driftRate)));
    const handle = new LeaseHandle(
      { id: grant.id, path, mode: grant.mode, range: [grant.start, grant.end], token: grant.token, expiresAt: sentAt.t + held + grant.ttlMs, grantedBy: grant.grantedBy },
      this,
    );
    this.handles.set(grant.id, handle);
    if (this.revokedUnseen.delete(grant.id)) {
      // Revoked (and given back) before its grant got here.
      this.dropHandle(handle, 'revoked');
      return handle;
    }
    // Most of the period gone already (a slow answer): renew at once; a lease that can be
    // neither used nor renewed is given back.
    if (handle.lease.expiresAt - this.transport.now() < grant.ttlMs / 3 && !(await this.renewOnce(handle, grant.ttlMs)) && !handle.valid(this.transport.now())) {
      await this.releaseLease(handle);
      throw new FsError('EAGAIN', `open ${path}: the lease expired before it could be used; retry`, path);
    }
    void this.keepRenewing(handle, grant.ttlMs);
    return handle;
  }

  /** One renewal; false if the grantor refused it or did not answer. */
  private async renewOnce(h: LeaseHandle, ttlMs: number): Promise<boolean> {
    const sentAt = this.transport.now();
    try {
      const r = (await this.transport.ask(
        this.leaseNode(h),
        this.leaseRequest({ op: 'leaseRenew', leaseRenew: { id: h.lease.id, mode: h.lease.mode } }, h.lease.path),
        ttlMs / 3,
      )) as FsReplyMessage;
      if (r.ok && !h.signal.aborted) {
        h.lease.expiresAt = sentAt + ttlMs;
        return true;
      }
      if (r.error && r.error.code !== 'EAGAIN') {
        // Refused (expired, or others wait for the range): stop, and free it at once.
        this.dropHandle(h, 'lost');
        void this.sendRelease(h);
      }
      return false;
    } catch {
      return false;
    }
  }

  /** Handles this client holds. */
  get openHandles(): LeaseHandle[] {
    return [...this.handles.values()];
  }

  private async keepRenewing(h: LeaseHandle, ttlMs: number): Promise<void> {
    while (!h.signal.aborted) {
      await this.transport.sleep(ttlMs / 3);
      if (h.signal.aborted) return;
      if (this.transport.now() >= h.lease.expiresAt) {
        this.dropHandle(h, 'expired');
        return;
      }
      // No answer: keep trying until the lease runs out.
      await this.renewOnce(h, ttlMs);
    }
  }

  /** Where a lease is renewed and released: the clerk that granted a read; the subtree's
   * (current) minister for a write. */
  private leaseNode(h: LeaseHandle): string {
    return h.lease.mode === 'read' ? h.lease.grantedBy : (this.map.lookup(h.lease.path)?.info.minister ?? h.lease.grantedBy);
  }

  /** Give a lease back; if the grantor does not answer, it expires on its own. */
  private sendRelease(h: LeaseHandle): Promise<void> {
    return this.releaseAt(this.leaseNode(h), h.lease.id, h.lease.mode, h.lease.path);
  }

  private async releaseAt(node: string, id: string, mode: LeaseMode, path: string): Promise<void> {
    try {
      await this.transport.ask(node, this.leaseRequest({ op: 'leaseRelease', leaseRelease: { id, mode } }, path), this.requestTimeoutMs);
    } catch {
      // expires on its own
    }
  }

  private dropHandle(h: LeaseHandle, why: 'revoked' | 'expired' | 'released' | 'lost'): void {
    this.handles.delete(h.lease.id);
    h.end(why);
  }

  private leaseRequest(op: Extract<FsOp, { op: 'leaseOpen' | 'leaseRenew' | 'leaseRelease' }>, path: string): FsRequestMessage {
    return { type: 'govfs.fs.FsRequest', clientId: this.clientId, seq: 0, path, lastSeen: 0, linearizable: false, ticketTo: this.transport.ticketAddress, mutation: false, acked: this.acked, ...op };
  }

  /** A request to one node, outside any ministry's bookkeeping (a chunk store's). */
  private request(op: FsOp): FsRequestMessage {
    return { type: 'govfs.fs.FsRequest', clientId: this.clientId, seq: 0, path: '', lastSeen: 0, linearizable: false, ticketTo: '', mutation: false, acked: 0, ...op };
  }

  /** @internal */
  async releaseLease(h: LeaseHandle): Promise<void> {
    if (!this.handles.has(h.lease.id)) return;
    this.dropHandle(h, 'released');
    await this.sendRelease(h);
  }

  /** The grantor revoked a lease (a conflicting write waits): stop using it, and release it.
   * A lease this client never learnt of (granted to an attempt it gave up on and retried
   * elsewhere) is given back too, so the writer need not wait for it to expire; should its
   * grant still arrive, the open returns it already revoked. */
  onRevoked(m: { clientId?: string; leaseId: string; grantedBy?: string; mode?: string; path?: string }): void {
    if (m.clientId !== undefined && m.clientId !== this.clientId) return;
    const h = this.handles.get(m.leaseId);
    if (h) {
      this.dropHandle(h, 'revoked');
      void this.sendRelease(h);
      return;
    }
    if (!m.grantedBy || (m.mode !== 'read' && m.mode !== 'write')) return;
    this.revokedUnseen.add(m.leaseId);
    if (this.revokedUnseen.size > 256) this.revokedUnseen.delete(this.revokedUnseen.values().next().value!);
    void this.releaseAt(m.grantedBy, m.leaseId, m.mode, m.path ?? '/');
  }

  /** End the session: release every handle. */
  async close(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => this.releaseLease(h)));
  }

  /** A ticket arrived from a minister (the transport's ticket inbox calls this). */
  onTicket(t: { seq: number; index: number; term: number; ministry: string; clientId?: string; moreSeqs?: number[]; moreIndexes?: number[] }): void {
    if (t.clientId !== undefined && t.clientId !== this.clientId) return;
    this.tickets.set(t.seq, { seq: t.seq, index: t.index, term: t.term, ministry: t.ministry });
    // The other changes proposed with it (one message for them all).
    const seqs = t.moreSeqs ?? [];
    const indexes = t.moreIndexes ?? [];
    for (let i = 0; i < seqs.length && i < indexes.length; i++) this.tickets.set(seqs[i]!, { seq: seqs[i]!, index: indexes[i]!, term: t.term, ministry: t.ministry });
    this.dropOldTickets();
  }

  private dropOldTickets(): void {
    if (this.tickets.size <= TICKETS_KEPT + this.inflight.size) return;
    for (const seq of this.tickets.keys()) {
      if (this.tickets.size <= TICKETS_KEPT + this.inflight.size) return;
      if (!this.inflight.has(seq)) this.tickets.delete(seq);
    }
  }

  /** Ask members of the ticket's ministry whether its change committed (thesis 3.3). */
  async ticketStatus(t: TicketInfo): Promise<'committed' | 'lost' | 'unknown'> {
    const m = [...this.mapEntries()].find((x) => x.id === t.ministry);
    const members = m ? [m.minister, ...m.clerks] : this.nodes;
    for (const node of members) {
      try {
        const r = (await this.transport.ask(node, { type: 'govfs.fs.TicketStatusRequest', ministry: t.ministry, index: t.index, term: t.term } satisfies TicketStatusRequestMessage, this.requestTimeoutMs)) as TicketStatusMessage;
        if (r.status === 'committed' || r.status === 'lost') return r.status;
      } catch {
        // try the next member
      }
    }
    return 'unknown';
  }

  private *mapEntries(): Iterable<MinistryInfo> {
    for (const [, info] of this.map.entries()) yield info;
  }

  private change(op: FsOp, path: string, as: Creds | undefined): Promise<FsResult | undefined> {
    try {
      return this.send(op, path, true, false, undefined, as === undefined ? this.creds : credsMessage(as));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Every change up to this seq has its answer (or was given up): ministries drop their
   * saved results and refuse those requests should they come again (RIFL). */
  private get acked(): number {
    let lowest = this.seq + 1;
    for (const s of this.inflight) if (s < lowest) lowest = s;
    return lowest - 1;
  }

  /** A bad path rejects (as from an async function), it does not throw. */
  private read<T>(op: Extract<FsOp, { op: 'ls' | 'stat' | 'readlink' }>, path: string, opts: ReadOptions, pick: (r: FsResult | undefined) => T): Promise<T> {
    let creds = this.creds;
    try {
      checkPath(path);
      if (opts.as !== undefined) creds = credsMessage(opts.as);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.attempts(op, path, 0, opts.linearizable ?? false, undefined, pick, creds);
  }

  private learn(ministries: MinistryInfo[] | undefined): void {
    if (!ministries || ministries.length === 0) return;
    // A node's whole map (it always has "/"): ministries missing from it were dissolved.
    if (ministries.length > 1 || ministries[0]!.subtree === '/') {
      const listed = new Set(ministries.map((m) => m.subtree));
      for (const [subtree] of this.map.entries()) if (!listed.has(subtree)) this.map.delete(subtree);
    }
    for (const m of ministries) {
      const known = this.map.get(m.subtree);
      if (!known || known.term <= m.term) this.map.set(m.subtree, { id: m.id, subtree: m.subtree, minister: m.minister, clerks: [...(m.clerks ?? [])], term: m.term, down: m.down });
    }
  }

  private pick(list: string[]): string {
    return list[Math.floor(this.transport.random() * list.length)]!;
  }

  /** Where to send this attempt: the minister for a change, a clerk for a read (the minister
   * once clerks have failed), any node when the subtree's ministry is unknown. */
  private target(path: string, mutation: boolean): { node: string; ministry: MinistryInfo | null } {
    // Paths reaching here were checked by the public method. (Written without closures or
    // filtered copies: it runs for every request.)
    const now = this.suspects.size > 0 ? this.transport.now() : 0;
    const m = this.map.ownerOf(path) ?? null;
    // Any node answers with the current map (or that the subtree is down): ask one that is not
    // suspect when the ministry is unknown or its members do not answer.
    if (!m || m.down) return { node: this.anyNode(now), ministry: m };
    if (!mutation) {
      const reader = this.pickHealthy(m.clerks, now);
      if (reader !== undefined) return { node: reader, ministry: m };
    }
    return { node: this.healthy(m.minister, now) ? m.minister : this.anyNode(now), ministry: m };
  }

  /** Any node not suspect, or any node at all when every one is. */
  private anyNode(now: number): string {
    return this.pickHealthy(this.nodes, now) ?? this.pick(this.nodes);
  }

  private healthy(node: string, now: number): boolean {
    return this.suspects.size === 0 || (this.suspects.get(node) ?? 0) <= now;
  }

  /** A random member of `list` that is not suspect, or undefined if all are. */
  private pickHealthy(list: readonly string[], now: number): string | undefined {
    let count = 0;
    for (const n of list) if (this.healthy(n, now)) count++;
    if (count === 0) return undefined;
    let k = Math.floor(this.transport.random() * count);
    for (const n of list) if (this.healthy(n, now) && k-- === 0) return n;
    return undefined;
  }

  private async send(
    op: FsOp,
    path: string,
    mutation: boolean,
    linearizable: boolean,
    lease?: { toMinister: boolean; attemptTimeoutMs: number; sentAt: { t: number } },
    creds?: CredsMessage,
  ): Promise<FsResult | undefined> {
    if (!mutation) return this.attempts(op, path, 0, linearizable, lease, undefined, creds);
    const seq = ++this.seq;
    this.inflight.add(seq);
    try {
      return await this.attempts(op, path, seq, linearizable, lease, undefined, creds);
    } finally {
      this.inflight.delete(seq);
      this.dropOldTickets();
    }
  }

  /** `pick` takes what the caller wants from the result (no promise more per read for it). */
  private async attempts<T = FsResult | undefined>(
    op: FsOp,
    path: string,
    seq: number,
    linearizable: boolean,
    lease?: { toMinister: boolean; attemptTimeoutMs: number; sentAt: { t: number } },
    pick?: (r: FsResult | undefined) => T,
    creds?: CredsMessage,
  ): Promise<T> {
    const mutation = seq > 0;
    const deadline = this.transport.now() + this.deadlineMs;
    let lastError: FsError | null = null;
    for (let attempt = 0; ; attempt++) {
      if (this.transport.now() > deadline) {
        throw lastError ?? new FsError('ETIMEDOUT', `${op.op} ${path}: no answer within ${this.deadlineMs} ms (is the cluster up?)`, path);
      }
      const { node, ministry } = this.target(path, mutation || (lease?.toMinister ?? false));
      // Fields set one by one, no spread of `op`: this runs for every request.
      const req = {
        type: 'govfs.fs.FsRequest',
        clientId: this.clientId,
        seq,
        path,
        lastSeen: ministry ? (this.lastSeen.get(ministry.id) ?? 0) : 0,
        linearizable,
        ticketTo: mutation || lease ? this.transport.ticketAddress : '',
        mutation,
        acked: this.acked,
      } as Record<string, unknown>;
      req['op'] = op.op;
      req[op.op] = (op as Record<string, unknown>)[op.op];
      if (creds !== undefined) req['creds'] = creds;
      this.stats.requests++;
      let reply: FsReplyMessage;
      if (lease) lease.sentAt.t = this.transport.now();
      try {
        reply = (await this.transport.ask(node, req, lease ? lease.attemptTimeoutMs : this.requestTimeoutMs)) as FsReplyMessage;
      } catch (e) {
        const code = (e as { code?: string }).code ?? 'EIO';
        // Refused by the connection itself (e.g. a request under another client's id): no other
        // node would answer differently.
        if (code === 'EPERM') throw new FsError('EPERM', `${op.op} ${path}: ${(e as Error).message}`, path);
        this.stats.timeouts++;
        this.suspects.set(node, this.transport.now() + 2 * this.requestTimeoutMs);
        lastError = new FsError(code === 'ETIMEDOUT' ? 'ETIMEDOUT' : 'EUNAVAILABLE', `${op.op} ${path}: node ${node} did not answer (${code}); retrying elsewhere`, path);
        await this.backoff(attempt);
        continue;
      }
      this.learn(reply.redirect);
      if (reply.ok) {
        if (reply.ministry && reply.index) this.lastSeen.set(reply.ministry, Math.max(this.lastSeen.get(reply.ministry) ?? 0, reply.index));
        // A rename across ministries: a read at the target must show the new name too.
        const moved = reply.result === 'rename' ? reply.rename : undefined;
        if (moved?.targetMinistry && moved.targetIndex) this.lastSeen.set(moved.targetMinistry, Math.max(this.lastSeen.get(moved.targetMinistry) ?? 0, moved.targetIndex));
        const result = reply.result === undefined ? undefined : reply;
        return pick ? pick(result) : (result as T);
      }
      const err = reply.error;
      if (!err || !err.code) {
        // A redirect: go where it says.
        this.stats.redirects++;
        if (attempt > 20) await this.backoff(attempt);
        continue;
      }
      const error = FsError.from(err);
      // A lease request's own deadline passing on the server is final.
      if (RETRYABLE.has(error.code) && !(lease && error.code === 'ETIMEDOUT')) {
        lastError = error;
        this.stats.retries++;
        // "Not the minister, it is n1": go there at once (a fresh client's first change or
        // write lease usually lands on a clerk). Only the first few times, in case the map
        // the node gave is as stale as ours.
        if (error.code === 'EAGAIN' && (reply.redirect?.length ?? 0) > 0 && attempt < 3 && (mutation || lease?.toMinister === true)) {
          const m = this.map.ownerOf(path);
          if (m && !m.down && m.minister !== node) continue;
        }
        // A member that cannot serve now (catching up, not the minister any more): try others.
        if (error.code === 'EAGAIN') this.suspects.set(node, this.transport.now() + this.requestTimeoutMs / 4);
        await this.backoff(attempt);
        continue;
      }
      if (reply.ministry && reply.index) this.lastSeen.set(reply.ministry, Math.max(this.lastSeen.get(reply.ministry) ?? 0, reply.index));
      throw error;
    }
  }

  private backoff(attempt: number): Promise<void> {
    const base = Math.min(1_000, 5 * 2 ** Math.min(attempt, 8));
    return this.transport.sleep(base / 2 + this.transport.random() * base);
  }
}

/** The listing of an ls reply (FsReply's result `ls`). */
function lsEntries(r: FsResult | undefined): DirEntry[] {
  if (r?.result !== 'ls') throw new FsError('EINVAL', `ls: malformed reply: the server answered without a listing (${r?.result ?? 'no result'})`);
  return r.ls.entries;
}

/** The attributes of a stat reply (FsReply's result `stat`), as a plain object: a decoded
 * message's own toJSON would write its 64-bit fields (size, version) as strings. */
function statOf(r: FsResult | undefined): Stat {
  if (r?.result !== 'stat') throw new FsError('EINVAL', `stat: malformed reply: the server answered without attributes (${r?.result ?? 'no result'})`);
  return clientStat(r.stat);
}

function readlinkTarget(r: FsResult | undefined): string {
  if (r?.result !== 'readlink') throw new FsError('EINVAL', `readlink: malformed reply: the server answered without a target (${r?.result ?? 'no result'})`);
  return r.readlink.target;
}
