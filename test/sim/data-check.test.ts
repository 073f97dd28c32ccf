// The data sim's check of acknowledgement order against fencing tokens (staleAcks, data-check.ts):
// the order of issue 17's seed 332 report is flagged, writes in token order or over other
// bytes are not.

import { describe, expect, it } from 'vitest';
import { staleAcks, type Write } from './data-check.js';

const w = (value: number, token: number, offset: number, length: number, acked: number): Write => ({ value, token, file: '/d2', offset, length, start: acked - 100, acked });

describe('data sim: staleAcks', () => {
  it('flags a write acknowledged after an overlapping one under a newer token (seed 332)', () => {
    const v = staleAcks([w(6, 8, 20_000, 4_000, 9_076), w(8, 10, 22_000, 3_000, 9_067)]);
    expect(v).toHaveLength(1);
    expect(v[0]).toContain('write 6 (lease token 8)');
  });

  it('passes writes acknowledged in token order, over other bytes, or never acknowledged', () => {
    expect(staleAcks([w(6, 8, 0, 100, 9_000), w(8, 10, 50, 100, 9_067)])).toEqual([]);
    expect(staleAcks([w(6, 8, 0, 100, 9_076), w(8, 10, 100, 100, 9_067)])).toEqual([]);
    expect(staleAcks([w(6, 8, 0, 100, Infinity), w(8, 10, 50, 100, 9_067)])).toEqual([]);
  });
});
