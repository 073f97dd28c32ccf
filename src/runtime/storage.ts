// Durable storage as the Raft log, hard state and snapshots need it (DESIGN.md, Runtime).
// Keys are strings ordered by UTF-16 code units (use fixed-width, zero-padded numbers in keys
// so that numeric order is key order). Reads see every write issued so far; a write is
// durable only once a later `sync()` has resolved. After a crash, exactly the synced writes
// remain.

import type { RuntimeError } from './errors.js';

export interface StorageRange {
  /** Inclusive lower bound. */
  start?: string;
  /** Exclusive upper bound. */
  end?: string;
  reverse?: boolean;
  limit?: number;
}

export type StorageOp =
  /** owned: the caller gives `value` away and never changes it again, so a storage may keep
   * it as it is instead of copying it (chunk blocks: a MiB's copy and its garbage, issue 17).
   * sealed: `value` is [CRC-32C of the rest, u32 LE][the rest] (a chunk block), so a journal
   * may chain that CRC into its own instead of reading the bytes again (storage-journal.ts). */
  | { op: 'put'; key: string; value: Uint8Array; owned?: boolean; sealed?: boolean }
  | { op: 'del'; key: string }
  /** Delete every key in [start, end). */
  | { op: 'delRange'; start: string; end: string };

export interface Storage {
  get(key: string): Uint8Array | undefined;
  /** The value without a copy where the storage can (a chunk store's read, issue 17: lmdb's
   * get copies each 64 KiB block into a fresh buffer). The view is READ-ONLY and valid only
   * until the next call on this storage, in the same turn: read it at once. Absent: get. */
  peek?(key: string): Uint8Array | undefined;
  /** Bring these keys' values into memory off this thread (lmdb: a thread of its pool touches
   * their pages), so that reading them next does not block this thread on the disk. Never
   * rejects; a missing key is no error. Absent: reads wait for the disk where they are. */
  prefetch?(keys: string[]): Promise<void>;
  /** Entries in key order (or reverse), within the range. */
  range(range: StorageRange): Iterable<[string, Uint8Array]>;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
  delRange(start: string, end: string): void;
  /** Applied atomically: after a crash, all of a batch or none of it. */
  batch(ops: StorageOp[]): void;
  /** Resolves once every write issued before the call is durable. Concurrent calls share
   * one flush (group commit). */
  sync(): Promise<void>;
  /** Release resources (the lmdb environment). */
  close(): Promise<void>;
  /** A storage of its own, named `name`, for one actor's bulk data (a chunk store's), whose
   * syncs do not queue behind this one's; closed with this one. Absent: use a prefixed view. */
  dedicated?(name: string, opts?: DedicatedOptions): Storage;
}

/** Keys whose values a storage may keep in files beside its database (a chunk's blocks:
 * storage-files.ts), by key: the file (1-200 of A-Z a-z 0-9 . _ -, not . or ..) and slot. */
export interface FileSlots {
  slotOf(key: string): { file: string; slot: number } | undefined;
  /** Bytes per slot: a longer value stays in the database. */
  slotBytes: number;
}

/** How a dedicated storage is opened (the first call's options count). */
export interface DedicatedOptions {
  files?: FileSlots;
}

/** For a storage whose writes all go through `batch`: put, del and delRange as one-op batches. */
export abstract class BatchWrites {
  abstract batch(ops: StorageOp[]): void;

  put(key: string, value: Uint8Array): void {
    this.batch([{ op: 'put', key, value }]);
  }

  del(key: string): void {
    this.batch([{ op: 'del', key }]);
  }

  delRange(start: string, end: string): void {
    this.batch([{ op: 'delRange', start, end }]);
  }
}

/** A storage on a real disk that fails for good (a commit or journal write failed, a reader
 * found a value corrupt): from then on every call throws its fault, so nothing more is
 * acknowledged or served from it, and its listeners hear of it once. */
export abstract class FailingStorage extends BatchWrites {
  protected failure: RuntimeError | undefined;
  private readonly faultListeners: ((e: RuntimeError) => void)[] = [];

  /** The storage's fault, once it failed: every later call throws it. */
  get fault(): RuntimeError | undefined {
    return this.failure;
  }

  /** Called once, with the fault, when this storage becomes unusable. */
  onFault(listener: (e: RuntimeError) => void): void {
    this.faultListeners.push(listener);
  }

  /** Marks the storage unusable with `e`. */
  fail(e: RuntimeError): void {
    if (this.failure) return;
    this.failure = e;
    for (const l of this.faultListeners) l(e);
  }
}

/** A view of a storage under a key prefix, so several actors of one host can share it. */
export function prefixed(storage: Storage, prefix: string): Storage {
  const strip = (entries: Iterable<[string, Uint8Array]>): Iterable<[string, Uint8Array]> => ({
    *[Symbol.iterator]() {
      for (const [k, v] of entries) yield [k.slice(prefix.length), v];
    },
  });
  // Upper bound of the whole prefix: the next string after every key that starts with it.
  const prefixEnd = prefix + '\uffff';
  return {
    get: (key) => storage.get(prefix + key),
    ...(storage.peek ? { peek: (key: string) => storage.peek!(prefix + key) } : {}),
    ...(storage.prefetch ? { prefetch: (keys: string[]) => storage.prefetch!(keys.map((k) => prefix + k)) } : {}),
    range: (r) =>
      strip(
        storage.range({
          start: prefix + (r.start ?? ''),
          end: r.end === undefined ? prefixEnd : prefix + r.end,
          reverse: r.reverse,
          limit: r.limit,
        }),
      ),
    put: (key, value) => storage.put(prefix + key, value),
    del: (key) => storage.del(prefix + key),
    delRange: (start, end) => storage.delRange(prefix + start, prefix + end),
    batch: (ops) =>
      storage.batch(
        ops.map((o) =>
          o.op === 'delRange'
            ? { op: 'delRange', start: prefix + o.start, end: prefix + o.end }
            : o.op === 'put'
              ? { op: 'put', key: prefix + o.key, value: o.value, ...(o.owned ? { owned: true } : {}), ...(o.sealed ? { sealed: true } : {}) }
              : { op: 'del', key: prefix + o.key },
        ),
      ),
    sync: () => storage.sync(),
    close: async () => {},
  };
}
