// Snapshots built off the actor thread (issue 19, point 4). Beside its state machine the shell
// keeps a view of the state that crosses threads cheaply: the bytes of the last snapshot
// (immutable) and the Normal entries applied since, packed into chunks as they are applied
// (one small copy per entry). To compact at index i it hands both over (the chunks transferred,
// not copied) to the state machine's replay task in ctx.pool, which restores the snapshot,
// replays the entries and returns the snapshot at i: the bytes snapshot() would give (snapshots
// are canonical). The actor thread goes on applying meanwhile; entries after i go to fresh
// chunks, whose base becomes the snapshot at i once the shell installs it. A restore or wipe
// starts the view over (a build begun before it is dropped), and a build that fails leaves the
// next snapshot to snapshot() on the thread, as without a replay task.
//
// Under the simulator ctx.pool runs the task inline, so a simulated run builds the same
// snapshot the same way, synchronously, at the same point of the run.

import { type WorkPool, registerPoolTask, runPoolTask } from '../runtime/work-pool.js';
import { encodeSnapshot, snapshotDataOffset } from './log-store.js';
import type { AppliedEntry, StateMachine } from './shell-types.js';
import type { Membership } from './types.js';

/** The input of a state machine's replay task (StateMachine.replay). */
export interface SnapshotReplay {
  /** StateMachine.replay.context (e.g. a ministry's root), for an empty base. */
  context: unknown;
  /** The snapshot the entries follow; empty: the initial state. */
  base: Uint8Array;
  baseIndex: number;
  /** Records [u32 data length][f64 index][f64 committedAt][data], little-endian, whole records
   * in each chunk, in log order. */
  chunks: Uint8Array[];
}

/** What the log records of a snapshot besides its data (RaftCore.snapshotMeta). */
export interface SnapshotMeta {
  term: number;
  membership: Membership;
}

/** The pool task the shell runs: the state machine's replay task, then the snapshot sealed as
 * it is stored (log-store.ts encodeSnapshot), so that neither the copy into the stored record
 * nor its checksum (a few ms for a few MB) is left to the actor thread. */
const RAFT_SNAPSHOT_TASK = registerPoolTask('govfs.raft.snapshot', (b: SnapshotJob): Uint8Array => {
  const replay = b.replay;
  if (b.cachedBase) {
    // The base is the snapshot this worker built last for this shell: kept here, not sent
    // (copying a snapshot of a few MB to send it cost the actor thread ~2 ms).
    const kept = builtHere.get(b.shell);
    if (kept === undefined || kept.index !== replay.baseIndex) throw new Error(`no snapshot at ${replay.baseIndex} kept for ${b.shell} in this worker`);
    replay.base = kept.data;
  }
  const data = runPoolTask(b.replayTask, replay) as Uint8Array;
  if (b.keep) builtHere.set(b.shell, { index: b.index, data });
  return encodeSnapshot({ index: b.index, term: b.meta.term, membership: b.meta.membership, data });
});

interface SnapshotJob {
  /** Which shell (unique in its thread, whose pool this worker serves). */
  shell: number;
  replayTask: string;
  replay: SnapshotReplay;
  /** replay.base is left out: it is the last snapshot this worker built for the shell. */
  cachedBase: boolean;
  /** Keep what is built for the shell's next job (not inline: nothing to save there). */
  keep: boolean;
  index: number;
  meta: SnapshotMeta;
}

/** In a pool worker: the last snapshot built for each shell. */
const builtHere = new Map<number, { index: number; data: Uint8Array }>();
let shells = 0;

/** A snapshot made: the state machine's data, and (built by the task) the stored record that
 * holds it, sealed for the index and meta it was built for. */
export interface MadeSnapshot {
  data: Uint8Array;
  sealed: Uint8Array | null;
  meta: SnapshotMeta | null;
}

/** The stored record a build returned, with its data (a view of it). */
export function madeFromSealed(sealed: Uint8Array, meta: SnapshotMeta): MadeSnapshot {
  return { data: sealed.subarray(snapshotDataOffset(sealed)), sealed, meta };
}

const RECORD_HEADER = 20;
const EMPTY = new Uint8Array(0);
const CHUNK_BYTES = 256 * 1024;

/** Each entry of a replay, in order (for replay tasks). */
export function forEachReplayEntry(r: SnapshotReplay, fn: (data: Uint8Array, index: number, committedAt: number) => void): void {
  for (const chunk of r.chunks) {
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < chunk.length; ) {
      const n = dv.getUint32(at, true);
      const index = dv.getFloat64(at + 4, true);
      const committedAt = dv.getFloat64(at + 12, true);
      fn(chunk.subarray(at + RECORD_HEADER, at + RECORD_HEADER + n), index, committedAt);
      at += RECORD_HEADER + n;
    }
  }
}

/** A snapshot begun off the thread: installed when its promise resolves, if `gen` is still the
 * view's (no restore or wipe since). */
export interface SnapshotBuild {
  index: number;
  gen: number;
  /** Entry bytes applied since the last snapshot when it began (what it covers). */
  bytes: number;
  meta: SnapshotMeta;
}

export class SnapshotMaker {
  private base: Uint8Array = new Uint8Array(0);
  private baseIndex = 0;
  /** The base is the last snapshot the pool built for this shell (and the pool keeps it). */
  private baseInPool = false;
  private readonly id = ++shells;
  private chunks: Uint8Array[] = [];
  private chunk: Uint8Array | null = null;
  private view: DataView | null = null;
  private pos = 0;
  /** The view holds every entry since its base (false after a failed build). */
  private whole = true;
  /** Bumped by every restore and wipe: a build of an older generation is dropped. */
  gen = 0;
  /** A build is in flight (one at a time). */
  building: SnapshotBuild | null = null;

  constructor(
    private readonly sm: StateMachine,
    private readonly pool: () => WorkPool,
  ) {}

  /** Off-thread builds are possible: the state machine has a replay task. */
  get offThread(): boolean {
    return this.sm.replay !== undefined;
  }

  /** The state is now the snapshot `data` at `index` (restored, wiped, or just taken). */
  reset(data: Uint8Array, index: number): void {
    this.gen++;
    this.building = null;
    this.rebase(data, index);
    this.baseInPool = false;
    this.chunks = [];
    this.chunk = null;
    this.whole = true;
  }

  private rebase(data: Uint8Array, index: number): void {
    this.base = data;
    this.baseIndex = index;
  }

  /** A Normal entry was applied: keep its bytes for the next build. */
  applied(e: AppliedEntry): void {
    if (!this.offThread || !this.whole) return;
    const n = e.data.length;
    if (this.chunk === null || this.chunk.length - this.pos < RECORD_HEADER + n) this.newChunk(RECORD_HEADER + n);
    const dv = this.view!;
    dv.setUint32(this.pos, n, true);
    dv.setFloat64(this.pos + 4, e.index, true);
    dv.setFloat64(this.pos + 12, e.committedAt, true);
    this.chunk!.set(e.data, this.pos + RECORD_HEADER);
    this.pos += RECORD_HEADER + n;
  }

  private newChunk(atLeast: number): void {
    this.sealChunk();
    this.chunk = new Uint8Array(Math.max(CHUNK_BYTES, atLeast));
    this.view = new DataView(this.chunk.buffer);
    this.pos = 0;
  }

  private sealChunk(): void {
    if (this.chunk !== null && this.pos > 0) this.chunks.push(this.chunk.subarray(0, this.pos));
    this.chunk = null;
    this.view = null;
    this.pos = 0;
  }

  /** Half-way to the next snapshot: let the pool start its workers now rather than then. */
  approaching(): void {
    if (this.offThread) this.pool().warm();
  }

  /** The snapshot at `index` (the last applied), now (snapshot() on the thread, or the replay
   * task of an inline pool) or, off the thread, as a promise of the sealed record (then
   * `building` is set). `meta`: the log's term and membership at `index`. */
  make(index: number, bytes: number, meta: SnapshotMeta): MadeSnapshot | Promise<Uint8Array> {
    const replay = this.sm.replay;
    if (replay === undefined || !this.whole) return { data: this.sm.snapshot(), sealed: null, meta: null };
    this.sealChunk();
    const input: SnapshotReplay = { context: replay.context, base: this.base, baseIndex: this.baseIndex, chunks: this.chunks };
    this.chunks = [];
    const pool = this.pool();
    const job: SnapshotJob = { shell: this.id, replayTask: replay.task.name, replay: input, cachedBase: false, keep: !pool.inline, index, meta };
    if (pool.inline) return madeFromSealed(pool.run(RAFT_SNAPSHOT_TASK, job) as Uint8Array, meta);
    // The chunks go over as they are (this side forgets them). The base is the pool's own last
    // build, or else copied, since it stays this view's base until the new one is installed.
    const transfer = [...new Set(input.chunks.map((c) => c.buffer as ArrayBuffer))];
    if (this.baseInPool) {
      input.base = EMPTY;
      job.cachedBase = true;
    } else if (this.base.length > 0) {
      input.base = this.base.slice();
      transfer.push(input.base.buffer as ArrayBuffer);
    }
    this.building = { index, gen: this.gen, bytes, meta };
    return pool.run(RAFT_SNAPSHOT_TASK, job, transfer) as Promise<Uint8Array>;
  }

  /** The state machine's state at the last applied entry, for a copy (a backup): built by its
   * replay task from copies of the base and the entries since (the view keeps its own, for the
   * next snapshot), in the pool; on the thread (snapshot()) when no replay can be built: no
   * replay task, a view that lost entries, or a build in flight (it took the entries). */
  copy(): Uint8Array | Promise<Uint8Array> {
    const replay = this.sm.replay;
    if (replay === undefined || !this.whole || this.building !== null) return this.sm.snapshot();
    const chunks = this.chunks.map((c) => c.slice());
    if (this.chunk !== null && this.pos > 0) chunks.push(this.chunk.slice(0, this.pos));
    const input: SnapshotReplay = { context: replay.context, base: this.base.slice(), baseIndex: this.baseIndex, chunks };
    const pool = this.pool();
    if (pool.inline) return pool.run(replay.task, input) as Uint8Array;
    const transfer = [...chunks.map((c) => c.buffer as ArrayBuffer), input.base.buffer as ArrayBuffer];
    return pool.run(replay.task, input, transfer) as Promise<Uint8Array>;
  }

  /** The snapshot at `index` is installed: it is the base of the entries applied since. */
  installed(data: Uint8Array, index: number): void {
    this.building = null;
    this.rebase(data, index);
    this.baseInPool = true;
    this.whole = true;
  }

  /** A build finished: true if it is to be installed (false: a restore or wipe came first, or
   * it failed, and then lost() was called). */
  finished(b: SnapshotBuild, ok: boolean): boolean {
    if (this.building !== b) return false;
    this.building = null;
    if (!ok) this.lost();
    return ok;
  }

  /** The entries that went to a build were not installed: the view no longer holds every entry
   * since its base, so the next snapshot is taken on the thread (which resets the view). */
  lost(): void {
    this.building = null;
    this.whole = false;
    this.chunks = [];
    this.chunk = null;
    this.view = null;
    this.pos = 0;
  }
}
