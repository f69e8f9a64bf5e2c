/**
 * `--creds user[:password]` parsing, and the original two-source lookup (`--creds`, then docker's
 * config.json) kept for library callers; the full ordered chain is createCredentialChain.
 */
import { UsageError } from '../errors.js';
import type { CredentialLookup } from '../registry/types.js';
import { DOCKER_HUB_KEY, normaliseAuthKey } from './auth-file.js';
import { createCredentialChain } from './credential-chain.js';

/** `--creds` split at the first ":"; `password` is undefined when only a user was given. */
export interface CredsFlag {
  readonly username: string;
  readonly password?: string;
}

/** Splits `user[:password]` (skopeo --creds); the user must be non-empty. Never echoes the value. */
export function parseCredsFlag(value: string): CredsFlag {
  const i = value.indexOf(':');
  const username = i === -1 ? value : value.slice(0, i);
  if (username === '') throw new UsageError('--creds takes user[:password] with a non-empty user', { hint: 'for example --creds alice:s3cret, or --creds alice --password-stdin' });
  return i === -1 ? { username } : { username, password: value.slice(i + 1) };
}

/** Returns a lookup trying `--creds user:password` first, then the docker config file. */
export function createCredentialLookup(sources: { creds?: string; dockerConfigPath?: string }): CredentialLookup {
  let flag: { username: string; password: string; source: string } | undefined;
  if (sources.creds !== undefined) {
    const parsed = parseCredsFlag(sources.creds);
    if (parsed.password === undefined) throw new UsageError('--creds takes user:password here', { hint: 'for example --creds alice:s3cret' });
    flag = { username: parsed.username, password: parsed.password, source: '--creds' };
  }
  return createCredentialChain({ ...(flag ? { flag } : {}), files: sources.dockerConfigPath === undefined ? [] : [sources.dockerConfigPath] });
}

/** Normalises a config key or registry name to host[:port]; all Docker Hub names to docker's Hub key. */
export function configKey(keyOrRegistry: string): string {
  const host = normaliseAuthKey(keyOrRegistry).split('/', 1)[0] ?? '';
  return host === 'docker.io' ? DOCKER_HUB_KEY : host;
}
