// The nemesis's faults, drawn from the run's seed: one at a time, each followed by its heal and
// a wait for recovery (every ministry serving again), whose time is recorded.
//
// kill       SIGKILL of a node of any role (president, minister, clerk), restarted on its data
//            folder after 1-3 s.
// pause      SIGSTOP for 3-6 s, past the election timeout (1-2 s) and the president's failure
//            detector (1 s), so the node wakes up to find its role and leases gone; SIGCONT.
// partition  (netns) a minority (one node, or the president with a minister...) cut off from the
//            rest and the clients for 3-6 s.
// netem      (netns, kernel with sch_netem) delay, loss, duplication and reordering on one node's
//            link for 3-6 s.
// clock      every node runs under libfaketime (an offset file each, re-read every second); one
//            node's clocks (CLOCK_MONOTONIC too: govfs times everything by performance.now())
//            jump by -2..+10 s.
// disk       every node's data folder is a small tmpfs of its own; one is filled up for 3-5 s
//            (the node stops its actors: "disk full"), then emptied and the node restarted, as
//            an operator would.

import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RemoteGovClient } from '../../src/index.js';
import { fill } from '../support/tmpfs.js';
import type { Rng } from './history.js';
import type { Network } from './network.js';
import { everyMinistryServing, type Fleet, within } from './processes.js';

export const FAULT_KINDS = ['kill', 'pause', 'partition', 'netem', 'clock', 'disk'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultEvent {
  kind: FaultKind;
  targets: string[];
  /** Each target's role when the fault began. */
  roles: string[];
  detail: string;
  /** Monotonic ms since the run began. */
  start: number;
  healed: number;
  /** ms from the heal to every ministry serving; null: not within the bound. */
  recoveryMs: number | null;
}

export const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'];

export function libfaketime(): string | null {
  return LIBFAKETIME.find((p) => existsSync(p)) ?? null;
}

/** The environment that runs a node under libfaketime, its offset read from `file`. */
export function faketimeEnv(lib: string, file: string): Record<string, string> {
  writeFileSync(file, '+0\n');
  // Re-read the offset file every second, so a jump takes effect while the node runs.
  return { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '0' };
}

export interface FaultContext {
  fleet: Fleet;
  network: Network;
  rng: Rng;
  watch: RemoteGovClient;
  subtrees: readonly string[];
  now: () => number;
  log: (line: string) => void;
  /** Each node's data folder, a small tmpfs of its own, if the disk fault runs. */
  diskDirs?: Record<string, string>;
  /** Each node's libfaketime offset file and offset (s), if the clock fault runs. */
  clocks?: Record<string, { file: string; offsetS: number }>;
  /** Bound on recovery (ms). */
  recoveryBoundMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Each node's role now (from `status`); 'unknown' when no status answers. */
async function roles(ctx: FaultContext): Promise<Map<string, string>> {
  const st = await ctx.watch.status().catch(() => null);
  return new Map(ctx.fleet.ids.map((id) => [id, st?.nodes.find((n) => n.id === id)?.role ?? 'unknown'] as const));
}

/** A target of a role drawn at random (president, minister, clerk, any), among `among`. */
function pickTarget(ctx: FaultContext, byRole: Map<string, string>, among: readonly string[]): string {
  const role = ctx.rng.pick(['president', 'minister', 'clerk', 'any']);
  const fit = among.filter((id) => role === 'any' || byRole.get(id) === role);
  return ctx.rng.pick(fit.length > 0 ? fit : among);
}

/** Wait until every ministry serves: a president, each ministry up, and a linearizable ls of
 * each ministry's root answered. ms it took, or null past the bound. */
export async function waitServing(ctx: Pick<FaultContext, 'watch' | 'subtrees'>, boundMs: number): Promise<number | null> {
  const t0 = Date.now();
  const ok = await within(async () => {
    const st = await ctx.watch.status();
    if (!everyMinistryServing(st, ctx.subtrees)) return false;
    for (const s of ctx.subtrees) await ctx.watch.ls(s, { linearizable: true });
    return true;
  }, boundMs, 100);
  return ok ? Date.now() - t0 : null;
}

/** Inject one fault of `kind`, heal it, and measure recovery. */
export async function injectFault(ctx: FaultContext, kind: FaultKind): Promise<FaultEvent> {
  const byRole = await roles(ctx);
  const start = ctx.now();
  const ids = ctx.fleet.ids;
  let targets: string[] = [];
  let detail = '';
  switch (kind) {
    case 'kill': {
      const t = pickTarget(ctx, byRole, ids);
      targets = [t];
      await ctx.fleet.kill(t);
      const down = ctx.rng.int(1000, 3000);
      detail = `SIGKILL, restarted after ${down} ms`;
      await sleep(down);
      ctx.fleet.start(t);
      break;
    }
    case 'pause': {
      const t = pickTarget(ctx, byRole, ids);
      targets = [t];
      const ms = ctx.rng.int(3000, 6000);
      detail = `SIGSTOP for ${ms} ms, then SIGCONT`;
      ctx.fleet.pause(t);
      await sleep(ms);
      ctx.fleet.resume(t);
      break;
    }
    case 'partition': {
      const first = pickTarget(ctx, byRole, ids);
      const size = Math.max(1, ctx.rng.int(1, Math.floor((ids.length - 1) / 2)));
      const rest = ids.filter((id) => id !== first);
      targets = [first];
      while (targets.length < size) targets.push(rest.splice(ctx.rng.int(0, rest.length - 1), 1)[0]!);
      const ms = ctx.rng.int(3000, 6000);
      detail = `${targets.join('+')} cut off from the other ${ids.length - targets.length} nodes and the clients for ${ms} ms`;
      ctx.network.partition(targets);
      await sleep(ms);
      ctx.network.heal();
      break;
    }
    case 'netem': {
      const t = pickTarget(ctx, byRole, ids);
      targets = [t];
      const ms = ctx.rng.int(3000, 6000);
      const spec = `delay ${ctx.rng.int(20, 200)}ms ${ctx.rng.int(5, 50)}ms loss ${ctx.rng.int(1, 20)}% duplicate ${ctx.rng.int(0, 5)}% reorder ${ctx.rng.int(0, 25)}%`;
      detail = `netem ${spec} for ${ms} ms`;
      ctx.network.netem(t, spec);
      await sleep(ms);
      ctx.network.heal();
      break;
    }
    case 'clock': {
      const t = pickTarget(ctx, byRole, ids);
      const c = ctx.clocks![t]!;
      targets = [t];
      const jump = ctx.rng.next() < 0.25 ? -ctx.rng.int(1, 2) : ctx.rng.int(2, 10);
      c.offsetS += jump;
      detail = `clock jumped ${jump > 0 ? '+' : ''}${jump} s (offset now ${c.offsetS} s)`;
      writeFileSync(c.file, `${c.offsetS >= 0 ? '+' : ''}${c.offsetS}s\n`);
      await sleep(3000);
      break;
    }
    case 'disk': {
      const t = pickTarget(ctx, byRole, ids);
      const dir = ctx.diskDirs![t]!;
      targets = [t];
      const ms = ctx.rng.int(3000, 5000);
      fill(dir, 0);
      await sleep(ms);
      const full = /disk full/.test(ctx.fleet.proc(t).stderr);
      for (const f of readdirSync(dir)) if (f.startsWith('filler-')) rmSync(join(dir, f));
      await ctx.fleet.stop(t);
      ctx.fleet.start(t);
      detail = `data folder full for ${ms} ms (${full ? 'the node said "disk full"' : 'no write reached it'}), emptied, node restarted`;
      break;
    }
  }
  const healed = ctx.now();
  const recoveryMs = await waitServing(ctx, ctx.recoveryBoundMs);
  const ev: FaultEvent = { kind, targets, roles: targets.map((t) => byRole.get(t) ?? 'unknown'), detail, start, healed, recoveryMs };
  ctx.log(`fault ${kind} on ${targets.map((t, i) => `${t} (${ev.roles[i]})`).join(', ')}: ${detail}; recovered in ${recoveryMs === null ? `NOT within ${ctx.recoveryBoundMs} ms` : `${recoveryMs} ms`}`);
  return ev;
}

/** Faults until `endAt` (monotonic ms), with 1.5-4 s of quiet between: rounds over `kinds`,
 * each round in an order drawn from the seed, so a short run still sees every kind. */
export async function faultLoop(ctx: FaultContext, kinds: readonly FaultKind[], endAt: number): Promise<FaultEvent[]> {
  const events: FaultEvent[] = [];
  if (kinds.length === 0) return events;
  let round: FaultKind[] = [];
  while (ctx.now() < endAt) {
    await sleep(ctx.rng.int(1500, 4000));
    if (ctx.now() >= endAt) break;
    if (round.length === 0) {
      round = [...kinds];
      for (let i = round.length - 1; i > 0; i--) {
        const j = ctx.rng.int(0, i);
        [round[i], round[j]] = [round[j]!, round[i]!];
      }
    }
    events.push(await injectFault(ctx, round.shift()!));
  }
  return events;
}
