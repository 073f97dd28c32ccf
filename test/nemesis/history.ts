// The nemesis's clients and the history they write. Each client is a `connect()` client over
// every node, doing one namespace operation at a time on a few small directories spread over
// the ministries; every invocation and completion is recorded with the process's monotonic
// clock (ms since the run began, what the checker orders by) and the wall clock.
//
// Outcomes: ok; fail (an error the namespace gives: the operation certainly did not change
// anything); unknown (a timeout, an unreachable cluster, EIO...: it may have applied, or not,
// so its return is taken as +∞ by the checker).

import { performance } from 'node:perf_hooks';
import { connect, type RemoteGovClient } from '../../src/index.js';
import type { NsInput, NsOutput } from '../support/namespace-model.js';

export type Outcome = 'ok' | 'fail' | 'unknown';

export interface HistoryOp {
  id: number;
  client: string;
  input: NsInput;
  /** Linearizable read (asks the minister) or a plain one (session guarantees only). */
  linearizable?: boolean;
  outcome: Outcome | 'pending';
  output?: NsOutput;
  /** Monotonic ms since the run began. */
  call: number;
  ret?: number;
  wallCall: number;
  wallRet?: number;
  /** The error's code and message, for fail and unknown. */
  error?: string;
}

/** Errors that are the namespace's answer: the operation did not apply. */
const DEFINITE = new Set(['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EXDEV', 'EINVAL']);

export class History {
  readonly ops: HistoryOp[] = [];
  private readonly t0 = performance.now();

  now(): number {
    return performance.now() - this.t0;
  }

  invoke(client: string, input: NsInput, linearizable?: boolean): HistoryOp {
    const op: HistoryOp = { id: this.ops.length, client, input, outcome: 'pending', call: this.now(), wallCall: Date.now() };
    if (linearizable !== undefined) op.linearizable = linearizable;
    this.ops.push(op);
    return op;
  }

  ok(op: HistoryOp, value?: unknown): void {
    op.ret = this.now();
    op.wallRet = Date.now();
    op.outcome = 'ok';
    op.output = value === undefined ? { ok: true } : { ok: true, value };
  }

  failed(op: HistoryOp, e: unknown): void {
    op.ret = this.now();
    op.wallRet = Date.now();
    const code = (e as { code?: unknown }).code;
    op.error = `${typeof code === 'string' ? code : 'ERROR'}: ${(e as Error).message ?? String(e)}`.slice(0, 300);
    if (typeof code === 'string' && DEFINITE.has(code)) {
      op.outcome = 'fail';
      op.output = { ok: false, code };
    } else op.outcome = 'unknown';
  }

  /** Run `input` on `fs` and record it. */
  async run(client: string, fs: RemoteGovClient, input: NsInput, linearizable?: boolean): Promise<HistoryOp> {
    const op = this.invoke(client, input, linearizable);
    try {
      const value = await apply(fs, input, linearizable === true);
      this.ok(op, value);
    } catch (e) {
      this.failed(op, e);
    }
    return op;
  }
}

async function apply(fs: RemoteGovClient, input: NsInput, linearizable: boolean): Promise<unknown> {
  switch (input.op) {
    case 'mkdir':
      return fs.mkdir(input.path, { parents: input.parents === true });
    case 'create':
      return fs.create(input.path);
    case 'rm':
      return fs.rm(input.path);
    case 'rmdir':
      return fs.rmdir(input.path, { recursive: input.recursive === true });
    case 'rename':
      return fs.rename(input.from, input.to);
    case 'ls':
      return (await fs.ls(input.path, { linearizable })).map((e) => ({ name: e.name, kind: e.kind }));
    case 'stat':
      return { kind: (await fs.stat(input.path, { linearizable })).kind };
    case 'unmount':
      throw new Error('unmount is not a client call');
  }
}

/** A small seeded generator (mulberry32): the whole run's choices follow from one seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  /** A child generator (its own stream). */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 2 ** 32));
  }
}

export const FILE_NAMES = ['f0', 'f1', 'f2'];

/** The next random operation on directory `dir`. */
export function nextOp(rng: Rng, dir: string): { input: NsInput; linearizable?: boolean } {
  const f = (): string => `${dir}/${rng.pick(FILE_NAMES)}`;
  const r = rng.next();
  if (r < 0.3) return { input: { op: 'create', path: f() } };
  if (r < 0.5) return { input: { op: 'rm', path: f() } };
  if (r < 0.6) return { input: { op: 'rename', from: f(), to: f() } };
  if (r < 0.75) return { input: { op: 'stat', path: f() }, linearizable: rng.next() < 0.5 };
  return { input: { op: 'ls', path: dir }, linearizable: rng.next() < 0.5 };
}

export interface Workload {
  /** Stop issuing operations; resolves when every client has finished its last one. */
  stop(): Promise<void>;
}

/** `clients` connect() clients, each doing operations on random `dirs` until stopped. */
export async function startWorkload(history: History, servers: string[], dirs: readonly string[], clients: number, rng: Rng, thinkMs = 10): Promise<Workload> {
  let running = true;
  const conns: RemoteGovClient[] = [];
  for (let i = 0; i < clients; i++) conns.push(await connect(servers, { deadlineMs: 15_000, requestTimeoutMs: 1_500, connectTimeoutMs: 1_500 }));
  const loops = conns.map(async (fs, i) => {
    const r = rng.fork();
    const name = `c${i}`;
    while (running) {
      const { input, linearizable } = nextOp(r, r.pick(dirs));
      const op = await history.run(name, fs, input, linearizable);
      // After an unknown outcome (a node that refuses everything answers at once), back off: a
      // burst of changes that may or may not have applied makes the check's search explode.
      const pause = op.outcome === 'unknown' ? r.int(300, 800) : r.int(0, thinkMs);
      if (pause > 0) await new Promise((res) => setTimeout(res, pause));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(conns.map((c) => c.close().catch(() => {})));
    },
  };
}
