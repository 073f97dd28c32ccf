// The shell's Tab completion driven through a real readline interface: two Tabs in one read
// (what typing Tab twice quickly gives) must complete once, not insert the completion twice.

import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import type { DirEntry } from '../../src/client/gov-client.js';
import { makeCompleter, words } from '../../src/cli/shell.js';

/** A listing that answers after a while, as the cluster does. */
function slowLs(entries: Record<string, DirEntry[]>, calls: string[]): (dir: string) => Promise<DirEntry[]> {
  return (dir) => {
    calls.push(dir);
    return new Promise((resolve) => setTimeout(() => resolve(entries[dir] ?? []), 30));
  };
}

/** A terminal's input: keys already read arrive even while readline has paused it (as they
 * do from a TTY in raw mode), so a second Tab reaches the completer before the first answered. */
class TerminalInput extends PassThrough {
  override pause(): this {
    return this;
  }
}

async function typeInto(completer: ReturnType<typeof makeCompleter>, keys: string[]): Promise<string> {
  const input = new TerminalInput();
  const output = new PassThrough();
  output.resume();
  const rl = createInterface({ input, output, completer, terminal: true });
  // Each key a read of its own, a few ms apart: faster than the listing answers.
  for (const k of keys) {
    input.write(k);
    await new Promise((r) => setTimeout(r, 5));
  }
  // Wait until the completions have been applied (the line stops changing).
  let last = '';
  let stable = 0;
  const deadline = Date.now() + 5_000;
  while (stable < 5 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    stable = rl.line === last ? stable + 1 : 0;
    last = rl.line;
  }
  rl.close();
  return last;
}

describe('shell completion', () => {
  it('Tab twice quickly (before the listing answered) completes the path once', async () => {
    const calls: string[] = [];
    const completer = makeCompleter(slowLs({ '/': [{ name: 'xylophone', kind: 'dir' }] }, calls), () => '/');
    expect(await typeInto(completer, ['ls /xy', '\t', '\t'])).toBe('ls /xylophone/');
  });

  it('one Tab, then another after the answer: completes, then lists the next level', async () => {
    const calls: string[] = [];
    const completer = makeCompleter(slowLs({ '/': [{ name: 'a', kind: 'dir' }], '/a': [{ name: 'f1', kind: 'file' }, { name: 'f2', kind: 'file' }] }, calls), () => '/');
    const input = ['ls /', '\t'];
    expect(await typeInto(completer, input)).toBe('ls /a/');
    const line = await typeInto(completer, ['ls /a/', '\t']);
    expect(line).toBe('ls /a/f');
  });

  it('relative paths complete against the current directory, names with spaces escaped', async () => {
    const completer = makeCompleter(slowLs({ '/d': [{ name: 'my file', kind: 'file' }] }, []), () => '/d');
    expect(await typeInto(completer, ['stat my', '\t'])).toBe('stat my\\ file');
    expect(words('stat my\\ file')).toEqual(['stat', 'my file']);
  });

  it('a name a terminal would act on is offered in its $\'…\' form, which words() reads back', async () => {
    const completer = makeCompleter(slowLs({ '/d': [{ name: 'r\u202eevil', kind: 'file' }, { name: 'a\x1bb', kind: 'dir' }] }, []), () => '/');
    expect(await typeInto(completer, ['ls /d/r', '\t'])).toBe("ls /d/$'r\\u202eevil'");
    expect(words("ls /d/$'r\\u202eevil' $'a\\eb'/x \\$'q'")).toEqual(['ls', '/d/r\u202eevil', 'a\x1bb/x', '$q']);
    expect(words("$'\\x41\\u00e9\\n\\'\\\\'")).toEqual(["A\u00e9\n'\\"]);
  });
});
