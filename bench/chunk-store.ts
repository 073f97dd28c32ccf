// `npm run bench -- chunks [--json] [--quick] [--mib N] [--small N] [--block BYTES] [--dir DIR]`: where should a
// chunk store keep its chunks? The same ChunkStoreCore (src/data/core.ts: 64 KiB blocks or --block, each
// with its CRC-32C, the chunk's metadata beside them) over two backends, beside the raw disk
// doing the same I/O in the same run:
//   lmdb   the runtime's storage (LmdbStorage, fsync on commit), StorageChunkBackend
//   files  a prototype kept here only: per chunk a data file (blocks at their offsets) and a
//          meta file (metadata, then [length, CRC-32C] per block); a sync fdatasyncs both
//   disk   fs.writeSync/readSync on one file, fdatasync (no checksums, no metadata)
// Measured: 1 MiB sequential writes (each synced before the next, as an acknowledged write;
// and all synced once at the end), 1 MiB sequential reads (from the page cache for all three:
// the run cannot drop caches), and 4 KiB writes at random 4 KiB-aligned offsets, each synced.
// Chunks are 4 MiB (so the 1 MiB writes fill them four at a time). The files go under
// os.tmpdir() unless --dir says where; the file system is printed.

import { closeSync, fdatasyncSync, fstatSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStorage } from '../src/runtime/storage-lmdb.js';
import { BLOCK_HEADER_BYTES, StorageChunkBackend, encodeMeta, type ChunkBackend, type ChunkMeta, type ChunkOp } from '../src/data/backend.js';
import { ChunkStoreCore, DEFAULT_BLOCK_SIZE } from '../src/data/core.js';
import { crc32c } from '../src/data/crc32c.js';
import type { ChunkReply } from '../src/data/messages.js';

export const describe = 'chunk store: 1 MiB sequential writes/reads, 4 KiB synced writes; lmdb vs plain files vs the raw disk';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const FS_NAMES: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' };

export interface ChunkBenchRow {
  backend: 'disk' | 'lmdb' | 'files';
  /** 1 MiB writes, each synced before the next. */
  seqWriteSyncedMiBs: number;
  /** 1 MiB writes, one sync at the end. */
  seqWriteMiBs: number;
  seqReadMiBs: number;
  /** 4 KiB writes at random offsets, each synced. */
  smallSyncedPerSec: number;
  /** CPU time of this process (user + system, all threads: lmdb's writer too) per MiB, for
   * the synced 1 MiB writes and for the reads: less disturbed by a busy machine than wall time. */
  writeCpuMsPerMiB: number;
  readCpuMsPerMiB: number;
}

export interface ChunkBenchResult {
  dir: string;
  fsType: string;
  mib: number;
  smallWrites: number;
  blockSize: number;
  crc32cMiBs: number;
  rows: ChunkBenchRow[];
}

// ---- the files prototype ---------------------------------------------------------------------

const META_HEAD = 64; // encodeMeta's sealed 41 bytes, padded
const BLOCK_ENTRY = 8; // [u32 data length][u32 CRC-32C]; length 0: a hole

/** Chunks as plain files: `<id>.data` holds the blocks at their offsets, `<id>.meta` the
 * metadata and one [length, CRC-32C] entry per block. Bench-only (see the decision in
 * src/data/backend.ts); no crash atomicity between the two files, which a real one would need. */
class FilesChunkBackend implements ChunkBackend {
  private readonly fds = new Map<string, { data: number; meta: number }>();
  private readonly dirty = new Set<number>();
  private dirDirty = false;
  constructor(private readonly dir: string, private readonly blockSize: number) {}

  loadMetas(): ChunkMeta[] {
    return []; // the bench starts empty
  }

  private open(id: string): { data: number; meta: number } {
    let f = this.fds.get(id);
    if (!f) {
      f = { data: openSync(join(this.dir, `${id}.data`), 'a+'), meta: openSync(join(this.dir, `${id}.meta`), 'a+') };
      closeSync(f.data);
      closeSync(f.meta);
      f = { data: openSync(join(this.dir, `${id}.data`), 'r+'), meta: openSync(join(this.dir, `${id}.meta`), 'r+') };
      this.fds.set(id, f);
      this.dirDirty = true;
    }
    return f;
  }

  block(chunkId: string, index: number): Uint8Array | undefined {
    const f = this.open(chunkId);
    const entry = Buffer.alloc(BLOCK_ENTRY);
    if (readSync(f.meta, entry, 0, BLOCK_ENTRY, META_HEAD + index * BLOCK_ENTRY) < BLOCK_ENTRY) return undefined;
    const len = entry.readUInt32LE(0);
    if (len === 0) return undefined;
    const out = new Uint8Array(BLOCK_HEADER_BYTES + len);
    new DataView(out.buffer).setUint32(0, entry.readUInt32LE(4), true);
    readSync(f.data, out, BLOCK_HEADER_BYTES, len, index * this.blockSize);
    return out;
  }

  apply(ops: readonly ChunkOp[]): void {
    for (const o of ops) {
      if (o.op === 'block') {
        const f = this.open(o.chunkId);
        const len = o.stored.length - BLOCK_HEADER_BYTES;
        writeSync(f.data, o.stored, BLOCK_HEADER_BYTES, len, o.index * this.blockSize);
        const entry = Buffer.alloc(BLOCK_ENTRY);
        entry.writeUInt32LE(len, 0);
        entry.set(o.stored.subarray(0, 4), 4);
        writeSync(f.meta, entry, 0, BLOCK_ENTRY, META_HEAD + o.index * BLOCK_ENTRY);
        this.dirty.add(f.data).add(f.meta);
      } else if (o.op === 'meta') {
        const f = this.open(o.meta.chunkId);
        writeSync(f.meta, encodeMeta(o.meta), 0, undefined, 0);
        this.dirty.add(f.meta);
      } else {
        const f = this.fds.get(o.chunkId);
        if (f) {
          closeSync(f.data);
          closeSync(f.meta);
          this.fds.delete(o.chunkId);
        }
        for (const ext of ['data', 'meta']) rmSync(join(this.dir, `${o.chunkId}.${ext}`), { force: true });
        this.dirDirty = true;
      }
    }
  }

  sync(): Promise<void> {
    for (const fd of this.dirty) fdatasyncSync(fd);
    this.dirty.clear();
    if (this.dirDirty) {
      const d = openSync(this.dir, 'r');
      fsyncSync(d);
      closeSync(d);
      this.dirDirty = false;
    }
    return Promise.resolve();
  }

  close(): void {
    for (const f of this.fds.values()) {
      closeSync(f.data);
      closeSync(f.meta);
    }
    this.fds.clear();
  }
}

// ---- measurements ----------------------------------------------------------------------------

/** Deterministic pseudo-random bytes (mulberry32), so no run writes all zeros. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let t = seed >>> 0;
  for (let i = 0; i < n; i += 4) {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), t | 1);
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
    const v = (r ^ (r >>> 14)) >>> 0;
    out[i] = v;
    out[i + 1] = v >>> 8;
    out[i + 2] = v >>> 16;
    out[i + 3] = v >>> 24;
  }
  return out;
}

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;
const cpuMs = (c0: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(c0);
  return (u.user + u.system) / 1000;
};

/** 4 KiB-aligned random offsets inside the first `mib` MiB (deterministic). */
function smallOffsets(count: number, mib: number): number[] {
  const r = bytes(count * 4, 99);
  const view = new DataView(r.buffer);
  const slots = (mib * MiB) / 4096;
  return Array.from({ length: count }, (_, i) => (view.getUint32(i * 4, true) % slots) * 4096);
}

function benchDisk(dir: string, mib: number, small: number): ChunkBenchRow {
  const path = join(dir, 'raw.bin');
  const buf = bytes(MiB, 1);
  const fd = openSync(path, 'w+');
  let t0 = process.hrtime.bigint();
  let c0 = process.cpuUsage();
  for (let i = 0; i < mib; i++) {
    writeSync(fd, buf, 0, MiB, i * MiB);
    fdatasyncSync(fd);
  }
  const seqWriteSyncedMiBs = mib / seconds(t0);
  const writeCpuMsPerMiB = cpuMs(c0) / mib;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < mib; i++) writeSync(fd, buf, 0, MiB, i * MiB);
  fdatasyncSync(fd);
  const seqWriteMiBs = mib / seconds(t0);
  const rd = Buffer.alloc(MiB);
  t0 = process.hrtime.bigint();
  c0 = process.cpuUsage();
  for (let i = 0; i < mib; i++) readSync(fd, rd, 0, MiB, i * MiB);
  const seqReadMiBs = mib / seconds(t0);
  const readCpuMsPerMiB = cpuMs(c0) / mib;
  const page = bytes(4096, 2);
  const offsets = smallOffsets(small, Math.min(mib, 64));
  t0 = process.hrtime.bigint();
  for (const at of offsets) {
    writeSync(fd, page, 0, 4096, at);
    fdatasyncSync(fd);
  }
  const smallSyncedPerSec = small / seconds(t0);
  if (fstatSync(fd).size !== mib * MiB) throw new Error('raw file has the wrong size');
  closeSync(fd);
  unlinkSync(path);
  return { backend: 'disk', seqWriteSyncedMiBs, seqWriteMiBs, seqReadMiBs, smallSyncedPerSec, writeCpuMsPerMiB, readCpuMsPerMiB };
}

function must(reply: ChunkReply, type: ChunkReply['type']): ChunkReply {
  if (reply.type !== type) throw new Error(`chunk store answered ${JSON.stringify(reply).slice(0, 300)}`);
  return reply;
}

async function benchStore(backend: ChunkBackend, name: 'lmdb' | 'files', mib: number, small: number, blockSize: number): Promise<ChunkBenchRow> {
  const core = new ChunkStoreCore(backend, [], { maxChunkBytes: CHUNK, blockSize });
  const buf = bytes(MiB, 1);
  let token = 1;
  const write = (i: number, data: Uint8Array, offsetIn?: number): void => {
    const at = offsetIn ?? i * MiB;
    const { ops, reply } = core.handle({ type: 'govfs.data.ChunkWrite', chunkId: `f.${Math.floor(at / CHUNK)}`, version: 1, token, offset: at % CHUNK, data }, 0);
    must(reply, 'govfs.data.ChunkWritten');
    backend.apply(ops);
  };
  let t0 = process.hrtime.bigint();
  let c0 = process.cpuUsage();
  for (let i = 0; i < mib; i++) {
    write(i, buf);
    await backend.sync();
  }
  const seqWriteSyncedMiBs = mib / seconds(t0);
  const writeCpuMsPerMiB = cpuMs(c0) / mib;
  token++;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < mib; i++) write(i, buf);
  await backend.sync();
  const seqWriteMiBs = mib / seconds(t0);
  t0 = process.hrtime.bigint();
  c0 = process.cpuUsage();
  for (let i = 0; i < mib; i++) {
    const at = i * MiB;
    const r = must(core.handle({ type: 'govfs.data.ChunkRead', chunkId: `f.${Math.floor(at / CHUNK)}`, version: 1, offset: at % CHUNK, length: MiB }, 0).reply, 'govfs.data.ChunkData');
    if (r.type === 'govfs.data.ChunkData' && r.data.length !== MiB) throw new Error(`short read at ${at}`);
  }
  const seqReadMiBs = mib / seconds(t0);
  const readCpuMsPerMiB = cpuMs(c0) / mib;
  const page = bytes(4096, 2);
  const offsets = smallOffsets(small, Math.min(mib, 64));
  t0 = process.hrtime.bigint();
  for (const at of offsets) {
    write(0, page, at);
    await backend.sync();
  }
  const smallSyncedPerSec = small / seconds(t0);
  return { backend: name, seqWriteSyncedMiBs, seqWriteMiBs, seqReadMiBs, smallSyncedPerSec, writeCpuMsPerMiB, readCpuMsPerMiB };
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<ChunkBenchResult> {
  const quick = opts.quick === true;
  const mib = Number(opts.mib ?? (quick ? 64 : 512));
  const small = Number(opts.small ?? (quick ? 300 : 2000));
  const blockSize = Number(opts.block ?? DEFAULT_BLOCK_SIZE);
  if (!Number.isInteger(blockSize) || blockSize < 512 || CHUNK % blockSize !== 0) throw new Error(`--block must divide ${CHUNK} and be at least 512, got ${String(opts.block)}`);
  const base = typeof opts.dir === 'string' ? opts.dir : tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'govfs-chunk-bench-'));
  const fsType = FS_NAMES[Number(statfsSync(dir).type)] ?? `0x${Number(statfsSync(dir).type).toString(16)}`;
  try {
    const sample = bytes(16 * MiB, 3);
    const t0 = process.hrtime.bigint();
    crc32c(sample);
    const crc32cMiBs = 16 / seconds(t0);
    const rows: ChunkBenchRow[] = [benchDisk(dir, mib, small)];
    mkdirSync(join(dir, 'lmdb'));
    const storage = LmdbStorage.open(join(dir, 'lmdb'));
    rows.push(await benchStore(new StorageChunkBackend(storage), 'lmdb', mib, small, blockSize));
    await storage.close();
    mkdirSync(join(dir, 'files'));
    const files = new FilesChunkBackend(join(dir, 'files'), blockSize);
    rows.push(await benchStore(files, 'files', mib, small, blockSize));
    files.close();
    return { dir: base, fsType, mib, smallWrites: small, blockSize, crc32cMiBs, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function format(r: ChunkBenchResult): string {
  const disk = r.rows.find((x) => x.backend === 'disk')!;
  const cell = (v: number, ref: number, unit: string): string => `${v.toFixed(0)} ${unit} (${(v / ref).toFixed(2)}x)`.padStart(22);
  const lines = [
    `chunk store backends on ${r.fsType} (${r.dir}): ${r.mib} MiB in 1 MiB writes, ${r.smallWrites} 4 KiB synced writes; ${r.blockSize / 1024} KiB blocks, CRC-32C`,
    `crc32c (this repo's slice-by-8): ${r.crc32cMiBs.toFixed(0)} MiB/s`,
    '',
    `${'backend'.padEnd(8)}${'1 MiB, sync each'.padStart(22)}${'1 MiB, sync at end'.padStart(22)}${'1 MiB reads (cached)'.padStart(22)}${'4 KiB synced'.padStart(22)}`,
  ];
  for (const x of r.rows) {
    lines.push(
      `${x.backend.padEnd(8)}${cell(x.seqWriteSyncedMiBs, disk.seqWriteSyncedMiBs, 'MiB/s')}${cell(x.seqWriteMiBs, disk.seqWriteMiBs, 'MiB/s')}${cell(x.seqReadMiBs, disk.seqReadMiBs, 'MiB/s')}${cell(x.smallSyncedPerSec, disk.smallSyncedPerSec, '/s')}`,
    );
  }
  lines.push('', `${'CPU ms per MiB'.padEnd(16)}${'synced writes'.padStart(14)}${'reads'.padStart(10)}`);
  for (const x of r.rows) lines.push(`${x.backend.padEnd(16)}${x.writeCpuMsPerMiB.toFixed(2).padStart(14)}${x.readCpuMsPerMiB.toFixed(2).padStart(10)}`);
  lines.push('', '(x): relative to the raw disk in the same run');
  return lines.join('\n');
}
