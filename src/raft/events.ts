// How the shell logs the core's leadership decisions (RaftEvent): one info line each, with the
// cause in words and as structured fields, so that an election can be traced to what started
// it (which timer fired, how long the leader had been silent, whether this node's own ticks
// were late) without turning on debug logging.

import type { RaftEvent } from './types.js';

/** What the shell knows when it logs an event. */
export interface EventContext {
  node: string;
  group: string;
  tickMs: number;
  /** Ms since this node last heard from a leader (null: not since it started). */
  silentMs: number | null;
  /** Longest gap between two of this node's ticks since then (its own thread's stalls). */
  maxTickGapMs: number;
}

/** The node's GovFS role after the event: the cluster log's leader is the president, a group
 * log's the minister; `ministry` names the group of a ministry's log. */
function roleAfter(e: RaftEvent, group: string): string {
  const cluster = group === 'cluster';
  if (e.kind === 'won') return cluster ? 'president' : 'minister';
  if (e.kind === 'stepDown') return cluster ? 'node' : 'clerk';
  return 'candidate';
}

export function describeRaftEvent(e: RaftEvent, c: EventContext): { fields: Record<string, unknown>; text: string } {
  const at = { node: c.node, role: roleAfter(e, c.group), ...(c.group !== 'cluster' && { ministry: c.group }), group: c.group, term: e.term };
  switch (e.kind) {
    case 'campaign': {
      const why =
        e.cause === 'electionTimeout'
          ? `election timeout: ${c.silentMs === null ? 'no leader heard since this node started' : `no message from leader ${e.lastLeader || '(none known)'} for ${c.silentMs} ms`} (timeout ${e.ticks} ticks of ${c.tickMs} ms; longest gap between this node's ticks ${c.maxTickGapMs} ms)`
          : e.cause === 'preVoteWon'
            ? 'pre-vote won: a majority has not heard from a leader either'
            : 'leadership transfer: the leader handed over to this node';
      return {
        fields: { ...at, cause: e.cause, preVote: e.preVote, lastLeader: e.lastLeader, silentMs: c.silentMs, timeoutMs: e.ticks * c.tickMs, maxTickGapMs: c.maxTickGapMs },
        text: `raft ${e.preVote ? 'pre-vote' : 'election'} started by ${c.node} in ${c.group}: ${why}`,
      };
    }
    case 'won':
      return { fields: { ...at, votes: e.votes }, text: `raft election won: ${c.node} leads ${c.group} in term ${e.term} (votes ${e.votes.join(', ')})` };
    case 'lost':
      return { fields: { ...at, preVote: e.preVote, rejectedBy: e.rejectedBy }, text: `raft ${e.preVote ? 'pre-vote' : 'election'} lost by ${c.node} in ${c.group}: rejected by ${e.rejectedBy.join(', ')}` };
    case 'stepDown': {
      const why =
        e.cause === 'checkQuorum'
          ? `check-quorum lost: only ${e.active.join(', ')} heard from within an election timeout`
          : e.cause === 'higherTerm'
            ? `${e.from || 'a peer'} has term ${e.newTerm}`
            : e.cause === 'appointed'
              ? `${e.from} was appointed for term ${e.newTerm}`
              : e.cause === 'removed'
                ? 'removed from the voters'
                : 'moved to another group';
      return { fields: { ...at, cause: e.cause, newTerm: e.newTerm, from: e.from, active: e.active }, text: `raft leader ${c.node} of ${c.group} stepped down: ${why}` };
    }
  }
}
