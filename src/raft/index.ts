// The pure Raft core and its types, and the actor shell that runs it on the runtime.
export { RaftCore } from './core.js';
export { encodeConfChange, decodeConfChange, applyConfChange, quorum } from './membership.js';
export type { ConfChangeRecord } from './membership.js';
export { isValidMessage } from './validate.js';
export * from './types.js';
export { RaftShell } from './shell.js';
export type { AppliedEntry, StateMachine, RestoreSteps, RaftShellOptions, ApplyOutcome, ShellStatus } from './shell.js';
