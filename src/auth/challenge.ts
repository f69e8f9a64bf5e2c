/**
 * WWW-Authenticate parsing (RFC 9110 §11.6.1, §11.2, §5.6.4; ecosystem.md §3.1). A header may carry
 * several challenges; each is a case-insensitive scheme followed by a token68 or comma-separated
 * `name=value` params whose values are tokens or quoted strings (which may hold commas and `\"`).
 * Scheme and param names are lower-cased; values are kept as sent.
 */

/** One challenge: `scheme` lower-case ("bearer", "basic"), params keyed by lower-case name. */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
  /** The token68 form ("Negotiate abc=="), when the challenge used it instead of params. */
  readonly token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(,|$))/;

/** Parses every challenge in a WWW-Authenticate value (repeated header fields joined with ", "). */
export function parseChallenges(header: string): Challenge[] {
  const challenges: { scheme: string; params: Record<string, string>; token68?: string }[] = [];
  let pos = 0;
  const skip = (chars: RegExp): void => {
    while (pos < header.length && chars.test(header[pos]!)) pos++;
  };
  const readToken = (): string => {
    const start = pos;
    while (pos < header.length && TCHAR.test(header[pos]!)) pos++;
    return header.slice(start, pos);
  };
  while (pos < header.length) {
    skip(/[\s,]/);
    if (pos >= header.length) break;
    const name = readToken();
    if (name === '') {
      pos++; // a character no grammar allows here: skip it, as the reference parsers do
      continue;
    }
    skip(/[ \t]/);
    const current = challenges.at(-1);
    if (header[pos] === '=' && current !== undefined) {
      pos++;
      skip(/[ \t]/);
      current.params[name.toLowerCase()] = header[pos] === '"' ? readQuoted() : readBare();
      continue;
    }
    const challenge: { scheme: string; params: Record<string, string>; token68?: string } = { scheme: name.toLowerCase(), params: {} };
    const token68 = TOKEN68.exec(header.slice(pos));
    if (token68) {
      challenge.token68 = token68[0];
      pos += token68[0].length;
    }
    challenges.push(challenge);
  }
  return challenges;

  /** An unquoted value. Lenient: up to the next comma or space, so an unquoted URL survives (RFC tokens exclude ':' and '/'). */
  function readBare(): string {
    const start = pos;
    while (pos < header.length && !/[\s,]/.test(header[pos]!)) pos++;
    return header.slice(start, pos);
  }

  function readQuoted(): string {
    let value = '';
    pos++; // opening quote
    while (pos < header.length) {
      const ch = header[pos++]!;
      if (ch === '"') return value;
      if (ch === '\\' && pos < header.length) value += header[pos++]!;
      else value += ch;
    }
    return value; // unterminated: keep what arrived
  }
}

/** Returns the challenge dray answers: Bearer before Basic (containerd's order); others are not supported. */
export function selectChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

/** Splits a scope parameter into its scopes (distribution spec/auth/scope.md: joined by single spaces). */
export function splitScopes(scope: string): string[] {
  return scope.split(' ').filter((s) => s !== '');
}
