import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';
import { watchOwnership } from '../sim/ownership-invariant.js';
import { wireOp } from '../support/fs-ops.js';

// A ministry serves only its own subtree. The client library routes by the subtree map, but a
// hand-made (or buggy) client can send a request that the node routes by its `path` field to
// one ministry while the operation names a path another ministry owns. Every such request must
// be redirected (the answer a node gives a client at the wrong ministry: no error, the map), and
// nothing may change in the ministry that got it: no hidden entries in a subtree it does not
// serve, nothing surfacing from one later. The root of a ministry ("/a") belongs to it: the
// parent only shows its name.

interface Reply {
  type?: string;
  ok?: boolean;
  error?: { code?: string; message?: string } | null;
  redirect?: { subtree: string }[];
}

describe('ownership: a ministry refuses paths another ministry owns', () => {
  it('raw requests to one ministry for paths in another are redirected in every ministry, for every operation, and change nothing', async () => {
    const cluster = await Cluster.start({ nodes: 7, scheduler: 'sim', seed: 3, ministries: [{ subtree: '/a', clerks: 2 }] });
    // Every step: no member applies (logs) a change naming a path its ministry does not own.
    const applied: string[] = [];
    const watch = watchOwnership(cluster, ['/a'], (msg) => applied.push(msg));
    cluster.sim!.checks.push(watch.check);
    try {
      const fs = cluster.client();
      await fs.mkdir('/a/dir');
      await fs.create('/a/f');
      await fs.create('/x');
      await fs.mkdir('/xd');
      const st = await cluster.status();
      const rootM = st.ministries.find((m) => m.subtree === '/')!;
      const aM = st.ministries.find((m) => m.subtree === '/a')!;
      const runtime = cluster.sim!.host('clients').runtime;
      let seq = 0;
      /** A request as a client would send it, but routed by `routeBy` and sent to `node` (its
       * node actor, which routes by `routeBy`, or its role actor directly). */
      const raw = async (node: string, op: Record<string, unknown>, routeBy: string, to: 'node' | 'role' = 'node'): Promise<Reply> => {
        const mutation = !['ls', 'stat'].includes(String(op['op'])) && !String(op['op']).startsWith('lease-');
        const s = mutation ? ++seq : 0;
        const msg = { type: 'govfs.fs.FsRequest', clientId: 'handmade', seq: s, ...wireOp(op), path: routeBy, lastSeen: 0, linearizable: false, ticketTo: '', mutation, acked: s - 1 };
        const address = to === 'node' ? `${node}#/${node}` : `${node}#/${node}/role`;
        return (await cluster.drive(runtime.ask(address, msg, { timeoutMs: 2_000 }))) as Reply;
      };
      const isRedirectTo = (r: Reply, subtree: string): boolean => r.ok === false && !r.error && (r.redirect ?? []).some((m) => m.subtree === subtree);
      /** Every request answered otherwise than it should be (all listed when the test fails). */
      const wrong: string[] = [];
      const expectRedirect = (r: Reply, subtree: string, what: string): void => {
        if (!isRedirectTo(r, subtree)) wrong.push(`${what}: ${JSON.stringify(r).slice(0, 200)}`);
      };

      // Changes for /a's paths, routed to the root ministry's minister (by a path it owns) and
      // sent straight to its role actor: the mount point itself, new entries, existing ones,
      // and a rename out of /a (the source is elsewhere).
      const intoA: Record<string, unknown>[] = [
        { op: 'mkdir', path: '/a' },
        { op: 'mkdir', path: '/a/sdir' },
        { op: 'mkdir', path: '/a/p/q', parents: true },
        { op: 'create', path: '/a/shadow' },
        { op: 'create', path: '/a/f' },
        { op: 'rm', path: '/a/f' },
        { op: 'rmdir', path: '/a/dir' },
        { op: 'rmdir', path: '/a/dir', recursive: true },
        { op: 'rename', from: '/a/f', to: '/surfaced' },
        { op: 'rename', from: '/a/shadow', to: '/surfaced2' },
        { op: 'rename', from: '/a/f', to: '/a/g' },
        { op: 'rename', from: '/a', to: '/b' },
        { op: 'ls', path: '/a' },
        { op: 'ls', path: '/a/dir' },
        { op: 'stat', path: '/a' },
        { op: 'stat', path: '/a/f' },
        { op: 'stat', path: '/a/shadow' },
        { op: 'lease-open', path: '/a/f', mode: 'write', start: 0, end: null, wait: false, deadlineMs: 0, reqId: 'w1' },
      ];
      for (const to of ['node', 'role'] as const) {
        for (const op of intoA) {
          expectRedirect(await raw(rootM.minister, op, '/x', to), '/a', `${to} ${JSON.stringify(op)} at the root minister`);
        }
        // Reads and read leases at a root clerk.
        for (const op of [{ op: 'ls', path: '/a/dir' }, { op: 'stat', path: '/a/f' }, { op: 'lease-open', path: '/a/f', mode: 'read', start: 0, end: null, wait: false, deadlineMs: 0, reqId: 'r1' }]) {
          expectRedirect(await raw(rootM.clerks[0]!, op, '/x', to), '/a', `${to} ${JSON.stringify(op)} at a root clerk`);
        }
      }
      // Both ends of a rename: a rename into /a is a two-phase commit between the ministries
      // (test/cluster/cross-rename.test.ts); onto /a itself the target refuses (its root), and
      // nothing changes on either side.
      {
        const r = await raw(rootM.minister, { op: 'rename', from: '/xd', to: '/a' }, '/x');
        expect(r.error?.code, JSON.stringify(r)).toBe('EBUSY');
      }

      // The /a ministry, the other way round: changes and reads of root paths routed to it.
      const intoRoot: Record<string, unknown>[] = [
        { op: 'mkdir', path: '/y' },
        { op: 'create', path: '/z' },
        { op: 'rm', path: '/x' },
        { op: 'rmdir', path: '/xd' },
        { op: 'rename', from: '/x', to: '/a/x' },
        { op: 'ls', path: '/' },
        { op: 'stat', path: '/x' },
        { op: 'lease-open', path: '/x', mode: 'write', start: 0, end: null, wait: false, deadlineMs: 0, reqId: 'w2' },
      ];
      for (const to of ['node', 'role'] as const) {
        for (const op of intoRoot) {
          expectRedirect(await raw(aM.minister, op, '/a/f', to), '/', `${to} ${JSON.stringify(op)} at the /a minister`);
        }
      }
      const r = await raw(aM.minister, { op: 'rename', from: '/a/f', to: '/' }, '/a/f');
      expect(r.error?.code, JSON.stringify(r)).toBe('EBUSY');
      expect(wrong).toEqual([]);
      expect(applied).toEqual([]);

      // Nothing changed anywhere, and nothing hidden surfaces: linearizable reads through the
      // client library, and a rename of what a hidden entry would be.
      expect(await fs.ls('/', { linearizable: true })).toEqual([{ name: 'a', kind: 'dir' }, { name: 'x', kind: 'file' }, { name: 'xd', kind: 'dir' }]);
      expect(await fs.ls('/a', { linearizable: true })).toEqual([{ name: 'dir', kind: 'dir' }, { name: 'f', kind: 'file' }]);
      expect(await fs.ls('/xd', { linearizable: true })).toEqual([]);
      expect((await fs.stat('/a/f', { linearizable: true })).kind).toBe('file');
      await expect(fs.rename('/a/shadow', '/a/visible')).rejects.toMatchObject({ code: 'ENOENT' });
      // The mount point's own entry is the /a ministry's: mkdir answers there.
      await expect(fs.mkdir('/a')).rejects.toMatchObject({ code: 'EEXIST' });
      // Correct clients are unaffected: routed changes and reads on both sides work.
      await fs.create('/a/dir/g');
      await fs.rename('/x', '/x3');
      expect(await fs.ls('/a/dir')).toEqual([{ name: 'g', kind: 'file' }]);
      const h = await fs.open('/a/f', { mode: 'write' });
      await h.release();
      expect(applied).toEqual([]);
      expect(watch.counts.checked).toBeGreaterThan(10);
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  it('a subtree delete hands the dissolved subtree to the ministry above, which then serves it', async () => {
    const cluster = await Cluster.start({ nodes: 7, scheduler: 'sim', seed: 5, ministries: [{ subtree: '/d/m', clerks: 2 }] });
    const applied: string[] = [];
    const watch = watchOwnership(cluster, ['/d/m'], (msg) => applied.push(msg));
    cluster.sim!.checks.push(watch.check);
    try {
      const fs = cluster.client();
      await fs.mkdir('/d');
      await fs.mkdir('/d/m/e');
      const rootM = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
      const runtime = cluster.sim!.host('clients').runtime;
      let seq = 0;
      const raw = async (op: Record<string, unknown>): Promise<Reply> => {
        const s = ++seq;
        const msg = { type: 'govfs.fs.FsRequest', clientId: 'handmade', seq: s, ...wireOp(op), path: '/d', lastSeen: 0, linearizable: false, ticketTo: '', mutation: true, acked: s - 1 };
        return (await cluster.drive(runtime.ask(`${rootM.minister}#/${rootM.minister}`, msg, { timeoutMs: 2_000 }))) as Reply;
      };
      const before = await raw({ op: 'create', path: '/d/m/shadow' });
      expect(before.ok === false && !before.error && before.redirect?.some((m) => m.subtree === '/d/m'), JSON.stringify(before)).toBe(true);
      // The president dissolves /d/m, then the root ministry drops /d: /d/m is the root's now.
      await fs.rmdir('/d', { recursive: true });
      expect((await cluster.status()).ministries.map((m) => m.subtree)).toEqual(['/']);
      expect(await raw({ op: 'mkdir', path: '/d/m', parents: true })).toMatchObject({ ok: true });
      expect(await raw({ op: 'create', path: '/d/m/f' })).toMatchObject({ ok: true });
      expect(await fs.ls('/d/m', { linearizable: true })).toEqual([{ name: 'f', kind: 'file' }]);
      // No false alarm for the root applying in the dissolved subtree, and none for what the
      // dissolved ministry applied before.
      expect(applied).toEqual([]);
      expect(watch.counts.checked).toBeGreaterThan(5);
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  it('a static subtree whose ministry has not formed is nobody\'s: its parent refuses it (EAGAIN) for every operation, lease opens included', async () => {
    // Four nodes staff the president and the root ministry only: /a is configured and never
    // forms, as on a node whose copy of the cluster log has not reached its forming yet.
    const cluster = await Cluster.start({ nodes: 4, scheduler: 'sim', seed: 7, ministries: [{ subtree: '/a', clerks: 2 }], waitForReady: false });
    try {
      const fs = cluster.client({ deadlineMs: 60_000 });
      await fs.create('/x');
      const rootM = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
      const runtime = cluster.sim!.host('clients').runtime;
      let seq = 0;
      const ops: Record<string, unknown>[] = [
        { op: 'mkdir', path: '/a' },
        { op: 'create', path: '/a/f' },
        { op: 'rename', from: '/x', to: '/a/x' },
        { op: 'stat', path: '/a/f' },
        { op: 'lease-open', path: '/a/f', mode: 'write', start: 0, end: null, wait: false, deadlineMs: 0, reqId: 'w1' },
      ];
      const codes: string[] = [];
      for (const op of ops) {
        const mutation = op['op'] !== 'stat' && op['op'] !== 'lease-open';
        const s = mutation ? ++seq : 0;
        const msg = { type: 'govfs.fs.FsRequest', clientId: 'handmade', seq: s, ...wireOp(op), path: '/x', lastSeen: 0, linearizable: false, ticketTo: '', mutation, acked: s - 1 };
        const r = (await cluster.drive(runtime.ask(`${rootM.minister}#/${rootM.minister}/role`, msg, { timeoutMs: 2_000 }))) as Reply;
        codes.push(`${String(op['op'])}: ${r.error?.code ?? (r.ok ? 'ok' : 'redirect')}`);
      }
      expect(codes).toEqual(['mkdir: EAGAIN', 'create: EAGAIN', 'rename: EAGAIN', 'stat: EAGAIN', 'lease-open: EAGAIN']);
      // (A listing of / waits too: it would show /a.) The rest of the root is served.
      expect((await fs.stat('/x', { linearizable: true })).kind).toBe('file');
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
