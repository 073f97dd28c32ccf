// A client session (issue 4, item 1): one actor per client a ministry member serves, under
// that member's role branch. It notes when its client was last heard from; when the client
// has been silent for the session TTL it ends, and the member drops what the client held
// here (its read leases, its queued lease requests). When the role changes, the branch stops
// and every session with it.

import type { Behaviour, Context } from '../runtime/types.js';

export type SessionMsg = 'session.touch' | 'session.check';

export interface SessionEnded {
  type: 'session.ended';
  clientId: string;
}

/** `touchLagMs`: how long after the last touch the client may still have been heard from
 * (its member passes touches on at most that often); the session allows for it. */
export function sessionBehaviour(clientId: string, ttlMs: number, touchLagMs = 0): Behaviour<SessionMsg> {
  let lastSeen = 0;
  // One timer at the deadline, not a sweep every TTL/4: a touch only moves lastSeen, and the
  // timer, when it fires early, is set again for what is left (an idle client costs one turn
  // per TTL).
  const arm = (ctx: Context<SessionMsg>): void => {
    ctx.clock.after(Math.max(1, lastSeen + ttlMs + touchLagMs - ctx.clock.now()), 'session.check');
  };
  return {
    started(ctx: Context<SessionMsg>) {
      lastSeen = ctx.clock.now();
      arm(ctx);
    },
    receive(ctx, msg) {
      if (msg === 'session.touch') {
        lastSeen = ctx.clock.now();
        return;
      }
      if (ctx.clock.now() - lastSeen >= ttlMs + touchLagMs) {
        ctx.parent?.tell({ type: 'session.ended', clientId } satisfies SessionEnded);
        ctx.stop(ctx.self);
      } else arm(ctx);
    },
  };
}
