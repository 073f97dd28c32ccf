// GovClient: the client library (DESIGN.md, "GovFS roles"; thesis 3.3). It caches the subtree
// map (longest-prefix match), sends changes to a subtree's minister and reads to its clerks,
// follows redirects, retries with backoff on timeouts and failovers, and never applies a
// change twice: every change carries this client's id and a sequence number, and ministries
// keep each client's last result in their replicated state (RIFL).
//
// Pure: it talks through a `ClientTransport`, so the same client runs in process, over the
// network, and under the simulator (where the transport's time is virtual).
//
// This class is the whole API a program sees (namespace, POSIX metadata, leases, file
// contents); the parts with their own state live beside it: sender.ts (routing, retries,
// exactly-once sequence numbers, tickets), leases.ts (lease handles and their renewal),
// file-data.ts (file contents), posix.ts (credentials and attribute checks), status.ts.

import { FsError } from '../fs/errors.js';
import { checkPath } from '../fs/path.js';
import { mknodKind } from '../fs/access.js';
import type { CredsMessage, DirEntry, EntryKind, FsOp, FsReplyMessage, FsRequestMessage, FsResult, MinistryInfo, TicketInfo, TicketStatusMessage, TicketStatusRequestMessage } from '../fs/requests.js';
import { checkMode, checkOwner, clientStat, credsMessage, utimensOp, type AsOptions, type Creds, type Stat } from './posix.js';
import { FileData, type DataReplication, type Progress } from './file-data.js';
import { readFile, readStream, truncateFile, writeFile, writeStream } from './whole-files.js';
import { ClientLeases, LeaseHandle, type LeaseInfo, type LeaseMode, type OpenOptions } from './leases.js';
import { RequestSender, type ClientTransport } from './sender.js';

export type { AsOptions, ClientTransport, Creds, DirEntry, EntryKind, FsOp, FsReplyMessage, FsRequestMessage, LeaseInfo, LeaseMode, MinistryInfo, OpenOptions, Stat, TicketInfo };
export { LeaseHandle };

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
  /** How a write reaches a chunk's replicas (FileData: 'pipelined' by default, or 'parallel'). */
  dataReplication?: DataReplication;
  /** Pipelined: pieces smaller than this go to every replica at once (default 64 KiB). */
  dataChainMinBytes?: number;
}

export interface ReadOptions extends AsOptions {
  /** Confirm with the minister before answering (ReadIndex): see every change committed
   * before the call, not only your own. */
  linearizable?: boolean;
}

export class GovClient {
  readonly clientId: string;
  private readonly transport: ClientTransport;
  /** The credentials requests carry (undefined: none, which servers take as root). */
  private readonly creds: CredsMessage | undefined;
  /** Routing, retries, sequence numbers and tickets (sender.ts). */
  private readonly sender: RequestSender;
  private readonly leases: ClientLeases;
  /** Tickets of changes, by sequence number, as the ministers sent them: those of changes in
   * flight and of the last 1,024 answered ones. */
  readonly tickets: Map<number, TicketInfo>;
  /** Counters for tests and `govfs status`. */
  readonly stats: { requests: number; redirects: number; retries: number; timeouts: number; pauses: number };

  /** @internal File contents (file-data.ts). */
  readonly data: FileData;

  constructor(transport: ClientTransport, opts: GovClientOptions) {
    this.transport = transport;
    this.clientId = opts.clientId;
    if (opts.nodes.length === 0) throw new FsError('EINVAL', 'a client needs at least one node to contact');
    const requestTimeoutMs = opts.requestTimeoutMs ?? 1_000;
    this.sender = new RequestSender(transport, opts.clientId, [...opts.nodes], requestTimeoutMs, opts.deadlineMs ?? 30_000);
    this.tickets = this.sender.tickets;
    this.stats = this.sender.stats;
    this.creds = opts.credentials === undefined ? undefined : credsMessage(opts.credentials);
    this.data = new FileData(
      {
        dataRequest: (op, path, how) => (how === 'change' ? this.change(op, path, undefined) : how === 'read' ? this.sender.send(op, path, false, true) : this.sender.send(op, path, false, false, { toMinister: true, attemptTimeoutMs: requestTimeoutMs, sentAt: { t: 0 } })),
        askNode: (node, op, timeoutMs) => this.transport.ask(node, this.request(op), timeoutMs) as Promise<FsReplyMessage>,
        random: () => this.transport.random(),
        now: () => this.transport.now(),
      },
      { timeoutMs: opts.dataTimeoutMs, window: opts.dataWindow, replication: opts.dataReplication, chainMinBytes: opts.dataChainMinBytes },
    );
    this.leases = new ClientLeases(
      {
        transport,
        requestTimeoutMs,
        sendOpen: (op, path, lease, creds) => this.sender.send(op, path, false, false, lease, creds),
        ministerOf: (path) => this.sender.map.lookup(path)?.info.minister,
        leaseRequest: (op, path) => this.leaseRequest(op, path),
      },
      this.creds,
      this.data,
    );
  }

  /** The highest log index of ministry `id` seen in a reply to this client (a change it made, or
   * the applied index a read was served at); 0 if none. `govfs backup` records by it the point
   * its copy of a ministry holds. */
  seenIndex(ministry: string): number {
    return this.sender.seenIndex(ministry);
  }

  /** The subtree of the ministry this client's map has serving `path` (undefined before it
   * knows one). Each ministry numbers its inodes itself: `govfs mount` qualifies them with it. */
  ministryOf(path: string): string | undefined {
    return this.sender.map.lookup(path)?.subtree;
  }

  /** `mode`: permission bits (default 0755). Every operation takes `as` (AsOptions). */
  async mkdir(path: string, opts: { parents?: boolean; mode?: number } & AsOptions = {}): Promise<void> {
    const mode = opts.mode === undefined ? {} : { mode: checkMode(opts.mode, 'mkdir', path) };
    return this.change({ op: 'mkdir', mkdir: { path: checkPath(path), parents: opts.parents ?? false, ...mode } }, path, opts.as).then(() => undefined);
  }
  /** `mode`: permission bits (default 0644). */
  async create(path: string, opts: { mode?: number } & AsOptions = {}): Promise<void> {
    const mode = opts.mode === undefined ? {} : { mode: checkMode(opts.mode, 'create', path) };
    // (Its stat is not returned: the reply leaves it out.)
    return this.change({ op: 'create', create: { path: checkPath(path), ...mode, noStat: true } }, path, opts.as).then(() => undefined);
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
  /** mknod(2): `mode` is st_mode, its type bits S_IFIFO, S_IFSOCK, S_IFCHR or S_IFBLK (only
   * root makes devices: EPERM), `rdev` a device's number. S_IFREG (or no type) makes a regular
   * file, as create does. The servers store these nodes; opening a FIFO, socket or device
   * through this library is ENXIO (a mount's kernel serves them locally). */
  async mknod(path: string, mode: number, rdev = 0, opts: AsOptions = {}): Promise<void> {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o177777) throw new FsError('EINVAL', `mknod ${path}: mode must be an st_mode (type and permission bits), got ${String(mode)}`, path);
    if (!Number.isSafeInteger(rdev) || rdev < 0) throw new FsError('EINVAL', `mknod ${path}: rdev must be a non-negative integer, got ${String(rdev)}`, path);
    const kind = mknodKind(mode);
    if (kind === null) throw new FsError('EINVAL', `mknod ${path}: mode ${mode.toString(8)} is not a file, FIFO, socket or device (use mkdir or symlink)`, path);
    if (kind === 'file') return this.create(path, { mode: mode & 0o7777, ...opts });
    return this.change({ op: 'mknod', mknod: { path: checkPath(path), mode, rdev } }, path, opts.as).then(() => undefined);
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
    return writeFile(this.data, this, path, data, opts.progress);
  }
  /** The same from parts that `source` yields in order (a local file read a slice at a time):
   * constant memory. `total`, when known, is what progress counts towards. Each part is written
   * before the next is asked for, so a source may fill one buffer again for the next part. */
  writeStream(path: string, source: AsyncIterable<Uint8Array>, opts: { progress?: Progress; total?: number } = {}): Promise<void> {
    return writeStream(this.data, this, path, source, opts.total, opts.progress);
  }
  readFile(path: string, opts: { progress?: Progress } = {}): Promise<Uint8Array> {
    return readFile(this.data, this, path, opts.progress);
  }
  /** The file's bytes in order, a piece (up to 1 MiB) at a time, several read ahead, under one
   * read lease released at the end (or when the loop stops early): for files too large to
   * hold at once. Each piece is the caller's own. */
  readStream(path: string, opts: { progress?: Progress } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    return readStream(this.data, this, path, opts.progress);
  }
  truncate(path: string, size: number): Promise<void> {
    return truncateFile(this.data, this, path, size);
  }

  /** Take a capability on a file (thesis 3.1): `read`/`write` on the whole file, or on a byte
   * range (read-region / write-region). Renewed automatically until released. */
  open(path: string, opts: OpenOptions): Promise<LeaseHandle> {
    return this.leases.open(path, opts);
  }

  /** Handles this client holds. */
  get openHandles(): LeaseHandle[] {
    return this.leases.openHandles;
  }

  private leaseRequest(op: Extract<FsOp, { op: 'leaseOpen' | 'leaseRenew' | 'leaseRelease' }>, path: string): FsRequestMessage {
    return { type: 'govfs.fs.FsRequest', clientId: this.clientId, seq: 0, path, lastSeen: 0, linearizable: false, ticketTo: this.transport.ticketAddress, mutation: false, acked: this.sender.acked, ...op };
  }

  /** A request to one node, outside any ministry's bookkeeping (a chunk store's). */
  private request(op: FsOp): FsRequestMessage {
    return { type: 'govfs.fs.FsRequest', clientId: this.clientId, seq: 0, path: '', lastSeen: 0, linearizable: false, ticketTo: '', mutation: false, acked: 0, ...op };
  }

  /** The grantor revoked a lease (a conflicting write waits): stop using it, and release it.
   * A lease this client never learnt of (granted to an attempt it gave up on and retried
   * elsewhere) is given back too, so the writer need not wait for it to expire; should its
   * grant still arrive, the open returns it already revoked. */
  onRevoked(m: { clientId?: string; leaseId: string; grantedBy?: string; mode?: string; path?: string }): void {
    if (m.clientId !== undefined && m.clientId !== this.clientId) return;
    this.leases.onRevoked(m);
  }

  /** End the session: release every handle. */
  close(): Promise<void> {
    return this.leases.close();
  }

  /** A ticket arrived from a minister (the transport's ticket inbox calls this). */
  onTicket(t: { seq: number; index: number; term: number; ministry: string; clientId?: string; moreSeqs?: number[]; moreIndexes?: number[] }): void {
    if (t.clientId !== undefined && t.clientId !== this.clientId) return;
    this.sender.onTicket(t);
  }

  /** Ask members of the ticket's ministry whether its change committed (thesis 3.3). */
  async ticketStatus(t: TicketInfo): Promise<'committed' | 'lost' | 'unknown'> {
    const m = [...this.sender.ministries()].find((x) => x.id === t.ministry);
    const members = m ? [m.minister, ...m.clerks] : this.sender.nodes;
    for (const node of members) {
      try {
        const r = (await this.transport.ask(node, { type: 'govfs.fs.TicketStatusRequest', ministry: t.ministry, index: t.index, term: t.term } satisfies TicketStatusRequestMessage, this.sender.requestTimeoutMs)) as TicketStatusMessage;
        if (r.status === 'committed' || r.status === 'lost') return r.status;
      } catch {
        // try the next member
      }
    }
    return 'unknown';
  }

  private change(op: FsOp, path: string, as: Creds | undefined): Promise<FsResult | undefined> {
    try {
      return this.sender.send(op, path, true, false, undefined, as === undefined ? this.creds : credsMessage(as));
    } catch (e) {
      return Promise.reject(e);
    }
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
    return this.sender.attempts(op, path, 0, opts.linearizable ?? false, undefined, pick, creds);
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
