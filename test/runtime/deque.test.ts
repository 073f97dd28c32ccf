import { describe, expect, it } from 'vitest';
import { Deque, SeededRandom } from '../../src/runtime/random.js';

describe('Deque (mailboxes and run queues)', () => {
  it("behaves as an array's push, unshift and shift through growth, wrap-around, draining and clear, over random operations", () => {
    const rnd = new SeededRandom(19, 1);
    const d = new Deque<number>();
    const model: number[] = [];
    let next = 0;
    for (let step = 0; step < 10_000; step++) {
      const r = rnd.next();
      if (r < 0.003) {
        // a burst: beyond the capacity a drained deque keeps, so it grows and later shrinks
        for (let i = 0; i < 25_000 * rnd.next(); i++) {
          d.push(next);
          model.push(next++);
        }
      } else if (r < 0.45) {
        d.push(next);
        model.push(next++);
      } else if (r < 0.5) {
        // a stash given back (unshift), also across the wrap and when full
        d.unshift(next);
        model.unshift(next++);
      } else if (r < 0.995) {
        expect(d.peek()).toBe(model[0]);
        expect(d.shift()).toBe(model.shift());
      } else {
        expect(d.clear()).toEqual(model.splice(0));
      }
      expect(d.length).toBe(model.length);
    }
    expect(d.clear()).toEqual(model);
    expect(d.shift()).toBeUndefined();
    expect(d.peek()).toBeUndefined();
  });
});
