// Randomized data-plane runs (issue 17): writers and readers on overlapping ranges of two files
// under write and read leases (whole files and regions), while nodes (chunk stores, ministers,
// the president) crash and restart and clients are cut off past their leases; messages are
// lost and duplicated, fsyncs are slow; a crash loses the writes a disk had not synced
// (SimStorage.crash), and bits flip in stored chunk blocks (at most one replica of a chunk
// damaged at a time, so a good copy always exists). Every write stamps its bytes with its own value, so a
// read's bytes say which write they came from. Checked:
//   - each byte a read returns is that of the latest write acknowledged before the read began,
//     or of a write begun after that one was acknowledged (concurrent with the read, or one
//     that failed part-way: it may or may not have landed); never an older write's, which is
//     what a write accepted with a stale fencing token (a cut-off writer's) would leave;
//   - no write is acknowledged after a write of overlapping bytes under a newer lease (a
//     newer token) was: its writer was stale by then (staleAcks);
//   - at the end, with every node back and then any one node lost, each file reads as that
//     rule allows at that moment (every acknowledged write survives a single node loss);
//   - re-replication restores the replica count: once faults stop, within RESTORE_MS, every
//     chunk of every file has three replicas that read back sound (no damaged block, the
//     layout's version); again after the final node loss, on the nodes left.
//
// Writes reach the replicas in parallel or pipelined down a chain (DataReplication): by default
// even seeds run pipelined and odd ones parallel, so any run of seeds covers both;
// GOVFS_DATA_REPLICATION=parallel|pipelined runs every seed in one mode.
//
//   npm run sim -- data --seeds 40
//   GOVFS_DATA_REPLICATION=pipelined npm run sim -- data --seeds 40

import { Cluster } from '../../src/cluster.js';
import { SeedTree } from '../../src/runtime/random.js';
import type { GovClient } from '../../src/client/gov-client.js';
import { DATA_REPLICATIONS, type DataReplication } from '../../src/client/file-data.js';
import { staleAcks, type Write } from './data-check.js';

export const describe = 'file contents under leases while chunk stores and ministers crash; reads see the latest acknowledged write or a later one';

const CHUNK = 4096;
const FILE = 6 * CHUNK + 1000;
const FILES = ['/d1', '/d2'];
/** How long re-replication may take once faults stop (virtual ms): the store's scrub finding a
 * flipped bit (2 chunks a second), a lost node taken for down (2 s), the copies. */
const RESTORE_MS = 30_000;
const DOWN_AFTER_MS = 2_000;

/** What byte `i` of `file` may read as at a read over [start, end): the latest write acked
 * before `start` (initial 0), or any write begun after that ack and before `end`. */
function allowed(writes: readonly Write[], file: string, i: number, start: number, end: number): Set<number> {
  let latest: Write | null = null;
  for (const w of writes) {
    if (w.file !== file || i < w.offset || i >= w.offset + w.length || w.acked >= start) continue;
    if (latest === null || w.acked > latest.acked) latest = w;
  }
  const out = new Set<number>([latest?.value ?? 0]);
  const since = latest?.acked ?? -Infinity;
  for (const w of writes) {
    if (w.file === file && i >= w.offset && i < w.offset + w.length && w.start > since && w.start < end) out.add(w.value);
  }
  return out;
}

export interface DataRun {
  violations: string[];
  writes: number;
  acked: number;
  reads: number;
  readsOk: number;
  faults: number;
  flips: number;
  traceHash: string;
}

export interface DataSimOptions {
  clients?: number;
  rounds?: number;
  verbose?: boolean;
  /** Default: GOVFS_DATA_REPLICATION, else by seed (even: pipelined, odd: parallel). */
  replication?: DataReplication;
}

/** The replication mode a seed runs in (see the top). */
export function replicationOf(seed: number, opts: DataSimOptions): DataReplication {
  const env = process.env['GOVFS_DATA_REPLICATION'];
  if (opts.replication) return opts.replication;
  if (env !== undefined && env !== '') {
    if (!(DATA_REPLICATIONS as readonly string[]).includes(env)) throw new Error(`GOVFS_DATA_REPLICATION must be ${DATA_REPLICATIONS.join(' or ')}, got ${env}`);
    return env as DataReplication;
  }
  return seed % 2 === 0 ? 'pipelined' : 'parallel';
}

export async function runData(seed: number, opts: DataSimOptions = {}): Promise<DataRun> {
  const dataReplication = replicationOf(seed, opts);
  // Pipelined, a piece under dataChainMinBytes goes to the replicas at once: half the pipelined
  // seeds chain every piece (0), half only those of 2 KiB or more (of the 4 KiB chunks here).
  const dataChainMinBytes = seed % 4 === 0 ? 0 : 2048;
  const r = new SeedTree(seed).stream('data-sim:workload');
  const cluster = await Cluster.start({
    nodes: 5,
    seed,
    chunkBytes: CHUNK,
    leaseTtlMs: 1_000,
    leaseDriftMs: 50,
    repair: { downAfterMs: DOWN_AFTER_MS, orphanGraceMs: 6_000 },
    network: { minLatencyMs: 0.2, maxLatencyMs: 3, dropRate: r.next() * 0.02, duplicateRate: r.next() * 0.01 },
    fsync: { slowRate: r.next() * 0.05, slowMs: 1 + r.next() * 9 },
    maxSteps: 3_000_000,
    replay: `npm run sim -- data --seed ${seed}`,
  });
  const sim = cluster.sim!;
  const violations: string[] = [];
  const writes: Write[] = [];
  let reads = 0;
  let readsOk = 0;
  let nextValue = 1;
  const setup = cluster.client({ clientId: 'setup', deadlineMs: 60_000, dataReplication, dataChainMinBytes });
  // (A lease lost to a dropped renewal fails a write with ESTALE: the caller tries again.)
  const retry = async <T>(what: () => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await what();
      } catch (e) {
        if (i >= 8) throw e;
        await cluster.runFor(500);
      }
    }
  };
  for (const f of FILES) await retry(() => setup.writeFile(f, new Uint8Array(FILE)));

  const check = (file: string, offset: number, got: Uint8Array, start: number, end: number, what: string): void => {
    for (let k = 0; k < got.length; k++) {
      const ok = allowed(writes, file, offset + k, start, end);
      if (!ok.has(got[k]!)) {
        violations.push(`${what}: ${file} byte ${offset + k} read ${got[k]}, allowed ${[...ok].join('/')} (read over [${start.toFixed(1)}, ${end.toFixed(1)}])`);
        return;
      }
    }
  };

  let running = opts.clients ?? 4;
  const clientHosts: string[] = [];
  const workers = Array.from({ length: running }, (_, i) => {
    const name = `c${i}`;
    clientHosts.push(name);
    const c: GovClient = cluster.client({ host: name, clientId: name, requestTimeoutMs: 300, deadlineMs: 4_000, dataTimeoutMs: 400, dataReplication, dataChainMinBytes });
    return (async () => {
      for (let k = 0; k < (opts.rounds ?? 6); k++) {
        const file = FILES[r.int(0, FILES.length - 1)]!;
        const whole = r.next() < 0.5;
        const s = whole ? 0 : r.int(0, FILE - 1);
        const e = whole ? FILE : Math.min(FILE, s + r.int(1, 3 * CHUNK));
        const writing = r.next() < 0.55;
        try {
          const h = await c.open(file, { mode: writing ? 'write' : 'read', range: [s, whole ? Infinity : e], deadlineMs: 2_000 });
          const offset = r.int(s, e - 1);
          const length = r.int(1, e - offset);
          if (writing) {
            const w: Write = { value: nextValue++ % 250 || 250, file, offset, length, start: cluster.now(), acked: Infinity, token: h.lease.token };
            writes.push(w);
            try {
              await h.write(offset, new Uint8Array(length).fill(w.value));
              w.acked = cluster.now();
              if (opts.verbose) console.log(`${cluster.now().toFixed(1)} ${name} write ${w.value} ${file} [${offset}, ${offset + length}) start ${w.start.toFixed(1)} acked; lease token ${h.lease.token}`);
            } catch (e) {
              if (opts.verbose) console.log(`${cluster.now().toFixed(1)} ${name} write ${w.value} ${file} [${offset}, ${offset + length}) start ${w.start.toFixed(1)} FAILED ${(e as Error).message}`);
              // not acknowledged: it may or may not have landed (allowed() says which reads may see it)
            }
          } else {
            reads++;
            const start = cluster.now();
            try {
              // Every other read piece by piece (readPieces: in order, read ahead), the same bytes.
              let got: Uint8Array;
              if (reads % 2 === 0) got = await h.read(offset, length);
              else {
                const pieces: Uint8Array[] = [];
                for await (const p of h.readPieces(offset, length)) pieces.push(p);
                got = Buffer.concat(pieces);
              }
              readsOk++;
              check(file, offset, got, start, cluster.now(), `read by ${name}`);
            } catch {
              // a failed read returns nothing to check
            }
          }
          await cluster.runFor(r.int(0, 200));
          await h.close().catch(() => undefined);
        } catch {
          // EBUSY, ETIMEDOUT, EAGAIN, ESTALE...: fine, the reads' check is what matters
        }
        await cluster.runFor(r.int(0, 100));
      }
      running--;
    })();
  });

  let faults = 0;
  let flips = 0;
  const flipped = new Set<string>();
  /** Bit rot: a bit of a random stored block of a chunk not damaged before. */
  const flipBit = (): void => {
    const ids = cluster.nodeIds;
    const storage = sim.host(ids[r.int(0, ids.length - 1)]!).storage;
    const keys = [...storage.range({ start: 'chunks/b/', end: 'chunks/b0' })].map(([k]) => k).filter((k) => !flipped.has(k.split('/')[2]!));
    if (keys.length === 0) return;
    const key = keys[r.int(0, keys.length - 1)]!;
    if (storage.flipBit(key, r.int(0, 8 * CHUNK - 1))) {
      flipped.add(key.split('/')[2]!);
      flips++;
    }
  };
  const chaos = (async () => {
    const down = new Set<string>();
    while (running > 0) {
      await cluster.runFor(r.int(200, 700));
      faults++;
      const x = r.next();
      const ids = cluster.nodeIds;
      if (x < 0.3 && down.size === 0) {
        const id = ids[r.int(0, ids.length - 1)]!;
        down.add(id);
        await cluster.kill(id);
      } else if (x < 0.6 && down.size > 0) {
        const id = [...down][0]!;
        down.delete(id);
        await cluster.restart(id);
      } else if (x < 0.7) {
        flipBit();
      } else if (x < 0.85) {
        // A client cut off (as if paused) past its lease.
        const who = clientHosts[r.int(0, clientHosts.length - 1)]!;
        cluster.partition([who], [...ids, ...clientHosts.filter((h) => h !== who)]);
      } else {
        cluster.heal();
      }
    }
    cluster.heal();
    for (const id of down) await cluster.restart(id);
  })();
  await Promise.all([...workers, chaos]);

  violations.push(...staleAcks(writes));
  // Every node back: re-replication repairs what the faults left short.
  const last = cluster.client({ clientId: 'final', deadlineMs: 60_000, dataTimeoutMs: 400, dataReplication, dataChainMinBytes });
  const restored = async (without: string): Promise<void> => {
    let problem: string | null = null;
    for (let t = 0; t <= RESTORE_MS; t += 500) {
      problem = await shortOf(cluster, last, FILES, without);
      if (problem === null) return;
      await cluster.runFor(500);
    }
    violations.push(`re-replication did not restore the replica count within ${RESTORE_MS} ms of the faults stopping${without ? ` (${without} lost)` : ''}: ${problem}`);
  };
  await restored('');
  // Then any one node lost: each file must still read as allowed.
  const lost = cluster.nodeIds[r.int(0, cluster.nodeIds.length - 1)]!;
  await cluster.kill(lost);
  for (const f of FILES) {
    const start = cluster.now();
    try {
      const got = await retry(() => last.readFile(f));
      if (got.length !== FILE) violations.push(`final read of ${f}: ${got.length} bytes, want ${FILE}`);
      check(f, 0, got, start, cluster.now(), `final read with ${lost} lost`);
      // --verbose: each chunk's replicas and the values they hold.
      if (opts.verbose) {
        const l = (await cluster.drive(last.data['layout'](f, 'read'))) as { chunks: { index: number; chunkId: string; version: number; replicas: string[] }[] };
        for (const c of l.chunks) {
          const per = await Promise.all(c.replicas.map((n) => cluster.drive((last as unknown as { transport: { ask(n: string, m: object, t: number): Promise<unknown> } }).transport.ask(n, { type: 'govfs.fs.FsRequest', clientId: 'final', seq: 0, path: '', lastSeen: 0, linearizable: false, ticketTo: '', mutation: false, acked: 0, dataRead: { chunkId: c.chunkId, version: c.version, offset: 0, length: CHUNK } }, 400)).then((r) => { const x = r as { ok: boolean; dataRead?: { data: Uint8Array }; error?: { code: string } }; return x.ok ? `[${[...new Set(x.dataRead!.data)].join(',')}]` : x.error?.code; }, (e) => String(e).slice(0, 30))));
          console.log(`${f} chunk ${c.index} ${c.chunkId} v${c.version} ${c.replicas.map((n, i) => `${n}:${per[i]}`).join(' ')}`);
        }
      }
    } catch (e) {
      violations.push(`final read of ${f} with ${lost} lost failed: ${(e as Error).message}`);
    }
  }
  // And the chunks it held get three good replicas on the nodes left.
  await restored(lost);
  await cluster.stop();
  return { violations, writes: writes.length, acked: writes.filter((w) => w.acked < Infinity).length, reads, readsOk, faults, flips, traceHash: sim.traceHash };
}

/** What keeps a chunk of `files` short of three sound replicas (none on `without`), or null. */
async function shortOf(cluster: Cluster, c: GovClient, files: readonly string[], without: string): Promise<string | null> {
  const transport = (c as unknown as { transport: { ask(n: string, m: object, t: number): Promise<unknown> } }).transport;
  for (const f of files) {
    let l: { chunks: { index: number; chunkId: string; version: number; replicas: string[] }[] };
    try {
      l = (await cluster.drive(c.data['layout'](f, 'read'))) as typeof l;
    } catch (e) {
      return `layout of ${f}: ${(e as Error).message}`;
    }
    for (const ch of l.chunks) {
      if (new Set(ch.replicas).size !== 3 || ch.replicas.includes(without)) return `${f} chunk ${ch.index} ${ch.chunkId} v${ch.version} on ${ch.replicas.join(',')}`;
      for (const n of ch.replicas) {
        const req = { type: 'govfs.fs.FsRequest', clientId: 'final', seq: 0, path: '', lastSeen: 0, linearizable: false, ticketTo: '', mutation: false, acked: 0, dataRead: { chunkId: ch.chunkId, version: ch.version, offset: 0, length: CHUNK } };
        const a = (await cluster.drive(transport.ask(n, req, 400)).catch((e: unknown) => ({ ok: false, error: { code: String(e).slice(0, 40) } }))) as { ok: boolean; error?: { code: string } };
        // ENOENT: placed, never written (a hole) - a sound replica of nothing.
        if (!a.ok && a.error?.code !== 'ENOENT') return `${f} chunk ${ch.index} ${ch.chunkId} v${ch.version} on ${n}: ${a.error?.code ?? '?'}`;
      }
    }
  }
  return null;
}

export async function runSeed(seed: number, opts: DataSimOptions = {}): Promise<{ ok: boolean; error?: string; detail?: string }> {
  try {
    const run = await runData(seed, opts);
    if (run.violations.length > 0) return { ok: false, error: `${replicationOf(seed, opts)}: ${run.violations.slice(0, 3).join('; ')} (trace ${run.traceHash})` };
    return { ok: true, detail: `${replicationOf(seed, opts)}: ${run.acked}/${run.writes} writes acked, ${run.readsOk}/${run.reads} reads, ${run.faults} faults, ${run.flips} bit flips (trace ${run.traceHash})` };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
