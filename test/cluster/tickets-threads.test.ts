// Tickets on the threads scheduler: the changes a client pipelines reach the minister
// together, and their tickets go back together (one message per client per batch).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('tickets (threads)', () => {
  it('200 creates sent at once: a ticket for each, and some tickets share a message', async () => {
    // 200, not fewer: on a loaded machine the worker may drain the requests as they are
    // written, a few at a time; all 200 one by one (200 messages) would mean no batching.
    const dataDir = mkdtempSync(join(tmpdir(), 'govfs-tickets-'));
    dirs.push(dataDir);
    const cluster = await Cluster.start({ nodes: 4, scheduler: 'threads', threads: 1, dataDir });
    try {
      const fs = cluster.client();
      await fs.mkdir('/d');
      let messages = 0;
      const onTicket = fs.onTicket.bind(fs);
      fs.onTicket = (t) => {
        messages++;
        onTicket(t);
      };
      await Promise.all(Array.from({ length: 200 }, (_, k) => fs.create(`/d/f${k}`)));
      // A ticket and its change's reply can arrive in one batch from the worker: the reply
      // resolves its promise at once, the ticket goes through the clients' actor a turn later.
      const ticketed = () => Array.from({ length: 200 }, (_, k) => fs.tickets.get(k + 2)?.index).filter((i) => i !== undefined).length;
      for (const deadline = Date.now() + 5_000; ticketed() < 200 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 5));
      const indexes = Array.from({ length: 200 }, (_, k) => fs.tickets.get(k + 2)?.index);
      expect(indexes.every((i) => typeof i === 'number' && i > 0)).toBe(true);
      expect(new Set(indexes).size).toBe(200);
      expect(messages).toBeGreaterThan(0);
      expect(messages).toBeLessThan(200);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
