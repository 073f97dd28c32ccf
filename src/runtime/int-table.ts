// A table keyed by non-negative integers (ask correlation ids), for keys that come and go at a
// high rate.
//
// Why not a Map: V8 rebuilds a Map's hash table as deleted entries pile up, and the table it
// replaces keeps a pointer to its successor (for live iterators) and its old entries. Once one
// of those tables has been promoted to the old generation, every later table, and whatever
// the entries reach, is kept alive by it through each scavenge and promoted too, until the
// next full GC. For the runtime's pending asks that meant every reply (the resolved promise's
// value) was promoted: ~0.8 KB per `ls` on a client thread at 100 k/s, a full GC every 0.4 s.
// This table is two plain arrays with open addressing (linear probing, backward-shift
// deletion): a replaced array points to nothing.
//
// Keys are placed by a multiplicative (Fibonacci) hash, not by their low bits: the keys here
// are mostly consecutive (log indexes, sequence numbers, ask ids) and leave in the order they
// came, and with low bits as the slot they formed one packed probe run as long as the table's
// count, which every deletion's backward shift walked to its end (a Raft shell with 300
// proposals in flight spent ~1 us per applied entry there). Scattered, runs stay short.

const EMPTY = -1;
/** 2^32 / golden ratio: consecutive keys land far apart and evenly spread. */
const FIBONACCI = 0x9e3779b1;

export class IntTable<V> {
  private keys: number[];
  private values: (V | undefined)[];
  private mask: number;
  /** 32 - log2(table size): the hash's top bits are the slot. */
  private shift: number;
  private count = 0;

  constructor(capacity = 64) {
    let size = 8;
    while (size < capacity) size *= 2;
    this.keys = new Array<number>(size).fill(EMPTY);
    this.values = new Array<V | undefined>(size).fill(undefined);
    this.mask = size - 1;
    this.shift = 32 - Math.log2(size);
  }

  /** The slot where `key`'s probe starts (only its low 32 bits count; the probe compares whole keys). */
  private home(key: number): number {
    return Math.imul(key, FIBONACCI) >>> this.shift;
  }

  get size(): number {
    return this.count;
  }

  get(key: number): V | undefined {
    const keys = this.keys;
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) return this.values[i];
      if (k === EMPTY) return undefined;
    }
  }

  set(key: number, value: V): void {
    if (!(Number.isSafeInteger(key) && key >= 0)) throw new RangeError(`IntTable key must be a non-negative safe integer, got ${key}`);
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key || k === EMPTY) {
        if (k === EMPTY) this.count++;
        keys[i] = key;
        this.values[i] = value;
        return;
      }
    }
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const mask = this.mask;
    let i = this.home(key);
    for (; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === key) break;
      if (k === EMPTY) return false;
    }
    // Backward-shift: move later entries of the probe run into the hole, so that lookups never
    // need tombstones.
    let hole = i;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const k = keys[j]!;
      if (k === EMPTY) break;
      const home = this.home(k);
      // Does the entry at j, whose probe starts at `home`, pass over `hole` on its way to j?
      const passes = hole <= j ? home <= hole || home > j : home <= hole && home > j;
      if (passes) {
        keys[hole] = k;
        this.values[hole] = this.values[j];
        hole = j;
      }
    }
    keys[hole] = EMPTY;
    this.values[hole] = undefined;
    this.count--;
    return true;
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  /** The entries by ascending key (a copy). */
  sortedEntries(): Array<[number, V]> {
    const out: Array<[number, V]> = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== EMPTY) out.push([this.keys[i]!, this.values[i] as V]);
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** Delete every key in (`above`, `upTo`]: one by one when that range is short (the usual
   * case: a floor that rises by one or two), else by going through the table. */
  deleteRange(above: number, upTo: number): void {
    if (this.count === 0 || upTo <= above) return;
    if (upTo - above <= 2 * this.count) for (let k = above + 1; k <= upTo; k++) this.delete(k);
    else for (const k of this.keyList()) if (k > above && k <= upTo) this.delete(k);
  }

  /** The keys, in no particular order (a copy: safe to delete while going through it). */
  keyList(): number[] {
    const out: number[] = [];
    for (const k of this.keys) if (k !== EMPTY) out.push(k);
    return out;
  }

  clear(): void {
    this.keys.fill(EMPTY);
    this.values.fill(undefined);
    this.count = 0;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const size = oldKeys.length * 2;
    this.keys = new Array<number>(size).fill(EMPTY);
    this.values = new Array<V | undefined>(size).fill(undefined);
    this.mask = size - 1;
    this.shift = 32 - Math.log2(size);
    this.count = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldValues[i] as V);
  }
}
