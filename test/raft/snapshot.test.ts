import { describe, expect, it } from 'vitest';
import type { InstallSnapshot, RaftMessage, SnapshotResponse } from '../../src/raft/index.js';
import { Manual, dec, enc } from './manual.js';

const chunks = (ms: RaftMessage[], to?: string): InstallSnapshot[] =>
  ms.filter((m): m is InstallSnapshot => m.type === 'govfs.raft.InstallSnapshot' && (to === undefined || m.to === to));

/** A three-node cluster where c was down while a committed and compacted 10 entries. */
function lagging(chunk = 10): { c: Manual; data: Uint8Array } {
  const c = new Manual(['a', 'b', 'c'], { snapshotChunkSize: chunk, maxSnapshotChunksInflight: 2 });
  c.elect('a');
  for (let i = 0; i < 10; i++) c.propose('a', `v${i}`);
  c.settle((m) => m.to === 'c');
  const data = enc('state-machine-at-11:' + 'x'.repeat(45)); // 65 bytes → 7 chunks of 10
  const res = c.core('a').compact(11, data);
  if (!res.ok) throw new Error(res.message);
  c.stores.get('a')!.compact(res.snapshot);
  return { c, data };
}

/** Heartbeat until the leader notices c lacks compacted entries and sends the first chunks. */
function startTransfer(c: Manual): void {
  for (let i = 0; i < 10 && chunks(c.outbox, 'c').length === 0; i++) {
    c.tick('a');
    c.deliver((m) => m.type !== 'govfs.raft.InstallSnapshot');
  }
  if (chunks(c.outbox, 'c').length === 0) throw new Error('no snapshot transfer started');
}

describe('snapshots and compaction', () => {
  it('compact drops the log up to the index and remembers term and membership', () => {
    const { c } = lagging();
    const a = c.core('a');
    expect(a.status()).toMatchObject({ snapshotIndex: 11, firstIndex: 12, lastIndex: 11 });
    expect(a.entries()).toEqual([]);
    expect(c.stores.get('a')!.snapshot).toMatchObject({ index: 11, term: 1, membership: { voters: ['a', 'b', 'c'], learners: [] } });
  });

  it('refuses to compact past what was applied, or behind the current snapshot', () => {
    const { c } = lagging();
    const a = c.core('a');
    expect(a.compact(12, enc('x'))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(a.compact(11, enc('x'))).toMatchObject({ ok: false });
    expect(a.compact(5, enc('x'))).toMatchObject({ ok: false });
  });

  it('a follower whose next entry was compacted gets the snapshot in chunks, installed only at the end', () => {
    const { c, data } = lagging();
    startTransfer(c); // heartbeats → c answers → a probes, finds index 1 compacted, streams chunks
    const seen: InstallSnapshot[] = [];
    for (let i = 0; i < 20 && c.outbox.length > 0; i++) {
      seen.push(...chunks(c.outbox, 'c'));
      // Before the last chunk arrived, c's Readies hold no snapshot.
      if (!seen.some((m) => m.done)) expect(c.readies.get('c')!.some((r) => r.snapshot)).toBe(false);
      c.deliver();
    }
    expect(seen.map((m) => m.offset)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(seen.every((m) => m.data.length <= 10 && m.totalSize === 65)).toBe(true);
    expect(seen.filter((m) => m.done).map((m) => m.offset)).toEqual([60]);
    const installed = c.readies.get('c')!.filter((r) => r.snapshot);
    expect(installed).toHaveLength(1);
    expect(dec(installed[0]!.snapshot!.data)).toBe(dec(data));
    expect(c.stores.get('c')!.snapshot).toMatchObject({ index: 11, term: 1 });
    expect(c.core('a').status().progress!['c']).toMatchObject({ state: 'replicate', match: 11 });
    // Replication continues after the snapshot.
    c.propose('a', 'after');
    c.settle();
    expect(c.appliedData('c')).toEqual(['after']);
  });

  it('resumes from the follower offset when a chunk is lost (no restart from 0)', () => {
    const { c } = lagging();
    startTransfer(c);
    let dropped = false;
    const offsets: number[] = [];
    for (let i = 0; i < 30 && c.outbox.length > 0; i++) {
      for (const m of chunks(c.outbox, 'c')) offsets.push(m.offset);
      c.deliver(
        () => true,
        (m) => {
          if (!dropped && m.type === 'govfs.raft.InstallSnapshot' && m.offset === 20) return (dropped = true);
          return false;
        },
      );
    }
    expect(dropped).toBe(true);
    // 20 is sent twice; 0 and 10 only once.
    expect(offsets.filter((o) => o === 20)).toHaveLength(2);
    expect(offsets.filter((o) => o === 0)).toHaveLength(1);
    expect(c.stores.get('c')!.snapshot?.index).toBe(11);
  });

  it('a follower crash mid-transfer is harmless: the partial snapshot was never durable and the leader starts over', () => {
    const { c } = lagging();
    startTransfer(c);
    c.deliver(); // chunk 0 and 10 arrive
    c.deliver(); // their acks
    expect(c.stores.get('c')!.snapshot).toBeUndefined();
    c.restart('c');
    const resent: number[] = [];
    for (let i = 0; i < 60 && c.core('c').status().snapshotIndex === 0; i++) {
      for (const m of chunks(c.outbox, 'c')) resent.push(m.offset);
      c.deliver();
      if (c.outbox.length === 0) c.tick('a');
    }
    const rejects = c.sentOfType('govfs.raft.SnapshotResponse').filter((m: SnapshotResponse) => m.reject);
    expect(rejects.length).toBeGreaterThan(0);
    expect(rejects.every((m) => m.offset === 0)).toBe(true);
    expect(resent).toContain(0);
    expect(c.core('c').status()).toMatchObject({ snapshotIndex: 11, commit: 11 });
  });

  it('a transfer from a new leader or term starts over; the old partial transfer is discarded', () => {
    const { c } = lagging();
    // b compacted too, into different bytes, so its transfer is distinguishable from a's.
    const bData = enc('b-snapshot-' + 'y'.repeat(30));
    const res = c.core('b').compact(11, bData);
    if (!res.ok) throw new Error(res.message);
    startTransfer(c);
    c.deliver((m) => m.type === 'govfs.raft.InstallSnapshot'); // a's chunks 0 and 10 reach c
    c.deliver((m) => m.type === 'govfs.raft.SnapshotResponse'); // acks make a send 20 and 30
    const stale = chunks(c.sentLog, 'c').find((m) => m.offset === 20);
    expect(stale).toBeDefined();
    c.outbox = [];
    // a is deposed; b takes over in a later term and sends its own snapshot.
    c.core('a').step({ type: 'govfs.raft.AppendResponse', from: 'b', to: 'a', term: 2, group: 'g', reject: true, index: 0, conflictTerm: 0, conflictIndex: 0 });
    c.process('a');
    c.outbox = [];
    for (let i = 0; i < 60 && c.core('b').softState().role !== 'leader'; i++) {
      c.tick('b');
      c.tick('c');
      c.settle((m) => m.from === 'a' || m.to === 'a' || m.type === 'govfs.raft.InstallSnapshot');
    }
    expect(c.core('b').softState().role).toBe('leader');
    // A late chunk of a's old transfer is refused (stale term).
    c.core('c').step(stale!);
    c.process('c');
    for (let i = 0; i < 30; i++) {
      c.tick('b');
      c.settle((m) => m.from === 'a' || m.to === 'a');
    }
    const fromB = chunks(c.sentLog, 'c').filter((m) => m.from === 'b');
    expect(fromB[0]!.offset).toBe(0);
    const installed = c.readies.get('c')!.filter((r) => r.snapshot);
    expect(installed).toHaveLength(1);
    expect(dec(installed[0]!.snapshot!.data)).toBe(dec(bData));
    expect(c.core('c').status().commit).toBe(c.core('b').status().commit);
  });

  it('a chunk stream that does not add up is refused and restarted', () => {
    const { c } = lagging();
    const cc = c.core('c');
    cc.step({ type: 'govfs.raft.InstallSnapshot', from: 'a', to: 'c', term: 1, group: 'g', snapshotIndex: 11, snapshotTerm: 1, voters: ['a', 'b', 'c'], learners: [], offset: 0, totalSize: 5, data: enc('0123456789'), done: false });
    const r = cc.ready();
    expect(r.messages).toEqual([expect.objectContaining({ type: 'govfs.raft.SnapshotResponse', reject: true, offset: 0 })]);
    expect(r.snapshot).toBeUndefined();
    cc.advance(r);
  });

  it('restores from a durable snapshot plus the entries after it', () => {
    const { c } = lagging();
    c.propose('a', 'tail');
    c.settle((m) => m.to === 'c');
    const a = c.restart('a');
    expect(a.status()).toMatchObject({ snapshotIndex: 11, lastIndex: 12, commit: 12, applied: 11 });
    // Entries after the snapshot are handed out again for the state machine to re-apply.
    const r = a.ready();
    expect(r.committed.map((e) => dec(e.data))).toEqual(['tail']);
    a.advance(r);
  });

  it('sends a zero-byte snapshot as one empty last chunk', () => {
    const c = new Manual(['a', 'b', 'c'], { snapshotChunkSize: 4 });
    c.elect('a');
    c.propose('a', 'x');
    c.settle((m) => m.to === 'c');
    const res = c.core('a').compact(2, new Uint8Array(0));
    expect(res.ok).toBe(true);
    for (let i = 0; i < 5; i++) {
      c.tick('a');
      c.settle();
    }
    const sent = chunks(c.sentLog, 'c');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ offset: 0, totalSize: 0, done: true });
    expect(c.core('c').status()).toMatchObject({ snapshotIndex: 2, commit: 2 });
  });
});
