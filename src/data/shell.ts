// The chunk store's actor shell: it runs ChunkStoreCore (core.ts) on whatever runtime the actor
// is on, with its chunks in ctx.storage (lmdb on a node, SimStorage under the simulator; see
// backend.ts for why not plain files). Only I/O here:
//   - each request goes to the core with ctx.clock.now(); its ops are applied to the backend
//     at once (reads see them), and its reply waits until every op applied so far is durable:
//     a write is acknowledged only once synced, and a read never returns bytes a crash could
//     still take back;
//   - one sync at a time: requests arriving while one is under way join the next (group
//     commit), so a burst of writes costs one or two fsyncs, not one each;
//   - a background scrub checks a few chunks' checksums every second, so bit rot is flagged
//     (and the minister's probes re-replicate the chunk) before a reader meets it;
//   - a failed sync answers every waiting request EIO and stops the actor by throwing: its
//     supervisor restarts it over what is durable.

import { prefixed } from '../runtime/storage.js';
import type { Behaviour, Context } from '../runtime/types.js';
import { StorageChunkBackend, type ChunkBackend } from './backend.js';
import { ChunkStoreCore, type ChunkStoreOptions } from './core.js';
import { isChunkRequest, type ChunkError, type ChunkReply, type ChunkRequest } from './messages.js';
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
      backend = (opts.backend ?? ((s) => new StorageChunkBackend(s)))(prefixed(ctx.storage, opts.storagePrefix ?? 'chunks/'));
      core = new ChunkStoreCore(backend, backend.loadMetas(), opts);
      opts.onStarted?.(core);
      startScrub(ctx);
    },
    receive(ctx, msg) {
      if (isSynced(msg)) return synced(ctx, msg);
      if (msg === SCRUB) {
        // A flag found here is made durable by the next sync (a write's or this one's).
        for (const id of core.idsAfter(scrubbed, opts.scrubChunks ?? 2)) {
          scrubbed = id;
          const ops = core.scrub(id);
          if (ops.length === 0) continue;
          backend.apply(ops);
          applied++;
          startSync(ctx);
        }
        return;
      }
      // A client's FsRequest (dataWrite, dataRead) is answered with an FsReply.
      const fromClient = isDataFsRequest(msg);
      const req: ChunkRequest | ChunkError = fromClient ? chunkRequestOf(msg) : isChunkRequest(msg) ? msg : notChunkRequest(msg);
      if (req.type === 'govfs.data.ChunkError') {
        ctx.reply(fromClient ? toFsReply(req) : req);
        return;
      }
      const { ops, reply } = core.handle(req, ctx.clock.now());
      if (ops.length > 0) {
        backend.apply(ops);
        applied++;
        startScrub(ctx);
      }
      if (durable === applied) {
        ctx.reply(fromClient ? toFsReply(reply) : reply);
        return;
      }
      const deferred = ctx.deferReply();
      waiting.push({ upTo: applied, reply, send: fromClient ? (r) => deferred(toFsReply(r)) : deferred });
      startSync(ctx);
    },
  };
}
