// Randomized runs of the president's failover of a minister (issue 11), on the real code: the
// president (src/actors/president-core.ts) and the cluster log's state (cluster-state.ts) decide,
// the ministry members (src/actors/ministry.ts) obey. The minister is often not crashed but
// cut off from the president only (and from some of its clerks and clients), so that it keeps
// running and keeps taking changes while the president replaces it; the fence must stop it.
//
// Checked on every simulation step, over the root ministry's group log:
// - one minister per term;
// - committed entries never diverge: an index committed at any member holds the same entry at
//   every member that commits it (what two ministers acknowledged agrees);
// - a member that starts leading a term holds every entry committed before (the new minister
//   is the most up-to-date: the "highest commit index" rule breaks this);
// - once a minister of a later term has committed in its term, no minister of an earlier term
//   commits anything more (the old ministry was fenced before the new one served);
// - no client change applied twice.
// Checked by the clients, each on files only it touches: a create of a fresh name is never
// answered EEXIST, a file whose create was acknowledged is there for its owner's reads (plain
// ones: read your writes; and linearizable ones) and its rm, one whose rm was acknowledged is
// gone, and at the end a linearizable listing shows exactly the acknowledged state.
//
//   npm run sim -- president --seeds 50      one line per seed, replay with --seed S --verbose

import { Cluster } from '../../src/cluster.js';
import type { MinistryInspection } from '../../src/actors/ministry.js';
import { SeededRandom } from '../../src/runtime/random.js';

export const describe = "the president's failover of a minister that keeps running, cut off; fence, choice of the most up-to-date log and acknowledged changes checked on every step";

function inspect(cluster: Cluster, name: string): MinistryInspection | null {
  const host = cluster.sim!.host(name);
  if (!host.up) return null;
  const b = host.runtime.cells.get(`/${name}/role`)?.behaviour as { inspect?: () => MinistryInspection | null } | undefined;
  return b?.inspect?.() ?? null;
}

function isPresident(cluster: Cluster, name: string): boolean {
  const host = cluster.sim!.host(name);
  return host.up && host.runtime.cells.has(`/${name}/president`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The per-step checks over every ministry's group log. */
class GroupLogChecker {
  readonly violations: string[] = [];
  /** Per ministry: index -> the committed entry (term, bytes) first seen. */
  private readonly committed = new Map<string, Map<number, { term: number; data: Uint8Array; at: string }>>();
  /** Per ministry: highest index known committed. */
  private readonly maxCommitted = new Map<string, number>();
  /** Per member: highest index whose entry was compared. */
  private readonly checkedUpTo = new Map<string, number>();
  /** "ministry@term" -> leader seen. */
  private readonly leaders = new Map<string, string>();
  /** Per ministry: the highest term whose minister committed an entry of its own term. */
  private readonly servingTerm = new Map<string, number>();
  /** "node@ministry@term" -> commit index last seen while leading. */
  private readonly leaderCommit = new Map<string, number>();

  constructor(private readonly cluster: Cluster) {}

  private violate(msg: string): void {
    // The first few: one broken entry makes many.
    if (this.violations.length < 4 && !this.violations.includes(msg)) this.violations.push(msg);
  }

  step(): void {
    for (const name of this.cluster.nodeIds) {
      const info = inspect(this.cluster, name);
      if (!info) continue;
      if (info.duplicateApplies > 0) this.violate(`${name} applied a client change twice`);
      this.checkCommitted(name, info);
      if (info.leading) this.checkLeader(name, info);
    }
  }

  private checkCommitted(name: string, info: MinistryInspection): void {
    const key = `${name}@${info.ministry}`;
    let from = (this.checkedUpTo.get(key) ?? 0) + 1;
    if (info.commit < from) return;
    const entries = info.entries();
    const first = entries[0]?.index ?? info.commit + 1;
    let log = this.committed.get(info.ministry);
    if (!log) this.committed.set(info.ministry, (log = new Map()));
    from = Math.max(from, first);
    for (let i = from; i <= info.commit; i++) {
      const e = entries[i - first];
      if (!e) break;
      const seen = log.get(i);
      if (!seen) log.set(i, { term: e.term, data: e.data, at: name });
      else if (seen.term !== e.term || !sameBytes(seen.data, e.data)) {
        this.violate(`committed entries diverge in ministry ${info.ministry} at index ${i}: ${seen.at} committed term ${seen.term}, ${name} term ${e.term}`);
      }
    }
    this.checkedUpTo.set(key, info.commit);
    if (info.commit > (this.maxCommitted.get(info.ministry) ?? 0)) this.maxCommitted.set(info.ministry, info.commit);
  }

  private checkLeader(name: string, info: MinistryInspection): void {
    const key = `${info.ministry}@${info.term}`;
    const other = this.leaders.get(key);
    if (other === undefined) {
      this.leaders.set(key, name);
      // A new minister: it must hold every entry committed so far.
      const log = this.committed.get(info.ministry);
      const entries = info.entries();
      const first = entries[0]?.index ?? Infinity;
      const upTo = this.maxCommitted.get(info.ministry) ?? 0;
      for (let i = Math.max(1, first); log && i <= upTo; i++) {
        const seen = log.get(i);
        const e = entries[i - first];
        if (seen && (!e || e.term !== seen.term)) {
          this.violate(`${name}, minister of ${info.ministry} in term ${info.term}, lacks committed entry ${i} (term ${seen.term}, its log ends at ${first + entries.length - 1})`);
          break;
        }
      }
    } else if (other !== name) this.violate(`two ministers in ministry ${info.ministry} term ${info.term}: ${other} and ${name}`);
    // Fence: after a later minister committed in its term, an earlier one commits nothing.
    const entries = info.entries();
    const first = entries[0]?.index ?? 0;
    const ownTerm = entries[info.commit - first]?.term === info.term;
    const serving = this.servingTerm.get(info.ministry) ?? 0;
    if (ownTerm && info.term > serving) this.servingTerm.set(info.ministry, info.term);
    const ckey = `${name}@${key}`;
    const before = this.leaderCommit.get(ckey);
    if (before !== undefined && info.commit > before && info.term < serving) {
      this.violate(`${name}, minister of ${info.ministry} in term ${info.term}, committed index ${info.commit} after a minister of term ${serving} served (not fenced)`);
    }
    this.leaderCommit.set(ckey, info.commit);
  }
}

export interface PresidentRun {
  violations: string[];
  failovers: number;
  acked: number;
  faults: string[];
  steps: number;
}

export async function runPresident(seed: number, opts: { clients?: number; durationMs?: number } = {}): Promise<PresidentRun> {
  const r = new SeededRandom(seed, 53);
  // A president, a minister, 2 or 4 clerks and an idle node.
  const clerks = r.next() < 0.5 ? 2 : 4;
  // Half the seeds on a network that drops, duplicates and delays messages: a member then
  // often holds entries another one of the same commit index lacks.
  const lossy = r.next() < 0.5;
  const network = lossy ? { minLatencyMs: 0.1, maxLatencyMs: 5, tailProbability: 0.05, tailMs: 20, dropRate: 0.02, duplicateRate: 0.01 } : { minLatencyMs: 0.2, maxLatencyMs: 3 };
  // Half the seeds detect failures fast: more failovers per run.
  const fast: { probeMs?: number; failAfterMs?: number } = r.next() < 0.5 ? { probeMs: 25, failAfterMs: 200 } : {};
  const cluster = await Cluster.start({ nodes: clerks + 3, rootClerks: clerks, scheduler: 'sim', seed, network, ...fast });
  const sim = cluster.sim!;
  const checker = new GroupLogChecker(cluster);
  sim.checks.push(() => checker.step());
  const violations = checker.violations;
  const violate = (msg: string): void => {
    if (!violations.includes(msg)) violations.push(msg);
  };
  const faults: string[] = [];
  const t = (): string => cluster.now().toFixed(0);
  const minister = (): string | undefined => {
    let best: { name: string; term: number } | undefined;
    for (const name of cluster.nodeIds) {
      const info = inspect(cluster, name);
      if (info?.leading && (!best || info.term > best.term)) best = { name, term: info.term };
    }
    return best?.name;
  };
  const president = (): string | undefined => cluster.nodeIds.find((n) => isPresident(cluster, n));
  const ministerTerms = new Set<string>();
  sim.checks.push(() => {
    for (const name of cluster.nodeIds) {
      const info = inspect(cluster, name);
      if (info?.leading) ministerTerms.add(`${info.ministry}@${info.term}`);
    }
  });

  // Clients, each on a host of its own (so links to them can be cut), on their own files.
  const nClients = opts.clients ?? 5;
  const clientHosts = Array.from({ length: nClients }, (_, i) => `c${i}`);
  const durationMs = opts.durationMs ?? 3_000;
  const end = cluster.now() + durationMs;
  /** Per file: 'present' / 'absent' once acknowledged, 'unknown' after an unknown outcome. */
  const files = new Map<string, 'present' | 'absent' | 'unknown'>();
  let acked = 0;
  const workers = clientHosts.map((host) => {
    const c = cluster.client({ host, clientId: host, requestTimeoutMs: 300, deadlineMs: 3_000 });
    let n = 0;
    const one = async (): Promise<void> => {
      const x = r.next();
      const mine = [...files.entries()].filter(([f, s]) => f.startsWith(`/${host}-`) && s !== 'unknown');
      const known = mine.length > 0 ? mine[r.int(0, mine.length - 1)]! : undefined;
      const code = (e: unknown): string => (e as { code?: string }).code ?? 'EIO';
      if (x < 0.5 || !known) {
        const f = `/${host}-${n++}`;
        files.set(f, 'unknown');
        try {
          await c.create(f);
          files.set(f, 'present');
          acked++;
        } catch (e) {
          if (code(e) === 'EEXIST') violate(`${t()} create ${f} of a fresh name answered EEXIST (applied twice?)`);
        }
        return;
      }
      const [f, state] = known;
      if (x < 0.65 && state === 'present') {
        files.set(f, 'unknown');
        try {
          await c.rm(f);
          files.set(f, 'absent');
          acked++;
        } catch (e) {
          if (code(e) === 'ENOENT') violate(`${t()} rm ${f} after its acknowledged create: ENOENT (the create was lost)`);
        }
        return;
      }
      const linearizable = r.next() < 0.5;
      // A change of this file that starts while the read is out (another op of the same
      // burst) may be ordered before it: judge only by a state that held all along (an rm
      // marks the file unknown when it starts).
      const held = (): boolean => files.get(f) === state;
      try {
        await c.stat(f, { linearizable });
        if (state === 'absent' && held()) violate(`${t()} ${linearizable ? 'linearizable ' : ''}stat ${f} after its acknowledged rm: still there`);
      } catch (e) {
        if (code(e) === 'ENOENT' && state === 'present' && held()) violate(`${t()} ${linearizable ? 'linearizable ' : ''}stat ${f} after its acknowledged create: ENOENT`);
      }
    };
    return (async () => {
      while (cluster.now() < end) {
        // Now and then several changes in flight at once.
        const burst = r.next() < 0.5 ? r.int(2, 6) : 1;
        await Promise.all(Array.from({ length: burst }, () => one()));
        await cluster.runFor(r.int(0, 20));
      }
    })();
  });

  // Faults, mostly aimed at the minister: cut off from the president (and perhaps from some
  // clerks and clients) while it keeps running, or crashed.
  // An armed fault happens at the first step where its condition holds (between two fault
  // loop turns it would mostly miss the moment).
  let armed: { when: () => boolean; fire: () => void } | null = null;
  sim.checks.push(() => {
    if (armed === null || !armed.when()) return;
    const fire = armed.fire;
    armed = null;
    fire();
  });
  const ministerTerm = (): number => {
    const m = minister();
    return (m === undefined ? null : inspect(cluster, m))?.term ?? 0;
  };
  /** Some member lacks an entry the minister has committed while its commit index is as high
   * as that of a member holding it: "the highest commit index" and "the most up-to-date log"
   * then name different members. */
  const lagging = (): boolean => {
    const m = minister();
    const mi = m === undefined ? null : inspect(cluster, m);
    if (!mi) return false;
    const others = cluster.nodeIds.filter((n) => n !== m).map((n) => inspect(cluster, n)).filter((o): o is MinistryInspection => o !== null && o.ministry === mi.ministry);
    const last = (o: MinistryInspection): number => o.entries().at(-1)?.index ?? 0;
    return others.some((a) => last(a) < mi.commit && others.some((b) => last(b) >= mi.commit && a.commit >= b.commit));
  };
  /** Wait (up to 1.5 s) for a minister of a later term: no heal undoes the failover. Now and
   * then the new minister is cut off the moment it starts, before it copied its log to anyone
   * (the entries only it and members that did not answer hold must survive that too). */
  const playOut = async (): Promise<void> => {
    const term = ministerTerm();
    if (r.next() < 0.35) {
      armed = {
        when: () => ministerTerm() > term,
        fire: () => {
          const m = minister()!;
          faults.push(`${t()} isolate the new minister ${m} at once`);
          cluster.partition([m], cluster.nodeIds.filter((id) => id !== m));
        },
      };
      await cluster.waitFor(() => armed === null, 1_500);
      armed = null;
    }
    const now = ministerTerm();
    await cluster.waitFor(() => ministerTerm() > now, 1_500);
  };
  /** Most of the time, wait (up to 500 ms) for the lagging moment to do `then`. */
  const atWorstMoment = async (then: () => void, otherwise: () => void): Promise<void> => {
    if (r.next() < 0.3) return otherwise();
    armed = { when: lagging, fire: then };
    await cluster.waitFor(() => armed === null, 500);
    if (armed === null) return playOut();
    armed = null;
    otherwise();
  };
  const faultLoop = (async () => {
    const down = new Set<string>();
    while (cluster.now() < end) {
      await cluster.runFor(r.int(80, 300));
      const x = r.next();
      const m = minister();
      const p = president();
      const ids = cluster.nodeIds;
      if (x < 0.3 && m && p && m !== p) {
        const others = ids.filter((id) => id !== m && id !== p && r.next() < 0.25);
        const cutClients = clientHosts.filter(() => r.next() < 0.25);
        faults.push(`${t()} cut minister ${m} off from president ${p}${others.length + cutClients.length > 0 ? ` and ${[...others, ...cutClients].join(',')}` : ''}`);
        cluster.partition([m], [p, ...others, ...cutClients]);
        if (r.next() < 0.7) {
          // About when the president gives up on the minister, its likely successor (the
          // longest log, the lowest id first) loses it too: that clerk's last report is as
          // good as any, but the others keep taking entries until they are fenced.
          const detect = fast.failAfterMs ?? 400;
          const probe = fast.probeMs ?? 50;
          await cluster.runFor(detect - probe + r.next() * probe * 1.5);
          const still = ids
            .filter((id) => id !== m && id !== p && !others.includes(id))
            .map((id) => ({ id, info: inspect(cluster, id) }))
            // Members following the minister's current appointment.
            .filter((c) => c.info !== null && c.info.term === inspect(cluster, m)?.term)
            .sort((a, b) => (b.info!.entries().at(-1)?.index ?? 0) - (a.info!.entries().at(-1)?.index ?? 0) || (a.id < b.id ? -1 : 1));
          if (clerks === 4 && still.length >= 2 && minister() === m && r.next() < 0.7) {
            // Or the minister and two clerks split off together: a majority of the ministry
            // that the president still counts as answering for a moment.
            const side = [m, ...still.slice(-2).map((c) => c.id)];
            faults.push(`${t()} split ${side.join(',')} off from every other node`);
            cluster.partition(side, ids.filter((id) => !side.includes(id)));
          } else if (still.length > 0 && minister() === m) {
            faults.push(`${t()} cut minister ${m} off from ${still[0]!.id} too`);
            cluster.partition([m], [still[0]!.id]);
          }
        }
        // Often let the failover play out while the old minister still takes changes.
        if (r.next() < 0.6) await playOut();
      } else if (x < 0.42 && m) {
        // Cut off from every node, still running, some clients still reach it; often at the
        // worst moment (see lagging).
        const cutClients = clientHosts.filter(() => r.next() < 0.5);
        const cut = (why: string): void => {
          const now = minister() ?? m;
          faults.push(`${t()} isolate minister ${now} from every node${cutClients.length > 0 ? ` and ${cutClients.join(',')}` : ''}${why}`);
          cluster.partition([now], [...ids.filter((id) => id !== now), ...cutClients]);
        };
        await atWorstMoment(() => cut(' (at the worst moment)'), () => cut(''));
      } else if (x < 0.52 && m && down.size < 2) {
        const kill = (why: string): void => {
          const now = minister() ?? m;
          faults.push(`${t()} kill minister ${now}${why}`);
          down.add(now);
          void cluster.kill(now);
        };
        await atWorstMoment(() => kill(' (at the worst moment)'), () => kill(''));
      } else if (x < 0.63 && down.size < 2) {
        const id = ids.filter((n) => !down.has(n))[r.int(0, ids.length - 1 - down.size)]!;
        faults.push(`${t()} kill ${id}`);
        down.add(id);
        await cluster.kill(id);
      } else if (x < 0.76 && down.size > 0) {
        const id = [...down][r.int(0, down.size - 1)]!;
        down.delete(id);
        faults.push(`${t()} restart ${id}`);
        await cluster.restart(id);
      } else if (x < 0.8 && p) {
        faults.push(`${t()} isolate president ${p}`);
        cluster.partition([p], ids.filter((id) => id !== p));
      } else if (x < 0.86 && p) {
        // A clerk the president does not hear: it may hold entries the others lack.
        const clerk = ids.filter((id) => id !== p && id !== m)[r.int(0, ids.length - 3)]!;
        faults.push(`${t()} cut ${clerk} off from president ${p}`);
        cluster.partition([clerk], [p]);
      } else {
        faults.push(`${t()} heal`);
        cluster.heal();
      }
    }
    cluster.heal();
    for (const id of down) await cluster.restart(id);
  })();
  await Promise.all([...workers, faultLoop]);

  // Settle, then a linearizable listing must show exactly the acknowledged state.
  const reader = cluster.client({ clientId: 'final', requestTimeoutMs: 500, deadlineMs: 30_000 });
  try {
    const names = new Set((await reader.ls('/', { linearizable: true })).map((e) => `/${e.name}`));
    for (const [f, s] of files) {
      if (s === 'present' && !names.has(f)) violate(`acknowledged create of ${f} lost: not in the final listing`);
      if (s === 'absent' && names.has(f)) violate(`acknowledged rm of ${f} undone: in the final listing`);
    }
  } catch (e) {
    violate(`the ministry did not recover: final ls: ${(e as { code?: string }).code ?? (e as Error).message}`);
  }
  const run = { violations, failovers: ministerTerms.size, acked, faults, steps: sim.steps };
  await cluster.stop();
  return run;
}

export async function runSeed(seed: number, opts: { verbose: boolean } = { verbose: false }): Promise<{ ok: boolean; error?: string; detail?: string }> {
  try {
    const run = await runPresident(seed);
    if (opts.verbose) console.log(run.faults.join('\n'));
    if (run.violations.length > 0) return { ok: false, error: `invariant violated: ${run.violations.join('; ')}` };
    return { ok: true, detail: `${run.failovers} minister terms, ${run.acked} acknowledged changes, ${run.faults.length} faults, ${run.steps} steps` };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
