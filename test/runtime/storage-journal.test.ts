// JournaledStorage (a chunk store's own storage: lmdb made durable by a journal) against the
// Storage contract, and its crash recovery for real: a child process SIGKILLed mid-stream.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32c } from '../../src/runtime/crc32c.js';
import { RuntimeError } from '../../src/runtime/errors.js';
import { JournaledStorage, encodeRecord, readJournal, recordParts } from '../../src/runtime/storage-journal.js';
import { SlotFiles } from '../../src/runtime/storage-files.js';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';
import { openNodeStorage } from '../../src/runtime/storage-node.js';
import { CorruptStorageError } from '../../src/runtime/sealed.js';
import { bytes, entries, storageContract, text } from './fixtures/storage-contract.js';
import { testFiles } from './fixtures/journal-files.js';
import { crashAfter } from './fixtures/crash-after.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'govfs-journal-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

storageContract('JournaledStorage', async () => {
  // A small journal, so that the contract's writes run through checkpoints too.
  const s = JournaledStorage.open(tempDir(), { journalBytes: 4096, applyMs: 1 });
  return {
    storage: s,
    flushCount: () => s.journalRecords + s.journalGeneration * 1_000_000,
    turn: () => new Promise<void>((r) => setTimeout(r, 2)),
    dispose: () => s.close(),
  };
});

storageContract('JournaledStorage, values in files beside lmdb', async () => {
  // Slots of 64 bytes: short values in files, longer ones in lmdb, through checkpoints.
  const s = JournaledStorage.open(tempDir(), { journalBytes: 4096, applyMs: 1, files: testFiles(64) });
  return {
    storage: s,
    flushCount: () => s.journalRecords + s.journalGeneration * 1_000_000,
    turn: () => new Promise<void>((r) => setTimeout(r, 2)),
    dispose: () => s.close(),
  };
});

const child = fileURLToPath(new URL('./fixtures/storage-journal-child.ts', import.meta.url));


/** Every acknowledged batch is there whole, the batches present are a prefix, and no deleted
 * key came back. */
function checkRecovered(dir: string, acked: number, files = false): JournaledStorage {
  const s = JournaledStorage.open(dir, files ? { files: testFiles(400) } : {});
  const batches = new Map<number, number>();
  for (const [k, v] of s.range({ start: 'batch/', end: 'batch0' })) {
    const [, n, i] = k.split('/');
    expect(text(v)).toBe(`${Number(n)}.${i}`.repeat(50));
    batches.set(Number(n), (batches.get(Number(n)) ?? 0) + 1);
  }
  for (const [n, count] of batches) expect(count, `batch ${n}`).toBe(10);
  const present = [...batches.keys()];
  expect(present).toEqual(Array.from({ length: present.length }, (_, i) => i));
  expect(present.length).toBeGreaterThan(acked);
  expect(entries(s.range({ start: 'gone/', end: 'gone0' })).map(([k]) => k)).toEqual([`gone/${String(present.length - 1).padStart(6, '0')}`]);
  return s;
}

describe('JournaledStorage recovery', () => {
  it('keeps every synced batch whole after SIGKILL while lmdb lags behind the journal (replayed from it)', async () => {
    const dir = tempDir();
    // lmdb gets nothing for 60 s: everything acknowledged lives only in the journal.
    const acked = await crashAfter(child, dir, 25, ['60000']);
    const lmdb = LmdbStorage.open(dir);
    expect([...lmdb.range({ start: 'd/batch/', end: 'd/batch0' })].length).toBeLessThan(10 * (acked + 1));
    await lmdb.close();
    const s = checkRecovered(dir, acked);
    expect(s.journalRecords).toBeGreaterThan(acked);
    // Written on after recovery, then reopened: still whole.
    s.put('after', bytes('1'));
    await s.sync();
    await s.close();
    const again = checkRecovered(dir, acked);
    expect(text(again.get('after'))).toBe('1');
    await again.close();
  });

  it('replays only the current generation after the journal started over (older records beyond its end are not applied)', async () => {
    const dir = tempDir();
    // A 16 KiB journal: a record is ~6.5 KiB, so it starts over every few batches.
    const acked = await crashAfter(child, dir, 30, ['5', '16384']);
    const s = checkRecovered(dir, acked);
    expect(s.journalGeneration).toBeGreaterThanOrEqual(2); // it started over at least twice
    await s.close();
  });

  it('keeps every synced batch whole after SIGKILL with the values in files beside lmdb, through checkpoints', async () => {
    const dir = tempDir();
    const acked = await crashAfter(child, dir, 30, ['5', '16384', 'files']);
    const s = checkRecovered(dir, acked, true);
    expect(s.journalGeneration).toBeGreaterThanOrEqual(2);
    expect(fs.readdirSync(path.join(dir, 'files')).length).toBeGreaterThan(0);
    await s.close();
  });

  it('stops at a damaged record: the records before it are applied, it and what follows are not', async () => {
    const dir = tempDir();
    const s = JournaledStorage.open(dir, { applyMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      s.put(`k${i}`, bytes(`v${i}`));
      await s.sync();
    }
    const ends: number[] = [];
    // (The storage is dropped without close, as by a crash: lmdb has none of it.)
    ends.push(s.journalEnd);
    const file = path.join(dir, 'journal.log');
    const j = fs.readFileSync(file);
    const second = j.indexOf(Buffer.from('k1'));
    j[second + 3]! ^= 0xff; // in record 1's payload
    fs.writeFileSync(file, j);
    const r = JournaledStorage.open(path.join(dir));
    expect([text(r.get('k0')), r.get('k1'), r.get('k2')]).toEqual(['v0', undefined, undefined]);
    expect(r.journalRecords).toBe(1);
    expect(ends[0]).toBeGreaterThan(r.journalEnd);
    await r.close();
  });

  it('refuses (where asked: a node\'s storage) a damaged record that synced records follow, and still replays up to a damaged last one (a torn write)', async () => {
    const journal = async (damage: string): Promise<string> => {
      const dir = tempDir();
      const s = JournaledStorage.open(dir, { applyMs: 60_000 });
      for (let i = 0; i < 3; i++) {
        s.put(`k${i}`, bytes(`v${i}`));
        await s.sync();
      }
      const file = path.join(dir, 'journal.log');
      const j = fs.readFileSync(file);
      j[j.indexOf(Buffer.from(damage)) + 3]! ^= 0xff;
      fs.writeFileSync(file, j);
      return dir;
    };
    const middle = await journal('k1');
    expect(() => JournaledStorage.open(middle, { refuseDamaged: true })).toThrow(CorruptStorageError);
    expect(() => openNodeStorage(middle)).toThrow(/record 1 .* fails its checksum and synced records follow it/);
    const prefix = JournaledStorage.open(middle); // a chunk store's: the prefix, as before
    expect(prefix.journalRecords).toBe(1);
    await prefix.close();
    const last = await journal('k2');
    const r = openNodeStorage(last);
    expect([text(r.get('k0')), text(r.get('k1')), r.get('k2')]).toEqual(['v0', 'v1', undefined]);
    await r.close();
  });

  it('writes a record as parts without copying its large values, and reads them back whole; a flipped bit in a large value fails the record', () => {
    const big = new Uint8Array(70_000).map((_, i) => (i * 13) & 0xff);
    const batches = [
      [{ key: 'b/a/00000000', value: big }, { key: 'm/a', value: bytes('meta') }, { key: 'gone', value: undefined }],
      [{ key: 'b/a/00000001', value: big.subarray(5, 3000) }, { key: 'x', value: new Uint8Array(0) }],
    ];
    const { parts, size } = recordParts(7, 0, batches);
    expect(parts).toContain(big); // the value itself, not a copy
    const one = Buffer.concat(parts);
    expect(one.length).toBe(size);
    expect(Buffer.from(encodeRecord(7, 0, batches))).toEqual(one);
    const back = readJournal(one, 7);
    expect(back.end).toBe(size);
    expect(back.records).toEqual([batches.map((b) => b.map(({ key, value }) => ({ key, value: value && new Uint8Array(value) })))]);
    one[30_000]! ^= 1; // inside the large value
    expect(readJournal(one, 7).records).toEqual([]);
  });

  it('chains a sealed value\'s own CRC-32C into the record\'s without reading it, and replay still reads every byte of it', () => {
    const data = new Uint8Array(65_536).map((_, i) => (i * 31) >> 3);
    const block = new Uint8Array(4 + data.length);
    block.set(data, 4);
    new DataView(block.buffer).setUint32(0, crc32c(data), true);
    const batches = [[{ key: 'b/c/00000000', value: block, sealed: true }, { key: 'm/c', value: bytes('meta') }]];
    const one = Buffer.from(encodeRecord(3, 0, batches));
    // The same record as if every byte had been read: the combined CRC is the true one.
    expect(one.readUInt32LE(16)).toBe(crc32c(one.subarray(20), crc32c(one.subarray(4, 16))));
    expect(readJournal(one, 3).records).toHaveLength(1);
    one[one.indexOf(Buffer.from(data.subarray(0, 64))) + 40_000]! ^= 4; // a stale or torn sector of the value
    expect(readJournal(one, 3).records).toEqual([]);
    // A value wrongly said sealed (its front is not its CRC) makes a record replay refuses.
    const liar = Buffer.from(encodeRecord(3, 0, [[{ key: 'k', value: data, sealed: true }]]));
    expect(readJournal(liar, 3).records).toEqual([]);
  });

  it('still replays records written before, with a CRC-32 (GVJ1)', () => {
    const batches = [[{ key: 'a', value: bytes('x'.repeat(2000)) }, { key: 'b', value: undefined }]];
    const old = Buffer.from(encodeRecord(0, 0, batches));
    old.writeUInt32LE(0x314a5647, 0);
    old.writeUInt32LE(zlibCrc32(old.subarray(20), zlibCrc32(old.subarray(4, 16))), 16);
    expect(readJournal(old, 0).records).toEqual([batches]);
  });

  it('prefetches a value kept in a file slot by reading the slot off the thread (lmdb holds only its pointer), and one in lmdb through lmdb', async () => {
    const dir = tempDir();
    const small = new Uint8Array(40).fill(7);
    const big = new Uint8Array(100).fill(9);
    const first = JournaledStorage.open(dir, { applyMs: 1, files: testFiles(64) });
    first.batch([{ op: 'put', key: 'batch/1/3', value: small }, { op: 'put', key: 'big', value: big }]);
    await first.sync();
    await first.close();
    const s = JournaledStorage.open(dir, { applyMs: 1, files: testFiles(64) });
    const warm = vi.spyOn(SlotFiles.prototype, 'warm');
    try {
      await s.prefetch(['batch/1/3', 'big']);
      expect(warm.mock.calls).toEqual([['b1', 3, 40]]);
      expect(s.get('batch/1/3')).toEqual(small);
      expect(s.get('big')).toEqual(big);
    } finally {
      warm.mockRestore();
      await s.close();
    }
  });

  it('peeks a value kept in a file slot into a buffer it reuses, whole, and what its file lacks as zeros', async () => {
    const dir = tempDir();
    const first = JournaledStorage.open(dir, { applyMs: 1, files: testFiles(64) });
    first.batch([
      { op: 'put', key: 'batch/1/0', value: new Uint8Array(60).fill(7) },
      { op: 'put', key: 'batch/1/1', value: new Uint8Array(50).fill(9) },
    ]);
    await first.sync();
    await first.close();
    const s = JournaledStorage.open(dir, { applyMs: 1, files: testFiles(64) });
    // Slot 1 cut short in its file (damage; after the open, whose replay writes the slots):
    // the bytes missing read as zeros, not as the bytes an earlier peek left in the buffer.
    fs.truncateSync(path.join(dir, 'files', 'b1'), 64 + 20);
    try {
      expect(s.peek('batch/1/0')).toEqual(new Uint8Array(60).fill(7));
      const cut = s.peek('batch/1/1')!;
      expect(cut.length).toBe(50);
      expect([...cut.subarray(0, 20)]).toEqual(Array(20).fill(9));
      expect([...cut.subarray(20)]).toEqual(Array(30).fill(0));
      expect(s.get('batch/1/0')).toEqual(new Uint8Array(60).fill(7)); // get: its own copy
    } finally {
      await s.close();
    }
  });

  it('reports a journal it cannot open as EIO', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'journal.log'));
    expect(() => JournaledStorage.open(dir)).toThrow(RuntimeError);
  });
});
