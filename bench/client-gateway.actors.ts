// The node root `bench/client-gateway.ts --worker` places on a worker thread (loaded by the
// threads there; the dot in the name keeps it off the list of benchmarks).

import { registerBehaviour } from '../src/runtime/runtime.js';

const reply = { type: 'govfs.fs.NodeReport', id: 'n1', role: 'clerk' };

/** Answers every ask at once (as the gateway's own root does without --worker). */
registerBehaviour('bench.probe-node', () => ({
  receive(ctx) {
    ctx.reply(reply);
  },
}));
