// Showing names safely on a terminal. The namespace refuses control characters in new names
// (path.ts), but names stored earlier, bidi controls (U+202E turns the rest of a line around)
// and invisible format characters can still arrive from the cluster: a front end prints every
// name through `shellQuote` and every message through `escapeText`, so one client cannot put
// escapes, fake line breaks or reordered text into another's terminal.

/** Characters shown escaped: C0, DEL, C1, bidi and other invisible format controls, line and
 * paragraph separators, lone surrogates, and U+FFFD (what invalid UTF-8 decodes to). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffd]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

const NAMED: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\x1b': '\\e' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `s` has a character a terminal would act on or hide. */
export function hasUnsafeChars(s: string): boolean {
  return UNSAFE.test(s);
}

/**
 * A name as GNU ls's shell-escape quoting would show it: as it is when every character is
 * printable, else in bash's `$'…'` form with the unsafe characters escaped (`$'a\nb'`,
 * `$'\e[31m'`, `$'x\u202ey'`), which pasted back into a shell gives the same name. A printable
 * name that itself begins with `$'` is quoted too, so the two forms cannot be confused.
 */
export function shellQuote(name: string): string {
  if (!hasUnsafeChars(name) && !name.startsWith("$'")) return name;
  return `$'${name.replace(/[\\']/g, '\\$&').replace(UNSAFE_ALL, escapeChar)}'`;
}

/** Free text (an error message that quotes a path) with unsafe characters escaped as `\xHH` /
 * `\uHHHH`; printable text is unchanged. */
export function escapeText(s: string): string {
  return s.replace(UNSAFE_ALL, escapeChar);
}

/** JSON text with the unsafe characters of its strings written as `\uHHHH` escapes: still the
 * same JSON, but safe to show on a terminal. */
export function escapeJson(json: string): string {
  // JSON.stringify escapes C0 inside strings already: any C0 left is formatting (newlines).
  return json.replace(UNSAFE_ALL, (c) => (c < ' ' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
