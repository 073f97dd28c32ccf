// `govfs backup`, `govfs restore` and `govfs init`: what an operator runs beside the cluster.
// backup is a client (src/ops/backup.ts); restore starts a cluster in this process to fill a
// new data folder (src/ops/restore.ts); init writes the files a cluster of `govfs node`
// processes on several hosts needs (docs/deploy/ uses them).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CLIENT_OPTIONS, openClient } from './client-commands.js';
import { UsageError, intOption, parse, stdio, type Out } from './usage.js';

export async function backupCommand(argv: string[], help: string, out: Out = stdio): Promise<void> {
  const { values, positionals } = parse(argv, { ...CLIENT_OPTIONS, quiet: { type: 'boolean', short: 'q' } });
  if (values.help) return out.log(help);
  if (positionals.length !== 1) throw new UsageError('govfs backup wants one FILE to write (e.g. govfs backup govfs-2026-12-05.backup)');
  const file = resolve(positionals[0]!);
  const { takeBackup, encodeBackup } = await import('../ops/backup.js');
  const { formatBytes } = await import('../ops/backup-contents.js');
  const client = await openClient(values);
  try {
    const contents = everySecond<string>((subtree, done, total) => process.stderr.write(`copying ${subtree}: contents ${formatBytes(done)} / ${formatBytes(total)}\n`));
    const doc = await takeBackup(client, {
      onProgress: values.quiet ? undefined : (subtree, paths) => process.stderr.write(`copied ${subtree}: ${paths} paths\n`),
      onContents: values.quiet ? undefined : contents,
      onRetry: values.quiet ? undefined : (subtree, changed, attempt) => process.stderr.write(`copying ${subtree} again (try ${attempt}): ${changed.length} path${changed.length === 1 ? '' : 's'} changed meanwhile, e.g. ${changed[0]}\n`),
    });
    // Written beside, then renamed: a backup file that exists is a complete one.
    const tmp = `${file}.partial`;
    writeFileSync(tmp, encodeBackup(doc), { mode: 0o600 });
    renameSync(tmp, file);
    const paths = doc.ministries.reduce((n, m) => n + m.entries.length, 0);
    const files = doc.ministries.reduce((n, m) => n + m.entries.filter((e) => e.contentAt !== undefined).length, 0);
    out.log(`backup ${file}: ${paths} paths in ${doc.ministries.length} ministr${doc.ministries.length === 1 ? 'y' : 'ies'}, contents of ${files} file${files === 1 ? '' : 's'} (${formatBytes(doc.contentBytes ?? 0)}) (format ${doc.version}, cluster term ${doc.cluster.clusterTerm}, ${doc.cluster.nodes.length} nodes)`);
    for (const m of doc.ministries) out.log(`  ${m.subtree}  ministry ${m.id} as of its applied index ${m.index}: ${m.entries.length} paths`);
  } finally {
    await client.close();
  }
}

export async function restoreCommand(argv: string[], help: string, out: Out = stdio): Promise<void> {
  const { values, positionals } = parse(argv, { data: { type: 'string' }, threads: { type: 'string' } });
  if (values.help) return out.log(help);
  if (positionals.length !== 1) throw new UsageError('govfs restore wants one backup FILE (govfs restore FILE --data DIR)');
  if (!values.data) throw new UsageError('--data DIR is required: the new (empty) folder of the restored cluster');
  const { restoreBackup } = await import('../ops/restore.js');
  const { formatBytes } = await import('../ops/backup-contents.js');
  const s = await restoreBackup(resolve(positionals[0]!), values.data, {
    threads: intOption(values.threads, 'threads'),
    onProgress: (done, total) => {
      if (done === total || done % 500 === 0) process.stderr.write(`restored ${done}/${total} paths\n`);
    },
    onContents: everySecond<undefined>((_, done, total) => process.stderr.write(`restored contents ${formatBytes(done)} / ${formatBytes(total)}\n`)).bind(null, undefined),
  });
  out.log(`restored ${s.paths} paths into ${s.dataDir} (${s.nodes} nodes; ministries ${s.ministries.map((m) => `${m.subtree}:${m.clerks}`).join(' ')})`);
  out.log(`contents of ${s.files} file${s.files === 1 ? '' : 's'} written back (${formatBytes(s.bytes)})`);
  out.log('kept: file contents, modes, owners, atime and mtime, symlinks, hard links; ctime, inode numbers and versions are new (the restore\'s); start it with:');
  out.log(`  govfs cluster --data ${s.dataDir}`);
}

/** A progress callback that prints at most a line a second per `key`, and its last one
 * (done === total) once. */
function everySecond<K>(print: (key: K, done: number, total: number) => void): (key: K, done: number, total: number) => void {
  const shown = new Map<K, { at: number; done: number }>();
  return (key, done, total) => {
    const last = shown.get(key);
    if (last && (done === total ? last.done === done : Date.now() - last.at < 1_000)) return;
    shown.set(key, { at: Date.now(), done });
    print(key, done, total);
  };
}

/** `host` or `host:port` → 'host:port' (IPv6 in brackets). */
function nodeAddress(spec: string, port: number): string {
  const s = spec.trim();
  if (/^\[.*\]:\d+$/.test(s) || (/^[^:]+:\d+$/.test(s))) return s;
  if (s.includes(':') && !s.startsWith('[')) return `[${s}]:${port}`; // a bare IPv6 address
  return `${s}:${port}`;
}

export async function initCommand(argv: string[], help: string, out: Out = stdio): Promise<void> {
  const { values } = parse(argv, {
    nodes: { type: 'string' }, out: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' },
    'listen-host': { type: 'string' }, force: { type: 'boolean' },
  }, false);
  if (values.help) return out.log(help);
  if (!values.nodes) throw new UsageError('--nodes host1,host2,... is required (one entry per node; host or host:port)');
  const port = intOption(values.port, 'port') ?? 7401;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const hosts = values.nodes.split(',').map((h) => h.trim()).filter(Boolean);
  if (hosts.length === 0) throw new UsageError('--nodes lists no host');
  const { parseHostPort } = await import('../net/bridge.js');
  const addresses = hosts.map((h) => nodeAddress(h, port));
  for (const a of addresses) {
    try {
      parseHostPort(a);
    } catch {
      throw new UsageError(`--nodes: "${a}" is not host or host:port`);
    }
  }
  const dup = addresses.find((a, i) => addresses.indexOf(a) !== i);
  if (dup) throw new UsageError(`--nodes: ${dup} is given twice`);
  const dir = resolve(values.out ?? 'govfs-deploy');
  const dataDir = values.data ?? '/var/lib/govfs';
  const listenHost = values['listen-host'] ?? '0.0.0.0';
  const ids = addresses.map((_, i) => `n${i + 1}`);
  const peers = ids.map((id, i) => `${id}=${addresses[i]}`).join(',');
  const files = ['secret', ...ids.map((id) => `${id}.env`)];
  const clash = files.filter((f) => existsSync(join(dir, f)));
  if (clash.length > 0 && !values.force) {
    throw new Error(`${dir} already holds ${clash.join(', ')}: a new secret would lock the running nodes out; use another --out folder, or --force to replace them`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'secret'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const argsOf = ids.map((id, i) => {
    const { port: p } = parseHostPort(addresses[i]!);
    return `--id ${id} --peers ${peers} --listen ${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${p} --data ${dataDir} --secret-file /etc/govfs/secret --log info`;
  });
  for (const [i, id] of ids.entries()) {
    const args = argsOf[i]!;
    const env = [
      `# govfs node ${id} on ${hosts[i]}: copy to /etc/govfs/node.env there, beside the secret (/etc/govfs/secret).`,
      '# Read by the systemd unit and the container image of docs/deploy/.',
      `GOVFS_NODE_ID=${id}`,
      `GOVFS_PEERS=${peers}`,
      `GOVFS_NODE_ARGS=${args}`,
      '',
    ].join('\n');
    writeFileSync(join(dir, `${id}.env`), env, { mode: 0o644 });
  }
  out.log(`wrote ${dir}/secret (keep it private: it admits nodes to the cluster) and ${ids.map((id) => `${id}.env`).join(', ')}`);
  out.log(`peers: ${peers}`);
  for (const [i, id] of ids.entries()) out.log(`  ${id} on ${hosts[i]}: govfs node ${argsOf[i]}`);
  if (ids.length < 5) out.log(`note: ${ids.length} nodes: the root ministry (a minister and two clerks) and the president survive the loss of any one node only with 5 or more`);
}
