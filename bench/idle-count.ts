// `npm run bench -- idle-count [--seconds S] [--json]` (issue 19, item 3): what an idle node
// does, by kind. Runs five `govfs node`s (NodeProcess, over loopback TCP) in this one process,
// waits until they serve and settle, then counts over S seconds (default 10), per node: actor
// turns by actor and message type, timers set by the code that set them, and socket writes
// (write syscalls: one _write or _writev of a socket). `bench idle` measures the CPU; this
// says where the periodic work comes from. --profile: a CPU profile of those seconds too (self
// time by function; timers are then not traced).

import { mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess } from '../src/node-main.js';
import { defaultLogger } from '../src/runtime/runtime.js';
import type { RealDispatcher } from '../src/runtime/real-dispatcher.js';
import { untilServes } from './idle.js';
import { freePorts } from './processes.js';

export const describe = 'periodic work of idle nodes by kind: turns, timers, socket writes per second (5 nodes in one process)';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];

export interface IdleCountResult {
  seconds: number;
  /** Per second, summed over the five nodes. */
  turns: Record<string, number>;
  timers: Record<string, number>;
  socketWrites: number;
  /** --profile: the functions with the most self time over the counted seconds (ms). */
  profile?: Record<string, number>;
  totals: { turns: number; timers: number; socketWrites: number };
}

/** An actor path without its node ids (`/n3/m-m1/...` → `/N/m-m1/...`). */
function actorKind(path: string): string {
  return path.replace(/\bn\d\b/g, 'N').replace(/\d+/g, '#');
}

/** The first frame of `stack` outside the runtime's timer plumbing: who set the timer. */
function timerSite(stack: string): string {
  const frames = stack.split('\n').slice(1).map((l) => l.trim());
  const f = frames.find((l) => !/real-dispatcher|context\.ts|idle-count|node:internal/.test(l)) ?? frames[0] ?? '?';
  return f.replace(/^at /, '').replace(/\(?file:\/\/\S*\/(src\/\S+?):(\d+):\d+\)?/, '$1:$2');
}

/** A timer's delay, rounded so that timers of one kind share a line. */
function delayBucket(ms: number): string {
  return ms < 150 ? `${Math.round(ms / 10) * 10}ms` : ms < 3000 ? `${Math.round(ms / 100) / 10}s` : `${Math.round(ms / 1000)}s`;
}

/** A message's type, or for an internal one (a timer's string, a shell signal) what it is. */
function messageKind(msg: unknown): string {
  if (typeof msg === 'string') return `'${msg}'`;
  const m = msg as { type?: string; kind?: string; constructor?: { name: string } };
  return m.type ?? `${m.constructor?.name ?? '?'}${m.kind ? `:${m.kind}` : ''}`;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Self time per function (ms), the 25 largest, from a V8 CPU profile. */
function selfTimes(p: { nodes: ProfileNode[]; samples?: number[]; timeDeltas?: number[] }): Record<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const ms = new Map<string, number>();
  (p.samples ?? []).forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    ms.set(key, (ms.get(key) ?? 0) + (p.timeDeltas?.[i] ?? 0) / 1000);
  });
  return Object.fromEntries([...ms].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => [k, Math.round(v)]));
}

export async function run(opts: Record<string, string | boolean | undefined>): Promise<IdleCountResult> {
  const seconds = Number(opts.seconds ?? 10);
  const dir = mkdtempSync(join(tmpdir(), 'govfs-idle-count-'));
  const nodes: NodeProcess[] = [];
  const turns = new Map<string, number>();
  const timers = new Map<string, number>();
  let socketWrites = 0;
  let counting = false;
  const bump = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const proto = net.Socket.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = { write: proto._write!, writev: proto._writev! };
  proto._write = function (this: unknown, ...a: unknown[]) {
    if (counting) socketWrites++;
    return orig.write.apply(this, a);
  };
  proto._writev = function (this: unknown, ...a: unknown[]) {
    if (counting) socketWrites++;
    return orig.writev.apply(this, a);
  };
  const realSetTimeout = globalThis.setTimeout;
  // Stack traces (source-mapped) would be most of a --profile: timers are not traced then.
  const traceTimers = !opts.profile;
  // Timers set outside actors (the bridge's links, the event-loop watch): by who set them.
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    const stack = counting && traceTimers ? (new Error().stack ?? '') : '';
    if (counting && traceTimers && !stack.includes('real-dispatcher')) bump(timers, `${delayBucket(ms ?? 0)} (node) ${timerSite(stack)}`);
    return realSetTimeout(fn, ms);
  }) as typeof setTimeout;
  try {
    const ports = await freePorts(IDS.length);
    const peers = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    const secret = new TextEncoder().encode('the secret of the idle-count bench nodes');
    const logger = defaultLogger().child({});
    logger.level = 'silent';
    for (const [i, id] of IDS.entries()) {
      nodes.push(await NodeProcess.start({ id, listen: { host: '127.0.0.1', port: ports[i]! }, peers, dataDir: join(dir, id), secret, logger }));
    }
    for (const n of nodes) {
      n.runtime.onInvoke = (cell, msg) => {
        if (counting) bump(turns, `${actorKind(cell.path)} ${messageKind(msg)}`);
      };
      const d = n.runtime.dispatcher as RealDispatcher;
      const schedule = d.schedule.bind(d);
      d.schedule = (ms, fn) => {
        if (counting && traceTimers) bump(timers, `${delayBucket(ms)} ${timerSite(new Error().stack ?? '')}`);
        return schedule(ms, fn);
      };
    }
    await untilServes(IDS.map((id) => peers[id]!), 120_000);
    await new Promise((r) => setTimeout(r, 3000));
    const session = opts.profile ? new Session() : null;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    counting = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    counting = false;
    const profile = session ? selfTimes((await session.post('Profiler.stop')).profile) : undefined;
    session?.disconnect();
    const s = (performance.now() - t0) / 1000;
    const perS = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round((v / s) * 10) / 10]));
    const sum = (m: Map<string, number>) => Math.round(([...m.values()].reduce((a, b) => a + b, 0) / s) * 10) / 10;
    return { seconds: s, ...(profile && { profile }), turns: perS(turns), timers: perS(timers), socketWrites: Math.round((socketWrites / s) * 10) / 10, totals: { turns: sum(turns), timers: sum(timers), socketWrites: Math.round((socketWrites / s) * 10) / 10 } };
  } finally {
    globalThis.setTimeout = realSetTimeout;
    proto._write = orig.write;
    proto._writev = orig.writev;
    for (const n of nodes) await n.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function format(r: IdleCountResult): string {
  const lines = [`idle work over ${r.seconds.toFixed(1)} s, per second, all 5 nodes: turns ${r.totals.turns}, timers ${r.totals.timers}, socket writes ${r.totals.socketWrites}`, '', 'turns (actor, message):'];
  for (const [k, v] of Object.entries(r.turns)) lines.push(`  ${String(v).padStart(7)}  ${k}`);
  if (r.profile) {
    lines.push('', 'CPU profile, self time (ms; idle time included as (idle)):');
    for (const [k, v] of Object.entries(r.profile)) lines.push(`  ${String(v).padStart(7)}  ${k}`);
  }
  lines.push('', 'timers (delay, set by):');
  for (const [k, v] of Object.entries(r.timers)) lines.push(`  ${String(v).padStart(7)}  ${k}`);
  return lines.join('\n');
}
