// What the command line does with typed paths and argv (src/cli/paths.ts), without a cluster.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPath, invalidUtf8Args } from '../../src/cli/paths.js';
import { FsError } from '../../src/fs/errors.js';

function refusal(f: () => unknown): FsError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FsError);
    return e as FsError;
  }
  throw new Error('expected a refusal');
}

describe('cliPath', () => {
  it('one-shot commands: absolute paths as typed, nothing rewritten', () => {
    expect(cliPath('/a/b')).toEqual({ path: '/a/b', dirOnly: false });
    expect(cliPath('/')).toEqual({ path: '/', dirOnly: false });
    expect(cliPath('/a/')).toEqual({ path: '/a', dirOnly: true });
    expect(refusal(() => cliPath('rel')).message).toMatch(/not absolute .*did you mean "\/rel"\?/);
    expect(refusal(() => cliPath('/nonexist/../z')).message).toMatch(/if you meant "\/z", write that/);
    expect(refusal(() => cliPath('/a/./b')).message).toMatch(/if you meant "\/a\/b"/);
    expect(refusal(() => cliPath('/a//b')).message).toMatch(/empty segment.*if you meant "\/a\/b"/);
    expect(refusal(() => cliPath('/a//')).code).toBe('EINVAL');
    expect(refusal(() => cliPath(`/${'n'.repeat(300)}`)).code).toBe('ENAMETOOLONG');
  });

  it('the shell: relative to the current directory, with a leading . or .. resolved against it', () => {
    expect(cliPath('f', '/d').path).toBe('/d/f');
    expect(cliPath('./f', '/d').path).toBe('/d/f');
    expect(cliPath('..', '/d/e').path).toBe('/d');
    expect(cliPath('../..', '/d').path).toBe('/');
    expect(cliPath('../x/', '/d/e')).toEqual({ path: '/d/x', dirOnly: true });
    expect(cliPath('.', '/')).toEqual({ path: '/', dirOnly: false });
    expect(refusal(() => cliPath('x/../y', '/d')).message).toMatch(/"\.\." is not allowed/);
  });
});

describe('invalidUtf8Args', () => {
  const dir = mkdtempSync(join(tmpdir(), 'govfs-argv-'));
  const cmdline = (...args: (string | Buffer)[]): string => {
    const file = join(dir, `cmdline-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, Buffer.concat(args.flatMap((a) => [Buffer.isBuffer(a) ? a : Buffer.from(a), Buffer.from([0])])));
    return file;
  };

  it('finds the arguments whose raw bytes were not UTF-8, and only those', () => {
    const raw = Buffer.from([0x2f, 0x62, 0xff, 0x21]); // "/b\xff!"
    const file = cmdline('node', '--some-flag', '/x/bin/govfs', 'touch', '/a\ufffd', raw);
    // '/a\ufffd' was typed as U+FFFD (valid UTF-8); the last one was not UTF-8 at all.
    expect(invalidUtf8Args(['touch', '/a\ufffd', raw.toString('utf8')], file)).toEqual([2]);
    expect(invalidUtf8Args(['touch', '/plain'], file)).toEqual([]);
    // Where the raw bytes cannot be read, every argument with U+FFFD is refused.
    expect(invalidUtf8Args(['/a\ufffd'], join(dir, 'missing'))).toEqual([0]);
    rmSync(dir, { recursive: true, force: true });
  });
});
