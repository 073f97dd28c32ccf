// When a Raft shell's ticks are due (issue 19, "an idle cluster idles"). Most ticks only count:
// a follower's towards its election timeout, a quiet leader's towards its next heartbeat or
// check-quorum round. So the shell sleeps on one timer set to the tick that acts
// (RaftCore.ticksUntilDue), and the ticks before are delivered late and together: before each
// input it steps (so that the core's count is right when it judges a vote request or a
// proposal makes it busy) and when that timer fires. A leader with anything in flight ticks
// every tickMs. A heartbeat resets a follower's count, and its timer, when it fires, finds the
// deadline moved and sleeps again: an idle follower takes one timer turn per election timeout
// instead of ten or more, a quiet leader one per heartbeat.

/** A timer may fire this early (whole-millisecond timers) and still count its tick. */
const EARLY_MS = 1;

export class TickSchedule {
  /** Local time of the last tick delivered (the ticks' phase). */
  private base: number;
  /** When the armed timer fires; Infinity while none is. */
  armedAt = Infinity;

  constructor(
    private readonly tickMs: number,
    now: number,
  ) {
    this.base = now;
  }

  /** The ticks elapsed at `now`, at most `limit`. Ticks beyond it are dropped, as a ticker on a
   * stalled thread would never have fired them. */
  private take(now: number, limit: number): number {
    const elapsed = Math.floor((now - this.base + EARLY_MS) / this.tickMs);
    const n = Math.max(0, Math.min(elapsed, limit));
    this.base += n * this.tickMs;
    if (now - this.base >= this.tickMs) this.base = now;
    return n;
  }

  /** Ticks to deliver before a message: the elapsed ones short of the deadline, which is the
   * timer's (the message may be the heartbeat that moves it). */
  beforeMessage(now: number, untilDue: number): number {
    return this.take(now, untilDue - 1);
  }

  /** The timer fired: ticks to deliver. One that fires over a tick late was held up by this
   * thread's own stall; the messages that came meanwhile (a heartbeat) are read first, and the
   * deadline's own tick waits for the next timer, a tick later. */
  fired(now: number, untilDue: number): number {
    const late = now - this.armedAt;
    this.armedAt = Infinity;
    return this.take(now, untilDue > 1 && late > this.tickMs ? untilDue - 1 : untilDue);
  }

  /** When the next timer should fire, `ticks` ticks after the last. */
  nextAt(ticks: number): number {
    return this.base + ticks * this.tickMs;
  }

  /** The armed timer is more than a tick away: ticks may pass uncounted until it fires. */
  get sleeping(): boolean {
    return this.armedAt !== Infinity && this.armedAt - this.base > this.tickMs + EARLY_MS;
  }
}
