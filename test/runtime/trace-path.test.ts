// The critical path of a traced request (bench/trace-path.ts): each event back to its cause,
// steps adding up to the latency.

import { describe, expect, it } from 'vitest';
import { criticalPath, hopTable } from '../../bench/trace-path.js';
import type { TraceEvent } from '../../src/runtime/trace.js';

const ev = (t: number, thread: string, kind: TraceEvent['kind'], where: string, what: string, extra: Partial<TraceEvent> = {}): TraceEvent => ({ trace: 7, t, thread, kind, where, what, ...extra });
const role = (p: string): string => p.replace('/n2', 'minister').replace('/n3', 'clerk');

// A create: the client's ask crosses to t0 (parked: woken at 1.5), the minister proposes, the
// clerk's write is fsynced (4 ms), the clerk answers, the minister replies; a branch that is not
// on the path (the minister's own fsync, finished later) is ignored.
const events: TraceEvent[] = [
  ev(0, 'main', 'send', 't0#/n2/role', 'FsRequest', { corr: 5 }),
  ev(1.5 - 0.5, 'main', 'send', 't0#/n9', 'Noise'),
  ev(2, 't0', 'recv', 't0#/n2/role', 'FsRequest', { wokeAt: 1.5 }),
  ev(2.25, 't0', 'run', '/n2/role', 'FsRequest', { ms: 0.25 }),
  ev(2.5, 't0', 'send', 't0#/n3/role', 'AppendEntries'),
  ev(2.75, 't0', 'done', '/n2/role', 'FsRequest'),
  ev(3, 't0', 'run', '/n3/role', 'AppendEntries', { ms: 0.5 }),
  ev(3.5, 't0', 'write', '/tmp/x', '2 ops'),
  ev(3.75, 't0', 'done', '/n3/role', 'AppendEntries'),
  ev(7.5, 't0', 'piped', '/n3/role', 'ShellSignal.persisted', { ms: 4 }),
  ev(7.75, 't0', 'run', '/n3/role', 'ShellSignal.persisted', { ms: 0.25 }),
  ev(8, 't0', 'send', 't0#/n2/role', 'AppendResponse'),
  ev(8.25, 't0', 'run', '/n2/role', 'AppendResponse', { ms: 0.25 }),
  ev(9, 't0', 'send', 'main#/', 'FsReply', { corr: 5 }),
  ev(9.2, 't0', 'send', 'main#/', 'FsReply', { corr: 6 }),
  ev(9.5, 't0', 'piped', '/n2/role', 'ShellSignal.persisted', { ms: 6 }),
  ev(10, 'main', 'recv', 'main#/', 'FsReply', { corr: 5 }),
  ev(10.4, 'main', 'recv', 'main#/', 'FsReply', { corr: 6 }),
  ev(10.25, 'main', 'reply', 'main#/', 'FsReply', { corr: 5 }),
  ev(10.5, 'main', 'reply', 'main#/', 'FsReply', { corr: 6 }),
].sort((a, b) => a.t - b.t);

describe('critical path of a trace', () => {
  it('follows each event to its cause, and the steps add up to the latency', () => {
    const p = criticalPath(events, role)!;
    expect(p.totalMs).toBe(10.25);
    expect(p.steps.map((s) => [s.hop, s.ms])).toEqual([
      ['ring main→t0: doorbell wake-up (notify → thread runs)', 1.5],
      ['ring main→t0: after waking, until decoded', 0.5],
      ['mailbox: minister/role FsRequest waits its turn', 0.25],
      ['turn: minister/role handling FsRequest', 0.25],
      ['mailbox: clerk/role AppendEntries waits its turn', 0.5],
      ['turn: clerk/role handling AppendEntries', 0.5],
      ["fsync: storage sync (journal write) of clerk/role's Raft append", 4],
      ['mailbox: clerk/role ShellSignal.persisted waits its turn', 0.25],
      ['turn: clerk/role handling ShellSignal.persisted', 0.25],
      ['mailbox: minister/role AppendResponse waits its turn', 0.25],
      ['turn: minister/role handling AppendResponse', 0.75],
      ['ring t0→main: receiver busy (awake), until decoded', 1],
      ['client: answer handed to the asker', 0.25],
    ]);
    expect(p.steps.reduce((a, s) => a + s.ms, 0)).toBeCloseTo(p.totalMs, 9);
  });

  it('gives up on a trace whose answer was not recorded, and tabulates shares', () => {
    expect(criticalPath(events.filter((e) => e.kind !== 'reply'), role)).toBeNull();
    const rows = hopTable([criticalPath(events, role)!]);
    expect(rows[0]).toMatchObject({ hop: "fsync: storage sync (journal write) of clerk/role's Raft append", traces: 1, p50Ms: 4 });
    expect(rows[0]!.share).toBeCloseTo(4 / 10.25, 9);
    expect(rows.reduce((a, r) => a + r.share, 0)).toBeCloseTo(1, 9);
  });
});
