// A client reaches a chunk store through its node with an FsRequest whose operation is dataWrite
// or dataRead (govfs.proto, range 40-59): the client gateway passes only govfs.fs requests, and
// names the client in each. This maps such a request onto the store's own messages
// (govfs.data.ChunkWrite/ChunkRead) and the store's reply back onto an FsReply.

import type { DataBytesResult, DataReadOp, DataWriteOp, DataWrittenResult, FsReplyMessage } from '../fs/requests.js';
import type { ChunkError, ChunkReply, ChunkRequest, ChunkWrite } from './messages.js';

interface DataFsRequest {
  type: 'govfs.fs.FsRequest';
  path?: string;
  dataWrite?: DataWriteOp | null;
  dataRead?: DataReadOp | null;
}

const set = (x: unknown): boolean => x !== undefined && x !== null;

/** Whether `m` is an FsRequest for a chunk store (its node routes it there). */
export function isDataFsRequest(m: unknown): m is DataFsRequest {
  if (typeof m !== 'object' || m === null || (m as { type?: unknown }).type !== 'govfs.fs.FsRequest') return false;
  const r = m as DataFsRequest;
  return set(r.dataWrite) || set(r.dataRead);
}

/** The chunk store's request for it, or why there is none (the core checks the fields). */
export function chunkRequestOf(m: DataFsRequest): ChunkRequest | ChunkError {
  const w = m.dataWrite;
  const r = m.dataRead;
  if (set(w) && set(r)) return { type: 'govfs.data.ChunkError', code: 'EINVAL', message: 'malformed request: it holds two operations (dataWrite and dataRead)', chunkId: '' };
  if (w) {
    const chain = w.chain ?? [];
    const write: ChunkWrite = { type: 'govfs.data.ChunkWrite', chunkId: w.chunkId, version: w.version, token: w.token, offset: w.offset, data: w.data };
    return chain.length > 0 ? { ...write, chain, chainMs: w.chainMs ?? 0 } : write;
  }
  const d = r!;
  return { type: 'govfs.data.ChunkRead', chunkId: d.chunkId, version: d.version, offset: d.offset, length: d.length };
}

/** The store's reply as the client's FsReply. */
export function toFsReply(r: ChunkReply): FsReplyMessage {
  switch (r.type) {
    case 'govfs.data.ChunkWritten': {
      const w: DataWrittenResult = { chunkId: r.chunkId, version: r.version, size: r.size };
      return { type: 'govfs.fs.FsReply', ok: true, result: 'dataWrite', dataWrite: w };
    }
    case 'govfs.data.ChunkData': {
      const d: DataBytesResult = { chunkId: r.chunkId, version: r.version, offset: r.offset, data: r.data, size: r.size };
      return { type: 'govfs.fs.FsReply', ok: true, result: 'dataRead', dataRead: d };
    }
    case 'govfs.data.ChunkError':
      return { type: 'govfs.fs.FsReply', ok: false, error: { code: r.code, message: r.message, path: r.chunkId } };
    default:
      return { type: 'govfs.fs.FsReply', ok: false, error: { code: 'EINVAL', message: `chunk store: ${r.type} is no answer to a client`, path: '' } };
  }
}
