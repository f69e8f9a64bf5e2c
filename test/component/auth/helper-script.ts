/**
 * Writes a real `docker-credential-<name>` shell script for tests: it logs "<action> <server URL>" (and,
 * if asked, chosen environment variables) to a file, answers the known server URLs with credentials JSON, and says "credentials not found in
 * native keychain" (exit 1) for the rest, as docker-credential-helpers do.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TestHelper {
  /** The directory holding the script: put it first on PATH. */
  readonly dir: string;
  /** The lines the script logged: "get <server URL>". */
  calls(): Promise<string[]>;
}

export interface TestHelperOptions {
  /** Instead of answering: print this on stderr and stdout and exit with `code`. */
  readonly fail?: { readonly code: number; readonly output: string };
  /** Sleep this long before answering. */
  readonly sleepS?: number;
  /** Also log "env NAME=value" (or "env NAME unset") for each of these variables, as the helper saw them. */
  readonly logEnv?: readonly string[];
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes docker-credential-`name` into `dir`, answering `answers` (server URL → Username/Secret). */
export async function writeTestHelper(dir: string, name: string, answers: Record<string, { Username: string; Secret: string }>, options: TestHelperOptions = {}): Promise<TestHelper> {
  const log = join(dir, `${name}.log`);
  const lines = ['#!/bin/sh', 'url=$(cat)', `printf '%s %s\\n' "$1" "$url" >> ${quote(log)}`];
  for (const name of options.logEnv ?? []) {
    lines.push(`if [ -n "\${${name}+set}" ]; then printf 'env %s=%s\\n' ${name} "$${name}"; else printf 'env %s unset\\n' ${name}; fi >> ${quote(log)}`);
  }
  if (options.sleepS !== undefined) lines.push(`sleep ${options.sleepS}`);
  if (options.fail) lines.push(`echo ${quote(options.fail.output)} >&2`, `echo ${quote(options.fail.output)}`, `exit ${options.fail.code}`);
  lines.push('case "$url" in');
  for (const [url, answer] of Object.entries(answers)) lines.push(`  ${quote(url)}) printf '%s' ${quote(JSON.stringify({ ServerURL: url, ...answer }))} ;;`);
  lines.push("  *) echo 'credentials not found in native keychain'; exit 1 ;;", 'esac');
  const path = join(dir, `docker-credential-${name}`);
  await writeFile(path, `${lines.join('\n')}\n`);
  await chmod(path, 0o755);
  return {
    dir,
    calls: async () => {
      try {
        return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}
