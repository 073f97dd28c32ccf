// The minister's re-replication shell (issue 17, point 4): the I/O for ReplicaRepairCore.
//   - probes: every PROBE_EVERY_MS each member's chunk store is asked for a page of its chunks
//     (ChunkList, walking the store a page per probe). An answer says the store is up; a chunk
//     it flagged for repair (a block failed its checksum) is reported damaged;
//   - jobs: each job the core plans is copied piece by piece from a good replica (the old
//     version) to every replica of the new chunk (the next version, written with the ministry's
//     newest fencing token), then the swap is proposed as a ReplaceReplica entry. The old chunk
//     becomes garbage when it applies (chunk-gc.ts deletes it).

import type { Context } from '../runtime/types.js';
import type { ChunkListing, ChunkReply } from '../data/messages.js';
import type { PlacedChunkMsg } from '../wire/log-codec.js';
import { MinistryNamespace } from './ministry-namespace.js';
import type { UncommittedCopies } from './uncommitted-copies.js';
import { ReplicaRepairCore, type RepairJob, type RepairOptions, type RepairView } from './replica-repair-core.js';

export const PROBE_EVERY_MS = 1_000;
const PROBE_PAGE = 256;
const ASK_MS = 2_000;
/** Bytes copied per request (under what one message carries comfortably). */
const COPY_PIECE = 192 * 1024;

interface ProbeDone {
  type: 'ministry.repair-probe';
  node: string;
  listing: ChunkListing | null;
}

interface JobDone {
  type: 'ministry.repair-done';
  job: RepairJob;
  ok: boolean;
  damaged: string[];
}

export type RepairMessage = ProbeDone | JobDone;

export const isRepairMessage = (m: unknown): m is RepairMessage => {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'ministry.repair-probe' || t === 'ministry.repair-done';
};

/** What the shell needs of the ministry on a tick. */
export interface RepairEnv extends RepairView {
  /** The ministry's newest fencing token: the copies carry it (ReplaceReplica's token). */
  token: number;
}

export interface ReplicaRepair {
  readonly core: ReplicaRepairCore;
  /** On the minister's tick: probe stores, start jobs. */
  tick(ctx: Context, env: RepairEnv): void;
  /** A probe or job came back: the ReplaceReplica entry to propose, if any. */
  handle(ctx: Context, m: RepairMessage): Uint8Array | null;
}

export function replicaRepair(addressOf: (node: string) => string, opts: RepairOptions, now: number, copies: UncommittedCopies): ReplicaRepair {
  const core = new ReplicaRepairCore(opts, now);
  const probing = new Set<string>();
  const cursor = new Map<string, string>();
  const tokens = new Map<RepairJob, number>();
  let lastProbe = -Infinity;
  const store = (ctx: Context, node: string) => ctx.ref(`${addressOf(node)}/chunks`);

  const probe = (ctx: Context, nodes: readonly string[]): void => {
    for (const node of nodes) {
      if (probing.has(node)) continue;
      probing.add(node);
      const ask = ctx.ask<ChunkReply>(store(ctx, node), { type: 'govfs.data.ChunkList', after: cursor.get(node) ?? '', limit: PROBE_PAGE }, { timeoutMs: ASK_MS });
      ctx.pipeToSelf(
        ask,
        (r): ProbeDone => ({ type: 'ministry.repair-probe', node, listing: r.type === 'govfs.data.ChunkListing' ? r : null }),
        (): ProbeDone => ({ type: 'ministry.repair-probe', node, listing: null }),
      );
    }
  };

  return {
    core,
    tick(ctx, env) {
      const now = ctx.clock.now();
      if (now - lastProbe >= PROBE_EVERY_MS) {
        lastProbe = now;
        probe(ctx, env.nodes);
      }
      for (const job of core.plan(env, now)) {
        tokens.set(job, env.token);
        copies.note(job.next, now);
        ctx.pipeToSelf(
          copy(ctx, (n) => store(ctx, n), job, env.token),
          (damaged): JobDone => ({ type: 'ministry.repair-done', job, ok: true, damaged }),
          (e): JobDone => ({ type: 'ministry.repair-done', job, ok: false, damaged: (e as CopyFailed).damaged ?? [] }),
        );
      }
    },
    handle(ctx, m) {
      const now = ctx.clock.now();
      if (m.type === 'ministry.repair-probe') {
        probing.delete(m.node);
        if (!m.listing) return null;
        core.heard(m.node, now);
        for (const c of m.listing.chunks) if (c.repair) core.reportBad(c.chunkId, m.node);
        const last = m.listing.chunks.at(-1);
        cursor.set(m.node, m.listing.more && last ? last.chunkId : '');
        return null;
      }
      const token = tokens.get(m.job) ?? 0;
      tokens.delete(m.job);
      core.finished(m.job, m.ok, now, m.damaged);
      if (!m.ok) return null;
      const refused = copies.refuseCommit(m.job.next.chunkId, now);
      if (refused !== null) {
        ctx.log.info(`re-replication of chunk ${m.job.old.chunkId} dropped: ${refused}`);
        return null;
      }
      ctx.log.info(`re-replicated chunk ${m.job.old.chunkId} v${m.job.old.version} (${m.job.why}) as ${m.job.next.chunkId} v${m.job.next.version} on ${m.job.next.replicas.join(',')}`);
      return MinistryNamespace.encodeLayout({ op: 'layout.replace', ino: m.job.ino, chunk: m.job.next, oldChunkId: m.job.old.chunkId, token });
    },
  };
}

class CopyFailed extends Error {
  constructor(
    message: string,
    readonly damaged: string[],
  ) {
    super(message);
  }
}

type StoreOf = (node: string) => ReturnType<Context['ref']>;

/** Copy the job's chunk from a good source to every replica of its new chunk; resolves with the
 * sources found damaged on the way. */
async function copy(ctx: Context, store: StoreOf, job: RepairJob, token: number): Promise<string[]> {
  const damaged: string[] = [];
  // At least one (empty) write: the new chunk exists, fenced, even if the old was never written.
  for (let at = 0; ; at += COPY_PIECE) {
    const piece = await readAny(ctx, store, job.old, job.sources, at, damaged);
    const data = piece?.data ?? new Uint8Array(0);
    const answers = await Promise.all(
      job.next.replicas.map((n) =>
        ctx
          .ask<ChunkReply>(store(n), { type: 'govfs.data.ChunkWrite', chunkId: job.next.chunkId, version: job.next.version, token, offset: at, data }, { timeoutMs: ASK_MS })
          .then((r) => r.type === 'govfs.data.ChunkWritten', () => false),
      ),
    );
    if (answers.some((ok) => !ok)) throw new CopyFailed(`copy of ${job.old.chunkId}: a new replica did not take it`, damaged);
    if (!piece || data.length === 0 || at + data.length >= piece.size) return damaged;
  }
}

/** A piece of chunk `c` from the first of `sources` that has it; null when none ever held it. */
async function readAny(ctx: Context, store: StoreOf, c: PlacedChunkMsg, sources: readonly string[], offset: number, damaged: string[]): Promise<{ data: Uint8Array; size: number } | null> {
  let missing = 0;
  for (const node of sources) {
    if (damaged.includes(node)) continue;
    const r = await ctx.ask<ChunkReply>(store(node), { type: 'govfs.data.ChunkRead', chunkId: c.chunkId, version: c.version, offset, length: COPY_PIECE }, { timeoutMs: ASK_MS }).catch(() => null);
    if (r?.type === 'govfs.data.ChunkData') return { data: r.data, size: r.size };
    if (r?.type === 'govfs.data.ChunkError' && r.code === 'ENOENT') missing++;
    if (r?.type === 'govfs.data.ChunkError' && r.code === 'EIO') damaged.push(node);
  }
  if (missing === sources.length) return null;
  throw new CopyFailed(`copy of ${c.chunkId}: no good replica could be read`, damaged);
}
