// The chunk store's pure core: one request and the time in, the reply and the storage ops out
// (like RaftCore; shell.ts does the I/O). Its only input besides the request is a read-only
// view of the stored blocks (reads are synchronous in runtime Storage), which tests fake with
// a Map. It keeps every chunk's metadata in memory and updates it at once; the shell applies
// the ops and sends no reply before every op applied so far is durable, so nothing is
// acknowledged (and nothing read) that a crash could take back.
//
// Rules (issue 17; thesis section 3.1, capabilities):
//   - Fencing: a write carries its lease's fencing token; a token older than the newest the
//     store has seen for the chunk is refused with ESTALE, so a writer whose lease expired or
//     was revoked cannot overwrite what a newer holder wrote.
//   - Versions: a write or read naming an older chunk version than the store's is refused
//     (ESTALE); a write naming a newer one adopts it (the minister bumped it); a read naming a
//     newer one is refused too (this replica missed the bump and must not be read).
//   - Checksums: every block read is checked against its CRC-32C; a mismatch answers EIO
//     naming the chunk and block, and flags the chunk for repair (durably).

import { FsError, type FsErrorCode } from '../fs/errors.js';
import { BLOCK_HEADER_BYTES, decodeBlock, encodeBlock, patchBlock, sealBlock, type ChunkBackend, type ChunkMeta, type ChunkOp } from './backend.js';
import type { ChunkData, ChunkDelete, ChunkError, ChunkInfo, ChunkList, ChunkRead, ChunkReply, ChunkRequest, ChunkWrite } from './messages.js';

export interface ChunkStoreOptions {
  /** Bytes per checksummed block. Default 64 KiB. */
  blockSize?: number;
  /** Largest chunk this store accepts. Default 64 MiB. */
  maxChunkBytes?: number;
  /** Most chunks in one ChunkList reply. Default 1000. */
  listPage?: number;
}

export const DEFAULT_BLOCK_SIZE = 64 * 1024;
export const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024 * 1024;

/** What a request leads to: ops to apply (atomically), then the reply, sent once they and
 * every op before them are durable. */
export interface ChunkEffects {
  ops: ChunkOp[];
  reply: ChunkReply;
}

/** The read-only view of stored blocks the core reads through. */
export type BlockView = Pick<ChunkBackend, 'block' | 'peekBlock'>;

const CHUNK_ID = /^[A-Za-z0-9._-]{1,128}$/;
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

export class ChunkStoreCore {
  private readonly metas = new Map<string, ChunkMeta>();
  private readonly blockSize: number;
  private readonly maxChunkBytes: number;
  private readonly listPage: number;

  constructor(
    private readonly blocks: BlockView,
    metas: Iterable<ChunkMeta>,
    opts: ChunkStoreOptions = {},
  ) {
    for (const m of metas) this.metas.set(m.chunkId, { ...m });
    this.blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.maxChunkBytes = opts.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
    this.listPage = opts.listPage ?? 1000;
  }

  /** Chunks flagged for repair (a block failed its checksum), in id order. */
  needsRepair(): string[] {
    return [...this.metas.values()].filter((m) => m.repair).map((m) => m.chunkId).sort();
  }

  meta(chunkId: string): Readonly<ChunkMeta> | undefined {
    return this.metas.get(chunkId);
  }

  handle(req: ChunkRequest, now: number): ChunkEffects {
    try {
      switch (req.type) {
        case 'govfs.data.ChunkWrite':
          return this.write(req, now);
        case 'govfs.data.ChunkRead':
          return this.read(req);
        case 'govfs.data.ChunkStat':
          return { ops: [], reply: info(this.known(req.chunkId, 'stat')) };
        case 'govfs.data.ChunkDelete':
          return this.remove(req);
        case 'govfs.data.ChunkList':
          return this.list(req);
        default:
          throw new FsError('EINVAL', `chunk store: unknown request ${(req as { type?: unknown }).type as string}`);
      }
    } catch (e) {
      if (e instanceof Refusal) return { ops: e.ops, reply: e.reply };
      if (e instanceof FsError) return { ops: [], reply: error(e.code, e.message, (req as { chunkId?: string }).chunkId ?? '') };
      throw e;
    }
  }

  private write(req: ChunkWrite, now: number): ChunkEffects {
    const { chunkId, version, token, offset, data } = req;
    checkId(chunkId, 'write');
    if (!isCount(version) || version < 1) invalid('write', chunkId, `version must be an integer >= 1, got ${String(version)}`);
    if (!isCount(token)) invalid('write', chunkId, `fencing token must be an integer >= 0, got ${String(token)}`);
    if (!isCount(offset)) invalid('write', chunkId, `offset must be an integer >= 0, got ${String(offset)}`);
    if (!(data instanceof Uint8Array)) invalid('write', chunkId, 'data must be bytes');
    const end = offset + data.length;
    if (end > this.maxChunkBytes) invalid('write', chunkId, `bytes ${offset}-${end} pass the largest chunk size, ${this.maxChunkBytes} bytes`);
    const old = this.metas.get(chunkId);
    if (old && token < old.token) {
      stale(chunkId, `write to chunk ${chunkId}: fencing token ${token} is older than ${old.token}, the newest this store has seen for it (the writer's lease expired or was revoked: take a new lease and retry)`);
    }
    if (old && version < old.version) {
      stale(chunkId, `write to chunk ${chunkId}: names version ${version} but this store holds version ${old.version} (the writer's layout is out of date: fetch it again from the minister)`);
    }
    const ops: ChunkOp[] = [];
    const bs = this.blockSize;
    for (let b = Math.floor(offset / bs); data.length > 0 && b * bs < end; b++) {
      const start = b * bs;
      const from = Math.max(offset, start);
      const to = Math.min(end, start + bs);
      const slice = data.subarray(from - offset, to - offset);
      let stored: Uint8Array;
      if (from === start && (to === start + bs || (old === undefined || old.size <= to))) {
        stored = encodeBlock(slice); // the whole block, or all of it that exists
      } else {
        stored = this.patched(old, b, from - start, slice);
      }
      ops.push({ op: 'block', chunkId, index: b, stored });
    }
    // An empty write only fences and adopts the version: it does not extend the chunk.
    const size = data.length === 0 ? (old?.size ?? 0) : Math.max(old?.size ?? 0, end);
    const meta: ChunkMeta = { chunkId, version, token, size, mtime: now, repair: old?.repair ?? false };
    this.metas.set(chunkId, meta);
    ops.push({ op: 'meta', meta: { ...meta } });
    return { ops, reply: { type: 'govfs.data.ChunkWritten', chunkId, version, size: meta.size } };
  }

  private read(req: ChunkRead): ChunkEffects {
    const { chunkId, version, offset, length } = req;
    checkId(chunkId, 'read');
    if (!isCount(version)) invalid('read', chunkId, `version must be an integer >= 0, got ${String(version)}`);
    if (!isCount(offset) || !isCount(length)) invalid('read', chunkId, `offset and length must be integers >= 0, got ${String(offset)} and ${String(length)}`);
    if (length > this.maxChunkBytes) invalid('read', chunkId, `length ${length} passes the largest chunk size, ${this.maxChunkBytes} bytes`);
    const m = this.known(chunkId, 'read');
    if (version < m.version) {
      stale(chunkId, `read of chunk ${chunkId}: names version ${version} but this store holds version ${m.version} (the reader's layout is out of date: fetch it again from the minister)`);
    }
    if (version > m.version) {
      stale(chunkId, `read of chunk ${chunkId}: this replica holds version ${m.version}, older than the ${version} asked (it missed a version bump: read another replica)`);
    }
    const end = Math.min(m.size, offset + length);
    const out = new Uint8Array(Math.max(0, end - offset));
    const bs = this.blockSize;
    for (let b = Math.floor(offset / bs); b * bs < end; b++) {
      const start = b * bs;
      const block = this.readBlock(m, b, 'read');
      const from = Math.max(offset, start);
      const to = Math.min(end, start + block.length);
      if (to > from) out.set(block.subarray(from - start, to - start), from - offset);
    }
    const reply: ChunkData = { type: 'govfs.data.ChunkData', chunkId, version: m.version, offset, data: out, size: m.size };
    return { ops: [], reply };
  }

  /** The blocks [first, end) a read of a chunk this store holds would check and copy (what the
   * shell brings into memory first: Storage.prefetch), or null when it reads none or will be
   * refused (answered at once). */
  readBlocks(req: ChunkRead): [number, number] | null {
    const m = typeof req.chunkId === 'string' ? this.metas.get(req.chunkId) : undefined;
    if (!m || req.version !== m.version || !isCount(req.offset) || !isCount(req.length) || req.length > this.maxChunkBytes) return null;
    const end = Math.min(m.size, req.offset + req.length);
    if (end <= req.offset) return null;
    return [Math.floor(req.offset / this.blockSize), Math.ceil(end / this.blockSize)];
  }

  /** Block `b` of a chunk (`old`: its metadata, undefined for a new chunk) in its stored form
   * with `slice` written at byte `at` of it: the old data, checked against its checksum, with
   * the new bytes over it. A 4 KiB write into a 64 KiB block reads the old data's checksum once
   * (patchBlock: its CRC-32C in three parts, the new one combined from them), not twice. */
  private patched(old: ChunkMeta | undefined, b: number, at: number, slice: Uint8Array): Uint8Array {
    const stored = old ? (this.blocks.peekBlock ? this.blocks.peekBlock(old.chunkId, b) : this.blocks.block(old.chunkId, b)) : undefined;
    const fast = stored && patchBlock(stored, at, slice);
    if (fast) return fast;
    if (fast === null) this.readBlock(old!, b, 'write'); // damaged: flags it and refuses
    // A hole, or a write starting past the old data's end: zeros between.
    const base = old ? this.readBlock(old, b, 'write') : new Uint8Array(0);
    const out = new Uint8Array(BLOCK_HEADER_BYTES + Math.max(base.length, at + slice.length));
    out.set(base, BLOCK_HEADER_BYTES);
    out.set(slice, BLOCK_HEADER_BYTES + at);
    return sealBlock(out);
  }

  /** Block `b`'s data ([] for a hole); a block failing its checksum flags the chunk for
   * repair and refuses the request with EIO. A view the storage may reuse at its next call
   * (peekBlock): every caller copies it before reading another block. */
  private readBlock(m: ChunkMeta, b: number, op: string): Uint8Array {
    const stored = this.blocks.peekBlock ? this.blocks.peekBlock(m.chunkId, b) : this.blocks.block(m.chunkId, b);
    if (stored === undefined) return new Uint8Array(0);
    const data = decodeBlock(stored);
    if (data !== undefined && data.length <= this.blockSize) return data;
    const ops: ChunkOp[] = [];
    if (!m.repair) {
      m.repair = true;
      ops.push({ op: 'meta', meta: { ...m } });
    }
    const first = b * this.blockSize;
    throw new Refusal(
      ops,
      error(
        'EIO',
        `${op} of chunk ${m.chunkId}: block ${b} (bytes ${first}-${first + this.blockSize - 1}) fails its CRC-32C checksum; this replica is damaged and flagged for repair (read another replica)`,
        m.chunkId,
      ),
    );
  }

  /** Verifies every block of chunk `chunkId` against its checksum (the store's background
   * scrub, so that bit rot is found and repaired before a reader meets it): a bad block flags
   * the chunk for repair. The ops to apply (none when it is sound or already flagged). */
  scrub(chunkId: string): ChunkOp[] {
    const m = this.metas.get(chunkId);
    if (!m || m.repair) return [];
    try {
      for (let b = 0; b * this.blockSize < m.size; b++) this.readBlock(m, b, 'scrub');
    } catch (e) {
      if (e instanceof Refusal) return e.ops;
      throw e;
    }
    return [];
  }

  /** Up to `limit` chunk ids after `after`, in order, wrapping round to the first ones (the
   * scrub's walk). */
  idsAfter(after: string, limit: number): string[] {
    const ids = [...this.metas.keys()].sort();
    const from = ids.findIndex((id) => id > after);
    const order = from < 0 ? ids : [...ids.slice(from), ...ids.slice(0, from)];
    return order.slice(0, limit);
  }

  private remove(req: ChunkDelete): ChunkEffects {
    const { chunkId, version } = req;
    checkId(chunkId, 'delete');
    if (!isCount(version)) invalid('delete', chunkId, `version must be an integer >= 0, got ${String(version)}`);
    const m = this.metas.get(chunkId);
    if (!m) return { ops: [], reply: { type: 'govfs.data.ChunkDeleted', chunkId, existed: false } };
    if (version < m.version) {
      stale(chunkId, `delete of chunk ${chunkId}: names version ${version} but this store holds version ${m.version}, which is newer (not garbage: ask the minister again)`);
    }
    this.metas.delete(chunkId);
    return { ops: [{ op: 'drop', chunkId }], reply: { type: 'govfs.data.ChunkDeleted', chunkId, existed: true } };
  }

  private list(req: ChunkList): ChunkEffects {
    if (typeof req.after !== 'string') invalid('list', '', 'after must be a string');
    if (!isCount(req.limit)) invalid('list', '', `limit must be an integer >= 0, got ${String(req.limit)}`);
    const limit = req.limit === 0 ? this.listPage : Math.min(req.limit, this.listPage);
    const ids = [...this.metas.keys()].filter((id) => id > req.after).sort();
    const chunks = ids.slice(0, limit).map((id) => {
      const { type: _t, ...rest } = info(this.metas.get(id)!);
      return rest;
    });
    return { ops: [], reply: { type: 'govfs.data.ChunkListing', chunks, more: ids.length > limit } };
  }

  private known(chunkId: string, op: string): ChunkMeta {
    checkId(chunkId, op);
    const m = this.metas.get(chunkId);
    if (!m) throw new FsError('ENOENT', `${op} of chunk ${chunkId}: not on this store (it was never written here or was deleted: ask the minister where it lives)`);
    return m;
  }
}

/** A refusal that still changes state (a chunk flagged for repair). */
class Refusal extends Error {
  constructor(readonly ops: ChunkOp[], readonly reply: ChunkError) {
    super(reply.message);
  }
}

function info(m: ChunkMeta): ChunkInfo {
  return { type: 'govfs.data.ChunkInfo', chunkId: m.chunkId, version: m.version, token: m.token, size: m.size, mtime: m.mtime, repair: m.repair };
}

function error(code: FsErrorCode, message: string, chunkId: string): ChunkError {
  return { type: 'govfs.data.ChunkError', code, message, chunkId };
}

function checkId(chunkId: unknown, op: string): asserts chunkId is string {
  if (typeof chunkId !== 'string' || !CHUNK_ID.test(chunkId)) {
    throw new FsError('EINVAL', `${op} of chunk ${JSON.stringify(String(chunkId)).slice(0, 80)}: a chunk id is 1-128 characters of A-Z a-z 0-9 . _ -`);
  }
}

function invalid(op: string, chunkId: string, what: string): never {
  throw new FsError('EINVAL', `${op} of chunk ${chunkId}: ${what}`);
}

function stale(chunkId: string, message: string): never {
  throw new Refusal([], error('ESTALE', message, chunkId));
}
