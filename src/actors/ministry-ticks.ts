// When a ministry member ticks (issue 19, "an idle cluster idles"). A member's tick drives its
// core (waiting reads, client expiry, migrations, renames), its leases, load samples, status
// reports and, on a minister, chunk gc and repair. Every 100 ms on every member, clerks
// included, it was most of an idle cluster's turns. Now a member ticks every tickMs while
// something may need it (a message other than a group-log heartbeat within QUIET_AFTER_MS, a
// change of its group-log role or term, or work its core or leases say is under way), and
// otherwise every idleMs: the load sampling interval, which gc and repair keep too.

import type { Context } from '../runtime/types.js';
import type { SoftState } from '../raft/types.js';

/** How long after the last message a member keeps ticking at full rate. */
export const QUIET_AFTER_MS = 2_000;

export const MINISTRY_TICK = 'ministry.tick';

export class MinistryTicks {
  /** When the armed timer fires; Infinity while none is armed. */
  private at = Infinity;
  private cancel: (() => void) | undefined;
  private activeAt = -Infinity;
  private role = '';
  private term = -1;
  private leader = '';

  constructor(
    private readonly tickMs: number,
    private readonly idleMs: number,
  ) {}

  /** Something happened that ticks may have to follow up: tick at full rate for a while. */
  active(ctx: Context, now = ctx.clock.now()): void {
    this.activeAt = now;
    this.arm(ctx, this.tickMs, now);
  }

  /** After a group-log message or timer: a new role, term or leader counts as activity. */
  watch(ctx: Context, soft: SoftState): void {
    if (soft.role === this.role && soft.term === this.term && soft.leader === this.leader) return;
    this.role = soft.role;
    this.term = soft.term;
    this.leader = soft.leader;
    this.active(ctx);
  }

  /** The tick ran (`busy`: its parts have work under way): arm the next one. */
  fired(ctx: Context, busy: boolean): void {
    this.at = Infinity;
    this.cancel = undefined;
    const now = ctx.clock.now();
    this.arm(ctx, busy || now - this.activeAt < QUIET_AFTER_MS ? this.tickMs : this.idleMs, now);
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.at = Infinity;
  }

  /** A timer already armed sooner stays. */
  private arm(ctx: Context, ms: number, now: number): void {
    const at = now + ms;
    if (at >= this.at) return;
    this.cancel?.();
    this.at = at;
    this.cancel = ctx.clock.after(ms, MINISTRY_TICK);
  }
}
