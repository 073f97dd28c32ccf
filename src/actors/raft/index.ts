// The pure Raft core and its types (the actor shell lives beside it).
export { RaftCore } from './core.js';
export { encodeConfChange, decodeConfChange, applyConfChange, quorum } from './membership.js';
export type { ConfChangeRecord } from './membership.js';
export { isValidMessage } from './validate.js';
export * from './types.js';
