/**
 * The credential flags (`--creds`, `--password-stdin`, `--authfile`) and the ordered lookup they and
 * the environment select (docs/registries.md "Credentials"). No TTY prompting: a password comes from
 * the flag or from stdin, so scripts and CI never hang on a prompt.
 */
import type { Command } from 'commander';
import { createCredentialChain } from '../auth/credential-chain.js';
import { parseCredsFlag } from '../auth/docker-config.js';
import { defaultCredentialFiles } from '../auth/locations.js';
import { UsageError } from '../errors.js';
import type { CredentialLookup } from '../registry/types.js';
import type { CliIo } from './io.js';

export interface CredentialFlags {
  creds?: string;
  passwordStdin?: boolean;
  authfile?: string;
}

/** Adds --creds, --password-stdin and --authfile. */
export function addCredentialOptions(cmd: Command): Command {
  return cmd
    .option('--creds <user[:password]>', 'registry credentials for every registry of the run; without ":password", --password-stdin gives it')
    .option('--password-stdin', 'read the --creds password from stdin (one line; a trailing newline is dropped)')
    .option('--authfile <path>', 'credentials file (containers auth.json or docker config.json format), consulted before $REGISTRY_AUTH_FILE and the default files');
}

/**
 * Returns the run's credential lookup: --creds (password from stdin with --password-stdin), then
 * --authfile, $REGISTRY_AUTH_FILE, containers auth.json, docker config.json. `stdinUse` names another
 * flag that reads stdin (pull's `-f -`), which cannot share it with the password.
 */
export async function credentialOptionsFrom(flags: CredentialFlags, io: CliIo, stdinUse?: string): Promise<CredentialLookup> {
  const flag = await credsFrom(flags, io, stdinUse);
  const env = io.env.env;
  const files = defaultCredentialFiles(env, io.env.home, {
    ...(flags.authfile !== undefined ? { authfile: flags.authfile } : {}),
    ...(process.getuid ? { uid: process.getuid() } : {}),
  });
  return createCredentialChain({ ...(flag ? { flag } : {}), files, helperEnv: env, signal: io.signal });
}

async function credsFrom(flags: CredentialFlags, io: CliIo, stdinUse: string | undefined): Promise<{ username: string; password: string; source: string } | undefined> {
  if (flags.creds === undefined) {
    if (flags.passwordStdin) throw new UsageError('--password-stdin needs --creds USER', { hint: 'for example: echo "$TOKEN" | dray pull --creds alice --password-stdin IMAGE' });
    return undefined;
  }
  const parsed = parseCredsFlag(flags.creds);
  if (!flags.passwordStdin) {
    if (parsed.password === undefined) {
      throw new UsageError('--creds has no password', { hint: 'give --creds user:password, or --creds user with the password on stdin and --password-stdin (dray never prompts)' });
    }
    return { username: parsed.username, password: parsed.password, source: '--creds' };
  }
  if (parsed.password !== undefined) throw new UsageError('--password-stdin and a password in --creds conflict', { hint: 'give --creds USER alone with --password-stdin' });
  if (stdinUse !== undefined) throw new UsageError(`--password-stdin and ${stdinUse} both read stdin`, { hint: 'put the image list in a file, or the password in --creds' });
  if (process.stdin.isTTY) throw new UsageError('--password-stdin reads the password from stdin, but stdin is a terminal', { hint: 'pipe it in: echo "$TOKEN" | dray …' });
  // docker login --password-stdin: drop one trailing "\n", then one "\r".
  const password = (await io.readStdin()).replace(/\n$/, '').replace(/\r$/, '');
  if (password === '') throw new UsageError('--password-stdin read an empty password');
  return { username: parsed.username, password, source: '--creds with --password-stdin' };
}
