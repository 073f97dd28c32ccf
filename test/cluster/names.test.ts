// The names the namespace refuses, enforced by the ministries themselves: a raw client (one
// that skips the client library's own check) sending a name with a control character or over
// 255 bytes gets EINVAL / ENAMETOOLONG from the server, and nothing is created.

import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';

interface Reply {
  type?: string;
  ok?: boolean;
  error?: { code?: string; message?: string };
}

describe('names refused by the server', () => {
  it('a raw request to create a name with a control character or over 255 bytes is refused by the minister', async () => {
    const cluster = await Cluster.start({ nodes: 5, scheduler: 'sim', seed: 11 });
    try {
      const fs = cluster.client();
      await fs.mkdir('/d');
      const st = await cluster.status();
      const minister = st.ministries.find((m) => m.subtree === '/')!.minister;
      const runtime = cluster.sim!.host('clients').runtime;
      let seq = 0;
      const create = async (path: string): Promise<Reply> =>
        (await cluster.drive(
          runtime.ask(`${minister}#/${minister}`, {
            type: 'govfs.fs.FsRequest', clientId: 'raw-client', seq: ++seq, create: { path }, path,
            lastSeen: 0, linearizable: false, ticketTo: 'clients#/clients', mutation: true, acked: 0,
          }, { timeoutMs: 5_000 }),
        )) as Reply;
      // The same request with a plain name succeeds: the refusals below are about the names.
      // (Its answer is FsReply's typed result: the create's, with the new file's attributes.)
      expect(await create('/d/plain')).toMatchObject({ ok: true, result: 'create', create: { created: true, stat: { kind: 'file', size: 0 } } });
      for (const bad of ['/d/a\x1b[31mb', '/d/two\nlines', '/d/bell\x07', '/d/del\x7f', '/d/c1\u0085', '/d/\u009b2J']) {
        const r = await create(bad);
        expect(r, JSON.stringify(bad)).toMatchObject({ ok: false, error: { code: 'EINVAL' } });
        expect(r.error!.message).toMatch(/control character U\+00[0-9A-F]{2}/);
      }
      const long = await create(`/d/${'n'.repeat(5_000)}`);
      expect(long).toMatchObject({ ok: false, error: { code: 'ENAMETOOLONG' } });
      expect((long.error?.message ?? '').length).toBeLessThan(400); // the name is not echoed whole
      // A bidi control is a character like any other: stored, and escaped only on output.
      expect(await create('/d/r\u202eevil')).toMatchObject({ ok: true });
      expect((await fs.ls('/d')).map((e) => e.name).sort()).toEqual(['plain', 'r\u202eevil']);
    } finally {
      await cluster.stop();
    }
  });
});
