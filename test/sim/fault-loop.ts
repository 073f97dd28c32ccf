// The kill / restart / cut-off schedule the balance sims share: every `gap` ms (drawn from the
// seed) one fault, until `until`; then everything healed and restarted. Each fault is logged
// in `faults` with its (virtual) time.

import type { Cluster } from '../../src/cluster.js';
import type { SeededRandom } from '../../src/runtime/random.js';

export async function killRestartCutOff(cluster: Cluster, r: SeededRandom, faults: string[], until: number, gap: readonly [number, number]): Promise<void> {
  const down = new Set<string>();
  while (cluster.now() < until) {
    await cluster.runFor(r.int(gap[0], gap[1]));
    const x = r.next();
    const t = cluster.now().toFixed(0);
    const ids = cluster.nodeIds;
    if (x < 0.3 && down.size === 0) {
      const id = ids[r.int(0, ids.length - 1)]!;
      faults.push(`${t} kill ${id}`);
      down.add(id);
      await cluster.kill(id);
    } else if (x < 0.6 && down.size > 0) {
      const id = [...down][0]!;
      down.delete(id);
      faults.push(`${t} restart ${id}`);
      await cluster.restart(id);
    } else if (x < 0.8) {
      // Cut one node off for a while.
      const id = ids[r.int(0, ids.length - 1)]!;
      faults.push(`${t} partition ${id}`);
      cluster.partition([id], ids.filter((n) => n !== id));
      await cluster.runFor(r.int(200, 800));
      faults.push(`${cluster.now().toFixed(0)} heal`);
      cluster.heal();
    }
  }
  cluster.heal();
  for (const id of down) await cluster.restart(id);
}
