// The backup round trip: a cluster of two ministries holding a few hundred paths is backed up
// with `govfs backup` (while a client writes: the copy must be one point of its writes), restored into a new folder with `govfs restore`, started, and every path
// compared: kind and size the same, no path more or fewer; times are the restore's (README).
// A truncated backup is refused before anything is written.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../src/cluster-main.js';
import { type BackupDocument, type BackupSource, decodeBackup, takeBackup } from '../../src/ops/backup.js';
import { GovfsProcess, govfs } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'govfs-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MINISTRIES = [{ subtree: '/a', clerks: 1 }];

async function untilServing(c: LocalCluster, subtrees: string[]): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const st = await c.cluster.status().catch(() => null);
    if (st?.president && subtrees.every((s) => st.ministries.some((m) => m.subtree === s && !m.down))) return;
    if (Date.now() > deadline) throw new Error(`ministries ${subtrees.join(', ')} not serving within 90 s: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function source(c: LocalCluster): BackupSource {
  const client = c.cluster.client();
  return { ls: (p, o) => client.ls(p, o), stat: (p, o) => client.stat(p, o), seenIndex: (m) => client.seenIndex(m), status: () => c.cluster.status() };
}

/** Paths to make: directories (some nested) and files, in the root ministry and in /a. */
function treePaths(): { dirs: string[]; files: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  for (const top of ['', '/a']) {
    for (let d = 0; d < 8; d++) {
      const base = `${top}/d${d}`;
      dirs.push(base, `${base}/sub`);
      for (let f = 0; f < 8; f++) files.push(`${base}/f${f}`);
      for (let f = 0; f < 6; f++) files.push(`${base}/sub/g${f}`);
    }
  }
  return { dirs, files };
}

describe('govfs backup and restore', () => {
  it('restores every path and stat of two ministries into a new cluster', async () => {
    const original = await LocalCluster.start({ dataDir: join(dir, 'original'), ministries: MINISTRIES, threads: 2, listen: { host: '127.0.0.1', port: 0 } });
    const file = join(dir, 'cluster.backup');
    let doc: BackupDocument;
    let paths = 0;
    try {
      await untilServing(original, ['/', '/a']);
      const fs = original.cluster.client();
      const { dirs, files } = treePaths();
      for (const d of dirs.filter((p) => !p.endsWith('/sub'))) await fs.mkdir(d);
      await Promise.all(dirs.filter((p) => p.endsWith('/sub')).map((d) => fs.mkdir(d)));
      for (let i = 0; i < files.length; i += 32) await Promise.all(files.slice(i, i + 32).map((f) => fs.create(f)));
      await fs.mkdir('/a/p');
      await fs.mkdir('/a/q');

      // A client writes while the backup runs: /a/p/kI, then /a/q/kI, one after the other. A
      // copy of /a at one index holds kI in q only if it holds it in p, and a prefix of each.
      // It writes until 1.5 s into the copy of /a, so that the first copies see it change.
      const backup = new GovfsProcess(['backup', file, '--server', original.address]);
      let i = 0;
      let until = Infinity;
      while (Date.now() < until && backup.running) {
        await fs.create(`/a/p/k${i}`);
        await fs.create(`/a/q/k${i++}`);
        if (until === Infinity && /copied \/: /.test(backup.stderr)) until = Date.now() + 1_500;
      }
      const writtenDuringA = i;
      const exit = await backup.exit;
      const r = { code: exit.code, stdout: backup.stdout, stderr: backup.stderr };
      await fs.close();
      expect(r.stderr).toMatch(/copied \/a: \d+ paths/);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/in 2 ministries/);
      doc = decodeBackup(readFileSync(file), file);
      const count = doc.ministries.reduce((n, m) => n + m.entries.length, 0);
      const a = doc.ministries.find((m) => m.subtree === '/a')!.entries.map((e) => e.path);
      const written = (d: string): number[] => a.filter((x) => x.startsWith(`/a/${d}/k`)).map((x) => Number(x.slice(6))).sort((x, y) => x - y);
      const [p, q] = [written('p'), written('q')];
      expect(p).toEqual(p.map((_, i) => i));
      expect(q).toEqual(q.map((_, i) => i));
      expect(p.length - q.length, `p ${p.length}, q ${q.length}`).toBeOneOf([0, 1]);
      // The roots (/ and /a), 32 directories, 224 files, p and q and what the writer made by
      // then; /a is /a's, not the root's.
      expect(count).toBe(2 + dirs.length + files.length + 2 + p.length + q.length);
      paths = count;
      expect(p.length).toBe(writtenDuringA);
      expect(r.stderr).toMatch(/copying \/a again \(try 2\): \d+ paths? changed meanwhile/);
      expect(doc.ministries.find((m) => m.subtree === '/')!.entries.some((e) => e.path.startsWith('/a'))).toBe(false);
      for (const m of doc.ministries) expect(m.index).toBeGreaterThan(0);
    } finally {
      await original.stop();
    }

    // A truncated copy is refused, and leaves no folder behind.
    const truncated = join(dir, 'truncated.backup');
    writeFileSync(truncated, readFileSync(file).subarray(0, 2000));
    const bad = await govfs(['restore', truncated, '--data', join(dir, 'never')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/truncated\.backup is not a usable govfs backup: .*truncated/);
    expect(existsSync(join(dir, 'never'))).toBe(false);

    const restoredAt = Date.now();
    const data = join(dir, 'restored');
    const r = await govfs(['restore', file, '--data', data, '--threads', '2'], {}, 240_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`restored ${paths} paths into .* \\(6 nodes; ministries /:2 /a:1\\)`));

    // Started as `govfs cluster --data DIR` would (the shape is remembered there).
    const restored = await LocalCluster.start({ dataDir: data, threads: 2, listen: { host: '127.0.0.1', port: 0 } });
    try {
      expect(restored.shape.ministries).toEqual(MINISTRIES);
      await untilServing(restored, ['/', '/a']);
      const again = await takeBackup(source(restored));
      for (const m of doc.ministries) {
        const now = again.ministries.find((x) => x.subtree === m.subtree)!;
        const byPath = new Map(now.entries.map((e) => [e.path, e]));
        expect([...byPath.keys()].sort()).toEqual(m.entries.map((e) => e.path).sort());
        for (const e of m.entries) {
          const got = byPath.get(e.path)!;
          expect({ path: e.path, kind: got.kind, size: got.size }).toEqual({ path: e.path, kind: e.kind, size: e.size });
          // Times are the restore's, except the ministry roots', made when the cluster formed.
          if (e.path !== m.subtree) expect(got.mtime).toBeGreaterThanOrEqual(restoredAt);
        }
      }
    } finally {
      await restored.stop();
    }
  }, 400_000);
});
