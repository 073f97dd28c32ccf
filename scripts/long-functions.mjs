// Lists the files of src/ over 600 lines and the functions over 120 lines (issue 15, point 3),
// and whether each says why at its top. A file's reason is in its opening comment ("on
// purpose", or "Over 600 lines" with the cut that is to come); a function's is a comment
// `// long on purpose: why` just above it or as the first line of its body.
//
//   node scripts/long-functions.mjs [DIR]     prints them, exits 1 if one has no reason
//
// test/layout/long-code.test.ts runs the same check.

import ts from 'typescript';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

export const MAX_FILE_LINES = 600;
export const MAX_FUNCTION_LINES = 120;

const FILE_REASON = /\bon purpose\b|\bover 600 lines\b/i;
const FUNCTION_REASON = /long on purpose:/i;

/** Every .ts file below `dir`, sorted. */
function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name);
    if (statSync(abs).isDirectory()) out.push(...tsFiles(abs));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(abs);
  }
  return out;
}

/** The comments before the first statement (the file's top). */
function headerComment(sf) {
  const first = sf.statements[0];
  return sf.text.slice(0, first ? first.getStart(sf) : sf.text.length);
}

/** A name for a function node: its own, or that of what it is assigned to. */
function nameOf(node, sf) {
  if (node.name) return node.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const p = node.parent;
  if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name) return p.name.getText(sf);
  if (p && ts.isBinaryExpression(p)) return p.left.getText(sf);
  return '<anonymous>';
}

/** The node whose leading comments document `node` (a `const f = () => ...` is documented on
 * its statement). */
function documented(node) {
  let n = node;
  const p = node.parent;
  if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))) {
    n = p;
    if (ts.isVariableDeclaration(p) && p.parent?.parent && ts.isVariableStatement(p.parent.parent)) n = p.parent.parent;
  }
  return n;
}

function commentsBefore(node, sf) {
  const ranges = ts.getLeadingCommentRanges(sf.text, node.getFullStart()) ?? [];
  return ranges.map((r) => sf.text.slice(r.pos, r.end)).join('\n');
}

function hasFunctionReason(node, sf) {
  if (FUNCTION_REASON.test(commentsBefore(documented(node), sf))) return true;
  const body = node.body;
  if (!body) return false;
  if (ts.isBlock(body)) {
    // The first line inside the body: the comments before its first statement (or, in an
    // empty body, before the closing brace).
    const at = body.statements[0] ? body.statements[0].getFullStart() : body.getStart(sf) + 1;
    const ranges = ts.getLeadingCommentRanges(sf.text, at) ?? [];
    return ranges.some((r) => FUNCTION_REASON.test(sf.text.slice(r.pos, r.end)));
  }
  return false;
}

function isFunctionLike(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node)
  );
}

/**
 * The long files and functions of one source text.
 * @param {string} file the name to report
 * @param {string} text
 * @param {{ maxFileLines?: number, maxFunctionLines?: number }} [limits]
 * @returns {import('./long-functions.d.mts').LongCode[]}
 */
export function longCodeIn(file, text, limits = {}) {
  const maxFile = limits.maxFileLines ?? MAX_FILE_LINES;
  const maxFn = limits.maxFunctionLines ?? MAX_FUNCTION_LINES;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out = [];
  const fileLines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
  if (fileLines > maxFile) out.push({ file, kind: 'file', name: file, line: 1, lines: fileLines, reason: FILE_REASON.test(headerComment(sf)) });
  const visit = (node) => {
    if (isFunctionLike(node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > maxFn) out.push({ file, kind: 'function', name: nameOf(node, sf), line: start + 1, lines, reason: hasFunctionReason(node, sf) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/**
 * The long files and functions of every .ts file below `dir` (paths relative to `root`).
 * @param {string} dir
 * @param {string} [root]
 * @returns {import('./long-functions.d.mts').LongCode[]}
 */
export function findLongCode(dir, root = process.cwd()) {
  return tsFiles(dir).flatMap((abs) => longCodeIn(relative(root, abs), readFileSync(abs, 'utf8')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const found = findLongCode(join(root, process.argv[2] ?? 'src'), root);
  for (const f of found) {
    const what = f.kind === 'file' ? `file, ${f.lines} lines` : `${f.name}, ${f.lines} lines`;
    process.stdout.write(`${f.reason ? 'reason   ' : 'NO REASON'} ${f.file}:${f.line} ${what}\n`);
  }
  const missing = found.filter((f) => !f.reason).length;
  process.stdout.write(`${found.length} over the limits (files > ${MAX_FILE_LINES} lines, functions > ${MAX_FUNCTION_LINES}); ${missing} without a reason\n`);
  process.exitCode = missing > 0 ? 1 : 0;
}
