// The layers of src/ (README, "Architecture"; issue 15): src/wire < src/runtime < src/raft <
// src/fs < src/actors, the client library apart from the server roles. Every import of src/
// (type-only and dynamic ones included) is read with the TypeScript compiler and checked
// against these rules.

import ts from 'typescript';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** An import from one file of src/ to another, as paths relative to the checkout. */
interface Edge {
  from: string;
  to: string;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name);
    if (statSync(abs).isDirectory()) out.push(...tsFiles(abs));
    else if (name.endsWith('.ts')) out.push(abs);
  }
  return out;
}

function importsOf(file: string, text: string): Edge[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles
    .map((i) => i.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => ({ from: file, to: posix.normalize(posix.join(posix.dirname(file), name)) }));
}

const EDGES: Edge[] = tsFiles(join(ROOT, 'src')).flatMap((abs) =>
  importsOf(relative(ROOT, abs).split('\\').join('/'), readFileSync(abs, 'utf8')),
);

/** A rule: files under `layer` may import only from `only` (besides themselves), or never from
 * `never`. */
interface Rule {
  name: string;
  layer: string;
  only?: string[];
  never?: string[];
}

const RULES: Rule[] = [
  { name: 'src/wire imports nothing from the rest of src', layer: 'src/wire', only: [] },
  { name: 'src/runtime imports only src/runtime and src/wire', layer: 'src/runtime', only: ['src/wire'] },
  { name: 'src/raft imports only src/raft, src/runtime and src/wire', layer: 'src/raft', only: ['src/runtime', 'src/wire'] },
  { name: 'src/fs imports only src/fs, src/wire and src/runtime', layer: 'src/fs', only: ['src/wire', 'src/runtime'] },
  { name: 'src/client never imports src/actors', layer: 'src/client', never: ['src/actors'] },
  { name: 'src/actors never imports src/client or src/net', layer: 'src/actors', never: ['src/client', 'src/net'] },
];

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/** The imports that break `rule`, as "from -> to". */
function violations(rule: Rule, edges: readonly Edge[]): string[] {
  return edges
    .filter((e) => under(e.from, rule.layer) && !under(e.to, rule.layer))
    .filter((e) => (rule.only ? !rule.only.some((d) => under(e.to, d)) : rule.never!.some((d) => under(e.to, d))))
    .map((e) => `${e.from} -> ${e.to}`);
}

describe('layers of src/', () => {
  it('the imports were read (a sample the rules depend on is there)', () => {
    expect(EDGES.length).toBeGreaterThan(200);
    expect(EDGES).toContainEqual({ from: 'src/runtime/runtime.ts', to: 'src/wire/registry.js' });
    expect(EDGES).toContainEqual({ from: 'src/raft/shell.ts', to: 'src/raft/core.js' });
  });

  for (const rule of RULES) {
    it(rule.name, () => {
      expect(violations(rule, EDGES)).toEqual([]);
    });
  }

  it('each rule fails on an import that breaks it', () => {
    const breaking: Record<string, Edge> = {
      'src/wire imports nothing from the rest of src': { from: 'src/wire/frame.ts', to: 'src/runtime/errors.js' },
      'src/runtime imports only src/runtime and src/wire': { from: 'src/runtime/storage-check-child.ts', to: 'src/raft/log-store.js' },
      'src/raft imports only src/raft, src/runtime and src/wire': { from: 'src/raft/shell.ts', to: 'src/fs/namespace.js' },
      'src/fs imports only src/fs, src/wire and src/runtime': { from: 'src/fs/namespace.ts', to: 'src/raft/types.js' },
      'src/client never imports src/actors': { from: 'src/client/gov-client.ts', to: 'src/actors/ministry.js' },
      'src/actors never imports src/client or src/net': { from: 'src/actors/ministry.ts', to: 'src/client/gov-client.js' },
    };
    for (const rule of RULES) {
      const edge = breaking[rule.name];
      expect(edge, rule.name).toBeDefined();
      expect(violations(rule, [edge!]), rule.name).toEqual([`${edge!.from} -> ${edge!.to}`]);
    }
    // A file's imports of its own layer, and of an allowed one, break nothing.
    expect(violations(RULES[1]!, [{ from: 'src/runtime/a.ts', to: 'src/runtime/b.js' }, { from: 'src/runtime/a.ts', to: 'src/wire/c.js' }])).toEqual([]);
    expect(violations(RULES[5]!, [{ from: 'src/actors/a.ts', to: 'src/netx/b.js' }])).toEqual([]);
  });
});
