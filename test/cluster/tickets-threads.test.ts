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
  it('30 creates sent at once: a ticket for each, in fewer than 30 messages', async () => {
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
      await Promise.all(Array.from({ length: 30 }, (_, k) => fs.create(`/d/f${k}`)));
      const indexes = Array.from({ length: 30 }, (_, k) => fs.tickets.get(k + 2)?.index);
      expect(indexes.every((i) => typeof i === 'number' && i > 0)).toBe(true);
      expect(new Set(indexes).size).toBe(30);
      expect(messages).toBeGreaterThan(0);
      expect(messages).toBeLessThan(30);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
