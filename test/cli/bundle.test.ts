// The command line's bundle (scripts/build-cli.mjs): what each command loads before it runs.
// `govfs --help` must load almost nothing, a client command no server code; checked on the
// bundle's static imports rather than by timing, which a loaded machine makes meaningless.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { govfs } from './helpers.js';

const DIST = fileURLToPath(new URL('../../dist/cli/', import.meta.url));

/** What importing `file` (relative to dist/cli) loads before its code runs: the files and
 * packages of its static imports, transitively. Dynamic import() is not followed. */
function staticClosure(file: string): { files: Map<string, number>; packages: Set<string> } {
  const files = new Map<string, number>();
  const packages = new Set<string>();
  const visit = (f: string): void => {
    if (files.has(f)) return;
    const text = readFileSync(join(DIST, f), 'utf8');
    files.set(f, text.length);
    for (const m of text.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["'];?$/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('./')) visit(join(f, '..', spec));
      else packages.add(spec);
    }
  };
  visit(file);
  return { files, packages };
}

function dynamicTarget(file: string, marker: RegExp): string {
  const text = readFileSync(join(DIST, file), 'utf8');
  const m = new RegExp(`import\\("(\\./chunk-[A-Z0-9]+\\.js)"\\)[^\\n]*${marker.source}`).exec(text);
  if (!m) throw new Error(`no dynamic import matching ${marker} in ${file}`);
  return m[1]!.slice(2);
}

beforeAll(async () => {
  // Builds dist/cli if the sources changed.
  expect((await govfs(['--help'])).code).toBe(0);
});

describe('the bundled command line', () => {
  it('govfs --help loads one small file and no package', () => {
    const { files, packages } = staticClosure('cli.js');
    const bytes = [...files.values()].reduce((a, b) => a + b, 0);
    expect(bytes).toBeLessThan(40_000);
    expect([...packages].filter((p) => !p.startsWith('node:'))).toEqual([]);
    expect([...packages]).not.toContain('node:worker_threads');
  });

  it('a client command loads the network client, not lmdb, pino or worker threads', () => {
    const chunk = dynamicTarget('cli.js', /clientCommand/);
    const { packages } = staticClosure(chunk);
    for (const heavy of ['lmdb', 'pino', 'piscina', 'node:worker_threads']) expect([...packages], heavy).not.toContain(heavy);
  });

  it('the worker entry and the behaviour modules sit where the threads scheduler looks for them', () => {
    for (const f of ['thread-worker.js', 'actors/node.js', 'demo/ring.js', 'proto/govfs.proto']) expect(() => readFileSync(join(DIST, f)), f).not.toThrow();
  });
});

/** Live child processes of this one whose command line names `what` (Linux /proc). */
function children(what: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(what)) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('building the bundle', () => {
  it.runIf(process.platform === 'linux')('leaves no esbuild service process behind (it pinged the process every second, a `govfs node` that rebuilt among them)', async () => {
    const { buildCli } = (await import(new URL('../../scripts/build-cli.mjs', import.meta.url).href)) as { buildCli: () => Promise<string[]> };
    await buildCli();
    expect(children('esbuild')).toEqual([]);
  });
});
