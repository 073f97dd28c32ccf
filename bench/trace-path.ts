// The critical path of one traced request (src/runtime/trace.ts events): from the client's
// answer back to the ask that started it, each step to the event that caused it, so that the
// steps' durations add up to the request's latency exactly. Used by `bench trace-create`.
//
// What causes what (the runtime records no parent links, so they are found by matching):
//   recv/reply  ← the latest send of that message to that address on another thread: a ring
//                 crossing, split at the receiving thread's doorbell wake-up when it was parked;
//   run         ← what queued it (a recv, a same-thread send, a timer, a piped promise) at the
//                 time it was queued (run.t - run.ms): the mailbox wait, dispatcher slices included;
//                 a turn the actor ran in a carried trace (an untraced message queued before the
//                 trace reached it, such as the sync of an earlier Raft write that the traced
//                 entry's write waits behind) ← the actor's previous traced turn's end;
//   (a reply is matched to its send by the ask's correlation id: one apply turn answers many)
//   done        ← its run (the turn);
//   send        ← the turn it was sent from (the latest run on its thread);
//   timer       ← the turn that set it (time before that) and the delay it was set for;
//   piped       ← the turn that piped it (time before that) and the wait for the promise (for
//                 the Raft shell's `persisted` signal: the node's journal write, O_DSYNC).

import type { TraceEvent } from '../src/runtime/trace.js';

export interface PathStep {
  hop: string;
  ms: number;
}

export interface TracePath {
  trace: number;
  totalMs: number;
  steps: PathStep[];
}

/** Names an actor path by its host's role (`/n2/role` → `minister/role`). */
export type RoleOf = (path: string) => string;

/** The latest event at or before `t` (by index order, events sorted by time) that `pred` accepts. */
function latest(events: readonly TraceEvent[], before: number, t: number, pred: (e: TraceEvent) => boolean): number {
  for (let i = before - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.t <= t + 1e-6 && pred(e)) return i;
  }
  return -1;
}

function pathOf(address: string): string {
  const i = address.indexOf('#');
  return i < 0 ? address : address.slice(i + 1);
}

/** The critical path of one trace's events (sorted by time), or null if a link is missing
 * (the trace expired before the answer, or its start was not recorded). */
export function criticalPath(all: readonly TraceEvent[], roleOf: RoleOf): TracePath | null {
  const start = all.findIndex((e) => e.kind === 'send' && e.corr !== undefined);
  if (start < 0) return null;
  const s = all[start]!;
  const end = all.findIndex((e) => e.kind === 'reply' && e.corr === s.corr && e.thread === s.thread);
  if (end < 0) return null;
  const events = all.slice(0, end + 1);
  const steps: PathStep[] = [];
  const turn = (run: TraceEvent, until: number): void => {
    steps.push({ hop: `turn: ${roleOf(run.where)} handling ${run.what}`, ms: until - run.t });
  };
  let cur = end;
  for (let guard = 0; cur !== start; guard++) {
    if (guard > 10_000) return null;
    const e = events[cur]!;
    let parent = -1;
    switch (e.kind) {
      case 'reply': {
        parent = latest(events, cur, e.t, (p) => p.kind === 'recv' && p.thread === e.thread && p.where === e.where && p.what === e.what && p.corr === e.corr);
        if (parent >= 0) steps.push({ hop: `client: answer handed to the asker`, ms: e.t - events[parent]!.t });
        else {
          // Received on the client's own thread from an actor there (no ring crossing).
          parent = latest(events, cur, e.t, (p) => p.kind === 'send' && p.where === e.where && p.what === e.what && p.corr === e.corr);
          if (parent >= 0) steps.push({ hop: `client: answer handed to the asker`, ms: e.t - events[parent]!.t });
        }
        break;
      }
      case 'recv': {
        parent = latest(events, cur, e.t, (p) => p.kind === 'send' && p.thread !== e.thread && p.where === e.where && p.what === e.what && (e.corr === undefined || p.corr === e.corr));
        if (parent < 0) break;
        const sent = events[parent]!;
        const ring = `ring ${sent.thread}→${e.thread}`;
        // Steps are collected backwards (reversed at the end): the later part first.
        if (e.wokeAt !== undefined && e.wokeAt > sent.t) {
          steps.push({ hop: `${ring}: after waking, until decoded`, ms: e.t - e.wokeAt });
          steps.push({ hop: `${ring}: doorbell wake-up (notify → thread runs)`, ms: e.wokeAt - sent.t });
        } else {
          steps.push({ hop: `${ring}: receiver busy (awake), until decoded`, ms: e.t - sent.t });
        }
        break;
      }
      case 'run': {
        if (e.ms === undefined) {
          parent = latest(events, cur, e.t, (p) => p.kind === 'done' && p.thread === e.thread && p.where === e.where);
          if (parent >= 0) steps.push({ hop: `behind earlier work: ${roleOf(e.where)} waits for ${e.what} (queued before the trace)`, ms: e.t - events[parent]!.t });
          break;
        }
        const queued = e.t - e.ms;
        const address = `${e.thread}#${e.where}`;
        parent = latest(events, cur, queued, (p) =>
          p.what === e.what &&
          p.thread === e.thread &&
          (((p.kind === 'recv' || p.kind === 'send') && (p.where === address || pathOf(p.where) === e.where)) || ((p.kind === 'timer' || p.kind === 'piped') && p.where === e.where)),
        );
        if (parent >= 0) steps.push({ hop: `mailbox: ${roleOf(e.where)} ${e.what} waits its turn`, ms: e.t - events[parent]!.t });
        break;
      }
      case 'done': {
        parent = latest(events, cur, e.t, (p) => p.kind === 'run' && p.thread === e.thread && p.where === e.where);
        if (parent >= 0) turn(events[parent]!, e.t);
        break;
      }
      case 'send': {
        parent = latest(events, cur, e.t, (p) => p.kind === 'run' && p.thread === e.thread);
        if (parent >= 0) turn(events[parent]!, e.t);
        break;
      }
      case 'timer':
      case 'piped': {
        const set = e.t - (e.ms ?? 0);
        parent = latest(events, cur, set, (p) => p.kind === 'run' && p.thread === e.thread && p.where === e.where);
        if (parent < 0) break;
        const hop =
          e.kind === 'timer'
            ? `timer: ${roleOf(e.where)} ${e.what} (set for ${e.ms} ms)`
            : e.what === 'ShellSignal.persisted'
              ? `fsync: storage sync (journal write) of ${roleOf(e.where)}'s Raft append`
              : `awaited: ${roleOf(e.where)} ${e.what}`;
        steps.push({ hop, ms: e.ms ?? 0 });
        turn(events[parent]!, set);
        break;
      }
      default:
        break;
    }
    if (parent < 0) return null;
    cur = parent;
  }
  steps.reverse();
  return { trace: s.trace, totalMs: events[end]!.t - s.t, steps };
}

/** Events grouped by trace, each group in time order. */
export function byTrace(events: readonly TraceEvent[]): Map<number, TraceEvent[]> {
  const out = new Map<number, TraceEvent[]>();
  for (const e of [...events].sort((a, b) => a.t - b.t)) {
    let list = out.get(e.trace);
    if (!list) out.set(e.trace, (list = []));
    list.push(e);
  }
  return out;
}

export interface HopRow {
  hop: string;
  /** Traces whose path has this hop. */
  traces: number;
  /** Per trace (summed when a path passes it more than once), over the traces that have it. */
  p50Ms: number;
  p99Ms: number;
  /** Of all the paths' time together. */
  share: number;
}

export function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

/** Each hop's p50/p99 per trace and share of the total, largest share first. */
export function hopTable(paths: readonly TracePath[]): HopRow[] {
  const per = new Map<string, number[]>();
  let total = 0;
  for (const p of paths) {
    total += p.totalMs;
    const sums = new Map<string, number>();
    for (const s of p.steps) sums.set(s.hop, (sums.get(s.hop) ?? 0) + s.ms);
    for (const [hop, ms] of sums) {
      let list = per.get(hop);
      if (!list) per.set(hop, (list = []));
      list.push(ms);
    }
  }
  const rows: HopRow[] = [];
  for (const [hop, list] of per) {
    const sorted = [...list].sort((a, b) => a - b);
    rows.push({ hop, traces: list.length, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), share: total > 0 ? list.reduce((a, b) => a + b, 0) / total : 0 });
  }
  return rows.sort((a, b) => b.share - a.share);
}

/** Names an actor path (`/n3/ministry/...`) by the role its node plays for the root ministry
 * in `status`: `minister/ministry/...`, `clerk...`, `president...` or `node...`. */
export function roleNamer(status: { president?: string | null; ministries: readonly { subtree: string; minister?: string | null; clerks?: readonly string[] }[] }): (path: string) => string {
  const root = status.ministries.find((m) => m.subtree === '/')!;
  return (path: string): string => {
    const m = /^\/(n\d+)(.*)$/.exec(path);
    if (!m) return path.replace(/^\//, '') || path;
    const role = m[1] === root.minister ? 'minister' : m[1] === status.president ? 'president' : root.clerks?.includes(m[1]!) ? 'clerk' : 'node';
    return `${role}${m[2]}`;
  };
}

/** The critical path of every complete trace among `events`, and how many traces were not. */
export function criticalPaths(events: readonly TraceEvent[], roleOf: RoleOf): { paths: TracePath[]; incomplete: number } {
  const paths: TracePath[] = [];
  let incomplete = 0;
  for (const list of byTrace(events).values()) {
    const p = criticalPath(list, roleOf);
    if (p) paths.push(p);
    else incomplete++;
  }
  return { paths, incomplete };
}
