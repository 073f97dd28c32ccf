// The live web view (issue 20, item 2) in a real browser: headless Chromium (Debian's
// `chromium`) driven by playwright-core. The page shows the root ministry's minister; the test
// kills that node and waits for the page, live over server-sent events, to show the one the
// president appoints instead, and the failover in its timeline. It saves a screenshot (to
// docs/web-view.png with GOVFS_SCREENSHOT=docs, else to a temporary folder).

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { Cluster } from '../../src/cluster.js';
import { OpsServer } from '../../src/ops/http.js';
import { clusterSource } from '../../src/ops/source.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'].find((p) => existsSync(p));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('web view', () => {
  it.skipIf(!CHROMIUM)(`shows the new minister after the old one is killed (${CHROMIUM ?? 'skipped: no chromium binary; apt-get install chromium'})`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'govfs-web-'));
    dirs.push(dataDir);
    // The president, a root ministry of three, a ministry for /a of three: a minister killed
    // leaves two of three to elect a clerk in its place.
    const cluster = await Cluster.start({ nodes: 7, scheduler: 'threads', threads: 1, dataDir, ministries: [{ subtree: '/a', clerks: 2 }], listen: '127.0.0.1:0' });
    let ops: OpsServer | null = null;
    let browser: Browser | null = null;
    try {
      const fs = cluster.client();
      await fs.mkdir('/a/b', { parents: true });
      ops = await OpsServer.start(clusterSource(cluster), { http: { host: '127.0.0.1', port: 0 }, watcher: { intervalMs: 500 } });
      // Root needs no sandbox (a CI container); the page needs nothing else.
      browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`http://${ops.addresses.http}/`);
      const root = page.locator('#ministries tr[data-subtree="/"]');
      await root.waitFor({ timeout: 30_000 });
      const old = await root.getAttribute('data-minister');
      expect(old).toMatch(/^n\d$/);
      expect(await page.locator('#map [data-map-subtree="/a"]').count()).toBe(1);
      expect(await page.locator('#conn').textContent()).toBe('live');
      // Some load for the charts.
      for (let i = 0; i < 20; i++) await fs.create(`/a/b/f${i}`);
      await cluster.kill(old!);
      const next = page.locator(`#ministries tr[data-subtree="/"]:not([data-minister="${old}"]):not([data-minister=""])`);
      await next.waitFor({ timeout: 90_000 });
      const minister = await next.getAttribute('data-minister');
      expect(minister).not.toBe(old);
      expect((await cluster.status()).ministries.find((m) => m.subtree === '/')!.minister).toBe(minister);
      const failover = page.locator('#timeline li[data-kind="failover"]', { hasText: `minister ${minister} replaces ${old}` });
      await failover.first().waitFor({ timeout: 10_000 });
      await page.locator(`#nodes tr[data-node="${old}"][data-role="down"]`).waitFor({ timeout: 10_000 });
      const shots = process.env.GOVFS_SCREENSHOT === 'docs' ? resolve('docs') : mkdtempSync(join(tmpdir(), 'govfs-shot-'));
      if (shots !== resolve('docs')) dirs.push(shots);
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, 'web-view.png'), fullPage: true });
      expect(existsSync(join(shots, 'web-view.png'))).toBe(true);
    } finally {
      await browser?.close();
      await ops?.stop();
      await cluster.stop();
    }
  }, 240_000);
});
