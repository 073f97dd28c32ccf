// Storage for one actor's bulk data (a node's chunk store, issue 17): an lmdb environment of its
// own, made durable by a journal beside it instead of by lmdb's commits. Also each node's own
// storage, over its database of a shared environment (storage-node.ts, issue 19).
//
// Why: a chunk store acknowledges a write only once it is durable, so a 4 KiB synced write waits
// for a storage sync on every replica. MEASURED (tmp probes, 2 cores at load 7-16, p50): one
// pwrite of 64 KiB on a file opened O_DSYNC 0.29 ms; an lmdb commit of a 64 KiB block (two
// fsyncs, data then meta, and its page writes) 0.45-0.7 ms alone, 0.7 ms with three stores in
// their own environments, 3-5 ms (p90 12-64 ms) with three stores in the one environment a local
// cluster's nodes share (they queue on its write lock with each other's Raft commits).
//
// How:
//   - batch() takes effect at once in an overlay in memory (reads see it) and is queued for the
//     journal; a delRange is queued as the keys it deleted, so that replaying it is exact;
//   - sync() is a group commit: one journal write at a time, holding every batch queued when it
//     starts, as one record appended with one pwrite on a file opened O_DSYNC (durable when it
//     returns; the record is all or nothing after a crash, by its CRC-32C);
//   - (values of keys `files` maps, a chunk's blocks, go to their file slots instead, lmdb
//     getting a pointer: storage-files.ts; the checkpoint below fsyncs those files too)
//   - then, and only then, the record's batches go to lmdb, which commits them in the
//     background (its own fsyncs, off the acknowledgment's path), and they leave the overlay;
//     not at once but gathered for up to `applyMs` (or `applyBytes`), so that a run of small
//     writes costs lmdb one transaction, not one each (and the block a run of 4 KiB writes
//     keeps rewriting is written to lmdb once);
//     so lmdb never holds a batch the journal does not, its state after a crash is the state
//     after some prefix of the journal, and replaying the journal over it (puts and dels are
//     absolute) gives exactly the journal's state;
//   - checkpoint: once the journal passes `journalBytes`, the next write first waits until
//     lmdb committed everything journaled, with the next generation number in the same commit,
//     then writes from offset 0 in that generation. A record counts only if it carries the
//     generation lmdb names and the next sequence number, so what is left of older records
//     beyond the end is never replayed;
//   - open replays the current generation's records up to the first torn or damaged one, and
//     writing goes on after the last good one.

import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, write, writev } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { RuntimeError } from './errors.js';
import { CorruptStorageError } from './sealed.js';
import { MIN_FREE_BYTES, formatBytes, freeBytes } from './storage-faults.js';
import { SlotFiles, encodePointer, pointerLength } from './storage-files.js';
import { LmdbStorage, encodeKey } from './storage-lmdb.js';
import { FailingStorage, type FileSlots, type Storage, type StorageOp, type StorageRange } from './storage.js';
import { tracer } from './trace.js';
import { readJournal, recordParts, type Flat } from './storage-journal-record.js';

export { encodeRecord, readJournal, recordParts } from './storage-journal-record.js';

export interface JournaledStorageOptions {
  /** Refuse to open (CorruptStorageError) a journal whose replay stops at a damaged record that
   * good records follow: they were synced, and replaying only what comes before would forget
   * them (a node's Raft votes and entries: storage-node.ts). Default false: replay the prefix
   * (a chunk store's lost writes are found and re-replicated by its minister). */
  refuseDamaged?: boolean;
  /** The journal starts again at offset 0 once it holds this many bytes (default 32 MiB). */
  journalBytes?: number;
  /** Journaled batches go to lmdb after at most this many ms (default 20), or at once when they
   * hold `applyBytes` (default 8 MiB). */
  applyMs?: number;
  applyBytes?: number;
  /** Keys whose values live in files beside lmdb, not in it (storage-files.ts): a chunk's
   * blocks. Their journal records are the same. */
  files?: FileSlots;
}

const JOURNAL_FILE = 'journal.log';
/** Where the values of `files` keys live. */
const FILES_DIR = 'files';
/** The journal's generation: [u32][CRC-32 of it], rewritten (O_DSYNC) at each checkpoint. */
const GENERATION_FILE = 'generation';
const DEFAULT_JOURNAL_BYTES = 32 << 20;
const DEFAULT_APPLY_MS = 20;
const DEFAULT_APPLY_BYTES = 8 << 20;

/** A key's value as the overlay holds it until lmdb has it: undefined for a deletion. */
interface Unjournaled {
  seq: number;
  value: Uint8Array | undefined;
}


export class JournaledStorage extends FailingStorage implements Storage {
  private overlay = new Map<string, Unjournaled>();
  /** Batches not yet written to the journal, and the overlay sequence of the last one. */
  private queued: Flat[] = [];
  private batchSeq = 0;
  /** The journal write under way (settles when it is over, never rejects), what its waiters
   * were given, and the waiters of the next one. */
  private writing: Promise<void> | null = null;
  private current: Promise<void> | null = null;
  private next: Waiters | null = null;
  /** Batches journaled, not yet given to lmdb (up to overlay sequence `unappliedUpTo`). */
  private unapplied: Flat[] = [];
  private unappliedBytes = 0;
  private unappliedUpTo = 0;
  private applyTimer: ReturnType<typeof setTimeout> | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly applyMs: number;
  private readonly applyBytes: number;
  private closed = false;

  private constructor(
    private readonly lmdb: LmdbStorage,
    private readonly fd: number,
    readonly dir: string,
    private generation: number,
    private seq: number,
    private end: number,
    private readonly journalBytes: number,
    opts: JournaledStorageOptions,
    private readonly files: SlotFiles | undefined,
  ) {
    super();
    this.applyMs = opts.applyMs ?? DEFAULT_APPLY_MS;
    this.applyBytes = opts.applyBytes ?? DEFAULT_APPLY_BYTES;
  }

  /** Opens (creating if needed) the storage in directory `dir`, replaying its journal. */
  static open(dir: string, opts: JournaledStorageOptions = {}): JournaledStorage {
    mkdirSync(dir, { recursive: true });
    return JournaledStorage.over(LmdbStorage.open(dir), dir, opts);
  }

  /** The same over `lmdb` (a node's database in an environment others share: storage-node.ts),
   * with the journal in the folder `dir`; replays it. Closing this closes `lmdb`. */
  static over(lmdb: LmdbStorage, dir: string, opts: JournaledStorageOptions = {}): JournaledStorage {
    let generation: number;
    try {
      mkdirSync(dir, { recursive: true });
      generation = readGeneration(join(dir, GENERATION_FILE));
    } catch (e) {
      void lmdb.close();
      throw e;
    }
    const path = join(dir, JOURNAL_FILE);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, 0o644);
      // The journal's directory entry must outlive a power loss like its contents.
      fsyncDir(dir);
    } catch (e) {
      void lmdb.close();
      throw new RuntimeError('EIO', `cannot open the journal ${path}: ${(e as Error).message}`, { cause: e });
    }
    const { records, end, damaged } = readJournal(readFileSync(path), generation);
    if (damaged && opts.refuseDamaged) {
      closeSync(fd);
      void lmdb.close();
      throw new CorruptStorageError(`${path} is damaged: record ${records.length} (at byte ${end}) fails its checksum and synced records follow it; replaying only those before it would forget acknowledged writes. Restore this node's data folder from a backup, or remove the node and add it again so that it catches up from its peers`);
    }
    const files = opts.files && new SlotFiles(join(dir, FILES_DIR), opts.files);
    if (files) for (const key of lmdb.keys({})) files.noteLive(key);
    const s = new JournaledStorage(lmdb, fd, dir, generation, records.length, end, opts.journalBytes ?? DEFAULT_JOURNAL_BYTES, opts, files);
    // Over lmdb's state (a prefix of the journal's), the records give the journal's state.
    for (const batches of records) s.toLmdb(batches);
    // lmdb's background commits failing (a full disk) fail this storage too.
    lmdb.onFault((e) => s.fail(e));
    files?.removeStrays();
    return s;
  }

  /** A storage of its own beside this one, for an actor's bulk data (LmdbStorage.dedicated). */
  dedicated(name: string): Storage {
    this.check();
    return this.lmdb.dedicated(name);
  }

  /** Bytes of the journal's current generation, and its records (tests). */
  get journalEnd(): number {
    return this.end;
  }

  get journalRecords(): number {
    return this.seq;
  }

  get journalGeneration(): number {
    return this.generation;
  }

  get(key: string): Uint8Array | undefined {
    this.check();
    const o = this.overlay.get(key);
    if (o) return o.value && new Uint8Array(o.value);
    const v = this.lmdb.get(key);
    return v && this.resolve(key, v);
  }

  /** A value read from lmdb: a pointer is read from its file slot. */
  private resolve(key: string, v: Uint8Array): Uint8Array {
    const n = this.files && pointerLength(v);
    if (n === undefined) return v;
    const at = this.files!.slotOf(key, 0);
    return at ? this.files!.read(at.file, at.slot, n) : v;
  }

  peek(key: string): Uint8Array | undefined {
    this.check();
    const o = this.overlay.get(key);
    if (o) return o.value;
    // A pointer (a value kept in a file slot) is read from its file, into a buffer the files
    // reuse for peeks.
    const v = this.lmdb.peek(key);
    const n = v && this.files && pointerLength(v);
    if (n === undefined) return v;
    const at = this.files!.slotOf(key, 0);
    return at ? this.files!.peek(at.file, at.slot, n) : v;
  }

  prefetch(keys: string[]): Promise<void> {
    this.check();
    const fromLmdb = keys.filter((k) => !this.overlay.has(k));
    if (!this.files) return this.lmdb.prefetch(fromLmdb);
    // A value in a file slot is warmed from its file (lmdb holds only its pointer).
    const warming: Promise<void>[] = [];
    const rest: string[] = [];
    for (const key of fromLmdb) {
      const v = this.lmdb.peek(key);
      const n = v && pointerLength(v);
      const at = n ? this.files.slotOf(key, 0) : undefined;
      if (at && n) warming.push(this.files.warm(at.file, at.slot, n));
      else rest.push(key);
    }
    return Promise.all([this.lmdb.prefetch(rest), ...warming]).then(() => undefined);
  }

  range(range: StorageRange): Iterable<[string, Uint8Array]> {
    this.check();
    return { [Symbol.iterator]: () => this.merged(range) };
  }

  override batch(ops: StorageOp[]): void {
    this.check();
    for (const o of ops) if (o.op !== 'delRange') encodeKey(o.key); // a bad key changes nothing
    if (ops.length === 0) return;
    for (const o of ops) if (o.op === 'delRange') checkRange(o.start, o.end);
    if (tracer.on && tracer.current !== 0) tracer.record(tracer.current, 'write', this.dir, `${ops.length} ops`);
    const flat: Flat = [];
    const seq = ++this.batchSeq;
    const set = (key: string, value: Uint8Array | undefined, sealed?: boolean): void => {
      flat.push(sealed ? { key, value, sealed } : { key, value });
      this.overlay.set(key, { seq, value });
    };
    // In order, so that a delRange sees the batch's own puts before it.
    for (const o of ops) {
      if (o.op === 'put') set(o.key, o.owned ? o.value : new Uint8Array(o.value), o.sealed);
      else if (o.op === 'del') set(o.key, undefined);
      else for (const key of this.keysIn(o.start, o.end)) set(key, undefined);
    }
    this.queued.push(flat);
    // A write nobody syncs (a Raft commit index written on its own) is journaled soon anyway,
    // as lmdb committed every write in its turn before.
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        if (this.queued.length > 0 && !this.closed) this.sync().catch(() => {});
      }, this.applyMs);
      this.flushTimer.unref?.();
    }
  }

  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.queued.length === 0) return this.current ?? Promise.resolve();
    const next = (this.next ??= waiters());
    if (!this.writing) this.startWrite();
    return next.promise;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Until nothing is left: a write may come while closing (an actor's last state).
    do {
      await this.sync().catch(() => {});
      this.apply();
      await this.lmdb.sync().catch(() => {});
    } while ((this.queued.length > 0 || this.unapplied.length > 0) && !this.failure);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.closed = true;
    closeSync(this.fd);
    this.files?.close();
    await this.lmdb.close();
  }

  /** One journal write: everything queued now, as one record; then the next, if any waits. */
  private startWrite(): void {
    const waiting = this.next!;
    this.next = null;
    this.current = waiting.promise;
    const batches = this.queued;
    this.queued = [];
    const upTo = this.batchSeq;
    this.writing = this.writeRecord(batches).then(
      () => {
        this.unapplied.push(...batches);
        this.unappliedUpTo = upTo;
        for (const b of batches) for (const { key, value } of b) this.unappliedBytes += key.length + (value?.length ?? 0);
        if (this.unappliedBytes >= this.applyBytes) this.apply();
        else if (!this.applyTimer) {
          this.applyTimer = setTimeout(() => this.apply(), this.applyMs);
          this.applyTimer.unref?.();
        }
        waiting.resolve();
      },
      (e: unknown) => {
        this.fail(journalFailure(this.dir, e));
        waiting.reject(this.failure);
        this.next?.reject(this.failure);
        this.next = null;
      },
    );
    void this.writing.finally(() => {
      this.writing = null;
      this.current = null;
      if (this.next && !this.failure) this.startWrite();
    });
  }

  private async writeRecord(batches: Flat[]): Promise<void> {
    if (this.end >= this.journalBytes) await this.checkpoint();
    // The record's parts, written with one pwritev: its large values are not copied into it.
    const { parts, size } = recordParts(this.generation, this.seq, batches);
    await pwritevAll(this.fd, parts, size, this.end);
    this.seq++;
    this.end += size;
  }

  /** Journaled batches to lmdb (in one transaction), out of the overlay. */
  private apply(): void {
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.applyTimer = null;
    if (this.unapplied.length === 0 || this.failure) return;
    const batches = this.unapplied;
    this.unapplied = [];
    this.unappliedBytes = 0;
    try {
      this.toLmdb(batches);
    } catch (e) {
      // (lmdb failed: LmdbStorage keeps the fault; reads and writes here report it.)
      this.fail(new RuntimeError('EIO', `lmdb write failed in ${this.dir}; storage is unusable: ${(e as Error).message}`, { cause: e }));
      return;
    }
    this.dropOverlay(this.unappliedUpTo);
  }

  /** lmdb commits everything journaled and the next generation; the journal starts over. */
  private async checkpoint(): Promise<void> {
    this.apply();
    await this.files?.syncAll();
    await this.lmdb.sync();
    const next = (this.generation + 1) >>> 0;
    const g = Buffer.alloc(8);
    g.writeUInt32LE(next, 0);
    g.writeUInt32LE(crc32(g.subarray(0, 4)), 4);
    // (8 bytes in one sector: written whole or not at all.)
    const fd = openSync(join(this.dir, GENERATION_FILE), constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC, 0o644);
    try {
      await pwriteAll(fd, g, 0);
    } finally {
      closeSync(fd);
    }
    this.generation = next;
    this.seq = 0;
    this.end = 0;
  }

  private toLmdb(batches: Flat[]): void {
    const ops: StorageOp[] = [];
    const files = this.files;
    for (const b of batches) {
      for (const { key, value } of b) {
        const at = files?.slotOf(key, value?.length ?? 0);
        if (value === undefined) ops.push({ op: 'del', key });
        else if (at) ops.push({ op: 'put', key, value: encodePointer(value.length), owned: true });
        else ops.push({ op: 'put', key, value, owned: true });
        // In order: a slot freed and written again in the same call ends up written.
        if (!files) continue;
        if (at && value !== undefined) files.write(at.file, at.slot, value);
        else if (!at || value === undefined) {
          const was = files.slotOf(key, 0);
          if (was) files.free(was.file, was.slot);
        }
      }
    }
    if (ops.length > 0) this.lmdb.batch(ops);
  }

  /** Batches up to `upTo` are in lmdb (which shows them to reads at once): out of the overlay.
   * (A new Map of what is left, as LmdbStorage does: see its `committed`.) */
  private dropOverlay(upTo: number): void {
    const rest = new Map<string, Unjournaled>();
    for (const [k, o] of this.overlay) if (o.seq > upTo) rest.set(k, o);
    this.overlay = rest;
  }

  /** The keys a delRange [start, end) deletes now ('' start: from the first), read without
   * their values (a chunk's blocks are 64 KiB each). */
  private keysIn(start: string, end: string): string[] {
    if (end === '' || (start !== '' && start >= end)) return [];
    const keys = new Set(this.lmdb.keys({ start, end }));
    for (const [k, o] of this.overlay) {
      if (k < start || k >= end) continue;
      if (o.value === undefined) keys.delete(k);
      else keys.add(k);
    }
    return [...keys];
  }

  /** lmdb's entries in range merged with the overlay (which wins), in order. */
  private *merged(range: StorageRange): Generator<[string, Uint8Array]> {
    const reverse = range.reverse === true;
    const inRange = (k: string): boolean => (range.start === undefined || k >= range.start) && (range.end === undefined || k < range.end);
    const overlay = [...this.overlay].filter(([k]) => inRange(k));
    overlay.sort(([a], [b]) => (a < b ? -1 : 1) * (reverse ? -1 : 1));
    const shadowed = new Set(overlay.map(([k]) => k));
    const it = this.lmdb.range({ start: range.start, end: range.end, reverse })[Symbol.iterator]();
    let left = range.limit ?? Infinity;
    let c = it.next();
    let o = 0;
    const before = (a: string, b: string): boolean => (a < b) !== reverse;
    while (left > 0) {
      while (!c.done && shadowed.has(c.value[0])) c = it.next();
      const p = overlay[o];
      if (c.done && p === undefined) return;
      if (p !== undefined && (c.done || before(p[0], c.value[0]))) {
        o++;
        if (p[1].value === undefined) continue;
        left--;
        yield [p[0], new Uint8Array(p[1].value)];
      } else if (!c.done) {
        left--;
        yield [c.value[0], this.resolve(c.value[0], c.value[1])];
        c = it.next();
      }
    }
  }

  private check(): void {
    if (this.closed) throw new RuntimeError('EBADF', `journaled storage in ${this.dir} is closed`);
    if (this.failure) throw this.failure;
  }
}

/** Makes the entries of folder `dir` (a file or folder just made in it) outlive a power loss. */
export function fsyncDir(dir: string): void {
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

/** The generation a journal's records must carry: 0 before the first checkpoint. */
function readGeneration(path: string): number {
  let g: Buffer;
  try {
    g = readFileSync(path);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return 0;
    throw new RuntimeError('EIO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (g.length !== 8 || crc32(g.subarray(0, 4)) !== g.readUInt32LE(4)) throw new CorruptStorageError(`${path} is damaged (${g.length} bytes, failing its checksum): the journal beside it cannot be replayed`);
  return g.readUInt32LE(0);
}

/** A failed journal write as a typed error: ENOSPC, saying the disk is full, as LmdbStorage
 * says it of a failed commit (what a node prints and clients get), else EIO. */
function journalFailure(dir: string, e: unknown): RuntimeError {
  const free = freeBytes(dir);
  if ((e as { code?: unknown }).code === 'ENOSPC' || (free !== undefined && free < MIN_FREE_BYTES)) {
    const left = free === undefined ? '' : ` (${formatBytes(free)} left)`;
    return new RuntimeError('ENOSPC', `disk full: cannot write to ${dir}: no space left on its file system${left}`, { cause: e });
  }
  return new RuntimeError('EIO', `journal write failed in ${dir}; storage is unusable: ${(e as Error).message}`, { cause: e });
}

/** A delRange's bounds are keys (empty: from the first). */
function checkRange(start: string, end: string): void {
  if (start !== '') encodeKey(start);
  if (end !== '') encodeKey(end);
}

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // nobody may wait; the fault is kept and reported later
  return { promise, resolve, reject };
}

/** pwritev all of `parts` (`size` bytes in all) at `at`; what a short write left goes with
 * pwriteAll (libuv already loops over short writes, so that is only a guard). */
function pwritevAll(fd: number, parts: Uint8Array[], size: number, at: number): Promise<void> {
  return new Promise((resolve, reject) => {
    writev(fd, parts, at, (e, n) => {
      if (e) return reject(e);
      if (n >= size) return resolve();
      const rest = Buffer.concat(parts).subarray(n);
      pwriteAll(fd, rest, at + n).then(resolve, reject);
    });
  });
}

/** pwrite all of `buf` at `at` (a regular file may still take it in parts). */
function pwriteAll(fd: number, buf: Uint8Array, at: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= buf.length) return resolve();
      write(fd, buf, done, buf.length - done, at + done, (e, n) => (e ? reject(e) : n === 0 ? reject(new Error('short write')) : step(done + n)));
    };
    step(0);
  });
}
