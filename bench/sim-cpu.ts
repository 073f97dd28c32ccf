// `npm run bench -- sim-cpu [--json] [--cycles N]`: CPU time per uncontended write-lease cycle
// (open + release) and per create, on the simulator: one thread, no rings, no fsync, so what is
// measured is the code of the roles, Raft, the wire and the runtime, and it moves far less with
// other work on the machine than the latencies of `bench leases` (on a loaded 2-core machine
// those swung 2-15 ms from run to run while these stayed within about 20%). The simulated time
// per cycle is printed too: it changes only when the protocol does (a hop, a timer, a commit).
// Three rounds after a warm-up; the last is the warmest. Compare commits by running it on each.

import { Cluster } from '../src/cluster.js';

export interface SimCpuRound {
  leaseCycleCpuUs: number;
  leaseCycleSimMs: number;
  createCpuUs: number;
  createSimMs: number;
}

export interface SimCpuResult {
  cycles: number;
  rounds: SimCpuRound[];
}

export const describe = 'CPU per write-lease cycle and per create on the simulator (load-robust; --cycles N)';

export async function run(o: Record<string, string | boolean | undefined>): Promise<SimCpuResult> {
  const cycles = typeof o.cycles === 'string' ? Number(o.cycles) : 500;
  const cluster = await Cluster.start({ nodes: 4, scheduler: 'sim', seed: 7 });
  try {
    const sim = cluster.sim!;
    const c = await cluster.client();
    await c.create('/sim-cpu');
    const cycle = async (): Promise<void> => (await c.open('/sim-cpu', { mode: 'write' })).release();
    for (let i = 0; i < cycles; i++) await cycle();
    const rounds: SimCpuRound[] = [];
    for (let r = 0; r < 3; r++) {
      const cpu0 = process.cpuUsage();
      const t0 = sim.now();
      for (let i = 0; i < cycles; i++) await cycle();
      const cpu1 = process.cpuUsage(cpu0);
      const t1 = sim.now();
      for (let i = 0; i < cycles; i++) await c.create(`/c${r}-${i}`);
      const cpu2 = process.cpuUsage(cpu0);
      rounds.push({
        leaseCycleCpuUs: (cpu1.user + cpu1.system) / cycles,
        leaseCycleSimMs: (t1 - t0) / cycles,
        createCpuUs: (cpu2.user + cpu2.system - cpu1.user - cpu1.system) / cycles,
        createSimMs: (sim.now() - t1) / cycles,
      });
    }
    return { cycles, rounds };
  } finally {
    await cluster.stop();
  }
}

export function format(r: unknown): string {
  const x = r as SimCpuResult;
  const lines = [`CPU on the simulator (4 nodes, ${x.cycles} of each per round; simulated time per operation beside it)`, 'round   lease open+release: CPU us   sim ms     create: CPU us   sim ms'];
  x.rounds.forEach((s, i) => lines.push(`${String(i + 1).padStart(5)}   ${s.leaseCycleCpuUs.toFixed(0).padStart(26)}   ${s.leaseCycleSimMs.toFixed(3).padStart(6)}   ${s.createCpuUs.toFixed(0).padStart(15)}   ${s.createSimMs.toFixed(3).padStart(6)}`));
  return lines.join('\n');
}
