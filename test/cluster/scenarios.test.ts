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
    await fs.mkdir('/a');
    await fs.create('/a/x');
    await fs.create('/a/b/inner');
    expect((await fs.ls('/a')).map((e) => e.name)).toEqual(['b', 'x']);
    await expect(fs.rmdir('/a')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await expect(fs.rename('/a/x', '/a/b/x')).rejects.toMatchObject({ code: 'EXDEV' });
    await fs.rmdir('/a', { recursive: true });
    expect((await fs.ls('/')).map((e) => e.name)).toEqual([]);
    const st = await cluster.status();
    expect(st.ministries.map((m) => m.subtree)).toEqual(['/']);
    // The dissolved ministry's staff went back to the idle pool.
    expect(st.idle.length).toBeGreaterThanOrEqual(3);
    await expect(fs.stat('/a/b/inner')).rejects.toMatchObject({ code: 'ENOENT' });
    await cluster.stop();
  });

  it('rejects bad paths with EINVAL before sending anything', async () => {
    const cluster = await Cluster.start({ nodes: 4, seed: 24 });
    const fs = cluster.client();
    for (const bad of ['', 'rel', '/a//b', '/a/./b', '/a/../b', '/a\0b', `/${'x'.repeat(256)}`, '/trailing/']) {
      await expect(fs.mkdir(bad)).rejects.toMatchObject({ code: 'EINVAL' });
    }
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
