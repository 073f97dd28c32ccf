// The TypeScript shapes of the messages of bridge.proto, runtime.proto and raft-client.proto
// (camelCase, as protobufjs decodes them; `type` is the registry's tag, not a field). Checked
// field for field against the .proto files by test/wire/every-message.test.ts. The messages of
// govfs.proto live in src/fs/requests.ts, log.proto's in src/wire/log-codec.ts, data.proto's in
// src/data/messages.ts and raft.proto's in src/raft/types.ts.

// ---- govfs.bridge: the handshake -----------------------------------------------------------

export interface HelloMessage {
  type: 'govfs.bridge.Hello';
  version: number;
  /** "peer" (a cluster node) or "client"; as received, whatever the other end sent. */
  role: string;
  location: string;
  instance: string;
  nonce: Uint8Array;
  maxFrameBytes: number;
  /** The largest message it accepts, whole or in parts (0: maxFrameBytes). */
  maxMessageBytes: number;
}

export interface AuthMessage {
  type: 'govfs.bridge.Auth';
  proof: Uint8Array;
  clientLocation?: string;
  welcomeJson?: string;
  clientKey?: Uint8Array;
  clientSignature?: Uint8Array;
  clientId?: string;
  /** Node → client: the largest message it accepts from this client (0: its Hello's). */
  maxMessageBytes?: number;
  /** Node → client: the largest frame it accepts from this client (0: its Hello's). */
  maxFrameBytes?: number;
}

export interface GoodbyeMessage {
  type: 'govfs.bridge.Goodbye';
  code: string;
  reason: string;
  /** govfs.bridge.Refusal, set when a node refuses a connection before serving it. */
  refusal?: number;
}

// ---- govfs.runtime: envelopes and the runtime's system messages ------------------------------

export interface EnvelopeMessage {
  type: 'govfs.runtime.Envelope';
  to: string;
  from: string;
  kind: number;
  corr: number;
  typeId: number;
  body: Uint8Array;
}

export interface SpawnMessage {
  type: 'govfs.runtime.Spawn';
  parent: string;
  name: string;
  behaviour: string;
  argsJson: string;
  strategyJson: string;
}

export interface StopMessage {
  type: 'govfs.runtime.Stop';
}

export interface TerminatedMessage {
  type: 'govfs.runtime.Terminated';
  address: string;
}

export interface WatchMessage {
  type: 'govfs.runtime.Watch';
  watcher: string;
}

export interface EscalateMessage {
  type: 'govfs.runtime.Escalate';
  child: string;
  reason: string;
}

export interface AskFailedMessage {
  type: 'govfs.runtime.AskFailed';
  code: string;
  message: string;
}

export interface PingMessage {
  type: 'govfs.runtime.Ping';
  seq: number;
  sender: number;
  payload?: Uint8Array;
}

export interface PongMessage {
  type: 'govfs.runtime.Pong';
  seq: number;
}

// ---- govfs.raft client messages (raft-client.proto: a test node's client protocol) -----------

export interface ClientProposeMessage {
  type: 'govfs.raft.ClientPropose';
  data: Uint8Array;
  ticketOnly?: boolean;
}

export interface ClientProposeResultMessage {
  type: 'govfs.raft.ClientProposeResult';
  ok: boolean;
  index?: number;
  term?: number;
  leader?: string;
  reason?: string;
  result?: Uint8Array;
}

export interface ClientReadMessage {
  type: 'govfs.raft.ClientRead';
  key: string;
}

export interface ClientReadResultMessage {
  type: 'govfs.raft.ClientReadResult';
  ok: boolean;
  value?: string;
  found?: boolean;
  leader?: string;
  applied?: number;
}

export interface ClientCommittedMessage {
  type: 'govfs.raft.ClientCommitted';
  index: number;
  term: number;
}

export interface ClientCommittedResultMessage {
  type: 'govfs.raft.ClientCommittedResult';
  state: string;
}

export interface ClientAppointMessage {
  type: 'govfs.raft.ClientAppoint';
  term: number;
  leader: string;
  members: string[];
  group: string;
}

export interface ClientAppointResultMessage {
  type: 'govfs.raft.ClientAppointResult';
  ok: boolean;
  reason?: string;
}

export interface ClientTransferMessage {
  type: 'govfs.raft.ClientTransfer';
  to: string;
}

export interface ClientStatusMessage {
  type: 'govfs.raft.ClientStatus';
}

export interface ClientStatusResultMessage {
  type: 'govfs.raft.ClientStatusResult';
  id: string;
  role: string;
  term: number;
  leader: string;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  caughtUp: boolean;
  group: string;
}
