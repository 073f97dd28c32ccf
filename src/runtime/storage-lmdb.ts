// Storage on LMDB (lmdb-js): synchronous reads, writes issued without waiting, durable on sync().
//
// lmdb-js queues async writes and commits everything issued in one event turn in one
// transaction on its write thread (group commit for free), but a queued write is invisible to
// reads until its transaction commits. So every issued write also goes into `pending`, an
// in-memory overlay that get/range consult first; an entry leaves the overlay once the
// transaction holding it has committed. With `overlappingSync: false` a commit includes the
// fsync, so "committed" and "durable" are the same event and sync() just waits for the
// transaction of the last write issued (transactions commit in order).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { RuntimeError } from './errors.js';
import { MIN_FREE_BYTES, formatBytes, freeBytes } from './storage-faults.js';
import { FailingStorage, type DedicatedOptions, type Storage, type StorageOp, type StorageRange } from './storage.js';
import { JournaledStorage } from './storage-journal.js';
import { tracer } from './trace.js';

export interface LmdbStorageOptions {
  /** Initial size of the memory map in bytes (lmdb-js grows it as needed). */
  mapSize?: number;
}

/** LMDB's default key limit (4 KiB pages); longer keys are rejected with EINVAL. */
export const MAX_KEY_BYTES = 1978;

type Db = Database<Buffer, Buffer>;

/** Named databases one shared environment holds (one per node of a local cluster). */
const MAX_SHARED_DBS = 1024;
/** This thread's shared environments by directory, with the databases opened in each (kept
 * open for the thread's life: LMDB database handles are not safe to close under writers). */
const sharedEnvs = new Map<string, Env & { dbs: Map<string, Db> }>();

/** An open environment and the count of transactions it committed. */
interface Env {
  root: RootDatabase<Buffer, Buffer>;
  commits: { count: number };
}

/** Opens (creating if needed) the LMDB environment in `dir`, binary keys and values, with a
 * commit that includes its fsync: a resolved write promise means durable (see top comment).
 * Commits are counted here, once per environment: lmdb-js cannot remove a commit listener. */
function openEnv(dir: string, opts: LmdbStorageOptions, maxDbs?: number): Env {
  ignoreOrphanCommitFailures();
  const root = open<Buffer, Buffer>({
    path: dir,
    keyEncoding: 'binary',
    encoding: 'binary',
    overlappingSync: false,
    ...(maxDbs === undefined ? {} : { maxDbs }),
    ...(opts.mapSize === undefined ? {} : { mapSize: opts.mapSize }),
  });
  const commits = { count: 0 };
  root.on('aftercommit', () => commits.count++);
  return { root, commits };
}

/** Where a node of a local cluster (`Cluster.start`, `govfs cluster`) keeps its storage
 * under `dataDir`: its own database in the cluster's shared environment `dataDir/nodes`, or,
 * for a folder made before nodes shared one, its own environment `dataDir/<id>`. */
export function localNodeStorage(dataDir: string, id: string): { storageDir: string; storageName?: string } {
  const own = join(dataDir, id);
  if (existsSync(join(own, 'data.mdb'))) return { storageDir: own };
  return { storageDir: join(dataDir, SHARED_ENV_DIR), storageName: id };
}

const SHARED_ENV_DIR = 'nodes';

/** lmdb-js's error for a failed commit; `commitError` rejects with the cause (errno in `code`). */
interface CommitFailure extends Error {
  commitError?: Promise<unknown>;
}

const isCommitFailure = (e: unknown): e is CommitFailure =>
  e instanceof Error && e.message.startsWith('Commit failed') && (e as CommitFailure).commitError instanceof Promise;

let orphanFilterInstalled = false;

/**
 * A failed lmdb-js commit also rejects a promise that lmdb-js made for itself (the event-turn
 * batch's start, write.js) and that nobody can hold, and its `commitError`: unhandled, either
 * ends the process (seen on a full disk: "Commit failed (see commitError for details)" and a
 * raw stack). Every write of LmdbStorage tracks its own transaction and reports the failure
 * (see track), so those two are dropped here; any other unhandled rejection still ends the
 * process as Node's default would, unless someone else listens for them.
 */
function ignoreOrphanCommitFailures(): void {
  if (orphanFilterInstalled) return;
  orphanFilterInstalled = true;
  const listener = (reason: unknown): void => {
    if (isCommitFailure(reason)) {
      reason.commitError!.catch(() => {});
      return;
    }
    if (process.listenerCount('unhandledRejection') === 1) throw reason;
  };
  process.on('unhandledRejection', listener);
}

/** The cause of a failed commit, as a typed error: ENOSPC (the message says the disk is full
 * and names the folder) when the file system is out of space (lmdb reports a short write as
 * EIO, so the free space is looked at too), else EIO. */
async function commitFailure(dir: string, e: unknown): Promise<RuntimeError> {
  let cause: unknown = e;
  if (isCommitFailure(e)) cause = await e.commitError!.then(() => e, (c: unknown) => c);
  const errno = (cause as { code?: unknown })?.code;
  const free = freeBytes(dir);
  if (errno === 28 || errno === 'ENOSPC' || (free !== undefined && free < MIN_FREE_BYTES)) {
    const left = free === undefined ? '' : ` (${formatBytes(free)} left)`;
    return new RuntimeError('ENOSPC', `disk full: cannot write to ${dir}: no space left on its file system${left}`, { cause });
  }
  return ioError(`lmdb commit failed in ${dir}; storage is unusable`, cause);
}

interface PendingWrite {
  /** Sequence number of the write call that set it; a later write to the key replaces it. */
  seq: number;
  /** undefined: a deletion not yet committed. */
  value: Uint8Array | undefined;
}

export class LmdbStorage extends FailingStorage implements Storage {
  private pending = new Map<string, PendingWrite>();
  private seq = 0;
  /** Promise of the transaction holding the last write, and the last seq it holds. */
  private last:
    | { txn: Promise<unknown>; upTo: number; settled: boolean; synced: Promise<void> }
    | undefined;
  private closed = false;
  /** Storages of their own beside this one, by name (see `dedicated`). */
  private readonly dedicatedStores = new Map<string, JournaledStorage>();

  private constructor(
    private readonly db: Db,
    readonly dir: string,
    /** Transactions the environment committed (see openEnv). */
    private readonly commits: { count: number },
    /** A named database in an environment others share: closing it leaves the environment open. */
    private readonly shared = false,
    /** The folder of the environment (what a disk-full message names). */
    private readonly storageDir = dir,
    /** The database's name in a shared environment. */
    private readonly dbName?: string,
  ) {
    super();
  }

  /** Opens (creating if needed) the database `name` in the LMDB environment in `dir`, which
   * every storage this thread opens there shares: writes issued in one event turn commit in
   * one transaction with one fsync, whichever storage issued them. (A node's storage is made
   * durable by its own journal over this database, storage-node.ts: the nodes' commits here
   * are off the acknowledgment's path.) */
  static openShared(dir: string, name: string, opts: LmdbStorageOptions = {}): LmdbStorage {
    try {
      let env = sharedEnvs.get(dir);
      if (!env) {
        env = { ...openEnv(dir, opts, MAX_SHARED_DBS), dbs: new Map() };
        sharedEnvs.set(dir, env);
      }
      let db = env.dbs.get(name);
      if (!db) {
        db = env.root.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' });
        env.dbs.set(name, db);
      }
      return new LmdbStorage(db, `${dir} (${name})`, env.commits, true, dir, name);
    } catch (e) {
      throw ioError(`cannot open lmdb storage ${name} in ${dir}`, e);
    }
  }

  /** Opens (creating if needed) the LMDB environment in directory `dir`. */
  static open(dir: string, opts: LmdbStorageOptions = {}): LmdbStorage {
    try {
      const { root, commits } = openEnv(dir, opts);
      return new LmdbStorage(root, dir, commits);
    } catch (e) {
      throw ioError(`cannot open lmdb storage in ${dir}`, e);
    }
  }

  /** Closes the shared environments this thread opened; their storages must be closed first. */
  static async closeShared(): Promise<void> {
    const envs = [...sharedEnvs.values()];
    sharedEnvs.clear();
    for (const e of envs) await e.root.close();
  }

  /** Number of transactions committed (each one fsync), for group-commit tests. */
  get flushCount(): number {
    return this.commits.count;
  }

  get(key: string): Uint8Array | undefined {
    this.checkWritable();
    const k = encodeKey(key);
    const p = this.pending.get(key);
    if (p) return p.value && new Uint8Array(p.value);
    const v = this.lmdb('read', () => this.db.get(k));
    return v && plain(v);
  }

  /** lmdb-js's getBinaryFast: copied (natively) into a buffer it reuses for every get of this
   * thread, or a view of the map itself; no allocation. */
  peek(key: string): Uint8Array | undefined {
    this.checkWritable();
    const k = encodeKey(key);
    const p = this.pending.get(key);
    if (p) return p.value;
    const v = this.lmdb('read', () => this.db.getBinaryFast(k));
    // (Its `length` is the value's; its byteLength may be the whole reused buffer's.)
    return v && new Uint8Array(v.buffer, v.byteOffset, v.length);
  }

  /** lmdb-js's prefetch (its reader pool touches the values' pages). It reports a failure only
   * to the console and never calls back: the read then just goes on after PREFETCH_WAIT_MS. */
  prefetch(keys: string[]): Promise<void> {
    this.checkWritable();
    const todo = keys.filter((k) => !this.pending.has(k)).map((k) => encodeKey(k));
    if (todo.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, PREFETCH_WAIT_MS);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      try {
        void this.db.prefetch(todo, done);
      } catch {
        done();
      }
    });
  }

  range(range: StorageRange): Iterable<[string, Uint8Array]> {
    this.checkWritable();
    // Validate bounds now so that errors surface at the call, not at the first next().
    const bounds = rangeBounds(range);
    return { [Symbol.iterator]: () => this.merged(range, bounds) };
  }

  /** The keys in range, without their values (a JournaledStorage's delRange: deleting a
   * chunk's blocks need not read them). */
  keys(range: StorageRange): Iterable<string> {
    this.checkWritable();
    const bounds = rangeBounds(range);
    const merged = (): Generator<[string, Uint8Array]> => this.merged(range, bounds, false);
    return {
      *[Symbol.iterator]() {
        for (const [k] of merged()) yield k;
      },
    };
  }

  override batch(ops: StorageOp[]): void {
    this.checkWritable();
    // Check every key first so that a bad key leaves nothing half-applied.
    const encoded = ops.map((o) => (o.op === 'delRange' ? rangeBounds(o) : encodeKey(o.key)));
    if (ops.length === 0) return;
    if (tracer.on && tracer.current !== 0) tracer.record(tracer.current, 'write', this.storageDir, `${ops.length} ops`);
    const seq = ++this.seq;
    const txn = this.lmdb('write', () =>
      // db.batch puts everything in one transaction: atomic across a crash.
      this.db.batch(() => {
        ops.forEach((o, i) => {
          if (o.op === 'delRange') {
            // LMDB has no range delete: delete each key visible now (committed or pending).
            // A key not visible now can only come from a later write, which must survive.
            const keys = [...this.merged({}, encoded[i] as Bounds, false)];
            for (const [key] of keys) {
              this.db.remove(encodeKey(key));
              this.pending.set(key, { seq, value: undefined });
            }
          } else if (o.op === 'put') {
            // A copy, unless given away (owned): the caller may reuse its array.
            const value = o.owned ? Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength) : Buffer.from(o.value);
            this.db.put(encoded[i] as Buffer, value);
            this.pending.set(o.key, { seq, value });
          } else {
            this.db.remove(encoded[i] as Buffer);
            this.pending.set(o.key, { seq, value: undefined });
          }
        });
      }),
    );
    this.track(txn, seq);
  }

  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.last?.synced ?? Promise.resolve();
  }

  /** A storage of its own for one actor's bulk data (the chunk store: issue 17), whose syncs
   * do not queue on this environment's write lock behind the node's Raft commits: a
   * JournaledStorage in the folder `name` of this environment's folder (`<name>-<database>`
   * for a database of a shared one). Opened once (its journal replayed), closed with this. */
  dedicated(name: string, opts: DedicatedOptions = {}): Storage {
    this.checkOpen();
    let s = this.dedicatedStores.get(name);
    if (!s) {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name.startsWith('.')) throw new RuntimeError('EINVAL', `dedicated storage name ${JSON.stringify(name)}: 1-64 of A-Z a-z 0-9 . _ -, not starting with .`);
      s = JournaledStorage.open(join(this.storageDir, this.dbName === undefined ? name : `${name}-${this.dbName}`), opts);
      this.dedicatedStores.set(name, s);
    }
    return s;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const s of this.dedicatedStores.values()) await s.close().catch(() => {});
    this.dedicatedStores.clear();
    await this.sync().catch(() => {}); // a failed write was already reported by sync()
    this.closed = true;
    // A shared environment's named database stays open for the next storage of that name
    // (closing a database handle is not safe while other writers use the environment).
    if (!this.shared) await this.db.close();
  }

  /** lmdb-js returns the same promise for writes that share a transaction. */
  private track(txn: Promise<unknown>, seq: number): void {
    if (this.last?.txn === txn && !this.last.settled) {
      this.last.upTo = seq;
      return;
    }
    // Defensive: a write must never join a transaction that already committed, or sync()
    // would resolve early; if lmdb-js ever did that, wait for its "all writes committed".
    if (this.last?.txn === txn) txn = Promise.resolve(this.db.committed);
    const last = {
      txn,
      upTo: seq,
      settled: false,
      synced: txn.then(
        () => {
          last.settled = true;
          this.committed(last.upTo);
          if (this.failure) throw this.failure;
        },
        async (e: unknown) => {
          last.settled = true;
          const failure = await commitFailure(this.storageDir, e);
          this.fail(failure);
          throw this.failure;
        },
      ),
    };
    // Nobody may ever call sync(); a failure is still kept in `failure` and reported later.
    last.synced.catch(() => {});
    this.last = last;
  }

  /** Every write up to `upTo` is committed: its overlay entries are no longer needed. The
   * overlay is replaced by a new Map of what is left, not deleted from: a Map whose table V8
   * rebuilds after deletions keeps the later tables, and the values they hold, alive into the
   * old generation (see int-table.ts); this one churns once per write. */
  private committed(upTo: number): void {
    let left = 0;
    for (const p of this.pending.values()) if (p.seq > upTo) left++;
    if (left === this.pending.size) return;
    const rest = new Map<string, PendingWrite>();
    if (left > 0) for (const [key, p] of this.pending) if (p.seq > upTo) rest.set(key, p);
    this.pending = rest;
  }

  /**
   * The committed entries in range merged with the pending overlay (which wins). Both
   * snapshots are taken at the first next(), in one synchronous step, so they agree.
   */
  private *merged(
    range: StorageRange,
    [start, end]: Bounds,
    withValues = true,
  ): Generator<[string, Uint8Array]> {
    let left = range.limit ?? Infinity;
    if (left <= 0 || end === '' || (start !== undefined && end !== undefined && start >= end)) return;
    const reverse = range.reverse === true;
    const inRange = (k: string): boolean =>
      (start === undefined || k >= start) && (end === undefined || k < end);
    const overlay = [...this.pending].filter(([k]) => inRange(k));
    overlay.sort(([a], [b]) => (a < b ? -1 : 1) * (reverse ? -1 : 1));

    const options = reverse
      ? {
          // lmdb-js reverse ranges go from `start` down to `end`, start inclusive and end
          // exclusive by default; flip both to get [start, end) in descending order. Without
          // a lower bound it stops before key 0x00, so give it one explicitly.
          start: end === undefined ? undefined : encodeKey(end, false),
          exclusiveStart: true,
          end: start === undefined ? Buffer.from([0]) : encodeKey(start, false),
          inclusiveEnd: true,
          reverse: true,
        }
      : {
          start: start === undefined ? undefined : encodeKey(start, false),
          end: end === undefined ? undefined : encodeKey(end, false),
        };
    const it = this.lmdb('read', () =>
      (withValues ? this.db.getRange(options) : this.db.getKeys(options))[Symbol.iterator](),
    );
    const nextCommitted = (): [string, Uint8Array] | undefined => {
      const r = this.lmdb('read', () => it.next());
      if (r.done) return undefined;
      const e = r.value as Buffer | { key: Buffer; value: Buffer };
      return e instanceof Uint8Array ? [decodeKey(e), EMPTY] : [decodeKey(e.key), plain(e.value)];
    };
    try {
      let c = nextCommitted();
      let o = 0;
      while (left > 0) {
        const p = overlay[o];
        if (c === undefined && p === undefined) return;
        const takePending =
          p !== undefined && (c === undefined || p[0] === c[0] || p[0] < c[0] !== reverse);
        if (takePending) {
          if (c !== undefined && p[0] === c[0]) c = nextCommitted(); // shadowed
          o++;
          if (p[1].value === undefined) continue; // pending deletion
          left--;
          yield [p[0], new Uint8Array(p[1].value)];
        } else {
          left--;
          yield c!;
          c = nextCommitted();
        }
      }
    } finally {
      it.return?.();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new RuntimeError('EBADF', `lmdb storage in ${this.dir} is closed`);
  }

  /** Open and not failed (reads too: after a failed commit the overlay holds writes that
   * never became durable, which must not be served as if they had). */
  private checkWritable(): void {
    this.checkOpen();
    if (this.failure) throw this.failure;
  }

  /** Runs an lmdb call, turning its errors into EIO. */
  private lmdb<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw ioError(`lmdb ${what} failed in ${this.dir}`, e);
    }
  }
}

const EMPTY = new Uint8Array(0);

/** The longest a prefetch is waited for (see LmdbStorage.prefetch). */
const PREFETCH_WAIT_MS = 1_000;

/** lmdb-js hands out fresh Buffers; callers get plain Uint8Arrays as from SimStorage, since
 * Buffer#slice returns a view where Uint8Array#slice copies. */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function ioError(message: string, cause: unknown): RuntimeError {
  if (cause instanceof RuntimeError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new RuntimeError('EIO', `${message}: ${detail}`, { cause });
}

type Bounds = [start: string | undefined, end: string | undefined];

/** Checks range bounds; an empty start means "from the first key". */
function rangeBounds(r: { start?: string; end?: string }): Bounds {
  const start = r.start === '' ? undefined : r.start;
  if (start !== undefined) checkKeySize(start, 'range start');
  if (r.end !== undefined && r.end !== '') checkKeySize(r.end, 'range end');
  return [start, r.end];
}

function checkKeySize(key: string, what: string): void {
  if (key.length * 3 > MAX_KEY_BYTES && encodeKey(key, false).length > MAX_KEY_BYTES) {
    throw new RuntimeError('EINVAL', `${what} is longer than ${MAX_KEY_BYTES} bytes`);
  }
}

// Keys are stored in CESU-8: each UTF-16 code unit encoded on its own as UTF-8 would encode
// that number. Byte order then equals UTF-16 code-unit order (the order JS compares strings in,
// and the order the Storage contract promises), and lone surrogates survive; plain UTF-8 would
// sort astral characters after U+FFFF and mangle lone surrogates.

const SURROGATE = /[\ud800-\udfff]/;

export function encodeKey(key: string, check = true): Buffer {
  if (check && key === '') throw new RuntimeError('EINVAL', 'storage keys must not be empty');
  let out: Buffer;
  if (!SURROGATE.test(key)) {
    out = Buffer.from(key, 'utf8'); // identical to CESU-8 without surrogates
  } else {
    out = Buffer.allocUnsafe(key.length * 3);
    let n = 0;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c < 0x80) out[n++] = c;
      else if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 0x3f);
      } else {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      }
    }
    out = out.subarray(0, n);
  }
  if (check && out.length > MAX_KEY_BYTES) {
    throw new RuntimeError('EINVAL', `storage key is longer than ${MAX_KEY_BYTES} bytes: ${key.slice(0, 40)}...`);
  }
  return out;
}

export function decodeKey(b: Buffer): string {
  let surrogates = false;
  for (let i = 0; i < b.length - 1; i++) {
    if (b[i] === 0xed && b[i + 1]! >= 0xa0) {
      surrogates = true;
      break;
    }
  }
  if (!surrogates) return b.toString('utf8');
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      s += String.fromCharCode(c);
      i += 1;
    } else if (c < 0xe0) {
      s += String.fromCharCode(((c & 0x1f) << 6) | (b[i + 1]! & 0x3f));
      i += 2;
    } else {
      s += String.fromCharCode(((c & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f));
      i += 3;
    }
  }
  return s;
}
