import { describe, expect, it } from 'vitest';
import { checkLinearizable, type Model, type Operation } from './linearizability.js';
import { NsSpec, checkNamespaceByMinistry, namespaceModel, type NsInput, type NsOperation, type NsOutput } from './namespace-model.js';

// --- toy models -------------------------------------------------------------------------------

type RegIn = { kind: 'write'; v: number } | { kind: 'read' };
/** A read's value; a write's output is ignored (null). */
type RegOut = number | null;

const register: Model<number, RegIn, RegOut> = {
  init: () => 0,
  step: (s, i, o) => (i.kind === 'write' ? { ok: true, state: i.v } : { ok: o === s, state: s }),
  stepUnknown: (s, i) => (i.kind === 'write' ? i.v : s),
  hash: (s) => String(s),
};

/** The same register without stepUnknown: an unknown write's output must be 'unknown'. */
const porcupineRegister: Model<number, RegIn, RegOut | 'unknown'> = {
  init: () => 0,
  step: (s, i, o) => (i.kind === 'write' ? { ok: true, state: i.v } : { ok: o === 'unknown' || o === s, state: s }),
  hash: (s) => String(s),
};

type KvIn = { op: 'put'; key: string; value: string } | { op: 'get'; key: string } | { op: 'append'; key: string; value: string };
type KvState = ReadonlyMap<string, string>;

function kvApply(s: KvState, i: KvIn): { state: KvState; out: string } {
  const cur = s.get(i.key) ?? '';
  if (i.op === 'get') return { state: s, out: cur };
  const next = new Map(s);
  next.set(i.key, i.op === 'put' ? i.value : cur + i.value);
  return { state: next, out: '' };
}

const kv: Model<KvState, KvIn, string> = {
  init: () => new Map(),
  step: (s, i, o) => {
    const a = kvApply(s, i);
    return { ok: i.op !== 'get' || a.out === o, state: a.state };
  },
  stepUnknown: (s, i) => kvApply(s, i).state,
  partition: (h) => {
    const by = new Map<string, Operation<KvIn, string>[]>();
    for (const op of h) by.set(op.input.key, [...(by.get(op.input.key) ?? []), op]);
    return [...by.values()];
  },
  hash: (s) => JSON.stringify([...s].sort()),
};

function op<I, O>(client: string, call: number, ret: number, input: I, output: O): Operation<I, O> {
  return { client, call, ret, input, output };
}
const w = (c: string, call: number, ret: number, v: number) => op<RegIn, RegOut>(c, call, ret, { kind: 'write', v }, null);
const r = (c: string, call: number, ret: number, v: number) => op<RegIn, RegOut>(c, call, ret, { kind: 'read' }, v);

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/**
 * A random history that is linearizable by construction: `clients` sequential clients, each
 * operation takes effect at a random instant between its call and its return; outputs are
 * computed by applying the operations in the order of those instants.
 */
function randomHistory<S, I, O>(
  seed: number,
  n: number,
  clients: number,
  init: S,
  gen: (rand: () => number) => I,
  apply: (s: S, i: I) => { state: S; out: O },
): Operation<I, O>[] {
  const rand = rng(seed);
  const clock = Array.from({ length: clients }, () => rand() * 5);
  const ops: Array<{ op: Operation<I, O>; at: number }> = [];
  for (let k = 0; k < n; k++) {
    const c = k % clients;
    const call = (clock[c] as number) + rand() * 3;
    const ret = call + 0.5 + rand() * 12;
    clock[c] = ret;
    ops.push({ op: { client: `c${c}`, call, ret, input: gen(rand), output: undefined as unknown as O }, at: call + rand() * (ret - call) });
  }
  let s = init;
  for (const x of [...ops].sort((a, b) => a.at - b.at)) {
    const a = apply(s, x.op.input);
    s = a.state;
    x.op.output = a.out;
  }
  return ops.map((x) => x.op);
}

// --- brute force, for cross-checking on small histories --------------------------------------

function precedes<I, O>(a: Operation<I, O>, b: Operation<I, O>): boolean {
  return a.ret < b.call || (a.ret === b.call && a.call < a.ret);
}

function bruteForce<S, I, O>(model: Model<S, I, O>, h: Operation<I, O>[]): boolean {
  const n = h.length;
  const used = new Array<boolean>(n).fill(false);
  const go = (s: S, count: number): boolean => {
    // Done if every known op is placed (unknown ones may be left out).
    if (h.every((o, i) => used[i] || o.ret === Infinity)) return true;
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      const o = h[i] as Operation<I, O>;
      // o is placeable only if no unplaced op must come before it (an unknown-outcome op,
      // ret = Infinity, precedes nothing, and may stay unplaced for ever).
      if (h.some((p, j) => !used[j] && j !== i && precedes(p, o))) continue;
      const next = o.ret === Infinity && model.stepUnknown ? { ok: true, state: model.stepUnknown(s, o.input) } : model.step(s, o.input, o.output);
      if (!next.ok) continue;
      used[i] = true;
      if (go(next.state, count + 1)) return true;
      used[i] = false;
    }
    return false;
  };
  return go(model.init(), 0);
}

// ----------------------------------------------------------------------------------------------

describe('checkLinearizable: register', () => {
  it('accepts the empty history and sequential histories', () => {
    expect(checkLinearizable(register, [])).toEqual({ ok: true });
    expect(checkLinearizable(register, [w('a', 0, 1, 1), r('b', 2, 3, 1), w('a', 4, 5, 2), r('a', 6, 7, 2)])).toEqual({ ok: true });
  });

  it('accepts concurrent operations in either order', () => {
    // write 1 overlaps both reads: one read may see 0 and the other 1, in that order.
    expect(checkLinearizable(register, [w('a', 0, 10, 1), r('b', 1, 2, 0), r('c', 3, 4, 1)]).ok).toBe(true);
    expect(checkLinearizable(register, [w('a', 0, 10, 1), r('b', 1, 2, 1)]).ok).toBe(true);
    expect(checkLinearizable(register, [w('a', 0, 10, 1), r('b', 1, 2, 0)]).ok).toBe(true);
    // Two concurrent writes: a later read may see either.
    for (const v of [1, 2]) expect(checkLinearizable(register, [w('a', 0, 10, 1), w('b', 0, 10, 2), r('c', 11, 12, v)]).ok).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    const res = checkLinearizable(register, [w('a', 0, 1, 1), r('b', 2, 3, 0)]);
    expect(res.ok).toBe(false);
  });

  it('rejects a read going back in time (new value, then old value)', () => {
    const h = [w('a', 0, 10, 1), r('b', 1, 2, 1), r('c', 3, 4, 0)];
    expect(checkLinearizable(register, h).ok).toBe(false);
  });

  it('rejects a value nobody wrote, and two writes seen in both orders', () => {
    expect(checkLinearizable(register, [w('a', 0, 1, 1), r('b', 0, 5, 7)]).ok).toBe(false);
    const h = [w('a', 0, 10, 1), w('b', 0, 10, 2), r('c', 11, 12, 1), r('d', 13, 14, 2)];
    expect(checkLinearizable(register, h).ok).toBe(false);
  });

  it('ties: a return at the same time as a call did not overlap it', () => {
    // The write returned at 5 and the read was called at 5: the write came first.
    expect(checkLinearizable(register, [w('a', 0, 5, 1), r('b', 5, 6, 0)]).ok).toBe(false);
    expect(checkLinearizable(register, [w('a', 0, 5, 1), r('b', 5, 6, 1)]).ok).toBe(true);
    // Overlapping by the smallest amount: concurrent.
    expect(checkLinearizable(register, [w('a', 0, 5, 1), r('b', 4.999, 6, 0)]).ok).toBe(true);
    // Zero-duration operations at the same instant are concurrent with each other.
    expect(checkLinearizable(register, [w('a', 5, 5, 1), r('b', 5, 5, 0)]).ok).toBe(true);
    expect(checkLinearizable(register, [w('a', 5, 5, 1), r('b', 5, 5, 1)]).ok).toBe(true);
    // ...but follow what returned at that instant and precede what starts later.
    expect(checkLinearizable(register, [w('a', 0, 5, 1), r('b', 5, 5, 0)]).ok).toBe(false);
    expect(checkLinearizable(register, [w('a', 5, 5, 1), r('b', 6, 7, 0)]).ok).toBe(false);
  });

  it('rejects malformed histories', () => {
    expect(() => checkLinearizable(register, [w('a', 5, 4, 1)])).toThrow(/before its call/);
    expect(() => checkLinearizable(register, [w('a', NaN, 4, 1)])).toThrow(/non-finite call/);
    expect(() => checkLinearizable(register, [w('a', Infinity, Infinity, 1)])).toThrow(/non-finite call/);
  });

  it('explains a failure: the op that could not be placed and the longest linearizable prefix', () => {
    const h = [w('a', 0, 1, 1), r('b', 2, 3, 1), w('a', 4, 5, 2), r('c', 6, 7, 1)];
    const res = checkLinearizable(register, h);
    expect(res.ok).toBe(false);
    if (res.ok !== false) return;
    expect(res.partial?.linearized).toEqual([h[0], h[1], h[2]]);
    expect(res.partial?.stuck).toBe(h[3]);
    expect(res.partial?.state).toBe(2);
    expect(res.reason).toContain('Could not place: [c @6..7]');
    expect(res.reason).toContain('Longest linearizable prefix found (3 operations)');
    expect(res.reason).toContain('State after that prefix: 2');
  });

  it('times out (ok: unknown) on a search too large for the budget', () => {
    // 60 concurrent writes, then a read of a value nobody wrote: every subset gets explored.
    const h = [...Array.from({ length: 60 }, (_, i) => w(`c${i}`, 0, 100, i + 1)), r('z', 101, 102, -1)];
    const t0 = Date.now();
    expect(checkLinearizable(register, h, { timeoutMs: 100 })).toEqual({ ok: 'unknown', reason: 'timeout' });
    // The budget is honoured: far sooner than the exhaustive search (generous, for a loaded machine).
    expect(Date.now() - t0).toBeLessThan(30_000);
  });
});

describe('checkLinearizable: unknown outcomes (ret = Infinity)', () => {
  it('an unknown write may apply at any point after its call, or never', () => {
    expect(checkLinearizable(register, [w('a', 0, Infinity, 1), r('b', 5, 6, 1)]).ok).toBe(true);
    expect(checkLinearizable(register, [w('a', 0, Infinity, 1), r('b', 5, 6, 0)]).ok).toBe(true);
    expect(checkLinearizable(register, [w('a', 0, Infinity, 1), r('b', 5, 6, 0), r('b', 7, 8, 1), r('c', 9, 10, 1)]).ok).toBe(true);
    // Not before its call.
    expect(checkLinearizable(register, [r('b', 0, 1, 1), w('a', 2, Infinity, 1)]).ok).toBe(false);
    // Once applied it stays applied (no later write to undo it).
    expect(checkLinearizable(register, [w('a', 0, Infinity, 1), r('b', 5, 6, 1), r('c', 7, 8, 0)]).ok).toBe(false);
  });

  it('an unknown write with a later known write: any order consistent with real time', () => {
    const h = [w('a', 0, Infinity, 1), w('b', 2, 3, 2), r('c', 4, 5, 1), r('c', 6, 7, 1)];
    expect(checkLinearizable(register, h).ok).toBe(true);
    const bad = [w('a', 0, Infinity, 1), w('b', 2, 3, 2), r('c', 4, 5, 1), r('c', 6, 7, 2)];
    expect(checkLinearizable(register, bad).ok).toBe(false);
  });

  it('Porcupine-style: without stepUnknown, step is called with the recorded output', () => {
    const h: Operation<RegIn, RegOut | 'unknown'>[] = [
      { client: 'a', call: 0, ret: Infinity, input: { kind: 'read' }, output: 'unknown' },
      { client: 'a', call: 0, ret: Infinity, input: { kind: 'write', v: 3 }, output: 'unknown' },
      { client: 'b', call: 1, ret: 2, input: { kind: 'read' }, output: 3 },
    ];
    expect(checkLinearizable(porcupineRegister, h).ok).toBe(true);
  });
});

describe('checkLinearizable: agrees with brute force on small random histories', () => {
  it('3 000 histories of up to 7 operations, with ties and unknown outcomes', () => {
    const rand = rng(42);
    let yes = 0;
    let no = 0;
    for (let k = 0; k < 3000; k++) {
      const n = 1 + Math.floor(rand() * 7);
      const h: Operation<RegIn, RegOut>[] = [];
      for (let i = 0; i < n; i++) {
        const call = Math.floor(rand() * 8);
        const ret = rand() < 0.1 ? Infinity : call + Math.floor(rand() * 4);
        h.push(rand() < 0.5 ? w(`c${i}`, call, ret, 1 + Math.floor(rand() * 2)) : r(`c${i}`, call, ret, Math.floor(rand() * 3)));
      }
      const want = bruteForce(register, h);
      const got = checkLinearizable(register, h);
      expect(got.ok, JSON.stringify(h)).toBe(want);
      if (want) yes++;
      else no++;
    }
    expect(yes).toBeGreaterThan(300);
    expect(no).toBeGreaterThan(300);
  });
});

/** Brute force with session reads, straight from the header's words: a session read's call
 * moves back to the latest (moved-back) call among its client's earlier operations, and it is
 * placed only after every one of those. */
function bruteForceSessions<S, I, O>(model: Model<S, I, O>, h: Operation<I, O>[]): boolean {
  const earlier = h.map((o, i) => (o.session === true ? h.map((_, j) => j).filter((j) => j !== i && h[j]!.client === o.client && precedes(h[j]!, o)) : []));
  const moved = h.map((o) => o.call);
  const byCall = h.map((_, i) => i).sort((a, b) => h[a]!.call - h[b]!.call);
  for (const i of byCall) if (h[i]!.session === true) moved[i] = Math.max(-Infinity, ...earlier[i]!.map((j) => moved[j]!));
  const timed = h.map((o, i) => ({ ...o, call: moved[i]! }));
  const used = new Array<boolean>(h.length).fill(false);
  const go = (s: S): boolean => {
    if (h.every((o, i) => used[i] || o.ret === Infinity)) return true;
    for (let i = 0; i < h.length; i++) {
      if (used[i]) continue;
      const o = h[i]!;
      if (timed.some((p, j) => !used[j] && j !== i && precedes(p, timed[i]!))) continue;
      if (!earlier[i]!.every((j) => used[j])) continue;
      const next = o.ret === Infinity && model.stepUnknown ? { ok: true, state: model.stepUnknown(s, o.input) } : model.step(s, o.input, o.output);
      if (!next.ok) continue;
      used[i] = true;
      if (go(next.state)) return true;
      used[i] = false;
    }
    return false;
  };
  return go(model.init());
}

describe('checkLinearizable: session reads agree with brute force', () => {
  it('3 000 histories of up to 7 operations by 1-3 sequential clients, with unknown outcomes', () => {
    const rand = rng(7);
    let yes = 0;
    let no = 0;
    for (let k = 0; k < 3000; k++) {
      const n = 1 + Math.floor(rand() * 7);
      const clients = 1 + Math.floor(rand() * 3);
      const free = new Array<number>(clients).fill(0); // when each client may call next
      const h: Operation<RegIn, RegOut>[] = [];
      for (let i = 0; i < n; i++) {
        const c = Math.floor(rand() * clients);
        const call = free[c]! + Math.floor(rand() * 3);
        const ret = rand() < 0.1 ? Infinity : call + 1 + Math.floor(rand() * 3);
        // One at a time per client: the next call comes at or after this return (an unknown
        // outcome frees the client at once, as a client that gave up does).
        free[c] = ret === Infinity ? call + 1 : ret + Math.floor(rand() * 2);
        const o = rand() < 0.4 ? w(`c${c}`, call, ret, 1 + Math.floor(rand() * 2)) : r(`c${c}`, call, ret, Math.floor(rand() * 3));
        if (o.input.kind === 'read' && rand() < 0.6) o.session = true;
        h.push(o);
      }
      const want = bruteForceSessions(register, h);
      expect(checkLinearizable(register, h).ok, JSON.stringify(h)).toBe(want);
      if (want) yes++;
      else no++;
    }
    expect(yes).toBeGreaterThan(300);
    expect(no).toBeGreaterThan(300);
  });

  it('a sequential history of 200 000 operations with session reads (an hour of nemesis) is checked', () => {
    // Before the memo keyed on a set hash and session reads waited for their client's last
    // operation only, this ran out of heap (a key of n/32 words per step; n^2 earlier lists).
    const h: Operation<RegIn, RegOut>[] = [];
    let v = 0;
    for (let i = 0; i < 200_000; i++) {
      const t = 2 * i;
      if (i % 3 === 0) h.push(w(`c${i % 4}`, t, t + 1, (v = (v % 5) + 1)));
      else h.push({ ...r(`c${i % 4}`, t, t + 1, v), session: i % 3 === 1 });
    }
    expect(checkLinearizable(register, h).ok).toBe(true);
    // The same with one stale linearizable read near the end: found.
    const bad = h.slice();
    const last = bad.length - 1;
    bad[last] = { ...r('c9', 2 * last, 2 * last + 1, v === 1 ? 2 : 1) };
    expect(checkLinearizable(register, bad).ok).toBe(false);
  });
});

describe('checkLinearizable: P-compositionality (KV partitioned by key)', () => {
  const put = (c: string, call: number, ret: number, key: string, value: string) => op<KvIn, string>(c, call, ret, { op: 'put', key, value }, '');
  const get = (c: string, call: number, ret: number, key: string, out: string) => op<KvIn, string>(c, call, ret, { op: 'get', key }, out);

  it('checks each key on its own and names the failing part', () => {
    const ok = [put('a', 0, 1, 'x', '1'), put('b', 0, 1, 'y', '2'), get('c', 2, 3, 'x', '1'), get('c', 4, 5, 'y', '2')];
    expect(checkLinearizable(kv, ok).ok).toBe(true);
    const bad = [...ok, get('d', 6, 7, 'y', '')];
    const res = checkLinearizable(kv, bad);
    expect(res.ok).toBe(false);
    if (res.ok === false) {
      expect(res.partial?.partition).toBe(1);
      expect(res.reason).toContain('part 1 of 2');
    }
  });

  it('a random valid 1 000-operation KV history over 5 keys, 8 clients', () => {
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
    const h = randomHistory<KvState, KvIn, string>(
      7,
      1000,
      8,
      new Map(),
      (rd) => {
        const key = keys[Math.floor(rd() * keys.length)] as string;
        const x = rd();
        return x < 0.3 ? { op: 'put', key, value: String(Math.floor(rd() * 100)) } : x < 0.6 ? { op: 'append', key, value: String(Math.floor(rd() * 10)) } : { op: 'get', key };
      },
      kvApply,
    );
    const stats = { steps: 0 };
    const t0 = performance.now();
    expect(checkLinearizable(kv, h, { stats }).ok).toBe(true);
    const ms = performance.now() - t0;
    console.log(`KV 1000 ops / 5 keys / 8 clients: ${stats.steps} search steps, ${ms.toFixed(1)} ms`);
    // The search stays near one step per call and return (2,069 steps for these 2,000 events;
    // bounded in steps, not ms, so the machine's speed is not what is checked).
    expect(stats.steps).toBeLessThan(10 * 2 * h.length);
  });
});

// --- the namespace model ----------------------------------------------------------------------

const ok = (value?: unknown): NsOutput => (value === undefined ? { ok: true } : { ok: true, value });
const err = (code: string): NsOutput => ({ ok: false, code });
const nsop = (client: string, call: number, ret: number, input: NsInput, output: NsOutput): NsOperation => ({ client, call, ret, input, output });
const check = (h: NsOperation[]) => checkLinearizable(namespaceModel(), h);

describe('checkLinearizable: namespace histories', () => {
  it('two concurrent creates of the same file cannot both succeed', () => {
    const both = [nsop('a', 0, 10, { op: 'create', path: '/x' }, ok()), nsop('b', 1, 11, { op: 'create', path: '/x' }, ok())];
    const res = check(both);
    expect(res.ok).toBe(false);
    if (res.ok === false) {
      expect(res.reason).toMatch(/Could not place: \[(a|b) @\d+\.\.\d+\] create \/x => ok\n {2}right after the prefix below, the model answers EEXIST/);
      expect(res.reason).toContain('State after that prefix: { /, /x }');
    }
    const one = [nsop('a', 0, 10, { op: 'create', path: '/x' }, ok()), nsop('b', 1, 11, { op: 'create', path: '/x' }, err('EEXIST'))];
    expect(check(one).ok).toBe(true);
    const other = [nsop('a', 0, 10, { op: 'create', path: '/x' }, err('EEXIST')), nsop('b', 1, 11, { op: 'create', path: '/x' }, ok())];
    expect(check(other).ok).toBe(true);
    // EEXIST before anything created it: no.
    const early = [nsop('b', 0, 1, { op: 'create', path: '/x' }, err('EEXIST')), nsop('a', 2, 3, { op: 'create', path: '/x' }, ok())];
    expect(check(early).ok).toBe(false);
  });

  it('an ls must see a create that completed before it started', () => {
    const create = nsop('a', 0, 5, { op: 'create', path: '/x' }, ok());
    expect(check([create, nsop('b', 6, 8, { op: 'ls', path: '/' }, ok([]))]).ok).toBe(false);
    expect(check([create, nsop('b', 5, 8, { op: 'ls', path: '/' }, ok([]))]).ok).toBe(false); // tie: no overlap
    expect(check([create, nsop('b', 6, 8, { op: 'ls', path: '/' }, ok(['x']))]).ok).toBe(true);
    expect(check([create, nsop('b', 4, 8, { op: 'ls', path: '/' }, ok([]))]).ok).toBe(true); // concurrent
    expect(check([create, nsop('b', 4, 8, { op: 'ls', path: '/' }, ok([{ name: 'x', kind: 'file' }]))]).ok).toBe(true);
  });

  it('a rename is atomic: the new name appears exactly when the old one goes', () => {
    const setup = nsop('a', 0, 1, { op: 'mkdir', path: '/d' }, ok());
    const rename = nsop('a', 2, 20, { op: 'rename', from: '/d', to: '/e' }, ok());
    const good = [setup, rename, nsop('b', 3, 4, { op: 'stat', path: '/d' }, ok('dir')), nsop('b', 5, 6, { op: 'stat', path: '/e' }, ok('dir')), nsop('c', 7, 8, { op: 'stat', path: '/d' }, err('ENOENT'))];
    expect(check(good).ok).toBe(true);
    const bad = [setup, rename, nsop('b', 5, 6, { op: 'stat', path: '/e' }, ok('dir')), nsop('c', 7, 8, { op: 'stat', path: '/d' }, ok('dir'))];
    expect(check(bad).ok).toBe(false);
    // Seeing both names at once (one listing) is never allowed.
    const both = [setup, rename, nsop('b', 3, 4, { op: 'ls', path: '/' }, ok(['d', 'e']))];
    expect(check(both).ok).toBe(false);
  });

  it('error codes are part of the answer', () => {
    const h = [
      nsop('a', 0, 1, { op: 'mkdir', path: '/d' }, ok()),
      nsop('a', 2, 3, { op: 'create', path: '/d/f' }, ok()),
      nsop('b', 4, 5, { op: 'rmdir', path: '/d' }, err('ENOTEMPTY')),
      nsop('b', 6, 7, { op: 'rm', path: '/d' }, err('EISDIR')),
      nsop('c', 8, 9, { op: 'mkdir', path: '/d/f/g' }, err('ENOTDIR')),
      nsop('c', 10, 11, { op: 'rename', from: '/d', to: '/d/h' }, err('EINVAL')),
      nsop('c', 12, 13, { op: 'rmdir', path: '/d', recursive: true }, ok()),
      nsop('a', 14, 15, { op: 'ls', path: '/d' }, err('ENOENT')),
    ];
    expect(check(h).ok).toBe(true);
    const wrong = h.map((o, i) => (i === 2 ? { ...o, output: err('ENOENT') } : o));
    expect(check(wrong).ok).toBe(false);
  });

  it('a create with an unknown outcome may or may not have happened, but not both', () => {
    const lost = nsop('a', 0, Infinity, { op: 'create', path: '/x' }, err('ETIMEDOUT'));
    expect(check([lost, nsop('b', 5, 6, { op: 'ls', path: '/' }, ok(['x']))]).ok).toBe(true);
    expect(check([lost, nsop('b', 5, 6, { op: 'ls', path: '/' }, ok([]))]).ok).toBe(true);
    expect(check([lost, nsop('b', 5, 6, { op: 'create', path: '/x' }, ok())]).ok).toBe(true);
    expect(check([lost, nsop('b', 5, 6, { op: 'create', path: '/x' }, err('EEXIST'))]).ok).toBe(true);
    expect(check([lost, nsop('b', 5, 6, { op: 'ls', path: '/' }, ok([])), nsop('b', 7, 8, { op: 'ls', path: '/' }, ok(['x']))]).ok).toBe(true);
    expect(check([lost, nsop('b', 5, 6, { op: 'ls', path: '/' }, ok(['x'])), nsop('b', 7, 8, { op: 'ls', path: '/' }, ok([]))]).ok).toBe(false);
  });

  it('checks a multi-ministry history per ministry', () => {
    const h = [
      nsop('a', 0, 1, { op: 'create', path: '/x' }, ok()),
      nsop('a', 2, 3, { op: 'create', path: '/m/y' }, ok()),
      nsop('b', 4, 5, { op: 'ls', path: '/' }, ok(['m', 'x'])), // /m shows as the root of ministry /m
      nsop('b', 6, 7, { op: 'ls', path: '/m' }, ok(['y'])),
      nsop('b', 8, 9, { op: 'rmdir', path: '/m' }, err('EBUSY')),
    ];
    expect(checkNamespaceByMinistry(h, ['/', '/m']).ok).toBe(true);
    const bad = [...h, nsop('c', 10, 11, { op: 'stat', path: '/m/y' }, err('ENOENT'))];
    const res = checkNamespaceByMinistry(bad, ['/', '/m']);
    expect(res.ok).toBe(false);
    expect(res.ministry).toBe('/m');
    if (res.ok === false) expect(res.reason).toMatch(/^ministry \/m: not linearizable/);
  });

  it('a random valid 300-operation history with 6 clients checks as linearizable, and one corrupted ls as not', () => {
    const spec = new NsSpec();
    const paths = ['/a', '/b', '/a/x', '/a/y', '/b/x', '/c'];
    const gen = (rd: () => number): NsInput => {
      const p = () => paths[Math.floor(rd() * paths.length)] as string;
      const x = rd();
      if (x < 0.15) return { op: 'mkdir', path: p() };
      if (x < 0.35) return { op: 'create', path: p() };
      if (x < 0.45) return { op: 'rm', path: p() };
      if (x < 0.55) return { op: 'rmdir', path: p(), recursive: rd() < 0.5 };
      if (x < 0.65) return { op: 'rename', from: p(), to: p() };
      if (x < 0.85) return { op: 'ls', path: rd() < 0.5 ? '/' : p() };
      return { op: 'stat', path: p() };
    };
    const apply = (s: ReturnType<NsSpec['initial']>, i: NsInput) => {
      const a = spec.apply(s, i);
      return { state: a.state, out: (a.ok ? (a.value === undefined ? { ok: true } : { ok: true, value: a.value }) : { ok: false, code: a.code }) as NsOutput };
    };
    const times: number[] = [];
    const steps: number[] = [];
    for (let seed = 1; seed <= 5; seed++) {
      const h = randomHistory(seed, 300, 6, spec.initial(), gen, apply);
      const stats = { steps: 0 };
      const t0 = performance.now();
      const res = checkLinearizable(namespaceModel(), h, { stats });
      times.push(performance.now() - t0);
      steps.push(stats.steps);
      expect(res.ok).toBe(true);
      // Corrupt one completed ls (add a name no operation ever creates): not linearizable, and
      // the checker must say so.
      const t1 = performance.now();
      const i = h.findIndex((o, j) => j > 150 && o.input.op === 'ls' && o.output.ok);
      const o = h[i] as NsOperation;
      const names = ((o.output as { value: Array<{ name: string }> }).value ?? []).map((e) => e.name);
      const corrupted = h.map((x, j) => (j === i ? { ...x, output: ok([...names, 'zzz']) } : x));
      const bad = { steps: 0 };
      expect(checkLinearizable(namespaceModel(), corrupted, { stats: bad }).ok).toBe(false);
      times.push(performance.now() - t1);
      steps.push(bad.steps);
    }
    console.log(`namespace 300 ops / 6 clients: ${steps.join(', ')} search steps, ${times.map((t) => t.toFixed(1)).join(', ')} ms (valid, corrupted alternating)`);
    // Bounded in search steps (not ms): 522-909 for a valid history of these 600 calls and
    // returns, 10,742-12,906 to prove a corrupted one wrong.
    expect(Math.max(...steps)).toBeLessThan(50 * 2 * 300);
  });
});

// --- session reads (read-your-writes, monotonic reads) ------------------------------------------

describe('session reads', () => {
  const s = (c: string, call: number, ret: number, v: number): Operation<RegIn, RegOut> => ({ ...r(c, call, ret, v), session: true });

  it('may miss another client\'s change that finished before they began (a stale replica)', () => {
    const h = [w('a', 0, 10, 1), s('b', 20, 30, 0)];
    expect(checkLinearizable(register, h).ok).toBe(true);
    // The same read as a linearizable one is stale.
    expect(checkLinearizable(register, [w('a', 0, 10, 1), r('b', 20, 30, 0)]).ok).toBe(false);
  });

  it('must see the client\'s own earlier writes (read your writes)', () => {
    expect(checkLinearizable(register, [w('a', 0, 10, 1), s('a', 20, 30, 0)]).ok).toBe(false);
    expect(checkLinearizable(register, [w('a', 0, 10, 1), s('a', 20, 30, 1)]).ok).toBe(true);
    // Also when the write returned at the very instant the read was called.
    expect(checkLinearizable(register, [w('a', 0, 10, 1), s('a', 10, 30, 0)]).ok).toBe(false);
  });

  it('must not go back behind what the client already read (monotonic reads)', () => {
    const h = [w('a', 0, 10, 1), w('a', 11, 20, 2), s('b', 30, 40, 2), s('b', 50, 60, 1)];
    const v = checkLinearizable(register, h);
    expect(v.ok).toBe(false);
    if (v.ok === false) expect(v.reason).toContain('session');
    expect(checkLinearizable(register, [w('a', 0, 10, 1), w('a', 11, 20, 2), s('b', 30, 40, 1), s('b', 50, 60, 2)]).ok).toBe(true);
  });

  it('must not see a change called after they returned', () => {
    expect(checkLinearizable(register, [s('b', 0, 10, 1), w('a', 20, 30, 1)]).ok).toBe(false);
  });

  it('may show again what the client\'s earlier session read showed (found by the nemesis)', () => {
    // b's first read saw 1 from a replica behind a's write of 2 (allowed); its second read, from
    // the same replica, shows 1 again: monotonic, so allowed, though a's write returned before
    // either read began.
    const h = [w('a', 0, 10, 1), w('a', 11, 20, 2), s('b', 25, 30, 1), s('b', 40, 50, 1)];
    expect(checkLinearizable(register, h).ok).toBe(true);
    // And after a write of its own, the client's reads go no further back than that write.
    const h2 = [w('a', 0, 10, 1), w('b', 11, 20, 2), w('a', 21, 22, 3), s('b', 25, 30, 2), s('b', 40, 50, 2)];
    expect(checkLinearizable(register, h2).ok).toBe(true);
    expect(checkLinearizable(register, [...h2.slice(0, 4), s('b', 40, 50, 1)]).ok).toBe(false);
  });

  it('count a linearizable read of the same client as an earlier operation', () => {
    // b read 2 linearizably, so its session read after that cannot show 1.
    const h = [w('a', 0, 10, 1), w('a', 11, 20, 2), r('b', 30, 40, 2), s('b', 50, 60, 1)];
    expect(checkLinearizable(register, h).ok).toBe(false);
  });
});
