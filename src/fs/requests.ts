// The file-system requests clients send and ministries answer: the typed form of the
// govfs.fs.FsRequest / FsReply messages (src/wire/proto/govfs.proto), whose operation travels as
// JSON (`opJson`, a ClientOp) validated by the namespace on arrival. Shared by the client
// library (src/client/gov-client.ts) and the ministries (src/actors/ministry.ts), so neither
// imports the other.

import type { FsErrorData } from './errors.js';
import type { MutationOp } from './namespace.js';

export interface MinistryInfo {
  id: string;
  subtree: string;
  minister: string;
  clerks: string[];
  term: number;
  down: boolean;
}

export interface FsRequestMessage {
  type: 'govfs.fs.FsRequest';
  clientId: string;
  seq: number;
  opJson: string;
  path: string;
  lastSeen: number;
  linearizable: boolean;
  ticketTo: string;
  mutation: boolean;
  acked: number;
}

export interface FsReplyMessage {
  ok: boolean;
  resultJson?: string;
  error?: FsErrorData | null;
  redirect?: MinistryInfo[];
  index?: number;
  term?: number;
  ministry?: string;
}

export interface TicketInfo {
  seq: number;
  index: number;
  term: number;
  ministry: string;
}

/** The ops a client sends: the namespace's mutations but setSize (a client's create is always
 * exclusive), and the reads. The minister stamps them with the log's time when it proposes. */
export type ClientOp =
  | Exclude<MutationOp, { op: 'create' | 'setSize' }>
  | { op: 'create'; path: string }
  | { op: 'ls'; path: string }
  | { op: 'stat'; path: string };
