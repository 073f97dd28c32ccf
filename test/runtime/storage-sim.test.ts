import { describe, expect, it } from 'vitest';
import { SimStorage } from '../../src/runtime/storage-sim.js';
import type { StorageOp } from '../../src/runtime/storage.js';
import { bytes, entries, expectCode, Model, rng, storageContract, text } from './fixtures/storage-contract.js';

storageContract('SimStorage', async () => {
  const s = new SimStorage();
  return {
    storage: s,
    flushCount: () => s.flushCount,
    turn: () => Promise.resolve(),
    dispose: () => s.close(),
  };
});

/** A storage whose fsyncs complete only when the test says so. */
function manual(): { s: SimStorage; fsyncs: (() => void)[]; runFsyncs: () => void } {
  const fsyncs: (() => void)[] = [];
  const s = new SimStorage({ scheduleSync: (flush) => fsyncs.push(flush) });
  return { s, fsyncs, runFsyncs: () => fsyncs.splice(0).forEach((f) => f()) };
}

/** Lets every promise callback already due run (no timing involved). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('SimStorage crashes', () => {
  it('loses exactly the un-synced writes', async () => {
    const s = new SimStorage();
    s.put('a', bytes('1'));
    s.put('b', bytes('2'));
    await s.sync();
    s.put('c', bytes('3'));
    s.del('a');
    s.batch([{ op: 'delRange', start: 'a', end: 'z' }]);
    expect(entries(s.range({}))).toEqual([]);
    s.crash();
    expect(entries(s.range({}))).toEqual([['a', '1'], ['b', '2']]); // the crashed host's disk
    const r = s.reopen();
    expect(entries(r.range({}))).toEqual([['a', '1'], ['b', '2']]);
    r.put('d', bytes('4'));
    await r.sync();
    r.crash();
    expect(entries(r.reopen().range({}))).toEqual([['a', '1'], ['b', '2'], ['d', '4']]);
  });

  it('never resolves a sync after the crash, even if its fsync completes', async () => {
    const { s, fsyncs, runFsyncs } = manual();
    const acked: string[] = [];
    s.put('a', bytes('1'));
    void s.sync().then(() => acked.push('a'));
    await settle();
    expect(fsyncs).toHaveLength(1); // under way
    s.put('b', bytes('2'));
    void s.sync().then(() => acked.push('b')); // waits for the next fsync
    s.crash();
    runFsyncs();
    await settle();
    expect(acked).toEqual([]);
    expect(s.reopen().get('a')).toBeUndefined();
    void s.sync().then(() => acked.push('after'));
    await settle();
    expect(acked).toEqual([]);
    expectCode(() => s.put('c', bytes('3')), 'EIO');
  });

  it('keeps a batch whole or not at all when un-synced writes partly survive', async () => {
    const ops: StorageOp[] = [
      { op: 'put', key: 'x', value: bytes('1') },
      { op: 'put', key: 'y', value: bytes('2') },
      { op: 'del', key: 'a' },
    ];
    for (const keep of [0, 1, 2]) {
      const s = new SimStorage();
      s.put('a', bytes('0'));
      await s.sync();
      s.put('w', bytes('first'));
      s.batch(ops);
      s.crash(keep);
      const got = entries(s.reopen().range({}));
      if (keep === 0) expect(got).toEqual([['a', '0']]);
      if (keep === 1) expect(got).toEqual([['a', '0'], ['w', 'first']]);
      if (keep === 2) expect(got).toEqual([['w', 'first'], ['x', '1'], ['y', '2']]);
    }
  });

  it('reopens only a crashed or closed storage', async () => {
    const s = new SimStorage();
    expectCode(() => s.reopen(), 'EBUSY');
    s.put('a', bytes('1'));
    await s.close();
    expect(text(s.reopen().get('a'))).toBe('1');
  });

  it('matches a model of durable state over random runs with crashes', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rand = rng(seed);
      const fsyncs: (() => void)[] = [];
      // Reopened storages keep this scheduler; fsyncs of a crashed one stay queued and run
      // later, and must not ack anything.
      let s = new SimStorage({ scheduleSync: (f) => fsyncs.push(f) });
      const model = new Model();
      let durable = new Model();
      let latestAcked = -1; // index of the latest sync() call whose promise resolved
      let syncCalls = 0;
      for (let step = 0; step < 400; step++) {
        const r = rand();
        const key = `k${Math.floor(rand() * 20)}`;
        if (r < 0.35) {
          const o: StorageOp = { op: 'put', key, value: bytes(`${seed}.${step}`) };
          s.put(o.key, o.value);
          model.apply(o);
        } else if (r < 0.45) {
          s.del(key);
          model.apply({ op: 'del', key });
        } else if (r < 0.5) {
          const ops: StorageOp[] = [
            { op: 'delRange', start: 'k1', end: key },
            { op: 'put', key, value: bytes(`b${step}`) },
          ];
          s.batch(ops);
          ops.forEach((o) => model.apply(o));
        } else if (r < 0.7) {
          const index = syncCalls++;
          const snapshot = model.clone();
          void s.sync().then(() => {
            if (index > latestAcked) [latestAcked, durable] = [index, snapshot];
          });
        } else if (r < 0.85) {
          fsyncs.splice(0, Math.ceil(rand() * fsyncs.length)).forEach((f) => f());
          await settle();
        } else if (r < 0.9) {
          s.crash();
          await settle();
          s = s.reopen();
          // Exactly what an acknowledged sync covered, nothing after it.
          expect(entries(s.range({})), `seed ${seed} step ${step}`).toEqual(durable.range({}));
          model.map.clear();
          for (const [k, v] of durable.map) model.map.set(k, v);
        } else {
          expect(entries(s.range({})), `seed ${seed} step ${step}`).toEqual(model.range({}));
        }
      }
    }
  });
});

describe('SimStorage group commit', () => {
  it('shares one fsync among the syncs of a turn; later ones wait for the next', async () => {
    const { s, fsyncs, runFsyncs } = manual();
    const acked: string[] = [];
    s.put('a', bytes('1'));
    void s.sync().then(() => acked.push('a1'));
    s.put('b', bytes('2'));
    void s.sync().then(() => acked.push('b1'));
    expect(fsyncs).toHaveLength(0); // starts at the end of the turn
    await settle();
    expect(fsyncs).toHaveLength(1); // covers a and b
    s.put('c', bytes('3'));
    void s.sync().then(() => acked.push('c1'));
    s.put('d', bytes('4'));
    void s.sync().then(() => acked.push('d1'));
    await settle();
    expect(fsyncs).toHaveLength(1); // c and d wait for the next one, together
    runFsyncs();
    await settle();
    expect(acked).toEqual(['a1', 'b1']);
    expect(s.stats()).toMatchObject({ durableKeys: 2, keys: 4, pendingWrites: 2, flushes: 1 });
    expect(fsyncs).toHaveLength(1);
    s.put('e', bytes('5')); // not synced by anyone
    runFsyncs();
    await settle();
    expect(acked).toEqual(['a1', 'b1', 'c1', 'd1']);
    expect(s.stats()).toMatchObject({ durableKeys: 4, pendingWrites: 1, flushes: 2 });
    expect(fsyncs).toHaveLength(0);
    s.crash();
    expect([...s.reopen().range({})].map(([k]) => k)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('flushes once for many writes and syncs in one turn, by default in a microtask', async () => {
    const s = new SimStorage();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => (s.put(`k${i}`, bytes('v')), s.sync())));
    expect(s.flushCount).toBe(1);
    expect(s.stats()).toMatchObject({ keys: 1000, durableKeys: 1000, pendingWrites: 0 });
  });

  it('handles a Raft-sized log: appends at the end, compaction at the front', async () => {
    const s = new SimStorage();
    const key = (i: number): string => `log/${String(i).padStart(10, '0')}`;
    for (let i = 0; i < 100_000; i++) s.put(key(i), bytes('entry'));
    await s.sync();
    s.delRange(key(0), key(90_000));
    s.put(key(100_000), bytes('entry'));
    await s.sync();
    expect(s.stats()).toMatchObject({ keys: 10_001, durableKeys: 10_001 });
    expect([...s.range({ limit: 1 })][0]![0]).toBe(key(90_000));
    expect([...s.range({ reverse: true, limit: 1 })][0]![0]).toBe(key(100_000));
  });
});
