// File contents (issue 17): reads and writes of a file's bytes under its leases. A file is split
// in chunks (its layout, kept by the file's ministry: FileLayout); each chunk has replicas on the
// nodes' chunk stores (src/data/), reached with dataWrite/dataRead FsRequests sent to the node.
//
//   write  the chunks the bytes fall in are placed first (the minister picks their replicas);
//          each piece (at most PIECE_BYTES: 1 MiB, beside the rings, not in them) goes to every
//          replica at once, with the lease's fencing token and the chunk's version, and counts
//          only once all of them stored it durably (DataOptions.replication: 'parallel', the
//          client sends it to each replica; 'pipelined', it sends it to the first, which passes
//          it down the chain of the others, GFS-style, and answers once all hold it durably;
//          a chain that fails is retried in parallel, which finds the failed replica and goes
//          on as below, so both modes share the recovery path; a small piece goes to every
//          replica at once in both modes: a chain pays one fsync per hop in series, and only
//          saves the client's link bandwidth on big pieces). A replica that fails is replaced by the
//          minister (the chunk's version bumps, so it is never read again), the chunk is copied
//          to the new one from a good copy, and the piece is written again. Then the size goes
//          to the minister (a setSize that only grows) if the write extended the file.
//   sync   fdatasync semantics (POSIX lets the mtime reach the disk lazily): a write is durable
//          when it returns (its bytes on every replica, a grown size committed), so sync() only
//          starts committing the mtime of writes inside the size (at most once a second per
//          handle), without waiting for it; sync({ metadata: true }) and close() wait until it
//          is committed.
//   read   from one replica (a random one), the next on an error; a chunk never placed is a
//          hole (zeros). The layout is read linearizably once per handle, again if a replica
//          says it moved on.
//   fence  a write handle's first use sends its token to every replica of the chunks in its
//          range (an empty write), so that a writer whose lease expired is refused (ESTALE)
//          everywhere the new holder may not write for a while.

import { FsError } from '../fs/errors.js';
import type { DataBytesResult, FileLayout, FsOp, FsReplyMessage, FsResult, LayoutChunk } from '../fs/requests.js';
import { chunkOf, layoutOf, pool } from './file-layout.js';
import type { LeaseHandle } from './leases.js';

/** Bytes of one dataWrite/dataRead. Large pieces travel beside the rings (ring-side.ts) and in
 * parts over TCP, so their size is a trade of per-message costs (a ring's doorbell, an lmdb
 * transaction, a group commit, an encode) against latency: 1 MiB, a quarter of a default chunk,
 * so that WINDOW pieces keep a whole chunk in flight. (192 KiB, when a message had to fit a
 * ring, cost about 2x the CPU per MiB written: issue 17.) */
export const PIECE_BYTES = 1024 * 1024;
/** Pieces in flight at once per write call (DataOptions.window). */
const WINDOW = 4;
/** Pieces in flight at once per read call (DataOptions.window): spread over a chunk's replicas
 * (see readPiece), about two per replica of 3, so that each store has the next piece to read
 * while the client takes in the last (a read costs no replica's fsync, as a write does). */
const READ_WINDOW = 6;
/** Chunks placed per request at most (the ministry takes up to 1,024). */
const PLACE_CHUNKS = 256;
/** Attempts at one piece (each after a replica was replaced or the layout moved on). */
const ATTEMPTS = 6;
/** Pieces smaller than this go to every replica at once even when pipelined (default of
 * DataOptions.chainMinBytes): a chain costs a fsync per hop in series (`npm run bench -- data`: a 4 KiB synced write took 7.9-9.6 ms down
 * a chain of 2-3 stores against 5.6 at one store), and three copies of a small piece cost the
 * client's link next to nothing. */
const CHAIN_MIN_BYTES = 64 * 1024;
/** sync() starts an mtime commit at most this often per handle: each is a Raft round of the
 * ministry, whose lmdb commits queue with the chunk stores' on a shared disk; the mtime of the
 * writes since goes with the next one, a grown size, a truncate, or close. */
const MTIME_EVERY_MS = 1_000;

/** What the data plane needs of GovClient. */
export interface DataClient {
  /** `read`: a linearizable read; `minister`: to the minister, not exactly-once (idempotent);
   * `change`: an exactly-once change. */
  dataRequest(op: FsOp, path: string, how: 'read' | 'minister' | 'change'): Promise<FsResult | undefined>;
  /** One FsRequest to node `node` (its chunk store), no retries; rejects when it does not answer. */
  askNode(node: string, op: FsOp, timeoutMs: number): Promise<FsReplyMessage>;
  random(): number;
  now(): number;
}

/** How a write reaches a chunk's replicas: the client sends each its copy ('parallel'), or
 * the first replica passes it on to the next ('pipelined'; see src/data/shell.ts). */
export type DataReplication = 'parallel' | 'pipelined';
export const DATA_REPLICATIONS: readonly DataReplication[] = ['parallel', 'pipelined'];
/** The default, chosen by measurement: `npm run bench -- data --mib 64 --rounds 3 --small 50
 * --lease-ttl-ms 30000` (2 cores at load 14-17, medians of 3): sequential writes pipelined
 * 10.1 MiB/s in process, 5.3 over TCP; parallel 7.4 and 5.2. A chain also sends the client's
 * link one copy instead of three. */
export const DEFAULT_DATA_REPLICATION: DataReplication = 'pipelined';

export interface DataOptions {
  /** A chunk store's answer may take this long before its replica is taken for failed. */
  timeoutMs?: number;
  /** Pieces of one call in flight at once (default 4 for writes, 6 for reads; 1: one piece
   * after another). */
  window?: number;
  /** How a write reaches a chunk's replicas (default DEFAULT_DATA_REPLICATION). */
  replication?: DataReplication;
  /** Pipelined: pieces smaller than this go to every replica at once (default CHAIN_MIN_BYTES;
   * 0: every piece down the chain). */
  chainMinBytes?: number;
}

/** Progress of a long read or write: bytes done of total. */
export type Progress = (done: number, total: number) => void;

/** What a handle knows of its file. */
interface OpenFile {
  layout: FileLayout;
  /** Writes done through the handle, and how many of them the ministry has the mtime of (a
   * count, so that a commit begun before a write does not take that write for committed). */
  written: number;
  committed: number;
  /** The mtime commit sync() started in the background, while it runs, and when it began. */
  mtimeCommit: Promise<void> | null;
  mtimeSentAt: number;
  /** Replacements under way, by chunk index: a piece that completes on the old chunk meanwhile
   * may have missed the copy, so it waits and writes again to the new one. */
  replacing: Map<number, Promise<void>>;
}

export class FileData {
  private readonly files = new WeakMap<LeaseHandle, Promise<OpenFile>>();
  /** The background mtime commits under way, by handle (what a release waits for). */
  private readonly mtimeCommits = new WeakMap<LeaseHandle, Promise<void>>();
  /** Nodes a chunk's copy could not be written to, by chunk id (left out of the next proposal). */
  private readonly badTargets = new Map<string, string[]>();
  /** Nodes that did not answer lately, until when: tried last by reads. */
  private readonly suspects = new Map<string, number>();
  /** Reads under way, by node: a read goes to the replica with the fewest (see readPiece). */
  private readonly reading = new Map<string, number>();
  /** Where ties among replicas start (rotated by each read, from a random first place). */
  private readTurn = -1;
  private readonly timeoutMs: number;
  private readonly window: number;
  private readonly readWindow: number;
  private readonly replication: DataReplication;
  private readonly chainMinBytes: number;

  constructor(
    private readonly c: DataClient,
    opts: DataOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.window = opts.window ?? WINDOW;
    this.readWindow = opts.window ?? READ_WINDOW;
    this.replication = opts.replication ?? DEFAULT_DATA_REPLICATION;
    this.chainMinBytes = opts.chainMinBytes ?? CHAIN_MIN_BYTES;
    if (!DATA_REPLICATIONS.includes(this.replication)) throw new FsError('EINVAL', `data replication must be ${DATA_REPLICATIONS.join(' or ')}, got ${String(this.replication)}`);
  }

  // ---- the handle's operations -----------------------------------------------------------------

  async read(h: LeaseHandle, offset: number, length: number, progress?: Progress): Promise<Uint8Array> {
    this.usable(h, 'read', offset, length);
    const f = await this.file(h);
    const end = Math.min(offset + length, f.layout.size);
    if (end <= offset) return new Uint8Array(0);
    let out: Uint8Array | null = null;
    let done = 0;
    await this.pieces(f, offset, end, this.readWindow, async (index, at, n) => {
      const bytes = await this.readPiece(h, f, index, at, n);
      // A read of one piece is that piece's bytes, not a copy (they are the client's alone:
      // moved from the store's thread, or decoded from a frame of this read's reply).
      if (n === end - offset) out = bytes.length === n ? bytes : bytes.subarray(0, n);
      else (out ??= new Uint8Array(end - offset)).set(bytes.subarray(0, n), index * f.layout.chunkSize + at - offset);
      progress?.((done += n), end - offset);
    });
    return out ?? new Uint8Array(end - offset);
  }

  /** [offset, offset + length) as consecutive pieces (at most PIECE_BYTES each, within a chunk),
   * in order, `readWindow` of them read ahead. A piece is the client's own, as a store's
   * answer brought it (not copied, never reused): a reader that handles each piece and lets it
   * go passes a file of any size through in constant memory, and pays no copy into one large
   * buffer (nor the first touch of its pages: on this VM, faulting in fresh memory costs more
   * CPU per MiB than copying it). */
  async *readPieces(h: LeaseHandle, offset: number, length: number, progress?: Progress): AsyncGenerator<Uint8Array, void, undefined> {
    this.usable(h, 'read', offset, length);
    const f = await this.file(h);
    const end = Math.min(offset + length, f.layout.size);
    const list = this.split(f, offset, end);
    const ahead: Promise<Uint8Array>[] = [];
    let next = 0;
    let done = 0;
    const readAhead = (): void => {
      while (ahead.length < this.readWindow && next < list.length) {
        const [index, at, n] = list[next++]!;
        const p = this.readPiece(h, f, index, at, n).then((b) => (b.length === n ? b : b.subarray(0, n)));
        // (Awaited in turn below; a consumer that stops early leaves the rest unobserved.)
        p.catch(() => undefined);
        ahead.push(p);
      }
    };
    readAhead();
    while (ahead.length > 0) {
      const bytes = await ahead.shift()!;
      readAhead();
      progress?.((done += bytes.length), end - offset);
      yield bytes;
    }
  }

  async write(h: LeaseHandle, offset: number, data: Uint8Array, progress?: Progress): Promise<void> {
    this.usable(h, 'write', offset, data.length);
    const f = await this.file(h);
    if (data.length === 0) return;
    await this.writeBytes(h, f, offset, data, progress);
    f.written++;
    this.stillHeld(h);
    const end = offset + data.length;
    // A write that grows the file commits its end (and the mtime) before it returns: the size
    // is what a reader after a crash needs. One inside the size leaves the mtime to sync().
    if (end > f.layout.size) {
      await this.resize(h, f, end, true);
      this.stillHeld(h);
    }
  }

  /** A write is acknowledged only while its lease is valid. Once it has run out, the ministry
   * may have granted the range to a newer writer, whose write (a newer token) can complete
   * before this one's answers arrive although the stores applied it after this one's bytes:
   * acknowledging this write then would order it after one that overwrote it (data sim seed
   * 332). The bytes may have landed: like any failed write, it may or may not have. */
  private stillHeld(h: LeaseHandle): void {
    if (h.valid(this.c.now())) return;
    const path = h.lease.path;
    throw new FsError('ESTALE', `write ${path}: lease ${h.lease.id} ran out before every replica answered, so the write is not acknowledged (a newer writer may hold the range; its bytes may or may not have landed): open the file again and retry`, path);
  }

  async truncate(h: LeaseHandle, size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) throw new FsError('EINVAL', `truncate ${h.lease.path}: size must be an integer >= 0, got ${String(size)}`, h.lease.path);
    this.usable(h, 'write', Math.min(size, h.lease.range[0]), 0);
    const f = await this.file(h);
    const { chunkSize, size: old } = f.layout;
    if (size < old && chunkSize > 0 && size % chunkSize !== 0) {
      // The bytes past the new end in its last chunk must read as zeros should the file grow
      // again: the chunk stores keep what was written there.
      const tailEnd = Math.min(old, (Math.floor(size / chunkSize) + 1) * chunkSize);
      if (chunkOf(f.layout, Math.floor(size / chunkSize))) await this.writeBytes(h, f, size, new Uint8Array(tailEnd - size));
    }
    // (A background mtime commit sent the size it knew: never let it land after this one.)
    await f.mtimeCommit;
    await this.resize(h, f, size, false);
    if (chunkSize > 0) f.layout.chunks = f.layout.chunks.filter((c) => c.index * chunkSize < size);
  }

  /** fdatasync: the handle's writes are durable already (each returned once every replica held
   * its bytes and a grown size was committed), so this starts committing the mtime of writes
   * inside the size and returns. `metadata` (fsync, close): wait until the mtime is committed. */
  async sync(h: LeaseHandle, opts: { metadata?: boolean } = {}): Promise<void> {
    const pending = this.files.get(h);
    if (!pending || h.lease.mode !== 'write') return;
    const f = await pending;
    if (opts.metadata === true) {
      // An mtime commit under way may predate the last write: wait for it, then commit again.
      await f.mtimeCommit;
      if (f.written > f.committed) await this.commitMtime(h, f);
      return;
    }
    const now = this.c.now();
    if (f.written > f.committed && f.mtimeCommit === null && now - f.mtimeSentAt >= MTIME_EVERY_MS) {
      f.mtimeSentAt = now;
      // Its failure (a lease lost meanwhile) leaves the writes uncommitted: close says so.
      const commit = this.commitMtime(h, f)
        .catch(() => undefined)
        .finally(() => {
          f.mtimeCommit = null;
          this.mtimeCommits.delete(h);
        });
      f.mtimeCommit = commit;
      this.mtimeCommits.set(h, commit);
    }
  }

  /** Once no mtime commit of the handle's is under way (before its lease is given back). */
  async settled(h: LeaseHandle): Promise<void> {
    // (Not through `files`: a release must not wait for a layout fetch still under way.)
    await this.mtimeCommits.get(h);
  }

  /** The file's size as this handle knows it. */
  async size(h: LeaseHandle): Promise<number> {
    return (await this.file(h)).layout.size;
  }

  // ---- layouts -------------------------------------------------------------------------------

  private file(h: LeaseHandle): Promise<OpenFile> {
    let f = this.files.get(h);
    if (!f) {
      f = this.open(h);
      this.files.set(h, f);
      f.catch(() => this.files.delete(h));
    }
    return f;
  }

  private async open(h: LeaseHandle): Promise<OpenFile> {
    const layout = await this.layout(h.lease.path, h.lease.mode === 'write' ? 'minister' : 'read');
    const f: OpenFile = { layout, written: 0, committed: 0, mtimeCommit: null, mtimeSentAt: -Infinity, replacing: new Map() };
    if (h.lease.mode === 'write') await this.fence(h, f);
    return f;
  }

  /** The file's layout: from the minister (a writer's, which places and replaces), or a
   * linearizable read. */
  private async layout(path: string, from: 'read' | 'minister'): Promise<FileLayout> {
    // A placement of no bytes answers the layout from the minister.
    const r = from === 'read' ? await this.c.dataRequest({ op: 'layoutGet', layoutGet: { path } }, path, 'read') : await this.c.dataRequest({ op: 'layoutPlace', layoutPlace: { path, offset: 0, length: 0 } }, path, 'minister');
    return layoutOf(r, path);
  }

  private async refresh(h: LeaseHandle, f: OpenFile): Promise<void> {
    f.layout = await this.layout(h.lease.path, h.lease.mode === 'write' ? 'minister' : 'read');
  }

  /** Send the write lease's token to every replica of the chunks in its range. A replica that
   * does not take it is replaced: it could otherwise still take an older writer's bytes. */
  private async fence(h: LeaseHandle, f: OpenFile): Promise<void> {
    const [start, end] = h.lease.range;
    const cs = f.layout.chunkSize;
    const inRange = f.layout.chunks.filter((c) => (c.index + 1) * cs > start && c.index * cs < end);
    await pool(inRange, this.window, (c) => this.writePiece(h, f, c.index, 0, new Uint8Array(0)));
  }

  /** Commit a new size and the mtime (extend: only ever grow the file). */
  private async resize(h: LeaseHandle, f: OpenFile, size: number, extend: boolean): Promise<void> {
    const upTo = f.written;
    const r = await this.c.dataRequest({ op: 'fileResize', fileResize: { path: h.lease.path, size, extend, token: h.lease.token } }, h.lease.path, 'change');
    if (r?.result !== 'fileResize') throw new FsError('EIO', `resize ${h.lease.path}: the server answered without a size (${r?.result ?? 'no result'})`, h.lease.path);
    // (Growing commits of one handle may answer out of order: keep the largest.)
    f.layout.size = extend ? Math.max(f.layout.size, r.fileResize.size) : r.fileResize.size;
    f.committed = Math.max(f.committed, upTo);
  }

  /** Commit the mtime alone: a growing resize to 0 never changes the size, so one that lands
   * late (after this handle's or a later writer's truncate) cannot grow the file back. */
  private commitMtime(h: LeaseHandle, f: OpenFile): Promise<void> {
    return this.resize(h, f, 0, true);
  }

  // ---- writes --------------------------------------------------------------------------------

  private async writeBytes(h: LeaseHandle, f: OpenFile, offset: number, data: Uint8Array, progress?: Progress): Promise<void> {
    const end = offset + data.length;
    let done = 0;
    for (let from = offset; from < end; ) {
      // The file's first placement fixes its chunk size.
      if (f.layout.chunkSize === 0) await this.place(h, f, from, from + 1);
      const cs = f.layout.chunkSize;
      // Place the chunks of up to PLACE_CHUNKS chunks' worth of bytes, then write them.
      const to = Math.min(end, (Math.floor(from / cs) + PLACE_CHUNKS) * cs);
      await this.place(h, f, from, to);
      await this.pieces(f, from, to, this.window, async (index, at, n) => {
        const pos = index * f.layout.chunkSize + at;
        await this.writePiece(h, f, index, at, data.subarray(pos - offset, pos - offset + n));
        progress?.((done += n), data.length);
      });
      from = to;
    }
  }

  private async place(h: LeaseHandle, f: OpenFile, from: number, to: number): Promise<void> {
    const cs = f.layout.chunkSize;
    if (cs > 0) {
      let missing = false;
      for (let i = Math.floor(from / cs); i * cs < to; i++) if (!chunkOf(f.layout, i)) missing = true;
      if (!missing) return;
    }
    const path = h.lease.path;
    const r = await this.c.dataRequest({ op: 'layoutPlace', layoutPlace: { path, offset: from, length: to - from } }, path, 'minister');
    const placed = layoutOf(r, path);
    f.layout = { ...placed, size: Math.max(f.layout.size, placed.size) };
    if (placed.chunkSize === 0) throw new FsError('EIO', `write ${path}: the minister placed no chunks`, path);
  }

  /** Write `data` at `at` of chunk `index` on every replica, replacing replicas that fail. */
  private async writePiece(h: LeaseHandle, f: OpenFile, index: number, at: number, data: Uint8Array): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.usable(h, 'write', 0, 0);
      const c = chunkOf(f.layout, index);
      if (!c) throw new FsError('EIO', `write ${h.lease.path}: chunk ${index} has no replicas (was the file truncated meanwhile?)`, h.lease.path);
      const op: FsOp = { op: 'dataWrite', dataWrite: { chunkId: c.chunkId, version: c.version, token: h.lease.token, offset: at, data } };
      const answers = await this.writeReplicas(c.replicas, op);
      const failed = c.replicas.filter((_, i) => !answers[i]!.ok);
      // (Replacements of the chunk are one at a time: another piece's may be under way.)
      for (let r = f.replacing.get(index); r; r = f.replacing.get(index)) await r.catch(() => undefined);
      if (failed.length === 0 && chunkOf(f.layout, index)?.chunkId === c.chunkId) return;
      if (failed.length === 0) continue; // the chunk was replaced meanwhile: write it there too
      if (attempt >= ATTEMPTS) throw new FsError('EIO', `write ${h.lease.path}: chunk ${c.chunkId} could not be written to ${failed.join(', ')}: ${answers.find((a) => !a.ok)!.error?.message ?? ''}`, h.lease.path);
      if (answers.some((a) => a.error?.code === 'ESTALE')) {
        // A newer layout (another version), or a newer writer's token: the layout tells which.
        await this.refresh(h, f);
        const now = chunkOf(f.layout, index);
        if (now && now.chunkId === c.chunkId && now.version === c.version) {
          const why = answers.find((a) => a.error?.code === 'ESTALE')!.error!.message;
          throw new FsError('ESTALE', `write ${h.lease.path}: refused, a newer writer holds the file (${why})`, h.lease.path);
        }
        continue;
      }
      try {
        if (chunkOf(f.layout, index)?.chunkId !== c.chunkId) continue; // replaced meanwhile
        const p = this.replace(h, f, index, failed, this.badTargets.get(c.chunkId) ?? []);
        f.replacing.set(index, p);
        await p.finally(() => f.replacing.delete(index));
      } catch (e) {
        // A copy target failed too: propose again without it.
        const m = /^copy of chunk \S+ to (\S+):/.exec((e as Error).message);
        if (!m || (e as FsError).code === 'ESTALE') throw e;
        this.badTargets.set(c.chunkId, [...(this.badTargets.get(c.chunkId) ?? []), m[1]!]);
      }
    }
  }

  /** One write to every replica in `replicas`: each one's answer. Pipelined, the first passes
   * it down the chain; if the chain fails anywhere, the write goes to each replica in parallel,
   * so that the answers say which failed (a chain's error names only the first hop's view). */
  private async writeReplicas(replicas: string[], op: FsOp & { op: 'dataWrite' }): Promise<FsReplyMessage[]> {
    if (this.replication === 'pipelined' && replicas.length > 1 && op.dataWrite.data.length >= this.chainMinBytes) {
      const [head, ...chain] = replicas as [string, ...string[]];
      const a = await this.ask(head, { op: 'dataWrite', dataWrite: { ...op.dataWrite, chain, chainMs: Math.floor((this.timeoutMs * 3) / 4) } });
      if (a.ok) return replicas.map(() => a);
    }
    return Promise.all(replicas.map((r) => this.ask(r, op)));
  }

  /** Have the minister replace chunk `index`'s replicas `failed`: it proposes a new chunk (a
   * new id, the next version, fresh nodes for the failed ones), this writer copies the chunk
   * there from a good replica, then the minister commits the swap. A writer that dies between
   * leaves the layout as it was (and an unreferenced copy). */
  private async replace(h: LeaseHandle, f: OpenFile, index: number, failed: string[], avoid: string[]): Promise<void> {
    const old = chunkOf(f.layout, index);
    if (!old) return;
    const path = h.lease.path;
    const ask = (newChunkId: string, replicas: string[]): FsOp => ({
      op: 'layoutReplace',
      layoutReplace: { path, index, chunkId: old.chunkId, version: old.version, failed: [...new Set([...failed, ...avoid])].join(','), newChunkId, replicas, token: h.lease.token },
    });
    // ESTALE from the minister: the chunk is no longer `old` (this writer's layout is behind).
    const movedOn = (e: unknown): Promise<void> => ((e as FsError).code === 'ESTALE' ? this.refresh(h, f) : Promise.reject(e));
    let proposal: LayoutChunk | undefined;
    try {
      proposal = chunkOf(layoutOf(await this.c.dataRequest(ask('', []), path, 'minister'), path), index);
    } catch (e) {
      return movedOn(e);
    }
    if (!proposal || proposal.chunkId === old.chunkId) throw new FsError('EIO', `replace chunk ${old.chunkId}: the minister proposed no new chunk`, path);
    await this.copyChunk(h, old, old.replicas.filter((n) => !failed.includes(n)), proposal);
    try {
      f.layout = { ...layoutOf(await this.c.dataRequest(ask(proposal.chunkId, proposal.replicas), path, 'minister'), path), size: f.layout.size };
    } catch (e) {
      return movedOn(e);
    }
    this.badTargets.delete(old.chunkId);
  }

  /** Copy chunk `from` (read from `sources`) to every replica of `to`. */
  private async copyChunk(h: LeaseHandle, from: LayoutChunk, sources: string[], to: LayoutChunk): Promise<void> {
    // At least an empty write: the new chunk exists (fenced with this token) even if `from` was
    // never written.
    for (let at = 0; ; at += PIECE_BYTES) {
      const piece = await this.readAny(sources, from.chunkId, [from.version], at, PIECE_BYTES);
      const data = piece?.data ?? new Uint8Array(0);
      const op: FsOp = { op: 'dataWrite', dataWrite: { chunkId: to.chunkId, version: to.version, token: h.lease.token, offset: at, data } };
      const answers = await Promise.all(to.replicas.map((t) => this.ask(t, op)));
      const bad = answers.findIndex((a) => !a.ok);
      if (bad >= 0) {
        const e = answers[bad]!.error;
        throw new FsError(e?.code === 'ESTALE' ? 'ESTALE' : 'EIO', `copy of chunk ${from.chunkId} to ${to.replicas[bad]}: ${e?.message ?? ''}`, h.lease.path);
      }
      if (!piece || at + data.length >= piece.size || data.length === 0) return;
    }
  }

  /** A piece of a chunk from any of `nodes`, trying each version; null when none holds it. */
  private async readAny(nodes: string[], chunkId: string, versions: number[], offset: number, length: number): Promise<DataBytesResult | null> {
    if (nodes.length === 0) throw new FsError('EIO', `chunk ${chunkId}: no replica left to copy it from`);
    let lastError = '';
    let missing = 0;
    for (const node of nodes) {
      for (const version of versions) {
        const a = await this.ask(node, { op: 'dataRead', dataRead: { chunkId, version, offset, length } });
        if (a.ok && a.result === 'dataRead') return a.dataRead;
        if (a.error?.code === 'ENOENT') {
          missing++;
          break;
        }
        lastError = `${node}: ${a.error?.message ?? 'no answer'}`;
      }
    }
    if (missing === nodes.length) return null;
    throw new FsError('EIO', `chunk ${chunkId}: no good copy to read (${lastError})`);
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** `n` bytes at `at` of chunk `index` (zeros past what the chunk holds). */
  private async readPiece(h: LeaseHandle, f: OpenFile, index: number, at: number, n: number): Promise<Uint8Array> {
    for (let attempt = 0; ; attempt++) {
      this.usable(h, h.lease.mode, 0, 0);
      const c = chunkOf(f.layout, index);
      if (!c) return new Uint8Array(n);
      const order = this.readOrder(c.replicas);
      let stale = false;
      let missing = 0;
      let lastError = '';
      for (const node of order) {
        const a = await this.askReading(node, { op: 'dataRead', dataRead: { chunkId: c.chunkId, version: c.version, offset: at, length: n } });
        if (a.ok && a.result === 'dataRead') {
          if (a.dataRead.data.length >= n) return a.dataRead.data;
          const out = new Uint8Array(n);
          out.set(a.dataRead.data);
          return out;
        }
        if (a.error?.code === 'ESTALE') stale = true;
        if (a.error?.code === 'ENOENT') missing++;
        lastError = `${node}: ${a.error?.message ?? 'no answer'}`;
      }
      if (missing === order.length) {
        // Placed but never written anywhere (a hole), or collected since this layout was read
        // (a replaced or truncated chunk): the layout says which.
        if (attempt > 0) return new Uint8Array(n);
        await this.refresh(h, f);
        continue;
      }
      if (!stale || attempt >= 2) throw new FsError('EIO', `read ${h.lease.path}: no replica of chunk ${c.chunkId} could be read (${lastError})`, h.lease.path);
      await this.refresh(h, f);
    }
  }

  /** The replicas in the order a read tries them: first the one with the fewest of this
   * client's reads under way (so a file's pieces in flight spread over its replicas, and a store
   * that answers slowly, or shares its thread or disk with another, gets fewer), ties in turn;
   * nodes that did not answer lately last. */
  private readOrder(replicas: string[]): string[] {
    if (this.readTurn < 0) this.readTurn = Math.floor(this.c.random() * 1024);
    const turn = this.readTurn++;
    const now = this.c.now();
    const rank = (node: string, i: number): number => ((this.suspects.get(node) ?? 0) > now ? 1e9 : 0) + (this.reading.get(node) ?? 0) * 64 + ((i + turn) % replicas.length);
    return replicas
      .map((node, i) => [node, rank(node, i)] as const)
      .sort((a, b) => a[1] - b[1])
      .map(([node]) => node);
  }

  /** A read from `node`, counted while under way (readOrder). */
  private async askReading(node: string, op: FsOp): Promise<FsReplyMessage> {
    this.reading.set(node, (this.reading.get(node) ?? 0) + 1);
    try {
      return await this.ask(node, op);
    } finally {
      const left = (this.reading.get(node) ?? 1) - 1;
      if (left > 0) this.reading.set(node, left);
      else this.reading.delete(node);
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** Split [from, to) into pieces within chunks and run `each` on them, `window` at a time. */
  private pieces(f: OpenFile, from: number, to: number, window: number, each: (index: number, at: number, n: number) => Promise<void>): Promise<void> {
    return pool(this.split(f, from, to), window, ([index, at, n]) => each(index, at, n));
  }

  /** [from, to) as pieces [chunk index, offset in the chunk, length], in order. */
  private split(f: OpenFile, from: number, to: number): [number, number, number][] {
    const cs = f.layout.chunkSize;
    const list: [number, number, number][] = [];
    for (let pos = from; pos < to; ) {
      const index = cs > 0 ? Math.floor(pos / cs) : 0;
      const at = cs > 0 ? pos - index * cs : pos;
      const n = Math.min(PIECE_BYTES, to - pos, cs > 0 ? cs - at : Infinity);
      list.push([index, at, n]);
      pos += n;
    }
    return list;
  }

  /** One request to a chunk store; a node that does not answer reads as an EIO answer. */
  private async ask(node: string, op: FsOp): Promise<FsReplyMessage> {
    try {
      return await this.c.askNode(node, op, this.timeoutMs);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EIO';
      this.suspects.set(node, this.c.now() + 4 * this.timeoutMs);
      return { type: 'govfs.fs.FsReply', ok: false, error: { code: 'EIO', message: `node ${node} did not answer (${code})`, path: '' } };
    }
  }

  /** Refuse use of a handle that may not do this: wrong mode, lease over, range outside. */
  private usable(h: LeaseHandle, mode: 'read' | 'write', offset: number, length: number): void {
    const path = h.lease.path;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new FsError('EINVAL', `${path}: offset and length must be integers >= 0 (got ${String(offset)}, ${String(length)})`, path);
    }
    if (mode === 'write' && h.lease.mode !== 'write') throw new FsError('EBADF', `write ${path}: the handle holds a read lease; open it with mode "write"`, path);
    if (!h.valid(this.c.now())) throw new FsError('ESTALE', `${path}: lease ${h.lease.id} is no longer valid (expired, revoked or released): open the file again`, path);
    const [start, end] = h.lease.range;
    if (length > 0 && (offset < start || offset + length > end)) {
      throw new FsError('EINVAL', `${path}: bytes ${offset}-${offset + length} lie outside the lease's range [${start}, ${end})`, path);
    }
  }
}
