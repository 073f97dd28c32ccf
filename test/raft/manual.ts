// A hand-driven cluster for unit tests: the test decides which message is delivered when.
// Each node has a shell that follows the Ready contract (persist, then send to the outbox,
// then apply, then advance).

import { RaftCore, type DurableState, type Entry, type RaftConfig, type RaftMessage, type Ready, type ReadState } from '../../src/raft/index.js';
import { Prng, Store, dec, enc } from './harness.js';

export { enc, dec };

export type ManualConfig = Partial<Omit<RaftConfig, 'id' | 'randomInt'>> & { seed?: number };

export class Manual {
  readonly cores = new Map<string, RaftCore>();
  readonly stores = new Map<string, Store>();
  readonly applied = new Map<string, Entry[]>();
  readonly readStates = new Map<string, ReadState[]>();
  readonly readies = new Map<string, Ready[]>();
  /** Sent and not yet delivered, in send order. */
  outbox: RaftMessage[] = [];
  /** Everything ever sent. */
  readonly sentLog: RaftMessage[] = [];
  private readonly cfgs = new Map<string, RaftConfig>();

  constructor(ids: string[], cfg: ManualConfig = {}, voters: string[] = ids) {
    for (const id of ids) this.add(id, cfg, voters);
  }

  add(id: string, cfg: ManualConfig = {}, voters: string[] = [], durable?: DurableState): RaftCore {
    const rng = new Prng((cfg.seed ?? 1) * 1000 + id.charCodeAt(0));
    const { seed: _seed, ...rest } = cfg;
    const config: RaftConfig = {
      id,
      group: 'g',
      mode: 'elected',
      voters,
      electionTicks: 10,
      heartbeatTicks: 1,
      ...rest,
      randomInt: (lo, hi) => rng.int(lo, hi),
    };
    this.cfgs.set(id, config);
    const store = new Store(config.group);
    if (durable) {
      store.hardState = { ...durable.hardState };
      store.entries = [...durable.entries];
      store.snapshot = durable.snapshot;
    }
    this.stores.set(id, store);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    this.readies.set(id, []);
    const core = new RaftCore(config, durable);
    this.cores.set(id, core);
    return core;
  }

  core(id: string): RaftCore {
    return this.cores.get(id)!;
  }

  /** Run the shell of `id` until it has nothing more to do. */
  process(id: string): void {
    const core = this.core(id);
    while (core.hasReady()) {
      const r = core.ready();
      this.readies.get(id)!.push(r);
      this.stores.get(id)!.persist(r);
      for (const m of r.messages) {
        this.outbox.push(m);
        this.sentLog.push(m);
      }
      if (r.wipe || r.snapshot) this.applied.set(id, []);
      this.applied.get(id)!.push(...r.committed);
      this.readStates.get(id)!.push(...r.readStates);
      core.advance(r);
    }
  }

  processAll(): void {
    for (const id of this.cores.keys()) this.process(id);
  }

  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick();
      this.process(id);
    }
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const id of this.cores.keys()) this.tick(id);
  }

  /** Deliver (in order) the queued messages that `pred` accepts; drop those `drop` accepts;
   * keep the rest queued. Returns what was delivered. */
  deliver(pred: (m: RaftMessage) => boolean = () => true, drop: (m: RaftMessage) => boolean = () => false): RaftMessage[] {
    const now = this.outbox;
    this.outbox = [];
    const done: RaftMessage[] = [];
    for (const m of now) {
      if (drop(m)) continue;
      if (!pred(m)) {
        this.outbox.push(m);
        continue;
      }
      const c = this.cores.get(m.to);
      done.push(m);
      if (!c) continue;
      c.step(m);
      this.process(m.to);
    }
    return done;
  }

  /** Deliver until nothing is in flight (messages `drop` accepts are lost). */
  settle(drop: (m: RaftMessage) => boolean = () => false, maxRounds = 100): void {
    for (let i = 0; i < maxRounds && this.outbox.length > 0; i++) this.deliver(() => true, drop);
  }

  /** Make `id` campaign (by ticking it past its election timeout) and settle. */
  elect(id: string): void {
    const core = this.core(id);
    for (let i = 0; i < 100 && core.softState().role === 'follower'; i++) this.tick(id);
    this.settle();
    if (core.softState().role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  /** Crash `id` (losing everything not persisted) and restart it from its store. */
  restart(id: string): RaftCore {
    const store = this.stores.get(id)!;
    const core = new RaftCore(this.cfgs.get(id)!, store.load(store.snapshot?.index ?? 0));
    this.cores.set(id, core);
    this.applied.set(id, []);
    this.outbox = this.outbox.filter((m) => m.from !== id);
    return core;
  }

  appliedData(id: string): string[] {
    return this.applied.get(id)!.filter((e) => e.kind === 0).map((e) => dec(e.data));
  }

  propose(id: string, value: string): number {
    const r = this.core(id).propose(enc(value));
    if (!r.ok) throw new Error(`propose on ${id}: ${r.message}`);
    this.process(id);
    return r.index;
  }

  sentOfType<T extends RaftMessage['type']>(type: T): Extract<RaftMessage, { type: T }>[] {
    return this.sentLog.filter((m): m is Extract<RaftMessage, { type: T }> => m.type === type);
  }
}
