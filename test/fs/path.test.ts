import { describe, expect, it } from 'vitest';
import {
  FS_ERROR_CODES,
  FsError,
  baseName,
  checkPath,
  depthOf,
  escapeJson,
  escapeText,
  isStoredName,
  isValidName,
  formatPath,
  isAncestor,
  isValidPath,
  isWithin,
  joinPath,
  parentOf,
  parsePath,
  shellQuote,
  tidyPath,
  utf8Length,
} from '../../src/fs/index.js';

function refused(code: string, f: () => unknown): FsError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FsError);
    expect((e as FsError).code).toBe(code);
    return e as FsError;
  }
  throw new Error(`expected ${code}`);
}
const einval = (f: () => unknown): FsError => refused('EINVAL', f);
const tooLong = (f: () => unknown): FsError => refused('ENAMETOOLONG', f);

describe('FsError', () => {
  it('round-trips through JSON with code, message and path', () => {
    const e = new FsError('ENOTEMPTY', 'rmdir /a: directory not empty (use recursive: true)', '/a');
    const wire = JSON.parse(JSON.stringify(e));
    expect(wire).toEqual({ code: 'ENOTEMPTY', message: 'rmdir /a: directory not empty (use recursive: true)', path: '/a' });
    const back = FsError.from(wire);
    expect(back).toBeInstanceOf(FsError);
    expect(back).toBeInstanceOf(Error);
    expect([back.code, back.message, back.path, back.name]).toEqual([e.code, e.message, '/a', 'FsError']);
    expect(new FsError('ETIMEDOUT', 'no answer').toJSON()).toEqual({ code: 'ETIMEDOUT', message: 'no answer' });
  });

  it('turns malformed input into EINVAL instead of throwing', () => {
    for (const bad of [null, 3, 'x', {}, { code: 'EWHAT', message: 'm' }, { code: 'ENOENT' }, [1]]) {
      const e = FsError.from(bad);
      expect(e.code).toBe('EINVAL');
      expect(e.message).toMatch(/malformed error/);
    }
  });

  it('has the codes the design lists', () => {
    for (const c of ['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EINVAL', 'EXDEV', 'EBUSY', 'ETIMEDOUT', 'EUNAVAILABLE', 'EPERM', 'ESTALE', 'EAGAIN', 'ECANCELED'])
      expect(FS_ERROR_CODES).toContain(c);
  });
});

describe('parsePath', () => {
  it('splits canonical absolute paths', () => {
    expect(parsePath('/')).toEqual([]);
    expect(parsePath('/a')).toEqual(['a']);
    expect(parsePath('/a/b c/ü/.hidden/..x')).toEqual(['a', 'b c', 'ü', '.hidden', '..x']);
    expect(formatPath(parsePath('/a/b'))).toBe('/a/b');
    expect(formatPath([])).toBe('/');
  });

  it('rejects bad paths with EINVAL naming the path and the reason', () => {
    expect(einval(() => parsePath('a/b')).message).toMatch(/"a\/b".*not absolute/);
    expect(einval(() => parsePath('')).message).toMatch(/empty path/);
    expect(einval(() => parsePath('/a//b')).message).toMatch(/empty segment/);
    expect(einval(() => parsePath('//')).message).toMatch(/trailing/);
    const trailing = einval(() => parsePath('/a/b/'));
    expect(trailing.message).toMatch(/trailing "\/" \(write "\/a\/b"\)/);
    expect(trailing.path).toBe('/a/b/');
    expect(einval(() => parsePath('/a/./b')).message).toMatch(/"\."/);
    expect(einval(() => parsePath('/a/..')).message).toMatch(/"\.\."/);
    expect(einval(() => parsePath('/a\0b')).message).toMatch(/NUL/);
    expect(einval(() => parsePath('/a\ud800b')).message).toMatch(/surrogate/);
    expect(einval(() => parsePath(42)).message).toMatch(/must be a string/);
    expect(einval(() => parsePath(undefined)).message).toMatch(/must be a string/);
  });

  it('limits a name to 255 UTF-8 bytes, a path to 8192 and 1024 levels', () => {
    expect(parsePath('/' + 'x'.repeat(255))).toHaveLength(1);
    expect(tooLong(() => parsePath('/' + 'x'.repeat(256))).message).toMatch(/256 bytes, over the limit of 255/);
    // 'é' is 2 bytes: 128 of them are 256 bytes though only 128 characters.
    expect(tooLong(() => parsePath('/' + 'é'.repeat(128))).message).toMatch(/256 bytes/);
    expect(parsePath('/' + '😀'.repeat(63))).toHaveLength(1); // 252 bytes
    expect(() => parsePath('/' + '😀'.repeat(64))).toThrow(/256 bytes/);
    const seg = 'y'.repeat(200);
    const ok = '/' + Array.from({ length: 40 }, () => seg).join('/') + '/' + 'z'.repeat(8192 - 40 * 201 - 1);
    expect(utf8Length(ok)).toBe(8192);
    expect(isValidPath(ok)).toBe(true);
    expect(tooLong(() => parsePath(ok + 'z')).message).toMatch(/8193 bytes, over the limit of 8192/);
    expect(tooLong(() => parsePath('/a'.repeat(1025))).message).toMatch(/1025 levels deep, over the limit of 1024/);
  });

  it('ENAMETOOLONG for a 5,000-byte name names the name, and echoes at most 80 characters of it', () => {
    const e = tooLong(() => parsePath('/x/' + 'n'.repeat(5_000)));
    expect(e.message).toMatch(/a name is 5000 bytes, over the limit of 255/);
    expect(e.message.length).toBeLessThan(300);
    expect(e.path!.length).toBeLessThanOrEqual(256);
  });

  it('refuses control characters in names: C0, DEL and C1, saying which', () => {
    for (const c of ['\x01', '\x07', '\b', '\t', '\n', '\r', '\x1b', '\x1f', '\x7f', '\x80', '\x85', '\x9b', '\x9f']) {
      const e = einval(() => parsePath(`/a/x${c}y`));
      expect(e.message).toMatch(new RegExp(`control character U\\+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`));
      // The message itself carries no raw control character.
      // eslint-disable-next-line no-control-regex -- looking for raw control characters
      expect(e.message).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
      expect(isValidName(`x${c}y`)).toBe(false);
      einval(() => joinPath('/a', `x${c}`));
      // Data stored before the rule still loads.
      expect(isStoredName(`x${c}y`)).toBe(true);
    }
    // Printable characters, bidi controls included, are names like any other.
    for (const ok of ['a b', 'ü', '\u00a0', '\u00ff', 'r\u202eevil', '😀', '$x', "it's"]) expect(isValidName(ok), ok).toBe(true);
    // Messages show bidi controls escaped.
    expect(einval(() => parsePath('/r\u202e/\x1b')).message).toMatch(/r\\u202e/);
  });

  it('utf8Length agrees with TextEncoder on valid strings', () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a😀é€\u07ff\u0800\uffff']) expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
    expect(utf8Length('\udc00')).toBe(-1);
  });

  it('checkPath, isValidPath, tidyPath', () => {
    expect(checkPath('/a')).toBe('/a');
    expect(isValidPath('/a/')).toBe(false);
    expect(isValidPath(null)).toBe(false);
    expect(tidyPath('/a//b/')).toBe('/a/b');
    expect(tidyPath('//')).toBe('/');
    expect(tidyPath('/')).toBe('/');
  });
});

describe('path helpers', () => {
  it('joinPath validates the name', () => {
    expect(joinPath('/', 'a')).toBe('/a');
    expect(joinPath('/a', 'b')).toBe('/a/b');
    for (const bad of ['', '.', '..', 'a/b', 'a\0']) einval(() => joinPath('/a', bad));
    tooLong(() => joinPath('/' + 'x'.repeat(8100), 'y'.repeat(100)));
    tooLong(() => joinPath('/a'.repeat(1024), 'y'));
    tooLong(() => joinPath('/a', 'y'.repeat(256)));
  });
});

describe('showing names', () => {
  it('shellQuote: printable names as they are, others in $\'…\' form as GNU ls shows them', () => {
    expect(shellQuote('plain name.txt')).toBe('plain name.txt');
    expect(shellQuote('ü😀')).toBe('ü😀');
    expect(shellQuote('a\nb')).toBe("$'a\\nb'");
    expect(shellQuote('\x1b[31mred')).toBe("$'\\e[31mred'");
    expect(shellQuote('bell\x07')).toBe("$'bell\\a'");
    expect(shellQuote('r\u202eevil')).toBe("$'r\\u202eevil'");
    expect(shellQuote("it's\t\\")).toBe("$'it\\'s\\t\\\\'");
    expect(shellQuote('\x85')).toBe("$'\\x85'");
    expect(shellQuote('\ufffd')).toBe("$'\\ufffd'");
    // A name that looks like the quoted form is quoted too, so the two cannot be confused.
    expect(shellQuote("$'a'")).toBe("$'$\\'a\\''");
    // No output of shellQuote holds a character a terminal acts on.
    // eslint-disable-next-line no-control-regex -- looking for raw control characters
    for (let c = 0; c < 0x200; c++) expect(shellQuote(`x${String.fromCharCode(c)}`)).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  it('escapeText escapes control and bidi characters in a message and leaves the rest', () => {
    expect(escapeText('mkdir /a: already exists')).toBe('mkdir /a: already exists');
    expect(escapeText('x\x1b[2Jy\u202ez\n')).toBe('x\\e[2Jy\\u202ez\\n');
  });

  it('escapeJson keeps the JSON and its formatting, with bidi and C1 characters escaped', () => {
    const value = { name: 'r\u202eevil\x85\x1b', list: [1, 2] };
    const shown = escapeJson(JSON.stringify(value, null, 2));
    expect(JSON.parse(shown)).toEqual(value);
    expect(shown).toMatch(/\n {2}"name": "r\\u202eevil\\u0085\\u001b"/);
  });

  it('parentOf, baseName, depthOf', () => {
    expect(parentOf('/')).toBeNull();
    expect(parentOf('/a')).toBe('/');
    expect(parentOf('/a/b/c')).toBe('/a/b');
    expect(baseName('/')).toBe('');
    expect(baseName('/a')).toBe('a');
    expect(baseName('/a/b')).toBe('b');
    expect([depthOf('/'), depthOf('/a'), depthOf('/a/b')]).toEqual([0, 1, 2]);
  });

  it('isAncestor and isWithin match whole segments', () => {
    expect(isAncestor('/', '/a')).toBe(true);
    expect(isAncestor('/', '/')).toBe(false);
    expect(isAncestor('/a', '/a/b')).toBe(true);
    expect(isAncestor('/a', '/a/b/c')).toBe(true);
    expect(isAncestor('/a', '/a')).toBe(false);
    expect(isAncestor('/a', '/ab')).toBe(false);
    expect(isAncestor('/a/b', '/a')).toBe(false);
    expect(isWithin('/a', '/a')).toBe(true);
    expect(isWithin('/a/b', '/a')).toBe(true);
    expect(isWithin('/ab', '/a')).toBe(false);
    expect(isWithin('/anything', '/')).toBe(true);
  });
});
