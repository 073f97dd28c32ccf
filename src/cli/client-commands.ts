// The client commands of the command line (ls, mkdir, touch, stat, rm, rmdir, mv, status),
// shared by one-shot use (`govfs ls /`) and the shell. Loaded only by commands that talk to a
// cluster: it pulls in the network client.
//
// Every name and message from the cluster is printed escaped (src/fs/names.ts): names may
// hold bidi controls, and older data control characters, which must not act on the terminal.

import { posix } from 'node:path';
import type { DirEntry, Stat } from '../client/gov-client.js';
import { FsError } from '../fs/errors.js';
import { escapeJson, escapeText, shellQuote } from '../fs/names.js';
import { parseHostPort } from '../net/bridge.js';
import { connect, type ClusterStatusView, type RemoteGovClient } from '../client/connect.js';
import { cliPath, notADirectory } from './paths.js';
import { DEFAULT_SERVER, UsageError, intOption, parse, stdio, type Options, type Out } from './usage.js';

export const CLIENT_OPTIONS = {
  server: { type: 'string', multiple: true },
  'token-file': { type: 'string' },
  'tls-ca': { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** The client token, if one is given. node-main (and with it lmdb) loads only then. */
export async function readToken(file: string | undefined): Promise<Uint8Array | undefined> {
  const f = file ?? process.env.GOVFS_TOKEN_FILE;
  if (!f) return undefined;
  const { readKeyFile } = await import('../net/key-file.js');
  return readKeyFile(f, 'client token');
}

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

export async function openClient(values: { server?: string[]; 'token-file'?: string; 'tls-ca'?: string; timeout?: string }): Promise<RemoteGovClient> {
  const list = servers(values);
  const deadlineMs = intOption(values.timeout, 'timeout') ?? 15_000;
  const token = await readToken(values['token-file']);
  try {
    const caFile = values['tls-ca'] ?? process.env.GOVFS_TLS_CA;
    return await connect(list, { token, deadlineMs, tls: caFile ? { caFile } : undefined });
  } catch (e) {
    // The library's message says what happened (nothing listening, refused and why, ...).
    const err = e as Error & { code?: string };
    throw new Error(err.code && !err.message.includes(`[${err.code}]`) ? `${err.message} [${err.code}]` : err.message);
  }
}

/** An FsError's message for a shell user (the library's hints name API options), escaped. */
export function fsMessage(e: unknown, op: string, path: string): string {
  const err = e as Error & { code?: string };
  let msg = (err.message ?? String(e)).replace(/use parents: true/g, 'use -p').replace(/use recursive: true/g, 'use -r').replace(/parents: true/g, '-p').replace(/recursive: true/g, '-r');
  if (!msg.startsWith(`${op} `)) msg = `${op} ${path.length > 80 ? `${path.slice(0, 77)}...` : path}: ${msg}`;
  return escapeText(err.code && !msg.includes(err.code) ? `${msg} [${err.code}]` : msg);
}

function fmtTime(ms: number): string {
  return ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

/** `cwd` is the shell's current directory; one-shot commands have none (absolute paths only). */
type Runner = (client: RemoteGovClient, args: string[], flags: Record<string, unknown>, out: Out, cwd: string | undefined) => Promise<number>;

/** Run `fn` for each path; errors are printed and make the exit status 1. */
async function eachPath(paths: string[], op: string, out: Out, cwd: string | undefined, fn: (path: string, dirOnly: boolean) => Promise<void>): Promise<number> {
  let status = 0;
  for (const p of paths) {
    let path = p;
    try {
      const resolved = cliPath(p, cwd);
      path = resolved.path;
      await fn(path, resolved.dirOnly);
    } catch (e) {
      out.err(`govfs: ${fsMessage(e, op, path)}`);
      status = 1;
    }
  }
  return status;
}

async function mustBeDir(client: RemoteGovClient, op: string, path: string): Promise<void> {
  if ((await client.stat(path)).kind !== 'dir') throw notADirectory(op, path);
}

export interface RunnerSpec {
  options: Options;
  min: number;
  max?: number;
  run: Runner;
}

/** A command that makes one call per path, with one boolean flag (`-p`, `-r`). */
function eachPathWithFlag(op: string, flag: string, short: string, call: (client: RemoteGovClient, path: string, on: boolean) => Promise<void>): RunnerSpec {
  return {
    options: { [flag]: { type: 'boolean', short } },
    min: 1,
    run: (client, args, flags, out, cwd) => eachPath(args, op, out, cwd, (p) => call(client, p, !!flags[flag])),
  };
}

export const runners: Record<string, RunnerSpec> = {
  ls: {
    options: { long: { type: 'boolean', short: 'l' }, linearizable: { type: 'boolean' } },
    min: 0,
    run: async (client, args, flags, out, cwd) => {
      const paths = args.length ? args : [cwd ?? '/'];
      return eachPath(paths, 'ls', out, cwd, async (path, dirOnly) => {
        let entries: DirEntry[];
        try {
          entries = await client.ls(path, { linearizable: !!flags.linearizable });
        } catch (e) {
          if ((e as { code?: string }).code !== 'ENOTDIR' || dirOnly) throw e;
          const st = await client.stat(path);
          entries = [{ name: path, kind: st.kind }];
        }
        if (paths.length > 1) out.log(`${shellQuote(path)}:`);
        const shown = (e: DirEntry) => `${shellQuote(e.name)}${e.kind === 'dir' ? '/' : ''}`;
        if (flags.long) {
          const stats = await Promise.all(entries.map((e) => client.stat(e.name.startsWith('/') ? e.name : posix.join(path, e.name)).catch(() => null)));
          entries.forEach((e, i) => {
            const s = stats[i];
            out.log(`${e.kind === 'dir' ? 'd' : '-'} ${String(s?.size ?? '?').padStart(10)} ${fmtTime(s?.mtime ?? 0)} v${String(s?.version ?? '?').padEnd(5)} ${shown(e)}`);
          });
        } else {
          for (const e of entries) out.log(shown(e));
        }
      });
    },
  },
  mkdir: eachPathWithFlag('mkdir', 'parents', 'p', (client, p, parents) => client.mkdir(p, { parents })),
  touch: {
    options: {},
    min: 1,
    run: (client, args, _flags, out, cwd) =>
      eachPath(args, 'touch', out, cwd, async (p, dirOnly) => {
        if (dirOnly) {
          // An existing directory is left as it is; anything else would need a directory made.
          const st = await client.stat(p).catch(() => null);
          if (st?.kind === 'dir') return;
          throw new FsError('EINVAL', `touch ${p}/: a trailing "/" names a directory, and touch makes files (write ${p}, or use mkdir)`, p);
        }
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
      eachPath(args, 'stat', out, cwd, async (p, dirOnly) => {
        const s: Stat = await client.stat(p);
        if (dirOnly && s.kind !== 'dir') throw notADirectory('stat', p);
        // (Nanosecond times are bigint, which JSON has not: written as strings of digits.)
        if (flags.json) out.log(escapeJson(JSON.stringify({ path: p, ...s }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))));
        else out.log(`${shellQuote(p)}\n  kind     ${s.kind}\n  size     ${s.size}\n  mode     ${s.mode.toString(8).padStart(6, '0')}\n  owner    ${s.uid}:${s.gid}\n  links    ${s.nlink}\n  changed  ${fmtTime(s.ctime)}\n  modified ${fmtTime(s.mtime)}\n  version  ${s.version}`);
      }),
  },
  rm: {
    options: { recursive: { type: 'boolean', short: 'r' }, force: { type: 'boolean', short: 'f' } },
    min: 1,
    run: (client, args, flags, out, cwd) =>
      eachPath(args, 'rm', out, cwd, async (p, dirOnly) => {
        try {
          if (dirOnly) await mustBeDir(client, 'rm', p);
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
  rmdir: eachPathWithFlag('rmdir', 'recursive', 'r', (client, p, recursive) => client.rmdir(p, { recursive })),
  mv: {
    options: {},
    min: 2,
    max: 2,
    run: async (client, args, _flags, out, cwd) => {
      let from = args[0]!;
      try {
        const f = cliPath(args[0]!, cwd);
        from = f.path;
        const t = cliPath(args[1]!, cwd);
        if (f.dirOnly || t.dirOnly) await mustBeDir(client, 'mv', from);
        await client.rename(from, t.path);
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
        out.log(flags.json ? escapeJson(JSON.stringify(st, null, flags.watch ? 0 : 2)) : formatStatus(st, client.server));
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
        if (!flags.json && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H'); // clear the screen, not a pipe
        if (!st) out.log(`(no answer from ${client.server || 'the cluster'}; retrying)`);
        else out.log(flags.json ? escapeJson(JSON.stringify(st)) : `${formatStatus(st, client.server)}\n\n${new Date().toLocaleTimeString()} — refreshing every second, Ctrl-C to stop`);
        for (let i = 0; i < 10 && !stop; i++) await new Promise((r) => setTimeout(r, 100));
      }
      return 0;
    },
  },
};

/** `govfs balance on|off|plan` (thesis 3.4): the president's automatic balancer. */
runners.balance = {
  options: {},
  min: 1,
  max: 1,
  run: async (client, args, _flags, out) => {
    const action = args[0]!;
    if (action !== 'on' && action !== 'off' && action !== 'plan') throw new UsageError(`balance takes on, off or plan, got ${JSON.stringify(action)} (govfs balance --help)`);
    const r = await client.balance(action);
    if (!r.ok) {
      out.err(`govfs: balance ${action}: ${r.reason}`);
      return 1;
    }
    out.log(action === 'plan' ? r.plan.map(escapeText).join('\n') : `balancer ${r.balancing ? 'on' : 'off'}`);
    return 0;
  },
};

// File contents (issue 17): data-commands.ts. Errors name the path as the other commands do.
const dataRunner = (op: string, min: number, max: number, run: (typeof import('./data-commands.js'))['put']): RunnerSpec => ({
  options: {},
  min,
  max,
  run: async (client, args, flags, out, cwd) => {
    try {
      return await run(client, args, flags, out, cwd);
    } catch (e) {
      out.err(`govfs: ${fsMessage(e, op, op === 'put' ? args[1]! : args[0]!)}`);
      return 1;
    }
  },
});
runners.put = dataRunner('put', 2, 2, (...a) => import('./data-commands.js').then((m) => m.put(...a)));
runners.get = dataRunner('get', 2, 2, (...a) => import('./data-commands.js').then((m) => m.get(...a)));
runners.cat = dataRunner('cat', 1, Infinity, (...a) => import('./data-commands.js').then((m) => m.cat(...a)));
/** `govfs node add ID=host:port` / `govfs node remove ID` (issue 20): the president brings a
 * node in (a learner of the cluster log, then the idle pool) or hands its roles over and takes
 * it out; this waits until the status shows it done (at most --wait seconds). */
runners.member = {
  options: { wait: { type: 'string' } },
  min: 2,
  max: 2,
  run: async (client, args, flags, out) => {
    const [action, spec] = [args[0]!, args[1]!];
    if (action !== 'add' && action !== 'remove') throw new UsageError(`govfs node takes add ID=host:port or remove ID, got ${JSON.stringify(action)} (govfs node --help)`);
    const eq = spec.indexOf('=');
    const node = action === 'add' ? spec.slice(0, eq) : spec;
    const endpoint = action === 'add' ? spec.slice(eq + 1) : '';
    if (action === 'add' && (eq <= 0 || !/^[^:]+:\d+$|^\[[^\]]+\]:\d+$/.test(endpoint))) throw new UsageError(`node add wants ID=host:port (the new node's --listen), got ${JSON.stringify(spec)}`);
    const waitS = intOption(flags.wait as string | undefined, 'wait', 0) ?? 60;
    // A node in a process of its own is the actor `<id>#/<id>` behind its bridge (node-main.ts).
    const r = await client.member({ action, node, address: action === 'add' ? `${node}#/${node}` : '', endpoint });
    if (!r.ok && r.code !== 'EEXIST' && r.code !== 'EALREADY') {
      out.err(`govfs: node ${action} ${node}: ${r.reason} [${r.code}]`);
      return 1;
    }
    out.log(`node ${action} ${node}: ordered (cluster log index ${r.index})`);
    const deadline = Date.now() + waitS * 1_000;
    // The president answers once it has proposed the order: one that loses office before the
    // order commits takes it along. Ask again now and then; a retry of an order that did
    // commit is refused as taken already (EEXIST, EALREADY, ENOENT), which is harmless.
    let sent = Date.now();
    for (;;) {
      if (Date.now() - sent > 3_000) {
        sent = Date.now();
        await client.member({ action, node, address: action === 'add' ? `${node}#/${node}` : '', endpoint }).catch(() => null);
      }
      const st = await client.status().catch(() => null);
      const member = st?.members?.includes(node) === true;
      if (st && (action === 'add' ? member : !member && !(st.leaving ?? []).includes(node) && st.president !== '' && st.president !== node)) {
        out.log(action === 'add' ? `${node} is a ${st.voters?.includes(node) ? 'voter' : 'learner'} of the cluster log` : `${node} is out of the cluster`);
        return 0;
      }
      if (Date.now() > deadline) {
        if (waitS > 0) out.err(`govfs: node ${action} ${node}: not done after ${waitS} s (govfs status shows where it is)`);
        return waitS > 0 ? 1 : 0;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
  },
};

/** `govfs ministry split PATH | merge PATH | list` (issue 16): live subtree migration. */
runners.ministry = {
  options: { timeout: { type: 'string' } },
  min: 1,
  max: 2,
  run: async (client, args, flags, out) => {
    const action = args[0]!;
    if (action === 'list') {
      if (args.length !== 1) throw new UsageError('ministry list takes no path (govfs ministry --help)');
      out.log(formatMinistries(await client.status()));
      return 0;
    }
    if (action !== 'split' && action !== 'merge') throw new UsageError(`ministry takes split PATH, merge PATH or list, got ${JSON.stringify(action)} (govfs ministry --help)`);
    const path = args[1];
    if (path === undefined) throw new UsageError(`ministry ${action} needs the path of a subtree (govfs ministry --help)`);
    const timeoutMs = flags.timeout === undefined ? 60_000 : Number(flags.timeout) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout takes seconds, got ${JSON.stringify(flags.timeout)}`);
    const before = new Set((await client.status()).migrations.map((g) => g.id));
    const r = await client.migrate(action, path);
    if (!r.ok) {
      out.err(`govfs: ministry ${action} ${escapeText(path)}: ${r.reason}`);
      return 1;
    }
    out.err(r.plan.map(escapeText).join('\n'));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const g = (await client.status().catch(() => null))?.migrations.find((x) => x.subtree === path && !before.has(x.id));
      if (g?.phase === 'committed') {
        out.log(`${action} ${escapeText(path)}: done (migration ${g.id}; ministry ${g.to} serves it now)`);
        return 0;
      }
      if (g?.phase === 'aborted') {
        out.err(`govfs: ministry ${action} ${escapeText(path)}: migration ${g.id} was aborted: ${escapeText(g.reason)}`);
        return 1;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    out.err(`govfs: ministry ${action} ${escapeText(path)}: not finished after ${timeoutMs / 1000} s (govfs ministry list shows it) [ETIMEDOUT]`);
    return 1;
  },
};

/** `govfs ministry list`: each ministry's subtree and staff, then the migrations. */
export function formatMinistries(st: ClusterStatusView): string {
  const forming = new Map(st.migrations.filter((g) => g.phase === 'fencing' || g.phase === 'handed').flatMap((g) => [[g.to, g] as const, [g.from, g] as const]));
  const lines = [table([
    ['MINISTRY', 'SUBTREE', 'MINISTER', 'CLERKS', 'TERM', 'MIGRATION'],
    ...st.ministries.map((m) => {
      const g = forming.get(m.id);
      return [m.id, shellQuote(m.subtree), m.minister || '-', m.clerks.join(',') || '-', String(m.term), g ? `${g.id} ${g.phase}` : '-'];
    }),
  ])];
  if (st.migrations.length > 0) {
    lines.push('', table([
      ['MIGRATION', 'KIND', 'SUBTREE', 'FROM', 'TO', 'PHASE', 'WHY'],
      ...st.migrations.map((g) => [g.id, g.split ? 'split' : 'merge', shellQuote(g.subtree), g.from, g.to, g.phase, g.reason || '-']),
    ]));
  }
  return lines.join('\n');
}

/** Columns padded to their widest cell; cells (ids, subtrees from the cluster) escaped. */
export function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map(escapeText));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatStatus(st: ClusterStatusView, server: string): string {
  const up = st.nodes.filter((n) => n.up).length;
  const lines = [`cluster via ${server}: president ${st.president || '(none: election in progress)'}, cluster term ${st.clusterTerm}, ${up} of ${st.nodes.length} nodes up`, ''];
  lines.push(table([
    ['MINISTRY', 'SUBTREE', 'MINISTER', 'CLERKS', 'TERM', 'COMMIT', 'CPU', 'READS/S', 'WRITES/S', 'CHUNKS(UNDER-REPL)', 'STATE'],
    ...st.ministries.map((m) => [
      m.id,
      shellQuote(m.subtree),
      m.minister || '-',
      m.clerks.join(',') || '-',
      String(m.term),
      String(m.commitIndex),
      m.load ? `${Math.round(m.load.cpu * 100)}%` : '-',
      m.load ? m.load.readsPerSec.toFixed(1) : '-',
      m.load ? m.load.writesPerSec.toFixed(1) : '-',
      m.chunks ? `${m.chunks.total}(${m.chunks.underReplicated})` : '-',
      m.down ? 'DOWN' : m.shortStaffed ? 'short-staffed' : 'ok',
    ]),
  ]));
  lines.push('');
  lines.push(table([
    ['NODE', 'STATE', 'ROLE', 'MINISTRY', 'COMMIT', 'APPLIED', 'CAUGHT-UP'],
    ...st.nodes.map((n) => [n.id, n.up ? 'up' : 'DOWN', n.up ? n.role : '-', n.ministry || '-', n.up ? String(n.commit) : '-', n.up ? String(n.applied) : '-', n.up && n.ministry ? (n.caughtUp ? 'yes' : 'no') : '-']),
  ]));
  lines.push('');
  lines.push(`idle: ${st.idle.length ? st.idle.join(', ') : '(none)'}`);
  if (st.members?.length) lines.push(`members: voters ${st.voters?.join(', ') || '-'}; learners ${st.learners?.join(', ') || '(none)'}${st.leaving?.length ? `; leaving ${st.leaving.join(', ')}` : ''}`);
  lines.push(`balancer: ${st.balancing ? 'on' : 'off'} (CPU: average of the clerks; govfs balance plan says what it would do)`);
  const moving = st.migrations.filter((g) => g.phase === 'fencing' || g.phase === 'handed');
  if (moving.length > 0) lines.push(`migrations in progress: ${moving.map((g) => `${g.id} ${g.split ? 'split' : 'merge'} ${shellQuote(g.subtree)} ${g.from} -> ${g.to} (${g.phase})`).join('; ')}`);
  return lines.join('\n');
}

/** `govfs ls|mkdir|... ARGS`: one command against the cluster; the exit status says how it went. */
export async function clientCommand(name: string, argv: string[], help: string): Promise<void> {
  const spec = runners[name]!;
  const { values, positionals } = parse(argv, { ...spec.options, ...CLIENT_OPTIONS });
  if (values.help) return void console.log(help);
  if (positionals.length < spec.min) throw new UsageError(`${name} needs ${spec.min === 1 ? 'a path' : `${spec.min} paths`} (govfs ${name} --help)`);
  if (spec.max !== undefined && positionals.length > spec.max) throw new UsageError(`${name} takes ${spec.max === 0 ? 'no paths' : `${spec.max} paths`} (govfs ${name} --help)`);
  const client = await openClient(values as { server?: string[] });
  try {
    process.exitCode = await spec.run(client, positionals, values as Record<string, unknown>, stdio, undefined);
  } finally {
    await client.close();
  }
}
