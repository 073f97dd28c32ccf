// A client connection speaks for exactly one client (src/net/client-identity.ts, the bridge's
// client role): the node binds the id the client proves in its handshake, refuses (EPERM,
// answered, counted, the connection kept) any request naming another id, refuses a handshake
// without a valid identity, and gives the same id to every connection made with the same
// secret. Then, against a real cluster: a forged request cannot poison another client's
// exactly-once record.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../src/cluster-main.js';
import type { BridgeEvent } from '../../src/net/bridge.js';
import { ClientConnection } from '../../src/client/connection.js';
import { connect } from '../../src/client/connect.js';
import { clientIdentity, clientIdOf } from '../../src/net/client-identity.js';
import type { Behaviour, Context, Message } from '../../src/runtime/types.js';
import { type Node, cleanup, node, rawClient, stopAll, until } from './helpers.js';
import { wireOp } from '../support/fs-ops.js';

afterEach(stopAll);

type Req = { type: string; clientId?: string; seq?: number };

/** A node root that records what reaches it and answers every FsRequest ok. */
function recordingRoot(seen: Req[]): Behaviour {
  return {
    receive(ctx: Context, msg: Message) {
      const m = msg as Req;
      seen.push(m);
      if (m.type === 'govfs.fs.StatusRequest') ctx.reply({ type: 'govfs.fs.ClusterStatus', president: 'n1', clusterTerm: 1, ministries: [], idle: [], nodes: [], shortStaffed: [] });
      else ctx.reply({ type: 'govfs.fs.FsReply', ok: true, result: 'rm', rm: { version: m.seq ?? 0 }, ministry: 'm0' });
    },
  };
}

/** A node that serves clients at its root `<location>#/n`. */
async function server(location: string): Promise<Node & { seen: Req[] }> {
  const n = await node(location, { clients: { allowTarget: (to) => to === `${location}#/n`, welcome: () => ({ nodes: { n: `${location}#/n` } }) } });
  const seen: Req[] = [];
  n.runtime.spawnRoot('n', () => recordingRoot(seen));
  return { ...n, seen };
}

const fsRequest = (clientId: string, seq = 1, op: Record<string, unknown> = { op: 'mkdir', path: '/x' }) => ({
  type: 'govfs.fs.FsRequest',
  clientId,
  seq,
  ...wireOp(op),
  path: '/x',
  lastSeen: 0,
  linearizable: false,
  ticketTo: '',
  mutation: true,
  acked: 0,
});

async function open(addr: string, opts: Parameters<typeof ClientConnection.open>[1] = {}): Promise<ClientConnection> {
  const c = await ClientConnection.open(addr, opts);
  cleanup.push(() => c.close());
  return c;
}

describe('client identity on the bridge', () => {
  it('the node binds the id the client proves, tells it, and serves requests under it', async () => {
    const b = await server('b');
    const identity = clientIdentity();
    const conn = await open(b.addr, { identity });
    expect(identity.clientId).toMatch(/^c-[0-9a-f]{32}$/);
    expect(conn.clientId).toBe(identity.clientId);
    expect(b.bridge.clientInfo().map((i) => i.clientId)).toEqual([identity.clientId]);
    expect(b.events.find((e) => e.type === 'client-up')).toMatchObject({ clientId: identity.clientId });
    await expect(conn.ask('b#/n', fsRequest(identity.clientId), 2000)).resolves.toMatchObject({ ok: true });
    expect(b.seen).toEqual([expect.objectContaining({ clientId: identity.clientId })]);
    expect(b.bridge.stats.forged).toBe(0);
  });

  it("a request under another client's id is answered EPERM, never delivered, counted; the connection carries on", async () => {
    const b = await server('b');
    const victim = await open(b.addr);
    const mallory = await open(b.addr);
    expect(mallory.clientId).not.toBe(victim.clientId);
    const forged: BridgeEvent[] = [];
    b.bridge.on((e) => e.type === 'client-forged' && forged.push(e));

    await expect(mallory.ask('b#/n', fsRequest(victim.clientId), 2000)).rejects.toMatchObject({
      code: 'EPERM',
      message: expect.stringMatching(new RegExp(`names client "${victim.clientId}", but this connection speaks for client ${mallory.clientId}`)),
    });
    // No id, or any made-up one, is refused the same way.
    await expect(mallory.ask('b#/n', fsRequest(''), 2000)).rejects.toMatchObject({ code: 'EPERM' });
    await expect(mallory.ask('b#/n', fsRequest('c-00000000000000000000000000000000'), 2000)).rejects.toMatchObject({ code: 'EPERM' });
    expect(b.seen).toHaveLength(0); // nothing reached the node's actors
    expect(b.bridge.stats.forged).toBe(3);
    expect(forged).toEqual([
      expect.objectContaining({ clientId: mallory.clientId, claimed: victim.clientId, msgType: 'govfs.fs.FsRequest' }),
      expect.objectContaining({ claimed: '' }),
      expect.objectContaining({ claimed: 'c-00000000000000000000000000000000' }),
    ]);
    // Logged as a warning once per connection (then at debug), and not as a hostile connection.
    expect(b.lines.filter((l) => l.level === 40 && /request under another client id refused/.test(l.msg))).toHaveLength(1);
    expect(b.bridge.stats.rejected).toBe(0);

    // Mallory's connection still works for its own requests and for those without an id; the
    // victim's is untouched.
    expect(mallory.closed).toBe(false);
    await expect(mallory.ask('b#/n', fsRequest(mallory.clientId), 2000)).resolves.toMatchObject({ ok: true });
    await expect(mallory.ask('b#/n', { type: 'govfs.fs.StatusRequest' }, 2000)).resolves.toMatchObject({ president: 'n1' });
    await expect(victim.ask('b#/n', fsRequest(victim.clientId), 2000)).resolves.toMatchObject({ ok: true });
    expect(b.seen.map((m) => m.clientId ?? '')).toEqual([mallory.clientId, '', victim.clientId]);
    expect(b.bridge.stats.clientsOpen).toBe(2);
  });

  it('connections made with the same secret share the id, on any node; other secrets get other ids', async () => {
    const a = await server('a');
    const b = await server('b');
    const identity = clientIdentity();
    const first = await open(b.addr, { identity });
    // A reconnect (to another node, the first connection still open) with the secret saved.
    const again = await open(a.addr, { identity: clientIdentity(identity.secret) });
    expect(again.clientId).toBe(first.clientId);
    expect(clientIdOf(identity.publicKey)).toBe(first.clientId);
    await expect(again.ask('a#/n', fsRequest(first.clientId, 2), 2000)).resolves.toMatchObject({ ok: true });
    await expect(first.ask('b#/n', fsRequest(first.clientId, 3), 2000)).resolves.toMatchObject({ ok: true });
    const other = await open(b.addr);
    expect(other.clientId).not.toBe(first.clientId);
    await expect(other.ask('b#/n', fsRequest(first.clientId, 4), 2000)).rejects.toMatchObject({ code: 'EPERM' });
    expect(() => clientIdentity(new Uint8Array(16))).toThrow(/a client secret is 32 bytes/);
  });

  it("a handshake without an identity, with a bad signature, or with another client's key is refused (EAUTH)", async () => {
    const b = await server('b');
    const victim = clientIdentity();
    const mallory = clientIdentity();
    await expect(rawClient(b.addr, { identity: null })).rejects.toThrow('refused');
    await expect(rawClient(b.addr, { badSignature: true })).rejects.toThrow('refused');
    // The victim's public key (it is no secret) with a signature mallory can make: no.
    await expect(rawClient(b.addr, { identity: { ...victim, sign: (d) => mallory.sign(d) } })).rejects.toThrow('refused');
    await until(() => b.events.filter((e) => e.type === 'rejected' && e.code === 'EAUTH').length === 3, 'three refusals');
    const reasons = b.events.flatMap((e) => (e.type === 'rejected' ? [e.reason] : []));
    expect(reasons[0]).toMatch(/no client identity/);
    expect(reasons[1]).toMatch(/signature does not verify/);
    expect(reasons[2]).toMatch(/signature does not verify/);
    expect(b.bridge.stats.clients).toBe(0);
    // And a proper client still gets in.
    const ok = await rawClient(b.addr, { identity: victim });
    expect(ok.clientId).toBe(victim.clientId);
  });
});

describe('client identity against a cluster', () => {
  it("a forged request cannot take another client's exactly-once slot", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-identity-'));
    const cluster = await LocalCluster.start({ nodes: 3, threads: 1, dataDir: dir, listen: { host: '127.0.0.1', port: 0 } });
    cleanup.push(async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const victim = await connect([cluster.address]);
    cleanup.push(() => victim.close());
    await victim.mkdir('/v1'); // the victim's change seq 1
    const root = (await victim.status()).ministries.find((m) => m.subtree === '/')!;
    const mallory = await open(cluster.address);
    const minister = mallory.welcome.nodes![root.minister]!;
    // Mallory's change under the victim's id and next sequence number: had it reached the
    // minister, it would be recorded as the victim's seq 2, and the victim's own seq 2 would
    // then be answered from that record instead of being applied.
    await expect(mallory.ask(minister, { ...fsRequest(victim.clientId, 2, { op: 'mkdir', path: '/evil', parents: false }), path: '/evil' }, 5000)).rejects.toMatchObject({ code: 'EPERM' });
    await victim.mkdir('/v2'); // seq 2
    expect((await victim.ls('/', { linearizable: true })).map((e) => e.name).sort()).toEqual(['v1', 'v2']);
    // Under its own id the same connection is served as usual.
    await expect(mallory.ask(minister, { ...fsRequest(mallory.clientId, 1, { op: 'mkdir', path: '/m', parents: false }), path: '/m' }, 5000)).resolves.toMatchObject({ ok: true });
  });
});

// Lease ids are guessable (`<node>-w<n>-<term>`, `<node>-r<n>`): the grantor must refuse a
// renew or release from anyone but the holder, or a third client could get a conflicting lease.
describe('lease operations of another client', () => {
  it('a client cannot release or renew a lease another client holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'govfs-identity-'));
    const cluster = await LocalCluster.start({ nodes: 3, threads: 1, dataDir: dir, listen: { host: '127.0.0.1', port: 0 } });
    cleanup.push(async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const holder = await connect([cluster.address]);
    cleanup.push(() => holder.close());
    const other = await connect([cluster.address]);
    cleanup.push(() => other.close());
    await holder.create('/f');
    const w = await holder.open('/f', { mode: 'write' });
    const mallory = await open(cluster.address);
    const at = mallory.welcome.nodes![w.lease.grantedBy]!;
    const leaseReq = (op: Record<string, unknown>) => ({ ...fsRequest(mallory.clientId, 0, op), mutation: false, path: '/f' });
    // Mallory names the holder's lease under its own (bound) id: the grantor must refuse.
    const renew = (await mallory.ask(at, leaseReq({ op: 'lease-renew', id: w.lease.id, mode: 'write' }), 5000)) as { ok: boolean; error?: { code: string } };
    expect(renew).toMatchObject({ ok: false, error: { code: 'EPERM' } });
    const release = (await mallory.ask(at, leaseReq({ op: 'lease-release', id: w.lease.id, mode: 'write' }), 5000)) as { ok: boolean; error?: { code: string } };
    expect(release).toMatchObject({ ok: false, error: { code: 'EPERM' } });
    // The holder's write lease still excludes everyone else.
    await expect(other.open('/f', { mode: 'write', wait: false })).rejects.toMatchObject({ code: 'EBUSY' });
    expect(w.signal.aborted).toBe(false);
  });
});
