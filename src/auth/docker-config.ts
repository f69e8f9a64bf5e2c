/**
 * Static credentials: `--creds user:pass`, then docker's config.json `auths` (ecosystem.md §4.1).
 * Sources are tried in order and the first with an answer wins, so credential helpers (credHelpers,
 * credsStore) and containers auth.json slot in later as more CredentialSource entries. The caller resolves
 * the config path ($DOCKER_CONFIG/config.json, else ~/.docker/config.json): nothing here reads process.*.
 */
import { readFile } from 'node:fs/promises';
import { errorCode, toLocalIOError, UsageError } from '../errors.js';
import type { CredentialLookup, Credentials } from '../registry/types.js';

/** One way of finding credentials for a registry; undefined means "ask the next source". */
export type CredentialSource = (registry: string) => Promise<Credentials | undefined>;

/** docker's key for Docker Hub (cli/config getAuthConfigKey); docker.io and its hosts all map to it. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** Returns a lookup trying `--creds` first, then the docker config file. */
export function createCredentialLookup(sources: { creds?: string; dockerConfigPath?: string }): CredentialLookup {
  const chain: CredentialSource[] = [];
  if (sources.creds !== undefined) chain.push(credsFlagSource(sources.creds));
  if (sources.dockerConfigPath !== undefined) chain.push(dockerConfigSource(sources.dockerConfigPath));
  return async (registry) => {
    for (const source of chain) {
      const found = await source(registry);
      if (found !== undefined) return found;
    }
    return undefined;
  };
}

/** `--creds user:password`: used for every registry of the run, as skopeo's --src-creds. */
export function credsFlagSource(creds: string): CredentialSource {
  const i = creds.indexOf(':');
  if (i <= 0) throw new UsageError('--creds takes user:password', { hint: 'for example --creds alice:s3cret; read it from a file with --creds "$(cat creds)"' });
  const parsed: Credentials = { username: creds.slice(0, i), password: creds.slice(i + 1), source: '--creds' };
  return () => Promise.resolve(parsed);
}

/** Reads config.json once (lazily); a missing file means "no credentials". */
export function dockerConfigSource(path: string): CredentialSource {
  let entries: Promise<Map<string, Credentials>> | undefined;
  const load = async (): Promise<Map<string, Credentials>> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return new Map();
      throw toLocalIOError(err, `reading ${path}`);
    }
    return parseDockerConfig(text, path);
  };
  return async (registry) => (await (entries ??= load())).get(configKey(registry));
}

/** Parses a docker config.json into credentials keyed by configKey(); `source` is `path`. */
export function parseDockerConfig(text: string, path: string): Map<string, Credentials> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON`, { cause: err, hint: 'fix the file or point DOCKER_CONFIG elsewhere' });
  }
  const auths = (json as { auths?: unknown } | null)?.auths;
  const out = new Map<string, Credentials>();
  if (auths === null || typeof auths !== 'object') return out;
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const creds = parseAuthEntry(entry, key, path);
    // The first entry for a host wins; "host" and "https://host" rarely both exist.
    if (creds !== undefined && !out.has(configKey(key))) out.set(configKey(key), creds);
  }
  return out;
}

function parseAuthEntry(entry: unknown, key: string, path: string): Credentials | undefined {
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
  if (username === undefined && identityToken === undefined) return undefined; // an empty {} placeholder left by a credential helper
  return {
    source: path,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(identityToken === undefined ? {} : { identityToken }),
  };
}

/** Normalises a config key or registry name to host[:port]; all Docker Hub names to docker's Hub key. */
export function configKey(keyOrRegistry: string): string {
  let host = keyOrRegistry.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  host = (host.split('/', 1)[0] ?? '').toLowerCase(); // credentials/file_store.go ConvertToHostname
  return DOCKER_HUB_HOSTS.has(host) ? DOCKER_HUB_KEY : host;
}
