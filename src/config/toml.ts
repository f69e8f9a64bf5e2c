/**
 * Configuration files of other tools: containers' registries.conf and containerd's hosts.toml. Both are
 * TOML; this is the subset they use (TOML 1.0): `key = value` with bare, quoted and dotted keys, `[table]`
 * and `[[array of tables]]` headers, basic and literal strings, booleans, integers and (nested) arrays.
 * Dates, floats, inline tables and multi-line strings are rejected with the line number, never guessed.
 */
import { UsageError } from '../errors.js';

export type TomlValue = string | number | boolean | readonly TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

/** Parses TOML text; `source` names the file in errors. Throws UsageError on anything outside the subset. */
export function parseToml(text: string, source: string): TomlTable {
  const root: TomlTable = {};
  let current = root;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const fail = (what: string): never => {
      throw new UsageError(`${source}:${i + 1}: ${what}`, { hint: 'dray reads the TOML subset registries.conf and hosts.toml use' });
    };
    let line = lines[i]!.trim();
    // A value may be an array spanning lines: join until its brackets balance.
    while (/^[^#[]*=\s*\[/.test(line) && !bracketsBalanced(line) && i + 1 < lines.length) line += ` ${lines[++i]!.trim()}`;
    const cursor = { text: line, pos: 0, fail };
    skipSpace(cursor);
    if (atEnd(cursor)) continue;
    if (line.startsWith('[[')) {
      cursor.pos = 2;
      const path = parseKey(cursor);
      expect(cursor, ']]');
      current = appendTable(root, path, fail);
    } else if (line.startsWith('[')) {
      cursor.pos = 1;
      const path = parseKey(cursor);
      expect(cursor, ']');
      current = tableAt(root, path, fail);
    } else {
      const path = parseKey(cursor);
      expect(cursor, '=');
      const value = parseValue(cursor);
      const table = tableAt(current, path.slice(0, -1), fail);
      const key = path[path.length - 1]!;
      if (key in table) fail(`duplicate key ${key}`);
      table[key] = value;
    }
    skipSpace(cursor);
    if (!atEnd(cursor)) fail(`unexpected text "${cursor.text.slice(cursor.pos)}"`);
  }
  return root;
}

interface Cursor {
  readonly text: string;
  pos: number;
  readonly fail: (what: string) => never;
}

function bracketsBalanced(line: string): boolean {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') break;
    else if (c === '[') depth++;
    else if (c === ']') depth--;
  }
  return depth <= 0;
}

function skipSpace(c: Cursor): void {
  while (c.pos < c.text.length && /[ \t]/.test(c.text[c.pos]!)) c.pos++;
  if (c.text[c.pos] === '#') c.pos = c.text.length;
}

function atEnd(c: Cursor): boolean {
  return c.pos >= c.text.length;
}

function expect(c: Cursor, token: string): void {
  skipSpace(c);
  if (!c.text.startsWith(token, c.pos)) c.fail(`expected "${token}"`);
  c.pos += token.length;
}

function parseKey(c: Cursor): string[] {
  const parts: string[] = [];
  for (;;) {
    skipSpace(c);
    const ch = c.text[c.pos];
    if (ch === '"' || ch === "'") parts.push(parseString(c));
    else {
      const m = /^[A-Za-z0-9_-]+/.exec(c.text.slice(c.pos));
      if (!m) c.fail('expected a key');
      parts.push(m![0]);
      c.pos += m![0].length;
    }
    skipSpace(c);
    if (c.text[c.pos] !== '.') return parts;
    c.pos++;
  }
}

function parseValue(c: Cursor): TomlValue {
  skipSpace(c);
  const ch = c.text[c.pos];
  if (ch === '"' || ch === "'") return parseString(c);
  if (ch === '[') return parseArray(c);
  const m = /^(true|false|[+-]?\d[\d_]*)(?=[\s,\]#]|$)/.exec(c.text.slice(c.pos));
  if (!m) return c.fail(`unsupported value "${c.text.slice(c.pos)}"`);
  c.pos += m[1]!.length;
  if (m[1] === 'true' || m[1] === 'false') return m[1] === 'true';
  return Number(m[1]!.replaceAll('_', ''));
}

function parseArray(c: Cursor): TomlValue[] {
  c.pos++; // [
  const items: TomlValue[] = [];
  for (;;) {
    skipSpace(c);
    if (c.text[c.pos] === ']') break;
    items.push(parseValue(c));
    skipSpace(c);
    if (c.text[c.pos] === ',') c.pos++;
    else if (c.text[c.pos] !== ']') c.fail('expected "," or "]" in an array');
  }
  c.pos++; // ]
  return items;
}

const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

function parseString(c: Cursor): string {
  const quote = c.text[c.pos]!;
  if (c.text.startsWith(quote.repeat(3), c.pos)) c.fail('multi-line strings are not supported');
  let out = '';
  for (c.pos++; c.pos < c.text.length; c.pos++) {
    const ch = c.text[c.pos]!;
    if (ch === quote) {
      c.pos++;
      return out;
    }
    if (ch !== '\\' || quote === "'") {
      out += ch;
      continue;
    }
    const next = c.text[++c.pos] ?? '';
    if (next === 'u' || next === 'U') {
      const len = next === 'u' ? 4 : 8;
      const hex = c.text.slice(c.pos + 1, c.pos + 1 + len);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) c.fail('bad unicode escape');
      out += String.fromCodePoint(parseInt(hex, 16));
      c.pos += len;
    } else if (ESCAPES[next] !== undefined) out += ESCAPES[next];
    else c.fail(`bad escape \\${next}`);
  }
  return c.fail('unterminated string');
}

function tableAt(root: TomlTable, path: readonly string[], fail: (what: string) => never): TomlTable {
  let table = root;
  for (const key of path) {
    let next = table[key];
    if (next === undefined) table[key] = next = {};
    if (Array.isArray(next)) next = next[next.length - 1]; // [[a]] then [a.b]: the last element of a
    if (typeof next !== 'object' || next === null || Array.isArray(next)) return fail(`${key} is not a table`);
    table = next as TomlTable;
  }
  return table;
}

function appendTable(root: TomlTable, path: readonly string[], fail: (what: string) => never): TomlTable {
  const parent = tableAt(root, path.slice(0, -1), fail);
  const key = path[path.length - 1]!;
  const list = parent[key] ?? [];
  if (!Array.isArray(list)) return fail(`${key} is not an array of tables`);
  const table: TomlTable = {};
  parent[key] = [...(list as TomlValue[]), table];
  return table;
}
