// Randomized runs of membership changes (issue 20) on a whole cluster under faults: a node is
// added, then two are removed (by the seed: the president's own node, a minister, a clerk),
// then another is added, while clients create files in two ministries ("/" and "/a") and nodes
// crash, restart and are cut off.
//
// Checked on every simulation step, over the cluster log of every node still running (removed
// ones included):
// - at most one president (cluster log leader) per term;
// - a removed node is never counted in a quorum: once its removal is known committed, no leader
//   that has committed that far holds it in its configuration, and it never leads again.
// Checked at the end, after healing: every ministry serves again (a create in each succeeds),
// and a linearizable listing of each holds every acknowledged create (none lost).
//
//   npm run sim -- members --seeds 50      one line per seed, replay with --seed S --verbose

import { Cluster } from '../../src/cluster.js';
import type { ShellStatus } from '../../src/raft/index.js';
import { SeededRandom } from '../../src/runtime/random.js';

export const describe = 'nodes added and removed (the president, a minister, a clerk) under crashes and partitions; one president per term, removed nodes out of every quorum, acknowledged creates kept';

type Kind = 'president' | 'minister' | 'clerk';

function raftOf(cluster: Cluster, name: string): ShellStatus | null {
  const host = cluster.sim!.host(name);
  if (!host.up) return null;
  const b = host.runtime.cells.get(`/${name}`)?.behaviour as { inspectRaft?: () => ShellStatus | null } | undefined;
  return b?.inspectRaft?.() ?? null;
}

export async function runMembers(seed: number): Promise<{ violations: string[]; faults: string[]; acked: number; steps: number; removed: string[] }> {
  const r = new SeededRandom(seed);
  const cluster = await Cluster.start({
    nodes: 6,
    scheduler: 'sim',
    seed,
    ministries: [{ subtree: '/a', clerks: 1 }],
    network: { minLatencyMs: 0.2, maxLatencyMs: 2, dropRate: r.next() < 0.5 ? r.next() * 0.03 : 0 },
  });
  const sim = cluster.sim!;
  const violations: string[] = [];
  const violate = (v: string): void => {
    if (violations.length < 10) violations.push(`${Math.round(cluster.now())} ms: ${v}`);
  };
  const faults: string[] = [];
  const t = (): string => `${Math.round(cluster.now())} ms`;
  const everyId = new Set(cluster.nodeIds);
  // Removed node -> the index of a configuration entry at or after its removal, committed,
  // and the cluster term then.
  const removedAt = new Map<string, { index: number; term: number }>();
  const leaders = new Map<number, string>();
  sim.checks.push(() => {
    for (const name of everyId) {
      if (!sim.hostNames.includes(name)) continue;
      const s = raftOf(cluster, name);
      if (!s || s.role !== 'leader') continue;
      const prev = leaders.get(s.term);
      if (prev !== undefined && prev !== name) violate(`two presidents in cluster term ${s.term}: ${prev} and ${name}`);
      leaders.set(s.term, name);
      for (const [gone, at] of removedAt) {
        if (s.commit >= at.index && (s.membership.voters.includes(gone) || s.membership.learners.includes(gone))) violate(`leader ${name} (term ${s.term}, commit ${s.commit}) still counts removed ${gone}`);
        if (name === gone && s.term > at.term) violate(`removed ${gone} leads the cluster log in term ${s.term}`);
      }
    }
  });

  // Clients: each creates its own files in "/" and "/a"; acknowledged ones must stay.
  const acked = new Set<string>();
  let working = true;
  const workers = [1, 2].map(async (w) => {
    const fs = cluster.client({ clientId: `w${w}`, requestTimeoutMs: 300, deadlineMs: 3_000 });
    for (let i = 0; working; i++) {
      const path = `${i % 2 === 0 ? '' : '/a'}/w${w}-${i}`;
      try {
        await fs.create(path);
        acked.add(path);
      } catch {
        // Unavailable for a while (a failover, a crash): the create may or may not have
        // happened; only acknowledged ones are checked.
      }
      await cluster.runFor(r.int(5, 40));
    }
  });

  // Faults while the membership changes run: at most one node down and one cut off at a time.
  const down = new Set<string>();
  let changing = true;
  const faultLoop = (async () => {
    while (changing) {
      await cluster.runFor(r.int(100, 400));
      if (!changing) break;
      const ids = cluster.nodeIds.filter((id) => !down.has(id));
      const x = r.next();
      if (x < 0.25 && down.size === 0) {
        const id = ids[r.int(0, ids.length - 1)]!;
        faults.push(`${t()} kill ${id}`);
        down.add(id);
        await cluster.kill(id);
      } else if (x < 0.5 && down.size > 0) {
        const id = [...down][0]!;
        down.delete(id);
        if (!cluster.nodeIds.includes(id)) continue; // removed meanwhile: it stays down
        faults.push(`${t()} restart ${id}`);
        await cluster.restart(id);
      } else if (x < 0.7) {
        const id = ids[r.int(0, ids.length - 1)]!;
        faults.push(`${t()} cut ${id} off (the cut before healed)`);
        cluster.heal();
        cluster.partition([id], [...everyId].filter((n) => n !== id));
      } else {
        faults.push(`${t()} heal`);
        cluster.heal();
      }
    }
  })();

  const pick = async (kind: Kind): Promise<string> => {
    const st = await cluster.status();
    const ministry = st.ministries[r.int(0, st.ministries.length - 1)]!;
    // (The status may come from a node that has not heard of a removal yet: never pick a
    // removed node again.)
    const live = (id: string): boolean => cluster.nodeIds.includes(id);
    if (kind === 'president' && live(st.president)) return st.president;
    const clerks = ministry.clerks.filter(live);
    if (kind === 'clerk' && clerks.length > 0) return clerks[r.int(0, clerks.length - 1)]!;
    return live(ministry.minister) ? ministry.minister : cluster.nodeIds[r.int(0, cluster.nodeIds.length - 1)]!;
  };
  const kinds: Kind[] = ['president', 'minister', 'clerk'];
  const first = kinds[r.int(0, 2)]!;
  const second = kinds.filter((k) => k !== first)[r.int(0, 1)]!;
  const removed: string[] = [];
  const recordRemoval = (id: string): void => {
    for (const name of cluster.nodeIds) {
      const s = raftOf(cluster, name);
      if (s?.role === 'leader' && s.membershipIndex <= s.commit && !s.membership.voters.includes(id) && !s.membership.learners.includes(id)) {
        removedAt.set(id, { index: s.membershipIndex, term: s.term });
        return;
      }
    }
  };
  try {
    const added = await cluster.addNode();
    everyId.add(added);
    faults.push(`${t()} added ${added}`);
    for (const kind of [first, second]) {
      const id = await pick(kind);
      faults.push(`${t()} remove ${id} (${kind})`);
      try {
        await cluster.removeNode(id);
      } catch (e) {
        // Refused: it is the last member of its ministry and no node is idle to take over.
        if ((e as { code?: string }).code !== 'EBUSY') throw e;
        faults.push(`${t()} refused: ${(e as Error).message}`);
        continue;
      }
      removed.push(id);
      faults.push(`${t()} removed ${id}`);
      await cluster.waitFor(() => {
        recordRemoval(id);
        return removedAt.has(id);
      }, 5_000);
    }
    const again = await cluster.addNode();
    everyId.add(again);
    faults.push(`${t()} added ${again}`);
  } catch (e) {
    violate(`membership change failed: ${(e as Error).message}`);
  }
  changing = false;
  await faultLoop;
  cluster.heal();
  for (const id of down) if (cluster.nodeIds.includes(id)) await cluster.restart(id);
  working = false;
  await Promise.all(workers);

  // Every ministry serves again, and keeps every acknowledged create.
  const reader = cluster.client({ clientId: 'final', requestTimeoutMs: 500, deadlineMs: 30_000 });
  for (const dir of ['/', '/a']) {
    try {
      await reader.create(`${dir === '/' ? '' : dir}/final`);
      const names = new Set((await reader.ls(dir, { linearizable: true })).map((e) => `${dir === '/' ? '' : dir}/${e.name}`));
      for (const f of acked) if ((f.startsWith('/a/') ? '/a' : '/') === dir && !names.has(f)) violate(`acknowledged create of ${f} lost`);
    } catch (e) {
      violate(`the ministry of ${dir} did not serve again: ${(e as { code?: string }).code ?? (e as Error).message}`);
    }
  }
  if (violations.length > 0 && process.env.GOVFS_SIM_DEBUG) console.log(JSON.stringify(await cluster.status(), null, 1));
  const steps = sim.steps;
  await cluster.stop();
  return { violations, faults, acked: acked.size, steps, removed };
}

export async function runSeed(seed: number, opts: { verbose: boolean } = { verbose: false }): Promise<{ ok: boolean; error?: string; detail?: string }> {
  try {
    const run = await runMembers(seed);
    if (opts.verbose) console.log(run.faults.join('\n'));
    if (run.violations.length > 0) return { ok: false, error: `invariant violated: ${run.violations.join('; ')}` };
    return { ok: true, detail: `removed ${run.removed.join(', ')}; ${run.acked} acknowledged creates, ${run.faults.length} faults, ${run.steps} steps` };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
