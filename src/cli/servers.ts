// `govfs cluster` and `govfs node`: the long-running server commands. Loaded only by them
// (it brings in the cluster, lmdb, the bridge and worker threads).

import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { LocalCluster } from '../cluster-main.js';
import type { BridgeTlsOptions } from '../net/tls-config.js';
import { connect } from '../client/connect.js';
import { NodeProcess, parsePeers, readSecretFile } from '../node-main.js';
import { parseListen } from '../node-host.js';
import { readToken } from './client-commands.js';
import { DEFAULT_SERVER, UsageError, intOption, parse, untilSignal } from './usage.js';
import { OpsServer } from '../ops/http.js';
import { checkLogFile, createLogger, logSettingsProblem, type LogSettings } from '../runtime/log.js';
import { clusterSource, nodeSource, type OpsSource } from '../ops/source.js';

const OPS_OPTIONS = { metrics: { type: 'string' }, http: { type: 'string' } } as const;

/** --metrics and --http: start the operator's endpoints (null when neither is given). */
async function startOps(values: { metrics?: string; http?: string }, source: () => OpsSource): Promise<OpsServer | null> {
  if (values.metrics === undefined && values.http === undefined) return null;
  const metrics = values.metrics === undefined ? undefined : hostPortOption(values.metrics, 'metrics');
  const http = values.http === undefined ? undefined : hostPortOption(values.http, 'http');
  const ops = await OpsServer.start(source(), { metrics, http });
  if (ops.addresses.metrics) console.log(`metrics at http://${ops.addresses.metrics}/metrics`);
  if (ops.addresses.http) console.log(`web view at http://${ops.addresses.http}/`);
  return ops;
}

/** Check --metrics/--http before anything starts, so a typo costs no cluster start. */
function checkOpsOptions(values: { metrics?: string; http?: string }): void {
  if (values.metrics !== undefined) hostPortOption(values.metrics, 'metrics');
  if (values.http !== undefined) hostPortOption(values.http, 'http');
}

function hostPortOption(v: string, name: string): { host: string; port: number } {
  try {
    return parseListen(v);
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

const LOG_OPTIONS = { log: { type: 'string' }, 'log-file': { type: 'string' } } as const;

/** --log LEVEL and --log-file F (default GOVFS_LOG, GOVFS_LOG_FILE; level warn), checked. */
function logSettings(values: { log?: string; 'log-file'?: string }): LogSettings {
  const s: LogSettings = { level: values.log || process.env.GOVFS_LOG || 'warn', file: values['log-file'] ?? (process.env.GOVFS_LOG_FILE || undefined) };
  const problem = logSettingsProblem(s);
  if (problem) throw new UsageError(problem);
  if (s.file) {
    s.file = resolve(s.file);
    try {
      checkLogFile(s.file);
    } catch (e) {
      throw new Error(`--log-file ${s.file}: ${(e as Error).message}`);
    }
  }
  return s;
}

function logger(s: LogSettings, base: Record<string, unknown>, node?: string): Logger {
  return createLogger(s, base, node);
}

/**
 * Refuse an address in use before anything touches the data folder (which the lock would
 * otherwise create and leave behind). The real listener binds moments later; losing that race
 * still fails cleanly, only with the folder made.
 */
async function checkAddressFree(listen: { host: string; port: number }): Promise<void> {
  if (listen.port === 0) return;
  await new Promise<void>((resolveFree, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(listen.port, listen.host, () => probe.close(() => resolveFree()));
  });
}

// ---- cluster and node ---------------------------------------------------------------------

/** A port in use gets a hint on what to do. */
const TLS_SERVER_OPTIONS = { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' } } as const;

/** --tls-cert/--tls-key[/--tls-ca]: TLS for node links and clients (the certificate's own file
 * serves as the CA when --tls-ca is left out, as for a self-signed certificate). */
function serverTls(values: { 'tls-cert'?: string; 'tls-key'?: string; 'tls-ca'?: string }): BridgeTlsOptions | undefined {
  const { 'tls-cert': certFile, 'tls-key': keyFile, 'tls-ca': caFile } = values;
  if (!certFile && !keyFile && !caFile) return undefined;
  if (!certFile || !keyFile) throw new UsageError('TLS needs both --tls-cert and --tls-key');
  return { certFile, keyFile, caFile: caFile ?? certFile };
}

function addressHint<T>(p: Promise<T>): Promise<T> {
  return p.catch((e: unknown) => {
    const err = e as Error & { code?: string };
    if (err.code === 'EADDRINUSE') throw new Error(`${err.message} (is another govfs cluster or node running there? choose another port with --listen host:port)`);
    throw e;
  });
}

export async function clusterCommand(argv: string[], help: string): Promise<void> {
  const { values } = parse(argv, {
    nodes: { type: 'string' }, threads: { type: 'string' }, data: { type: 'string' }, ministry: { type: 'string', multiple: true },
    listen: { type: 'string' }, 'token-file': { type: 'string' }, ...LOG_OPTIONS, ...TLS_SERVER_OPTIONS, ...OPS_OPTIONS,
  }, false);
  if (values.help) return void console.log(help);
  checkOpsOptions(values);
  const dataDir = resolve(values.data ?? 'govfs-data');
  const listen = hostPortOption(values.listen ?? process.env.GOVFS_LISTEN ?? DEFAULT_SERVER, 'listen');
  const logs = logSettings(values);
  const log = logger(logs, { thread: 'main' });
  const token = await readToken(values['token-file']);
  await addressHint(checkAddressFree(listen));
  const cluster = await addressHint(LocalCluster.start({
    nodes: intOption(values.nodes, 'nodes'),
    threads: intOption(values.threads, 'threads'),
    dataDir,
    ministries: ministryOptions(values.ministry),
    listen,
    clientToken: token,
    tls: serverTls(values),
    logger: log,
    log: logs,
  }));
  let ops: OpsServer | null = null;
  const stopped = untilSignal(async () => {
    await ops?.stop();
    await cluster.stop();
  }, 'the cluster');
  try {
    ops = await startOps(values, () => clusterSource(cluster.cluster));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  const server = cluster.address;
  const ministries = cluster.shape.ministries.map((m) => `${m.subtree}:${m.clerks}`).join(' ');
  console.log(`govfs cluster: ${cluster.nodeIds.length} nodes on ${cluster.threads} worker threads, data in ${dataDir}${ministries ? `, ministries ${ministries}` : ''}`);
  console.log(`clients connect to ${server}${server === DEFAULT_SERVER ? '' : `   (govfs ls / --server ${server}, or GOVFS_SERVER=${server})`}`);
  console.log('Ctrl-C stops it.');
  // Say when the cluster serves.
  void (async () => {
    // A self-signed certificate is its own CA.
    const caFile = values['tls-ca'] ?? values['tls-cert'];
    const client = await connect([server], { token, tls: values['tls-cert'] ? { caFile } : undefined }).catch(() => null);
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

export async function nodeCommand(argv: string[], help: string): Promise<void> {
  const { values } = parse(argv, {
    id: { type: 'string' }, peers: { type: 'string' }, listen: { type: 'string' }, data: { type: 'string' },
    'secret-file': { type: 'string' }, 'token-file': { type: 'string' }, ministry: { type: 'string', multiple: true }, ...LOG_OPTIONS,
    ...TLS_SERVER_OPTIONS, ...OPS_OPTIONS,
  }, false);
  if (values.help) return void console.log(help);
  checkOpsOptions(values);
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
  const logs = logSettings(values);
  const dataDir = resolve(values.data ?? join('govfs-data', id)); // NodeProcess creates it
  const secret = readSecretFile(values['secret-file']);
  const clientToken = await readToken(values['token-file']);
  await addressHint(checkAddressFree(listen));
  const node = await addressHint(NodeProcess.start({
    id, listen, peers, dataDir, secret, clientToken, ministries: ministryOptions(values.ministry), tls: serverTls(values), logger: logger(logs, {}, id),
  }));
  const others = node.nodeIds.filter((n) => n !== id);
  console.log(`govfs node ${id}: listening on ${node.address} for nodes and clients; peers ${others.map((n) => `${n}=${peers[n]}`).join(', ') || '(none)'}; data in ${dataDir}`);
  let ops: OpsServer | null = null;
  const stopped = untilSignal(async () => {
    await ops?.stop();
    await node.stop();
  }, `node ${id}`);
  try {
    ops = await startOps(values, () => nodeSource(node));
  } catch (e) {
    await node.stop();
    throw e;
  }
  await stopped;
}

