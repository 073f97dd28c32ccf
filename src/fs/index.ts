// src/fs: pure, synchronous domain code of govfs (DESIGN.md): errors, paths, the subtree map,
// the replicated namespace of a ministry, and lease modes and byte ranges.

export * from './errors.js';
export * from './path.js';
export * from './names.js';
export * from './subtree-map.js';
export * from './namespace.js';
export * from './ranges.js';
