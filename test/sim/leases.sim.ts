// Randomized lease runs: many clients (each on a host with its own drifting clock) open read,
// write and region leases on a few files while nodes crash and restart and links are cut. On
// every step: no two valid leases of different clients conflict (test/support/lease-invariant).
//
//   npm run sim -- leases --seeds 50

import { Cluster } from '../../src/cluster.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { LeaseInvariant } from '../support/lease-invariant.js';

export const describe = 'leases under crashes, partitions and bounded clock drift; the no-conflict invariant on every step';

export async function runLeases(seed: number, opts: { clients?: number; rounds?: number; driftPpm?: number } = {}): Promise<{ violations: string[]; granted: number; checks: number; faults: number }> {
  const r = new SeededRandom(seed, 91);
  // Clocks drift by up to 1% (10 ms over a 1 s lease, each way); leases allow 50 ms.
  const cluster = await Cluster.start({ nodes: 5, seed, leaseTtlMs: 1_000, leaseDriftMs: 50, maxDriftPpm: opts.driftPpm ?? 10_000, network: { minLatencyMs: 0.2, maxLatencyMs: 3 } });
  const inv = new LeaseInvariant(cluster);
  await cluster.client().create('/f1');
  await cluster.client().create('/f2');
  let granted = 0;
  let faults = 0;
  let running = opts.clients ?? 5;
  const clientHosts: string[] = [];
  const workers = Array.from({ length: running }, (_, i) => {
    const name = `c${i}`;
    clientHosts.push(name);
    const c = cluster.client({ host: name, clientId: name, requestTimeoutMs: 300, deadlineMs: 3_000 });
    inv.watch(c, name);
    return (async () => {
      for (let k = 0; k < (opts.rounds ?? 8); k++) {
        const path = r.next() < 0.5 ? '/f1' : '/f2';
        const mode = r.next() < 0.5 ? 'read' : 'write';
        const whole = r.next() < 0.4;
        const s = r.int(0, 3) * 100;
        try {
          const h = await c.open(path, { mode, range: whole ? undefined : [s, s + r.int(1, 3) * 100], deadlineMs: 2_000 });
          granted++;
          await cluster.runFor(r.int(10, 900));
          await h.release();
        } catch {
          // EBUSY, ETIMEDOUT, EAGAIN...: fine, the invariant is what matters
        }
        await cluster.runFor(r.int(0, 100));
      }
      running--;
    })();
  });
  const chaos = (async () => {
    const down = new Set<string>();
    while (running > 0) {
      await cluster.runFor(r.int(200, 700));
      faults++;
      const x = r.next();
      const ids = cluster.nodeIds;
      if (x < 0.25 && down.size < 2) {
        const id = ids[r.int(0, ids.length - 1)]!;
        if (!down.has(id)) {
          down.add(id);
          await cluster.kill(id);
        }
      } else if (x < 0.5 && down.size > 0) {
        const id = [...down][0]!;
        down.delete(id);
        await cluster.restart(id);
      } else if (x < 0.75) {
        const all = [...ids, ...clientHosts];
        const a = all.filter(() => r.next() < 0.3);
        cluster.partition(a, all.filter((h) => !a.includes(h)));
      } else {
        cluster.heal();
      }
    }
    cluster.heal();
  })();
  await Promise.all([...workers, chaos]);
  await cluster.stop();
  return { violations: inv.violations, granted, checks: inv.checks, faults };
}

export async function runSeed(seed: number): Promise<{ ok: boolean; error?: string; detail?: string }> {
  try {
    const run = await runLeases(seed);
    if (run.violations.length > 0) return { ok: false, error: run.violations.join('; ') };
    return { ok: true, detail: `${run.granted} leases, ${run.faults} faults, ${run.checks} checks` };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
