// Bundles the command line into dist/cli/ with esbuild, so that `bin/govfs` starts plain
// JavaScript instead of compiling TypeScript through tsx on every run (~0.3 s of each command).
//
// Entry points: bin/cli.ts, the worker thread's entry, the storage checker's child process and
// the behaviour modules workers import.
// Code splitting keeps what only some commands need (the cluster, lmdb, protobufjs, the
// network client) in chunks loaded on demand, and gives each module one instance shared by
// every entry (behaviours registered by actors/node.js land in the same registry the worker
// reads). Packages stay external: Node loads them from node_modules as before.
//
// `ensureCli()` (called by bin/govfs in a checkout) rebuilds only when the sources changed
// since the last build (their paths, sizes and modification times), so a
// checkout always runs its current code without a separate build step, and `npm install
// --ignore-scripts` needs no install hook. `node scripts/build-cli.mjs` builds
// unconditionally (npm run build).
//
// Concurrent builds (parallel tests, several shells) are safe: every output file is written
// under a temporary name and renamed into place, chunks (content-hashed names) before the
// entries that import them, and chunks of earlier builds are removed only once they are old,
// so a process that loaded an earlier entry still finds its chunks.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const OUT_DIR = join(ROOT, 'dist', 'cli');
const STAMP = join(OUT_DIR, 'build-signature');
const SOURCES = ['src', 'bin/cli.ts', 'scripts/build-cli.mjs', 'package.json'];

/** Output name (under dist/cli, without .js) → source. The workers, the storage checker's child
 * and the behaviour modules are found at run time relative to the chunk that starts them
 * (src/runtime/threads.ts, src/storage-check/storage-check.ts, src/cluster.ts), so they keep
 * those relative places. */
const ENTRIES = {
  cli: 'bin/cli.ts',
  'thread-worker': 'src/runtime/thread-worker.ts',
  'pool-worker': 'src/runtime/pool-worker.ts',
  'storage-check-child': 'src/storage-check/storage-check-child.ts',
  'actors/node': 'src/actors/node.ts',
  'demo/ring': 'src/demo/ring.ts',
};

/** Old chunks of earlier builds are deleted after this long (a running process may still
 * import them lazily). */
const OLD_CHUNK_MS = 60 * 60 * 1000;

function walk(rel, out) {
  const abs = join(ROOT, rel);
  const st = statSync(abs);
  if (st.isDirectory()) {
    for (const name of readdirSync(abs).sort()) walk(join(rel, name), out);
  } else {
    out.push(`${rel}\t${st.size}\t${st.mtimeMs}`);
  }
}

/** What the bundle was built from: every source file's path, size and modification time
 * (a few kilobytes, compared whole: no hashing, which would load node:crypto at every start). */
export function sourceSignature() {
  const lines = [];
  for (const s of SOURCES) walk(s, lines);
  return lines.join('\n');
}

function writeAtomically(file, contents) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

/** Build dist/cli/ now. */
export async function buildCli() {
  const signature = sourceSignature();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([out, src]) => [out, join(ROOT, src)])),
    outdir: OUT_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // protobufjs is bundled: its ~40 CommonJS files cost more to resolve and load one by one
    // than to parse in a chunk. Packages with native code or files of their own stay external, and so does prom-client (CommonJS that requires Node built-ins at run time).
    external: ['lmdb', 'pino', 'piscina', 'comlink', 'ringbuf.js', 'tsx', 'esbuild', 'prom-client', 'fuse-native', '@node-rs/crc32'],
    chunkNames: 'chunk-[hash]',
    sourcemap: 'linked',
    sourcesContent: false,
    write: false,
    logLevel: 'silent',
  });
  // esbuild's service process would otherwise live as long as this one, pinging it every
  // second: a `govfs node` that rebuilt on start woke once a second for it (issue 19).
  await esbuild.stop();
  const entryFiles = new Set(Object.keys(ENTRIES).flatMap((e) => [join(OUT_DIR, `${e}.js`), join(OUT_DIR, `${e}.js.map`)]));
  const outputs = [...result.outputFiles].sort((a, b) => Number(entryFiles.has(a.path)) - Number(entryFiles.has(b.path)));
  // The protobuf schemas are read at run time next to the registry's chunk (src/wire/registry.ts),
  // and every chunk sits in dist/cli itself, where threads.ts and cluster.ts find the
  // worker and behaviour entries relative to their own chunk.
  const protoDir = join(ROOT, 'src', 'wire', 'proto');
  for (const f of readdirSync(protoDir).filter((n) => n.endsWith('.proto'))) {
    const dest = join(OUT_DIR, 'proto', f);
    mkdirSync(dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.tmp`;
    copyFileSync(join(protoDir, f), tmp);
    renameSync(tmp, dest);
  }
  for (const f of outputs) writeAtomically(f.path, f.contents);
  removeOldChunks(new Set(outputs.map((f) => f.path)));
  writeAtomically(STAMP, signature);
  return outputs.map((f) => relative(ROOT, f.path));
}

function removeOldChunks(current) {
  const now = Date.now();
  for (const name of readdirSync(OUT_DIR)) {
    const file = join(OUT_DIR, name);
    if (!name.startsWith('chunk-')) continue;
    if (current.has(file)) continue;
    try {
      if (now - statSync(file).mtimeMs > OLD_CHUNK_MS) rmSync(file, { force: true });
    } catch {
      // removed by a concurrent build
    }
  }
}

/** Rebuild dist/cli/ if the sources changed since it was built. */
export async function ensureCli() {
  let built = '';
  try {
    built = readFileSync(STAMP, 'utf8');
  } catch {
    // never built
  }
  if (built === sourceSignature() && existsSync(join(OUT_DIR, 'cli.js'))) return false;
  await buildCli();
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await buildCli();
  process.stdout.write(`built ${files.filter((f) => f.endsWith('.js')).length} files in ${relative(ROOT, OUT_DIR)}/\n`);
}
