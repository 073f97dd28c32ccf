// The capabilities a GovClient holds (thesis 3.1): opening a lease on a file or a byte range,
// renewing it while it is held, giving it back, and ending it when the grantor revokes it. A
// LeaseHandle is what the program holds; its reads and writes go to the data plane
// (file-data.ts). Used by GovClient (gov-client.ts).

import type { LeaseMode } from '../fs/ranges.js';
import { FsError } from '../fs/errors.js';
import { checkPath } from '../fs/path.js';
import type { CredsMessage, FsOp, FsReplyMessage, FsRequestMessage, FsResult } from '../fs/requests.js';
import { credsMessage, type Creds } from './posix.js';
import type { FileData } from './file-data.js';
import type { ClientTransport, LeaseAttempts } from './sender.js';

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

/** What a handle uses of the client that holds it. */
interface HandleOwner {
  releaseLease(h: LeaseHandle): Promise<void>;
  readonly data: FileData;
}

/** An open capability: renewed automatically until released, revoked or lost. */
export class LeaseHandle extends EventTarget {
  private readonly controller = new AbortController();
  constructor(
    readonly lease: LeaseInfo,
    private readonly client: HandleOwner,
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
  async release(): Promise<void> {
    // An mtime commit sync() started lands before the lease is given back, not after.
    await this.client.data.settled(this);
    return this.client.releaseLease(this);
  }
  /** File contents (issue 17, file-data.ts): up to `length` bytes (fewer at the end). */
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.client.data.read(this, offset, length);
  }
  /** The same range as consecutive pieces in order, several read ahead (file-data.ts
   * readPieces): a large range in constant memory, with no copy into one buffer. */
  readPieces(offset: number, length: number): AsyncGenerator<Uint8Array, void, undefined> {
    return this.client.data.readPieces(this, offset, length);
  }
  /** Done once every replica holds the bytes durably (and a new size is committed). */
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.client.data.write(this, offset, data);
  }
  truncate(size: number): Promise<void> {
    return this.client.data.truncate(this, size);
  }
  /** fdatasync: writes are durable when they return (bytes and a grown size); this starts
   * committing the mtime of writes that did not grow the file. `metadata` (fsync): wait for it. */
  sync(opts: { metadata?: boolean } = {}): Promise<void> {
    return this.client.data.sync(this, opts);
  }
  async close(): Promise<void> {
    try {
      await this.sync({ metadata: true });
    } finally {
      await this.release();
    }
  }
}

/** What the lease table needs of GovClient. */
export interface LeaseClient {
  readonly transport: ClientTransport;
  readonly requestTimeoutMs: number;
  /** A lease open, retried as any request (RequestSender.send, not a change). */
  sendOpen(op: FsOp, path: string, lease: LeaseAttempts, creds: CredsMessage | undefined): Promise<FsResult | undefined>;
  /** The subtree's minister as the client's map has it. */
  ministerOf(path: string): string | undefined;
  /** A renewal or release, to one node. */
  leaseRequest(op: Extract<FsOp, { op: 'leaseOpen' | 'leaseRenew' | 'leaseRelease' }>, path: string): FsRequestMessage;
}

/** Refusals of a renewal that say nothing of the lease (the grantor busy, or its ministry
 * between ministers: EUNAVAILABLE under load lost a 256 MiB write's lease, issue 17): the lease
 * stands until it runs out, and the next renewal may pass. */
const TRANSIENT: ReadonlySet<string> = new Set(['EAGAIN', 'EUNAVAILABLE', 'ETIMEDOUT', 'EBUSY', 'ECANCELED', 'EHOSTDOWN', 'EHOSTUNREACH', 'ENOENT_ACTOR']);

export class ClientLeases implements HandleOwner {
  private readonly handles = new Map<string, LeaseHandle>();
  /** Ids of leases revoked before this client learnt of them (see onRevoked). */
  private readonly revokedUnseen = new Set<string>();
  private openSeq = 0;

  constructor(
    private readonly c: LeaseClient,
    /** The client's own credentials (undefined: none, which servers take as root). */
    private readonly creds: CredsMessage | undefined,
    readonly data: FileData,
  ) {}

  /** Handles this client holds. */
  get openHandles(): LeaseHandle[] {
    return [...this.handles.values()];
  }

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
    const result = await this.c.sendOpen(op, path, {
      toMinister: opts.mode === 'write',
      // The grantor may hold the request while a conflicting lease goes; a dead one is left
      // after a few seconds for another member.
      attemptTimeoutMs: Math.max(this.c.requestTimeoutMs, Math.min(opts.deadlineMs || Infinity, 5_000) + 500),
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
    const t = this.c.transport;
    if (handle.lease.expiresAt - t.now() < grant.ttlMs / 3 && !(await this.renewOnce(handle, grant.ttlMs)) && !handle.valid(t.now())) {
      await this.releaseLease(handle);
      throw new FsError('EAGAIN', `open ${path}: the lease expired before it could be used; retry`, path);
    }
    void this.keepRenewing(handle, grant.ttlMs);
    return handle;
  }

  /** One renewal; false if the grantor refused it or did not answer within `waitMs` (default
   * a third of the period). */
  private async renewOnce(h: LeaseHandle, ttlMs: number, waitMs = ttlMs / 3): Promise<boolean> {
    const sentAt = this.c.transport.now();
    try {
      const r = (await this.c.transport.ask(
        this.leaseNode(h),
        this.c.leaseRequest({ op: 'leaseRenew', leaseRenew: { id: h.lease.id, mode: h.lease.mode } }, h.lease.path),
        Math.max(1, waitMs),
      )) as FsReplyMessage;
      if (r.ok && !h.signal.aborted) {
        // (Renewals overlap: one answered late must not shorten what a later one gave.)
        h.lease.expiresAt = Math.max(h.lease.expiresAt, sentAt + ttlMs);
        return true;
      }
      if (r.error && !TRANSIENT.has(r.error.code)) {
        // Refused (expired, or others wait for the range): stop, and free it at once.
        this.dropHandle(h, 'lost');
        void this.sendRelease(h);
      }
      return false;
    } catch {
      return false;
    }
  }

  private async keepRenewing(h: LeaseHandle, ttlMs: number): Promise<void> {
    while (!h.signal.aborted) {
      await this.c.transport.sleep(ttlMs / 3);
      if (h.signal.aborted) return;
      if (this.c.transport.now() >= h.lease.expiresAt) {
        this.dropHandle(h, 'expired');
        return;
      }
      // Not awaited, and waiting for its answer up to a whole period (until it could no longer
      // extend the lease): the grantor's thread may be busy (chunk data ahead of the renewal's
      // Raft commit: a 256 MiB write lost its lease so under load, issue 17), and an answer
      // that comes late still counts from when it was sent. Meanwhile the next tick renews
      // again beside it, so a lost or slow renewal is not the only chance.
      void this.renewOnce(h, ttlMs, ttlMs);
    }
  }

  /** Where a lease is renewed and released: the clerk that granted a read; the subtree's
   * (current) minister for a write. */
  private leaseNode(h: LeaseHandle): string {
    return h.lease.mode === 'read' ? h.lease.grantedBy : (this.c.ministerOf(h.lease.path) ?? h.lease.grantedBy);
  }

  /** Give a lease back; if the grantor does not answer, it expires on its own. */
  private sendRelease(h: LeaseHandle): Promise<void> {
    return this.releaseAt(this.leaseNode(h), h.lease.id, h.lease.mode, h.lease.path);
  }

  private async releaseAt(node: string, id: string, mode: LeaseMode, path: string): Promise<void> {
    try {
      await this.c.transport.ask(node, this.c.leaseRequest({ op: 'leaseRelease', leaseRelease: { id, mode } }, path), this.c.requestTimeoutMs);
    } catch {
      // expires on its own
    }
  }

  private dropHandle(h: LeaseHandle, why: 'revoked' | 'expired' | 'released' | 'lost'): void {
    this.handles.delete(h.lease.id);
    h.end(why);
  }

  async releaseLease(h: LeaseHandle): Promise<void> {
    if (!this.handles.has(h.lease.id)) return;
    // The release leaves first and the handle ends right after, in the same synchronous step
    // (no answer, and none of the holder's code, can come in between): ending it (an abort
    // with its reason, the events) took 20-60 us that the release no longer waits behind.
    const sent = this.sendRelease(h);
    this.dropHandle(h, 'released');
    await sent;
  }

  /** The grantor revoked a lease: see GovClient.onRevoked. */
  onRevoked(m: { leaseId: string; grantedBy?: string; mode?: string; path?: string }): void {
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

  /** Release every handle. */
  async close(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => this.releaseLease(h)));
  }
}
