import { describe, expect, it } from 'vitest';
import { EntryKind, RaftCore, type AppendEntries, type Entry, type RaftMessage } from '../../src/raft/index.js';
import { Manual, dec, enc } from './manual.js';

const appends = (ms: RaftMessage[], to?: string): AppendEntries[] =>
  ms.filter((m): m is AppendEntries => m.type === 'govfs.raft.AppendEntries' && (to === undefined || m.to === to));

describe('replication', () => {
  it('sends as soon as there is something to send, without waiting for a heartbeat', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.outbox = [];
    c.propose('a', 'x');
    const sent = appends(c.outbox);
    expect(sent.map((m) => m.to).sort()).toEqual(['b', 'c']);
    expect(sent.every((m) => m.entries.length === 1 && dec(m.entries[0]!.data) === 'x')).toBe(true);
    c.settle();
    expect(c.appliedData('b')).toEqual(['x']);
  });

  it('batches: proposals made before the next Ready become one persist and one message per follower', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.outbox = [];
    const a = c.core('a');
    for (let i = 0; i < 100; i++) expect(a.propose(enc(`p${i}`)).ok).toBe(true);
    const r = a.ready();
    expect(r.entries).toHaveLength(100);
    expect(appends(r.messages)).toHaveLength(2);
    expect(appends(r.messages, 'b')[0]!.entries).toHaveLength(100);
    a.advance(r);
  });

  it('splits by maxEntriesPerMsg / maxBytesPerMsg and pipelines at most maxInflight messages', () => {
    const c = new Manual(['a', 'b'], { maxEntriesPerMsg: 3, maxBytesPerMsg: 1 << 20, maxInflight: 4 });
    c.elect('a');
    c.outbox = [];
    for (let i = 0; i < 30; i++) c.core('a').propose(enc(`p${i}`));
    c.process('a');
    // b is in replicate state: 4 messages of 3 entries go out, then the window is full.
    let sent = appends(c.outbox, 'b');
    expect(sent.map((m) => m.entries.length)).toEqual([3, 3, 3, 3]);
    expect(sent.map((m) => m.prevIndex)).toEqual([1, 4, 7, 10]);
    // Acknowledging the first two frees two slots.
    c.outbox = [];
    for (const m of sent.slice(0, 2)) {
      c.core('b').step(m);
      c.process('b');
    }
    c.deliver((m) => m.to === 'a');
    sent = appends(c.outbox, 'b');
    expect(sent.map((m) => m.prevIndex)).toEqual([13, 16]);

    const big = new Manual(['a', 'b'], { maxEntriesPerMsg: 100, maxBytesPerMsg: 10 });
    big.elect('a');
    big.outbox = [];
    for (let i = 0; i < 4; i++) big.core('a').propose(new Uint8Array(6));
    big.process('a');
    expect(appends(big.outbox).map((m) => m.entries.length)).toEqual([1, 1, 1, 1]);
  });

  it('probes one message at a time until the follower answers', () => {
    const c = new Manual(['a', 'b', 'c'], { maxInflight: 8 });
    c.elect('a');
    // Lose everything to c for a while so it falls behind, then make a rejoin probe.
    for (let i = 0; i < 5; i++) c.propose('a', `x${i}`);
    c.settle((m) => m.to === 'c');
    c.core('a').reportUnreachable('c');
    c.outbox = [];
    for (let i = 0; i < 5; i++) c.propose('a', `y${i}`);
    expect(appends(c.outbox, 'c')).toHaveLength(1);
    expect(c.core('a').status().progress!['c']!.state).toBe('probe');
    c.settle();
    expect(c.appliedData('c')).toEqual(c.appliedData('a'));
    expect(c.core('a').status().progress!['c']!.state).toBe('replicate');
  });

  it('recovers from lost appends in replicate state (heartbeat answers trigger an empty probe)', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'lost');
    c.deliver(() => false, (m) => m.to === 'c' && m.type === 'govfs.raft.AppendEntries');
    c.settle();
    expect(c.appliedData('c')).toEqual([]);
    for (let i = 0; i < 4; i++) {
      c.tick('a');
      c.settle();
    }
    expect(c.appliedData('c')).toEqual(['lost']);
  });

  it('backtracks a whole term per round trip with the conflict hint', () => {
    // Build a follower log of 50 entries in 2 stale terms that the leader does not have.
    const mk = (term: number, index: number): Entry => ({ term, index, kind: EntryKind.Normal, data: enc(`${term}.${index}`) });
    const stale: Entry[] = [mk(1, 1)];
    for (let i = 2; i <= 25; i++) stale.push(mk(2, i));
    for (let i = 26; i <= 50; i++) stale.push(mk(3, i));
    const leaderLog: Entry[] = [mk(1, 1)];
    for (let i = 2; i <= 40; i++) leaderLog.push(mk(4, i));
    const cfg = { group: 'g', mode: 'elected' as const, voters: ['a', 'b'], randomInt: (lo: number) => lo };
    const a = new RaftCore({ ...cfg, id: 'a' }, { hardState: { term: 4, vote: 'a', commit: 1 }, entries: leaderLog });
    const b = new RaftCore({ ...cfg, id: 'b' }, { hardState: { term: 3, vote: '', commit: 1 }, entries: stale });
    // Elect a (term 5) by hand.
    for (let i = 0; i < 10; i++) a.tick();
    const cores: Record<string, RaftCore> = { a, b };
    let rejects = 0;
    let queue: RaftMessage[] = [];
    const pump = (id: string): void => {
      const x = cores[id]!;
      while (x.hasReady()) {
        const r = x.ready();
        queue.push(...r.messages);
        x.advance(r);
      }
    };
    pump('a');
    for (let round = 0; round < 50 && queue.length > 0; round++) {
      const q = queue;
      queue = [];
      for (const m of q) {
        if (m.type === 'govfs.raft.AppendResponse' && m.reject) rejects++;
        cores[m.to]!.step(m);
        pump(m.to);
      }
    }
    expect(a.softState().role).toBe('leader');
    expect(b.entries().map((e) => e.term)).toEqual(a.entries().map((e) => e.term));
    // One rejection per stale term at most, not one per entry.
    expect(rejects).toBeLessThanOrEqual(3);
    expect(b.status().commit).toBe(41);
  });

  it('a follower replaces a conflicting suffix and the Ready says where it starts', () => {
    const mk = (term: number, index: number, v: string, kind: EntryKind = EntryKind.Normal): Entry => ({ term, index, kind, data: enc(v) });
    const c = new Manual([]);
    // b holds two entries of term 1 that never committed; c leads term 2 without them.
    c.add('b', {}, ['b', 'c'], { hardState: { term: 1, vote: '', commit: 1 }, entries: [mk(1, 1, '', EntryKind.Noop), mk(1, 2, 'doomed1'), mk(1, 3, 'doomed2')] });
    c.add('c', {}, ['b', 'c'], { hardState: { term: 2, vote: 'c', commit: 1 }, entries: [mk(1, 1, '', EntryKind.Noop), mk(2, 2, 'winner')] });
    // c campaigns in term 3; b votes for it since (2, 2) is more up-to-date than (1, 3).
    c.elect('c');
    const rs = c.readies.get('b')!.filter((r) => r.entries.length > 0);
    expect(rs[0]!.entries[0]!.index).toBe(2);
    expect(c.stores.get('b')!.entries.map((e) => dec(e.data))).toEqual(['', 'winner', '']);
    expect(c.appliedData('b')).toEqual(['winner']);
  });

  it('a leader counts itself only after advance() reports its entries durable', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const a = c.core('a');
    a.propose(enc('x'));
    const r = a.ready();
    // Even with both followers acknowledging before a persisted, the commit waits for a
    // quorum: followers can only acknowledge what a sent, and a sends after persisting.
    expect(r.entries).toHaveLength(1);
    expect(a.status().commit).toBe(1);
    c.outbox.push(...r.messages);
    a.advance(r);
    expect(a.status().commit).toBe(1); // still needs one follower
    c.settle();
    expect(a.status().commit).toBe(2);
  });

  it('ready() refuses to hand out a second batch before advance()', () => {
    const c = new Manual(['a']);
    c.elect('a');
    const a = c.core('a');
    a.propose(enc('x'));
    const r = a.ready();
    expect(a.hasReady()).toBe(false);
    expect(() => a.ready()).toThrow(/advance/);
    expect(() => a.advance({ ...r })).toThrow(/advance/);
    a.advance(r);
  });

  it('refuses proposals on followers with a leader hint', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    const res = c.core('b').propose(enc('x'));
    expect(res).toMatchObject({ ok: false, reason: 'notLeader', leader: 'a' });
  });

  it('heartbeats carry the leader commit; a follower is caught up once it applied it', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.settle();
    c.tick('a');
    c.settle();
    const b = c.core('b');
    expect(b.status().leaderCommit).toBe(2);
    expect(b.caughtUp()).toBe(true);
    // A follower that missed entries knows it is behind from the heartbeat alone.
    c.propose('a', 'y');
    c.settle((m) => m.to === 'c' && m.type === 'govfs.raft.AppendEntries');
    c.tick('a');
    c.deliver((m) => m.type === 'govfs.raft.Heartbeat' && m.to === 'c');
    const cc = c.core('c');
    expect(cc.status().leaderCommit).toBe(3);
    expect(cc.status().applied).toBe(2);
    expect(cc.caughtUp()).toBe(false);
    expect(c.readies.get('c')!.at(-1)!.leaderCommit).toBe(3);
    // And a follower that stops hearing from its leader is no longer caught up.
    for (let i = 0; i < 3; i++) {
      c.tick('a');
      c.settle();
    }
    expect(cc.caughtUp()).toBe(true);
    c.tick('c', 10);
    expect(cc.caughtUp()).toBe(false);
  });

  it('committed entries are handed out once, in order, after they are durable', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 20; i++) c.propose('a', `v${i}`);
    c.settle();
    for (const id of ['a', 'b', 'c']) {
      const idx = c.applied.get(id)!.map((e) => e.index);
      expect(idx).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
      for (const r of c.readies.get(id)!) {
        const durable = c.stores.get(id)!.lastIndex();
        for (const e of r.committed) expect(e.index).toBeLessThanOrEqual(durable);
      }
    }
  });

  it('perishable entries: commitIndex() moves at the input that made entries committed', () => {
    const c = new Manual(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    const b = c.core('b');
    // b appends x, but learns it is committed only from a later message.
    c.deliver((m) => m.to === 'b' && m.type === 'govfs.raft.AppendEntries');
    expect(b.commitIndex()).toBe(1);
    c.deliver((m) => m.to === 'a'); // acknowledgements: a commits index 2
    expect(c.core('a').commitIndex()).toBe(2);
    const notice = c.outbox.find((m) => m.to === 'b')!;
    b.step(notice); // the shell notes the time here: commitIndex() went 1 → 2
    expect(b.commitIndex()).toBe(2);
    const r = b.ready();
    expect(r.committed.map((e) => dec(e.data))).toEqual(['x']);
    expect(r.commit).toBe(2);
    b.advance(r);
  });
});
