import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/runtime/errors.js';
import { LmdbStorage, localNodeStorage } from '../../src/runtime/storage-lmdb.js';
import { bytes, entries, storageContract, text } from './fixtures/storage-contract.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'govfs-lmdb-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

storageContract('LmdbStorage', async () => {
  const s = LmdbStorage.open(tempDir());
  return {
    storage: s,
    flushCount: () => s.flushCount,
    turn: () => new Promise<void>((r) => setImmediate(r)),
    dispose: () => s.close(),
  };
});

storageContract('LmdbStorage in a shared environment', async () => {
  const dir = tempDir();
  const s = LmdbStorage.openShared(dir, 'n1');
  // A neighbour in the same environment, writing in the same turns, must not show through.
  const other = LmdbStorage.openShared(dir, 'n2');
  other.put('a', bytes('neighbour'));
  await other.sync();
  return {
    storage: s,
    flushCount: () => s.flushCount,
    turn: () => new Promise<void>((r) => setImmediate(r)),
    dispose: async () => {
      await s.close();
      await other.close();
      await LmdbStorage.closeShared();
    },
  };
});

const child = fileURLToPath(new URL('./fixtures/storage-lmdb-child.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the child; `onLine` may return true to SIGKILL it. Resolves with its stdout lines. */
function runChild(mode: 'exit' | 'kill', dir: string, onLine: (line: string) => boolean = () => false, shared?: string) {
  return new Promise<{ lines: string[]; code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, mode, dir, ...(shared ? [shared] : [])], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (onLine(line)) p.kill('SIGKILL');
      }
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`child failed (${code}): ${err}`));
      else resolve({ lines, code, signal });
    });
  });
}

describe('LmdbStorage durability', () => {
  it('keeps everything across close and reopen in the same process', async () => {
    const dir = tempDir();
    const s = LmdbStorage.open(dir);
    s.put('a', bytes('1'));
    await s.sync();
    s.put('b', bytes('2')); // not synced: close still commits it
    s.delRange('a', 'a\0');
    await s.close();
    const r = LmdbStorage.open(dir);
    expect(entries(r.range({}))).toEqual([['b', '2']]);
    await r.close();
  });

  it('keeps synced writes when the process exits right after un-synced ones', async () => {
    const dir = tempDir();
    const { lines } = await runChild('exit', dir);
    expect(lines).toEqual(['synced']);
    const s = LmdbStorage.open(dir);
    const synced = [...s.range({ start: 'synced/', end: 'synced0' })];
    expect(synced).toHaveLength(100);
    expect(text(s.get('synced/000042'))).toBe('v42');
    // Un-synced puts may or may not have reached the disk, but only ever in issue order.
    const unsynced = [...s.range({ start: 'unsynced/', end: 'unsynced0' })].map(([k]) => k);
    expect(unsynced).toEqual(Array.from({ length: unsynced.length }, (_, i) => `unsynced/${String(i).padStart(6, '0')}`));
    await s.close();
  });

  it.each([['its own environment', undefined], ['a shared environment', 'n3']] as const)('keeps synced batches whole after SIGKILL mid-stream; no batch is torn (%s)', async (_, shared) => {
    const dir = tempDir();
    let lastSynced = -1;
    const { signal } = await runChild('kill', dir, (line) => {
      const m = /^synced (\d+)$/.exec(line);
      if (m) lastSynced = Number(m[1]);
      return lastSynced >= 200;
    }, shared);
    expect(signal).toBe('SIGKILL');
    expect(lastSynced).toBeGreaterThanOrEqual(200);
    const s = shared ? LmdbStorage.openShared(dir, shared) : LmdbStorage.open(dir);
    const batches = new Map<number, number>();
    for (const [k, v] of s.range({ start: 'batch/', end: 'batch0' })) {
      const n = Number(k.split('/')[1]);
      expect(text(v)).toBe(`${n}.${k.split('/')[2]}`);
      batches.set(n, (batches.get(n) ?? 0) + 1);
    }
    for (const [n, count] of batches) expect(count, `batch ${n}`).toBe(10); // all or nothing
    const present = [...batches.keys()];
    expect(present).toEqual(Array.from({ length: present.length }, (_, i) => i)); // a prefix
    expect(present.length).toBeGreaterThan(lastSynced); // every acknowledged batch survived
    await s.close();
    await LmdbStorage.closeShared();
  });

  it('reports lmdb failures as EIO', () => {
    const file = path.join(tempDir(), 'file');
    fs.writeFileSync(file, 'not a directory');
    let err: unknown;
    try {
      LmdbStorage.open(path.join(file, 'db'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as RuntimeError).code).toBe('EIO');
  });
});

describe('LmdbStorage: nodes sharing an environment', () => {
  afterEach(() => LmdbStorage.closeShared());

  it('commits what several storages write in one turn in one transaction, and keeps them apart', async () => {
    const dir = tempDir();
    const [a, b, c] = ['n1', 'n2', 'n3'].map((n) => LmdbStorage.openShared(dir, n)) as [LmdbStorage, LmdbStorage, LmdbStorage];
    a.put('k', bytes('a'));
    await a.sync();
    const before = a.flushCount;
    a.put('k', bytes('a2'));
    b.put('k', bytes('b'));
    c.batch([{ op: 'put', key: 'k', value: bytes('c') }, { op: 'put', key: 'l', value: bytes('c') }]);
    await Promise.all([a.sync(), b.sync(), c.sync()]);
    expect(a.flushCount - before).toBe(1);
    expect(b.flushCount).toBe(a.flushCount); // one environment, one commit count
    expect([text(a.get('k')), text(b.get('k')), text(c.get('k'))]).toEqual(['a2', 'b', 'c']);
    c.delRange('', '\uffff');
    await c.sync();
    expect(entries(c.range({}))).toEqual([]);
    expect(entries(b.range({}))).toEqual([['k', 'b']]);
    for (const s of [a, b, c]) await s.close();
  });

  it('reopens a closed storage with its data while its neighbours keep writing, and after the environment closed', async () => {
    const dir = tempDir();
    const a = LmdbStorage.openShared(dir, 'n1');
    const b = LmdbStorage.openShared(dir, 'n2');
    a.put('x', bytes('1'));
    b.put('y', bytes('2'));
    await a.close(); // a node stopped; its neighbour goes on
    b.put('z', bytes('3'));
    const a2 = LmdbStorage.openShared(dir, 'n1');
    expect(entries(a2.range({}))).toEqual([['x', '1']]);
    expect(() => a.get('x')).toThrow(RuntimeError);
    await a2.close();
    await b.close();
    await LmdbStorage.closeShared();
    const a3 = LmdbStorage.openShared(dir, 'n1');
    const b3 = LmdbStorage.openShared(dir, 'n2');
    expect(entries(a3.range({}))).toEqual([['x', '1']]);
    expect(entries(b3.range({}))).toEqual([['y', '2'], ['z', '3']]);
    await a3.close();
    await b3.close();
  });

  it('gives a node of a local cluster its database in the shared environment, or its own folder if one holds data', async () => {
    const dir = tempDir();
    expect(localNodeStorage(dir, 'n1')).toEqual({ storageDir: path.join(dir, 'nodes'), storageName: 'n1' });
    const legacy = LmdbStorage.open(path.join(dir, 'n2'));
    legacy.put('k', bytes('old'));
    await legacy.close();
    expect(localNodeStorage(dir, 'n2')).toEqual({ storageDir: path.join(dir, 'n2') });
  });
});
