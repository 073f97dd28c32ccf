// A minister's re-replication (issue 17, point 4), wired to its ministry: what the repair shell
// (replica-repair.ts) sees of the cluster (members, leaving, removed), of the layouts and of the
// live write leases, every REPAIR_EVERY_MS of the minister's ticks; and the collection of
// copies no commit named (uncommitted-copies.ts).

import type { Context } from '../runtime/types.js';
import type { MinistryArgs } from './ministry-effects.js';
import type { MinistryNamespace } from './ministry-namespace.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_REPLICAS } from './layouts.js';
import { DEFAULT_LEASES } from './leases.js';
import type { ChunkDelete, ChunkReply } from '../data/messages.js';
import type { PlacedChunkMsg } from '../wire/log-codec.js';
import type { UncommittedCopies } from './uncommitted-copies.js';
import { isRepairMessage, replicaRepair, type RepairEnv, type ReplicaRepair } from './replica-repair.js';

/** (Each pass looks at every chunk of the ministry.) */
const REPAIR_EVERY_MS = 1_000;

export interface MinistryRepair {
  tick(ctx: Context): void;
  /** A repair message: true when it was one; `propose` gets the entry to log. */
  handle(ctx: Context, msg: unknown, propose: (entry: Uint8Array) => void): boolean;
  /** Chunks short of good replicas as last computed (undefined before the first plan). */
  short(): number | undefined;
  /** Chunks re-replicated so far (their swaps proposed). */
  repaired(): number;
  /** Uncommitted copies deleted so far. */
  collected(): number;
}

interface Collected {
  type: 'ministry.copy-collected';
  chunk: PlacedChunkMsg;
  ok: boolean;
}

export function ministryRepair(args: MinistryArgs, ns: MinistryNamespace, copies: UncommittedCopies, term: () => { ministry: string; term: number }): MinistryRepair {
  const { config } = args;
  let shell: ReplicaRepair | null = null;
  let last = -Infinity;
  let short: number | undefined;
  let collectedCopies = 0;
  let seq = 0;
  const addressOf = (node: string): string => config.addresses[node] ?? `${node}#/${node}`;

  /** Delete copies proposed long ago that no layout names (uncommitted-copies.ts). */
  const collect = (ctx: Context, chunks: RepairEnv['chunks'], now: number): void => {
    if (copies.pending === 0) return;
    const named = new Set<string>();
    for (const { chunk } of chunks) named.add(chunk.chunkId);
    for (const g of ns.layouts.garbage) named.add(g.chunkId);
    for (const c of copies.due(now, (id) => named.has(id))) {
      const deletes = c.replicas.map((n) =>
        ctx
          .ask<ChunkReply>(ctx.ref(`${addressOf(n)}/chunks`), { type: 'govfs.data.ChunkDelete', chunkId: c.chunkId, version: c.version } satisfies ChunkDelete, { timeoutMs: 2_000 })
          .then((r) => r.type === 'govfs.data.ChunkDeleted', () => false),
      );
      ctx.pipeToSelf(
        Promise.all(deletes),
        (oks): Collected => ({ type: 'ministry.copy-collected', chunk: c, ok: oks.every(Boolean) }),
        (): Collected => ({ type: 'ministry.copy-collected', chunk: c, ok: false }),
      );
    }
  };

  const env = (now: number): RepairEnv & { chunks: { ino: number; chunk: PlacedChunkMsg }[] } => {
    const cluster = args.clusterState();
    const nodes = [...new Set([...cluster.nodes, ...cluster.joined.keys()])].filter((n) => !cluster.removed.has(n)).sort();
    const drift = config.leaseDriftMs ?? DEFAULT_LEASES.maxDriftMs;
    // Ranges of files a write lease may be writing now: their chunks wait.
    const busy = new Map<number, [number, number][]>();
    for (const l of ns.leases.leases.values()) {
      if (ns.leases.validUntil(l, drift) <= now) continue;
      const st = ns.fileStat(l.path);
      if (st?.kind !== 'file') continue;
      let r = busy.get(st.ino);
      if (!r) busy.set(st.ino, (r = []));
      r.push([l.start, l.end]);
    }
    const { ministry, term: t } = term();
    const chunks = [...ns.layouts.allChunks()];
    const stem = `${ministry}-${t}-r${Math.floor(now).toString(36)}`.replace(/[^A-Za-z0-9._-]/g, '_');
    return {
      chunks,
      nodes,
      leaving: cluster.leaving,
      wanted: config.chunkReplicas ?? DEFAULT_CHUNK_REPLICAS,
      chunkBytes: config.chunkBytes ?? DEFAULT_CHUNK_BYTES,
      busy: (ino, index) => {
        const ranges = busy.get(ino);
        if (!ranges) return false;
        const cs = ns.layouts.layout(ino, 0, 0).chunkSize;
        return ranges.some(([s, e]) => s < (index + 1) * cs && e > index * cs);
      },
      newId: (ino, index) => `${stem}${(++seq).toString(36)}-${ino}-${index}`,
      ...(config.hosts && { hostOf: (n: string) => config.hosts![n] ?? n }),
      token: ns.leases.token,
    };
  };

  return {
    tick(ctx) {
      const now = ctx.clock.now();
      if (now - last < REPAIR_EVERY_MS) return;
      last = now;
      const e = env(now);
      // A ministry with no file contents probes no store (nor adds messages to other sims).
      if (e.chunks.length === 0 && copies.pending === 0) {
        short = 0;
        return;
      }
      shell ??= replicaRepair(addressOf, config.repair ?? {}, now, copies);
      shell.tick(ctx, e);
      short = shell.core.short(e, now);
      collect(ctx, e.chunks, now);
    },
    handle(ctx, msg, propose) {
      if ((msg as { type?: unknown } | null)?.type === 'ministry.copy-collected') {
        const m = msg as Collected;
        if (m.ok) collectedCopies++;
        else copies.retry(m.chunk, ctx.clock.now());
        return true;
      }
      if (!isRepairMessage(msg)) return false;
      const entry = shell?.handle(ctx, msg) ?? null;
      if (entry) propose(entry);
      return true;
    },
    short: () => short,
    repaired: () => shell?.core.repaired ?? 0,
    collected: () => collectedCopies,
  };
}
