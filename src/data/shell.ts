// The chunk store's actor shell: it runs ChunkStoreCore (core.ts) on whatever runtime the actor
// is on, with its chunks in a storage of their own on a node (ctx.storage.dedicated: lmdb
// made durable by a journal, runtime/storage-journal.ts, issue 17's 4 KiB sync goal), in
// ctx.storage under a prefix under the simulator (see backend.ts for why not plain files).
// Only I/O here:
//   - each request goes to the core with ctx.clock.now(); its ops are applied to the backend
//     at once (reads see them), and its reply waits until every op applied so far is durable:
//     a write is acknowledged only once synced, and a read never returns bytes a crash could
//     still take back;
//   - one sync at a time: requests arriving while one is under way join the next (group
//     commit), so a burst of writes costs one or two fsyncs, not one each;
//   - a background scrub checks a few chunks' checksums every second, so bit rot is flagged
//     (and the minister's probes re-replicate the chunk) before a reader meets it;
//   - a failed sync answers every waiting request EIO and stops the actor by throwing: its
//     supervisor restarts it over what is durable;
//   - pipelined replication (a write with a `chain` of replicas after this one, GFS-style):
//     the write is applied here (fencing and version checked by the core, as for any write),
//     passed on at once to the next store with the rest of the chain, and answered once it is
//     durable here AND the next store answered that it (and everything after it) holds it
//     durably; a refusal here is answered at once and goes no further. Any failure down the
//     chain answers the head's request with that error (the client then writes the piece to
//     each replica in parallel, which finds the failed one and replaces it as always).
//
// What is copied where (issue 17, point 5; docs/data-path.md has the transports). A piece of
// 1 MiB written in process, pipelined to 3 stores on 2 worker threads:
//   client (main thread)  a view of the caller's bytes; put beside the ring, copied once into
//                         a fresh buffer that is transferred (the caller's cannot be taken)   1
//   each store            the field is a view of the transferred buffer                       0
//                         each 64 KiB block copied into its stored form [CRC-32C][data]       1
//                         given to the JournaledStorage as owned: kept, not copied again      0
//                         (its journal record is written with pwritev from the blocks
//                         themselves, their CRC-32C chained into the record's, not read again;
//                         then the kernel copies them into the journal's pages, and into the
//                         chunk's file at the apply: written twice, but not into lmdb)
//   store -> next store   the received buffer is handed over: moved, or the same object on
//                         the same thread (before: copied once per hop across threads)         0
// so 4 copies in JavaScript per MiB (was 9: one more per replica and per hop). Over TCP the client encodes it into its frame and
// the gateway reassembles it (1 each), then moves it to the worker. A read: lmdb copies each
// block out of the map natively into one buffer it reuses (Storage.peek: lmdb-js's
// getBinaryFast; its get made a fresh Buffer per block, 1 copy and an allocation more), the
// core checks its CRC-32C there and assembles the blocks into the reply's own buffer, which is
// handed over to the client's thread, and the client copies it into the result it returns
// (not for a read of one piece: it returns that piece): 1 native + 2 (was 4, then 3).

import { handOver } from '../runtime/hand-over.js';
import { prefixed } from '../runtime/storage.js';
import type { Behaviour, Context } from '../runtime/types.js';
import { StorageChunkBackend, blockFiles, type ChunkBackend } from './backend.js';
import { ChunkStoreCore, DEFAULT_BLOCK_SIZE, type ChunkStoreOptions } from './core.js';
import { isChunkRequest, type ChunkError, type ChunkRead, type ChunkReply, type ChunkRequest, type ChunkWrite } from './messages.js';
import { chunkRequestOf, isDataFsRequest, toFsReply } from './fs-wire.js';
import type { Storage } from '../runtime/storage.js';

export interface ChunkStoreShellOptions extends ChunkStoreOptions {
  /** Key prefix of the chunks inside ctx.storage. Default 'chunks/'. */
  storagePrefix?: string;
  /** Where chunks live, given ctx.storage under the prefix. Default: StorageChunkBackend. */
  backend?: (storage: Storage) => ChunkBackend;
  /** The background scrub: every scrubEveryMs, the next scrubChunks chunks are checked
   * against their checksums (defaults 1,000 ms and 2; 0 chunks: no scrub). */
  scrubEveryMs?: number;
  scrubChunks?: number;
  /** The chunk store of node `id` (pipelined writes pass on there). Default `id#/id/chunks`. */
  peerAddress?: (id: string) => string;
  /** Observation hook (tests): the core, once built at start. */
  onStarted?: (core: ChunkStoreCore) => void;
}

/** The shell's own messages (never on the wire). */
const SYNCED = Symbol('chunk-store synced');
interface Synced {
  [SYNCED]: true;
  upTo: number;
  error?: unknown;
}
const isSynced = (m: unknown): m is Synced => typeof m === 'object' && m !== null && SYNCED in m;
const SCRUB = 'chunk-store.scrub';
/** The next store's answer to a write passed on down the chain. */
const CHAINED = Symbol('chunk-store chained');
interface Chained {
  [CHAINED]: true;
  reply: ChunkReply;
  done: (r: ChunkReply) => void;
}
const isChained = (m: unknown): m is Chained => typeof m === 'object' && m !== null && CHAINED in m;
/** A read whose blocks were brought into memory (Storage.prefetch): served now. */
const PREFETCHED = Symbol('chunk-store prefetched');
interface Prefetched {
  [PREFETCHED]: true;
  req: ChunkRead;
  fromClient: boolean;
  answer: (msg: unknown) => void;
}
const isPrefetched = (m: unknown): m is Prefetched => typeof m === 'object' && m !== null && PREFETCHED in m;
/** A chain longer than this is refused (a replica set is a handful of nodes). */
const MAX_CHAIN = 15;
/** How long the next store may take when the write does not say (chainMs 0). */
const DEFAULT_CHAIN_MS = 4_000;

export type ChunkStoreMessage = unknown;

interface Waiting {
  upTo: number;
  reply: ChunkReply;
  send: (msg: ChunkReply) => void;
}

function notChunkRequest(msg: unknown): ChunkError {
  const what = typeof msg === 'object' && msg !== null ? String((msg as { type?: unknown }).type) : typeof msg;
  return { type: 'govfs.data.ChunkError', code: 'EINVAL', message: `chunk store: not a chunk request (${what})`, chunkId: '' };
}

/** Why a write's chain cannot be followed, or null (a peer's or client's bad input). */
function chainError(req: ChunkRequest): ChunkError | null {
  if (req.type !== 'govfs.data.ChunkWrite' || req.chain === undefined) return null;
  const { chain, chainMs } = req;
  const bad = (why: string): ChunkError => ({ type: 'govfs.data.ChunkError', code: 'EINVAL', message: `write to chunk ${String(req.chunkId)}: ${why}`, chunkId: typeof req.chunkId === 'string' ? req.chunkId : '' });
  if (!Array.isArray(chain) || chain.some((n) => typeof n !== 'string' || n.length === 0 || n.length > 128)) return bad('the replica chain must be a list of node ids');
  if (chain.length > MAX_CHAIN) return bad(`the replica chain names ${chain.length} nodes, more than ${MAX_CHAIN}`);
  if (chainMs !== undefined && (!Number.isSafeInteger(chainMs) || chainMs < 0 || chainMs > 600_000)) return bad(`chainMs must be an integer in [0, 600000], got ${String(chainMs)}`);
  return null;
}

/** The answer to a chained write: this store's, unless the chain after it failed. */
function joined(local: ChunkReply, down: ChunkReply, next: string): ChunkReply {
  if (local.type !== 'govfs.data.ChunkWritten' || down.type === 'govfs.data.ChunkWritten') return local;
  if (down.type === 'govfs.data.ChunkError') return { ...down, message: `replica chain at ${next}: ${down.message}` };
  return { type: 'govfs.data.ChunkError', code: 'EIO', message: `replica chain at ${next}: answered ${down.type} to a write`, chunkId: local.chunkId };
}

/** Pass `req` on to the next store of its chain; `done` gets that store's answer. */
function passOn(ctx: Context<ChunkStoreMessage>, opts: ChunkStoreShellOptions, req: ChunkWrite & { chain: string[] }, done: (r: ChunkReply) => void): void {
  const [next, ...rest] = req.chain as [string, ...string[]];
  const ms = req.chainMs !== undefined && req.chainMs > 0 ? req.chainMs : DEFAULT_CHAIN_MS;
  const { chain: _c, chainMs: _m, ...write } = req;
  // Each hop waits a little less than the one before it, so a failure far down the chain
  // reaches the head (and the client) before their own timeouts.
  const fwd: ChunkWrite = rest.length > 0 ? { ...write, chain: rest, chainMs: Math.floor((ms * 3) / 4) } : write;
  // The core stored its own copies of the blocks (encodeBlock), so nothing here reads the
  // received bytes again: moved, not copied, to the next store's thread (ring-side.ts).
  handOver(fwd.data);
  const address = (opts.peerAddress ?? ((id: string) => `${id}#/${id}/chunks`))(next);
  ctx.pipeToSelf(
    ctx.ask<ChunkReply>(ctx.ref(address), fwd, { timeoutMs: ms }),
    (reply): Chained => ({ [CHAINED]: true, reply, done }),
    (e): Chained => ({ [CHAINED]: true, done, reply: { type: 'govfs.data.ChunkError', code: 'EIO', message: `node ${next} did not answer within ${ms} ms (${(e as { code?: string }).code ?? String(e)})`, chunkId: req.chunkId } }),
  );
}

/** A chained write's answer: `answer` gets this store's own reply (given to the function
 * returned, once durable here) joined with the rest of the chain's, when both are in. */
function chainAnswer(ctx: Context<ChunkStoreMessage>, opts: ChunkStoreShellOptions, req: ChunkWrite & { chain: string[] }, answer: (r: ChunkReply) => void): (r: ChunkReply) => void {
  const next = req.chain[0]!;
  let local: ChunkReply | undefined;
  let down: ChunkReply | undefined;
  let answered = false;
  const finish = (): void => {
    // A failed sync here is answered at once (the actor is about to restart).
    if (answered || local === undefined || (down === undefined && local.type === 'govfs.data.ChunkWritten')) return;
    answered = true;
    answer(down === undefined ? local : joined(local, down, next));
  };
  passOn(ctx, opts, req, (r) => {
    down = r;
    finish();
  });
  return (r) => {
    local = r;
    finish();
  };
}

/** Where the chunks live: a storage of their own where the node's has one to give (lmdb: a
 * JournaledStorage, so that a 4 KiB synced write costs one O_DSYNC journal write instead of an
 * lmdb commit queued behind the node's Raft commits: runtime/storage-journal.ts), unless the
 * node's storage already holds chunks (a data folder from before: they stay where they are);
 * else (the simulator) a prefixed view of the node's storage. */
export function chunkStorage(storage: Storage, prefix: string, blockSize = DEFAULT_BLOCK_SIZE): Storage {
  const inPlace = prefixed(storage, prefix);
  if (!storage.dedicated) return inPlace;
  for (const _ of inPlace.range({ limit: 1 })) return inPlace;
  // Its blocks in files beside its lmdb (a chunk's file, block i in slot i), not in it.
  return storage.dedicated(prefix.replace(/\/+$/, '') || 'chunks', { files: blockFiles(blockSize) });
}

/** The scrub's next `n` chunks after `after`: each damaged one's flag applied to the backend. */
function scrubNext(core: ChunkStoreCore, backend: ChunkBackend, after: string, n: number): { last: string; applied: number } {
  let last = after;
  let applied = 0;
  for (const id of core.idsAfter(after, n)) {
    last = id;
    const ops = core.scrub(id);
    if (ops.length === 0) continue;
    backend.apply(ops);
    applied++;
  }
  return { last, applied };
}

/** A message as a chunk request, or the refusal to answer it with. A client's FsRequest
 * (dataWrite, dataRead) is answered with an FsReply, a peer's ChunkRequest with a ChunkReply. */
function intake(msg: unknown): { req: ChunkRequest; fromClient: boolean } | { refusal: unknown } {
  const fromClient = isDataFsRequest(msg);
  const req: ChunkRequest | ChunkError = fromClient ? chunkRequestOf(msg) : isChunkRequest(msg) ? msg : notChunkRequest(msg);
  const bad = req.type === 'govfs.data.ChunkError' ? req : chainError(req);
  if (bad) return { refusal: fromClient ? toFsReply(bad) : bad };
  return { req: req as ChunkRequest, fromClient };
}

export function chunkStoreBehaviour(opts: ChunkStoreShellOptions = {}): Behaviour<ChunkStoreMessage> {
  let core: ChunkStoreCore;
  let backend: ChunkBackend;
  /** Op lists applied, and how many of them are known durable. */
  let applied = 0;
  let durable = 0;
  let syncing = false;
  const waiting: Waiting[] = [];
  let scrubbed = '';
  let scrubbing = false;
  /** The scrub's timer, from when the store holds a chunk (an empty store adds no events). */
  const startScrub = (ctx: Context<ChunkStoreMessage>): void => {
    if (scrubbing || (opts.scrubChunks ?? 2) <= 0 || core.idsAfter('', 1).length === 0) return;
    scrubbing = true;
    ctx.clock.every(opts.scrubEveryMs ?? 1_000, SCRUB);
  };

  const startSync = (ctx: Context<ChunkStoreMessage>): void => {
    if (syncing || durable === applied) return;
    syncing = true;
    const upTo = applied;
    ctx.pipeToSelf(
      backend.sync(),
      (): Synced => ({ [SYNCED]: true, upTo }),
      (error): Synced => ({ [SYNCED]: true, upTo, error }),
    );
  };

  const synced = (ctx: Context<ChunkStoreMessage>, m: Synced): void => {
    syncing = false;
    if (m.error !== undefined) {
      const why = m.error instanceof Error ? m.error.message : String(m.error);
      for (const w of waiting.splice(0)) {
        const chunkId = 'chunkId' in w.reply ? w.reply.chunkId : '';
        w.send({ type: 'govfs.data.ChunkError', code: 'EIO', message: `chunk store on ${ctx.host}: storage sync failed (${why}); nothing of this request is acknowledged`, chunkId } satisfies ChunkError);
      }
      throw m.error;
    }
    durable = Math.max(durable, m.upTo);
    while (waiting.length > 0 && waiting[0]!.upTo <= durable) {
      const w = waiting.shift()!;
      w.send(w.reply);
    }
    startSync(ctx);
  };

  return {
    started(ctx) {
      backend = (opts.backend ?? ((s) => new StorageChunkBackend(s)))(chunkStorage(ctx.storage, opts.storagePrefix ?? 'chunks/', opts.blockSize));
      core = new ChunkStoreCore(backend, backend.loadMetas(), opts);
      opts.onStarted?.(core);
      startScrub(ctx);
    },
    receive(ctx, msg) {
      if (isSynced(msg)) return synced(ctx, msg);
      if (isChained(msg)) return msg.done(msg.reply);
      if (isPrefetched(msg)) return serve(ctx, msg.req, msg.fromClient, msg.answer);
      if (msg === SCRUB) {
        // A flag found here is made durable by the next sync (a write's or this one's).
        const done = scrubNext(core, backend, scrubbed, opts.scrubChunks ?? 2);
        scrubbed = done.last;
        applied += done.applied;
        return startSync(ctx);
      }
      const taken = intake(msg);
      if ('refusal' in taken) return ctx.reply(taken.refusal);
      const { req, fromClient } = taken;
      // A read first has its blocks brought into memory off this thread, so that this thread
      // (and the other stores on it) does not stop on the disk's page faults, and the reads in
      // flight reach the disk together. It is served when they are in: a write that arrives
      // meanwhile may be applied first (the read then returns it: a read concurrent with it).
      const blocks = req.type === 'govfs.data.ChunkRead' && backend.prefetchBlocks ? core.readBlocks(req) : null;
      if (blocks) {
        const answer = ctx.deferReply();
        const read = req as ChunkRead;
        const ready = (): Prefetched => ({ [PREFETCHED]: true, req: read, fromClient, answer });
        ctx.pipeToSelf(backend.prefetchBlocks!(read.chunkId, blocks[0], blocks[1]), ready, ready);
        return;
      }
      serve(ctx, req, fromClient, null);
    },
  };

  /** Apply a request and answer it (`answer`, or the current message's sender) once what it
   * applied, and everything applied before it, is durable. */
  function serve(ctx: Context<ChunkStoreMessage>, req: ChunkRequest, fromClient: boolean, answer: ((msg: unknown) => void) | null): void {
    const { ops, reply } = core.handle(req, ctx.clock.now());
    // A client's read gets bytes the core assembled for this reply alone: moved, not copied,
    // to the client's thread (ring-side.ts). Only a client's: an actor on this thread (the
    // replica repair) gets the reply object itself, and may send its bytes to several stores.
    if (fromClient && reply.type === 'govfs.data.ChunkData') handOver(reply.data);
    if (ops.length > 0) {
      backend.apply(ops);
      applied++;
      startScrub(ctx);
    }
    const chained = req.type === 'govfs.data.ChunkWrite' && (req.chain?.length ?? 0) > 0 && reply.type === 'govfs.data.ChunkWritten';
    if (durable === applied && !chained) {
      const r = fromClient ? toFsReply(reply) : reply;
      if (answer) answer(r);
      else ctx.reply(r);
      return;
    }
    const deferred = answer ?? ctx.deferReply();
    let send = fromClient ? (r: ChunkReply): void => deferred(toFsReply(r)) : deferred;
    if (chained) {
      // Answer once both this store's sync and the rest of the chain are done.
      send = chainAnswer(ctx, opts, req as ChunkWrite & { chain: string[] }, send);
      if (durable === applied) return send(reply);
    }
    waiting.push({ upTo: applied, reply, send });
    startSync(ctx);
  }
}
