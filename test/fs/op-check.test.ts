import { describe, expect, it } from 'vitest';
import { checkOp } from '../../src/fs/op-check.js';

// checkOp's in-place check (`own`: a decoder's fresh object, as a protobuf ministry entry's)
// must accept, refuse and normalise exactly as its copying check does.

const outcome = (x: unknown, own: boolean): unknown => {
  try {
    return { ok: checkOp(structuredClone(x), own) };
  } catch (e) {
    return { error: (e as Error).message };
  }
};

const base = { op: 'client', clientId: 'c1', seq: 3, now: 1_700_000_000_000.25, body: { op: 'create', path: '/a/f' } };

describe('checkOp on a client create, in place or copied', () => {
  it('gives the same op or the same error for good and malformed changes', () => {
    const cases: unknown[] = [
      base,
      { ...base, acked: 2 },
      { ...base, acked: 0 },
      { ...base, now: -0 },
      { ...base, as: { uid: 5, gid: 6, groups: [7] } },
      { ...base, body: { op: 'create', path: '/a/f', exclusive: false, mode: 0o600 } },
      { ...base, clientId: '' },
      { ...base, seq: 0 },
      { ...base, acked: 1.5 },
      { ...base, now: Infinity },
      { ...base, body: { op: 'create', path: 5 } },
      { ...base, body: { op: 'create', path: '/a', exclusive: 'yes' } },
      { ...base, body: { op: 'create', path: '/a', mode: 0o10000 } },
      { ...base, body: null },
      { ...base, body: { op: 'rm', path: '/a/f' } },
      { ...base, as: { uid: -1, gid: 0 } },
    ];
    for (const x of cases) expect(outcome(x, true), JSON.stringify(x)).toEqual(outcome(x, false));
    expect(Object.is((outcome({ ...base, now: -0 }, true) as { ok: { now: number } }).ok.now, 0)).toBe(true);
  });

  it('keeps the object it was given only when told it owns it', () => {
    const own = structuredClone(base);
    expect(checkOp(own, true)).toBe(own);
    const shared = structuredClone(base);
    const copy = checkOp(shared);
    expect(copy).not.toBe(shared);
    expect(copy).toEqual(shared);
  });
});
