// Shape checks for messages from the network: a malformed or hostile message is dropped,
// never allowed to throw inside the core or to corrupt its state.

import { EntryKind, type Entry, type RaftMessage } from './types.js';

type Fields = Record<string, unknown>;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isStrs = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const KINDS = new Set<number>(Object.values(EntryKind));

function isEntry(v: unknown): v is Entry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Fields;
  return isCount(e.term) && e.term > 0 && isCount(e.index) && e.index > 0 && typeof e.kind === 'number' && KINDS.has(e.kind) && isBytes(e.data);
}

const SHAPES: Record<RaftMessage['type'], (m: Fields) => boolean> = {
  'govfs.raft.AppendEntries': (m) =>
    isCount(m.prevIndex) && isCount(m.prevTerm) && isCount(m.commit) && Array.isArray(m.entries) && m.entries.every(isEntry),
  'govfs.raft.AppendResponse': (m) => isBool(m.reject) && isCount(m.index) && isCount(m.conflictTerm) && isCount(m.conflictIndex),
  'govfs.raft.RequestVote': (m) => isCount(m.lastIndex) && isCount(m.lastTerm) && isBool(m.preVote) && isBool(m.transfer),
  'govfs.raft.VoteResponse': (m) => isBool(m.granted) && isBool(m.preVote),
  'govfs.raft.InstallSnapshot': (m) =>
    isCount(m.snapshotIndex) && m.snapshotIndex > 0 && isCount(m.snapshotTerm) && isStrs(m.voters) && isStrs(m.learners) &&
    isCount(m.offset) && isCount(m.totalSize) && isBytes(m.data) && isBool(m.done),
  'govfs.raft.SnapshotResponse': (m) => isCount(m.snapshotIndex) && isCount(m.offset) && isBool(m.reject),
  'govfs.raft.TimeoutNow': () => true,
  'govfs.raft.Heartbeat': (m) => isCount(m.commit) && isCount(m.leaderCommit) && isCount(m.readRound) && isBool(m.quiet),
  'govfs.raft.HeartbeatResponse': (m) => isCount(m.readRound),
  'govfs.raft.ReadIndexRequest': (m) => isStr(m.readCtx),
  'govfs.raft.ReadIndexResponse': (m) => isStr(m.readCtx) && isCount(m.index),
};

export function isValidMessage(msg: unknown): msg is RaftMessage {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as Fields;
  if (!isStr(m.type) || !Object.hasOwn(SHAPES, m.type)) return false;
  if (!isStr(m.from) || !isStr(m.to) || !isStr(m.group) || !isCount(m.term)) return false;
  return SHAPES[m.type as RaftMessage['type']](m);
}
