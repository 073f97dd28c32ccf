import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../src/cluster.js';
const dataDir = mkdtempSync(join(tmpdir(), 'govfs-lat-'));
const cluster = await Cluster.start({ nodes: 4, scheduler: 'threads', dataDir, threads: 2 });
const c = await cluster.client();
await c.mkdir('/x');
const q = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.floor(p * a.length)]!.toFixed(3);
const cr: number[] = [];
const t0 = performance.now();
let i = 0;
while (performance.now() - t0 < 4000) { const t = performance.now(); await c.create(`/x/f${i++}`); cr.push(performance.now() - t); }
console.log(`creates ${cr.length} p50 ${q(cr, .5)} p90 ${q(cr, .9)}`);
console.log(JSON.stringify((await cluster.status()).ministries.map(m => [m.subtree, m.minister, m.clerks])), (await cluster.status()).president);
await cluster.stop();
rmSync(dataDir, { recursive: true, force: true });
