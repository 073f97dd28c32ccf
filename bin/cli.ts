// The govfs command line. Only parses arguments, calls the library and prints.
//
// Exit codes: 0 success; 1 the operation failed (the message says why: no such file, cluster
// unreachable, ...); 2 usage error (unknown command or option, missing argument).

import { mkdirSync, readFileSync, appendFileSync, existsSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import pino, { type Logger } from 'pino';
import { LocalCluster } from '../src/cluster-main.js';
import type { DirEntry, Stat } from '../src/fs/client.js';
import { connect, type ClusterStatusView, type RemoteGovClient } from '../src/net/client-connect.js';
import { parseHostPort } from '../src/net/bridge.js';
import { NodeProcess, parsePeers, readSecretFile } from '../src/node-main.js';
import { ThreadsScheduler } from '../src/runtime/threads.js';

const DEFAULT_SERVER = '127.0.0.1:7400';

const HELP = `govfs — a strongly consistent distributed file system control plane

Start a cluster:
  govfs cluster [--nodes N] [--threads W] [--data DIR] [--ministry /a:2 ...] [--listen host:port]
                                  a whole cluster in this process, on worker threads
  govfs node --id ID --peers ID=host:port,... --data DIR --secret-file F [--listen host:port]
                                  one node of a cluster spread over processes or hosts

Use it (against --server host:port, default $GOVFS_SERVER or ${DEFAULT_SERVER}):
  govfs ls [-l] [PATH...]         list directories
  govfs mkdir [-p] PATH...        make directories
  govfs touch PATH...             create empty files (an existing path is left as it is)
  govfs stat [--json] PATH...     kind, size, times and version of paths
  govfs rm [-r] PATH...           remove files (-r: directories and everything below)
  govfs rmdir [-r] PATH...        remove empty directories (-r: and everything below)
  govfs mv FROM TO                rename (within one ministry)
  govfs status [--json] [--watch] president, ministries, staff, terms, commit indices, nodes
  govfs shell                     an interactive prompt with these commands, history and tab completion
  govfs bench NAME [options]      benchmarks (govfs bench --help lists them)

  govfs demo                      the actor runtime demo (tokens round a ring of worker threads)
  govfs COMMAND --help            options of a command

Exit status: 0 ok, 1 the operation failed, 2 usage error.`;

const CLIENT_OPTIONS_HELP = `  --server host:port   a node (or govfs cluster) to talk to; repeat or comma-separate to give
                       several to fail over between (default: $GOVFS_SERVER or ${DEFAULT_SERVER})
  --token-file F       the cluster's client token, if it has one (or $GOVFS_TOKEN_FILE)
  --timeout MS         give up after this long (default 15000)`;

const COMMAND_HELP: Record<string, string> = {
  cluster: `govfs cluster [--nodes N] [--threads W] [--data DIR] [--ministry /a:2 ...] [--listen host:port]

Runs a whole GovFS cluster in this process: N nodes (default 5, or as many as the static
ministries need: the president, the root's 3, and 1 + clerks for each) on W worker threads (default:
min(N, cores)), each with its lmdb storage under DIR (default ./govfs-data). Prints where
clients connect (default ${DEFAULT_SERVER}); Ctrl-C stops it cleanly. Starting it again on the
same DIR brings the same file system back (N and the ministries are remembered there).

  --nodes N            nodes in the cluster (default 5 or what --ministry needs, or as stored in DIR)
  --threads W          worker threads
  --data DIR           where the nodes keep their data (default ./govfs-data)
  --ministry /a:2      a static ministry serving subtree /a with 2 clerks (repeatable)
  --listen host:port   where clients connect (port 0: any free port)
  --token-file F       require clients to prove this token
  --log LEVEL          log level on stderr (default warn; GOVFS_LOG for the worker threads)`,
  node: `govfs node --id ID --peers ID=host:port,... --data DIR --secret-file F [--listen host:port]

Runs one node of a cluster in this process. Every node gets the same --peers list (its own entry
is skipped, and gives its --listen address if --listen is left out) and the same secret file;
the nodes link to each other over TCP, authenticated with the secret. Clients connect to any
node's address (the same port). Ctrl-C or SIGTERM stops it cleanly; starting it again on the same
--data rejoins the cluster.

  --id ID              this node's id (e.g. n1)
  --peers LIST         every node: ID=host:port, comma-separated
  --listen host:port   where this node listens for nodes and clients
  --data DIR           this node's storage (default ./govfs-data/ID)
  --secret-file F      the cluster secret (at least 16 bytes; e.g. head -c 32 /dev/urandom | base64 > F)
  --token-file F       require clients to prove this token
  --ministry /a:2      a static ministry (give the same on every node; repeatable)
  --log LEVEL          log level on stderr (default warn)`,
  ls: `govfs ls [-l] [PATH...] [--server host:port]

Lists each directory (default /): one name per line, directories with a trailing /.
  -l, --long           kind, size, modification time and version of each entry
  --linearizable       see every change committed before the call (asks the minister)
${CLIENT_OPTIONS_HELP}`,
  mkdir: `govfs mkdir [-p] PATH... [--server host:port]

Makes directories.
  -p, --parents        make missing parents too, and accept existing directories
${CLIENT_OPTIONS_HELP}`,
  touch: `govfs touch PATH... [--server host:port]

Creates empty files; a path that exists already is left as it is.
${CLIENT_OPTIONS_HELP}`,
  stat: `govfs stat [--json] PATH... [--server host:port]

Prints the kind, size, creation and modification times and version of each path.
${CLIENT_OPTIONS_HELP}`,
  rm: `govfs rm [-r] PATH... [--server host:port]

Removes files.
  -r, --recursive      remove directories and everything below them too
${CLIENT_OPTIONS_HELP}`,
  rmdir: `govfs rmdir [-r] PATH... [--server host:port]

Removes empty directories.
  -r, --recursive      and everything below them (subtrees served by other ministries too)
${CLIENT_OPTIONS_HELP}`,
  mv: `govfs mv FROM TO [--server host:port]

Renames FROM to TO (both in the same ministry; EXDEV otherwise).
${CLIENT_OPTIONS_HELP}`,
  status: `govfs status [--json] [--watch] [--server host:port]

Shows the president and cluster term, each ministry (subtree, minister, clerks, term, commit
index, up or down), each node (up or down, role, commit and applied index) and the idle nodes.
  --json               the same as JSON
  --watch              refresh every second until Ctrl-C
${CLIENT_OPTIONS_HELP}`,
  shell: `govfs shell [--server host:port]

An interactive prompt: ls, cd, pwd, mkdir, touch, stat, rm, rmdir, mv, status, help, exit. Paths
may be relative to the current directory; Tab completes them; history is kept in
~/.govfs_history (or $GOVFS_HISTORY).
${CLIENT_OPTIONS_HELP}`,
  bench: `govfs bench NAME [options]

  govfs bench ops [--server host:port] [--ops N] [--clients C] [--json]
        against a running cluster: C clients (default 8) create N files (default 2000) in a
        fresh directory, then list and stat them; ops/s and latency percentiles, with a
        progress bar on stderr.
  govfs bench LOCAL [--json] [options]
        the in-process benchmarks of bench/ (mailbox, bridge, meta, raft, ...), each starting
        its own threads: the same as npm run bench -- LOCAL. govfs bench list shows them.`,
  demo: `govfs demo [--threads W] [--data DIR]

Starts W worker threads (default: one per core), one demo node on each, with lmdb storage
under DIR (default ./govfs-data-demo). The nodes pass tokens round a ring through the
ring-buffer mailboxes and count laps durably; run it again and the counts carry on.
Prints throughput once a second. Ctrl-C stops it cleanly.`,
};

/** A usage error: exit 2. */
class UsageError extends Error {}

interface Out {
  log(s: string): void;
  err(s: string): void;
}
const stdio: Out = { log: (s) => console.log(s), err: (s) => console.error(s) };

function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, positionals = true) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

function intOption(v: string | undefined, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got "${v}"`);
  return n;
}

function hostPortOption(v: string, name: string): { host: string; port: number } {
  try {
    if (/^\d+$/.test(v)) return { host: '127.0.0.1', port: Number(v) };
    const i = v.lastIndexOf(':');
    if (i > 0 && v.slice(i + 1) === '0') return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port: 0 };
    return parseHostPort(v);
  } catch {
    throw new UsageError(`--${name} wants host:port, got "${v}"`);
  }
}

function ministryOptions(list: string[] | undefined): { subtree: string; clerks: number }[] | undefined {
  if (!list || list.length === 0) return undefined;
  return list.map((m) => {
    const match = /^(\/[^:]*)(?::(\d+))?$/.exec(m);
    if (!match) throw new UsageError(`--ministry wants /subtree[:clerks], e.g. /a:2; got "${m}"`);
    return { subtree: match[1]!, clerks: match[2] === undefined ? 2 : Number(match[2]) };
  });
}

function logger(level: string | undefined): Logger {
  return pino({ level: level || process.env.GOVFS_LOG || 'warn', base: undefined }, pino.destination(2));
}

function readToken(file: string | undefined): Uint8Array | undefined {
  const f = file ?? process.env.GOVFS_TOKEN_FILE;
  return f ? readSecretFile(f, 'client token') : undefined;
}

// ---- cluster and node ---------------------------------------------------------------------

function untilSignal(stop: () => Promise<void>, what: string): Promise<void> {
  return new Promise<void>((resolveDone) => {
    let stopping = false;
    const onSignal = (sig: string): void => {
      if (stopping) {
        console.error(`govfs: ${sig} again: exiting at once`);
        process.exit(130);
      }
      stopping = true;
      console.error(`govfs: ${sig}: stopping ${what}...`);
      stop().then(
        () => {
          console.error(`govfs: ${what} stopped cleanly.`);
          resolveDone();
        },
        (e: unknown) => {
          console.error(`govfs: stopping ${what} failed: ${(e as Error).message}`);
          process.exitCode = 1;
          resolveDone();
        },
      );
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}

/** A port in use gets a hint on what to do. */
function addressHint<T>(p: Promise<T>): Promise<T> {
  return p.catch((e: unknown) => {
    const err = e as Error & { code?: string };
    if (err.code === 'EADDRINUSE') throw new Error(`${err.message} (is another govfs cluster or node running there? choose another port with --listen host:port)`);
    throw e;
  });
}

async function clusterCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    nodes: { type: 'string' }, threads: { type: 'string' }, data: { type: 'string' }, ministry: { type: 'string', multiple: true },
    listen: { type: 'string' }, 'token-file': { type: 'string' }, log: { type: 'string' },
  }, false);
  if (values.help) return void console.log(COMMAND_HELP.cluster);
  const dataDir = resolve(values.data ?? 'govfs-data');
  const listen = hostPortOption(values.listen ?? process.env.GOVFS_LISTEN ?? DEFAULT_SERVER, 'listen');
  const log = logger(values.log);
  const cluster = await addressHint(LocalCluster.start({
    nodes: intOption(values.nodes, 'nodes'),
    threads: intOption(values.threads, 'threads'),
    dataDir,
    ministries: ministryOptions(values.ministry),
    listen,
    clientToken: readToken(values['token-file']),
    logger: log,
  }));
  const stopped = untilSignal(() => cluster.stop(), 'the cluster');
  const server = cluster.address;
  const ministries = cluster.shape.ministries.map((m) => `${m.subtree}:${m.clerks}`).join(' ');
  console.log(`govfs cluster: ${cluster.nodeIds.length} nodes on ${cluster.threads} worker threads, data in ${dataDir}${ministries ? `, ministries ${ministries}` : ''}`);
  console.log(`clients connect to ${server}${server === DEFAULT_SERVER ? '' : `   (govfs ls / --server ${server}, or GOVFS_SERVER=${server})`}`);
  console.log('Ctrl-C stops it.');
  // Say when the cluster serves.
  void (async () => {
    const client = await connect([server], { token: readToken(values['token-file']) }).catch(() => null);
    if (!client) return;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const st = await client.status().catch(() => null);
      const root = st?.ministries.find((m) => m.subtree === '/');
      if (st && st.president && root && !root.down && cluster.shape.ministries.every((x) => st.ministries.some((m) => m.subtree === x.subtree))) {
        console.log(`ready: president ${st.president}; ${st.ministries.map((m) => `${m.subtree} served by minister ${m.minister} (clerks ${m.clerks.join(', ') || 'none'})`).join('; ')}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.close();
  })();
  await stopped;
}

async function nodeCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    id: { type: 'string' }, peers: { type: 'string' }, listen: { type: 'string' }, data: { type: 'string' },
    'secret-file': { type: 'string' }, 'token-file': { type: 'string' }, ministry: { type: 'string', multiple: true }, log: { type: 'string' },
  }, false);
  if (values.help) return void console.log(COMMAND_HELP.node);
  const id = values.id;
  if (!id) throw new UsageError('--id is required (e.g. --id n1)');
  if (!values['secret-file']) throw new UsageError('--secret-file is required (every node of the cluster uses the same secret)');
  let peers: Record<string, string>;
  try {
    peers = parsePeers(values.peers ?? '');
  } catch (e) {
    throw new UsageError(`--peers: ${(e as Error).message}`);
  }
  const listenSpec = values.listen ?? peers[id];
  if (!listenSpec) throw new UsageError(`--listen is required (or list ${id}=host:port in --peers)`);
  const listen = hostPortOption(listenSpec, 'listen');
  const dataDir = resolve(values.data ?? join('govfs-data', id)); // NodeProcess creates it
  const secret = readSecretFile(values['secret-file']);
  const node = await addressHint(NodeProcess.start({
    id, listen, peers, dataDir, secret, clientToken: readToken(values['token-file']), ministries: ministryOptions(values.ministry), logger: logger(values.log),
  }));
  const others = node.nodeIds.filter((n) => n !== id);
  console.log(`govfs node ${id}: listening on ${node.address} for nodes and clients; peers ${others.map((n) => `${n}=${peers[n]}`).join(', ') || '(none)'}; data in ${dataDir}`);
  await untilSignal(() => node.stop(), `node ${id}`);
}

// ---- client commands ------------------------------------------------------------------------

const CLIENT_OPTIONS = {
  server: { type: 'string', multiple: true },
  'token-file': { type: 'string' },
  timeout: { type: 'string' },
} as const;

function servers(values: { server?: string[] }): string[] {
  const list = (values.server ?? [process.env.GOVFS_SERVER || DEFAULT_SERVER]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const s of list) {
    try {
      parseHostPort(s);
    } catch {
      throw new UsageError(`--server wants host:port, got "${s}"`);
    }
  }
  return list;
}

async function openClient(values: { server?: string[]; 'token-file'?: string; timeout?: string }): Promise<RemoteGovClient> {
  const list = servers(values);
  const deadlineMs = intOption(values.timeout, 'timeout') ?? 15_000;
  const token = readToken(values['token-file']); // a token file problem is not a connection problem
  try {
    return await connect(list, { token, deadlineMs });
  } catch (e) {
    // The library's message says what happened (nothing listening, refused and why, ...).
    const err = e as Error & { code?: string };
    throw new Error(err.code && !err.message.includes(`[${err.code}]`) ? `${err.message} [${err.code}]` : err.message);
  }
}

/** An FsError's message for a shell user (the library's hints name API options). */
function fsMessage(e: unknown, op: string, path: string): string {
  const err = e as Error & { code?: string };
  let msg = (err.message ?? String(e)).replace(/use parents: true/g, 'use -p').replace(/use recursive: true/g, 'use -r').replace(/parents: true/g, '-p').replace(/recursive: true/g, '-r');
  if (!msg.startsWith(`${op} `)) msg = `${op} ${path}: ${msg}`;
  return err.code && !msg.includes(err.code) ? `${msg} [${err.code}]` : msg;
}

function fmtTime(ms: number): string {
  return ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

type Runner = (client: RemoteGovClient, args: string[], flags: Record<string, unknown>, out: Out, cwd: string) => Promise<number>;

const abs = (cwd: string, p: string): string => {
  const r = posix.normalize(p.startsWith('/') ? p : posix.join(cwd, p));
  return r.length > 1 && r.endsWith('/') ? r.slice(0, -1) : r;
};

/** Run `fn` for each path; errors are printed and make the exit status 1. */
async function eachPath(paths: string[], op: string, out: Out, cwd: string, fn: (path: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const p of paths) {
    const path = abs(cwd, p);
    try {
      await fn(path);
    } catch (e) {
      out.err(`govfs: ${fsMessage(e, op, path)}`);
      status = 1;
    }
  }
  return status;
}

const runners: Record<string, { options: NonNullable<ParseArgsConfig['options']>; min: number; max?: number; run: Runner }> = {
  ls: {
    options: { long: { type: 'boolean', short: 'l' }, linearizable: { type: 'boolean' } },
    min: 0,
    run: async (client, args, flags, out, cwd) => {
      const paths = args.length ? args : [cwd];
      return eachPath(paths, 'ls', out, cwd, async (path) => {
        let entries: DirEntry[];
        try {
          entries = await client.ls(path, { linearizable: !!flags.linearizable });
        } catch (e) {
          if ((e as { code?: string }).code !== 'ENOTDIR') throw e;
          const st = await client.stat(path);
          entries = [{ name: path, kind: st.kind }];
        }
        if (paths.length > 1) out.log(`${path}:`);
        if (flags.long) {
          const stats = await Promise.all(entries.map((e) => client.stat(e.name.startsWith('/') ? e.name : posix.join(path, e.name)).catch(() => null)));
          entries.forEach((e, i) => {
            const s = stats[i];
            out.log(`${e.kind === 'dir' ? 'd' : '-'} ${String(s?.size ?? '?').padStart(10)} ${fmtTime(s?.mtime ?? 0)} v${String(s?.version ?? '?').padEnd(5)} ${e.name}${e.kind === 'dir' ? '/' : ''}`);
          });
        } else {
          for (const e of entries) out.log(`${e.name}${e.kind === 'dir' ? '/' : ''}`);
        }
      });
    },
  },
  mkdir: {
    options: { parents: { type: 'boolean', short: 'p' } },
    min: 1,
    run: (client, args, flags, out, cwd) => eachPath(args, 'mkdir', out, cwd, (p) => client.mkdir(p, { parents: !!flags.parents })),
  },
  touch: {
    options: {},
    min: 1,
    run: (client, args, _flags, out, cwd) =>
      eachPath(args, 'touch', out, cwd, async (p) => {
        try {
          await client.create(p);
        } catch (e) {
          if ((e as { code?: string }).code !== 'EEXIST') throw e;
        }
      }),
  },
  stat: {
    options: { json: { type: 'boolean' } },
    min: 1,
    run: (client, args, flags, out, cwd) =>
      eachPath(args, 'stat', out, cwd, async (p) => {
        const s: Stat = await client.stat(p);
        if (flags.json) out.log(JSON.stringify({ path: p, ...s }));
        else out.log(`${p}\n  kind     ${s.kind}\n  size     ${s.size}\n  created  ${fmtTime(s.ctime)}\n  modified ${fmtTime(s.mtime)}\n  version  ${s.version}`);
      }),
  },
  rm: {
    options: { recursive: { type: 'boolean', short: 'r' }, force: { type: 'boolean', short: 'f' } },
    min: 1,
    run: (client, args, flags, out, cwd) =>
      eachPath(args, 'rm', out, cwd, async (p) => {
        try {
          if (flags.recursive) {
            const st = await client.stat(p);
            if (st.kind === 'dir') return await client.rmdir(p, { recursive: true });
          }
          await client.rm(p);
        } catch (e) {
          if (flags.force && (e as { code?: string }).code === 'ENOENT') return;
          throw e;
        }
      }),
  },
  rmdir: {
    options: { recursive: { type: 'boolean', short: 'r' } },
    min: 1,
    run: (client, args, flags, out, cwd) => eachPath(args, 'rmdir', out, cwd, (p) => client.rmdir(p, { recursive: !!flags.recursive })),
  },
  mv: {
    options: {},
    min: 2,
    max: 2,
    run: async (client, args, _flags, out, cwd) => {
      const [from, to] = [abs(cwd, args[0]!), abs(cwd, args[1]!)];
      try {
        await client.rename(from, to);
        return 0;
      } catch (e) {
        out.err(`govfs: ${fsMessage(e, 'mv', from)}`);
        return 1;
      }
    },
  },
  status: {
    options: { json: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' } },
    min: 0,
    max: 0,
    run: async (client, _args, flags, out) => {
      const show = async (): Promise<void> => {
        const st = await client.status();
        out.log(flags.json ? JSON.stringify(st, null, flags.watch ? 0 : 2) : formatStatus(st, client.server));
      };
      if (!flags.watch) {
        await show();
        return 0;
      }
      let stop = false;
      process.once('SIGINT', () => {
        stop = true;
      });
      while (!stop) {
        const st = await client.status().catch(() => null);
        if (!flags.json) process.stdout.write('\x1b[2J\x1b[H');
        if (!st) out.log(`(no answer from ${client.server || 'the cluster'}; retrying)`);
        else out.log(flags.json ? JSON.stringify(st) : `${formatStatus(st, client.server)}\n\n${new Date().toLocaleTimeString()} — refreshing every second, Ctrl-C to stop`);
        for (let i = 0; i < 10 && !stop; i++) await new Promise((r) => setTimeout(r, 100));
      }
      return 0;
    },
  },
};

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatStatus(st: ClusterStatusView, server: string): string {
  const up = st.nodes.filter((n) => n.up).length;
  const lines = [`cluster via ${server}: president ${st.president || '(none: election in progress)'}, cluster term ${st.clusterTerm}, ${up} of ${st.nodes.length} nodes up`, ''];
  lines.push(table([
    ['MINISTRY', 'SUBTREE', 'MINISTER', 'CLERKS', 'TERM', 'COMMIT', 'STATE'],
    ...st.ministries.map((m) => [m.id, m.subtree, m.minister || '-', m.clerks.join(',') || '-', String(m.term), String(m.commitIndex), m.down ? 'DOWN' : m.shortStaffed ? 'short-staffed' : 'ok']),
  ]));
  lines.push('');
  lines.push(table([
    ['NODE', 'STATE', 'ROLE', 'MINISTRY', 'COMMIT', 'APPLIED', 'CAUGHT-UP'],
    ...st.nodes.map((n) => [n.id, n.up ? 'up' : 'DOWN', n.up ? n.role : '-', n.ministry || '-', n.up ? String(n.commit) : '-', n.up ? String(n.applied) : '-', n.up && n.ministry ? (n.caughtUp ? 'yes' : 'no') : '-']),
  ]));
  lines.push('');
  lines.push(`idle: ${st.idle.length ? st.idle.join(', ') : '(none)'}`);
  return lines.join('\n');
}

async function clientCommand(name: string, argv: string[]): Promise<void> {
  const spec = runners[name]!;
  const { values, positionals } = parse(argv, { ...spec.options, ...CLIENT_OPTIONS });
  if (values.help) return void console.log(COMMAND_HELP[name]);
  if (positionals.length < spec.min) throw new UsageError(`${name} needs ${spec.min === 1 ? 'a path' : `${spec.min} paths`} (govfs ${name} --help)`);
  if (spec.max !== undefined && positionals.length > spec.max) throw new UsageError(`${name} takes ${spec.max === 0 ? 'no paths' : `${spec.max} paths`} (govfs ${name} --help)`);
  const client = await openClient(values as { server?: string[] });
  try {
    process.exitCode = await spec.run(client, positionals, values as Record<string, unknown>, stdio, '/');
  } finally {
    await client.close();
  }
}

// ---- shell ----------------------------------------------------------------------------------

/** Split a command line into words ('single', "double" quotes and \ escapes). */
export function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let any = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
    }
  }
  if (cur || any) out.push(cur);
  return out;
}

async function shellCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, CLIENT_OPTIONS, false);
  if (values.help) return void console.log(COMMAND_HELP.shell);
  const client = await openClient(values as { server?: string[] });
  const historyFile = process.env.GOVFS_HISTORY ?? join(homedir(), '.govfs_history');
  let history: string[] = [];
  try {
    history = readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).reverse().slice(0, 1000);
  } catch {
    // no history yet
  }
  let cwd = '/';
  const completer = (line: string, cb: (err: null, result: [string[], string]) => void): void => {
    const w = words(line);
    const ends = /\s$/.test(line) && !/\\\s$/.test(line);
    if (w.length === 0 || (w.length === 1 && !ends)) {
      const cmds = [...Object.keys(runners), 'cd', 'pwd', 'help', 'exit'].sort();
      const prefix = w[0] ?? '';
      cb(null, [cmds.filter((c) => c.startsWith(prefix)).map((c) => `${c} `), prefix]);
      return;
    }
    // The word being typed, as typed (escapes and all), and what it means.
    const raw = ends ? '' : (/(?:\\.|[^\s\\])+$/.exec(line)?.[0] ?? '');
    const partial = words(raw)[0] ?? '';
    const slash = partial.lastIndexOf('/');
    const dirPart = slash >= 0 ? partial.slice(0, slash + 1) : '';
    const base = slash >= 0 ? partial.slice(slash + 1) : partial;
    const dir = abs(cwd, dirPart || '.');
    // What is typed is replaced by the completion, escaped again.
    const escape = (s: string) => s.replace(/([\s\\'"])/g, '\\$1');
    client.ls(dir).then(
      (entries) => cb(null, [entries.filter((e) => e.name.startsWith(base)).map((e) => escape(`${dirPart}${e.name}${e.kind === 'dir' ? '/' : ''}`)), raw]),
      () => cb(null, [[], raw]),
    );
  };
  const rl: Interface = createInterface({ input: process.stdin, output: process.stdout, completer, history, historySize: 1000, terminal: process.stdin.isTTY });
  const prompt = (): void => {
    rl.setPrompt(`govfs:${cwd}> `);
    rl.prompt();
  };
  console.log(`connected to ${client.server} (nodes ${client.nodeIds.join(', ')}). help lists the commands, exit or Ctrl-D leaves.`);
  prompt();
  const queue: string[] = [];
  let running: Promise<void> | null = null;
  let closing = false;
  const done = new Promise<void>((resolveDone) => {
    rl.on('close', () => {
      closing = true;
      void (running ?? Promise.resolve())
        .then(() => client.close())
        .then(resolveDone, resolveDone);
    });
  });
  rl.on('SIGINT', () => {
    rl.write('', { ctrl: true, name: 'u' });
    process.stdout.write('^C\n');
    prompt();
  });
  const runLine = async (line: string): Promise<void> => {
    const w = words(line);
    if (w.length === 0) return;
    if (line.trim()) {
      try {
        appendFileSync(historyFile, `${line.trim()}\n`);
      } catch {
        // history is best effort
      }
    }
    const [cmd, ...rest] = w as [string, ...string[]];
    switch (cmd) {
      case 'exit':
      case 'quit':
        queue.length = 0;
        rl.close();
        return;
      case 'help':
        console.log('commands: ls [-l] [PATH], cd PATH, pwd, mkdir [-p] PATH..., touch PATH..., stat PATH..., rm [-r] PATH..., rmdir [-r] PATH..., mv FROM TO, status [--json], exit');
        return;
      case 'pwd':
        console.log(cwd);
        return;
      case 'cd': {
        const target = abs(cwd, rest[0] ?? '/');
        try {
          const st = await client.stat(target);
          if (st.kind !== 'dir') console.error(`govfs: cd ${target}: not a directory`);
          else cwd = target;
        } catch (e) {
          console.error(`govfs: ${fsMessage(e, 'cd', target)}`);
        }
        return;
      }
    }
    const spec = runners[cmd];
    if (!spec || cmd === 'status' && rest.includes('--watch')) {
      console.error(`govfs: unknown command "${cmd}" (help lists them)`);
      return;
    }
    try {
      const { values, positionals } = parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true });
      if (positionals.length < spec.min || (spec.max !== undefined && positionals.length > spec.max)) throw new Error(`wrong number of arguments (govfs ${cmd} --help)`);
      await spec.run(client, positionals, values as Record<string, unknown>, stdio, cwd);
    } catch (e) {
      console.error(`govfs: ${cmd}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
    }
  };
  rl.on('line', (line) => {
    queue.push(line);
    if (running) return;
    running = (async () => {
      while (queue.length > 0) await runLine(queue.shift()!);
      running = null;
      if (!closing) prompt();
    })();
  });
  await done;
}

// ---- bench ----------------------------------------------------------------------------------

class Progress {
  private last = 0;
  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly enabled = process.stderr.isTTY,
  ) {}
  tick(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`);
    if (done >= this.total) process.stderr.write('\n');
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
}

async function benchOps(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...CLIENT_OPTIONS, ops: { type: 'string' }, clients: { type: 'string' }, json: { type: 'boolean' } }, false);
  if (values.help) return void console.log(COMMAND_HELP.bench);
  const ops = intOption(values.ops, 'ops') ?? 2000;
  const nClients = intOption(values.clients, 'clients') ?? 8;
  const clients = await Promise.all(Array.from({ length: nClients }, () => openClient(values as { server?: string[] })));
  try {
    const dir = `/bench-${Date.now().toString(36)}`;
    await clients[0]!.mkdir(dir);
    const phase = async (label: string, n: number, op: (c: RemoteGovClient, i: number) => Promise<unknown>) => {
      const lat: number[] = [];
      const progress = new Progress(n, label.padEnd(6));
      let next = 0;
      let done = 0;
      const t0 = performance.now();
      await Promise.all(clients.map(async (c) => {
        for (let i = next++; i < n; i = next++) {
          const s = performance.now();
          await op(c, i);
          lat.push(performance.now() - s);
          progress.tick(++done);
        }
      }));
      const secs = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      return { phase: label, ops: n, seconds: +secs.toFixed(3), opsPerSec: Math.round(n / secs), p50ms: +percentile(lat, 50).toFixed(2), p99ms: +percentile(lat, 99).toFixed(2) };
    };
    const results = [
      await phase('create', ops, (c, i) => c.create(`${dir}/f${i}`)),
      await phase('stat', ops, (c, i) => c.stat(`${dir}/f${i}`)),
      await phase('ls', Math.max(1, Math.floor(ops / 100)), (c) => c.ls(dir)),
    ];
    if (values.json) console.log(JSON.stringify({ bench: 'ops', server: clients[0]!.server, clients: nClients, results }, null, 2));
    else console.log(table([['PHASE', 'OPS', 'SECONDS', 'OPS/S', 'P50 MS', 'P99 MS'], ...results.map((r) => [r.phase, String(r.ops), String(r.seconds), String(r.opsPerSec), String(r.p50ms), String(r.p99ms)])]));
    await clients[0]!.rmdir(dir, { recursive: true }).catch(() => {});
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function benchCommand(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') return void console.log(COMMAND_HELP.bench);
  if (name === 'ops') return benchOps(rest);
  // The in-process benchmarks: bench/run.ts through tsx, in a child process.
  const root = fileURLToPath(new URL('..', import.meta.url));
  const runner = join(root, 'bench', 'run.ts');
  if (!existsSync(runner)) throw new Error(`the in-process benchmarks need a checkout (no ${runner})`);
  const args = name === 'list' ? [runner, '--help'] : [runner, name, ...rest];
  const code = await new Promise<number>((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: 'inherit', cwd: root });
    child.on('exit', (c, sig) => res(c ?? (sig ? 1 : 0)));
  });
  process.exitCode = code;
}

// ---- demo -----------------------------------------------------------------------------------

async function demo(argv: string[]): Promise<void> {
  const { values } = parse(argv, { threads: { type: 'string' }, data: { type: 'string' }, seconds: { type: 'string' } }, false);
  if (values.help) return void console.log(COMMAND_HELP.demo);
  const threads = intOption(values.threads, 'threads') ?? Math.max(2, availableParallelism());
  const dataDir = resolve(values.data ?? 'govfs-data-demo');
  mkdirSync(dataDir, { recursive: true });
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const sched = await ThreadsScheduler.start({ threads, modules: [new URL(`../src/actors/demo${ext}`, import.meta.url)] });
  const names = Array.from({ length: threads }, (_, i) => `demo${i}`);
  const address = (i: number) => `t${i}#/${names[i]}`;
  for (let i = 0; i < threads; i++) {
    await sched.spawnRoot(names[i]!, { behaviour: 'govfs.demo.node', args: { index: i, next: address((i + 1) % threads) } }, { thread: i, storageDir: join(dataDir, names[i]!) });
  }
  for (let i = 0; i < threads; i++) for (let k = 0; k < 64; k++) sched.ref(address(i)).tell({ type: 'govfs.runtime.Ping', seq: k, sender: i });
  console.log(`govfs demo: ${threads} worker threads, data in ${dataDir}. Ctrl-C to stop.`);
  let last = 0;
  const report = async () => {
    const counts = await Promise.all(names.map((_, i) => sched.ask<{ seq: number; sender: number }>(address(i), { type: 'govfs.runtime.Pong', seq: 0 })));
    const handled = counts.reduce((s, c) => s + c.sender, 0);
    console.log(`${(handled - last).toLocaleString()} msgs/s across threads; laps per node: ${counts.map((c) => c.seq).join(', ')}`);
    last = handled;
  };
  const timer = setInterval(() => void report().catch(() => {}), 1_000);
  const stop = async () => {
    clearInterval(timer);
    await sched.stop();
  };
  if (values.seconds) setTimeout(() => process.kill(process.pid, 'SIGINT'), Number(values.seconds) * 1_000);
  await untilSignal(stop, 'the demo');
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const [command = 'help', ...rest] = process.argv.slice(2);
  switch (command) {
    case 'cluster':
      return clusterCommand(rest);
    case 'node':
      return nodeCommand(rest);
    case 'shell':
      return shellCommand(rest);
    case 'bench':
      return benchCommand(rest);
    case 'demo':
      return demo(rest);
    case 'help':
    case '--help':
    case '-h':
      if (rest[0] && COMMAND_HELP[rest[0]]) console.log(COMMAND_HELP[rest[0]]);
      else console.log(HELP);
      return;
    default:
      if (command in runners) return clientCommand(command, rest);
      throw new UsageError(`unknown command "${command}" (govfs --help lists them)`);
  }
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`govfs: ${e.message}`);
    process.exitCode = 2;
    return;
  }
  console.error(`govfs: ${(e as Error).message}`);
  process.exitCode = 1;
});
