// The govfs package: the in-process Cluster API, the client library (in process and over the
// network), and the actor runtime it is built on.

export { Cluster, type ClusterOptions, type ClusterStatusView, type MigrationStatus, type MinistryStatus, type NodeStatus } from './cluster.js';
export { GovClient, LeaseHandle, type DirEntry, type Stat, type OpenOptions, type LeaseInfo, type ReadOptions, type TicketInfo } from './client/gov-client.js';
export { FsError, type FsErrorCode, type FsErrorData } from './fs/errors.js';
export { shellQuote, escapeText } from './fs/names.js';
export { ConnectError, ConnectionRefusedError, connect, type ConnectOptions, type RemoteGovClient } from './client/connect.js';
export { clientIdentity, clientIdOf, type ClientIdentity } from './net/client-identity.js';
export type { BridgeTlsOptions, ClientTlsOptions } from './net/tls-config.js';
export { registerBehaviour } from './runtime/runtime.js';
export { Simulation, type SimNetworkOptions, type SimOptions } from './runtime/sim.js';
export { ThreadsScheduler, type ThreadsOptions } from './runtime/threads.js';
export { AskTimeoutError, ActorStoppedError, RuntimeError } from './runtime/errors.js';
export type { Behaviour, Context, Ref, Clock, Random, SpawnOptions, SupervisorStrategy } from './runtime/types.js';
export type { Storage } from './runtime/storage.js';
