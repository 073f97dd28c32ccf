// Where the nemesis's nodes listen, and how it cuts the network between them.
//
// loopback: every node on 127.0.0.1 with a port of its own. No network faults: cutting some
//   loopback connections and not others needs a packet filter by port (iptables or nft), and
//   neither is installed on this project's machines; tc on `lo` would hit every node at once.
// netns (root with `ip netns`): each node in a network namespace of its own, joined by a veth
//   pair to a bridge where the host (the clients) has 10.78.0.254; node i is 10.78.0.i:7400.
//   A partition moves the minority's veths to a second bridge, which the host is not on: the
//   minority talks among itself and to nobody else (majority/minority, or one node alone). Real
//   sockets see a real cut (no RST, packets just stop), which is what a failed switch does.
//   netem (delay, loss, reordering, duplication) and one-way cuts need the kernel's sch_netem
//   and prio/u32 (or a packet filter); `probeNetem` says whether this kernel has them.
//
// The network namespaces are why the nemesis takes this route rather than filtering loopback
// ports: `ip` is here, the filters are not, and per-node namespaces also give per-node links
// for netem where the kernel has it.

import { execFileSync } from 'node:child_process';
import net from 'node:net';

export interface Network {
  readonly kind: 'loopback' | 'netns';
  /** host:port clients and peers use for node `id`. */
  address(id: string): string;
  /** What `--listen` the node gets. */
  listen(id: string): string;
  /** Argv prefix that runs a command in the node's network (e.g. `ip netns exec NS`). */
  wrap(id: string): string[];
  /** Why partitions cannot run here, or null. */
  readonly partitionSkip: string | null;
  /** Why netem cannot run here, or null. */
  readonly netemSkip: string | null;
  /** Cut the nodes of `minority` off from the others (and from the clients). */
  partition(minority: readonly string[]): void;
  /** netem on one node's link (e.g. 'delay 100ms 50ms loss 5% duplicate 2% reorder 10%'). */
  netem(id: string, spec: string): void;
  heal(): void;
  teardown(): void;
}

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function tryRun(cmd: string, args: string[]): string | null {
  try {
    sh(cmd, args);
    return null;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return (err.stderr?.toString().trim() || err.message).split('\n')[0] ?? 'failed';
  }
}

/** Free TCP ports on loopback (bound then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function loopbackNetwork(ids: readonly string[]): Promise<Network> {
  const ports = await freePorts(ids.length);
  const addr = new Map(ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`] as const));
  const why = 'loopback network: cutting some connections needs iptables or nft (not installed) or root with ip netns (use --net netns)';
  return {
    kind: 'loopback',
    address: (id) => addr.get(id)!,
    listen: (id) => addr.get(id)!,
    wrap: () => [],
    partitionSkip: why,
    netemSkip: why,
    partition: () => {
      throw new Error(why);
    },
    netem: () => {
      throw new Error(why);
    },
    heal: () => {},
    teardown: () => {},
  };
}

/** Why network namespaces cannot be used here, or null. */
export function netnsSkip(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `gvnem-probe${process.pid % 10000}`;
  const err = tryRun('ip', ['netns', 'add', probe]);
  if (err) return `ip netns add failed here (${err})`;
  tryRun('ip', ['netns', 'del', probe]);
  const br = `gvnemp${process.pid % 10000}`;
  const brErr = tryRun('ip', ['link', 'add', br, 'type', 'bridge']);
  if (brErr) return `no bridge devices here (${brErr})`;
  tryRun('ip', ['link', 'del', br]);
  return null;
}

/** Does this kernel have sch_netem (null) or why not. */
function probeNetem(): string | null {
  const a = `gvnemq${process.pid % 10000}`;
  const err = tryRun('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', `${a}b`]);
  if (err) return `cannot make a veth pair to probe netem (${err})`;
  const q = tryRun('tc', ['qdisc', 'add', 'dev', a, 'root', 'netem', 'delay', '1ms']);
  tryRun('ip', ['link', 'del', a]);
  return q ? `this kernel has no netem qdisc (tc: ${q}); nor prio/u32 filters or iptables/nft for one-way cuts` : null;
}

const NET = '10.78.0';
const PORT = 7400;

export function netnsNetwork(ids: readonly string[]): Network {
  const tag = String(process.pid % 1000);
  const br = `gvnem${tag}a`;
  const cutBr = `gvnem${tag}b`;
  const ns = (id: string): string => `gvnem${tag}-${id}`;
  const veth = (id: string): string => `gvn${tag}${id}`;
  const ip = (id: string): string => `${NET}.${ids.indexOf(id) + 1}`;
  const made: Array<() => void> = [];
  const teardown = (): void => {
    for (const undo of made.splice(0).reverse()) undo();
  };
  try {
    sh('ip', ['link', 'add', br, 'type', 'bridge']);
    made.push(() => tryRun('ip', ['link', 'del', br]));
    sh('ip', ['addr', 'add', `${NET}.254/24`, 'dev', br]);
    sh('ip', ['link', 'set', br, 'up']);
    sh('ip', ['link', 'add', cutBr, 'type', 'bridge']);
    made.push(() => tryRun('ip', ['link', 'del', cutBr]));
    sh('ip', ['link', 'set', cutBr, 'up']);
    for (const id of ids) {
      sh('ip', ['netns', 'add', ns(id)]);
      made.push(() => tryRun('ip', ['netns', 'del', ns(id)]));
      sh('ip', ['link', 'add', veth(id), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(id)]);
      made.push(() => tryRun('ip', ['link', 'del', veth(id)]));
      sh('ip', ['link', 'set', veth(id), 'master', br, 'up']);
      sh('ip', ['-n', ns(id), 'addr', 'add', `${ip(id)}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns(id), 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', ns(id), 'link', 'set', 'lo', 'up']);
    }
  } catch (e) {
    teardown();
    throw e;
  }
  const netemSkip = probeNetem();
  const withNetem = new Set<string>();
  return {
    kind: 'netns',
    address: (id) => `${ip(id)}:${PORT}`,
    listen: (id) => `${ip(id)}:${PORT}`,
    wrap: (id) => ['ip', 'netns', 'exec', ns(id)],
    partitionSkip: null,
    netemSkip,
    partition(minority) {
      for (const id of minority) sh('ip', ['link', 'set', veth(id), 'master', cutBr]);
    },
    netem(id, spec) {
      if (netemSkip) throw new Error(netemSkip);
      sh('tc', ['qdisc', 'replace', 'dev', veth(id), 'root', 'netem', ...spec.split(' ')]);
      withNetem.add(id);
    },
    heal() {
      for (const id of ids) tryRun('ip', ['link', 'set', veth(id), 'master', br]);
      for (const id of withNetem) tryRun('tc', ['qdisc', 'del', 'dev', veth(id), 'root']);
      withNetem.clear();
    },
    teardown,
  };
}
