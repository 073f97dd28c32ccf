// A reply to an asker that cannot be reached any more (a network client whose connection
// closed) is a dead letter, never an error thrown at the replier. Found by the nemesis
// (test/nemesis, seed 21: 3 nodes, kill and pause): a minister paused past its lease, on
// waking stepped down; its Raft shell, stopping, answered the waiting change of a client that
// had since reconnected elsewhere, from an abort listener (outside any actor's turn), and the
// EHOSTUNREACH thrown there killed the whole `govfs node` process.

import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/runtime/errors.js';
import { Simulation } from '../../src/runtime/sim.js';
import type { Context, Message } from '../../src/runtime/types.js';

describe('a reply whose asker is unreachable', () => {
  it('goes to dead letters, in the turn or later (a deferred reply from an abort listener)', async () => {
    const sim = new Simulation({ seed: 1 });
    const deferred: Array<(m: Message) => void> = [];
    const host = sim.addHost('h', () => ({
      receive: (ctx: Context, msg: Message) => {
        if (msg === 'now') ctx.reply('answer');
        if (msg === 'later') deferred.push(ctx.deferReply());
      },
    }));
    await sim.run();
    // The transport has no route to the client's location (its connection is gone).
    host.runtime.transport = (location) => {
      throw new RuntimeError('EHOSTUNREACH', `no route to ${location}`);
    };
    const ask = (msg: string, corr: number): void =>
      host.runtime.deliver({ to: host.root.address, from: 'client-gone#/c', kind: 1 /* Ask */, corr, msg: msg as unknown as { type: string } });
    ask('now', 1);
    ask('later', 2);
    await sim.run();
    expect(host.runtime.actorFailures).toBe(0);
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]!('late answer')).not.toThrow();
    expect(host.runtime.deadLetters).toBe(2);
  });
});

describe('an envelope a peer addressed badly', () => {
  it('with no location in its address, is a dead letter, not an error thrown at the ring inbox', async () => {
    const sim = new Simulation({ seed: 1 });
    const host = sim.addHost('h', () => ({ receive: () => {} }));
    await sim.run();
    expect(() => host.runtime.deliver({ to: 'no-hash-here', from: 'peer#/p', kind: 0, corr: 0, msg: { type: 'govfs.runtime.Stop' } })).not.toThrow();
    expect(host.runtime.deadLetters).toBe(1);
  });
});
