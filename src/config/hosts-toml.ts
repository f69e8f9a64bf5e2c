/**
 * containerd's hosts.toml (ecosystem.md §5.3, containerd docs/hosts.md): `<hosts-dir>/<host[:port]>/hosts.toml`
 * (then `host_port_`, then `_default`), a top-level `server` (the upstream) and `[host."URL"]` tables tried
 * in file order, each with `capabilities`, `ca`, `client`, `skip_verify`. Relative paths are relative to
 * the file. `override_path` and path prefixes other than /v2 are refused rather than misread.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { errorCode, UsageError } from '../errors.js';
import { parseToml, type TomlTable, type TomlValue } from './toml.js';

/** containerd's default config_path for hosts (CRI plugin `registry.config_path` in the docs' examples). */
export const DEFAULT_HOSTS_DIR = '/etc/containerd/certs.d';

export interface HostEntry {
  /** scheme://host[:port] */
  readonly origin: string;
  readonly capabilities: readonly string[];
  /** CA file paths, absolute. */
  readonly ca: readonly string[];
  /** Client [cert, key] file paths, absolute (key undefined: the cert file holds both). */
  readonly client: readonly (readonly [string, string | undefined])[];
  readonly skipVerify: boolean;
}

export interface HostsConfig {
  readonly file: string;
  /** The upstream origin, when the file names one. */
  readonly server?: HostEntry;
  /** Mirrors in file order. */
  readonly hosts: readonly HostEntry[];
}

/** Reads the hosts.toml for a registry domain ("docker.io", "localhost:5000"); undefined when there is none. */
export async function readHostsConfig(hostsDir: string, domain: string, signal?: AbortSignal): Promise<HostsConfig | undefined> {
  const names = [domain, ...(domain.includes(':') ? [`${domain.replace(':', '_')}_`] : []), '_default'];
  for (const name of names) {
    const file = join(hostsDir, name, 'hosts.toml');
    let text: string;
    try {
      text = await readFile(file, { encoding: 'utf8', ...(signal ? { signal } : {}) });
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') continue;
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    return parseHostsToml(text, file);
  }
  return undefined;
}

/** Parses hosts.toml text read from `file`. */
export function parseHostsToml(text: string, file: string): HostsConfig {
  const doc = parseToml(text, file);
  const server = typeof doc.server === 'string' ? hostEntry(doc.server, doc, file) : undefined;
  const hostTables = (doc.host ?? {}) as TomlTable;
  const hosts = Object.entries(hostTables).map(([url, table]) => hostEntry(url, table as TomlTable, file));
  return { file, ...(server ? { server } : {}), hosts };
}

function hostEntry(url: string, table: TomlTable, file: string): HostEntry {
  let parsed: URL;
  try {
    parsed = new URL(/^[a-z]+:\/\//i.test(url) ? url : `https://${url}`);
  } catch {
    throw new UsageError(`${file}: "${url}" is not a URL`);
  }
  if (!['', '/', '/v2', '/v2/'].includes(parsed.pathname) || table.override_path === true) {
    throw new UsageError(`${file}: ${url}: path prefixes and override_path are not supported`, { hint: 'point the host at the registry root (https://mirror.example)' });
  }
  const rel = (p: string): string => (isAbsolute(p) ? p : join(dirname(file), p));
  const strings = (v: TomlValue | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
  const client = clientPairs(table.client).map(([c, k]) => [rel(c), k === undefined ? undefined : rel(k)] as const);
  return {
    origin: parsed.origin,
    capabilities: table.capabilities === undefined ? ['pull', 'resolve'] : strings(table.capabilities),
    ca: strings(table.ca).map(rel),
    client,
    skipVerify: table.skip_verify === true,
  };
}

/** `client` is a path, a list of paths, or a list of [cert, key] pairs. */
function clientPairs(v: TomlValue | undefined): [string, string | undefined][] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [[v, undefined]];
  if (!Array.isArray(v)) return [];
  return (v as TomlValue[]).flatMap((item): [string, string | undefined][] => {
    if (typeof item === 'string') return [[item, undefined]];
    if (Array.isArray(item) && typeof item[0] === 'string') return [[item[0], typeof item[1] === 'string' ? item[1] : undefined]];
    return [];
  });
}
