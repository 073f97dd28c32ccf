// The president's actor shell (thesis 3.2, 3.4): it runs a PresidentCore (president-core.ts,
// where every decision is made and explained) while this node leads the cluster log, and does
// its I/O: the probe timer, the probes to every node, the ReadIndex that confirms a new
// president has applied the log, proposals to the cluster log and leadership transfers.

import { PresidentCore, type PresidentEffect, type PresidentView } from './president-core.js';
import type { ClusterOrder, ClusterState } from './cluster-state.js';
import type { NodeConfig } from './node.js';
import type { NodeReport } from './node-core.js';
import type { ProposeResult } from '../raft/index.js';
import type { Behaviour, Context } from '../runtime/types.js';
import type { NodeProbeMessage } from '../fs/requests.js';

export interface PresidentServices {
  config: NodeConfig;
  /** The cluster log's applied state on this node (read only). */
  state: () => ClusterState;
  propose: (order: ClusterOrder) => ProposeResult;
  readIndex: (cb: (ok: boolean) => void) => void;
  /** Hand the cluster log's leadership to `id`; false if it could not start. */
  transferTo: (id: string) => boolean;
  /** Whether a subtree delete is fencing ministry `id` to dissolve it: not to be re-staffed. */
  dissolving: (id: string) => boolean;
}

type PresidentMsg =
  | 'tick'
  | { kind: 'ready'; ok: boolean }
  | { kind: 'probe'; id: string; report: NodeReport | null };

export function presidentBehaviour(svc: PresidentServices): Behaviour<PresidentMsg> {
  const { config } = svc;
  const core = new PresidentCore(config);
  const view: PresidentView = { get state() { return svc.state(); }, dissolving: (id) => svc.dissolving(id) };

  /** Carry out `effects` in order; an effect's outcome goes straight back to the core. */
  const run = (ctx: Context<PresidentMsg>, effects: PresidentEffect[]): void => {
    for (const e of effects) {
      switch (e.kind) {
        case 'tickEvery':
          ctx.clock.every(e.ms, 'tick');
          ctx.self.tell('tick');
          break;
        case 'confirmApplied':
          svc.readIndex((ok) => ctx.self.tell({ kind: 'ready', ok }));
          break;
        case 'probe':
          ctx.pipeToSelf(
            ctx.ask<NodeReport>(ctx.ref(config.addresses[e.node]!), { type: 'govfs.fs.NodeProbe' } satisfies NodeProbeMessage, { timeoutMs: e.timeoutMs }),
            (report): PresidentMsg => ({ kind: 'probe', id: e.node, report }),
            (): PresidentMsg => ({ kind: 'probe', id: e.node, report: null }),
          );
          break;
        case 'propose':
          run(ctx, core.proposed(e, svc.propose(e.order), ctx.clock.now()));
          break;
        case 'transfer':
          run(ctx, core.transferred(e, svc.transferTo(e.to), ctx.clock.now(), view));
          break;
        case 'log':
          ctx.log[e.level](e.fields, e.msg);
          break;
      }
    }
  };

  return {
    started(ctx) {
      run(ctx, core.start());
    },
    receive(ctx, msg) {
      const now = ctx.clock.now();
      if (msg === 'tick') run(ctx, core.tick(now, view));
      else if (msg.kind === 'ready') run(ctx, core.readied(msg.ok, now));
      else run(ctx, core.probed(msg.id, msg.report, now, view));
    },
  };
}
