// The TCP bridge end to end: two LocalRuntimes (real time) in this process, each with its own
// Bridge on loopback with an ephemeral port. Location transparency, per-sender order, asks
// across the bridge and when the peer dies, reconnection, duplicate links, overflow.

import { afterEach, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/net/bridge.js';
import { EnvelopeKind } from '../../src/wire/registry.js';
import { AskTimeoutError, EncodeError, RuntimeError } from '../../src/runtime/errors.js';
import type { Message } from '../../src/runtime/types.js';
import { blaster, echo, ping, pong, recorder, silent, sink, type Ping } from './actors.js';
import { SECRET, cleanup, node, pair, stopAll, until } from './helpers.js';

afterEach(stopAll);

describe('bridge', () => {
  it('makes a remote actor usable like a local one: tell, ask, asks between actors both ways', async () => {
    const [a, b] = await pair();
    const got: Message[] = [];
    b.runtime.spawnRoot('echo', echo);
    b.runtime.spawnRoot('rec', () => recorder(got));
    const remote = a.runtime.ref('b#/echo');
    // An ask from outside any actor.
    await expect(a.runtime.ask(remote.address, ping(7), { timeoutMs: 5000 })).resolves.toMatchObject({ type: 'govfs.runtime.Pong', seq: 7 });
    // A tell from an actor on a, through a Ref it resolved from an address.
    a.runtime.spawnRoot('teller', () => ({
      started: (ctx) => ctx.ref('b#/rec').tell(ping(8, 1)),
      receive() {},
    }));
    await until(() => got.length === 1, 'the tell arrives');
    expect(got[0]).toMatchObject({ type: 'govfs.runtime.Ping', seq: 8, sender: 1 });
    // Asks between actors, both directions; the reply finds the asking actor.
    const answers: number[] = [];
    a.runtime.spawnRoot('echo2', echo);
    b.runtime.spawnRoot('back', () => ({
      async started(ctx) {
        const r = await ctx.ask<{ seq: number }>(ctx.ref('a#/echo2'), ping(9), { timeoutMs: 5000 });
        answers.push(r.seq);
        const r2 = await ctx.ask<{ seq: number }>(ctx.ref('b#/echo'), ping(10), { timeoutMs: 5000 }); // local, for contrast
        answers.push(r2.seq);
      },
      receive() {},
    }));
    await until(() => answers.length === 2, 'ask from b to a');
    expect(answers).toEqual([9, 10]);
    // An ask to a path with no actor fails at once with ENOENT (a dead letter over there).
    await expect(a.runtime.ask('b#/nobody', ping(1), { timeoutMs: 5000 })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps per-sender FIFO order across the bridge (4 senders, 160,000 messages)', async () => {
    const [a, b] = await pair();
    const state = { received: 0, outOfOrder: 0 };
    b.runtime.spawnRoot('sink', () => sink(state));
    const blasters = [1, 2, 3].map((id) => a.runtime.spawnRoot(`blaster${id}`, () => blaster('b#/sink', id)));
    // A fourth sender from outside any actor, interleaved with the blasters.
    const outside = a.runtime.ref<Ping>('b#/sink');
    const sent = Promise.all(blasters.map((r) => a.runtime.ask(r.address, ping(50_000), { timeoutMs: 30_000 })));
    for (let i = 0; i < 10_000; i++) outside.tell(ping(i, 4));
    await sent;
    await until(() => state.received === 160_000, `160,000 messages (have ${state.received})`, 30_000);
    expect(state.outOfOrder).toBe(0);
    // What the sink saw agrees with what it answers across the bridge.
    await expect(a.runtime.ask('b#/sink', pong(0), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 160_000, sender: 0 });
    expect(a.bridge.stats.dropped).toBe(0);
  });

  it('times out a remote ask cleanly when the peer dies (no reply, no crash, peer-down reported)', async () => {
    const [a, b] = await pair();
    b.runtime.spawnRoot('silent', silent);
    b.runtime.spawnRoot('echo', echo);
    await a.runtime.ask('b#/echo', ping(1), { timeoutMs: 5000 });
    const inFlight = a.runtime.ask('b#/silent', ping(2), { timeoutMs: 400 });
    inFlight.catch(() => {});
    await b.bridge.stop({ abrupt: true }); // as if b's process died
    await until(() => a.events.some((e) => e.type === 'peer-down' && e.location === 'b'), 'peer-down on a');
    const t0 = Date.now();
    const after = a.runtime.ask('b#/echo', ping(3), { timeoutMs: 300 });
    after.catch(() => {});
    await expect(inFlight).rejects.toBeInstanceOf(AskTimeoutError);
    await expect(after).rejects.toBeInstanceOf(AskTimeoutError);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(a.runtime.pendingAsks).toBe(0);
    // Messages for the dead peer queue (bounded) for its return; nothing was dropped.
    expect(a.bridge.peerInfo().find((p) => p.location === 'b')).toMatchObject({ connected: false, dropped: 0 });
  });

  it('detects a silent peer by heartbeats and reconnects when the peer restarts, delivering what was queued', async () => {
    const b1 = await node('b');
    const a = await node('a');
    a.bridge.connect('b', b1.addr);
    await a.bridge.waitForPeer('b');
    const port = Number(b1.addr.split(':')[1]);
    b1.runtime.spawnRoot('echo', echo);
    await expect(a.runtime.ask('b#/echo', ping(1), { timeoutMs: 5000 })).resolves.toMatchObject({ seq: 1 });
    await b1.bridge.stop({ abrupt: true });
    await until(() => !a.bridge.isConnected('b'), 'a sees b down');
    // While b is down, tells queue on a (in order).
    const remote = a.runtime.ref<Ping>('b#/sink');
    for (let i = 0; i < 1000; i++) remote.tell(ping(i, 1));
    // b comes back on the same port as a new instance (a redials with backoff).
    const state = { received: 0, outOfOrder: 0 };
    const b2 = await node('b', { port });
    b2.runtime.spawnRoot('sink', () => sink(state));
    await until(() => a.events.some((e) => e.type === 'peer-up' && e.restarted), 'a relinks to the restarted b');
    for (let i = 1000; i < 2000; i++) remote.tell(ping(i, 1));
    await until(() => state.received === 2000, `2000 delivered after the restart (have ${state.received})`);
    expect(state.outOfOrder).toBe(0);
    expect(a.bridge.peerInfo()[0]).toMatchObject({ location: 'b', connected: true, links: 2, dropped: 0 });
  });

  it('closes a link that goes silent (heartbeat timeout) and reports the peer down', async () => {
    const [a, b] = await pair({ heartbeatMs: 40, missedHeartbeats: 3 });
    // b stops sending heartbeats but keeps its socket open: to a, the link went silent.
    (b.bridge as unknown as { heartbeat: NodeJS.Timeout }).heartbeat.close();
    await until(() => a.events.some((e) => e.type === 'peer-down'), 'a declares b dead');
    const down = a.events.find((e) => e.type === 'peer-down')!;
    expect(down).toMatchObject({ location: 'b', code: 'ETIMEDOUT' });
    expect(a.bridge.stats.heartbeatTimeouts).toBe(1);
    expect(a.lines.some((l) => /heartbeats/.test(l.msg))).toBe(true);
  });

  it('keeps one link when both ends dial each other at once (the lower location dials)', async () => {
    const b = await node('b');
    const a = await node('a');
    a.bridge.connect('b', b.addr);
    b.bridge.connect('a', a.addr);
    await a.bridge.waitForPeer('b');
    await b.bridge.waitForPeer('a');
    a.runtime.spawnRoot('echo', echo);
    b.runtime.spawnRoot('echo', echo);
    for (let i = 0; i < 10; i++) {
      await a.runtime.ask('b#/echo', ping(i), { timeoutMs: 5000 });
      await b.runtime.ask('a#/echo', ping(i), { timeoutMs: 5000 });
    }
    const up = a.events.filter((e) => e.type === 'peer-up');
    expect(up).toHaveLength(1);
    expect(up[0]).toMatchObject({ dialed: true }); // a < b: a's dial is the link
    expect(b.events.filter((e) => e.type === 'peer-up')).toHaveLength(1);
    expect(a.bridge.peerInfo()[0]!.links).toBe(1);
  });

  it('reports overflow: a full queue drops (counter, log, event) and fails asks at once', async () => {
    const a = await node('a', { maxQueueBytes: 4096 });
    const dead = await node('b');
    const addr = dead.addr;
    await dead.bridge.stop({ abrupt: true }); // nobody listens there now
    a.bridge.connect('b', addr);
    const remote = a.runtime.ref('b#/sink');
    for (let i = 0; i < 500; i++) remote.tell(ping(i, 1));
    expect(a.bridge.stats.dropped).toBeGreaterThan(0);
    const overflows = a.events.filter((e) => e.type === 'overflow');
    expect(overflows.length).toBe(a.bridge.stats.dropped);
    expect(overflows[0]).toMatchObject({ location: 'b', to: 'b#/sink', msgType: 'govfs.runtime.Ping', kind: EnvelopeKind.Tell });
    expect(a.lines.filter((l) => /dropping messages/.test(l.msg))).toHaveLength(1); // once per episode
    expect(a.bridge.peerInfo()[0]!.queuedBytes).toBeLessThanOrEqual(4096);
    await expect(a.runtime.ask('b#/sink', ping(1), { timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'ENOBUFS' });
  });

  it('refuses at the sender what cannot travel (unregistered, too big) with an EncodeError', async () => {
    const [a] = await pair({ maxFrameBytes: 64 * 1024 });
    const remote = a.runtime.ref('b#/x');
    expect(() => remote.tell({ type: 'not.Registered' })).toThrow(EncodeError);
    expect(() => remote.tell({ type: 'govfs.runtime.Ping', payload: new Uint8Array(100_000) })).toThrow(/frame limit/);
    expect(() => a.runtime.ref('zz#/x').tell(ping(1))).toThrow(RuntimeError);
  });

  it('validates its options', () => {
    const runtime = { location: 'n1', registry: {}, log: { child: () => ({}) } } as never;
    expect(() => new Bridge({ runtime, secret: Buffer.from('short') })).toThrow(/16 bytes/);
    expect(() => new Bridge({ runtime, secret: SECRET, peers: { n1: '127.0.0.1:1' } })).toThrow(/own location/);
    expect(() => new Bridge({ runtime, secret: SECRET, peers: { n2: 'nohost' } })).toThrow(/host:port/);
    void cleanup;
  });
});
