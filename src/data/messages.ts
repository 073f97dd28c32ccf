// The data plane's messages as TypeScript sees them: src/wire/proto/data.proto, decoded by the
// registry into plain objects tagged with `type` (test/data/data-wire.test.ts checks that each
// type here round-trips through that schema unchanged).

import type { FsErrorCode } from '../fs/errors.js';
import type { DataReadOp, DataWriteOp } from '../fs/requests.js';
import type { ChunkMeta } from './backend.js';

/** A store's part of a client's DataWrite (fs/requests.ts): `chain` names the stores still to
 * write after this one (absent or empty: this store only). */
export interface ChunkWrite extends DataWriteOp {
  type: 'govfs.data.ChunkWrite';
}

export interface ChunkRead extends DataReadOp {
  type: 'govfs.data.ChunkRead';
}

export interface ChunkStat {
  type: 'govfs.data.ChunkStat';
  chunkId: string;
}

export interface ChunkDelete {
  type: 'govfs.data.ChunkDelete';
  chunkId: string;
  version: number;
}

export interface ChunkList {
  type: 'govfs.data.ChunkList';
  after: string;
  limit: number;
}

export type ChunkRequest = ChunkWrite | ChunkRead | ChunkStat | ChunkDelete | ChunkList;

export interface ChunkWritten {
  type: 'govfs.data.ChunkWritten';
  chunkId: string;
  version: number;
  size: number;
}

export interface ChunkData {
  type: 'govfs.data.ChunkData';
  chunkId: string;
  version: number;
  offset: number;
  data: Uint8Array;
  size: number;
}

/** A chunk's metadata on the wire: what the store keeps of it (backend.ts). */
export interface ChunkInfo extends ChunkMeta {
  type: 'govfs.data.ChunkInfo';
}

export interface ChunkDeleted {
  type: 'govfs.data.ChunkDeleted';
  chunkId: string;
  existed: boolean;
}

export interface ChunkListing {
  type: 'govfs.data.ChunkListing';
  /** Entries inside a listing travel without their own `type` tag (nested messages). */
  chunks: Omit<ChunkInfo, 'type'>[];
  more: boolean;
}

export interface ChunkError {
  type: 'govfs.data.ChunkError';
  code: FsErrorCode;
  message: string;
  chunkId: string;
}

export type ChunkReply = ChunkWritten | ChunkData | ChunkInfo | ChunkDeleted | ChunkListing | ChunkError;

const REQUEST_TYPES: ReadonlySet<string> = new Set(['govfs.data.ChunkWrite', 'govfs.data.ChunkRead', 'govfs.data.ChunkStat', 'govfs.data.ChunkDelete', 'govfs.data.ChunkList']);

/** Whether `m` is tagged as a chunk store request (its fields are checked by the core). */
export function isChunkRequest(m: unknown): m is ChunkRequest {
  return typeof m === 'object' && m !== null && REQUEST_TYPES.has((m as { type?: unknown }).type as string);
}
