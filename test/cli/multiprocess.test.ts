// Five `govfs node` processes on loopback (issue 6, item 5): the cluster forms over TCP, a
// network client works through any node, the root ministry's minister is killed with SIGKILL
// mid-stream, a new minister takes over, nothing acknowledged is lost, and the killed node,
// restarted on its data folder, rejoins.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ClusterStatusView, type RemoteGovClient } from '../../src/client/connect.js';
import { GovfsProcess, govfs, nodePlan, until } from './helpers.js';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];
let dir: string;
let secretFile: string;
let addr: Record<string, string>;
let peers: string;
const procs = new Map<string, GovfsProcess>();
let fs: RemoteGovClient;

function startNode(id: string): GovfsProcess {
  const p = new GovfsProcess(['node', '--id', id, '--peers', peers, '--data', join(dir, id), '--secret-file', secretFile]);
  procs.set(id, p);
  return p;
}

function rootOf(st: ClusterStatusView) {
  return st.ministries.find((m) => m.subtree === '/');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-mp-'));
  ({ secretFile, addr, peers } = await nodePlan(IDS, dir, 'a secret shared by the five test nodes'));
  for (const id of IDS) startNode(id);
  await Promise.all([...procs.values()].map((p) => p.waitFor(/listening on 127\.0\.0\.1:\d+/)));
  fs = await connect(IDS.map((id) => addr[id]!), { deadlineMs: 45_000 });
  // The cluster has formed once the root ministry serves with a president over it.
  await until(async () => {
    const st = await fs.status();
    const root = rootOf(st);
    return st.president && root && !root.down && root.clerks.length === 2;
  }, 'the cluster forms', 45_000);
}, 90_000);

afterAll(async () => {
  await fs?.close().catch(() => {});
  await Promise.all([...procs.values()].map((p) => p.stop('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

describe('five govfs node processes', () => {
  it('serve clients through any node; the CLI works against one', async () => {
    await fs.mkdir('/a');
    const r = await govfs(['touch', '/a/cli', '--server', addr.n5!]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const st = await govfs(['status', '--json', '--server', addr.n3!]);
    expect(st.code).toBe(0);
    expect((JSON.parse(st.stdout) as ClusterStatusView).nodes.filter((n) => n.up)).toHaveLength(5);
  });

  it('hostile input to a node process closes that connection with a logged reason; the node carries on', async () => {
    const [host, port] = [addr.n4!.split(':')[0]!, Number(addr.n4!.split(':')[1])];
    for (const junk of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', Buffer.from([0, 0, 0, 9, 1, 2, 3])]) {
      const s = net.connect({ host, port });
      s.on('error', () => {});
      s.resume(); // read (and discard) what the node answers, so the close is seen
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.end(junk);
      await new Promise<void>((r) => s.once('close', () => r()));
    }
    await until(async () => /bridge connection refused: oversized frame/.test(procs.get('n4')!.stderr), 'n4 logs why it closed the connection', 10_000);
    expect(procs.get('n4')!.running).toBe(true);
    expect((await fs.status()).nodes.filter((n) => n.up)).toHaveLength(5);
  });

  it('SIGKILL of the minister: a new minister, nothing acknowledged lost, the node rejoins after a restart', async () => {
    const acked: string[] = ['cli'];
    for (let i = 0; i < 20; i++) {
      await fs.create(`/a/before${i}`);
      acked.push(`before${i}`);
    }
    const before = await fs.status();
    const victim = rootOf(before)!.minister;
    expect(IDS).toContain(victim);

    // Writes keep going while the minister dies, from a client connected through the minister's
    // own process (so it must fail over to another server too); each one the cluster
    // acknowledges must survive.
    const viaVictim = await connect([addr[victim]!, ...IDS.filter((id) => id !== victim).map((id) => addr[id]!)], { deadlineMs: 45_000 });
    expect(viaVictim.server).toBe(addr[victim]);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 400; i++) {
        await viaVictim.create(`/a/during${i}`);
        acked.push(`during${i}`);
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    procs.get(victim)!.child.kill('SIGKILL');
    await procs.get(victim)!.exit;

    const after = await until(async () => {
      const st = await fs.status();
      const root = rootOf(st);
      return root && !root.down && root.minister !== victim && root.term > rootOf(before)!.term ? st : null;
    }, 'a new minister', 30_000);
    expect(after.nodes.find((n) => n.id === victim)!.up).toBe(false);
    // A few more writes through the new minister, then stop the writer.
    const target = acked.length + 5;
    await until(async () => acked.length >= target, 'writes through the new minister', 30_000);
    writing = false;
    await writer;
    expect(viaVictim.server).not.toBe(addr[victim]);
    await viaVictim.close();

    const names = new Set((await fs.ls('/a', { linearizable: true })).map((e) => e.name));
    const lost = acked.filter((n) => !names.has(n));
    expect(lost).toEqual([]);

    // Restarted on its data folder, the node comes back up and takes a role again.
    const p = startNode(victim);
    await p.waitFor(/listening on/);
    const rejoined = await until(async () => {
      const st = await fs.status();
      const n = st.nodes.find((x) => x.id === victim);
      return n?.up ? st : null;
    }, `${victim} rejoins`, 30_000);
    expect(['clerk', 'idle', 'minister', 'president']).toContain(rejoined.nodes.find((x) => x.id === victim)!.role);
    // And the file system reads the same through the restarted node.
    const through = await govfs(['ls', '/a', '--server', addr[victim]!]);
    expect(through.code).toBe(0);
    expect(new Set(through.stdout.trim().split('\n'))).toEqual(names);
  });

  it('a node whose --peers are too few for its --ministry flags refuses to start, and says how many', async () => {
    const r = await govfs(['node', '--id', 'x1', '--peers', 'x1=127.0.0.1:1,x2=127.0.0.1:2,x3=127.0.0.1:3', '--ministry', '/a:2', '--data', join(dir, 'x1'), '--secret-file', secretFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/3 nodes cannot staff .*: 7 nodes are needed \(this node and its --peers\)/);
  });
});
