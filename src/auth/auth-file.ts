/**
 * One credentials file: docker's config.json or containers-auth.json(5), which share a format
 * (ecosystem.md §4.1, §4.3): `auths` (auth, username/password, identitytoken), `credHelpers` per
 * registry, and docker's `credsStore`. auth.json keys may name a namespace (`host/ns/repo`); lookups try
 * the most specific key first. Nothing here reads process.*; the caller names the file.
 */
import { readFile } from 'node:fs/promises';
import { errorCode, toLocalIOError, UsageError } from '../errors.js';
import type { Credentials } from '../registry/types.js';

/** docker's key for Docker Hub (cli/config getAuthConfigKey); docker.io and its hosts all map to it. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** A parsed credentials file. Maps are keyed by normaliseAuthKey(). */
export interface AuthFile {
  readonly path: string;
  /** `auths` entries that hold credentials (empty `{}` placeholders left by helpers are skipped). */
  readonly auths: ReadonlyMap<string, Credentials>;
  /** `credHelpers`: registry key → helper suffix (docker-credential-<suffix>). */
  readonly credHelpers: ReadonlyMap<string, string>;
  /** docker's `credsStore`: the helper for every registry without a credHelpers entry. */
  readonly credsStore?: string;
}

/** Reads and parses `path`; undefined when it does not exist (a missing file means "no credentials here"). */
export async function readAuthFile(path: string, signal?: AbortSignal): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
    throw toLocalIOError(err, `reading ${path}`);
  }
  return parseAuthFile(text, path);
}

/** Parses a config.json / auth.json text; `source` of every credential is `path`. */
export function parseAuthFile(text: string, path: string): AuthFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // No cause: the parser's message quotes the text around the error, which may be a secret.
    throw new UsageError(`${path} is not valid JSON`, { hint: 'fix the file, or stop dray from reading it (docs/registries.md lists the files it reads)' });
  }
  const root = (json !== null && typeof json === 'object' ? json : {}) as { auths?: unknown; credHelpers?: unknown; credsStore?: unknown };
  const auths = new Map<string, Credentials>();
  for (const [key, entry] of objectEntries(root.auths)) {
    const creds = parseAuthEntry(entry, key, path);
    // The first entry for a key wins; "host" and "https://host" rarely both exist.
    if (creds !== undefined && !auths.has(normaliseAuthKey(key))) auths.set(normaliseAuthKey(key), creds);
  }
  const credHelpers = new Map<string, string>();
  for (const [key, name] of objectEntries(root.credHelpers)) {
    if (typeof name === 'string' && name !== '') credHelpers.set(normaliseAuthKey(key), name);
  }
  const store = typeof root.credsStore === 'string' && root.credsStore !== '' ? root.credsStore : undefined;
  return { path, auths, credHelpers, ...(store === undefined ? {} : { credsStore: store }) };
}

function objectEntries(value: unknown): [string, unknown][] {
  return value !== null && typeof value === 'object' ? Object.entries(value as Record<string, unknown>) : [];
}

/** Parses one `auths` entry; undefined for an empty placeholder. Error messages never quote values. */
export function parseAuthEntry(entry: unknown, key: string, path: string): Credentials | undefined {
  if (entry === null || typeof entry !== 'object') return undefined;
  const e = entry as { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown };
  let username = typeof e.username === 'string' && e.username !== '' ? e.username : undefined;
  let password = typeof e.password === 'string' ? e.password : undefined;
  if (typeof e.auth === 'string' && e.auth !== '') {
    // `auth` overrides username/password; decode splits at the first ":" and trims trailing NULs (cli decodeAuth).
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) throw new UsageError(`${path}: the "auth" entry for ${key} is not base64 of user:password`);
    username = decoded.slice(0, i);
    password = decoded.slice(i + 1).replace(/\0+$/, '');
  }
  const identityToken = typeof e.identitytoken === 'string' && e.identitytoken !== '' ? e.identitytoken : undefined;
  if (username === undefined && identityToken === undefined) return undefined;
  return {
    source: path,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(identityToken === undefined ? {} : { identityToken }),
  };
}

/**
 * Normalises a file key: a URL form ("https://host/v1/", docker's legacy keys) becomes its host
 * (credentials/file_store.go ConvertToHostname); a bare key keeps its namespace path
 * (containers-auth.json(5)); hosts are lower-cased and every Docker Hub host becomes "docker.io".
 */
export function normaliseAuthKey(key: string): string {
  const trimmed = key.trim();
  if (URL_SCHEME.test(trimmed)) return hubHost((trimmed.replace(URL_SCHEME, '').split('/', 1)[0] ?? '').toLowerCase());
  const slash = trimmed.indexOf('/');
  const host = hubHost((slash === -1 ? trimmed : trimmed.slice(0, slash)).toLowerCase());
  const path = slash === -1 ? '' : trimmed.slice(slash).replace(/\/+$/, '');
  return host + path;
}

function hubHost(host: string): string {
  return DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host;
}

/**
 * Keys to try for `repository` on `registry`, most specific first: host/ns/repo, host/ns, host
 * (containers-auth.json(5)). Without a repository, only the host.
 */
export function lookupKeys(registry: string, repository?: string): string[] {
  const host = normaliseAuthKey(registry);
  const keys: string[] = [];
  const parts = repository === undefined || repository === '' ? [] : repository.split('/');
  for (let n = parts.length; n > 0; n--) keys.push(`${host}/${parts.slice(0, n).join('/')}`);
  keys.push(host);
  return keys;
}

/** The server URL a credential helper is asked about: docker's Hub key for Docker Hub, else host[:port] (docker getAuthConfigKey). */
export function helperServerUrl(registry: string): string {
  const host = normaliseAuthKey(registry.split('/', 1)[0] ?? registry);
  return host === 'docker.io' ? DOCKER_HUB_KEY : host;
}

/** Returns the first of `keys` present in `map`. */
export function firstMatch<T>(map: ReadonlyMap<string, T>, keys: readonly string[]): T | undefined {
  for (const key of keys) {
    const found = map.get(key);
    if (found !== undefined) return found;
  }
  return undefined;
}
