// Issue 15, point 3: no file in src/ over ~600 lines and no function over ~120 lines without a
// reason written at its top (scripts/long-functions.mjs finds them).

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findLongCode, longCodeIn, MAX_FILE_LINES, MAX_FUNCTION_LINES } from '../../scripts/long-functions.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('long files and functions in src/', () => {
  it(`every file over ${MAX_FILE_LINES} lines and every function over ${MAX_FUNCTION_LINES} lines says why at its top`, () => {
    const unexplained = findLongCode(`${ROOT}src`, ROOT)
      .filter((f) => !f.reason)
      .map((f) => `${f.file}:${f.line} ${f.kind === 'function' ? `${f.name}()` : 'file'}, ${f.lines} lines`);
    expect(unexplained, 'shorten these, or write the reason at their top (`// long on purpose: ...`)').toEqual([]);
  });

  it('the check flags a long function and a long file without a reason, and takes a written one', () => {
    const body = Array.from({ length: MAX_FUNCTION_LINES }, (_, i) => `  x += ${i};`).join('\n');
    const fn = (before: string, first: string) => `// a module\n${before}export function big(): number {\n${first}  let x = 0;\n${body}\n  return x;\n}\n`;
    const plain = longCodeIn('a.ts', fn('', ''));
    expect(plain).toEqual([expect.objectContaining({ kind: 'function', name: 'big', reason: false })]);
    expect(longCodeIn('a.ts', fn('// long on purpose: one table of cases\n', ''))[0]?.reason).toBe(true);
    expect(longCodeIn('a.ts', fn('', '  // long on purpose: one table of cases\n'))[0]?.reason).toBe(true);
    // A closure counts as the name it is given.
    const arrow = `const step = (): number => {\n  let x = 0;\n${body}\n  return x;\n};\nexport { step };\n`;
    expect(longCodeIn('b.ts', arrow)).toEqual([expect.objectContaining({ name: 'step', reason: false })]);

    const lines = Array.from({ length: MAX_FILE_LINES }, (_, i) => `export const c${i} = ${i};`).join('\n');
    expect(longCodeIn('c.ts', `// constants\n${lines}\n`)).toEqual([expect.objectContaining({ kind: 'file', reason: false })]);
    expect(longCodeIn('c.ts', `// constants, one file on purpose: a table\n${lines}\n`)[0]?.reason).toBe(true);
    expect(longCodeIn('c.ts', `${lines.split('\n').slice(1).join('\n')}\n`)).toEqual([]);
  });
});
