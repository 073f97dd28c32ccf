import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';
import type { MinistryInspection } from '../../src/actors/ministry.js';
import type { GovClient } from '../../src/client/gov-client.js';
import { checkWholeNamespace, type NsOperation } from '../support/namespace-model.js';

// Renames across ministries (issue 16, point 5; src/actors/rename-core.ts): a two-phase commit
// through the two group logs with the president's decision in the cluster log. Each scenario
// crashes a participant at a chosen point of the protocol (a per-step check of the simulator
// watches the ministries' ledgers and the cluster state) and checks that the rename ends with
// the old name or the new one, never both or neither, the client's answer matching.

/** The role actor of each live node (minister or clerk) that serves `subtree`. */
function members(cluster: Cluster, subtree: string): { node: string; info: MinistryInspection }[] {
  const out: { node: string; info: MinistryInspection }[] = [];
  for (const node of cluster.nodeIds) {
    const host = cluster.sim!.host(node);
    if (!host.up) continue;
    const b = host.runtime.cells.get(`/${node}/role`)?.behaviour as { inspect?: () => MinistryInspection | null } | undefined;
    const info = b?.inspect?.();
    if (info && info.subtree === subtree) out.push({ node, info });
  }
  return out;
}

const minister = (cluster: Cluster, subtree: string): string | undefined => members(cluster, subtree).find((m) => m.info.leading)?.node;

function president(cluster: Cluster): string | undefined {
  return cluster.nodeIds.find((id) => cluster.sim!.host(id).up && cluster.sim!.host(id).runtime.cells.has(`/${id}/president`));
}

/** Any live node's copy of the cluster state: has it decided anything? */
function decided(cluster: Cluster): number {
  let n = 0;
  for (const id of cluster.nodeIds) {
    const host = cluster.sim!.host(id);
    if (!host.up) continue;
    const b = host.runtime.cells.get(`/${id}`)?.behaviour as { inspect?: () => { crossRenames: Map<string, unknown> } } | undefined;
    n = Math.max(n, b?.inspect?.().crossRenames.size ?? 0);
  }
  return n;
}

/** Crash the node `who()` names, once, at the first step at which `when()` holds. */
function crashWhen(cluster: Cluster, when: () => boolean, who: () => string | undefined): { crashed: string[] } {
  const state = { crashed: [] as string[] };
  cluster.sim!.checks.push(() => {
    if (state.crashed.length > 0 || !when()) return;
    const id = who();
    if (!id) return;
    state.crashed.push(id);
    void cluster.kill(id);
  });
  return state;
}

const openOut = (cluster: Cluster, subtree: string): boolean => members(cluster, subtree).some((m) => m.info.leading && m.info.renames.outs.size > 0);
const openIn = (cluster: Cluster, subtree: string): boolean => members(cluster, subtree).some((m) => m.info.leading && m.info.renames.ins.size > 0);

async function exists(fs: GovClient, path: string): Promise<boolean> {
  try {
    await fs.stat(path, { linearizable: true });
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return false;
    throw e;
  }
}

/** Every ledger of both ministries closes (no lock or reservation left behind). */
async function settled(cluster: Cluster): Promise<boolean> {
  return cluster.waitFor(() => ['/', '/a'].every((s) => members(cluster, s).every((m) => m.info.renames.empty)), 20_000);
}

async function start(seed: number): Promise<{ cluster: Cluster; fs: GovClient }> {
  const cluster = await Cluster.start({ nodes: 9, scheduler: 'sim', seed, ministries: [{ subtree: '/a', clerks: 2 }] });
  const fs = cluster.client();
  await fs.mkdir('/a/dir');
  await fs.create('/a/dir/f1');
  await fs.mkdir('/a/dir/sub');
  await fs.create('/a/dir/sub/f2');
  await fs.create('/a/file');
  await fs.mkdir('/t');
  return { cluster, fs };
}

describe('renames across ministries (simulator)', () => {
  it('moves a file and a directory with its whole subtree, both ways, and refuses what rename refuses', async () => {
    const { cluster, fs } = await start(101);
    try {
      await fs.rename('/a/file', '/t/file');
      await fs.rename('/a/dir', '/t/dir');
      expect((await fs.ls('/t', { linearizable: true })).map((e) => e.name)).toEqual(['dir', 'file']);
      expect((await fs.ls('/t/dir/sub')).map((e) => e.name)).toEqual(['f2']);
      expect((await fs.stat('/t/dir/f1')).kind).toBe('file');
      expect(await fs.ls('/a', { linearizable: true })).toEqual([]);
      // And back, onto an existing empty directory.
      await fs.mkdir('/a/back');
      await fs.rename('/t/dir', '/a/back');
      expect((await fs.ls('/a/back')).map((e) => e.name)).toEqual(['f1', 'sub']);
      // The target's rules: no parent, a directory onto a file, the target's root.
      await expect(fs.rename('/t/file', '/a/nodir/x')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(fs.rename('/a/back', '/t/file')).rejects.toMatchObject({ code: 'ENOTDIR' });
      await expect(fs.rename('/t/file', '/a')).rejects.toMatchObject({ code: 'EBUSY' });
      // The source's: missing, its own root; a directory holding another ministry stays EXDEV.
      await expect(fs.rename('/t/nothing', '/a/x')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(fs.rename('/a', '/t/a')).rejects.toMatchObject({ code: 'EBUSY' });
      await fs.mkdir('/a/in');
      expect(await exists(fs, '/t/file')).toBe(true);
      expect(await settled(cluster)).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 60_000);

  it('forgets each decision once both ministries applied its end: 10 renames leave the cluster state bounded', async () => {
    const { cluster, fs } = await start(107);
    let peak = 0;
    cluster.sim!.checks.push(() => {
      peak = Math.max(peak, decided(cluster));
    });
    try {
      for (let i = 0; i < 5; i++) {
        await fs.rename('/a/file', '/t/file');
        await fs.rename('/t/file', '/a/file');
      }
      // Kept, every decision would still be there (10); forgotten as the ministries report
      // (every REPORT_EVERY_MS), some go while the renames go on, and all once they ended.
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThan(10);
      expect(await cluster.waitFor(() => decided(cluster) === 0, 20_000)).toBe(true);
      expect(await exists(fs, '/a/file')).toBe(true);
      expect(await settled(cluster)).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 60_000);

  it('carries modes, owners, nanosecond times, symlinks and hard links inside the moved tree, and checks the caller at both ends', async () => {
    const { cluster, fs } = await start(103);
    const alice = { uid: 1000, gid: 100, groups: [] };
    const bob = { uid: 1001, gid: 100, groups: [] };
    try {
      await fs.mkdir('/a/home', { mode: 0o777 });
      await fs.mkdir('/a/home/x', { mode: 0o750, as: alice });
      await fs.create('/a/home/x/f', { mode: 0o640, as: alice });
      await fs.utimens('/a/home/x/f', 1_234_567_890_123_456_789n, -5n, { as: alice });
      await fs.link('/a/home/x/f', '/a/home/x/g', { as: alice });
      await fs.symlink('../f', '/a/home/x/l', { as: alice });
      await fs.mkdir('/pub', { mode: 0o1777 });
      await fs.create('/pub/bobs', { as: bob });
      // The source: bob may not move alice's directory (its '..' changes: write on it).
      await expect(fs.rename('/a/home/x', '/pub/x', { as: bob })).rejects.toMatchObject({ code: 'EACCES' });
      // The target: alice may not write /t (0755, root's), nor replace bob's file in sticky /pub.
      await expect(fs.rename('/a/home/x', '/t/x', { as: alice })).rejects.toMatchObject({ code: 'EACCES' });
      // (The sticky rule before what may replace what, as a local rename.)
      await expect(fs.rename('/a/home/x', '/pub/bobs', { as: alice })).rejects.toMatchObject({ code: 'EPERM' });
      await fs.create('/pub/alices', { as: alice });
      await expect(fs.rename('/a/home/x', '/pub/alices', { as: alice })).rejects.toMatchObject({ code: 'ENOTDIR' });
      await fs.rename('/a/home/x', '/pub/x', { as: alice });
      const f = await fs.stat('/pub/x/f', { as: alice, linearizable: true });
      expect([f.mode, f.uid, f.gid, f.nlink, f.atimeNs, f.mtimeNs]).toEqual([0o100640, 1000, 100, 2, 1_234_567_890_123_456_789n, -5n]);
      expect((await fs.stat('/pub/x/g', { as: alice })).ino).toBe(f.ino);
      const x = await fs.stat('/pub/x', { as: alice });
      expect([x.mode, x.uid, x.gid]).toEqual([0o40750, 1000, 100]);
      expect(await fs.readlink('/pub/x/l', { as: alice })).toBe('../f');
      await expect(fs.stat('/pub/x/f', { as: { uid: 1002, gid: 200, groups: [] } })).rejects.toMatchObject({ code: 'EACCES' });
      // A file with a hard link left behind cannot cross (EXDEV, as link itself).
      await fs.create('/a/h');
      await fs.link('/a/h', '/a/h2');
      await expect(fs.rename('/a/h', '/t/h')).rejects.toMatchObject({ code: 'EXDEV' });
      expect(await exists(fs, '/a/home/x')).toBe(false);
      expect(await settled(cluster)).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 60_000);

  it('a retried rename gets its first answer (exactly once), also when the request is sent again by hand', async () => {
    const { cluster, fs } = await start(102);
    try {
      const st = await cluster.status();
      const aM = st.ministries.find((m) => m.subtree === '/a')!;
      const runtime = cluster.sim!.host('clients').runtime;
      const ask = (seq: number): Promise<{ ok?: boolean; error?: { code?: string } | null; rename?: { targetMinistry?: string } }> =>
        cluster.drive(runtime.ask(`${aM.minister}#/${aM.minister}`, { type: 'govfs.fs.FsRequest', clientId: 'again', seq, path: '/a/file', lastSeen: 0, linearizable: false, ticketTo: '', mutation: true, acked: 0, op: 'rename', rename: { from: '/a/file', to: '/t/moved' } }, { timeoutMs: 5_000 }));
      const first = await ask(1);
      expect(first.ok, JSON.stringify(first)).toBe(true);
      expect(first.rename?.targetMinistry).toBe(st.ministries.find((m) => m.subtree === '/')!.id);
      const again = await ask(1);
      expect(again.ok, JSON.stringify(again)).toBe(true);
      // A new request (seq 2) of the same rename now fails: the source is gone.
      expect((await ask(2)).error?.code).toBe('ENOENT');
      expect(await exists(fs, '/t/moved')).toBe(true);
      expect(await exists(fs, '/a/file')).toBe(false);
    } finally {
      await cluster.stop();
    }
  }, 60_000);

  for (const [name, when, who] of [
    ['the coordinator (president) killed between the phases (target prepared, nothing decided)', (c: Cluster) => openIn(c, '/') && decided(c) === 0, (c: Cluster) => president(c)],
    ['the coordinator killed after deciding, before the ends', (c: Cluster) => decided(c) > 0 && openIn(c, '/'), (c: Cluster) => president(c)],
    ['the source minister killed after its prepare', (c: Cluster) => openOut(c, '/a'), (c: Cluster) => minister(c, '/a')],
    ['the target minister killed after its prepare', (c: Cluster) => openIn(c, '/'), (c: Cluster) => minister(c, '/')],
  ] as const) {
    it(`${name}: the rename completes, once, from the logs`, async () => {
      for (const seed of [111, 112, 113]) {
        const { cluster, fs } = await start(seed);
        try {
          const crash = crashWhen(cluster, () => when(cluster), () => who(cluster));
          let answer: string;
          try {
            await fs.rename('/a/dir', '/t/dir');
            answer = 'ok';
          } catch (e) {
            answer = (e as { code?: string }).code ?? String(e);
          }
          expect(crash.crashed.length, `seed ${seed}: the crash point was reached`).toBe(1);
          await cluster.restart(crash.crashed[0]!);
          // Either the old name or the new one, matching the answer; never both, never neither.
          const old = await exists(fs, '/a/dir');
          const moved = await exists(fs, '/t/dir');
          expect(old !== moved, `seed ${seed}: old ${old}, new ${moved}`).toBe(true);
          expect(answer, `seed ${seed}`).toBe('ok');
          expect(moved).toBe(true);
          expect((await fs.ls('/t/dir/sub', { linearizable: true })).map((e) => e.name)).toEqual(['f2']);
          expect(await settled(cluster), `seed ${seed}: every ledger closes`).toBe(true);
          for (const s of ['/', '/a']) for (const m of members(cluster, s)) expect(m.info.duplicateApplies).toBe(0);
        } finally {
          await cluster.stop();
        }
      }
    }, 180_000);
  }

  it('a create of the target name while it is reserved waits for the decision, and the history is linearizable against one namespace', async () => {
    const { cluster, fs } = await start(121);
    try {
      const other = cluster.client({ clientId: 'creator' });
      const history: NsOperation[] = [];
      const record = async (client: string, input: NsOperation['input'], run: () => Promise<unknown>): Promise<void> => {
        const call = cluster.now();
        try {
          await run();
          history.push({ client, input, output: { ok: true }, call, ret: cluster.now() });
        } catch (e) {
          history.push({ client, input, output: { ok: false, code: (e as { code?: string }).code ?? 'EIO' }, call, ret: cluster.now() });
        }
      };
      // The create starts once the target has reserved the name.
      let creating: Promise<void> | null = null;
      cluster.sim!.checks.push(() => {
        if (creating === null && openIn(cluster, '/')) creating = record('creator', { op: 'create', path: '/t/f' }, () => other.create('/t/f'));
      });
      await record('renamer', { op: 'rename', from: '/a/file', to: '/t/f' }, () => fs.rename('/a/file', '/t/f'));
      expect(creating).not.toBeNull();
      await creating;
      expect(history.map((h) => `${h.input.op} ${JSON.stringify(h.output)}`).sort()).toEqual(['create {"ok":false,"code":"EEXIST"}', 'rename {"ok":true}']);
      const c = cluster.now();
      history.push({ client: 'reader', input: { op: 'ls', path: '/t' }, output: { ok: true, value: (await fs.ls('/t', { linearizable: true })).map((e) => e.name) }, call: c, ret: cluster.now() });
      history.push({ client: 'reader', input: { op: 'ls', path: '/a' }, output: { ok: true, value: (await fs.ls('/a', { linearizable: true })).map((e) => e.name) }, call: cluster.now(), ret: cluster.now() });
      const setup: NsOperation[] = ['/a/dir', '/a/dir/sub', '/t'].map((p, i) => ({ client: 'setup', input: { op: 'mkdir', path: p }, output: { ok: true }, call: -10 + i, ret: -9.5 + i }));
      const files: NsOperation[] = ['/a/dir/f1', '/a/dir/sub/f2', '/a/file'].map((p, i) => ({ client: 'setup', input: { op: 'create', path: p }, output: { ok: true }, call: -5 + i, ret: -4.5 + i }));
      const verdict = checkWholeNamespace([...setup, ...files, ...history], ['/', '/a']);
      expect(verdict.ok, verdict.ok === true ? '' : verdict.reason).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});

describe('renames across ministries: contention (simulator)', () => {
  it('renames crossing each other between two ministries, with creates and reads, end (no deadlock) and are linearizable against one namespace', async () => {
    for (const seed of [131, 132]) {
      const { cluster } = await start(seed);
      try {
        const history: NsOperation[] = [];
        const one = async (c: GovClient, input: NsOperation['input']): Promise<void> => {
          const call = cluster.now();
          let output: NsOperation['output'];
          try {
            if (input.op === 'rename') await c.rename(input.from, input.to);
            else if (input.op === 'create') await c.create(input.path);
            else if (input.op === 'ls') output = { ok: true, value: (await c.ls(input.path, { linearizable: true })).map((e) => e.name) };
            output ??= { ok: true };
          } catch (e) {
            output = { ok: false, code: (e as { code?: string }).code ?? 'EIO' };
          }
          const unknown = !output.ok && ['ETIMEDOUT', 'EAGAIN', 'EUNAVAILABLE'].includes(output.code);
          if (unknown && input.op === 'ls') return;
          history.push({ client: c.clientId, input, output, call, ret: unknown ? Infinity : cluster.now() });
        };
        const work = (id: string, ops: NsOperation['input'][]) => {
          const c = cluster.client({ clientId: id });
          return (async () => {
            for (let i = 0; i < 12; i++) await one(c, ops[i % ops.length]!);
          })();
        };
        await Promise.all([
          work('there', [{ op: 'rename', from: '/a/file', to: '/t/file' }, { op: 'create', path: '/a/file' }]),
          work('back', [{ op: 'rename', from: '/t/file', to: '/a/file' }, { op: 'ls', path: '/t' }]),
          work('reader', [{ op: 'ls', path: '/a' }, { op: 'ls', path: '/t' }]),
        ]);
        const renames = history.filter((h) => h.input.op === 'rename' && h.output.ok).length;
        expect(renames, `seed ${seed}`).toBeGreaterThan(3);
        const setup: NsOperation[] = ['/a/dir', '/a/dir/sub', '/t'].map((p, i) => ({ client: 'setup', input: { op: 'mkdir', path: p }, output: { ok: true }, call: -10 + i, ret: -9.5 + i }));
        const files: NsOperation[] = ['/a/dir/f1', '/a/dir/sub/f2', '/a/file'].map((p, i) => ({ client: 'setup', input: { op: 'create', path: p }, output: { ok: true }, call: -5 + i, ret: -4.5 + i }));
        const verdict = checkWholeNamespace([...setup, ...files, ...history], ['/', '/a'], { timeoutMs: 60_000 });
        expect(verdict.ok, verdict.ok === true ? '' : verdict.reason).toBe(true);
        expect(await settled(cluster)).toBe(true);
      } finally {
        await cluster.stop();
      }
    }
  }, 120_000);
});

describe('renames across ministries (threads: worker threads, lmdb, protobuf between threads)', () => {
  it('renames a file and a directory with its subtree between two ministries, and back', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'govfs-xrename-'));
    const cluster = await Cluster.start({ nodes: 8, scheduler: 'threads', threads: 2, dataDir, ministries: [{ subtree: '/a', clerks: 2 }] });
    try {
      const fs = cluster.client();
      await fs.mkdir('/a/dir/sub', { parents: true });
      await fs.create('/a/dir/f1');
      await fs.create('/a/dir/sub/f2');
      await fs.create('/a/file');
      await fs.mkdir('/t');
      await fs.rename('/a/file', '/t/file');
      await fs.rename('/a/dir', '/t/dir');
      expect((await fs.ls('/t')).map((e) => e.name)).toEqual(['dir', 'file']);
      expect((await fs.ls('/t/dir/sub', { linearizable: true })).map((e) => e.name)).toEqual(['f2']);
      expect(await fs.ls('/a', { linearizable: true })).toEqual([]);
      await fs.rename('/t/dir', '/a/back');
      expect((await fs.ls('/a/back')).map((e) => e.name)).toEqual(['f1', 'sub']);
      await expect(fs.rename('/t/file', '/a/none/x')).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await fs.stat('/t/file', { linearizable: true })).kind).toBe('file');
    } finally {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
