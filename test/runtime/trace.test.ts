// Request tracing (src/runtime/trace.ts; issue 19, point 5): a traced create's hops, in order,
// across the client's thread and a worker, on lmdb; nothing recorded when tracing is off.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster.js';
import { tracer, type TraceEvent } from '../../src/runtime/trace.js';
import { MessageRegistry } from '../../src/wire/registry.js';
import { criticalPath } from '../../bench/trace-path.js';

const isCreate = (m: unknown): boolean => (m as { type?: string }).type === 'govfs.fs.FsRequest' && (m as { create?: unknown }).create != null;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('request tracing', () => {
  let dir: string;
  let cluster: Cluster;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'govfs-trace-'));
    cluster = await Cluster.start({ nodes: 4, scheduler: 'threads', threads: 1, dataDir: dir });
    await cluster.client().mkdir('/d');
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the trace id survives the wire envelope, and is absent when untraced', () => {
    const reg = MessageRegistry.standard();
    const msg = { type: 'govfs.runtime.Stop' };
    expect(reg.roundTrip({ to: 't0#/a', from: '', kind: 0, corr: 0, msg, trace: 4242 }).trace).toBe(4242);
    expect(reg.roundTrip({ to: 't0#/a', from: '', kind: 0, corr: 0, msg }).trace).toBeUndefined();
  });

  it('follows a trace only for its time to live', async () => {
    tracer.enable(true, 'main', 5);
    tracer.arm(() => true);
    const id = tracer.maybeStart({});
    expect(tracer.live(id)).toBe(true);
    await until('the trace to expire', async () => (tracer.live(id) ? undefined : true));
    tracer.enable(false, 'main', 200);
    expect(tracer.drain()).toEqual([]);
  });

  it('records nothing when off, and nothing unarmed when on', async () => {
    const sch = cluster.threadsScheduler!;
    await sch.trace(false);
    await cluster.client().create('/d/off');
    expect(await sch.traceDrain()).toEqual([]);
    await sch.trace(true);
    await cluster.client().create('/d/unarmed');
    expect(await sch.traceDrain()).toEqual([]);
    await sch.trace(false);
  }, 30_000);

  it("records a create's hops in order: client send, node, ministry, group log, fsync, commit, reply", async () => {
    const sch = cluster.threadsScheduler!;
    const fs = cluster.client();
    await fs.create('/d/warm'); // the client learns who the minister is (a clerk redirects)
    await sch.trace(true, 30_000); // followed however slow this machine is today
    tracer.arm(isCreate);
    await fs.ls('/d'); // not armed for: must not start a trace
    await fs.create('/d/traced');
    const events: TraceEvent[] = [];
    const id = tracer.started.at(-1)!;
    expect(id).toBeGreaterThan(0);
    // The reply is recorded before the create resolves (on this thread).
    await until('the traced reply', async () => {
      events.push(...(await sch.traceDrain()));
      return events.some((e) => e.kind === 'reply') ? true : undefined;
    });
    await sch.trace(false);
    expect(new Set(events.map((e) => e.trace))).toEqual(new Set([id]));
    const at = (pred: (e: TraceEvent) => boolean, what: string): number => {
      const i = events.findIndex(pred);
      if (i < 0) throw new Error(`no ${what} in the trace:\n${events.map((e) => `${e.thread} ${e.kind} ${e.where} ${e.what}`).join('\n')}`);
      return i;
    };
    const hops = [
      at((e) => e.kind === 'send' && e.thread === 'main' && e.what === 'govfs.fs.FsRequest', 'client send'),
      at((e) => e.kind === 'recv' && e.thread === 't0' && e.what === 'govfs.fs.FsRequest', 'node receive'),
      at((e) => e.kind === 'run' && /^\/n\d+\/role$/.test(e.where) && e.what === 'govfs.fs.FsRequest', 'ministry decision'),
      at((e) => e.kind === 'send' && e.what === 'govfs.raft.AppendEntries', 'group-log proposal to a clerk'),
      at((e) => e.kind === 'write', 'Raft append (lmdb write)'),
      at((e) => e.kind === 'piped' && e.what === 'ShellSignal.persisted', 'fsync done'),
      at((e) => e.kind === 'run' && e.what === 'govfs.raft.AppendResponse', 'a clerk acknowledging (commit)'),
      at((e) => e.kind === 'send' && e.what === 'govfs.fs.FsReply', 'reply sent'),
      at((e) => e.kind === 'reply' && e.thread === 'main' && e.what === 'govfs.fs.FsReply', 'client receive'),
    ];
    expect(hops).toEqual([...hops].sort((a, b) => a - b));
    // The client's own answer is the reply to the ask that started the trace.
    expect(events[hops.at(-1)!]!.corr).toBe(events[hops[0]!]!.corr);
    const times = events.map((e) => e.t);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Its critical path (bench trace-create) follows back to the send, through an fsync.
    const path = criticalPath(events, (w) => w)!;
    expect(path).not.toBeNull();
    expect(path.steps.reduce((sum, st) => sum + st.ms, 0)).toBeCloseTo(path.totalMs, 6);
    expect(path.steps.some((st) => st.hop.startsWith('fsync:'))).toBe(true);
    // A mailbox wait is never negative; the fsync took some time.
    // (A run without one is an untraced message the actor handled in the trace it carries.)
    expect(events[hops[2]!]!.ms).toBeGreaterThanOrEqual(0);
    for (const e of events) if (e.kind === 'run' && e.ms !== undefined) expect(e.ms).toBeGreaterThanOrEqual(0);
    expect(events.find((e) => e.kind === 'piped')!.ms).toBeGreaterThan(0);
  }, 30_000);
  // Issue 19, a lone create: the minister's thread also runs its clerks, whose Raft writes join
  // the minister's lmdb transaction if they come before it starts. The ticket the minister
  // sends the client (a cross-thread message, ~0.15 ms of the thread's time) went out next in
  // the minister's mailbox, ahead of the clerks' appends, on every create's critical path.
  it("a lone create: the minister's clerks on its thread take the append before its ticket goes out", async () => {
    const sch = cluster.threadsScheduler!;
    const fs = cluster.client();
    await fs.create('/d/warm-ticket');
    await sch.trace(true, 30_000);
    tracer.arm(isCreate);
    await fs.create('/d/ticketed');
    const events: TraceEvent[] = [];
    await until('the traced ticket and reply', async () => {
      events.push(...(await sch.traceDrain()));
      return events.some((e) => e.kind === 'reply') && events.some((e) => e.kind === 'run' && e.what === 'ministry.tickets') ? true : undefined;
    });
    await sch.trace(false);
    const ticket = events.find((e) => e.kind === 'run' && e.what === 'ministry.tickets')!;
    const appends = events.filter((e) => e.kind === 'run' && e.what === 'govfs.raft.AppendEntries' && e.thread === ticket.thread);
    expect(appends.length).toBeGreaterThanOrEqual(2); // both clerks (all 4 nodes on one thread)
    for (const a of appends) expect(a.t, `${a.where}'s append ran after the ticket`).toBeLessThan(ticket.t);
  }, 30_000);
});
