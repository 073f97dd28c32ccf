// In-memory Storage for the deterministic simulator. A host's "disk" keeps the durable state;
// a SimStorage over it adds the writes issued since (pending). Reads see both. sync() makes
// pending writes durable when the simulated fsync completes (`scheduleSync` decides when);
// crash() throws pending writes away, as a power cut would, and reopen() is the restarted
// host's storage over the same disk.

import { RuntimeError } from './errors.js';
import { BatchWrites, type Storage, type StorageOp, type StorageRange } from './storage.js';

/** Same limit as LMDB, counted the same way, so code that runs here also runs on LMDB. */
export const SIM_MAX_KEY_BYTES = 1978;

export interface SimStorageOptions {
  /**
   * Called once per simulated fsync; call `flush` when it completes (the simulator does so
   * after a drawn latency, as a virtual-time event). Default: in a microtask.
   */
  scheduleSync?: (flush: () => void) => void;
  /** Called whenever `sync()` hands out a promise: the simulator must then let microtasks run
   * before virtual time moves on. */
  onPromise?: () => void;
}

export interface SimStorageStats {
  /** Keys and bytes (UTF-16 key units + value bytes) that reads see. */
  keys: number;
  bytes: number;
  /** The same for what would survive a crash now. */
  durableKeys: number;
  durableBytes: number;
  /** Write calls issued and not yet durable (a batch counts once). */
  pendingWrites: number;
  /** Simulated fsyncs completed. */
  flushes: number;
}

/** One fsync: covers writes up to `upTo`; every sync() that joined it resolves with it. */
interface Group {
  upTo: number;
  promise: Promise<void>;
  resolve: () => void;
}

export class SimStorage extends BatchWrites implements Storage {
  private readonly scheduleSync: (flush: () => void) => void;
  /** The host's disk: shared with the storages reopened after a crash. */
  private disk = new SortedStore();
  /** What reads see: the disk plus the pending writes. */
  private view = new SortedStore();
  /** Issued, not yet durable, in issue order. */
  private pending: { seq: number; ops: StorageOp[] }[] = [];
  private seq = 0;
  /** The fsync under way (its coverage is fixed) and the one that will follow it (still open
   * to more syncs). */
  private inflight: Group | undefined;
  private next: Group | undefined;
  private flushes = 0;
  private state: 'open' | 'crashed' | 'closed' = 'open';

  constructor(private readonly opts: SimStorageOptions = {}) {
    super();
    this.scheduleSync = opts.scheduleSync ?? ((flush) => queueMicrotask(flush));
  }

  /** Simulated fsyncs completed by this storage (group commit makes this small). */
  get flushCount(): number {
    return this.flushes;
  }

  get(key: string): Uint8Array | undefined {
    checkKey(key);
    const v = this.readable().get(key);
    return v && new Uint8Array(v);
  }

  /** The stored value itself (the simulator's chunk stores read as on a node: without a copy). */
  peek(key: string): Uint8Array | undefined {
    checkKey(key);
    return this.readable().get(key);
  }

  range(range: StorageRange): Iterable<[string, Uint8Array]> {
    // Entries are collected on the call, so the iteration sees the state of that moment.
    if (range.start !== undefined) checkKey(range.start, true);
    if (range.end !== undefined) checkKey(range.end, true);
    return this.readable()
      .scan(range)
      .map(([k, v]): [string, Uint8Array] => [k, new Uint8Array(v)]);
  }

  override batch(ops: StorageOp[]): void {
    this.writable();
    for (const o of ops) {
      if (o.op !== 'delRange') checkKey(o.key);
      else {
        checkKey(o.start, true);
        checkKey(o.end, true);
      }
    }
    if (ops.length === 0) return;
    // Copy values: the caller may reuse its arrays, a real disk would not notice (unless given
    // away: owned, as the other storages keep them).
    const own = ops.map((o) => (o.op === 'put' && !o.owned ? { ...o, value: new Uint8Array(o.value) } : o));
    for (const o of own) this.view.apply(o);
    this.pending.push({ seq: ++this.seq, ops: own });
  }

  sync(): Promise<void> {
    this.opts.onPromise?.();
    if (this.state === 'crashed') return new Promise<void>(() => {}); // never acked
    if (this.state === 'closed') return Promise.reject(closedError());
    if (this.pending.length === 0) return Promise.resolve();
    const upTo = this.seq;
    if (this.inflight && this.inflight.upTo >= upTo) return this.inflight.promise;
    if (!this.next) {
      this.next = group(upTo);
      // The fsync starts at the end of this turn, so every sync() of the turn shares it (as
      // lmdb-js commits once per event turn). If one is under way, the next starts after it.
      if (!this.inflight) queueMicrotask(() => this.startNext());
    }
    this.next.upTo = upTo;
    return this.next.promise;
  }

  /** Flushes pending writes (as lmdb's close does), then refuses further use. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    await this.sync();
    this.state = 'closed';
  }

  /**
   * Power cut: pending writes are lost, except the first `keepPending` write calls (a real
   * disk may have written some un-synced data back on its own, always in issue order; the
   * simulator may draw this). Outstanding syncs never settle. Reads then show the disk.
   */
  crash(keepPending = 0): void {
    if (this.state !== 'open') return;
    for (const w of this.pending.slice(0, keepPending)) for (const o of w.ops) this.disk.apply(o);
    this.pending = [];
    this.inflight = this.next = undefined;
    this.state = 'crashed';
    this.view = this.disk;
  }

  /** Bit rot (a simulation fault): flips bit `bit` (modulo its length) of the value stored at
   * `key`, on the disk and in what reads see. False when nothing is stored there. */
  flipBit(key: string, bit: number): boolean {
    let flipped = false;
    for (const v of new Set([this.disk.get(key), this.view.get(key)])) {
      if (!v || v.length === 0) continue;
      const at = Math.floor(bit / 8) % v.length;
      v[at] = v[at]! ^ (1 << (bit % 8));
      flipped = true;
    }
    return flipped;
  }

  /** The restarted host's storage over the same disk (after crash() or close()). */
  reopen(opts: SimStorageOptions = this.opts): SimStorage {
    if (this.state === 'open') {
      throw new RuntimeError('EBUSY', 'reopen of a storage still open: crash() or close() it first');
    }
    const s = new SimStorage(opts);
    s.disk = this.disk;
    s.view = this.disk.clone();
    return s;
  }

  stats(): SimStorageStats {
    return {
      keys: this.view.size,
      bytes: this.view.bytes,
      durableKeys: this.disk.size,
      durableBytes: this.disk.bytes,
      pendingWrites: this.pending.length,
      flushes: this.flushes,
    };
  }

  private startNext(): void {
    const g = this.next;
    if (!g || this.inflight) return; // crashed, or the one under way will start it
    this.next = undefined;
    this.inflight = g;
    this.scheduleSync(() => {
      if (this.inflight !== g) return; // crashed (or already run): a dead host acks nothing
      let n = 0;
      while (n < this.pending.length && this.pending[n]!.seq <= g.upTo) {
        for (const o of this.pending[n]!.ops) this.disk.apply(o);
        n++;
      }
      this.pending.splice(0, n);
      this.flushes++;
      this.inflight = undefined;
      this.startNext();
      g.resolve();
    });
  }

  private readable(): SortedStore {
    if (this.state === 'closed') throw closedError();
    return this.view;
  }

  private writable(): void {
    if (this.state === 'crashed') throw new RuntimeError('EIO', 'storage of a crashed host');
    if (this.state === 'closed') throw closedError();
  }
}

function group(upTo: number): Group {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { upTo, promise, resolve };
}

function closedError(): RuntimeError {
  return new RuntimeError('EBADF', 'storage is closed');
}

/** Range bounds may be empty (before every key); keys may not, as in LMDB. */
function checkKey(key: string, isBound = false): void {
  if (key === '' && !isBound) throw new RuntimeError('EINVAL', 'storage keys must not be empty');
  // LMDB stores a key as one to three bytes per UTF-16 unit (CESU-8; see storage-lmdb.ts).
  if (key.length <= SIM_MAX_KEY_BYTES / 3) return;
  let bytes = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  if (bytes > SIM_MAX_KEY_BYTES) {
    throw new RuntimeError('EINVAL', `storage key is longer than ${SIM_MAX_KEY_BYTES} bytes: ${key.slice(0, 40)}...`);
  }
}

/**
 * Keys in a sorted array (binary search) beside a Map of values. Raft appends at the end
 * (a push) and compacts at the front (one splice per delRange), which this makes cheap.
 */
class SortedStore {
  private keys: string[] = [];
  private values = new Map<string, Uint8Array>();
  bytes = 0;

  get size(): number {
    return this.keys.length;
  }

  clone(): SortedStore {
    const c = new SortedStore();
    c.keys = this.keys.slice();
    c.values = new Map(this.values);
    c.bytes = this.bytes;
    return c;
  }

  get(key: string): Uint8Array | undefined {
    return this.values.get(key);
  }

  apply(o: StorageOp): void {
    if (o.op === 'put') this.put(o.key, o.value);
    else if (o.op === 'del') this.delRange(o.key, o.key + '\0');
    else this.delRange(o.start, o.end);
  }

  /** Entries in [start, end), in order or reversed, at most `limit`. */
  scan(r: StorageRange): [string, Uint8Array][] {
    const lo = r.start === undefined ? 0 : this.lowerBound(r.start);
    const hi = r.end === undefined ? this.keys.length : this.lowerBound(r.end);
    const n = Math.max(0, Math.min(hi - lo, r.limit ?? Infinity));
    const keys = r.reverse ? this.keys.slice(hi - n, hi).reverse() : this.keys.slice(lo, lo + n);
    return keys.map((k) => [k, this.values.get(k)!]);
  }

  private put(key: string, value: Uint8Array): void {
    const old = this.values.get(key);
    if (old) this.bytes -= old.byteLength;
    else {
      const last = this.keys[this.keys.length - 1];
      if (last === undefined || key > last) this.keys.push(key); // the common append
      else this.keys.splice(this.lowerBound(key), 0, key);
      this.bytes += key.length;
    }
    this.values.set(key, value);
    this.bytes += value.byteLength;
  }

  private delRange(start: string, end: string): void {
    const lo = this.lowerBound(start);
    const hi = this.lowerBound(end);
    if (lo >= hi) return;
    for (let i = lo; i < hi; i++) {
      const k = this.keys[i]!;
      this.bytes -= k.length + this.values.get(k)!.byteLength;
      this.values.delete(k);
    }
    this.keys.splice(lo, hi - lo);
  }

  /** Index of the first key >= `key`. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
