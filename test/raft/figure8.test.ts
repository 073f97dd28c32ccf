// Figure 8 of the Raft paper, played step by step from (a) to (e) with real elections and
// crashes on the hand-driven cluster (scenarios-faults.test.ts has a shorter variant that starts
// from prepared logs). Raft paper, 5.4.2: "Raft never commits log entries from previous terms
// by counting replicas. Only log entries from the leader's current term are committed by
// counting replicas; once an entry from the current term has been committed in this way, then
// all prior entries are committed indirectly because of the Log Matching Property."

import { describe, expect, it } from 'vitest';
import { EntryKind, type Entry, type RaftMessage } from '../../src/raft/index.js';
import { Manual, enc } from './manual.js';

const IDS = ['s1', 's2', 's3', 's4', 's5'];
// The paper's setting: plain elections, no pre-vote or check-quorum; one entry per append so
// that the test decides which entries reach whom.
const CFG = { maxEntriesPerMsg: 1, preVote: false, checkQuorum: false };
const isVote = (m: RaftMessage): boolean => m.type === 'govfs.raft.RequestVote' || m.type === 'govfs.raft.VoteResponse';

/** Five servers that all hold (and have committed) entry 1 of term 1. */
function figure8(): Manual {
  const c = new Manual([]);
  const one: Entry = { term: 1, index: 1, kind: EntryKind.Normal, data: enc('t1') };
  for (const id of IDS) c.add(id, CFG, IDS, { hardState: { term: 1, vote: '', commit: 1 }, entries: [one] });
  return c;
}

/** Messages between `up` servers only; the others are down or cut off. */
const within = (up: string[]) => (m: RaftMessage): boolean => !up.includes(m.from) || !up.includes(m.to);

/** `id` campaigns until it leads, only the `up` servers taking part. */
function elect(c: Manual, id: string, up: string[]): void {
  for (let i = 0; i < 100 && c.core(id).softState().role !== 'leader'; i++) {
    c.tick(id);
    c.deliver(isVote, within(up));
  }
  expect(c.core(id).softState().role).toBe('leader');
}

/** Crash `id`: it loses what it had in flight and takes no part until restarted. */
function crash(c: Manual, id: string): void {
  c.cores.delete(id);
  c.outbox = c.outbox.filter((m) => m.from !== id && m.to !== id);
}

/** Every entry any server applied, by index: state machine safety says one per index. */
function appliedByIndex(c: Manual): Map<number, Set<string>> {
  const seen = new Map<number, Set<string>>();
  for (const readies of c.readies.values()) {
    for (const r of readies) {
      for (const e of r.committed) {
        const s = seen.get(e.index) ?? new Set<string>();
        s.add(`term ${e.term}`);
        seen.set(e.index, s);
      }
    }
  }
  return seen;
}

const terms = (c: Manual, id: string): number[] => c.stores.get(id)!.entries.map((e) => e.term);

/** (a) to (c): S1's term-2 entry at index 2 ends up on S1, S2 and S3 while S1 leads term 4. */
function upToC(c: Manual): void {
  // (a) S1 leads term 2 and its entry at index 2 reaches S2 only.
  elect(c, 's1', IDS);
  expect(c.core('s1').softState().term).toBe(2);
  c.settle((m) => m.type !== 'govfs.raft.RequestVote' && m.type !== 'govfs.raft.VoteResponse' && within(['s1', 's2'])(m));
  expect(terms(c, 's2')).toEqual([1, 2]);
  expect(c.core('s1').commitIndex()).toBe(1);
  // (b) S1 crashes; S5 leads term 3 with votes from S3, S4 and itself, and appends a different
  // entry at index 2, which no one else gets before S5 crashes too.
  crash(c, 's1');
  elect(c, 's5', ['s3', 's4', 's5']);
  expect(c.core('s5').softState().term).toBe(3);
  expect(terms(c, 's5')).toEqual([1, 3]);
  crash(c, 's5');
  // (c) S1 restarts and leads term 4 (with S2 and S3); it copies its term-2 entry to S3 but its
  // own term-4 entry (index 3) reaches no one.
  c.restart('s1');
  elect(c, 's1', ['s1', 's2', 's3']);
  expect(c.core('s1').softState().term).toBe(4);
  // Its appends of index 3 lose their entry on the way: S2 and S3 still answer the consistency
  // check (so S1 learns they hold index 2, as the paper's leader learns from its heartbeats),
  // but take nothing of term 4.
  for (let i = 0; i < 100 && c.outbox.length > 0; i++) {
    c.outbox = c.outbox.map((m) => (m.type === 'govfs.raft.AppendEntries' && m.entries.some((e) => e.index >= 3) ? { ...m, entries: [] } : m));
    c.deliver(() => true, within(['s1', 's2', 's3']));
  }
  expect(terms(c, 's3')).toEqual([1, 2]);
  expect(terms(c, 's1')).toEqual([1, 2, 4]);
  expect(c.core('s1').status().progress!['s2']!.match).toBe(2);
  expect(c.core('s1').status().progress!['s3']!.match).toBe(2);
}

describe('Figure 8 of the Raft paper, step by step', () => {
  it('(d): an entry of an earlier term on a majority is not committed, and a later leader may overwrite it', () => {
    const c = figure8();
    upToC(c);
    // Index 2 (term 2) is now on S1, S2 and S3, a majority, yet it is not committed: no entry
    // of term 4 is on a majority yet.
    for (const id of ['s1', 's2', 's3']) expect(c.core(id).commitIndex()).toBe(1);
    expect(appliedByIndex(c).has(2)).toBe(false);
    // (d) S1 crashes; S5 restarts and leads (its last term 3 beats the others' 2) with S2, S3
    // and S4, and overwrites index 2 with its term-3 entry everywhere.
    crash(c, 's1');
    c.restart('s5');
    elect(c, 's5', ['s2', 's3', 's4', 's5']);
    c.settle(within(['s2', 's3', 's4', 's5']));
    for (const id of ['s2', 's3', 's4', 's5']) {
      expect(c.core(id).termAt(2)).toBe(3);
      expect(c.core(id).commitIndex()).toBeGreaterThanOrEqual(3);
    }
    // State machine safety: no index was applied with two different entries.
    for (const [index, entries] of appliedByIndex(c)) expect(entries.size, `index ${index} applied as ${[...entries].join(' and ')}`).toBe(1);
    expect([...appliedByIndex(c).get(2)!]).toEqual(['term 3']);
  });

  it('(e): once an entry of term 4 is on a majority, the earlier entry is committed with it and S5 can no longer win', () => {
    const c = figure8();
    upToC(c);
    // (e) S1 now copies its term-4 entry to S2 and S3: indexes 2 and 3 commit together.
    // (Its dropped appends are sent again after a heartbeat.)
    for (let i = 0; i < 10 && c.core('s3').lastIndex() < 3; i++) {
      c.tick('s1');
      c.settle(within(['s1', 's2', 's3']));
    }
    expect(terms(c, 's3')).toEqual([1, 2, 4]);
    expect(c.core('s1').commitIndex()).toBe(3);
    // S1 crashes; S5 restarts but cannot be elected by a majority whose logs are ahead of its own.
    crash(c, 's1');
    c.restart('s5');
    for (let i = 0; i < 60; i++) {
      c.tick('s5');
      c.deliver(isVote, within(['s2', 's3', 's4', 's5']));
    }
    expect(c.core('s5').softState().role).not.toBe('leader');
    expect([...appliedByIndex(c).get(2)!]).toEqual(['term 2']);
  });
});
