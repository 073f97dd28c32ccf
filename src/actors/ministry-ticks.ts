// When a ministry member ticks (issue 19, "an idle cluster idles"). A member's tick drives its
// core (waiting reads, client expiry, migrations, renames), its leases, load samples, status
// reports and, on a minister, chunk gc and repair. Every 100 ms on every member, clerks
// included, it was most of an idle cluster's turns. Now a member ticks every tickMs while
// something may need it (a message other than a group-log heartbeat within QUIET_AFTER_MS, a
// change of its group-log role or term, or work its core or leases say is under way), and
// otherwise every idleMs: the load sampling interval, which gc and repair keep too.
//
// An idle tick need not wake the thread: a quiet member still takes a turn for each group-log
// heartbeat (a clerk receives it, the minister's Raft timer sends it). Once idleMs have passed
// since the last tick, the next such turn runs the tick (rideAlong), and the timer is only a
// fallback, armed rideMs (a quiet heartbeat interval) later, for when heartbeats stop.

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
  /** The armed timer is the idle one, for a tick due at `idleDueAt` (rideAlong). */
  private idle = false;
  private idleDueAt = Infinity;
  private role = '';
  private term = -1;
  private leader = '';

  constructor(
    private readonly tickMs: number,
    private readonly idleMs: number,
    /** How much later than idleMs the idle timer fires, so that a heartbeat's turn runs the
     * tick first (0: every idle tick is the timer's). */
    private readonly rideMs = 0,
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

  /** A turn the member takes anyway (a group-log heartbeat, its Raft timer): if the idle tick
   * is due, it runs now, on this turn's wake-up (a tick message to self) instead of its own. */
  rideAlong(ctx: Context): void {
    if (!this.idle || ctx.clock.now() < this.idleDueAt) return;
    this.cancel?.();
    this.cancel = undefined;
    this.at = Infinity;
    this.idle = false;
    ctx.self.tell(MINISTRY_TICK);
  }

  /** The tick ran (`busy`: its parts have work under way): arm the next one. The timer that
   * fired is cancelled (a no-op), or one armed since a rideAlong tick was sent. */
  fired(ctx: Context, busy: boolean): void {
    this.cancel?.();
    this.at = Infinity;
    this.cancel = undefined;
    const now = ctx.clock.now();
    if (busy || now - this.activeAt < QUIET_AFTER_MS) return this.arm(ctx, this.tickMs, now);
    this.arm(ctx, this.idleMs + this.rideMs, now);
    this.idle = true;
    this.idleDueAt = now + this.idleMs;
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.at = Infinity;
    this.idle = false;
  }

  /** A timer already armed sooner stays. */
  private arm(ctx: Context, ms: number, now: number): void {
    const at = now + ms;
    if (at >= this.at) return;
    this.cancel?.();
    this.at = at;
    this.idle = false;
    this.cancel = ctx.clock.after(ms, MINISTRY_TICK);
  }
}
