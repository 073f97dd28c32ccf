// Membership: single-server changes carried in ConfChange entries. A ConfChange entry holds
// the change and the whole membership that results from it, so a node can adopt the new
// membership the moment it appends the entry (Raft dissertation, section 4.1) without
// knowing the previous one.

import type { ConfChange, ConfChangeOp, Membership } from './types.js';

const OPS: readonly ConfChangeOp[] = ['addVoter', 'removeVoter', 'addLearner', 'promoteLearner'];

export interface ConfChangeRecord {
  change: ConfChange;
  membership: Membership;
}

export function encodeConfChange(record: ConfChangeRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

/** Undefined for bytes that are not a ConfChange record. */
export function decodeConfChange(data: Uint8Array): ConfChangeRecord | undefined {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(data));
    if (typeof v !== 'object' || v === null) return undefined;
    const r = v as { change?: { op?: unknown; node?: unknown }; membership?: { voters?: unknown; learners?: unknown } };
    const op = r.change?.op;
    const node = r.change?.node;
    const voters = r.membership?.voters;
    const learners = r.membership?.learners;
    if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op) || typeof node !== 'string') return undefined;
    if (!isStringArray(voters) || !isStringArray(learners)) return undefined;
    return { change: { op: op as ConfChangeOp, node }, membership: { voters: [...voters], learners: [...learners] } };
  } catch {
    return undefined;
  }
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** The membership after `change`, or an error message if the change does not apply. */
export function applyConfChange(m: Membership, change: ConfChange): Membership | string {
  const voters = new Set(m.voters);
  const learners = new Set(m.learners);
  const n = change.node;
  if (n === '') return 'node id must not be empty';
  switch (change.op) {
    case 'addVoter':
      if (voters.has(n)) return `${n} is already a voter`;
      learners.delete(n);
      voters.add(n);
      break;
    case 'removeVoter':
      if (!voters.has(n) && !learners.has(n)) return `${n} is not a member`;
      voters.delete(n);
      learners.delete(n);
      if (voters.size === 0) return 'cannot remove the last voter';
      break;
    case 'addLearner':
      if (voters.has(n) || learners.has(n)) return `${n} is already a member`;
      learners.add(n);
      break;
    case 'promoteLearner':
      if (!learners.has(n)) return `${n} is not a learner`;
      learners.delete(n);
      voters.add(n);
      break;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

export function cloneMembership(m: Membership): Membership {
  return { voters: [...m.voters], learners: [...m.learners] };
}

export function normalizeMembership(voters: readonly string[], learners: readonly string[] = []): Membership {
  const v = [...new Set(voters)].sort();
  const l = [...new Set(learners)].filter((x) => !v.includes(x)).sort();
  return { voters: v, learners: l };
}

export function quorum(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The highest index that a quorum of voters has: the quorum-th largest match. */
export function quorumIndex(matches: number[]): number {
  if (matches.length === 0) return 0;
  const sorted = [...matches].sort((a, b) => b - a);
  return sorted[quorum(matches.length) - 1]!;
}
