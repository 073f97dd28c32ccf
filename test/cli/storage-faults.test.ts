// A node whose own storage is damaged refuses to start, with a message that names the file and
// says what to do (hardening issue, point 3): lmdb crashed the process (SIGSEGV, no message) on
// a zeroed meta page or random bytes in the middle of data.mdb, and a flipped byte in a stored
// value was read as data. The data folder here is written with LmdbStorage as a node writes its
// cluster log (sealed segments and hard state), then damaged in a copy for each case.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSegment, segmentKey } from '../../src/raft/log-store.js';
import { EntryKind, type Entry } from '../../src/raft/types.js';
import { seal } from '../../src/runtime/sealed.js';
import { checkStorage } from '../../src/storage-check/storage-check.js';
import { LmdbStorage } from '../../src/runtime/storage-lmdb.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { GovfsProcess, freePorts } from './helpers.js';

const SEGMENTS = 400;
const MARKER = 'entry-marker-';
let dir: string;
let pristine: string;
let secretFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-corrupt-'));
  pristine = join(dir, 'pristine');
  secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'a secret for the corrupt-storage tests\n');
  const st = LmdbStorage.open(pristine);
  const te = new TextEncoder();
  for (let i = 1; i <= SEGMENTS; i++) {
    const e: Entry = { index: i, term: 1, kind: EntryKind.Normal, data: te.encode(`${MARKER}${i}:${'x'.repeat(200)}`) };
    st.put(`c/${segmentKey(i)}`, encodeSegment([e]));
  }
  st.put('c/hs', seal(te.encode(JSON.stringify({ term: 1, vote: 'n1', commit: SEGMENTS, group: 'cluster' }))));
  await st.sync();
  await st.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the pristine folder with data.mdb changed by `damage`. */
function damaged(name: string, damage: (b: Buffer) => void): string {
  const d = join(dir, name);
  cpSync(pristine, d, { recursive: true });
  const file = join(d, 'data.mdb');
  const b = readFileSync(file);
  damage(b);
  writeFileSync(file, b);
  return d;
}

/** Start `govfs node` on `data`; it must exit by itself within the deadline. */
async function startNode(data: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const [port] = await freePorts(1);
  const p = new GovfsProcess(['node', '--id', 'n1', '--peers', `n1=127.0.0.1:${port}`, '--data', data, '--secret-file', secretFile]);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 40_000);
  const exit = await p.exit;
  clearTimeout(timer);
  return { ...exit, stdout: p.stdout, stderr: p.stderr };
}

function expectRefused(r: { code: number | null; signal: string | null; stdout: string; stderr: string }, data: string, detail: RegExp): void {
  expect(r.signal, `exited by itself, not by a signal; stderr: ${r.stderr}`).toBeNull();
  expect(r.code).toBe(1);
  expect(r.stdout).not.toMatch(/listening/);
  const file = join(data, 'data.mdb').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  expect(r.stderr).toMatch(new RegExp(`govfs: ${file} is corrupt \\(`));
  expect(r.stderr).toMatch(detail);
  expect(r.stderr).toMatch(/stop this node, move the folder aside, and start it with an empty folder: it rejoins the cluster and catches up from its ministry/);
}

describe('a node refuses to start on damaged storage (issue point 3)', () => {
  it('the intact folder passes the check, every record read', async () => {
    const r = await checkStorage(pristine);
    expect(r.records).toBe(SEGMENTS + 1);
  }, 30_000);

  it('its first 8 KiB zeroed (both lmdb meta pages): exit 1 naming the file, not a segfault', async () => {
    const d = damaged('zeroed', (b) => b.fill(0, 0, 8192));
    expectRefused(await startNode(d), d, /lmdb|crash|read/);
  }, 60_000);

  it('16 KiB of random bytes in the middle: exit 1 naming the file', async () => {
    const rnd = new SeededRandom(3);
    const d = damaged('random', (b) => {
      const at = Math.floor(b.length / 2 / 4096) * 4096;
      for (let i = 0; i < 16384; i++) b[at + i] = rnd.int(0, 255);
    });
    expectRefused(await startNode(d), d, /lmdb|crash|read|checksum|parse/);
  }, 60_000);

  it('flipped bytes inside stored values: the checksum finds them (exit 1 naming the file and the key)', async () => {
    const d = damaged('flipped', (b) => {
      for (const i of [17, 170, 333]) {
        const at = b.indexOf(`${MARKER}${i}:`);
        expect(at).toBeGreaterThan(0);
        b[at + 3]! ^= 0x01;
      }
    });
    expectRefused(await startNode(d), d, /raft log segment e\/0000000000000(017|170|333) fails its checksum/);
  }, 60_000);
});
