// `npm run bench -- raft [--json] [--quick] [--threads N] [--proposers N] [--seconds S]`:
// committed entries/s and commit latency of one Raft group on the `threads` scheduler with
// lmdb storage (fsync on every commit: overlappingSync off), for 3- and 5-member groups, with
// one client proposing sequentially and with many concurrent proposers. Each member is a host
// (its own root actor and lmdb environment in a temp directory), placed round-robin on the
// worker threads. A proposal is answered once the leader has applied it (commit + apply).
//
// Beside it, the figure of the thesis's implementation: one entry per 75 ms heartbeat, about
// 13 committed entries/s per group. Goal (issue 10): >= 20,000 committed entries/s per group
// with batching, p50 <= 2 ms for a lone proposer.

import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThreadsScheduler } from '../src/runtime/threads.js';
import type { RaftNodeArgs } from '../test/raft/kv-node.js';

export const describe = 'Raft group on threads + lmdb (fsync): entries/s and commit latency, 3 and 5 members, 1 and many proposers, vs the thesis';

const FS_NAMES: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' };
const THESIS_ENTRIES_PER_SEC = 1000 / 75;
const GOAL_ENTRIES_PER_SEC = 20_000;
const GOAL_LONE_P50_MS = 2;

export interface RaftBenchRow {
  members: number;
  proposers: number;
  committed: number;
  seconds: number;
  entriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  vsThesis: number;
  /** Proposals refused (leadership moved during the run), retried at the new leader. */
  refused: number;
}

export interface RaftBenchResult {
  threads: number;
  storage: string;
  dir: string;
  fsType: string;
  thesisEntriesPerSec: number;
  goal: { entriesPerSec: number; loneP50Ms: number };
  rows: RaftBenchRow[];
  goalMet: { throughput: boolean; loneLatency: boolean };
}

interface StatusReply {
  role: string;
  leader: string;
  term: number;
  commit: number;
}
interface ProposeReply {
  ok: boolean;
  index: number;
  reason: string;
  leader: string;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function findLeader(sched: ThreadsScheduler, ids: string[], addresses: Record<string, string>, members: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const st = await Promise.all(ids.map((id) => sched.ask<StatusReply>(addresses[id]!, { type: 'govfs.raft.ClientStatus' }).catch(() => undefined)));
    const leader = st.find((s) => s?.role === 'leader');
    if (leader && st.filter((s) => s?.leader === leader.leader && s.term === leader.term).length > members / 2) return addresses[leader.leader]!;
    if (Date.now() > deadline) throw new Error(`no leader in the ${members}-member group within 10 s`);
    await sleep(20);
  }
}

async function group(sched: ThreadsScheduler, members: number, tag: string, baseDir: string): Promise<{ leader: string; ids: string[]; addresses: Record<string, string>; dirs: string[] }> {
  const ids = Array.from({ length: members }, (_, i) => `m${i + 1}`);
  const addresses: Record<string, string> = {};
  const threadOf = (i: number): number => i % sched.threads;
  ids.forEach((id, i) => (addresses[id] = `t${threadOf(i)}#/${tag}-${id}`));
  const dirs: string[] = [];
  for (const [i, id] of ids.entries()) {
    const dir = mkdtempSync(join(baseDir, `govfs-raft-bench-${tag}-${id}-`));
    dirs.push(dir);
    // 10 ms ticks, 50 ms heartbeats (the thesis: 75 ms), 300-600 ms election timeouts.
    const args: RaftNodeArgs = { id, voters: ids, peers: addresses, tickMs: 10, electionTicks: 30, heartbeatTicks: 5, snapshotEntries: 10_000 };
    await sched.spawnRoot(`${tag}-${id}`, { behaviour: 'govfs.raft.node', args }, { thread: threadOf(i), storageDir: dir });
  }
  // Wait for a leader that a majority follows.
  return { leader: await findLeader(sched, ids, addresses, members), ids, addresses, dirs };
}

const enc = new TextEncoder();

/** `proposers` closed-loop clients for `seconds` (after a warm-up); latency of each proposal. */
async function drive(
  sched: ThreadsScheduler,
  g: { leader: string; ids: string[]; addresses: Record<string, string> },
  proposers: number,
  seconds: number,
  warmupSeconds: number,
): Promise<{ committed: number; seconds: number; lat: number[]; refused: number }> {
  const lat: number[] = [];
  let committed = 0;
  let measuring = false;
  let stop = false;
  let failures = 0;
  const client = async (k: number): Promise<void> => {
    let i = 0;
    while (!stop) {
      const data = enc.encode(`k${k}-${i++ % 64}=${i}`);
      const t0 = performance.now();
      const r = await sched.ask<ProposeReply>(g.leader, { type: 'govfs.raft.ClientPropose', data }, 10_000);
      const t1 = performance.now();
      if (!r.ok) {
        // Leadership moved (or was lost under load): find the leader again.
        if (++failures > 10_000) throw new Error(`proposals refused: ${r.reason} (leader ${r.leader})`);
        if (r.leader && g.addresses[r.leader]) g.leader = g.addresses[r.leader]!;
        else g.leader = await findLeader(sched, g.ids, g.addresses, g.ids.length);
        continue;
      }
      if (measuring && !stop) {
        committed++;
        lat.push(t1 - t0);
      }
    }
  };
  const all = Array.from({ length: proposers }, (_, k) => client(k));
  await sleep(warmupSeconds * 1000);
  measuring = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  measuring = false;
  await Promise.all(all);
  lat.sort((a, b) => a - b);
  return { committed, seconds: elapsed, lat, refused: failures };
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<RaftBenchResult> {
  const quick = opts.quick === true;
  /** Where the lmdb environments go (default: the OS temp dir; e.g. --dir /dev/shm for tmpfs). */
  const baseDir = typeof opts.dir === 'string' ? opts.dir : tmpdir();
  const threads = Number(opts.threads ?? 2);
  const many = Number(opts.proposers ?? 256);
  const seconds = Number(opts.seconds ?? (quick ? 1.5 : 4));
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const sched = await ThreadsScheduler.start({ threads, modules: [new URL(`../test/raft/kv-node${ext}`, import.meta.url)] });
  const rows: RaftBenchRow[] = [];
  const allDirs: string[] = [];
  let fsType = 'unknown';
  try {
    const t = statfsSync(baseDir).type;
    fsType = FS_NAMES[t] ?? `0x${t.toString(16)}`;
  } catch {
    /* not essential */
  }
  try {
    for (const members of [3, 5]) {
      const g = await group(sched, members, `g${members}`, baseDir);
      allDirs.push(...g.dirs);
      for (const proposers of [1, many]) {
        const r = await drive(sched, g, proposers, seconds, quick ? 0.3 : 1);
        const entriesPerSec = r.committed / r.seconds;
        rows.push({
          members,
          proposers,
          committed: r.committed,
          seconds: r.seconds,
          entriesPerSec,
          p50Ms: quantile(r.lat, 0.5),
          p99Ms: quantile(r.lat, 0.99),
          vsThesis: entriesPerSec / THESIS_ENTRIES_PER_SEC,
          refused: r.refused,
        });
      }
      for (let i = 0; i < members; i++) await sched.stopRoot(`g${members}-m${i + 1}`, i % sched.threads);
    }
  } finally {
    await sched.stop();
    for (const d of allDirs) rmSync(d, { recursive: true, force: true });
  }
  const best = Math.min(...[3, 5].map((m) => Math.max(...rows.filter((r) => r.members === m).map((r) => r.entriesPerSec))));
  const lone = Math.max(...rows.filter((r) => r.proposers === 1).map((r) => r.p50Ms));
  return {
    threads,
    storage: 'lmdb (overlappingSync off: every commit fsyncs)',
    dir: baseDir,
    fsType,
    thesisEntriesPerSec: THESIS_ENTRIES_PER_SEC,
    goal: { entriesPerSec: GOAL_ENTRIES_PER_SEC, loneP50Ms: GOAL_LONE_P50_MS },
    rows,
    goalMet: { throughput: best >= GOAL_ENTRIES_PER_SEC, loneLatency: lone <= GOAL_LONE_P50_MS },
  };
}

export function format(r: RaftBenchResult): string {
  const head = ['members', 'proposers', 'committed/s', 'p50 ms', 'p99 ms', 'vs thesis'];
  const lines = r.rows.map((x) => [
    String(x.members),
    String(x.proposers),
    Math.round(x.entriesPerSec).toLocaleString('en-US'),
    x.p50Ms.toFixed(2),
    x.p99Ms.toFixed(2),
    `${Math.round(x.vsThesis).toLocaleString('en-US')}×`,
  ]);
  lines.push(['thesis', '-', `≈ ${r.thesisEntriesPerSec.toFixed(0)}`, '75 (1 entry / heartbeat)', '-', '1×']);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]) => cols.map((c, i) => c.padStart(widths[i]!)).join('  ');
  const out = [
    `Raft group on the threads scheduler (${r.threads} worker threads), ${r.storage}, storage in ${r.dir} (${r.fsType})`,
    '',
    fmt(head),
    fmt(widths.map((w) => '-'.repeat(w))),
    ...lines.map(fmt),
    '',
    `goal: ≥ ${r.goal.entriesPerSec.toLocaleString('en-US')} committed entries/s per group with batching — ${r.goalMet.throughput ? 'MET' : 'NOT MET'}`,
    `goal: p50 ≤ ${r.goal.loneP50Ms} ms for a lone proposer — ${r.goalMet.loneLatency ? 'MET' : 'NOT MET'}`,
  ];
  return out.join('\n');
}
