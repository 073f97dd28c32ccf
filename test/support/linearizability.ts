// A linearizability checker for test histories, in the style of Porcupine (Athalye's Go
// checker): the Wing & Gong search as refined by Lowe ("just-in-time linearization"), with
// memoisation of (set of linearized operations, model state) and P-compositionality (a model
// may split a history into independent parts, each checked on its own). Written from the
// papers' description, no code copied.
//
// Histories
// ---------
// An Operation is one client call: `call` is when it was invoked and `ret` when its answer
// arrived (ms, any clock shared by the whole history). An operation whose outcome is unknown
// (the client gave up after timeouts, its node crashed, ...) has `ret = Infinity`: it may
// have taken effect at any single point after `call`, or never. Its `output` is not looked at
// if the model has `stepUnknown` (the recommended way); otherwise `step` is called with the
// recorded output, Porcupine-style, and the model must accept whatever that output is meant
// to say ("unknown"). Either way such an operation may also be left out entirely.
//
// Real-time order and ties
// ------------------------
// Operation a precedes b (so a must be linearized before b) iff a.ret < b.call, or
// a.ret === b.call and a has a positive duration (a.call < a.ret). In words: an operation
// whose return time equals another's call time did NOT overlap it — it came first. The one
// exception is a zero-duration operation (call === ret === t): it is taken as concurrent with
// everything else that starts or ends at t (two such operations cannot both come first, so
// neither is forced to). This makes the checker err on the permissive side for that corner
// case only; use distinct timestamps (e.g. a logical counter) to avoid it altogether.
//
// Session reads
// -------------
// A read marked `session` promises less than linearizability: read-your-writes and monotonic
// reads (what a clerk's plain read promises). It must be linearized after every earlier
// operation of its own client (those that returned before it was called) and before its own
// return, but it may miss other clients' changes that finished before it began (it may be
// served from a replica that has not applied them yet). So its call is moved back to the
// latest call among its client's earlier operations (everything that had to precede those
// precedes it too; an earlier session read counts by its own moved-back call, so a read may
// show again the state the previous one showed), and it may only be linearized once all of
// those are. Where operations carry a `sessionScope` (a ministry: the client keeps its session
// per ministry), "its client's earlier operations" are those that share the read's scope.
//
// Implementation: the events (one call and one return per operation) are sorted by time and,
// at equal times, in this order: returns of positive-duration operations, then calls, then
// returns of zero-duration operations. Each operation's call precedes its return.
//
// Search
// ------
// The events form a doubly linked list. Walking it from the front, at a call we try to
// linearize that operation now (model.step with its input and output); if the model accepts
// and the pair (linearized set ∪ {op}, new state) was never seen, we take it: both its events
// are lifted out of the list and we restart from the front. At a return event the operation
// it belongs to is not linearized yet but must have been, so we backtrack (undo the last
// choice and try the next call after it). The history is linearizable when every operation
// with a known outcome is linearized (the list is empty, or only unknown-outcome operations
// are left: their returns are at +∞, after every known return).

/** One client operation. `ret = Infinity`: outcome unknown (may have applied, or not). */
export interface Operation<I, O> {
  client: string;
  input: I;
  output: O;
  /** Invocation time (ms). */
  call: number;
  /** Response time (ms), >= call; Infinity when the outcome is unknown. */
  ret: number;
  /** A read with session guarantees only (read-your-writes, monotonic reads): see the header. */
  session?: boolean;
  /** The session scopes (e.g. ministries) the operation touches, where the guarantees hold per
   * scope: a session read then waits only for its client's earlier operations that share a
   * scope with it (none given: it shares every scope). */
  sessionScope?: readonly string[];
}

export interface StepResult<S> {
  ok: boolean;
  state: S;
}

/** A sequential specification. States must be treated as immutable values by `step`. */
export interface Model<S, I, O> {
  init(): S;
  /** Is `output` a correct answer to `input` in `state`, and what is the state afterwards? */
  step(state: S, input: I, output: O): StepResult<S>;
  /**
   * The state after applying `input` when its output is not known (ret = Infinity). Without
   * it, unknown-outcome operations are checked with `step` and their recorded output.
   */
  stepUnknown?(state: S, input: I): S;
  /** Split a history into parts that can be checked independently (P-compositionality). */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  /** A canonical string: equal states must hash equal, states that some sequence of
   * operations tells apart must differ (others may share one: the search then explores one of
   * them, e.g. namespace states that differ only in inode numbers no answer shows). */
  hash(state: S): string;
  /** Human-readable state, for failure reports. */
  describe?(state: S): string;
  /** Human-readable operation (input and output), for failure reports. */
  describeOperation?(input: I, output: O): string;
  /** Why `step(state, input, output)` is rejected (e.g. the expected answer), for failure reports. */
  explain?(state: S, input: I, output: O): string;
}

export interface CheckOptions {
  /** Give up after this long (all partitions together) and answer ok: 'unknown'. */
  timeoutMs?: number;
  /** Filled with the search's steps (all parts together): a measure of its work that does
   * not depend on the machine, for tests that bound it. */
  stats?: { steps: number };
}

/** Where the search got furthest in a failing partition. */
export interface PartialLinearization<S, I, O> {
  /** Index of the failing part (0 when the model does not partition). */
  partition: number;
  /** The failing part's operations. */
  history: Operation<I, O>[];
  /** The longest linearizable prefix found: operations in linearization order. */
  linearized: Operation<I, O>[];
  /** The model state after `linearized`. */
  state: S;
  /** An operation that had to be linearized next (its return was reached) but could not be. */
  stuck: Operation<I, O>;
}

export type CheckResult<S, I, O> =
  | { ok: true }
  | { ok: false; reason: string; partial?: PartialLinearization<S, I, O> }
  | { ok: 'unknown'; reason: 'timeout' };

interface Entry {
  /** Operation index within the part. */
  id: number;
  isCall: boolean;
  time: number;
  /** Tie-break rank at equal times (see the header). */
  rank: number;
  /** For a call: its return entry. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** Two 32-bit pseudo-random values per operation id (murmur3's finaliser, a bijection), for the
 * set hash below. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The set of linearized operations, with a 64-bit Zobrist hash (the XOR of two random words per
 * member) kept as bits are set and cleared. The memo keys on that hash, not on the set's bits:
 * a key of n/32 words per step made an hour-long nemesis history (a million operations) run
 * out of heap. Two different sets share a hash with probability about 2^-64 per pair; if they
 * ever did, the search would skip a branch it had not explored, which can only make it report a
 * history as not linearizable when it is (a false alarm, never a missed one).
 */
class Bitset {
  readonly words: Uint32Array;
  private h1 = 0;
  private h2 = 0;
  constructor(n: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(n / 32)));
  }
  set(i: number): void {
    if (this.has(i)) return;
    this.words[i >>> 5] = (this.words[i >>> 5] as number) | (1 << (i & 31));
    this.h1 ^= mix(2 * i + 1);
    this.h2 ^= mix(2 * i + 2);
  }
  has(i: number): boolean {
    return (((this.words[i >>> 5] as number) >>> (i & 31)) & 1) === 1;
  }
  clear(i: number): void {
    if (!this.has(i)) return;
    this.words[i >>> 5] = (this.words[i >>> 5] as number) & ~(1 << (i & 31));
    this.h1 ^= mix(2 * i + 1);
    this.h2 ^= mix(2 * i + 2);
  }
  /** A key for the set with bit i also set (without changing this one); i is not in the set. */
  keyWith(i: number): string {
    return `${((this.h1 ^ mix(2 * i + 1)) >>> 0).toString(36)}.${((this.h2 ^ mix(2 * i + 2)) >>> 0).toString(36)}`;
  }
}

class TimeoutSignal {
  constructor(readonly deadline: number) {}
}

function validate<I, O>(history: readonly Operation<I, O>[]): void {
  history.forEach((op, i) => {
    if (typeof op.call !== 'number' || !Number.isFinite(op.call))
      throw new Error(`linearizability: operation #${i} (client ${op.client}) has a non-finite call time ${String(op.call)}`);
    if (typeof op.ret !== 'number' || Number.isNaN(op.ret) || op.ret < op.call)
      throw new Error(`linearizability: operation #${i} (client ${op.client}) returns (${String(op.ret)}) before its call (${op.call})`);
  });
}

function buildEntries<I, O>(ops: readonly Operation<I, O>[]): Entry {
  const entries: Entry[] = [];
  ops.forEach((op, id) => {
    const ret: Entry = { id, isCall: false, time: op.ret, rank: op.ret === op.call ? 2 : 0, match: null, prev: null, next: null };
    const call: Entry = { id, isCall: true, time: op.call, rank: 1, match: ret, prev: null, next: null };
    entries.push(call, ret);
  });
  entries.sort((a, b) => (a.time !== b.time ? (a.time < b.time ? -1 : 1) : a.rank - b.rank || a.id - b.id));
  const head: Entry = { id: -1, isCall: false, time: -Infinity, rank: 0, match: null, prev: null, next: null };
  let last = head;
  for (const e of entries) {
    e.prev = last;
    last.next = e;
    last = e;
  }
  return head;
}

/** Take a call and its return out of the list. */
function lift(call: Entry): void {
  (call.prev as Entry).next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match as Entry;
  (ret.prev as Entry).next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

/** Put them back (exact reverse of lift). */
function unlift(call: Entry): void {
  const ret = call.match as Entry;
  (ret.prev as Entry).next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  (call.prev as Entry).next = call;
  if (call.next !== null) call.next.prev = call;
}

interface PartOutcome<S> {
  ok: boolean;
  best?: { order: number[]; state: S; stuck: number };
}

/** Does `a` come before `b` in real time (see the header's rule for ties)? */
function precedes<I, O>(a: Operation<I, O>, b: Operation<I, O>): boolean {
  return a.ret < b.call || (a.ret === b.call && a.call < a.ret);
}

/** For each session read, the operations of its own client that must be linearized before it;
 * and the operations with such reads' calls moved back (see the header). */
function sessionOrder<I, O>(ops: readonly Operation<I, O>[]): { timed: Operation<I, O>[]; after: Map<number, number[]> } {
  const after = new Map<number, number[]>();
  // An earlier session read of the same client counts by its own moved-back call: the later read
  // must come after it, not after its real call (it may show the same state again).
  const moved = new Map<number, number>();
  const byClient = new Map<string, number[]>();
  ops.forEach((op, id) => {
    let ids = byClient.get(op.client);
    if (!ids) byClient.set(op.client, (ids = []));
    ids.push(id);
  });
  for (const ids of byClient.values()) {
    if (!ids.some((id) => ops[id]!.session === true)) continue;
    ids.sort((a, b) => ops[a]!.call - ops[b]!.call);
    // Per scope: the client's operations that share it, each read placed among those only.
    for (const [key, part] of byScope(ops, ids)) {
      const mine = (id: number): boolean => scopeKey(ops[id]!) === key;
      if (isSequential(ops, part)) sequentialSessions(ops, part, after, moved, mine);
      else overlappingSessions(ops, part, after, moved, mine);
    }
  }
  const timed = ops.map((op, id) => (op.session === true ? { ...op, call: moved.get(id) as number } : op));
  return { timed, after };
}

/** A session read's scope ('' when it has none: it waits for every earlier operation). */
function scopeKey<I, O>(op: Operation<I, O>): string {
  return op.sessionScope?.[0] ?? '';
}

/** The client's operations (`ids`, in call order) per scope of its session reads: those sharing
 * the scope, or all of them for reads without one (first, so its reads' moved calls are known). */
function byScope<I, O>(ops: readonly Operation<I, O>[], ids: readonly number[]): Map<string, number[]> {
  const keys = new Set<string>();
  for (const id of ids) if (ops[id]!.session === true) keys.add(scopeKey(ops[id]!));
  const parts = new Map<string, number[]>();
  for (const key of [...keys].sort()) {
    parts.set(key, key === '' ? [...ids] : ids.filter((id) => ops[id]!.sessionScope === undefined || ops[id]!.sessionScope!.includes(key)));
  }
  return parts;
}

/** One operation at a time: each (but those whose outcome is unknown) returned before the
 * client's next one was called. What clients in the simulator and the nemesis do. */
function isSequential<I, O>(ops: readonly Operation<I, O>[], ids: readonly number[]): boolean {
  for (let k = 1; k < ids.length; k++) {
    const a = ops[ids[k - 1]!]!;
    if (a.ret !== Infinity && !precedes(a, ops[ids[k]!]!)) return false;
  }
  return true;
}

/** A sequential client, in linear time: a session read's earlier operations are all the
 * client's known-outcome operations called before it. Each of those precedes the last one in
 * real time, and the search linearizes nothing before what precedes it, so the read waits for
 * the last one only (listing them all made an hour-long history quadratic in time and memory). */
function sequentialSessions<I, O>(ops: readonly Operation<I, O>[], ids: readonly number[], after: Map<number, number[]>, moved: Map<number, number>, mine: (id: number) => boolean): void {
  let last = -1;
  let call = -Infinity; // the latest (moved-back) call among them
  for (const id of ids) {
    const op = ops[id]!;
    if (op.session === true && mine(id)) {
      after.set(id, last < 0 ? [] : [last]);
      moved.set(id, call);
    }
    if (op.ret !== Infinity) {
      last = id;
      call = Math.max(call, moved.get(id) ?? op.call);
    }
  }
}

/** A client with operations in flight together: every earlier operation, listed. `ids` are in
 * call order, so an earlier session read's moved-back call is known when a later read needs it. */
function overlappingSessions<I, O>(ops: readonly Operation<I, O>[], ids: readonly number[], after: Map<number, number[]>, moved: Map<number, number>, mine: (id: number) => boolean): void {
  for (const id of ids) {
    const op = ops[id]!;
    if (op.session !== true || !mine(id)) continue;
    const earlier: number[] = [];
    let call = -Infinity;
    for (const k of ids) {
      const o = ops[k]!;
      if (k !== id && precedes(o, op)) {
        earlier.push(k);
        call = Math.max(call, moved.get(k) ?? o.call);
      }
    }
    after.set(id, earlier);
    moved.set(id, call);
  }
}

function checkPart<S, I, O>(model: Model<S, I, O>, original: readonly Operation<I, O>[], deadline: number, stats?: { steps: number }): PartOutcome<S> {
  if (original.length === 0) return { ok: true };
  const { timed: ops, after } = sessionOrder(original);
  const head = buildEntries(ops);
  const linearized = new Bitset(ops.length);
  const seen = new Set<string>();
  const stack: Array<{ entry: Entry; state: S }> = [];
  let state = model.init();
  let entry = head.next as Entry | null;
  let best: { order: number[]; state: S; stuck: number } | undefined;
  let iterations = 0;
  const done = (o: PartOutcome<S>): PartOutcome<S> => {
    if (stats) stats.steps += iterations;
    return o;
  };

  while (head.next !== null) {
    if ((++iterations & 1023) === 0 && Date.now() > deadline) throw new TimeoutSignal(deadline);
    const e = entry as Entry;
    if (e.isCall) {
      const op = ops[e.id] as Operation<I, O>;
      const must = after.get(e.id);
      if (must !== undefined && !must.every((k) => linearized.has(k))) {
        entry = e.next; // a session read waits for its client's earlier operations
        continue;
      }
      let next: StepResult<S>;
      if (op.ret === Infinity && model.stepUnknown !== undefined) {
        next = { ok: true, state: model.stepUnknown(state, op.input) };
        // An unknown-outcome operation that changes nothing here need not be linearized here:
        // it has no deadline, so leaving it for later (or for never) covers this choice.
        if (model.hash(next.state) === model.hash(state)) {
          entry = e.next;
          continue;
        }
      } else next = model.step(state, op.input, op.output);
      if (next.ok) {
        const key = linearized.keyWith(e.id) + '|' + model.hash(next.state);
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ entry: e, state });
          state = next.state;
          linearized.set(e.id);
          lift(e);
          entry = head.next;
          continue;
        }
      }
      entry = e.next;
      continue;
    }
    // A return: its operation is not linearized yet.
    if (e.time === Infinity) return done({ ok: true }); // only unknown-outcome operations are left
    if (best === undefined || stack.length > best.order.length)
      best = { order: stack.map((s) => s.entry.id), state, stuck: e.id };
    const top = stack.pop();
    if (top === undefined) return done({ ok: false, best });
    state = top.state;
    linearized.clear(top.entry.id);
    unlift(top.entry);
    entry = top.entry.next;
  }
  return done({ ok: true });
}

function describeOp<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const what = model.describeOperation ? model.describeOperation(op.input, op.output) : `${safeJson(op.input)} -> ${safeJson(op.output)}`;
  const ret = op.ret === Infinity ? '?' : String(op.ret);
  return `[${op.client} @${op.call}..${ret}${op.session === true ? ' session' : ''}] ${what}`;
}

function safeJson(x: unknown): string {
  try {
    const s = JSON.stringify(x);
    return s === undefined ? String(x) : s;
  } catch {
    return String(x);
  }
}

const MAX_PREFIX_SHOWN = 40;

function failureReason<S, I, O>(model: Model<S, I, O>, p: PartialLinearization<S, I, O>, parts: number): string {
  const lines: string[] = [];
  const where = parts > 1 ? `part ${p.partition} of ${parts} (${p.history.length} operations)` : `history of ${p.history.length} operations`;
  lines.push(`not linearizable: ${where}.`);
  lines.push(`Could not place: ${describeOp(model, p.stuck)}`);
  if (model.explain) lines.push(`  right after the prefix below, ${model.explain(p.state, p.stuck.input, p.stuck.output)}`);
  lines.push(`Longest linearizable prefix found (${p.linearized.length} operations${p.linearized.length > MAX_PREFIX_SHOWN ? `, last ${MAX_PREFIX_SHOWN} shown` : ''}):`);
  const shown = p.linearized.slice(-MAX_PREFIX_SHOWN);
  const skipped = p.linearized.length - shown.length;
  shown.forEach((op, i) => lines.push(`  ${skipped + i + 1}. ${describeOp(model, op)}`));
  if (p.linearized.length === 0) lines.push('  (none)');
  lines.push(`State after that prefix: ${model.describe ? model.describe(p.state) : model.hash(p.state)}`);
  return lines.join('\n');
}

/**
 * Is `history` linearizable with respect to `model`? `{ ok: 'unknown', reason: 'timeout' }`
 * when the search did not finish within `timeoutMs` (default: no limit). Throws for a
 * malformed history (non-finite call, ret < call).
 */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult<S, I, O> {
  validate(history);
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  const parts = model.partition ? model.partition(history) : [history];
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k] as Operation<I, O>[];
    let out: PartOutcome<S>;
    try {
      out = checkPart(model, part, deadline, opts.stats);
    } catch (e) {
      if (e instanceof TimeoutSignal) return { ok: 'unknown', reason: 'timeout' };
      throw e;
    }
    if (!out.ok) {
      const b = out.best;
      if (b === undefined) return { ok: false, reason: `not linearizable: part ${k}` };
      const partial: PartialLinearization<S, I, O> = {
        partition: k,
        history: part,
        linearized: b.order.map((i) => part[i] as Operation<I, O>),
        state: b.state,
        stuck: part[b.stuck] as Operation<I, O>,
      };
      return { ok: false, reason: failureReason(model, partial, parts.length), partial };
    }
  }
  return { ok: true };
}
