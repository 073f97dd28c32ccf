// Values kept in files beside a JournaledStorage's lmdb instead of in it (issue 17: a chunk's
// 64 KiB blocks). MEASURED (`npm run bench -- data`, perf): with every block in lmdb, lmdb's
// commits were the largest CPU cost of a sequential write, ~6 ms per MiB written (3 replicas):
// the value copied into its dirty pages, the pages written (overflow pages, its free list), on
// top of the journal that already holds every byte. Here a value goes to its slot with one pwrite
// (the kernel's copy into the page cache), and lmdb holds a 12-byte pointer.
//
// Crash safety comes from the journal, as for lmdb: a value reaches its slot only after the
// journal record holding it is durable, slots are written in place, and before the journal
// starts over (its checkpoint) every file written since the last one is fsynced. After a crash,
// replaying the journal writes again every slot it could have torn. A file whose slots were all
// deleted is unlinked (replay makes it again if a later record needs it).
//
// Layout: `<dir>/<file>`, slot i at byte i * slotBytes. A pointer in lmdb: [magic u32][value
// length u32][CRC-32C of those 8 bytes u32]; any other lmdb value of a mapped key is the value
// itself (written before the mapping, or longer than a slot).

import { closeSync, constants, mkdirSync, openSync, read, readSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './crc32c.js';
import type { FileSlots } from './storage.js';

const POINTER_MAGIC = 0x31465647; // 'GVF1'
const POINTER_BYTES = 12;
/** Open files kept (reads and writes of the same chunk come in runs). */
const OPEN_FILES = 32;
const FILE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

export function encodePointer(length: number): Uint8Array {
  const p = new Uint8Array(POINTER_BYTES);
  const v = new DataView(p.buffer);
  v.setUint32(0, POINTER_MAGIC, true);
  v.setUint32(4, length, true);
  v.setUint32(8, crc32c(p.subarray(0, 8)), true);
  return p;
}

/** The length a pointer names, or undefined when `v` is a value, not a pointer. */
export function pointerLength(v: Uint8Array): number | undefined {
  if (v.length !== POINTER_BYTES) return undefined;
  const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
  if (d.getUint32(0, true) !== POINTER_MAGIC || d.getUint32(8, true) !== crc32c(v.subarray(0, 8))) return undefined;
  return d.getUint32(4, true);
}

export class SlotFiles {
  /** Slots holding a value, by file (what decides when a file goes). */
  private readonly live = new Map<string, Set<number>>();
  /** Files written since the last checkpoint (fsynced by `syncAll`), and whether a file was
   * made or unlinked (the folder is fsynced too). */
  private readonly dirty = new Set<string>();
  private dirChanged = false;
  private readonly fds = new Map<string, number>();
  /** Where `warm` reads to (off the thread, so never the one `peek` returns). */
  private scratch = new Uint8Array(0);
  /** Where `peek` reads to. */
  private peeked = new Uint8Array(0);

  constructor(
    readonly dir: string,
    private readonly slots: FileSlots,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Where `key`'s value goes: undefined for lmdb (unmapped, a bad file name, too long). */
  slotOf(key: string, length: number): { file: string; slot: number } | undefined {
    if (length > this.slots.slotBytes) return undefined;
    const at = this.slots.slotOf(key);
    if (!at || !FILE_NAME.test(at.file) || at.file === '.' || at.file === '..' || !Number.isSafeInteger(at.slot) || at.slot < 0) return undefined;
    return at;
  }

  /** A slot of `key` holds a value (found in lmdb at open). */
  noteLive(key: string): void {
    const at = this.slotOf(key, 0);
    if (at) this.liveOf(at.file).add(at.slot);
  }

  /** Removes files no key points into (left by a crash between unlink and ...). */
  removeStrays(): void {
    for (const f of readdirSync(this.dir)) if (!this.live.has(f)) rmSync(join(this.dir, f), { force: true });
  }

  write(file: string, slot: number, value: Uint8Array): void {
    const fd = this.fd(file);
    for (let done = 0; done < value.length; ) {
      const n = writeSync(fd, value, done, value.length - done, slot * this.slots.slotBytes + done);
      if (n <= 0) throw new Error(`short write to ${join(this.dir, file)}`);
      done += n;
    }
    this.liveOf(file).add(slot);
    this.dirty.add(file);
  }

  /** `length` bytes of the slot; what the file lacks reads as zeros (the reader's checksum
   * then finds the damage). */
  read(file: string, slot: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const fd = this.fd(file);
    for (let done = 0; done < length; ) {
      const n = readSync(fd, out, done, length - done, slot * this.slots.slotBytes + done);
      if (n <= 0) break;
      done += n;
    }
    return out;
  }

  /** The same into a buffer this reuses (Storage.peek's contract: read-only, valid until the
   * next call), so that a chunk store's partial write or block read does not allocate (and the
   * collector sweep) 64 KiB each (issue 17: a 4 KiB synced write). */
  peek(file: string, slot: number, length: number): Uint8Array {
    if (this.peeked.length < length) this.peeked = new Uint8Array(length);
    const out = this.peeked.subarray(0, length);
    const fd = this.fd(file);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, slot * this.slots.slotBytes + done);
      if (n <= 0) break;
      done += n;
    }
    out.fill(0, done); // (what the file lacks reads as zeros, as in read)
    return out;
  }

  /** Reads the slot once off this thread (libuv's pool) and drops the bytes: the `read` that
   * follows finds them in the page cache instead of stopping this thread on the disk (a chunk
   * store's reads, issue 17). Never rejects: a failure here is met again by that read. */
  warm(file: string, slot: number, length: number): Promise<void> {
    let fd: number;
    try {
      fd = this.fd(file);
    } catch {
      return Promise.resolve();
    }
    if (this.scratch.length < length) this.scratch = new Uint8Array(length);
    // Concurrent warm-ups share the scratch: its contents are never looked at.
    return new Promise((resolve) => read(fd, this.scratch, 0, length, slot * this.slots.slotBytes, () => resolve()));
  }

  /** The slot of a deleted key is free; its file goes with its last slot. */
  free(file: string, slot: number): void {
    const live = this.live.get(file);
    if (!live) return;
    live.delete(slot);
    if (live.size > 0) return;
    this.live.delete(file);
    this.closeFd(file);
    rmSync(join(this.dir, file), { force: true });
    this.dirty.delete(file);
    this.dirChanged = true;
  }

  /** Everything written so far is durable (the journal's checkpoint). Off the thread (the
   * files may hold the journal's 32 MiB), each through an fd of its own: the cached ones may
   * close meanwhile. */
  async syncAll(): Promise<void> {
    const files = [...this.dirty];
    this.dirty.clear();
    const dir = this.dirChanged;
    this.dirChanged = false;
    await Promise.all(files.map((f) => syncPath(join(this.dir, f), 'r+')));
    if (dir) await syncPath(this.dir, 'r');
  }

  close(): void {
    for (const f of [...this.fds.keys()]) this.closeFd(f);
  }

  private liveOf(file: string): Set<number> {
    let s = this.live.get(file);
    if (!s) this.live.set(file, (s = new Set()));
    return s;
  }

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd !== undefined) {
      // (Most recently used last: the first is the one to close.)
      this.fds.delete(file);
      this.fds.set(file, fd);
      return fd;
    }
    if (this.fds.size >= OPEN_FILES) this.closeFd(this.fds.keys().next().value!);
    fd = openSync(join(this.dir, file), constants.O_RDWR | constants.O_CREAT, 0o644);
    this.fds.set(file, fd);
    this.dirChanged = true;
    return fd;
  }

  private closeFd(file: string): void {
    const fd = this.fds.get(file);
    if (fd === undefined) return;
    this.fds.delete(file);
    closeSync(fd);
  }
}

/** fsync `path` (a file unlinked meanwhile needs none). */
async function syncPath(path: string, flags: string): Promise<void> {
  let h;
  try {
    h = await open(path, flags);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return;
    throw e;
  }
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
