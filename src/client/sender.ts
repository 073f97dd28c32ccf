// How GovClient's requests reach the cluster (thesis 3.3): the cached subtree map (longest-prefix
// match) picks the minister for a change and a clerk for a read; redirects update the map;
// timeouts and failovers are retried with backoff, away from nodes that just failed; every
// change carries this client's id and a sequence number, and the lowest one still in flight
// tells ministries which saved results they may drop (RIFL). The tickets ministers send for
// changes are kept here too, beside the sequence numbers they name.

import { FsError } from '../fs/errors.js';
import { SubtreeMap } from '../fs/subtree-map.js';
import type { CredsMessage, FsOp, FsReplyMessage, FsResult, MinistryInfo, TicketInfo } from '../fs/requests.js';

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

/** A lease request's attempts: where they go, how long each may wait, when the last was sent. */
export interface LeaseAttempts {
  toMinister: boolean;
  attemptTimeoutMs: number;
  sentAt: { t: number };
}

/** Tickets of answered changes a client keeps (for ticketStatus); older ones are dropped. */
const TICKETS_KEPT = 1024;

/** Retries of one request on the node that said to retry it there shortly (retry_after_ms). */
const MAX_PAUSES = 8;
const RETRYABLE = new Set(['EAGAIN', 'ETIMEDOUT', 'EUNAVAILABLE', 'ECANCELED', 'ENOENT_ACTOR', 'EHOSTDOWN', 'EHOSTUNREACH']);

export class RequestSender {
  readonly map = new SubtreeMap<MinistryInfo>();
  /** The cluster log index of the last whole map a reply carried (FsRequest.map_version). */
  private mapVersion = 0;
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
  /** `pauses`: retries after an EAGAIN with retry_after_ms (a subtree being moved), also counted in `retries`. */
  readonly stats = { requests: 0, redirects: 0, retries: 0, timeouts: 0, pauses: 0 };

  constructor(
    private readonly transport: ClientTransport,
    private readonly clientId: string,
    /** Node ids the client may contact first. */
    readonly nodes: readonly string[],
    readonly requestTimeoutMs: number,
    private readonly deadlineMs: number,
  ) {}

  /** The highest log index of ministry `id` seen in a reply (0 if none). */
  seenIndex(ministry: string): number {
    return this.lastSeen.get(ministry) ?? 0;
  }

  /** Every change up to this seq has its answer (or was given up): ministries drop their
   * saved results and refuse those requests should they come again (RIFL). */
  get acked(): number {
    let lowest = this.seq + 1;
    for (const s of this.inflight) if (s < lowest) lowest = s;
    return lowest - 1;
  }

  *ministries(): Iterable<MinistryInfo> {
    for (const [, info] of this.map.entries()) yield info;
  }

  /** A ticket arrived from a minister. */
  onTicket(t: { seq: number; index: number; term: number; ministry: string; moreSeqs?: number[]; moreIndexes?: number[] }): void {
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

  async send(op: FsOp, path: string, mutation: boolean, linearizable: boolean, lease?: LeaseAttempts, creds?: CredsMessage): Promise<FsResult | undefined> {
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
  async attempts<T = FsResult | undefined>(
    op: FsOp,
    path: string,
    seq: number,
    linearizable: boolean,
    lease?: LeaseAttempts,
    pick?: (r: FsResult | undefined) => T,
    creds?: CredsMessage,
  ): Promise<T> {
    const mutation = seq > 0;
    const deadline = this.transport.now() + this.deadlineMs;
    let lastError: FsError | null = null;
    let pauses = 0;
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
        mapVersion: this.mapVersion,
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
      // A node whose map is older than this client's: it has not applied the latest order yet.
      const stale = (reply.mapVersion ?? 0) > 0 && reply.mapVersion! < this.mapVersion;
      this.learn(reply.redirect, reply.mapVersion ?? 0);
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
        // (Sent away by a node whose map lags this client's: it catches up within moments.)
        if (attempt > 20 || stale) await this.backoff(stale ? Math.min(attempt, 2) : attempt);
        continue;
      }
      const error = FsError.from(err);
      // The path is refused for a moment, not the node (its subtree is moving to another
      // ministry): ask it again shortly; once the map moves, its answer redirects.
      // (A few times: a member that stays behind, say a clerk that lags, is then left as below.)
      if (error.code === 'EAGAIN' && (err.retryAfterMs ?? 0) > 0 && pauses++ < MAX_PAUSES) {
        lastError = error;
        this.stats.retries++;
        this.stats.pauses++;
        await this.transport.sleep(err.retryAfterMs! * (1 + this.transport.random()));
        continue;
      }
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

  private learn(ministries: MinistryInfo[] | undefined, version: number): void {
    if (!ministries || ministries.length === 0) return;
    // A whole map as of cluster log index `version`: never go back to an older one. (One of the
    // version this client has is taken again: a node redirecting with it says where to go.)
    // Without a version, the list is a member's note of its own ministry (beside an EAGAIN), not
    // a map: a root member's "/" alone must not drop the other ministries.
    if (version > 0) {
      if (version < this.mapVersion) return;
      this.mapVersion = version;
      // Ministries missing from a whole map were dissolved.
      const listed = new Set(ministries.map((m) => m.subtree));
      for (const [subtree] of this.map.entries()) if (!listed.has(subtree)) this.map.delete(subtree);
    }
    for (const m of ministries) {
      const known = this.map.get(m.subtree);
      if (!known || known.term <= m.term) this.map.set(m.subtree, { id: m.id, subtree: m.subtree, minister: m.minister, clerks: [...(m.clerks ?? [])], term: m.term, down: m.down });
    }
  }

  private pick(list: readonly string[]): string {
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

  private backoff(attempt: number): Promise<void> {
    const base = Math.min(1_000, 5 * 2 ** Math.min(attempt, 8));
    return this.transport.sleep(base / 2 + this.transport.random() * base);
  }
}
