// Control-plane scenarios (issue 4): tickets across a minister failure, a president failure
// during an appointment, and operations that span ministries.

import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

describe('control plane scenarios (sim)', () => {
  it('minister killed mid-create: the ticket resolves, and the retry applies exactly once', async () => {
    const cluster = await Cluster.start({ nodes: 5, seed: 21 });
    const fs = cluster.client();
    await fs.mkdir('/d');
    const root = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
    const creating = fs.create('/d/file');
    // As soon as the minister has handed out the ticket, it dies.
    expect(await cluster.waitFor(() => fs.tickets.size >= 2, 5_000)).toBe(true);
    await cluster.kill(root.minister);
    await expect(creating).resolves.toBeUndefined();
    const ticket = fs.tickets.get(2)!;
    expect(['committed', 'lost']).toContain(await fs.ticketStatus(ticket));
    // Exactly once: the file exists, and a second create is refused.
    await expect(fs.create('/d/file')).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await fs.ls('/d')).map((e) => e.name)).toEqual(['file']);
    await cluster.stop();
  });

  it.each([
    [24, 10],
    [25, 20],
    [26, 20],
    [27, 30],
  ])('changes pipelined by one client across a minister failure: each applies exactly once (seed %i, %i tickets out)', async (seed, out) => {
    const cluster = await Cluster.start({ nodes: 5, seed });
    const fs = cluster.client();
    await fs.mkdir('/d');
    const root = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
    // 30 creates in flight at once; the minister dies once it has handed out `out` tickets,
    // before their answers are all out.
    const names = Array.from({ length: 30 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    let answered = 0;
    const creating = Promise.allSettled(names.map((n) => fs.create(`/d/${n}`).finally(() => answered++)));
    for (let step = 0; fs.tickets.size < 1 + out; step++) {
      expect(step).toBeLessThan(100_000);
      await cluster.runFor(0.05);
    }
    await cluster.kill(root.minister);
    const results = await creating;
    // Every create succeeded once: a retry that re-applied would have met EEXIST.
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(answered).toBe(30);
    expect((await fs.ls('/d', { linearizable: true })).map((e) => e.name)).toEqual(names);
    for (const id of cluster.nodeIds) {
      if (!cluster.sim!.host(id).up) continue;
      const b = cluster.sim!.host(id).runtime.cells.get(`/${id}/role`)?.behaviour as { inspect?: () => { duplicateApplies: number } | null } | undefined;
      expect(b?.inspect?.()?.duplicateApplies ?? 0).toBe(0);
    }
    await cluster.stop();
  });

  it('a client keeps the tickets of its last 1,024 answered changes, not all of them', async () => {
    const cluster = await Cluster.start({ nodes: 3, seed: 25 });
    const fs = cluster.client();
    await fs.mkdir('/d');
    for (let i = 0; i < 1_100; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => fs.create(`/d/f${i + k}`)));
    expect(fs.tickets.size).toBeLessThanOrEqual(1_024);
    expect(fs.tickets.has(1_101)).toBe(true); // the newest
    expect(fs.tickets.has(2)).toBe(false); // long answered
    await cluster.stop();
  });

  it('each change a client pipelines gets its own ticket (tickets may share a message)', async () => {
    const cluster = await Cluster.start({ nodes: 4, seed: 26 });
    const fs = cluster.client();
    await fs.mkdir('/d');
    await Promise.all(Array.from({ length: 30 }, (_, k) => fs.create(`/d/f${k}`)));
    // seqs 2..31 are the creates (1 was the mkdir): each has a ticket with its own log index.
    const indexes = Array.from({ length: 30 }, (_, k) => fs.tickets.get(k + 2)?.index);
    expect(indexes.every((i) => typeof i === 'number' && i > 0)).toBe(true);
    expect(new Set(indexes).size).toBe(30);
    await cluster.stop();
  });

  it('president killed during an appointment: its successor finishes the job with one minister', async () => {
    const cluster = await Cluster.start({ nodes: 6, seed: 22 });
    const st = await cluster.status();
    const root = st.ministries.find((m) => m.subtree === '/')!;
    await cluster.kill(root.clerks[0]!);
    // About when the president notices and appoints a replacement clerk, it dies too.
    await cluster.runFor(430);
    await cluster.kill(st.president);
    expect(
      await cluster.waitFor(async () => {
        const s = await cluster.status();
        const r = s.ministries.find((m) => m.subtree === '/');
        return s.president !== '' && s.president !== st.president && !!r && r.clerks.length === 2 && !r.clerks.includes(root.clerks[0]!);
      }, 20_000),
    ).toBe(true);
    const after = (await cluster.status()).ministries.filter((m) => m.subtree === '/');
    expect(after.length).toBe(1);
    const fs = cluster.client();
    await fs.create('/works');
    await cluster.stop();
  });

  it('rmdir across two ministries goes through the president (thesis Figure 9)', async () => {
    const cluster = await Cluster.start({ nodes: 8, seed: 23, ministries: [{ subtree: '/a/b', clerks: 2 }] });
    const fs = cluster.client();
    const inner = (await cluster.status()).ministries.find((m) => m.subtree === '/a/b')!;
    const groupKeys = (node: string) => [...cluster.sim!.host(node).storage.range({ start: `g/${inner.id}/`, end: `g/${inner.id}/\uffff` })].length;
    await fs.mkdir('/a');
    await fs.create('/a/x');
    await fs.create('/a/b/inner');
    const staff = [inner.minister, ...inner.clerks];
    expect(staff.every((n) => groupKeys(n) > 0)).toBe(true);
    expect((await fs.ls('/a')).map((e) => e.name)).toEqual(['b', 'x']);
    await expect(fs.rmdir('/a')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    // Into the inner ministry: a rename across ministries (rename-core.ts); /a itself holds it.
    await fs.rename('/a/x', '/a/b/x');
    expect((await fs.ls('/a/b', { linearizable: true })).map((e) => e.name)).toEqual(['inner', 'x']);
    await expect(fs.rename('/a', '/c')).rejects.toMatchObject({ code: 'EXDEV' });
    await fs.rmdir('/a', { recursive: true });
    expect((await fs.ls('/')).map((e) => e.name)).toEqual([]);
    const st = await cluster.status();
    expect(st.ministries.map((m) => m.subtree)).toEqual(['/']);
    // The dissolved ministry's staff went back to the idle pool.
    expect(st.idle.length).toBeGreaterThanOrEqual(3);
    await expect(fs.stat('/a/b/inner')).rejects.toMatchObject({ code: 'ENOENT' });
    // The former staff drop their copy of the dissolved ministry's log (once current).
    expect(await cluster.waitFor(() => staff.every((n) => groupKeys(n) === 0), 5_000)).toBe(true);
    await cluster.stop();
  });

  it('rejects bad paths with EINVAL (ENAMETOOLONG for a long name) before sending anything', async () => {
    const cluster = await Cluster.start({ nodes: 4, seed: 24 });
    const fs = cluster.client();
    for (const bad of ['', 'rel', '/a//b', '/a/./b', '/a/../b', '/a\0b', '/a\x1bb', '/a\nb', '/trailing/']) {
      await expect(fs.mkdir(bad)).rejects.toMatchObject({ code: 'EINVAL' });
    }
    await expect(fs.mkdir(`/${'x'.repeat(256)}`)).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    await cluster.stop();
  });
});

describe('exactly-once records (sim)', () => {
  it('are garbage-collected once a client has been silent for the TTL', async () => {
    const cluster = await Cluster.start({ nodes: 4, seed: 25, clientTtlMs: 2_000 });
    const records = () => {
      const root = cluster.sim!.hostNames.map((h) => cluster.sim!.host(h).runtime.cells.get(`/${h}/role`)?.behaviour as { inspect?: () => { clients: number; leading: boolean } | null } | undefined);
      return root.map((b) => b?.inspect?.()).find((i) => i?.leading)?.clients ?? -1;
    };
    const fs = cluster.client();
    await fs.create('/one');
    expect(records()).toBe(1);
    await cluster.runFor(3_000);
    expect(records()).toBe(0);
    await cluster.stop();
  });
});

describe('client sessions (sim)', () => {
  const sessionsOf = (cluster: Cluster, node: string) =>
    [...cluster.sim!.host(node).runtime.cells.keys()].filter((p) => p.startsWith(`/${node}/role/session-`));

  it('a client heard from keeps its session, though its member passes touches on at most every TTL/32; once silent it ends a TTL after the last request, not before', async () => {
    const ttl = 1_000;
    const cluster = await Cluster.start({ nodes: 5, seed: 27, sessionTtlMs: ttl, leaseTtlMs: 5_000 });
    const fs = cluster.client({ clientId: 'carol' });
    await fs.create('/f');
    const root = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
    const session = () => cluster.sim!.host(root.minister).runtime.cells.get(`/${root.minister}/role/session-carol`);
    const first = session();
    expect(first).toBeDefined();
    // A change every 10 ms for three TTLs: most of them are not passed on to the session
    // (TTL/32 = 31 ms), and it is the same session throughout.
    let lastSent = 0;
    for (let i = 0; i < 300; i++) {
      lastSent = cluster.now();
      await fs.create(`/g${i}`);
      await cluster.runFor(Math.max(0, lastSent + 10 - cluster.now()));
      expect(session()).toBe(first);
    }
    // Silent now. The last touch passed on may be up to TTL/32 older than the last request:
    // the session allows for that, so it ends no sooner than a TTL after the last request.
    // A session's timer is set to its deadline (it checked every TTL/4 before); 16 more clients
    // go quiet at 16 different moments of such a period, so that some deadline falls in the
    // TTL/32 the allowance covers.
    const check = async (id: string, burstMs: number): Promise<void> => {
      const c = id === 'carol' ? fs : cluster.client({ clientId: id });
      const cell = () => cluster.sim!.host(root.minister).runtime.cells.get(`/${root.minister}/role/session-${id}`);
      if (id !== 'carol') {
        for (const end = cluster.now() + burstMs; cluster.now() < end; ) {
          lastSent = cluster.now();
          await c.create(`/${id}-${lastSent}`);
          await cluster.runFor(Math.max(0, lastSent + 10 - cluster.now()));
        }
      }
      expect(await cluster.waitFor(() => cell() === undefined, 5_000)).toBe(true);
      const silentFor = cluster.now() - lastSent;
      expect(silentFor, id).toBeGreaterThanOrEqual(ttl);
      expect(silentFor, id).toBeLessThanOrEqual(ttl + ttl / 32 + 50); // + the touch lag, and slack
    };
    await check('carol', 0);
    for (let k = 0; k < 16; k++) await check(`dave${k}`, 100 + (k * ttl) / 4 / 16);
    await cluster.stop();
  });

  it('are actors under the role that serves the client; they end when the client goes quiet, and with the role', async () => {
    const cluster = await Cluster.start({ nodes: 5, seed: 26, sessionTtlMs: 1_000, leaseTtlMs: 5_000 });
    const fs = cluster.client({ clientId: 'alice' });
    await fs.create('/f');
    const root = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
    expect(sessionsOf(cluster, root.minister)).toEqual([`/${root.minister}/role/session-alice`]);
    // A read lease at a clerk belongs to alice's session there.
    const h = await fs.open('/f', { mode: 'read' });
    const clerk = h.lease.grantedBy;
    expect(sessionsOf(cluster, clerk)).toEqual([`/${clerk}/role/session-alice`]);
    // Silent for the session TTL (the handle's renewals do not reach the clerk: alice is cut
    // off), the session ends and the clerk drops alice's lease: a writer no longer waits for it.
    cluster.partition(['clients'], cluster.nodeIds);
    await cluster.runFor(1_600);
    expect(sessionsOf(cluster, clerk)).toEqual([]);
    cluster.heal();
    // A role change stops the branch with its sessions.
    const bob = cluster.client({ clientId: 'bob' });
    for (let i = 0; i < 6; i++) await bob.stat('/f'); // reads spread over the clerks
    const before = root.clerks.map((c) => cluster.sim!.host(c).runtime.cells.get(`/${c}/role/session-bob`)).filter((x) => x !== undefined);
    expect(before.length).toBeGreaterThan(0);
    await cluster.kill(root.minister);
    await bob.create('/g');
    const now = (await cluster.status()).ministries.find((m) => m.subtree === '/')!;
    // The new minister's clerk branch stopped (its sessions with it); bob's change started a
    // fresh session under the minister branch.
    expect(sessionsOf(cluster, now.minister)).toEqual([`/${now.minister}/role/session-bob`]);
    const old = cluster.sim!.host(now.minister).runtime.cells.get(`/${now.minister}/role/session-bob`);
    for (const cell of before) if (cell.path.startsWith(`/${now.minister}/`)) expect(cell.stopped && cell !== old).toBe(true);
    await cluster.stop();
  });
});
