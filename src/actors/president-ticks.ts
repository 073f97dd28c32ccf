// When the president's tick timer fires (issue 19): the rules the president's shell
// (president.ts) follows to arm it, pure so that a test drives them without a runtime. The
// core says when the next tick has work (PresidentCore.nextTickAt); this decides whether the
// armed timer moves, so that an idle president wakes as rarely as it can and a busy one never
// has its tick put off.

export class PresidentTicks {
  /** Ticks run once the core asked for them (its 'tickEvery' effect). */
  ticking = false;
  /** When the armed timer fires; Infinity while none is armed. */
  private at = Infinity;
  /** A client's order or a rename asked for a look by then (until the next tick). */
  private lookBy = Infinity;
  /** The cluster log's last quiet heartbeat round ('beat'). */
  private beatAt = -Infinity;

  constructor(
    private readonly probeMs: number,
    private readonly loadEveryMs: number,
  ) {}

  /** A client's order or a rename changes the cluster log: look again within probeMs. The
   * time to arm for. */
  soon(now: number): number {
    this.lookBy = Math.min(this.lookBy, now + this.probeMs);
    return this.lookBy;
  }

  /** Where to move the timer to tick at `at`, or null to leave it. A timer armed sooner stays,
   * unless nothing is due until after the next probeMs (once a probe round's answers are in,
   * the tick armed while they were outstanding has nothing to do; cancelling it costs no
   * wake-up). A "soon" never moves the timer later, so a stream of answers cannot put the
   * tick off. */
  arm(at: number, now: number): number | null {
    at = Math.min(at, this.lookBy);
    if (!this.ticking || at === this.at || (at > this.at && at <= now + this.probeMs)) return null;
    this.at = at;
    return at;
  }

  /** The timer fired: none is armed, and no look is pending. */
  fired(): void {
    this.at = this.lookBy = Infinity;
  }

  /** The cluster log sent a quiet heartbeat round. */
  beat(now: number): void {
    this.beatAt = now;
  }

  /** Whether quiet heartbeats carry the probe rounds now (one came within loadEveryMs): a
   * timer tick then leaves a round due to them, and waits a tick longer for them. */
  beating(now: number): boolean {
    return now - this.beatAt <= this.loadEveryMs;
  }
}
