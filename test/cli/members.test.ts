// Membership with `govfs node` processes (issue 20): three nodes form a cluster; a fourth,
// started with --join, is added with `govfs node add` and joins the cluster log and the idle
// pool (then the root ministry, which runs short of clerks); the root ministry's minister is
// removed with `govfs node remove`: its role is handed over, nothing acknowledged is lost, and
// the other nodes refuse the removed node's links with a clear reason.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type RemoteGovClient } from '../../src/client/connect.js';
import { GovfsProcess, govfs, nodePlan, until } from './helpers.js';

const FIRST = ['n1', 'n2', 'n3'];
let dir: string;
let secretFile: string;
let addr: Record<string, string>;
const procs = new Map<string, GovfsProcess>();
let fs: RemoteGovClient;

function startNode(id: string, peers: string, join_ = false): GovfsProcess {
  const p = new GovfsProcess(['node', '--id', id, '--peers', peers, '--data', join(dir, id), '--secret-file', secretFile, '--log', 'info', ...(join_ ? ['--join'] : [])]);
  procs.set(id, p);
  return p;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'govfs-members-'));
  ({ secretFile, addr } = await nodePlan([...FIRST, 'n4'], dir, 'a secret shared by the membership test nodes'));
  const peers = FIRST.map((id) => `${id}=${addr[id]}`).join(',');
  for (const id of FIRST) startNode(id, peers);
  await Promise.all([...procs.values()].map((p) => p.waitFor(/listening on 127\.0\.0\.1:\d+/)));
  fs = await connect(FIRST.map((id) => addr[id]!), { deadlineMs: 45_000 });
  await until(async () => {
    const st = await fs.status();
    const root = st.ministries.find((m) => m.subtree === '/');
    return st.president && root && !root.down;
  }, 'the cluster forms', 45_000);
}, 90_000);

afterAll(async () => {
  await fs?.close().catch(() => {});
  await Promise.all([...procs.values()].map((p) => p.stop('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

describe('govfs node add and remove', () => {
  const acked: string[] = [];

  it('a fourth process joins as a learner, then serves in the idle pool or a ministry', async () => {
    for (let i = 0; i < 5; i++) {
      await fs.create(`/before${i}`);
      acked.push(`before${i}`);
    }
    startNode('n4', [...FIRST, 'n4'].map((id) => `${id}=${addr[id]}`).join(','), true);
    await procs.get('n4')!.waitFor(/listening on/);
    const r = await govfs(['node', 'add', `n4=${addr.n4}`, '--server', addr.n2!], {}, 90_000);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/n4 is a (learner|voter) of the cluster log/);
    // Four members want three voters: n4 stays a learner, and the root ministry (short of a
    // clerk with three nodes) takes it.
    const st = await until(async () => {
      const s = await fs.status();
      const root = s.ministries.find((m) => m.subtree === '/');
      return root && [root.minister, ...root.clerks].includes('n4') ? s : null;
    }, 'n4 serves in the root ministry', 60_000);
    expect(st.learners).toEqual(['n4']);
    expect(st.voters).toEqual(FIRST);
    const text = await govfs(['status', '--server', addr.n4!]);
    expect(text.stdout).toMatch(/members: voters n1, n2, n3; learners n4/);
  }, 150_000);

  it('removing the minister hands its role over; nothing acknowledged is lost; the others refuse it', async () => {
    const before = await fs.status();
    const minister = before.ministries.find((m) => m.subtree === '/')!.minister;
    const others = [...FIRST, 'n4'].filter((id) => id !== minister);
    const r = await govfs(['node', 'remove', minister, '--server', addr[others[0]!]!], {}, 90_000);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toContain(`${minister} is out of the cluster`);
    const client = await connect(others.map((id) => addr[id]!), { deadlineMs: 45_000 });
    try {
      await client.create('/after');
      const names = (await client.ls('/', { linearizable: true })).map((e) => e.name);
      for (const f of [...acked, 'after']) expect(names).toContain(f);
      const st = await client.status();
      expect(st.members).toEqual(others);
      expect(st.ministries.every((m) => m.minister !== minister && !m.clerks.includes(minister))).toBe(true);
    } finally {
      await client.close();
    }
    // The removed node's links are closed and refused from then on, saying why.
    await until(async () => [...procs.values()].some((p) => p.stderr.includes(`node ${minister} was removed from the cluster`)), 'a refusal naming the removal', 30_000);
    // A second remove is refused with a typed error.
    const again = await govfs(['node', 'remove', minister, '--server', addr[others[0]!]!, '--wait', '0']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/removed already \[ENOENT\]/);
  }, 150_000);
});
