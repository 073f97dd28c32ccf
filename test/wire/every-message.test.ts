import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnvelopeKind, MessageRegistry, type TypedMessage } from '../../src/wire/registry.js';
import type * as W from '../../src/wire/messages.js';
import type * as F from '../../src/fs/requests.js';
import { protoTypes } from '../support/proto-types.js';

// Every message declared in src/wire/proto/*.proto has a TypeScript type. Messages with no
// checking test of their own have a sample here, held to its type by `satisfies Required<T>`
// (tsc refuses a field the type lacks, or one it has and the sample misses); the test checks the
// sample's fields are the .proto's and that it crosses the registry's wire unchanged. The others
// are checked, field by field, by the test file COVERED names. A message in no table fails:
// a new message needs a type.

const nonce = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
const ministry = { id: 'm1', subtree: '/a', minister: 'n1', clerks: ['n2', 'n3'], term: 4, down: true } satisfies Required<F.MinistryInfo>;
const dirLoad = { path: '/a/hot', readsPerSec: 120.5, writesPerSec: 3.25 } satisfies Required<F.DirLoadMessage>;
const load = { cpu: 0.97, readsPerSec: 800, writesPerSec: 12.5, hot: [dirLoad] } satisfies Required<F.MemberLoadMessage>;
const report = {
  id: 'n2', role: 'clerk', ministry: 'm1', groupTerm: 3, commit: 2 ** 40, applied: 17, lastIndex: 18, lastTerm: 3, caughtUp: true, leading: true, commitTerm: 2, load,
  chunks: 2 ** 33, chunksShort: 4, chunkHolders: [{ node: 'n1', chunks: 7 }, { node: 'n3', chunks: 2 ** 33 }], machineCpu: 0.875, machineCores: 2,
} satisfies Required<Omit<F.NodeReportMessage, 'type'>>;

const migration = { id: 'g1', subtree: '/a/b', from: 'm0', to: 'm3', phase: 'handed', split: true, reason: 'asked by a client' } satisfies Required<F.SubtreeMigrationInfo>;

const SAMPLES: Record<string, TypedMessage> = {
  // govfs.fs (the rest of govfs.proto: test/wire/fs-messages.test.ts)
  'govfs.fs.Ticket': { type: 'govfs.fs.Ticket', clientId: 'c1', seq: 2 ** 40, index: 9, term: 2, ministry: 'm1', moreSeqs: [2 ** 40 + 1, 7], moreIndexes: [10, 11] } satisfies Required<F.TicketMessage>,
  'govfs.fs.TicketStatusRequest': { type: 'govfs.fs.TicketStatusRequest', ministry: 'm1', index: 9, term: 2 } satisfies Required<F.TicketStatusRequestMessage>,
  'govfs.fs.TicketStatus': { type: 'govfs.fs.TicketStatus', status: 'committed' } satisfies Required<F.TicketStatusMessage>,
  'govfs.fs.NodeProbe': { type: 'govfs.fs.NodeProbe', clusterTerm: 5, load: true } satisfies Required<F.NodeProbeMessage>,
  'govfs.fs.NodeReport': { type: 'govfs.fs.NodeReport', ...report } satisfies Required<F.NodeReportMessage>,
  'govfs.fs.StatusRequest': { type: 'govfs.fs.StatusRequest' } satisfies Required<F.StatusRequestMessage>,
  'govfs.fs.ClusterStatus': {
    type: 'govfs.fs.ClusterStatus', president: 'n1', clusterTerm: 5, ministries: [ministry], idle: ['n4'], nodes: [report], shortStaffed: ['m1'], balancing: true, voters: ['n1', 'n2', 'n3'], learners: ['n4'], leaving: ['n2'], migrations: [migration],
  } satisfies Required<F.ClusterStatusMessage>,
  'govfs.fs.SubtreeMigration': { type: 'govfs.fs.SubtreeMigration', ...migration },
  'govfs.fs.MigrationQuery': { type: 'govfs.fs.MigrationQuery', migration: 'g1' } satisfies Required<F.MigrationQueryMessage>,
  'govfs.fs.MigrationProgress': {
    type: 'govfs.fs.MigrationProgress', migration: 'g1', ministry: 'm0', state: 'ready', reason: '', namespace: nonce, leaseToken: 2 ** 35,
  } satisfies Required<F.MigrationProgressMessage>,
  'govfs.fs.SubtreeDelete': { type: 'govfs.fs.SubtreeDelete', subtree: '/a/b', requester: 'm0' } satisfies Required<F.SubtreeDeleteMessage>,
  'govfs.fs.SubtreeDeleted': { type: 'govfs.fs.SubtreeDeleted', ok: true, index: 12, reason: 'done' } satisfies Required<F.SubtreeDeletedMessage>,
  'govfs.fs.CrossRenameBegin': { type: 'govfs.fs.CrossRenameBegin', txid: 'm1@7', source: 'm1', target: 'm2', to: '/b/g', entry: nonce, ended: ['m1@3', 'm2@9'] } satisfies Required<F.CrossRenameBeginMessage>,
  'govfs.fs.CrossRenamePrepare': { type: 'govfs.fs.CrossRenamePrepare', txid: 'm1@7', entry: nonce } satisfies Required<F.CrossRenamePrepareMessage>,
  'govfs.fs.CrossRenameVote': { type: 'govfs.fs.CrossRenameVote', ok: false, retry: true, code: 'EAGAIN', message: 'busy', index: 2 ** 35, replaced: true } satisfies Required<F.CrossRenameVoteMessage>,
  'govfs.fs.LeaseRevoked': { type: 'govfs.fs.LeaseRevoked', clientId: 'c1', leaseId: 'n2:17', reason: 'a write waits', grantedBy: 'n2', mode: 'read', path: '/a/f' } satisfies Required<F.LeaseRevokedMessage>,
  'govfs.fs.RevokeReads': { type: 'govfs.fs.RevokeReads', path: '/a/f', start: 4096, end: Infinity, exceptClient: 'c2', index: 33 } satisfies Required<F.RevokeReadsMessage>,
  'govfs.fs.ReadsRevoked': { type: 'govfs.fs.ReadsRevoked', revoked: 3 } satisfies Required<F.ReadsRevokedMessage>,
  'govfs.fs.DirLoad': { type: 'govfs.fs.DirLoad', ...dirLoad },
  'govfs.fs.ChunkHolder': { type: 'govfs.fs.ChunkHolder', ...({ node: 'n4', chunks: 12 } satisfies Required<F.ChunkHolderMessage>) },
  'govfs.fs.MemberLoad': { type: 'govfs.fs.MemberLoad', ...load },
  'govfs.fs.MemberRequest': { type: 'govfs.fs.MemberRequest', action: 'add', node: 'n6', address: 'n6#/n6', endpoint: '10.0.0.6:7401' } satisfies Required<F.MemberRequestMessage>,
  'govfs.fs.MinistryCopyRequest': { type: 'govfs.fs.MinistryCopyRequest', ministry: 'm1' } satisfies Required<F.MinistryCopyRequestMessage>,
  'govfs.fs.MinistryCopy': { type: 'govfs.fs.MinistryCopy', ok: true, code: '', reason: '', index: 2 ** 33, term: 7, state: nonce } satisfies Required<F.MinistryCopyMessage>,
  'govfs.fs.MemberReply': { type: 'govfs.fs.MemberReply', ok: false, code: 'EEXIST', reason: 'n6 is already a member', index: 2 ** 33 } satisfies Required<F.MemberReplyMessage>,
  'govfs.fs.BalanceRequest': { type: 'govfs.fs.BalanceRequest', action: 'split', path: '/a/b' } satisfies Required<F.BalanceRequestMessage>,
  'govfs.fs.BalanceReply': { type: 'govfs.fs.BalanceReply', ok: true, balancing: false, plan: ['m1 /a: cpu 97%', 'grow m1'], reason: '', index: 2 ** 33 } satisfies Required<F.BalanceReplyMessage>,
  // govfs.bridge
  'govfs.bridge.Hello': { type: 'govfs.bridge.Hello', version: 1, role: 'peer', location: 'n1', instance: 'i-9', nonce, maxFrameBytes: 1 << 24, maxMessageBytes: 1 << 26 } satisfies Required<W.HelloMessage>,
  'govfs.bridge.Auth': {
    type: 'govfs.bridge.Auth', proof: nonce, clientLocation: 'c#1', welcomeJson: '{"v":1}', clientKey: nonce.slice(0, 32), clientSignature: nonce.slice(1), clientId: 'c1', maxMessageBytes: 1 << 24, maxFrameBytes: 1 << 20,
  } satisfies Required<W.AuthMessage>,
  'govfs.bridge.Goodbye': { type: 'govfs.bridge.Goodbye', code: 'EBUSY', reason: 'too many', refusal: 4 } satisfies Required<W.GoodbyeMessage>,
  // govfs.runtime
  'govfs.runtime.Envelope': { type: 'govfs.runtime.Envelope', to: 'n1#/a', from: 'n2#/b', kind: 1, corr: 2 ** 40, typeId: 0xdeadbeef, body: nonce } satisfies Required<W.EnvelopeMessage>,
  'govfs.runtime.Spawn': { type: 'govfs.runtime.Spawn', parent: 'n1#/', name: 'x', behaviour: 'ministry', argsJson: '{}', strategyJson: '{"kind":"restart"}' } satisfies Required<W.SpawnMessage>,
  'govfs.runtime.Stop': { type: 'govfs.runtime.Stop' } satisfies Required<W.StopMessage>,
  'govfs.runtime.Terminated': { type: 'govfs.runtime.Terminated', address: 'n1#/x' } satisfies Required<W.TerminatedMessage>,
  'govfs.runtime.Watch': { type: 'govfs.runtime.Watch', watcher: 'n1#/y' } satisfies Required<W.WatchMessage>,
  'govfs.runtime.Escalate': { type: 'govfs.runtime.Escalate', child: 'n1#/x', reason: 'boom' } satisfies Required<W.EscalateMessage>,
  'govfs.runtime.AskFailed': { type: 'govfs.runtime.AskFailed', code: 'ETIMEDOUT', message: 'no answer' } satisfies Required<W.AskFailedMessage>,
  'govfs.runtime.Ping': { type: 'govfs.runtime.Ping', seq: 7, sender: 2, payload: nonce } satisfies Required<W.PingMessage>,
  'govfs.runtime.Pong': { type: 'govfs.runtime.Pong', seq: 7 } satisfies Required<W.PongMessage>,
  // govfs.raft client protocol (raft-client.proto)
  'govfs.raft.ClientPropose': { type: 'govfs.raft.ClientPropose', data: nonce, ticketOnly: true } satisfies Required<W.ClientProposeMessage>,
  'govfs.raft.ClientProposeResult': {
    type: 'govfs.raft.ClientProposeResult', ok: true, index: 5, term: 2, leader: 'a', reason: 'r', result: nonce,
  } satisfies Required<W.ClientProposeResultMessage>,
  'govfs.raft.ClientRead': { type: 'govfs.raft.ClientRead', key: 'k' } satisfies Required<W.ClientReadMessage>,
  'govfs.raft.ClientReadResult': { type: 'govfs.raft.ClientReadResult', ok: true, value: 'v', found: true, leader: 'a', applied: 9 } satisfies Required<W.ClientReadResultMessage>,
  'govfs.raft.ClientCommitted': { type: 'govfs.raft.ClientCommitted', index: 5, term: 2 } satisfies Required<W.ClientCommittedMessage>,
  'govfs.raft.ClientCommittedResult': { type: 'govfs.raft.ClientCommittedResult', state: 'committed' } satisfies Required<W.ClientCommittedResultMessage>,
  'govfs.raft.ClientAppoint': { type: 'govfs.raft.ClientAppoint', term: 3, leader: 'a', members: ['a', 'b'], group: 'm1' } satisfies Required<W.ClientAppointMessage>,
  'govfs.raft.ClientAppointResult': { type: 'govfs.raft.ClientAppointResult', ok: true, reason: 'r' } satisfies Required<W.ClientAppointResultMessage>,
  'govfs.raft.ClientTransfer': { type: 'govfs.raft.ClientTransfer', to: 'b' } satisfies Required<W.ClientTransferMessage>,
  'govfs.raft.ClientStatus': { type: 'govfs.raft.ClientStatus' } satisfies Required<W.ClientStatusMessage>,
  'govfs.raft.ClientStatusResult': {
    type: 'govfs.raft.ClientStatusResult', id: 'a', role: 'leader', term: 3, leader: 'a', commit: 9, applied: 9, lastIndex: 10, snapshotIndex: 4, caughtUp: true, group: 'm1',
  } satisfies Required<W.ClientStatusResultMessage>,
};

/** Messages checked field by field by another test: the file, and the messages it covers
 * (a RegExp over the full name). */
const COVERED: { file: string; covers: RegExp }[] = [
  { file: 'test/wire/fs-messages.test.ts', covers: /^govfs\.fs\.(Ministry|FsError|FsRequest|FsReply|Mkdir|Create|Rm|Rmdir|Rename|Ls|Stat|Lease(Open|Renew|Release)|StatResult|DirEntry|LsResult|MkdirResult|CreateResult|RmResult|RmdirResult|RenameResult|LeaseGrant|LeaseRenewResult|LeaseReleaseResult|Posix(Creds|Chmod|Chown|Utimens|Symlink|Readlink|Link|Mknod|AttrResult|ReadlinkResult)|DataWrite|DataRead|DataWritten|DataBytes|LayoutGet|LayoutPlace|LayoutReplace|FileResize|LayoutChunk|FileLayout|FileResized)$/ },
  { file: 'test/wire/log-codec.test.ts', covers: /^govfs\.log\./ },
  { file: 'test/data/data-wire.test.ts', covers: /^govfs\.data\./ },
  {
    file: 'test/raft/wire.test.ts',
    covers: /^govfs\.raft\.(Entry|AppendEntries|AppendResponse|RequestVote|VoteResponse|InstallSnapshot|SnapshotResponse|TimeoutNow|Heartbeat|HeartbeatResponse|ReadIndexRequest|ReadIndexResponse)$/,
  },
];

const registry = MessageRegistry.standard({ verify: true });
const declared = protoTypes().map((t) => ({ name: t.fullName.replace(/^\./, ''), type: t }));
/** The names a decoded message answers to: its fields and its (real, not proto3-optional) oneofs. */
const protoKeys = (t: (typeof declared)[number]['type']): string[] =>
  [...t.fieldsArray.map((f) => f.name), ...t.oneofsArray.filter((o) => !o.name.startsWith('_')).map((o) => o.name)].sort();
const sampleKeys = (m: TypedMessage): string[] => Object.keys(m).filter((k) => k !== 'type').sort();
/** A decoded message as plain data (without protobufjs's prototypes and their defaults). */
const plain = (x: unknown): unknown => {
  if (Array.isArray(x)) return x.map(plain);
  if (typeof x !== 'object' || x === null || x instanceof Uint8Array) return x;
  return Object.fromEntries(Object.keys(x).map((k) => [k, plain((x as Record<string, unknown>)[k])]));
};

describe('every .proto message has a TypeScript type', () => {
  it('the .proto files declare the 115 messages this table and COVERED know, no more, no fewer', () => {
    const unknown = declared.filter((d) => SAMPLES[d.name] === undefined && !COVERED.some((c) => c.covers.test(d.name))).map((d) => d.name);
    expect(unknown, 'messages without a TypeScript type: add one and a sample here').toEqual([]);
    const names = new Set(declared.map((d) => d.name));
    expect(Object.keys(SAMPLES).filter((n) => !names.has(n)), 'samples of messages no .proto declares').toEqual([]);
    expect(declared.filter((d) => SAMPLES[d.name] !== undefined && COVERED.some((c) => c.covers.test(d.name))).map((d) => d.name)).toEqual([]);
    expect(declared.length).toBeGreaterThanOrEqual(115);
    for (const c of COVERED) expect(existsSync(c.file), c.file).toBe(true);
  });

  it.each(declared.filter((d) => SAMPLES[d.name] !== undefined).map((d) => [d.name, d.type] as const))('%s: the sample has the fields of the .proto and survives the wire', (name, type) => {
    const sample = SAMPLES[name]!;
    expect(sample.type).toBe(name);
    expect(sampleKeys(sample)).toEqual(protoKeys(type));
    const back = registry.roundTrip({ to: 'n1#/n1', from: 'c#/', kind: EnvelopeKind.Ask, corr: 1, msg: sample }).msg;
    expect(back.type).toBe(name);
    expect(plain(back)).toEqual(plain(sample));
  });
});
