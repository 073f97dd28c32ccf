// A sequential model of one govfs ministry's namespace, for the linearizability checker
// (./linearizability.ts). It follows src/fs/namespace.ts (Namespace.apply / ls / stat)
// rule for rule, including the ORDER in which errors are checked, so that the error code of
// a failed operation is the one the real namespace gives. test/support/namespace-model.test.ts
// checks that on thousands of random operations against the real Namespace.
//
// What an output may say:
//   - { ok: false, code }: the operation failed with that FsError code (and changed nothing);
//   - { ok: true } for a mutation (any `value` is ignored);
//   - ls: { ok: true, value } where value is the listing: an array of names (strings) or of
//     { name, kind } entries; compared as a set of names (and kinds, when entries carry them),
//     whatever their order;
//   - stat: { ok: true, value } where value is the kind ('file' | 'dir') or an object with a
//     `kind` field (a Stat); only the kind is compared. No value: only success is checked.
//
// Codes that say nothing about the namespace (ETIMEDOUT, EUNAVAILABLE, ...) are not modelled:
// record such an operation with ret = Infinity (outcome unknown) instead.
//
// Ministries: `namespaceModel({ root })` models the ministry whose subtree is `root`: paths
// outside it are EXDEV, its root always exists and cannot be removed or renamed (EBUSY).
// `otherRoots` (the other ministries' subtree roots) are merged into listings as directories,
// as MinistryNamespace.read does. `partitionByMinistry` splits a history by ministry and
// `checkNamespaceByMinistry` checks each part against its ministry's model.
//
// Other ministries' roots below this one ("mounts") also shape this ministry's answers, as the
// minister's checks in src/actors/ministry-core.ts do before the namespace sees the change:
//   - rename whose target another ministry serves, or whose source holds a mount: EXDEV;
//   - rmdir of a directory holding a mount: ENOTEMPTY without `recursive`; with it, the
//     president's subtree delete dissolves those ministries first (thesis Figure 9), then the
//     directory goes. The model drops the mounts when the rmdir succeeds; a failed rmdir
//     leaves them (the minister only asks for the subtree delete when the directory is there).
//     The dissolutions come first, so a reader may see the directory without the mounts
//     before it goes: splitByMinistry adds an `unmount` per dissolved ministry, within the
//     rmdir's call and return, which may take effect before the rmdir itself.
// The state keeps the live mounts (as `MOUNT + root` keys, which no path collides with).

import { isAncestor, isWithin, parsePath } from '../../src/fs/path.js';
import { checkLinearizable, type CheckOptions, type CheckResult, type Model, type Operation } from './linearizability.js';

export type NodeKind = 'file' | 'dir';

export type NsInput =
  | { op: 'mkdir'; path: string; parents?: boolean }
  | { op: 'create'; path: string; exclusive?: boolean }
  | { op: 'rm'; path: string }
  | { op: 'rmdir'; path: string; recursive?: boolean }
  | { op: 'rename'; from: string; to: string }
  | { op: 'ls'; path: string }
  | { op: 'stat'; path: string }
  /** Not a client call: the dissolution of the ministry rooted at `path` by a subtree delete
   * (splitByMinistry adds one per ministry an `rmdir -r` dissolves). */
  | { op: 'unmount'; path: string };

export type NsOutput = { ok: true; value?: unknown } | { ok: false; code: string };

/**
 * The tree: every path (the ministry root included, always a 'dir') → its kind. Treated as
 * immutable: a step that changes the tree returns a new map.
 */
export type NsState = ReadonlyMap<string, NodeKind>;

export type NsOperation = Operation<NsInput, NsOutput>;

export interface NamespaceModelOptions {
  /** The ministry's subtree root (default '/'). */
  root?: string;
  /** Other ministries' subtree roots: shown as directories in the listing of their parent. */
  otherRoots?: readonly string[];
}

/** What the real namespace answers: the new state, and success (with a value) or an error code. */
export type NsAnswer = { state: NsState; ok: true; value?: NodeKind | Array<{ name: string; kind: NodeKind }> } | { state: NsState; ok: false; code: string };

class Fail {
  constructor(readonly code: string) {}
}

/** State key prefix of a live mount (another ministry's root below this ministry's root). */
const MOUNT = 'mount:';

function mounts(state: NsState): string[] {
  const out: string[] = [];
  for (const k of state.keys()) if (k.startsWith(MOUNT)) out.push(k.slice(MOUNT.length));
  return out;
}

/** Live mounts strictly inside `path` (the minister's `nested`). */
function nestedMounts(state: NsState, path: string): string[] {
  return mounts(state).filter((m) => m !== path && isWithin(m, path));
}

function wellFormed(path: string): boolean {
  try {
    parsePath(path);
    return true;
  } catch {
    return false;
  }
}

function join(segs: readonly string[]): string {
  return '/' + segs.join('/');
}

/** The names directly inside `dir`, with kinds, sorted in code-unit order. */
function listing(state: NsState, dir: string): Array<{ name: string; kind: NodeKind }> {
  const out: Array<{ name: string; kind: NodeKind }> = [];
  const prefix = dir === '/' ? '/' : dir + '/';
  for (const [p, kind] of state) {
    if (p.length > prefix.length && p.startsWith(prefix) && p.indexOf('/', prefix.length) < 0) out.push({ name: p.slice(prefix.length), kind });
  }
  return out.sort((a, b) => cmp(a.name, b.name));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function hasChildren(state: NsState, dir: string): boolean {
  const prefix = dir === '/' ? '/' : dir + '/';
  for (const p of state.keys()) if (p.length > prefix.length && p.startsWith(prefix)) return true;
  return false;
}

/** A sequential interpreter with Namespace's exact rules (for root `root`). */
export class NsSpec {
  readonly root: string;
  private readonly rootSegs: readonly string[];
  private readonly otherRoots: readonly string[];

  constructor(options: NamespaceModelOptions = {}) {
    this.root = options.root ?? '/';
    this.rootSegs = parsePath(this.root);
    this.otherRoots = [...(options.otherRoots ?? [])].filter((r) => r !== this.root);
  }

  initial(): NsState {
    const state = new Map<string, NodeKind>([[this.root, 'dir']]);
    for (const r of this.otherRoots) if (isWithin(r, this.root)) state.set(MOUNT + r, 'dir');
    return state;
  }

  /** Is `path` served by this ministry (not outside its root, not inside a live mount)? */
  private serves(state: NsState, path: string): boolean {
    return isWithin(path, this.root) && !mounts(state).some((m) => m !== this.root && isWithin(path, m));
  }

  /** Does directory `dir` hold entries of this ministry (not only other ministries' roots and
   * what is below them: in a whole-namespace state those are there too)? */
  hasOwnChildren(state: NsState, dir: string): boolean {
    const others = mounts(state).filter((m) => m !== this.root && m !== dir && isWithin(m, dir));
    const prefix = dir === '/' ? '/' : dir + '/';
    for (const p of state.keys()) if (p.length > prefix.length && p.startsWith(prefix) && !others.some((m) => isWithin(p, m))) return true;
    return false;
  }

  /** Apply `input` to `state` as Namespace would. */
  apply(state: NsState, input: NsInput): NsAnswer {
    try {
      return this.applyInner(state, input);
    } catch (e) {
      if (e instanceof Fail) return { state, ok: false, code: e.code };
      throw e;
    }
  }

  /** Path segments below the root: EINVAL if malformed, EXDEV if outside (Namespace.rel). */
  rel(path: string): string[] {
    let segs: string[];
    try {
      segs = parsePath(path);
    } catch {
      throw new Fail('EINVAL');
    }
    const r = this.rootSegs;
    if (segs.length < r.length || r.some((s, i) => segs[i] !== s)) throw new Fail('EXDEV');
    return segs.slice(r.length);
  }

  abs(rel: readonly string[]): string {
    return join([...this.rootSegs, ...rel]);
  }

  /** Namespace.resolveParent: every ancestor below the root must exist and be a dir. */
  resolveParent(state: NsState, rel: readonly string[]): string {
    for (let i = 0; i < rel.length - 1; i++) {
      const k = state.get(this.abs(rel.slice(0, i + 1)));
      if (k === undefined) throw new Fail('ENOENT');
      if (k === 'file') throw new Fail('ENOTDIR');
    }
    return this.abs(rel.slice(0, -1));
  }

  /** Namespace.resolve: the kind of the node at `rel`. */
  resolve(state: NsState, rel: readonly string[]): NodeKind {
    if (rel.length === 0) return 'dir';
    this.resolveParent(state, rel);
    const k = state.get(this.abs(rel));
    if (k === undefined) throw new Fail('ENOENT');
    return k;
  }

  private applyInner(state: NsState, input: NsInput): NsAnswer {
    switch (input.op) {
      case 'mkdir': {
        const rel = this.rel(input.path);
        const parents = input.parents === true;
        let i = 0;
        for (; i < rel.length; i++) {
          const k = state.get(this.abs(rel.slice(0, i + 1)));
          if (k === undefined) break;
          if (i === rel.length - 1) {
            if (k === 'dir' && parents) return { state, ok: true };
            throw new Fail('EEXIST');
          }
          if (k === 'file') throw new Fail('ENOTDIR');
        }
        if (rel.length === 0) {
          if (parents) return { state, ok: true };
          throw new Fail('EEXIST');
        }
        if (i < rel.length - 1 && !parents) throw new Fail('ENOENT');
        const next = new Map(state);
        for (; i < rel.length; i++) next.set(this.abs(rel.slice(0, i + 1)), 'dir');
        return { state: next, ok: true };
      }
      case 'create': {
        const rel = this.rel(input.path);
        const exclusive = input.exclusive !== false;
        if (rel.length === 0) throw new Fail(exclusive ? 'EEXIST' : 'EISDIR');
        this.resolveParent(state, rel);
        const path = this.abs(rel);
        const existing = state.get(path);
        if (existing !== undefined) {
          if (existing === 'dir') throw new Fail(exclusive ? 'EEXIST' : 'EISDIR');
          if (exclusive) throw new Fail('EEXIST');
          return { state, ok: true };
        }
        const next = new Map(state);
        next.set(path, 'file');
        return { state: next, ok: true };
      }
      case 'rm': {
        const rel = this.rel(input.path);
        if (this.resolve(state, rel) === 'dir') throw new Fail('EISDIR');
        const next = new Map(state);
        next.delete(this.abs(rel));
        return { state: next, ok: true };
      }
      case 'rmdir': {
        // The minister's check before the namespace's (ministry-core.ts, change).
        const nested = nestedMounts(state, input.path);
        if (nested.length > 0 && input.recursive !== true) throw new Fail('ENOTEMPTY');
        const rel = this.rel(input.path);
        if (rel.length === 0) throw new Fail('EBUSY');
        if (this.resolve(state, rel) === 'file') throw new Fail('ENOTDIR');
        const path = this.abs(rel);
        if (input.recursive !== true && hasChildren(state, path)) throw new Fail('ENOTEMPTY');
        const next = new Map(state);
        for (const p of state.keys()) if (isWithin(p, path)) next.delete(p);
        // The subtree delete dissolved the ministries below.
        for (const m of nested) next.delete(MOUNT + m);
        return { state: next, ok: true };
      }
      case 'rename': {
        // The minister's checks before the namespace's (ministry-core.ts, change): the target in
        // another ministry, or a source holding another ministry's root.
        // (Only for well-formed paths: the client refuses malformed ones before sending.)
        if (wellFormed(input.from) && wellFormed(input.to)) {
          if (!this.serves(state, input.to)) throw new Fail('EXDEV');
          if (nestedMounts(state, input.from).length > 0) throw new Fail('EXDEV');
        }
        const fromRel = this.rel(input.from);
        const toRel = this.rel(input.to);
        const srcKind = this.resolve(state, fromRel);
        if (fromRel.length === 0) throw new Fail('EBUSY');
        if (toRel.length === 0) throw new Fail('EBUSY');
        this.resolveParent(state, toRel);
        const from = this.abs(fromRel);
        const to = this.abs(toRel);
        if (from === to) return { state, ok: true };
        if (srcKind === 'dir' && isAncestor(from, to)) throw new Fail('EINVAL');
        const dstKind = state.get(to);
        if (dstKind !== undefined) {
          if (srcKind === 'file' && dstKind === 'dir') throw new Fail('EISDIR');
          if (srcKind === 'dir' && dstKind === 'file') throw new Fail('ENOTDIR');
          if (dstKind === 'dir' && this.hasOwnChildren(state, to)) throw new Fail('ENOTEMPTY');
        }
        return { state: move(state, from, to), ok: true };
      }
      case 'ls': {
        const rel = this.rel(input.path);
        if (this.resolve(state, rel) === 'file') throw new Fail('ENOTDIR');
        const path = this.abs(rel);
        const entries = listing(state, path);
        const extra = mounts(state).filter((r) => r !== path && isAncestor(path, r) && r.indexOf('/', path === '/' ? 1 : path.length + 1) < 0);
        if (extra.length === 0) return { state, ok: true, value: entries };
        const byName = new Map(entries.map((e) => [e.name, e.kind] as const));
        for (const r of extra) byName.set(r.slice(r.lastIndexOf('/') + 1), 'dir');
        const merged = [...byName].map(([name, kind]) => ({ name, kind })).sort((a, b) => cmp(a.name, b.name));
        return { state, ok: true, value: merged };
      }
      case 'stat': {
        const rel = this.rel(input.path);
        return { state, ok: true, value: this.resolve(state, rel) };
      }
      case 'unmount': {
        const next = new Map(state);
        next.delete(MOUNT + input.path);
        return { state: next, ok: true };
      }
    }
  }
}

/** `from` (and all below it) becomes `to`, replacing it. */
function move(state: NsState, from: string, to: string): NsState {
  const next = new Map(state);
  next.delete(to);
  const moved: Array<[string, NodeKind]> = [];
  for (const [p, k] of state) {
    if (isWithin(p, from)) {
      next.delete(p);
      moved.push([to + p.slice(from.length), k]);
    }
  }
  for (const [p, k] of moved) next.set(p, k);
  return next;
}

/**
 * ONE model of the whole namespace, every ministry's tree in one state: an operation is
 * answered by the ministry serving its path (the longest live subtree holding it) with that
 * ministry's rules (NsSpec), and a rename whose two names two ministries serve is one atomic
 * step, with the checks of the two-phase commit in its order (src/actors/rename-ledger.ts):
 * the minister's (a source holding another ministry's root: EXDEV), the source's (ENOENT,
 * ENOTDIR, EBUSY for its root), then the target's (EBUSY for its root, ENOENT, ENOTDIR, and
 * what the name may replace: EISDIR, ENOTDIR, ENOTEMPTY). `unmount` (a subtree delete
 * dissolving a ministry) drops it with everything below it: the ministry above, which serves
 * those paths from then on, has nothing there.
 */
export class WholeNsSpec {
  private readonly specs = new Map<string, NsSpec>();

  constructor(readonly subtrees: readonly string[]) {}

  initial(): NsState {
    const state = new Map<string, NodeKind>([['/', 'dir']]);
    for (const s of this.subtrees) if (s !== '/') state.set(s, 'dir').set(MOUNT + s, 'dir');
    return state;
  }

  /** The ministry serving `path` now. */
  servingRoot(state: NsState, path: string): string {
    let best = '/';
    for (const m of mounts(state)) if (m.length > best.length && isWithin(path, m)) best = m;
    return best;
  }

  private spec(root: string): NsSpec {
    let s = this.specs.get(root);
    if (!s) this.specs.set(root, (s = new NsSpec({ root, otherRoots: this.subtrees })));
    return s;
  }

  apply(state: NsState, input: NsInput): NsAnswer {
    if (input.op === 'unmount') {
      if (!state.has(MOUNT + input.path)) return { state, ok: true };
      const next = new Map(state);
      for (const p of state.keys()) if (p === MOUNT + input.path || isWithin(p, input.path)) next.delete(p);
      return { state: next, ok: true };
    }
    if (input.op === 'rename' && wellFormed(input.from) && wellFormed(input.to)) {
      const source = this.servingRoot(state, input.from);
      const target = this.servingRoot(state, input.to);
      if (source !== target) {
        try {
          return this.crossRename(state, input.from, input.to, this.spec(source), this.spec(target));
        } catch (e) {
          if (e instanceof Fail) return { state, ok: false, code: e.code };
          throw e;
        }
      }
    }
    const path = opPath(input);
    return this.spec(wellFormed(path) ? this.servingRoot(state, path) : '/').apply(state, input);
  }

  private crossRename(state: NsState, from: string, to: string, source: NsSpec, target: NsSpec): NsAnswer {
    if (nestedMounts(state, from).length > 0) throw new Fail('EXDEV');
    const fromRel = source.rel(from);
    const kind = source.resolve(state, fromRel);
    if (fromRel.length === 0) throw new Fail('EBUSY');
    const toRel = target.rel(to);
    if (toRel.length === 0) throw new Fail('EBUSY');
    target.resolveParent(state, toRel);
    const dst = state.get(to);
    if (dst !== undefined) {
      if (kind === 'file' && dst === 'dir') throw new Fail('EISDIR');
      if (kind === 'dir' && dst === 'file') throw new Fail('ENOTDIR');
      if (dst === 'dir' && target.hasOwnChildren(state, to)) throw new Fail('ENOTEMPTY');
    }
    return { state: move(state, from, to), ok: true };
  }
}

/** Does the observed value of a successful ls/stat agree with the expected one? */
function sameValue(input: NsInput, expected: NsAnswer & { ok: true }, observed: unknown): boolean {
  if (observed === undefined) return true;
  if (input.op === 'stat') {
    const kind = typeof observed === 'object' && observed !== null ? (observed as { kind?: unknown }).kind : observed;
    return kind === undefined || kind === expected.value;
  }
  if (input.op === 'ls') {
    if (!Array.isArray(observed)) return false;
    const want = expected.value as Array<{ name: string; kind: NodeKind }>;
    if (observed.length !== want.length) return false;
    const got: Array<{ name: string; kind?: unknown }> = observed.map((x: unknown) =>
      typeof x === 'string' ? { name: x } : { name: String((x as { name?: unknown }).name), kind: (x as { kind?: unknown }).kind },
    );
    got.sort((a, b) => cmp(a.name, b.name));
    return got.every((g, i) => g.name === want[i]?.name && (g.kind === undefined || g.kind === want[i]?.kind));
  }
  return true;
}

function canonical(state: NsState): string {
  return [...state]
    .sort((a, b) => cmp(a[0], b[0]))
    .map(([p, k]) => (p.startsWith(MOUNT) ? `${p} (another ministry)` : k === 'dir' && p !== '/' ? p + '/' : p))
    .join('\n');
}

export function describeNsInput(input: NsInput): string {
  switch (input.op) {
    case 'mkdir':
      return `mkdir${input.parents === true ? ' -p' : ''} ${input.path}`;
    case 'create':
      return `create${input.exclusive === false ? ' (non-exclusive)' : ''} ${input.path}`;
    case 'rmdir':
      return `rmdir${input.recursive === true ? ' -r' : ''} ${input.path}`;
    case 'rename':
      return `rename ${input.from} -> ${input.to}`;
    case 'unmount':
      return `(subtree delete dissolves the ministry at ${input.path})`;
    default:
      return `${input.op} ${input.path}`;
  }
}

export function describeNsOutput(output: NsOutput): string {
  if (!output.ok) return output.code;
  if (output.value === undefined) return 'ok';
  return `ok ${JSON.stringify(output.value)}`;
}

/** The linearizability model of one ministry's namespace (see the header). */
export function namespaceModel(options: NamespaceModelOptions = {}): Model<NsState, NsInput, NsOutput> {
  return modelOf(new NsSpec(options));
}

/** The linearizability model of the whole namespace, every ministry in one state (WholeNsSpec). */
export function wholeNamespaceModel(subtrees: readonly string[]): Model<NsState, NsInput, NsOutput> {
  return modelOf(new WholeNsSpec(subtrees));
}

function modelOf(spec: { initial(): NsState; apply(state: NsState, input: NsInput): NsAnswer }): Model<NsState, NsInput, NsOutput> {
  const hashes = new WeakMap<NsState, string>();
  return {
    init: () => spec.initial(),
    step(state, input, output) {
      const a = spec.apply(state, input);
      if (!a.ok) return { ok: !output.ok && output.code === a.code, state };
      if (!output.ok) return { ok: false, state };
      return { ok: sameValue(input, a, output.value), state: a.state };
    },
    stepUnknown: (state, input) => spec.apply(state, input).state,
    hash(state) {
      let h = hashes.get(state);
      if (h === undefined) {
        h = canonical(state);
        hashes.set(state, h);
      }
      return h;
    },
    describe: (state) => `{ ${canonical(state).split('\n').join(', ')} }`,
    describeOperation: (input, output) => `${describeNsInput(input)} => ${describeNsOutput(output)}`,
    explain(state, input) {
      const a = spec.apply(state, input);
      if (!a.ok) return `the model answers ${a.code}`;
      if (a.value === undefined) return 'the model answers ok';
      const value = Array.isArray(a.value) ? a.value.map((e) => e.name) : a.value;
      return `the model answers ok ${JSON.stringify(value)}`;
    },
  };
}

/** The path that decides which ministry serves an operation (a rename's `from`). */
export function opPath(input: NsInput): string {
  return input.op === 'rename' ? input.from : input.path;
}

/** The ministry (subtree root) serving `path`: the longest subtree root it lies within. */
export function ministryOf(path: string, subtrees: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const s of subtrees) if (isWithin(path, s) && (best === undefined || s.length > best.length)) best = s;
  return best;
}

/** The ministries an `rmdir -r` of `path` dissolves: those rooted strictly inside it, other
 * than the one serving it. */
function dissolvedBy(path: string, subtrees: readonly string[]): string[] {
  const serving = ministryOf(path, subtrees);
  return subtrees.filter((s) => s !== path && s !== serving && isWithin(s, path));
}

/**
 * Split a history by the ministry serving each operation (longest subtree prefix of its path;
 * a rename's `from`): one part per entry of `subtrees`, in that order (possibly empty). The
 * parts are independent (P-compositionality): each ministry is its own linearizable object.
 * Throws for an operation that no subtree serves.
 *
 * A ministry can be dissolved by a subtree delete: an `rmdir` with `recursive` of a directory
 * strictly above its root, served by another ministry. From then on its paths are served by
 * the ministry above it. So for a subtree S, with T0 the first call of such an rmdir and T1
 * the first return of one that succeeded, an operation on a path in S is
 *   - in S's part if it returned before T0 (S certainly served it), or if its outcome is
 *     unknown and it was called before T0 (it may have applied in S);
 *   - in the part of the ministry above S if it was called after T1 (S was gone), or if its
 *     outcome is unknown and it was called after T0 (a retry may have reached the ministry
 *     above once S was dissolved; such an operation is optional, so adding it is sound);
 *   - otherwise (a known outcome overlapping [T0, T1]: S may have served it, its effect then
 *     deleted with S, or the ministry above once S was gone) in both parts as an operation of
 *     unknown outcome (sound: it may apply, with any answer, or not), and listed in
 *     `unchecked` since its answer is checked against neither model.
 * Only one level of dissolution is followed: the ministry above S is taken as never dissolved
 * while it serves S's paths.
 */
export function splitByMinistry(history: readonly NsOperation[], subtrees: readonly string[], survivors?: readonly string[]): { parts: NsOperation[][]; unchecked: NsOperation[] } {
  const parts = subtrees.map((): NsOperation[] => []);
  const unchecked: NsOperation[] = [];
  const index = new Map(subtrees.map((s, i) => [s, i] as const));
  const windows = new Map<string, { t0: number; t1: number }>();
  // Ministries known to have lived through the run: no subtree delete dissolved them, so an
  // rmdir -r holding one did not happen (it dissolves before it removes); one whose outcome
  // the client does not know is dropped, and nothing overlaps a delete of them.
  const lived = new Set(survivors ?? []);
  if (lived.size > 0) {
    history = history.filter((op) => {
      const i = op.input;
      if (i.op !== 'rmdir' || i.recursive !== true || op.ret !== Infinity) return true;
      if (!dissolvedBy(i.path, subtrees).some((s) => lived.has(s))) return true;
      unchecked.push(op);
      return false;
    });
  }
  for (const s of subtrees) {
    if (lived.has(s)) {
      windows.set(s, { t0: Infinity, t1: Infinity });
      continue;
    }
    let t0 = Infinity;
    let t1 = Infinity;
    for (const op of history) {
      const i = op.input;
      if (i.op !== 'rmdir' || i.recursive !== true || !dissolvedBy(i.path, subtrees).includes(s)) continue;
      t0 = Math.min(t0, op.call);
      if (op.output.ok && op.ret !== Infinity) t1 = Math.min(t1, op.ret);
    }
    windows.set(s, { t0, t1 });
  }
  const put = (m: string | undefined, op: NsOperation): void => {
    if (m === undefined) throw new Error(`partitionByMinistry: no ministry serves ${opPath(op.input)} (subtrees: ${subtrees.join(', ')})`);
    (parts[index.get(m) as number] as NsOperation[]).push(op);
  };
  for (const op of history) {
    const path = opPath(op.input);
    const m = ministryOf(path, subtrees);
    const w = m === undefined ? undefined : windows.get(m);
    if (m === undefined || w === undefined || w.t0 === Infinity) {
      put(m, op);
      continue;
    }
    const above = ministryOf(path, subtrees.filter((s) => s !== m));
    const unknown = op.ret === Infinity;
    if (unknown) {
      if (op.call < w.t0) put(m, op);
      if (above !== undefined) put(above, op);
    } else if (op.ret < w.t0) put(m, op);
    else if (op.call > w.t1 && above !== undefined) put(above, op);
    else {
      // Overlapping the delete: it took effect in this ministry (and was then deleted with
      // it), or in the one above after the dissolution, or (failed) nowhere. Each side sees
      // it as an operation whose outcome it does not know. A read with an unknown outcome
      // constrains nothing and only widens the search: it is left out.
      unchecked.push(op);
      if (op.input.op === 'ls' || op.input.op === 'stat') continue;
      const maybe: NsOperation = { ...op, ret: Infinity };
      put(m, maybe);
      if (above !== undefined) put(above, maybe);
    }
  }
  // Each ministry a (maybe) successful rmdir -r dissolves vanishes from the parent's listings
  // before the directory goes (thesis Figure 9): a step of its own within the rmdir's window.
  for (const op of history) {
    const i = op.input;
    if (i.op !== 'rmdir' || i.recursive !== true || (!op.output.ok && op.ret !== Infinity)) continue;
    const m = ministryOf(i.path, subtrees);
    if (m === undefined || m === i.path) continue;
    for (const s of dissolvedBy(i.path, subtrees)) {
      if (lived.has(s)) continue;
      put(m, { client: op.client, input: { op: 'unmount', path: s }, output: { ok: true }, call: op.call, ret: op.ret });
    }
  }
  return { parts, unchecked };
}

/** splitByMinistry's parts (see there). */
export function partitionByMinistry(history: readonly NsOperation[], subtrees: readonly string[]): NsOperation[][] {
  return splitByMinistry(history, subtrees).parts;
}

/**
 * Check a multi-ministry history: each ministry's part against namespaceModel({ root,
 * otherRoots }). The first failing (or timed-out) part decides; `ministry` names it.
 */
export function checkNamespaceByMinistry(
  history: readonly NsOperation[],
  subtrees: readonly string[],
  opts: CheckOptions & { survivors?: readonly string[] } = {},
): CheckResult<NsState, NsInput, NsOutput> & { ministry?: string; unchecked?: number } {
  const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
  const { parts, unchecked } = splitByMinistry(history, subtrees, opts.survivors);
  for (let i = 0; i < parts.length; i++) {
    const root = subtrees[i] as string;
    const left = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
    const r = checkLinearizable(namespaceModel({ root, otherRoots: subtrees }), parts[i] as NsOperation[], left === undefined ? {} : { timeoutMs: left });
    if (r.ok !== true) return r.ok === false ? { ...r, reason: `ministry ${root}: ${r.reason}`, ministry: root } : { ...r, ministry: root };
  }
  return { ok: true, unchecked: unchecked.length };
}

/**
 * Check a multi-ministry history against ONE model of the whole namespace (WholeNsSpec): a
 * rename across ministries is one atomic step. Subtree deletes as in splitByMinistry: an
 * `unmount` per ministry a (maybe) successful `rmdir -r` dissolves, within its call and return;
 * an unknown `rmdir -r` that would have dissolved a ministry that `survivors` says lived
 * through the run did not happen (counted in `unchecked`).
 */
export function checkWholeNamespace(
  history: readonly NsOperation[],
  subtrees: readonly string[],
  opts: CheckOptions & { survivors?: readonly string[] } = {},
): CheckResult<NsState, NsInput, NsOutput> & { unchecked?: number } {
  const lived = new Set(opts.survivors ?? []);
  let unchecked = 0;
  const ops: NsOperation[] = [];
  // A subtree delete's window per dissolved ministry (splitByMinistry's T0 and T1): an operation
  // on its paths overlapping it may have been served by it (and its completion record deleted
  // with it: a retry is answered afresh by the ministry above) or by the one above. Its answer
  // is checked against neither: a change counts as of unknown outcome, a read is left out.
  const windows: { s: string; t0: number; t1: number }[] = [];
  for (const s of subtrees) {
    if (s === '/' || lived.has(s)) continue;
    let t0 = Infinity;
    let t1 = Infinity;
    for (const op of history) {
      const i = op.input;
      if (i.op !== 'rmdir' || i.recursive !== true || !dissolvedBy(i.path, subtrees).includes(s)) continue;
      t0 = Math.min(t0, op.call);
      if (op.output.ok && op.ret !== Infinity) t1 = Math.min(t1, op.ret);
    }
    if (t0 !== Infinity) windows.push({ s, t0, t1 });
  }
  for (let op of history) {
    const i = op.input;
    const deletes = i.op === 'rmdir' && i.recursive === true ? dissolvedBy(i.path, subtrees) : [];
    if (deletes.length > 0 && op.ret === Infinity && deletes.some((s) => lived.has(s))) {
      unchecked++;
      continue;
    }
    const paths = i.op === 'rename' ? [i.from, i.to] : [i.path];
    const overlapping = windows.some((w) => op.ret >= w.t0 && op.call <= w.t1 && paths.some((p) => isWithin(p, w.s)));
    if (overlapping && op.ret !== Infinity) {
      unchecked++;
      if (i.op === 'ls' || i.op === 'stat') continue;
      op = { ...op, ret: Infinity };
    }
    ops.push(op);
    if (i.op !== 'rmdir' || (!op.output.ok && op.ret !== Infinity)) continue;
    for (const s of deletes) if (!lived.has(s)) ops.push({ client: op.client, input: { op: 'unmount', path: s }, output: { ok: true }, call: op.call, ret: op.ret });
  }
  const r = checkLinearizable(wholeNamespaceModel(subtrees), ops, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
  return r.ok === true ? { ...r, unchecked } : r;
}
