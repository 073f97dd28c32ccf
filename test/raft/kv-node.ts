// A ready-made Raft member actor: a RaftShell over a small key-value state machine, answering
// the client messages of src/wire/proto/raft-client.proto. Used by the simulation tests and
// the benchmark; registered as 'govfs.raft.node' for the threads scheduler (args:
// RaftNodeArgs, structured-clonable).

import { registerBehaviour } from '../../src/runtime/runtime.js';
import type { Behaviour, Context } from '../../src/runtime/types.js';
import { RaftShell, type AppliedEntry, type RaftShellOptions, type StateMachine } from '../../src/raft/shell.js';
import type { SoftState } from '../../src/raft/types.js';
import type * as W from '../../src/wire/messages.js';

/** The shell's options that pass through as they are, and the node's own. */
export interface RaftNodeArgs
  extends Pick<
    RaftShellOptions,
    'id' | 'voters' | 'learners' | 'tickMs' | 'electionTicks' | 'heartbeatTicks' | 'idleHeartbeatTicks' | 'snapshotEntries' | 'snapshotLogRatio' | 'maxEntriesPerMsg' | 'snapshotChunkSize'
  > {
  /** Default 'cluster'. */
  group?: string;
  /** Default 'elected'. */
  mode?: 'elected' | 'appointed';
  /** Peer id → actor address of its raft node. */
  peers: Record<string, string>;
  /** Default 'raft/'. */
  storagePrefix?: string;
  /** Restore snapshots in this many steps at least (StateMachine.restoreSteps), one a turn
   * whatever the shell's slice: the simulator's clock stands still within a turn, so without
   * this every restore ends in its first step. 0 (default): restore() in one go. */
  restoreSteps?: number;
}

const te = new TextEncoder();
const td = new TextDecoder();

function fnv(h: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619) >>> 0;
  return h;
}

/** Key-value state machine: an entry "key=value" (UTF-8) sets key and returns the previous
 * value; any other entry only counts. A running hash over (index, term, data) of every applied
 * entry lets tests compare histories. */
export class KvStateMachine implements StateMachine {
  applied = 0;
  count = 0;
  hash = 2166136261;
  readonly kv = new Map<string, string>();

  apply(e: AppliedEntry): Uint8Array {
    this.applied = e.index;
    this.count++;
    this.hash = fnv(Math.imul(this.hash ^ e.index, 16777619) >>> 0, e.data);
    const s = td.decode(e.data);
    const eq = s.indexOf('=');
    if (eq <= 0) return new Uint8Array(0);
    const key = s.slice(0, eq);
    const prev = this.kv.get(key);
    this.kv.set(key, s.slice(eq + 1));
    return prev === undefined ? new Uint8Array(0) : te.encode(prev);
  }

  snapshot(): Uint8Array {
    return te.encode(JSON.stringify({ applied: this.applied, count: this.count, hash: this.hash, kv: [...this.kv] }));
  }

  restore(data: Uint8Array, index: number): void {
    this.kv.clear();
    if (data.length === 0) {
      this.applied = index;
      this.count = 0;
      this.hash = 2166136261;
      return;
    }
    const v = JSON.parse(td.decode(data)) as { applied: number; count: number; hash: number; kv: [string, string][] };
    // Only Normal entries reach the state machine, so its last entry may precede the snapshot
    // index (a no-op or membership change after it); never follow it.
    if (v.applied > index) throw new Error(`kv snapshot is at ${v.applied}, restore asked for ${index}`);
    this.applied = index;
    this.count = v.count;
    this.hash = v.hash;
    for (const [k, val] of v.kv) this.kv.set(k, val);
  }

  reset(): void {
    this.restore(new Uint8Array(0), 0);
  }

  /** Restores under way (restoreSteps) that have not ended yet. */
  restoring = 0;

  /** restore() in `pieces` steps at least: the keys go into a new map a share at a time, and
   * the state changes only in the last step. */
  restoreInSteps(pieces: number): void {
    const sm = this as StateMachine;
    sm.restoreSteps = (data, index) => {
      const whole = new KvStateMachine();
      whole.restore(data, index);
      const keys = [...whole.kv];
      const per = Math.max(1, Math.ceil(keys.length / pieces));
      const kv = new Map<string, string>();
      let at = 0;
      let steps = 0;
      this.restoring++;
      return {
        step: (more) => {
          steps++;
          // One share a step for the first `pieces` steps, then on while `more()` allows.
          do {
            for (const end = Math.min(keys.length, at + per); at < end; at++) kv.set(keys[at]![0], keys[at]![1]);
          } while (at < keys.length && steps > pieces && more());
          if (steps < pieces || at < keys.length) return false;
          this.restoring--;
          this.kv.clear();
          for (const [k, v] of kv) this.kv.set(k, v);
          this.applied = whole.applied;
          this.count = whole.count;
          this.hash = whole.hash;
          return true;
        },
      };
    };
  }
}

/** What a test can see of a running node (same thread only). */
export interface RaftNodeHandle {
  id: string;
  host: string;
  shell: RaftShell;
  sm: KvStateMachine;
  /** Soft states in the order the node reported them. */
  onSoftState?: (s: SoftState) => void;
  /** Called after each run of applied entries, and after a restore (RaftShellOptions.afterApply). */
  afterApply?: () => void;
}

export interface RaftNodeHooks {
  /** Called when the node (re)starts, with its shell and state machine. */
  started?(h: RaftNodeHandle): void;
  stopped?(h: RaftNodeHandle): void;
  onApplied?(h: RaftNodeHandle, e: AppliedEntry): void;
  onPersisted?: (h: RaftNodeHandle, r: import('../../src/raft/types.js').Ready, synced: boolean) => void;
}

type ClientMsg = W.ClientProposeMessage | W.ClientReadMessage | W.ClientCommittedMessage | W.ClientAppointMessage | W.ClientTransferMessage | W.ClientStatusMessage;

export function raftNodeBehaviour(args: RaftNodeArgs, hooks: RaftNodeHooks = {}): Behaviour {
  let handle: RaftNodeHandle | undefined;
  return {
    started(ctx: Context) {
      const sm = new KvStateMachine();
      if (args.restoreSteps) sm.restoreInSteps(args.restoreSteps);
      const h: RaftNodeHandle = { id: args.id, host: ctx.host, sm, shell: undefined as unknown as RaftShell };
      h.shell = new RaftShell(ctx, {
        id: args.id,
        group: args.group ?? 'cluster',
        mode: args.mode ?? 'elected',
        voters: args.voters,
        learners: args.learners ?? [],
        addressOf: (id) => {
          const a = args.peers[id];
          if (!a) throw new Error(`raft node ${args.id}: no address for peer ${id}`);
          return a;
        },
        storagePrefix: args.storagePrefix ?? 'raft/',
        stateMachine: sm,
        tickMs: args.tickMs,
        electionTicks: args.electionTicks,
        heartbeatTicks: args.heartbeatTicks,
        idleHeartbeatTicks: args.idleHeartbeatTicks,
        snapshotEntries: args.snapshotEntries,
        snapshotLogRatio: args.snapshotLogRatio,
        maxEntriesPerMsg: args.maxEntriesPerMsg,
        snapshotChunkSize: args.snapshotChunkSize,
        onSoftState: (s) => h.onSoftState?.(s),
        afterApply: () => h.afterApply?.(),
        onApplied: hooks.onApplied && ((e) => hooks.onApplied!(h, e)),
        onPersisted: hooks.onPersisted && ((r, synced) => hooks.onPersisted!(h, r, synced)),
      });
      handle = h;
      hooks.started?.(h);
    },
    receive(ctx: Context, msg: unknown) {
      const shell = handle!.shell;
      if (shell.handle(msg)) return;
      const m = msg as ClientMsg;
      switch (m?.type) {
        case 'govfs.raft.ClientPropose': {
          const r = shell.propose(m.data);
          if (!r.ok) return ctx.reply({ type: 'govfs.raft.ClientProposeResult', ok: false, reason: r.reason, leader: r.leader });
          if (m.ticketOnly) return ctx.reply({ type: 'govfs.raft.ClientProposeResult', ok: true, index: r.index, term: r.term });
          const reply = ctx.deferReply();
          shell.whenApplied(r.index, r.term, (o) =>
            reply(
              o.ok
                ? { type: 'govfs.raft.ClientProposeResult', ok: true, index: r.index, term: r.term, result: o.result instanceof Uint8Array ? o.result : new Uint8Array(0) }
                : { type: 'govfs.raft.ClientProposeResult', ok: false, index: r.index, term: r.term, reason: o.reason, leader: shell.softState().leader },
            ),
          );
          return;
        }
        case 'govfs.raft.ClientRead': {
          const reply = ctx.deferReply();
          const sm = handle!.sm;
          shell.readIndex((ok) => {
            const v = sm.kv.get(m.key);
            reply({ type: 'govfs.raft.ClientReadResult', ok, value: ok ? (v ?? '') : '', found: ok && v !== undefined, leader: shell.softState().leader, applied: shell.applied });
          });
          return;
        }
        case 'govfs.raft.ClientCommitted': {
          const c = shell.committed(m.index, m.term);
          return ctx.reply({ type: 'govfs.raft.ClientCommittedResult', state: String(c) });
        }
        case 'govfs.raft.ClientAppoint': {
          const r = shell.appoint({ term: m.term, leader: m.leader, members: [...m.members], ...(m.group ? { group: m.group } : {}) });
          return ctx.reply({ type: 'govfs.raft.ClientAppointResult', ok: r.ok, reason: r.ok ? '' : r.reason });
        }
        case 'govfs.raft.ClientTransfer': {
          const r = shell.transferLeadership(m.to);
          return ctx.reply({ type: 'govfs.raft.ClientAppointResult', ok: r.ok, reason: r.ok ? '' : r.reason });
        }
        case 'govfs.raft.ClientStatus': {
          const s = shell.status();
          return ctx.reply({
            type: 'govfs.raft.ClientStatusResult',
            id: s.id,
            role: s.role,
            term: s.term,
            leader: s.leader,
            commit: s.commit,
            applied: s.applied,
            lastIndex: s.lastIndex,
            snapshotIndex: s.snapshotIndex,
            caughtUp: s.caughtUp,
            group: s.group,
          });
        }
        default:
          ctx.log.debug({ type: (msg as { type?: string })?.type }, 'raft node: unknown message');
      }
    },
    stopped() {
      if (handle) {
        handle.shell.stop();
        hooks.stopped?.(handle);
      }
    },
  };
}

registerBehaviour('govfs.raft.node', (args: RaftNodeArgs) => raftNodeBehaviour(args));
