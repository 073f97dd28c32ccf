// Determinism (DESIGN.md): actor and domain code takes time, randomness and storage only from
// its context, so it runs unchanged under the deterministic simulator.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const forbiddenGlobals = [
  { name: 'Date', message: 'Use ctx.clock.now() (DESIGN.md, Determinism).' },
  { name: 'setTimeout', message: 'Use ctx.clock.after() (DESIGN.md, Determinism).' },
  { name: 'setInterval', message: 'Use ctx.clock.every() (DESIGN.md, Determinism).' },
  { name: 'setImmediate', message: 'Use ctx.self.tell() (DESIGN.md, Determinism).' },
  { name: 'performance', message: 'Use ctx.clock.now() (DESIGN.md, Determinism).' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'govfs-data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The web view's script runs in the browser (src/ops/page, served as is).
    files: ['src/ops/page/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { document: 'readonly', window: 'readonly', EventSource: 'readonly', Node: 'readonly' } },
  },
  {
    files: ['src/actors/**/*.ts', 'src/raft/**/*.ts', 'src/fs/**/*.ts', 'src/data/**/*.ts', 'src/demo/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', ...forbiddenGlobals],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use ctx.random (DESIGN.md, Determinism).' },
        { object: 'process', property: 'hrtime', message: 'Use ctx.clock.now() (DESIGN.md, Determinism).' },
        { object: 'performance', property: 'now', message: 'Use ctx.clock.now() (DESIGN.md, Determinism).' },
      ],
      'no-restricted-imports': [
        'error',
        ...['fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'timers', 'node:timers', 'perf_hooks', 'node:perf_hooks'].map((name) => ({
          name,
          message: 'Use ctx.storage / ctx.clock (DESIGN.md, Determinism).',
        })),
      ],
    },
  },
);
