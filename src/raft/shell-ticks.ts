// When a Raft shell's ticks are due (issue 19, "an idle cluster idles"). Most ticks only count:
// a follower's towards its election timeout, a quiet leader's towards its next heartbeat or
// check-quorum round. So the shell sleeps on one timer set to the tick that acts
// (RaftCore.ticksUntilDue), and the ticks before are delivered late and together: before each
// input it steps (so that the core's count is right when it judges a vote request or a
// proposal makes it busy) and when that timer fires. A leader with anything in flight ticks
// every tickMs. A heartbeat resets a follower's count, and its timer, when it fires, finds the
// deadline moved and sleeps again: an idle follower takes one timer turn per election timeout
// instead of ten or more, a quiet leader one per heartbeat. A member that never campaigns (an
// appointed follower, a learner) with nothing waiting on ticks has no deadline at all: it parks,
// with no timer, and its ticks go uncounted until something is due again.

/** A timer may fire this early (whole-millisecond timers) and still count its tick. */
const EARLY_MS = 1;

export class TickSchedule {
  /** Local time of the last tick delivered (the ticks' phase). */
  private base: number;
  /** When the armed timer fires; Infinity while none is. */
  armedAt = Infinity;
  /** No tick is due: no timer, and the ticks that pass are not counted (see park). */
  private parked = false;

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

  /** When the next timer should fire, `ticks` ticks after the last (after a park: counted
   * from `now`, a new phase). */
  nextAt(ticks: number, now = this.base): number {
    if (this.parked) {
      this.parked = false;
      this.base = now;
    }
    return this.base + ticks * this.tickMs;
  }

  /** Nothing is due however many ticks pass (they would only count towards an election this
   * member never holds): the timer goes (the caller cancels it) and no tick is counted until
   * nextAt sets a new phase. */
  park(): void {
    this.armedAt = Infinity;
    this.parked = true;
  }

  get isParked(): boolean {
    return this.parked;
  }

  /** The armed timer is more than a tick away: ticks may pass uncounted until it fires. */
  get sleeping(): boolean {
    return this.armedAt !== Infinity && this.armedAt - this.base > this.tickMs + EARLY_MS;
  }
}
