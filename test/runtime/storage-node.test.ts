// A node's own storage (storage-node.ts: its lmdb database in the environment the nodes of a
// local cluster share, made durable by a journal of its own) keeps every synced Raft entry
// across an unclean stop: a child process writing two nodes' logs as a RaftShell does is
// SIGKILLed mid-stream, and the logs read back (loadRaftState, as a restarting node does)
// hold every entry it acknowledged, whole and in order, through checkpoints and compactions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRaftState } from '../../src/raft/shell-storage.js';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';
import { nodeJournalDir, openNodeStorage } from '../../src/runtime/storage-node.js';
import { prefixed } from '../../src/runtime/storage.js';
import { crashAfter } from './fixtures/crash-after.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'govfs-node-storage-'));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  await LmdbStorage.closeShared();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const child = fileURLToPath(new URL('./fixtures/storage-node-child.ts', import.meta.url));


describe('node storage after an unclean stop', () => {
  it('has every synced Raft entry of every node sharing the environment', async () => {
    const dir = tempDir();
    // A 24 KiB journal: a record is ~1 KiB, so it starts over many times on the way.
    const acked = await crashAfter(child, dir, 130, ['24576']);
    for (const n of ['n1', 'n2']) {
      // lmdb alone lags behind (the child gave it writes only at checkpoints)...
      const lmdb = LmdbStorage.openShared(path.join(dir, 'nodes'), n);
      const stale = loadRaftState(prefixed(lmdb, 'g/m0/'), (k) => `${n} ${k}`);
      expect(stale.entries.at(-1)?.index ?? 0, `${n} in lmdb`).toBeLessThan(acked);
      await lmdb.close();
      await LmdbStorage.closeShared();
      // ...and the journal, replayed, brings back the rest.
      const s = openNodeStorage(path.join(dir, 'nodes'), n);
      try {
        expect(s.journalGeneration, `${n} checkpointed`).toBeGreaterThanOrEqual(2);
        const raft = loadRaftState(prefixed(s, 'g/m0/'), (k) => `${n} ${k}`);
        const first = (raft.snapshot?.index ?? 0) + 1;
        const indexes = raft.entries.map((e) => e.index);
        // Every acknowledged entry after the snapshot, each once and in order (maybe more:
        // a write may be durable before its acknowledgment was printed).
        expect(indexes[0], n).toBe(first);
        expect(indexes, n).toEqual(Array.from({ length: indexes.length }, (_, i) => first + i));
        expect(indexes.at(-1)!, n).toBeGreaterThanOrEqual(acked);
        for (const e of raft.entries) expect(new TextDecoder().decode(e.data)).toBe(`entry ${e.index} `.repeat(30));
        expect(raft.hardState!.commit, n).toBeGreaterThanOrEqual(acked - 1);
        expect(raft.snapshot!.index, n).toBeGreaterThanOrEqual(Math.floor(acked / 40) * 40 - 10);
      } finally {
        await s.close();
      }
    }
    expect(fs.existsSync(path.join(nodeJournalDir(path.join(dir, 'nodes'), 'n1'), 'journal.log'))).toBe(true);
  });

  it('takes a namespace-sized snapshot larger than the journal, through a checkpoint, and replays it', async () => {
    const dir = path.join(tempDir(), 'nodes');
    fs.mkdirSync(dir);
    // lmdb only at checkpoints; a 1 MiB journal and a 6 MB snapshot (55k files: bench snapshot).
    const opts = { journalBytes: 1 << 20, applyMs: 60_000 };
    const s = openNodeStorage(dir, 'n1', opts);
    const snap = new Uint8Array(6_000_000).map((_, i) => (i * 31) & 0xff);
    for (let i = 0; i < 5; i++) {
      s.put(`e/${i}`, new Uint8Array(200_000).fill(i));
      await s.sync();
    }
    s.batch([{ op: 'put', key: 'snap', value: snap }, { op: 'delRange', start: 'e/', end: 'e/3' }]);
    await s.sync();
    const generation = s.journalGeneration;
    expect(s.journalEnd).toBeGreaterThan(opts.journalBytes); // one record may overrun it
    s.put('e/5', new Uint8Array([5]));
    await s.sync();
    expect(s.journalGeneration).toBe(generation + 1); // the next write started over first
    // Dropped without close, as by a crash; reopened.
    const r = openNodeStorage(dir, 'n1', opts);
    try {
      expect(Buffer.from(r.get('snap')!).equals(Buffer.from(snap))).toBe(true);
      expect([...r.range({ start: 'e/', end: 'e0' })].map(([k]) => k)).toEqual(['e/3', 'e/4', 'e/5']);
    } finally {
      await r.close();
    }
  });
});
