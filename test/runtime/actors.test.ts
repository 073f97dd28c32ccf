// The supervision tree, timers, asks and dead letters, run on the `sim` scheduler so every
// step is deterministic and virtual time can be read exactly.

import { describe, expect, it } from 'vitest';
import { ActorStoppedError, AskTimeoutError } from '../../src/runtime/errors.js';
import { Simulation } from '../../src/runtime/sim.js';
import type { Behaviour, Context, Message, Ref, SupervisorStrategy } from '../../src/runtime/types.js';

type Log = string[];

/** A root that spawns whatever the test gives it and then obeys `run` messages. */
function harness(setup: (ctx: Context) => void): Behaviour {
  return {
    started: (ctx) => setup(ctx),
    receive: (ctx, msg) => {
      if (typeof msg === 'object' && msg && 'run' in msg) (msg as { run: (ctx: Context) => void }).run(ctx);
    },
  };
}

function newSim(seed = 1): Simulation {
  return new Simulation({ seed });
}

describe('stopping', () => {
  it('cascades through a 3-level tree deepest first, cancelling timers, asks and signals', async () => {
    const sim = newSim();
    const log: Log = [];
    const signals: AbortSignal[] = [];
    const asks: Promise<unknown>[] = [];
    const leaf = (name: string): Behaviour => ({
      started: (ctx) => {
        signals.push(ctx.signal);
        ctx.clock.after(100, 'tick');
        ctx.clock.every(10, 'tock');
      },
      receive: (_ctx, msg) => {
        log.push(`${name} got ${String(msg)}`);
      },
      stopped: () => log.push(`${name} stopped`),
    });
    const silent: Behaviour = { receive: () => {} };
    const mid = (name: string): Behaviour => ({
      started: (ctx) => {
        signals.push(ctx.signal);
        ctx.spawn(`${name}-leaf1`, () => leaf(`${name}-leaf1`));
        ctx.spawn(`${name}-leaf2`, () => leaf(`${name}-leaf2`));
        const hole = ctx.spawn('hole', () => silent);
        // An ask that will never be answered: stopping must reject it.
        const pending = ctx.ask(hole, 'anyone?', { timeoutMs: 10_000 });
        pending.catch(() => {}); // examined below, after the stop
        asks.push(pending);
      },
      receive: () => {},
      stopped: () => log.push(`${name} stopped`),
    });
    let top: Ref | undefined;
    const host = sim.addHost('h', () =>
      harness((ctx) => {
        top = ctx.spawn('top', () => ({
          started: (c: Context) => {
            signals.push(c.signal);
            c.spawn('a', () => mid('a'));
            c.spawn('b', () => mid('b'));
          },
          receive: () => {},
          stopped: () => log.push('top stopped'),
        }));
      }),
    );
    await sim.run({ forMs: 35 });
    const tocks = log.filter((l) => l.includes('tock')).length;
    expect(tocks).toBe(4 * 3); // four leaves, tock at 10, 20, 30
    sim.tell(host.root.address, { run: (ctx: Context) => ctx.stop(top!) });
    await sim.run({ forMs: 1 });
    const stops = log.filter((l) => l.endsWith('stopped'));
    expect(stops).toEqual(['b-leaf2 stopped', 'b-leaf1 stopped', 'b stopped', 'a-leaf2 stopped', 'a-leaf1 stopped', 'a stopped', 'top stopped']);
    expect(signals.every((s) => s.aborted)).toBe(true);
    for (const a of asks) await expect(a).rejects.toBeInstanceOf(ActorStoppedError);
    // No timer of a stopped actor fires later.
    const before = log.length;
    await sim.run({ forMs: 500 });
    expect(log.length).toBe(before);
  });

  it('sends messages for a stopped actor to dead letters without throwing at the sender', async () => {
    const sim = newSim();
    let child: Ref | undefined;
    const host = sim.addHost('h', () => harness((ctx) => (child = ctx.spawn('c', () => ({ receive: () => {} })))));
    await sim.run();
    sim.tell(host.root.address, { run: (ctx: Context) => ctx.stop(child!) });
    await sim.run();
    expect(() => child!.tell('hello')).not.toThrow();
    expect(host.runtime.deadLetters).toBe(1);
    // An ask to a stopped actor fails at once rather than waiting for its timeout.
    await expect(sim.settle(sim.ask(child!.address, 'x', 1000))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('asks', () => {
  it('resolves with the reply, and rejects with a typed timeout error', async () => {
    const sim = newSim();
    const host = sim.addHost('h', () => ({
      receive: (ctx: Context, msg: Message) => {
        if (msg === 'ping') ctx.reply('pong');
      },
    }));
    await expect(sim.settle(sim.ask(host.root.address, 'ping'))).resolves.toBe('pong');
    const t0 = sim.now();
    const err = await sim.settle(sim.ask(host.root.address, 'ignored', 250)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AskTimeoutError);
    expect((err as AskTimeoutError).code).toBe('ETIMEDOUT');
    expect(sim.now() - t0).toBeCloseTo(250, 5);
  });

  it('times out each of many concurrent asks at its own deadline (they share one timer), answered ones never', async () => {
    const sim = newSim();
    const host = sim.addHost('h', () => ({
      receive: (ctx: Context, msg: Message) => {
        if (typeof msg === 'string' && msg.startsWith('answer')) ctx.reply('ok');
      },
    }));
    await sim.run();
    const t0 = sim.now();
    // Deadlines out of order, some equal, some asks answered.
    const timeouts = [300, 100, 200, 100, 50, 400, 250, 75];
    const outcomes = timeouts.map((ms, i) =>
      sim.ask(host.root.address, i % 3 === 0 ? `answer${i}` : `ignored${i}`, ms).then(
        () => ({ i, answered: true, at: sim.now() - t0 }),
        (e: unknown) => ({ i, answered: false, at: sim.now() - t0, timeout: e instanceof AskTimeoutError }),
      ),
    );
    const got = await sim.settle(Promise.all(outcomes));
    for (const o of got) {
      if (o.i % 3 === 0) expect(o.answered).toBe(true);
      else expect(o).toEqual({ i: o.i, answered: false, at: expect.closeTo(timeouts[o.i]!, 5), timeout: true });
    }
    expect(host.runtime.pendingAsks).toBe(0);
  });

  it('rejects the asker at once when the handler throws', async () => {
    const sim = newSim();
    const host = sim.addHost('h', () => ({
      receive: () => {
        throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      },
    }));
    await expect(sim.settle(sim.ask(host.root.address, 'x', 10_000))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reaches actors on other hosts through the encoded wire', async () => {
    const sim = newSim();
    const b = sim.addHost('b', () => ({
      receive: (ctx: Context, msg: Message) => {
        const m = msg as { type: string; seq: number };
        if (m.type === 'govfs.runtime.Ping') ctx.reply({ type: 'govfs.runtime.Pong', seq: m.seq + 1 });
      },
    }));
    let result: unknown;
    const a = sim.addHost('a', () =>
      harness(() => {}),
    );
    sim.tell(a.root.address, {
      run: (ctx: Context) => {
        void ctx.ask(ctx.ref(b.root.address), { type: 'govfs.runtime.Ping', seq: 41 }, { timeoutMs: 1000 }).then((r) => (result = r));
      },
    });
    await sim.run({ until: () => result !== undefined, forMs: 100 });
    expect(result).toEqual({ type: 'govfs.runtime.Pong', seq: 42 });
    // A message that would not survive the wire fails at the sender.
    let thrown: unknown;
    sim.tell(a.root.address, {
      run: (ctx: Context) => {
        try {
          ctx.ref(b.root.address).tell({ not: 'registered' });
        } catch (e) {
          thrown = e;
        }
      },
    });
    await sim.run({ forMs: 1 });
    expect(thrown).toMatchObject({ code: 'EINVAL' });
  });
});

describe('stash', () => {
  /** Stashes every message until 'open'; then answers asks with what it has seen so far. */
  function gate(seen: string[]): () => Behaviour {
    return () => {
      let open = false;
      return {
        receive: (ctx, msg) => {
          if (msg === 'open') {
            open = true;
            return ctx.unstashAll();
          }
          if (!open) return ctx.stash();
          seen.push(String(msg));
          ctx.reply(seen.length);
        },
      };
    };
  }

  it('gives set-aside messages back first, in the order they came, asks still answered to their askers', async () => {
    const sim = newSim();
    const seen: string[] = [];
    const host = sim.addHost('h', gate(seen));
    const asked = sim.ask(host.root.address, 'q1', 1000);
    sim.tell(host.root.address, 't2');
    const asked3 = sim.ask(host.root.address, 'q3', 1000);
    await sim.run({ forMs: 10 });
    expect(seen).toEqual([]);
    // 'open' and a later message queue together: the stashed ones still come first.
    sim.tell(host.root.address, 'open');
    sim.tell(host.root.address, 't4');
    await expect(sim.settle(Promise.all([asked, asked3]))).resolves.toEqual([1, 3]);
    await sim.run({ forMs: 10 });
    expect(seen).toEqual(['q1', 't2', 'q3', 't4']);
  });

  it('a restart hands what was stashed to the next incarnation; a stop drops it to dead letters', async () => {
    const sim = newSim();
    const seen: string[] = [];
    let stashing = true;
    const host = sim.addHost('h', () =>
      harness((ctx) => {
        ctx.spawn('child', () => ({
          receive: (c: Context, msg: Message) => {
            if (msg === 'boom') throw new Error('restart me');
            if (stashing && msg !== 'flush') return c.stash();
            seen.push(String(msg));
          },
        }), { strategy: { kind: 'one-for-one', minBackoffMs: 1 } });
      }),
    );
    await sim.run({ forMs: 1 });
    const child = host.runtime.ref(`${host.root.address}/child`);
    child.tell('a');
    child.tell('b');
    await sim.run({ forMs: 1 });
    stashing = false;
    child.tell('boom');
    await sim.run({ forMs: 20 });
    expect(seen).toEqual(['a', 'b']);
    // Stashed again, then stopped: nothing lost silently.
    stashing = true;
    child.tell('c');
    await sim.run({ forMs: 1 });
    const before = host.runtime.deadLetters;
    sim.tell(host.root.address, { run: (ctx: Context) => ctx.stop(child) });
    await sim.run({ forMs: 1 });
    expect(host.runtime.deadLetters - before).toBe(1);
    expect(seen).toEqual(['a', 'b']);
  });
});

describe('supervision', () => {
  /** A child counting messages; it throws on 'boom'. */
  function counter(log: Log, name: string): () => Behaviour {
    return () => {
      let count = 0;
      return {
        started: () => {
          log.push(`${name} started`);
        },
        receive: (ctx, msg) => {
          if (msg === 'boom') throw new Error(`${name} exploded`);
          count++;
          if (msg === 'count') ctx.reply(count);
        },
        stopped: () => {
          log.push(`${name} stopped`);
        },
      };
    };
  }

  async function tree(strategy: SupervisorStrategy, children = ['c']) {
    const sim = newSim();
    const log: Log = [];
    const refs: Record<string, Ref> = {};
    sim.addHost('h', () =>
      harness((ctx) => {
        ctx.spawn(
          'parent',
          () => ({
            started: (c: Context) => {
              for (const n of children) refs[n] = c.spawn(n, counter(log, n));
            },
            receive: () => {},
          }),
          { strategy },
        );
      }),
    );
    const host = sim.host('h');
    host.runtime.onInvoke = null;
    return { sim, log, refs, host };
  }

  it('restart gives the child fresh state, after a backoff', async () => {
    const { sim, log, refs } = await tree({ kind: 'one-for-one', minBackoffMs: 10 });
    const c = refs.c!;
    c.tell('a');
    c.tell('b');
    await expect(sim.settle(sim.ask(c.address, 'count'))).resolves.toBe(3);
    c.tell('boom');
    const t0 = sim.now();
    await sim.run({ until: () => log.filter((l) => l === 'c started').length === 2, forMs: 100 });
    expect(sim.now() - t0).toBeGreaterThanOrEqual(10);
    expect(log).toContain('c stopped');
    await expect(sim.settle(sim.ask(c.address, 'count'))).resolves.toBe(1);
  });

  it('stop directive stops the child for good', async () => {
    const { sim, log, refs } = await tree({ kind: 'one-for-one', decide: () => 'stop' });
    refs.c!.tell('boom');
    await sim.run({ forMs: 100 });
    expect(log).toEqual(['c started', 'c stopped']);
    await expect(sim.settle(sim.ask(refs.c!.address, 'count'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('escalate hands the failure to the grandparent, which restarts the parent and its children', async () => {
    const { sim, log, refs } = await tree({ kind: 'one-for-one', decide: () => 'escalate' });
    refs.c!.tell('boom');
    await sim.run({ until: () => log.filter((l) => l === 'c started').length === 2, forMs: 1_000 });
    expect(log).toEqual(['c started', 'c stopped', 'c started']);
  });

  it('one-for-all restarts every sibling', async () => {
    const { sim, log, refs } = await tree({ kind: 'one-for-all' }, ['x', 'y']);
    refs.y!.tell('z');
    refs.x!.tell('boom');
    await sim.run({ forMs: 100 });
    expect(log.filter((l) => l.endsWith('started')).sort()).toEqual(['x started', 'x started', 'y started', 'y started']);
    await expect(sim.settle(sim.ask(refs.y!.address, 'count'))).resolves.toBe(1);
  });

  it('escalates once the intensity limit is passed, with exponential backoff before', async () => {
    const { sim, log, refs } = await tree({ kind: 'one-for-one', maxRestarts: 3, withinMs: 60_000, minBackoffMs: 10, maxBackoffMs: 1_000 });
    const starts: number[] = [];
    const c = refs.c!;
    for (let i = 0; i < 3; i++) {
      const n = log.filter((l) => l === 'c started').length;
      c.tell('boom');
      await sim.run({ until: () => log.filter((l) => l === 'c started').length === n + 1, forMs: 10_000 });
      starts.push(sim.now());
    }
    // Backoffs of 10, 20, 40 ms between consecutive failures and restarts.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(20);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(40);
    // The fourth failure within the window escalates: the root restarts `parent`, which
    // spawns a fresh `c` (a restart of the whole branch, not of `c` alone).
    const stopsBefore = log.filter((l) => l === 'c stopped').length;
    c.tell('boom');
    await sim.run({ forMs: 10_000 });
    expect(log.filter((l) => l === 'c stopped').length).toBe(stopsBefore + 1);
    await expect(sim.settle(sim.ask(c.address, 'count'))).resolves.toBe(1);
  });
});

describe('determinism', () => {
  async function chatter(seed: number): Promise<string> {
    const sim = new Simulation({ seed, network: { dropRate: 0.1, duplicateRate: 0.05, maxLatencyMs: 10 } });
    const names = ['a', 'b', 'c'];
    for (const n of names) {
      sim.addHost(n, () => ({
        started: (ctx: Context) => {
          ctx.clock.every(5 + ctx.random.int(0, 5), 'tick');
        },
        receive: (ctx: Context, msg: Message) => {
          if (msg === 'tick') {
            const peer = names[ctx.random.int(0, 2)]!;
            ctx.ref(`${peer}#/${peer}`).tell({ type: 'govfs.runtime.Ping', seq: ctx.random.u32(), sender: 0 });
          }
        },
      }));
    }
    await sim.run({ forMs: 2_000 });
    return sim.traceHash;
  }

  it('the same seed gives the same trace hash; another seed another', async () => {
    const a = await chatter(7);
    const b = await chatter(7);
    const c = await chatter(8);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });
});

describe('clock drift', () => {
  it('a host clock runs at its own bounded rate', async () => {
    const sim = new Simulation({ seed: 3, maxDriftPpm: 50_000 });
    const h = sim.addHost('h', () => ({ receive: () => {} }));
    const local0 = h.runtime.dispatcher.now();
    await sim.run({ forMs: 1_000 });
    const elapsed = h.runtime.dispatcher.now() - local0;
    expect(Math.abs(elapsed - 1_000)).toBeLessThanOrEqual(50);
    sim.setClockRate('h', 2);
    const l1 = h.runtime.dispatcher.now();
    await sim.run({ forMs: 100 });
    expect(h.runtime.dispatcher.now() - l1).toBeCloseTo(200, 6);
  });
});

describe('simulated crash', () => {
  it('loses exactly the writes that were not synced, and restarts the host over what was', async () => {
    const sim = newSim(11);
    const enc = (s: string) => new TextEncoder().encode(s);
    const seen: string[][] = [];
    sim.addHost('h', () => ({
      started: (ctx: Context) => {
        // What survived from an earlier incarnation.
        seen.push([...ctx.storage.range({})].map(([k]) => k));
      },
      receive: async (ctx: Context, msg: Message) => {
        if (msg === 'write') {
          ctx.storage.put('a', enc('1'));
          ctx.storage.batch([
            { op: 'put', key: 'b', value: enc('2') },
            { op: 'put', key: 'c', value: enc('3') },
          ]);
          await ctx.storage.sync();
          ctx.storage.put('d', enc('4')); // never synced
          ctx.storage.del('a'); // never synced either
        }
      },
    }));
    sim.tell('h#/h', 'write');
    await sim.run({ forMs: 10 });
    sim.crash('h');
    sim.restart('h');
    await sim.run({ forMs: 1 });
    expect(seen).toEqual([[], ['a', 'b', 'c']]);
  });
});
