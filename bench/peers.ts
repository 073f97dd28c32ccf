// `npm run bench -- peers [--seconds S] [--quick] [--only zookeeper,etcd,govfs,echo] [--json]`
// (issue 19, item 1): govfs beside the systems users compare it with, over TCP on loopback,
// through each one's usual Node client, one system at a time on the same machine:
//   - ZooKeeper: a 3-server ensemble (Debian's `zookeeper`, 3.8; forceSync on, its default),
//     driven by node-zookeeper-client; a directory is a znode, a file a child znode;
//   - etcd: a 3-member cluster (Debian's `etcd-server`, 3.4; fsync on, its default), driven by
//     etcd3; a file is a key under its directory's prefix, a listing a prefix range (keys only);
//   - govfs: one `govfs cluster` (5 nodes, root ministry of 3, lmdb with fsync), driven by
//     connect() — what a remote program or the command line sees.
// Workloads, each for S seconds (default 6; --quick 2): creates by 9 clients with 1 and with
// 32 in flight each; 30 clients listing a 10-entry directory; a lone client's create and list
// latency. A peer that is not installed is skipped with the command that installs it.
//   - echo (last): not a file system but the floor under all of them, a bare Node TCP echo
//     server driven by the same loop (bench/echo-server.mjs): the most any Node server and
//     client can do here, so a gap to it is the system's own cost.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect } from '../src/client/connect.js';
import { Proc, freePorts } from './processes.js';

export const describe = 'ZooKeeper, etcd and govfs side by side over TCP (creates, lists; each through its usual Node client)';

/** One client of one system: the operations the workloads need. */
interface Driver {
  mkdir(path: string): Promise<void>;
  create(path: string): Promise<void>;
  list(path: string): Promise<number>;
  /** A listing that sees every change made before it (a govfs plain read may be served by a
   * member that has not applied the setup's creates yet: README "Reads may be stale"). */
  listLatest(path: string): Promise<number>;
  close(): Promise<void>;
}

interface Running {
  describe: string;
  client(): Promise<Driver>;
  stop(): Promise<void>;
}

interface Peer {
  name: string;
  /** Why it cannot run here (and how to install it), or null. */
  missing(): string | null;
  start(dir: string): Promise<Running>;
}

export interface Measured {
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface PeerResult {
  system: string;
  describe: string;
  skipped?: string;
  create1?: Measured;
  create32?: Measured;
  list30?: Measured;
  loneCreateP50Ms?: number;
  loneListP50Ms?: number;
}

export interface PeersResult {
  seconds: number;
  systems: PeerResult[];
}

const ZK_CLASSPATH = '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar';

const zookeeperPeer: Peer = {
  name: 'zookeeper',
  missing: () =>
    existsSync('/usr/share/java/zookeeper.jar') && which('java') ? null : 'not installed (apt-get install zookeeper)',
  async start(dir) {
    const ports = await freePorts(9);
    const servers = [1, 2, 3].map((i) => `server.${i}=127.0.0.1:${ports[3 + i - 1]}:${ports[6 + i - 1]}`);
    const procs: Proc[] = [];
    for (const i of [1, 2, 3]) {
      const data = join(dir, `zk${i}`);
      mkdirSync(data, { recursive: true });
      writeFileSync(join(data, 'myid'), `${i}\n`);
      const cfg = join(data, 'zoo.cfg');
      writeFileSync(cfg, [`tickTime=2000`, `initLimit=10`, `syncLimit=5`, `dataDir=${data}`, `clientPort=${ports[i - 1]}`, `clientPortAddress=127.0.0.1`, `admin.enableServer=false`, `maxClientCnxns=0`, ...servers, ''].join('\n'));
      procs.push(new Proc('java', ['-Xmx512m', '-cp', ZK_CLASSPATH, `-Dzookeeper.log.dir=${data}`, '-Dzookeeper.root.logger=WARN,CONSOLE', 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg]));
    }
    const conn = ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',');
    const { default: zookeeper } = await import('node-zookeeper-client');
    const client = async (): Promise<Driver> => {
      const c = zookeeper.createClient(conn, { sessionTimeout: 15_000, retries: 5 });
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`ZooKeeper at ${conn}: no session within 60 s`)), 60_000);
        c.once('connected', () => {
          clearTimeout(t);
          resolve();
        });
        c.connect();
      });
      const call = <T>(f: (cb: (e: Error | null, v: T) => void) => void): Promise<T> =>
        new Promise((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v))));
      return {
        mkdir: async (p) => void (await call<string>((cb) => c.mkdirp(p, cb))),
        create: async (p) => void (await call<string>((cb) => c.create(p, cb))),
        list: async (p) => (await call<string[]>((cb) => c.getChildren(p, cb))).length,
        listLatest: async (p) => (await call<string[]>((cb) => c.getChildren(p, cb))).length,
        close: async () => c.close(),
      };
    };
    await untilUp(client, 120_000, procs);
    return { describe: 'ZooKeeper 3.8, 3 servers', client, stop: () => stopAll(procs) };
  },
};

const etcdPeer: Peer = {
  name: 'etcd',
  missing: () => (which('etcd') ? null : 'not installed (apt-get install etcd-server)'),
  async start(dir) {
    const ports = await freePorts(6);
    const cluster = [1, 2, 3].map((i) => `m${i}=http://127.0.0.1:${ports[3 + i - 1]}`).join(',');
    const procs = [1, 2, 3].map((i) => {
      const client = `http://127.0.0.1:${ports[i - 1]}`;
      const peer = `http://127.0.0.1:${ports[3 + i - 1]}`;
      return new Proc('etcd', ['--name', `m${i}`, '--data-dir', join(dir, `etcd${i}`), '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--log-level', 'error', '--logger', 'zap']);
    });
    const hosts = ports.slice(0, 3).map((p) => `http://127.0.0.1:${p}`);
    const { Etcd3 } = await import('etcd3');
    const client = async (): Promise<Driver> => {
      const c = new Etcd3({ hosts });
      return {
        mkdir: async () => {}, // a directory is a key prefix
        create: async (p) => void (await c.put(p).value('')),
        list: async (p) => (await c.getAll().prefix(`${p}/`).keys()).length,
        listLatest: async (p) => (await c.getAll().prefix(`${p}/`).keys()).length,
        close: async () => c.close(),
      };
    };
    await untilUp(client, 120_000, procs);
    return { describe: 'etcd 3.4, 3 members', client, stop: () => stopAll(procs) };
  },
};

const govfsPeer: Peer = {
  name: 'govfs',
  missing: () => null,
  async start(dir) {
    const { ensureCli } = (await import(new URL('../scripts/build-cli.mjs', import.meta.url).href)) as { ensureCli: () => Promise<void> };
    await ensureCli();
    const [port] = await freePorts(1);
    const addr = `127.0.0.1:${port}`;
    const proc = Proc.govfs(['cluster', '--data', join(dir, 'govfs'), '--listen', addr]);
    await proc.waitFor(/^ready:/m, 120_000);
    const client = async (): Promise<Driver> => {
      const c = await connect([addr], { deadlineMs: 60_000 });
      return {
        mkdir: (p) => c.mkdir(p, { parents: true }),
        create: (p) => c.create(p),
        list: async (p) => (await c.ls(p)).length,
        listLatest: async (p) => (await c.ls(p, { linearizable: true })).length,
        close: () => c.close(),
      };
    };
    return { describe: 'govfs, one `govfs cluster` (5 nodes, root ministry of 3), clients over TCP', client, stop: () => stopAll([proc]) };
  },
};

/** A request of `bytes` asking for a reply of `replyHundreds` × 100 bytes. */
function echoRequest(bytes: number, replyHundreds: number): Buffer {
  const b = Buffer.alloc(4 + bytes);
  b.writeUInt32BE(bytes, 0);
  b[4] = replyHundreds;
  return b;
}

/** One connection to the echo server: one round trip per operation, replies in order. */
async function echoClient(port: number): Promise<Driver> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const waiting: (() => void)[] = [];
  let held: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let buf: Buffer = held.length > 0 ? Buffer.concat([held, chunk]) : chunk;
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      buf = buf.subarray(4 + len);
      waiting.shift()?.();
    }
    held = buf;
  });
  // Sizes near govfs's own frames: a create's request and reply about 100 B, a listing's reply of
  // 10 entries about 300 B.
  const create = echoRequest(100, 1);
  const list = echoRequest(60, 3);
  const roundTrip = (req: Buffer) => new Promise<void>((resolve) => {
    waiting.push(resolve);
    socket.write(req);
  });
  return {
    mkdir: () => roundTrip(create),
    create: () => roundTrip(create),
    list: async () => {
      await roundTrip(list);
      return 10;
    },
    listLatest: async () => {
      await roundTrip(list);
      return 10;
    },
    close: async () => {
      socket.destroy();
    },
  };
}

/** Not a peer: the floor every system here stands on (see bench/echo-server.mjs). */
const echoPeer: Peer = {
  name: 'echo',
  missing: () => null,
  async start() {
    const [port] = await freePorts(1);
    const proc = new Proc(process.execPath, [fileURLToPath(new URL('./echo-server.mjs', import.meta.url)), String(port)]);
    await proc.waitFor(/^listening/m, 10_000);
    return { describe: 'not a file system: a bare Node TCP echo server (no storage, no work), the same driver; what any Node server and client reach here', client: () => echoClient(port!), stop: () => stopAll([proc]) };
  },
};

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

/** Wait until a client can create and list (the ensemble elected a leader). */
async function untilUp(client: () => Promise<Driver>, ms: number, procs: Proc[]): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    for (const p of procs) if (p.child.exitCode !== null) throw new Error(`${p.child.spawnfile} exited early:\n${p.out.slice(-2000)}`);
    try {
      const c = await client();
      try {
        await c.mkdir('/ready');
        await c.list('/ready');
        return;
      } finally {
        await c.close();
      }
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`did not serve within ${ms} ms: ${String(last)}`);
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** `clients` × `inflight` loops doing `op` for `seconds`; throughput and latency. */
async function closedLoop(clients: Driver[], inflight: number, seconds: number, op: (d: Driver, client: number, n: number) => Promise<unknown>): Promise<Measured> {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let n = 0;
  await Promise.all(clients.flatMap((d, ci) => Array.from({ length: inflight }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await op(d, ci, n++);
      lat.push(performance.now() - s);
    }
  })));
  const took = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { ops: lat.length, opsPerSec: lat.length / took, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99) };
}

async function measure(peer: Peer, seconds: number, log: (s: string) => void): Promise<PeerResult> {
  const why = peer.missing();
  if (why) return { system: peer.name, describe: peer.name, skipped: why };
  const dir = mkdtempSync(join(tmpdir(), `govfs-peers-${peer.name}-`));
  let running: Running | null = null;
  const clients: Driver[] = [];
  try {
    log(`${peer.name}: starting`);
    running = await peer.start(dir);
    const r = running;
    for (let i = 0; i < 30; i++) clients.push(await r.client());
    const nine = clients.slice(0, 9);
    for (let i = 0; i < 9; i++) await nine[i]!.mkdir(`/bench/a/c${i}`);
    for (let i = 0; i < 9; i++) await nine[i]!.mkdir(`/bench/b/c${i}`);
    log(`${peer.name}: create, 9 clients × 1 in flight`);
    const create1 = await closedLoop(nine, 1, seconds, (d, c, n) => d.create(`/bench/a/c${c}/f${n}`));
    log(`${peer.name}: create, 9 clients × 32 in flight`);
    const create32 = await closedLoop(nine, 32, seconds, (d, c, n) => d.create(`/bench/b/c${c}/f${n}`));
    await clients[0]!.mkdir('/bench/small');
    for (let i = 0; i < 10; i++) await clients[0]!.create(`/bench/small/f${i}`);
    // Each client's first listing sees the setup's creates (then its own reads never go back).
    await Promise.all(clients.map((c) => c.listLatest('/bench/small')));
    log(`${peer.name}: list a 10-entry directory, 30 clients`);
    const list30 = await closedLoop(clients, 1, seconds, async (d) => {
      if ((await d.list('/bench/small')) !== 10) throw new Error(`${peer.name}: listed a 10-entry directory and did not get 10 entries`);
    });
    log(`${peer.name}: a lone client`);
    const lone = clients[0]!;
    await lone.mkdir('/bench/lone');
    const loneCreate = await closedLoop([lone], 1, Math.max(1, seconds / 3), (d, _c, n) => d.create(`/bench/lone/f${n}`));
    const loneList = await closedLoop([lone], 1, Math.max(1, seconds / 3), (d) => d.list('/bench/small'));
    return { system: peer.name, describe: r.describe, create1, create32, list30, loneCreateP50Ms: loneCreate.p50Ms, loneListP50Ms: loneList.p50Ms };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const PEERS = [zookeeperPeer, etcdPeer, govfsPeer, echoPeer];

export async function run(opts: Record<string, string | boolean | undefined>): Promise<PeersResult> {
  const seconds = Number(opts.seconds ?? (opts.quick ? 2 : 6));
  const only = typeof opts.only === 'string' ? new Set(opts.only.split(',')) : null;
  const systems: PeerResult[] = [];
  for (const p of PEERS) {
    if (only && !only.has(p.name)) continue;
    systems.push(await measure(p, seconds, (s) => process.stderr.write(`${s}\n`)));
  }
  return { seconds, systems };
}

export function format(r: PeersResult): string {
  const ran = r.systems.filter((s) => !s.skipped);
  const zk = ran.find((s) => s.system === 'zookeeper');
  const cell = (m: Measured | undefined, lat: 'p50' | 'p99') => (m ? `${m.opsPerSec.toFixed(0)}/s, ${lat} ${(lat === 'p50' ? m.p50Ms : m.p99Ms).toFixed(2)} ms` : '-');
  const ratio = (s: PeerResult, pick: (x: PeerResult) => number | undefined) => {
    const a = pick(s);
    const b = zk ? pick(zk) : undefined;
    return a !== undefined && b !== undefined && s !== zk ? ` (${(a / b).toFixed(2)}× ZK)` : '';
  };
  const rows: [string, (s: PeerResult) => string][] = [
    ['create, 9 clients × 1 in flight', (s) => cell(s.create1, 'p50') + ratio(s, (x) => x.create1?.opsPerSec)],
    ['create, 9 clients × 32 in flight', (s) => cell(s.create32, 'p50') + ratio(s, (x) => x.create32?.opsPerSec)],
    ['list a 10-entry directory, 30 clients', (s) => cell(s.list30, 'p99') + ratio(s, (x) => x.list30?.opsPerSec)],
    ['lone client: create p50 / list p50', (s) => `${s.loneCreateP50Ms?.toFixed(2)} ms / ${s.loneListP50Ms?.toFixed(2)} ms`],
  ];
  const lines = [`peers over TCP on loopback, ${r.seconds} s per workload, one system at a time`, ''];
  for (const s of ran) lines.push(`  ${s.system}: ${s.describe}`);
  for (const s of r.systems.filter((x) => x.skipped)) lines.push(`  ${s.system}: skipped, ${s.skipped}`);
  lines.push('', `| workload | ${ran.map((s) => s.system).join(' | ')} |`, `|---|${ran.map(() => '---|').join('')}`);
  for (const [name, f] of rows) lines.push(`| ${name} | ${ran.map(f).join(' | ')} |`);
  const echo = ran.find((s) => s.system === 'echo');
  if (echo) {
    // Each system's throughput as a share of the floor's: what is left for it to gain.
    const share = (s: PeerResult, m: (x: PeerResult) => Measured | undefined) => `${((100 * (m(s)?.opsPerSec ?? NaN)) / (m(echo)?.opsPerSec ?? NaN)).toFixed(0)}%`;
    lines.push('', "throughput as a share of the echo floor's (creates 9 × 1, 9 × 32, lists × 30):");
    for (const s of ran.filter((x) => x !== echo)) lines.push(`  ${s.system}: ${share(s, (x) => x.create1)}, ${share(s, (x) => x.create32)}, ${share(s, (x) => x.list30)}`);
  }
  return lines.join('\n');
}
