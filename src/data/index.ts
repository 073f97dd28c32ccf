// The data plane's chunk store (issue 17): a pure core, its actor shell, where chunks are kept.
export * from './backend.js';
export * from './core.js';
export * from './crc32c.js';
export * from './messages.js';
export * from './shell.js';
