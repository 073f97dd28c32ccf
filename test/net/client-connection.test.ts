// Each client connection is an actor (src/net/client-connection.ts; issue 15, point 6): killed
// at random points — during the handshake, with asks in flight to a node here and to a node on
// another host, by a reset or a FIN, or ended by the client's Goodbye — a connection leaves
// nothing behind: no actor under the gateway actor, no pending ask or timer in the runtime, no
// admission slot. Everything runs in this process (two bridged runtimes on loopback TCP).

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientConnection } from '../../src/client/connection.js';
import { handshakeFrame } from '../../src/net/bridge.js';
import { SeededRandom } from '../../src/runtime/random.js';
import type { Behaviour, Context, Message } from '../../src/runtime/types.js';
import { FrameKind, frameBytes } from '../../src/wire/frame.js';
import { EnvelopeKind } from '../../src/wire/registry.js';
import { type Node, RawClient, node, rawClient, registry, stopAll, until } from './helpers.js';

afterEach(stopAll);

/** Answers a status request after 1-20 ms (its own timer), so asks are in flight a while. */
function slowNode(seen: { n: number }): Behaviour {
  return {
    receive(ctx: Context, msg: Message) {
      const m = msg as { type: string; answer?: (msg: Message) => void };
      if (m.type === 'later') {
        m.answer!({ type: 'govfs.fs.ClusterStatus', president: 'n1', clusterTerm: 1, ministries: [], idle: [], nodes: [], shortStaffed: [] });
        return;
      }
      seen.n++;
      ctx.clock.after(ctx.random.int(1, 20), { type: 'later', answer: ctx.deferReply() });
    },
  };
}

/** Never answers. */
function silentNode(seen: { n: number }): Behaviour {
  return {
    receive() {
      seen.n++;
    },
  };
}

async function setup(): Promise<{ a: Node; b: Node; slow: { n: number }; silent: { n: number } }> {
  const b = await node('b', { handshakeTimeoutMs: 2000, clients: { allowTarget: (to) => to === 'b#/n1' || to === 'a#/n2', welcome: () => ({ nodes: { n1: 'b#/n1', n2: 'a#/n2' } }) } });
  const a = await node('a');
  a.bridge.connect('b', b.addr);
  await a.bridge.waitForPeer('b');
  const slow = { n: 0 };
  const silent = { n: 0 };
  b.runtime.spawnRoot('n1', () => slowNode(slow));
  a.runtime.spawnRoot('n2', () => silentNode(silent));
  return { a, b, slow, silent };
}

const statusAsk = (to: string, corr: number): Buffer => frameBytes(FrameKind.Envelope, registry.toBytes({ to, from: '', kind: EnvelopeKind.Ask, corr, msg: { type: 'govfs.fs.StatusRequest' } }));

function kill(socket: net.Socket, reset: boolean): void {
  if (reset) socket.resetAndDestroy();
  else socket.destroy();
}

/** Nothing of any client is left on b, and b's runtime holds no ask or timer. */
async function nothingLeft(b: Node): Promise<void> {
  const clean = (): boolean => {
    const c = b.runtime.census('/gateway');
    const slots = b.bridge.slotsHeld();
    return b.bridge.stats.clientsOpen === 0 && slots.clients === 0 && slots.handshakes === 0 && c.under!.actors <= 1 && c.under!.asks === 0 && c.pendingAsks === 0 && !c.askTimer && c.timers === 0;
  };
  await until(clean, 'every connection gone without a trace', 20_000);
  expect(b.bridge.clientInfo()).toEqual([]);
  expect(b.runtime.actorFailures).toBe(0);
}

describe('client connections as actors', () => {
  it('each authenticated client is an actor under b#/gateway, and its asks are that actor\'s', async () => {
    const { b, silent } = await setup();
    const { c, location } = await rawClient(b.addr);
    for (let corr = 1; corr <= 5; corr++) c.write(statusAsk('a#/n2', corr));
    await until(() => silent.n === 5, 'the silent node got the asks');
    expect(b.runtime.localCell(`b#/gateway/${location}`)).not.toBeNull();
    expect(b.runtime.census('/gateway')).toMatchObject({ pendingAsks: 5, askTimer: true, under: { actors: 2, asks: 5, timers: 0 } });
    c.socket.destroy();
    await nothingLeft(b);
    expect(b.runtime.localCell(`b#/gateway/${location}`)).toBeNull();
  });

  it('connections killed at random points (handshake, asks in flight here and on another host, reset or FIN, Goodbye) leave no actor, ask, timer or slot', async () => {
    const { b, slow, silent } = await setup();
    const rng = new SeededRandom(15, 6);
    let inFlightAtKill = 0;
    const kinds = new Map<string, number>();
    const one = async (i: number): Promise<void> => {
      const point = rng.int(0, 4);
      const reset = rng.int(0, 1) === 0;
      kinds.set(String(point), (kinds.get(String(point)) ?? 0) + 1);
      if (point === 0) {
        // Before the node's Hello is read, or just after.
        const c = await RawClient.connect(b.addr);
        if (rng.int(0, 1) === 0) await c.serverHello();
        kill(c.socket, reset);
      } else if (point === 1) {
        // Mid-handshake: our Hello sent, no Auth.
        const c = await RawClient.connect(b.addr);
        await c.serverHello();
        c.write(handshakeFrame('hello', { version: 1, role: 'client', location: '', instance: `k${i}`, nonce: Buffer.alloc(32, i), maxFrameBytes: 1 << 20 }));
        kill(c.socket, reset);
      } else if (point === 2 || point === 3) {
        // Authenticated; with point 3, asks in flight to both nodes when killed.
        const { c } = await rawClient(b.addr);
        if (point === 3) {
          const n = rng.int(1, 20);
          for (let corr = 1; corr <= n; corr++) c.write(statusAsk(rng.int(0, 2) === 0 ? 'a#/n2' : 'b#/n1', corr));
          await new Promise((r) => setTimeout(r, rng.int(0, 14)));
          inFlightAtKill = Math.max(inFlightAtKill, b.runtime.census('/gateway').under!.asks);
        }
        kill(c.socket, reset);
      } else {
        // The client ends its session (Goodbye) with asks still in flight.
        const conn = await ClientConnection.open(b.addr);
        const asks = Array.from({ length: rng.int(1, 10) }, (_, k) => conn.ask(k % 2 === 0 ? 'a#/n2' : 'b#/n1', { type: 'govfs.fs.StatusRequest' }, 5000).catch(() => null));
        await new Promise((r) => setTimeout(r, rng.int(0, 9)));
        await conn.close();
        await Promise.all(asks);
      }
    };
    for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 8 }, (_, k) => one(round * 8 + k)));
    await nothingLeft(b);
    expect([...kinds.keys()].sort()).toEqual(['0', '1', '2', '3', '4']);
    // The kills did catch asks in flight, here and on the other host.
    expect(inFlightAtKill).toBeGreaterThan(0);
    expect(slow.n).toBeGreaterThan(0);
    expect(silent.n).toBeGreaterThan(0);
    // And the node still serves a new client.
    const conn = await ClientConnection.open(b.addr);
    await expect(conn.ask('b#/n1', { type: 'govfs.fs.StatusRequest' }, 5000)).resolves.toMatchObject({ president: 'n1' });
    await conn.close();
    await nothingLeft(b);
  }, 60_000);

  it('a request dropped on a full queue to another node is answered ENOBUFS at once (the drop fails the connection actor\'s own ask)', async () => {
    // b's link to `a` never comes up (nothing listens there), and b queues at most 64 bytes for it.
    const b = await node('b', { maxQueueBytes: 64, peers: { a: '127.0.0.1:1' }, clients: { allowTarget: (to) => to === 'a#/n2', welcome: () => ({ nodes: { n2: 'a#/n2' } }) } });
    const conn = await ClientConnection.open(b.addr);
    const asks = [1, 2, 3].map(() => conn.ask('a#/n2', { type: 'govfs.fs.StatusRequest' }, 10_000).then(() => null, (e: { code: string; message: string }) => e));
    const failed = await Promise.all(asks);
    expect(failed.some((e) => e?.code === 'ENOBUFS' && /dropped/.test(e.message))).toBe(true);
    await conn.close();
    await nothingLeft(b);
  });

  it('stopping the bridge stops the gateway actor and every connection actor with their asks', async () => {
    const { b, silent } = await setup();
    const conns = await Promise.all([0, 1, 2].map(() => rawClient(b.addr)));
    for (const { c } of conns) c.write(statusAsk('a#/n2', 1));
    await until(() => silent.n === 3, 'three asks pending');
    expect(b.runtime.census('/gateway').under).toEqual({ actors: 4, asks: 3, timers: 0 });
    await b.bridge.stop();
    expect(b.runtime.census('/gateway')).toMatchObject({ pendingAsks: 0, askTimer: false, under: { actors: 0, asks: 0, timers: 0 } });
    await Promise.all(conns.map(({ c }) => c.closedP));
  });
});
