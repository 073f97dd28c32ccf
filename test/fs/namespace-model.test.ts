// Randomized runs of the namespace against a plain model (a map path → kind), checking every
// result code, the tree, the version rules, snapshot round trips and replica determinism.

import { describe, expect, it } from 'vitest';
import { Namespace, isAncestor, isWithin, parentOf, type FsErrorCode, type MutationOp, type Op, type OpResult, type NodeKind } from '../../src/fs/index.js';
import { Prng } from './prng.js';

type Kind = NodeKind;

/** JSON of a result (its stat's nanosecond times are bigint). */
const json = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

class ModelError extends Error {
  constructor(readonly code: FsErrorCode) {
    super(code);
  }
}

/** The reference: paths and kinds only; the same POSIX-like rules, written the plain way. */
class Model {
  readonly nodes = new Map<string, Kind>([['/', 'dir']]);

  private ancestors(p: string): string[] {
    const out: string[] = [];
    for (let q = parentOf(p); q !== null && q !== '/'; q = parentOf(q)) out.unshift(q);
    return out;
  }
  private checkParent(p: string): void {
    for (const q of this.ancestors(p)) {
      const k = this.nodes.get(q);
      if (k === undefined) throw new ModelError('ENOENT');
      if (k === 'file') throw new ModelError('ENOTDIR');
    }
  }
  private resolve(p: string): Kind {
    this.checkParent(p);
    const k = this.nodes.get(p);
    if (k === undefined) throw new ModelError('ENOENT');
    return k;
  }
  private hasChildren(p: string): boolean {
    for (const q of this.nodes.keys()) if (isAncestor(p, q)) return true;
    return false;
  }
  private removeTree(p: string): void {
    for (const q of [...this.nodes.keys()]) if (isWithin(q, p)) this.nodes.delete(q);
  }

  /** Returns whether the tree changed; throws ModelError. */
  apply(op: MutationOp): boolean {
    switch (op.op) {
      case 'mkdir': {
        if (op.path === '/') {
          if (op.parents) return false;
          throw new ModelError('EEXIST');
        }
        const chain = [...this.ancestors(op.path), op.path];
        let firstMissing = -1;
        for (let i = 0; i < chain.length; i++) {
          const k = this.nodes.get(chain[i] as string);
          if (k === undefined) {
            firstMissing = i;
            break;
          }
          if (i === chain.length - 1) {
            if (k === 'dir' && op.parents) return false;
            throw new ModelError('EEXIST');
          }
          if (k === 'file') throw new ModelError('ENOTDIR');
        }
        if (firstMissing < chain.length - 1 && !op.parents) throw new ModelError('ENOENT');
        for (let i = firstMissing; i < chain.length; i++) this.nodes.set(chain[i] as string, 'dir');
        return true;
      }
      case 'create': {
        const excl = op.exclusive !== false;
        if (op.path === '/') throw new ModelError(excl ? 'EEXIST' : 'EISDIR');
        this.checkParent(op.path);
        const k = this.nodes.get(op.path);
        if (k === 'dir') throw new ModelError(excl ? 'EEXIST' : 'EISDIR');
        if (k === 'file') {
          if (excl) throw new ModelError('EEXIST');
          return false;
        }
        this.nodes.set(op.path, 'file');
        return true;
      }
      case 'rm': {
        if (this.resolve(op.path) === 'dir') throw new ModelError('EISDIR');
        this.nodes.delete(op.path);
        return true;
      }
      case 'rmdir': {
        if (op.path === '/') throw new ModelError('EBUSY');
        if (this.resolve(op.path) === 'file') throw new ModelError('ENOTDIR');
        if (this.hasChildren(op.path) && !op.recursive) throw new ModelError('ENOTEMPTY');
        this.removeTree(op.path);
        return true;
      }
      case 'rename': {
        const src = this.resolve(op.from);
        if (op.from === '/' || op.to === '/') throw new ModelError('EBUSY');
        this.checkParent(op.to);
        if (op.from === op.to) return false;
        if (src === 'dir' && isAncestor(op.from, op.to)) throw new ModelError('EINVAL');
        const dst = this.nodes.get(op.to);
        if (dst !== undefined) {
          if (src === 'file' && dst === 'dir') throw new ModelError('EISDIR');
          if (src === 'dir' && dst === 'file') throw new ModelError('ENOTDIR');
          if (this.hasChildren(op.to)) throw new ModelError('ENOTEMPTY');
          this.nodes.delete(op.to);
        }
        const moved = [...this.nodes.entries()].filter(([q]) => isWithin(q, op.from));
        for (const [q] of moved) this.nodes.delete(q);
        for (const [q, k] of moved) this.nodes.set(op.to + q.slice(op.from.length), k);
        return true;
      }
      case 'setSize': {
        if (this.resolve(op.path) === 'dir') throw new ModelError('EISDIR');
        return true;
      }
      default:
        throw new Error(`${op.op} is not modelled here (test/fs/namespace-posix.test.ts)`);
    }
  }

  sorted(): Array<{ path: string; kind: Kind }> {
    return [...this.nodes.entries()].map(([path, kind]) => ({ path, kind }));
  }
}

function randomPath(rng: Prng): string {
  if (rng.chance(0.03)) return '/';
  const depth = 1 + rng.int(4);
  let p = '';
  for (let i = 0; i < depth; i++) p += '/' + rng.pick(['a', 'b', 'c']);
  return p;
}

function randomOp(rng: Prng): MutationOp {
  const r = rng.int(100);
  if (r < 25) return { op: 'mkdir', path: randomPath(rng), parents: rng.chance(0.5) };
  if (r < 50) return { op: 'create', path: randomPath(rng), exclusive: rng.chance(0.7) };
  if (r < 60) return { op: 'rm', path: randomPath(rng) };
  if (r < 72) return { op: 'rmdir', path: randomPath(rng), recursive: rng.chance(0.3) };
  if (r < 92) return { op: 'rename', from: randomPath(rng), to: randomPath(rng) };
  return { op: 'setSize', path: randomPath(rng), size: rng.int(1 << 20) };
}

function sortByPath(xs: Array<{ path: string; kind: Kind }>) {
  return [...xs].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

describe('Namespace against a model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: same codes, same tree, versions, snapshots, determinism`, () => {
      const rng = new Prng(seed);
      const ns = new Namespace();
      const replica = new Namespace();
      const model = new Model();
      const log: Op[] = [];
      let now = 1_000;
      let seq = 0;
      for (let step = 0; step < 1200; step++) {
        now += rng.int(5);
        const body = randomOp(rng);
        // Half the ops through the client table (a fresh seq each time, sometimes a retry).
        let op: Op;
        let retry = false;
        if (rng.chance(0.5)) {
          retry = seq > 0 && rng.chance(0.2);
          if (!retry) seq++;
          op = { op: 'client', clientId: 'c', seq, now, body };
        } else op = { ...body, now } as Op;
        const before = ns.version;
        const saved = retry ? ns.savedResult('c', seq) : undefined;
        const r: OpResult = ns.apply(op);
        log.push(op);
        const same = json(replica.apply(op)) === json(r);
        if (!same) expect(replica.apply(op)).toEqual(r);
        if (retry) {
          if (json(r) !== json(saved)) expect(r).toEqual(saved);
          if (ns.version !== before) expect(ns.version).toBe(before);
          continue;
        }
        let changed = false;
        let code: FsErrorCode | undefined;
        try {
          changed = model.apply(body);
        } catch (e) {
          if (!(e instanceof ModelError)) throw e;
          code = e.code;
        }
        const gotCode = r.ok ? undefined : r.error.code;
        if (gotCode !== code || ns.version !== before + (changed ? 1 : 0) || (r.ok && r.version !== ns.version)) {
          const what = `step ${step}: ${JSON.stringify(body)} -> ${json(r)}`;
          expect(gotCode, what).toBe(code);
          expect(ns.version, what).toBe(before + (changed ? 1 : 0));
          if (r.ok) expect(r.version, what).toBe(ns.version);
        }
        if (step % 100 === 0) {
          expect(ns.paths()).toEqual(sortByPath(model.sorted()).sort((a, b) => cmpTree(a.path, b.path)));
          for (const { path } of ns.paths()) expect(ns.stat(path).version).toBeLessThanOrEqual(ns.version);
          const bytes = ns.snapshot();
          expect(Namespace.restore(bytes).snapshot()).toEqual(bytes);
          expect(replica.snapshot()).toEqual(bytes);
        }
      }
      expect(sortByPath(ns.paths())).toEqual(sortByPath(model.sorted()));
      // A replica restored midway and fed the rest of the log ends byte-identical.
      const mid = new Namespace();
      for (const op of log.slice(0, 700)) mid.apply(op);
      const restored = Namespace.restore(mid.snapshot());
      for (const op of log.slice(700)) restored.apply(op);
      expect(restored.snapshot()).toEqual(ns.snapshot());
    });
  }
});

/** The order of Namespace.paths(): depth first, children sorted. */
function cmpTree(a: string, b: string): number {
  const x = a === '/' ? [] : a.slice(1).split('/');
  const y = b === '/' ? [] : b.slice(1).split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return (x[i] as string) < (y[i] as string) ? -1 : 1;
  }
  return x.length - y.length;
}
