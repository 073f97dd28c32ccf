// The asks of one location that wait for their reply: who waits for which correlation id, and
// when each one times out. Cut out of runtime.ts (issue 15, point 3).

import type { TypedMessage } from '../wire/registry.js';
import { AskTimeoutError, RuntimeError } from './errors.js';
import { IntTable } from './int-table.js';
import type { Cancel, Message } from './types.js';
import type { ActorCell, Dispatcher } from './runtime.js';

export interface PendingAsk {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  cell: ActorCell | null;
  target: string;
  timeoutMs: number;
  /** The reply may come as a RawMessage (AskOptions.raw). */
  raw: boolean;
}

/**
 * When pending asks time out: one timer for all of them, not one each. Almost every ask is
 * answered long before its deadline, and a timer per ask cost a timer-list insertion and
 * removal and about 0.4 KB that lived long enough to reach the old generation. Deadlines are
 * grouped into buckets `slackMs` wide (rounded up: an ask never times out early); an answered
 * ask's entry stays in its bucket and is skipped when the bucket comes due.
 */
class AskDeadlines {
  private readonly buckets = new Map<number, number[]>();
  /** Bucket times, ascending. */
  private readonly due: number[] = [];
  private armedAt = Infinity;
  private cancel: Cancel | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly slackMs: number,
    private readonly expire: (corr: number) => void,
  ) {}

  add(timeoutMs: number, corr: number): void {
    const deadline = this.dispatcher.now() + Math.max(0, timeoutMs);
    const at = this.slackMs > 0 ? Math.ceil(deadline / this.slackMs) * this.slackMs : deadline;
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(at, bucket);
      // Usually the latest: deadlines mostly grow with the clock.
      let i = this.due.length;
      while (i > 0 && this.due[i - 1]! > at) i--;
      this.due.splice(i, 0, at);
    }
    bucket.push(corr);
    if (at < this.armedAt) this.arm(at);
  }

  private arm(at: number): void {
    this.cancel?.();
    this.armedAt = at;
    this.cancel = this.dispatcher.schedule(Math.max(0, at - this.dispatcher.now()), this.fire);
  }

  private readonly fire = (): void => {
    this.cancel = undefined;
    this.armedAt = Infinity;
    const now = this.dispatcher.now();
    while (this.due.length > 0 && this.due[0]! <= now) {
      const at = this.due.shift()!;
      const bucket = this.buckets.get(at)!;
      this.buckets.delete(at);
      for (const corr of bucket) this.expire(corr);
    }
    if (this.due.length > 0) this.arm(this.due[0]!);
  };

  /** Is the shared deadline timer set (for the runtime's census)? */
  get armed(): boolean {
    return this.cancel !== undefined;
  }

  /** Forget every deadline (the runtime crashed or stopped). */
  clear(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.armedAt = Infinity;
    this.buckets.clear();
    this.due.length = 0;
  }
}

/** Pending asks by correlation id (an IntTable, not a Map: see int-table.ts). */
export class PendingAsks {
  private readonly pending = new IntTable<PendingAsk>();
  private readonly deadlines: AskDeadlines;

  constructor(private readonly dispatcher: Dispatcher) {
    this.deadlines = new AskDeadlines(dispatcher, dispatcher.askTimeoutSlackMs ?? 0, (corr) => {
      const p = this.pending.get(corr);
      if (p) this.fail(corr, new AskTimeoutError(p.target, p.timeoutMs));
    });
  }

  /** Is the one timer that times pending asks out set? */
  get timerArmed(): boolean {
    return this.deadlines.armed;
  }

  get size(): number {
    return this.pending.size;
  }

  wantsRaw(corr: number): boolean {
    return this.pending.get(corr)?.raw === true;
  }

  add(corr: number, ask: PendingAsk): void {
    this.pending.set(corr, ask);
    this.deadlines.add(ask.timeoutMs, corr);
    ask.cell?.asks.add(corr);
  }

  complete(corr: number, msg: Message): void {
    const p = this.take(corr);
    if (!p) return; // late reply to an ask that timed out or whose actor stopped
    const m = msg as TypedMessage;
    if (m && m.type === 'govfs.runtime.AskFailed') p.reject(new RuntimeError(String(m.code || 'EFAULT'), `ask to ${p.target} failed: ${String(m.message)}`));
    else p.resolve(msg);
    this.dispatcher.asyncPending();
  }

  fail(corr: number, error: unknown): void {
    const p = this.take(corr);
    if (!p) return;
    p.reject(error);
    this.dispatcher.asyncPending();
  }

  /** Fail every pending ask (the location crashed) and forget their deadlines. */
  failAll(error: unknown): void {
    for (const corr of this.pending.keyList()) this.fail(corr, error);
    this.deadlines.clear();
  }

  private take(corr: number): PendingAsk | undefined {
    const p = this.pending.get(corr);
    if (!p) return undefined;
    this.pending.delete(corr);
    p.cell?.asks.delete(corr);
    // No ask left: drop the timer, which would otherwise keep the thread alive until it fires.
    if (this.pending.size === 0) this.deadlines.clear();
    return p;
  }
}
