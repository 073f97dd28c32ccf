// The shell's off-thread snapshot view (src/raft/shell-snapshots.ts) with the ministry's replay
// task, run inline as under the simulator: each snapshot it makes is byte for byte the one the
// state machine takes on its own thread, across successive snapshots (each the base of the
// next), after a restore, and after a build that failed (the next is then taken on the thread).

import { describe, expect, it } from 'vitest';
import { MinistryNamespace } from '../../src/actors/ministry-namespace.js';
import { MINISTRY_SNAPSHOT_TASK } from '../../src/actors/ministry-snapshot-task.js';
import type { ClientOp } from '../../src/fs/requests.js';
import { type MadeSnapshot, SnapshotMaker, madeFromSealed } from '../../src/raft/shell-snapshots.js';
import { decodeSnapshot } from '../../src/raft/log-store.js';
import type { StateMachine } from '../../src/raft/shell-types.js';
import { type WorkPool, inlinePool } from '../../src/runtime/work-pool.js';

const META = { term: 1, membership: { voters: ['a'], learners: [] } };
/** The state machine data of a build's sealed record (checked to decode as stored). */
const dataOf = (sealed: Uint8Array): Uint8Array => {
  expect(Buffer.from(decodeSnapshot(sealed, 'built').data).equals(Buffer.from(madeFromSealed(sealed, META).data))).toBe(true);
  return madeFromSealed(sealed, META).data;
};

function setup(pool: () => WorkPool) {
  const ns = new MinistryNamespace('/m');
  let snapshotCalls = 0;
  const sm: StateMachine = {
    apply: (e) => ns.applyEntry(e.data, e.index, e.committedAt),
    snapshot: () => {
      snapshotCalls++;
      return ns.snapshot();
    },
    restore: (d) => ns.restore(d, 0),
    replay: { task: MINISTRY_SNAPSHOT_TASK, context: '/m' },
  };
  const maker = new SnapshotMaker(sm, pool);
  let index = 0;
  let seq = 0;
  const apply = (op: ClientOp): void => {
    seq++;
    const e = { index: ++index, term: 1, data: MinistryNamespace.encodeEntry({ clientId: 'c', seq, acked: seq - 1, op, now: index }), committedAt: 1000 + index };
    sm.apply(e);
    maker.applied(e);
  };
  const lease = (): void => {
    const e = { index: ++index, term: 1, data: MinistryNamespace.encodeLease({ op: 'lease.grant', id: `l${index}`, clientId: 'c', path: '/m/a', start: 0, end: 10, ttlMs: 5000 }), committedAt: 1000 + index };
    sm.apply(e);
    maker.applied(e);
  };
  return { ns, maker, apply, lease, at: () => index, calls: () => snapshotCalls };
}

describe('SnapshotMaker with the ministry replay task, inline', () => {
  it('makes the thread snapshot bytes, snapshot after snapshot', () => {
    const t = setup(() => inlinePool);
    t.apply({ op: 'mkdir', path: '/m/a', parents: false });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++) t.apply({ op: 'create', path: `/m/a/f${round}-${i}` });
      t.apply({ op: 'rm', path: `/m/a/f${round}-7` });
      t.lease();
      const made = t.maker.make(t.at(), 0, META) as MadeSnapshot;
      expect(made.sealed).not.toBeNull();
      expect(Buffer.from(dataOf(made.sealed!)).equals(Buffer.from(t.ns.snapshot()))).toBe(true);
      t.maker.reset(made.data, t.at());
    }
    expect(t.calls()).toBe(0);
  });

  it('after a failed off-thread build, the next snapshot is the thread\'s own, and the view starts over from it', async () => {
    let fail = true;
    const failing: WorkPool = {
      inline: false,
      run: (task, input) => (fail ? Promise.reject(new Error('worker died')) : Promise.resolve(task.fn(input))),
      warm: () => {},
      close: async () => {},
    };
    const t = setup(() => failing);
    t.apply({ op: 'mkdir', path: '/m/a', parents: false });
    for (let i = 0; i < 50; i++) t.apply({ op: 'create', path: `/m/a/f${i}` });
    const p = t.maker.make(t.at(), 0, META) as Promise<Uint8Array>;
    const b = t.maker.building!;
    t.apply({ op: 'create', path: '/m/a/late' });
    await expect(p).rejects.toThrow('worker died');
    expect(t.maker.finished(b, false)).toBe(false);
    const onThread = t.maker.make(t.at(), 0, META) as MadeSnapshot;
    expect(onThread.sealed).toBeNull();
    expect(t.calls()).toBe(1);
    t.maker.reset(onThread.data, t.at());
    fail = false;
    for (let i = 0; i < 20; i++) t.apply({ op: 'create', path: `/m/a/g${i}` });
    const next = t.maker.make(t.at(), 0, META) as Promise<Uint8Array>;
    const b2 = t.maker.building!;
    // Applied while the build runs: after its index, so in the view for the next one.
    t.apply({ op: 'create', path: '/m/a/during' });
    const built = await next;
    expect(t.maker.finished(b2, true)).toBe(true);
    t.maker.installed(dataOf(built), b2.index);
    t.apply({ op: 'create', path: '/m/a/after' });
    const last = await (t.maker.make(t.at(), 0, META) as Promise<Uint8Array>);
    expect(Buffer.from(dataOf(last)).equals(Buffer.from(t.ns.snapshot()))).toBe(true);
  });

  it('drops a build begun before a restore', async () => {
    const t = setup(() => ({ inline: false, run: (task, input) => Promise.resolve(task.fn(input)), warm: () => {}, close: async () => {} }));
    t.apply({ op: 'mkdir', path: '/m/a', parents: false });
    const p = t.maker.make(t.at(), 0, META) as Promise<Uint8Array>;
    const b = t.maker.building!;
    t.maker.reset(t.ns.snapshot(), t.at());
    await p;
    expect(t.maker.finished(b, true)).toBe(false);
  });
});

// A copy for `govfs backup` (ministry-copy.ts): the state at the last applied entry, built by
// the replay task in the pool from copies, so that the view still holds every entry for the
// next snapshot.
describe('SnapshotMaker.copy', () => {
  it('is the thread snapshot at the applied index, built in the pool, and leaves the view whole', async () => {
    let ran = 0;
    const pool: WorkPool = {
      inline: false,
      run: (task, input) => {
        ran++;
        return Promise.resolve(task.fn(input));
      },
      warm: () => {},
      close: async () => {},
    };
    const t = setup(() => pool);
    t.apply({ op: 'mkdir', path: '/m/a', parents: false });
    for (let i = 0; i < 50; i++) t.apply({ op: 'create', path: `/m/a/f${i}` });
    const copy = t.maker.copy();
    expect(copy).toBeInstanceOf(Promise);
    expect(Buffer.from(await copy).equals(Buffer.from(t.ns.snapshot()))).toBe(true);
    expect(ran).toBe(1);
    // The next snapshot still covers every entry since the base.
    t.apply({ op: 'create', path: '/m/a/after' });
    const sealed = await (t.maker.make(t.at(), 0, META) as Promise<Uint8Array>);
    expect(Buffer.from(dataOf(sealed)).equals(Buffer.from(t.ns.snapshot()))).toBe(true);
    expect(t.calls()).toBe(0); // never on the thread
  });
});
