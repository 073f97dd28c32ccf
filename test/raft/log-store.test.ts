// The segment layout of the shell's log (log-store.ts) against a plain array of entries:
// random appends (with overwrites that start mid-segment), compactions and reloads, with a
// crash (unsynced writes lost) now and then.
import { describe, expect, it } from 'vitest';
import { SimStorage } from '../../src/runtime/storage-sim.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { appendOps, compactOps, decodeSegment, encodeSegment, loadEntries, segmentKey } from '../../src/raft/log-store.js';
import { CorruptStorageError, isSealed } from '../../src/runtime/sealed.js';
import { EntryKind, type Entry } from '../../src/raft/types.js';

const entry = (index: number, term: number): Entry => ({ index, term, kind: EntryKind.Normal, data: new TextEncoder().encode(`${index}@${term}`) });
const show = (es: readonly Entry[]): string[] => es.map((e) => `${e.index}:${e.term}:${new TextDecoder().decode(e.data)}`);

describe('log segments', () => {
  it('an overwrite that starts inside a segment keeps the segment prefix', () => {
    const st = new SimStorage();
    st.batch(appendOps(st, [1, 2, 3, 4, 5].map((i) => entry(i, 1)), false));
    st.batch(appendOps(st, [3, 4].map((i) => entry(i, 2)), true));
    expect(show(loadEntries(st, 0))).toEqual(show([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]));
    expect([...st.range({ start: 'e/', end: 'e/\uffff' })].map(([k]) => k)).toEqual([segmentKey(1), segmentKey(3)]);
  });

  it('compaction keeps the segment holding the entry after the snapshot; loading skips what it covers', () => {
    const st = new SimStorage();
    st.batch(appendOps(st, [1, 2, 3].map((i) => entry(i, 1)), false));
    st.batch(appendOps(st, [4, 5, 6].map((i) => entry(i, 1)), false));
    st.batch(appendOps(st, [7].map((i) => entry(i, 1)), false));
    st.batch(compactOps(st, 4));
    expect([...st.range({ start: 'e/', end: 'e/\uffff' })].map(([k]) => k)).toEqual([segmentKey(4), segmentKey(7)]);
    expect(loadEntries(st, 4).map((e) => e.index)).toEqual([5, 6, 7]);
    st.batch(compactOps(st, 7));
    expect(loadEntries(st, 7)).toEqual([]);
  });

  for (let seed = 1; seed <= 40; seed++) {
    it(`seed ${seed}: random appends, overwrites, compactions and crashes match a plain log`, async () => {
      const rnd = new SeededRandom(seed);
      let st = new SimStorage();
      // The model: what is durable, and what has been issued.
      let durable: Entry[] = [];
      let durableSnap = 0;
      let log: Entry[] = [];
      let snap = 0;
      let term = 1;
      for (let step = 0; step < 300; step++) {
        const last = log.length > 0 ? log[log.length - 1]!.index : snap;
        const roll = rnd.int(0, 9);
        if (roll < 6) {
          // Append, overwriting from a random point after the snapshot now and then.
          const from = roll === 0 && last > snap ? rnd.int(snap + 1, last) : last + 1;
          if (from <= last) term++;
          const batch = Array.from({ length: rnd.int(1, 6) }, (_, i) => entry(from + i, term));
          st.batch(appendOps(st, batch, from <= last));
          log = [...log.filter((e) => e.index < from), ...batch];
        } else if (roll < 8 && last > snap) {
          const at = rnd.int(snap + 1, last);
          st.batch(compactOps(st, at));
          snap = at;
          log = log.filter((e) => e.index > at);
        } else if (roll === 8) {
          await st.sync();
          durable = log;
          durableSnap = snap;
        } else {
          // Crash: only the synced writes survive.
          st.crash();
          st = st.reopen();
          log = durable;
          snap = durableSnap;
        }
        expect(show(loadEntries(st, snap))).toEqual(show(log));
      }
    });
  }
});

describe('log segment checksums (issue: corrupt data files)', () => {
  const legacySegment = (entries: readonly Entry[]): Uint8Array => {
    // The encoding before seals: the entries as they are, no magic, no checksum.
    const parts = entries.map((e) => {
      const b = new Uint8Array(13 + e.data.length);
      const v = new DataView(b.buffer);
      b[0] = e.kind;
      v.setFloat64(1, e.term, true);
      v.setUint32(9, e.data.length, true);
      b.set(e.data, 13);
      return b;
    });
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };

  it('a segment is stored with a checksum; any flipped byte is found on read (CorruptStorageError, EIO)', () => {
    const entries = [1, 2, 3].map((i) => entry(i, 1));
    const stored = encodeSegment(entries);
    expect(isSealed(stored)).toBe(true);
    expect(show(decodeSegment(1, stored))).toEqual(show(entries));
    for (let i = 4; i < stored.length; i++) {
      const bad = stored.slice();
      bad[i]! ^= 0x10;
      let err: unknown;
      try {
        decodeSegment(1, bad);
      } catch (e) {
        err = e;
      }
      expect(err, `byte ${i}`).toBeInstanceOf(CorruptStorageError);
      expect((err as CorruptStorageError).code).toBe('EIO');
      expect((err as Error).message).toContain(segmentKey(1));
    }
  });

  it('a segment under a damaged key (its first index changed) is refused, not read at other indexes', () => {
    const stored = encodeSegment([5, 6].map((i) => entry(i, 1)));
    expect(show(decodeSegment(5, stored))).toEqual(show([entry(5, 1), entry(6, 1)]));
    expect(() => decodeSegment(15, stored)).toThrow(/raft log segment e\/0000000000000015 holds the entries from index 5: its key is damaged/);
  });

  it('segments written before checksums existed still load; a mangled legacy one is refused, not misread', () => {
    const st = new SimStorage();
    const entries = [1, 2, 3].map((i) => entry(i, 1));
    st.put(segmentKey(1), legacySegment(entries));
    st.batch(appendOps(st, [4].map((i) => entry(i, 1)), false));
    expect(show(loadEntries(st, 0))).toEqual(show([...entries, entry(4, 1)]));
    // An overwrite inside the legacy segment rewrites its prefix sealed.
    st.batch(appendOps(st, [3].map((i) => entry(i, 2)), true));
    expect(isSealed(st.get(segmentKey(1))!)).toBe(true);
    expect(show(loadEntries(st, 0))).toEqual(show([entry(1, 1), entry(2, 1), entry(3, 2)]));
    const mangled = legacySegment(entries);
    mangled[9] = 0xff; // the first entry's length now runs past the end
    expect(() => decodeSegment(1, mangled)).toThrow(CorruptStorageError);
  });
});
