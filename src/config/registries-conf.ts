/**
 * containers-registries.conf(5), version 2 (ecosystem.md §5.1): `[[registry]]` tables with `prefix`,
 * `location`, `insecure`, `blocked`, `mirror-by-digest-only` and `[[registry.mirror]]` (`location`,
 * `insecure`, `pull-from-mirror`). The longest matching prefix wins; `*.example.com` matches subdomains.
 * Version 1's `[registries.insecure] registries = [...]` is read too. Short-name aliases and search
 * registries are not used: dray normalises unqualified names to docker.io, as docker does.
 */
import { readFile } from 'node:fs/promises';
import { errorCode, UsageError } from '../errors.js';
import { parseToml, type TomlTable, type TomlValue } from './toml.js';

/** The system file; CONTAINERS_REGISTRIES_CONF overrides it, as in containers/image. */
export const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';

export interface MirrorRule {
  readonly location: string;
  readonly insecure: boolean;
  readonly pullFromMirror: 'all' | 'digest-only' | 'tag-only';
}

export interface RegistryRule {
  readonly prefix: string;
  readonly location: string;
  readonly insecure: boolean;
  readonly blocked: boolean;
  readonly mirrorByDigestOnly: boolean;
  readonly mirrors: readonly MirrorRule[];
}

export interface RegistriesConf {
  readonly rules: readonly RegistryRule[];
}

/** Reads the file; a missing file is an empty configuration. */
export async function readRegistriesConf(path: string, signal?: AbortSignal): Promise<RegistriesConf> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { rules: [] };
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseRegistriesConf(text, path);
}

/** Parses registries.conf text. */
export function parseRegistriesConf(text: string, source: string): RegistriesConf {
  const doc = parseToml(text, source);
  const rules: RegistryRule[] = [];
  for (const table of tables(doc.registry, source, 'registry')) {
    const location = str(table.location, source, 'location') ?? '';
    const prefix = str(table.prefix, source, 'prefix') ?? location;
    if (prefix === '') throw new UsageError(`${source}: a [[registry]] needs a prefix or a location`);
    rules.push({
      prefix,
      location: location === '' ? prefix : location,
      insecure: bool(table.insecure, source, 'insecure'),
      blocked: bool(table.blocked, source, 'blocked'),
      mirrorByDigestOnly: bool(table['mirror-by-digest-only'], source, 'mirror-by-digest-only'),
      mirrors: tables(table.mirror, source, 'registry.mirror').map((m) => {
        const pull = str(m['pull-from-mirror'], source, 'pull-from-mirror') ?? 'all';
        if (pull !== 'all' && pull !== 'digest-only' && pull !== 'tag-only') throw new UsageError(`${source}: pull-from-mirror must be all, digest-only or tag-only, not ${pull}`);
        const mirrorLocation = str(m.location, source, 'mirror location');
        if (mirrorLocation === undefined) throw new UsageError(`${source}: a [[registry.mirror]] needs a location`);
        return { location: mirrorLocation, insecure: bool(m.insecure, source, 'insecure'), pullFromMirror: pull };
      }),
    });
  }
  // v1: [registries.insecure] registries = ["host", ...]
  const v1 = (doc.registries as TomlTable | undefined)?.insecure as TomlTable | undefined;
  for (const host of (v1?.registries as TomlValue[] | undefined) ?? []) {
    if (typeof host === 'string') rules.push({ prefix: host, location: host, insecure: true, blocked: false, mirrorByDigestOnly: false, mirrors: [] });
  }
  return { rules };
}

/** Returns the rule with the longest prefix matching `name` ("docker.io/library/alpine"), if any. */
export function matchRegistryRule(conf: RegistriesConf, name: string): RegistryRule | undefined {
  let best: RegistryRule | undefined;
  for (const rule of conf.rules) {
    if (!prefixMatches(rule.prefix, name)) continue;
    if (best === undefined || rule.prefix.length > best.prefix.length) best = rule;
  }
  return best;
}

/** Rewrites `name` under the rule: the matched prefix is replaced by `location` (a mirror's or the rule's). */
export function rewriteName(rule: RegistryRule, name: string, location: string): string {
  if (rule.prefix.startsWith('*.')) return name.replace(/^[^/]+/, location === rule.prefix ? name.split('/', 1)[0]! : location);
  return `${location}${name.slice(rule.prefix.length)}`;
}

function prefixMatches(prefix: string, name: string): boolean {
  if (prefix.startsWith('*.')) {
    const domain = name.split('/', 1)[0]!;
    return domain.endsWith(prefix.slice(1));
  }
  return name === prefix || name.startsWith(`${prefix}/`);
}

function tables(value: TomlValue | undefined, source: string, what: string): TomlTable[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new UsageError(`${source}: ${what} must be an array of tables ([[${what}]])`);
  return (value as TomlValue[]).map((t) => {
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new UsageError(`${source}: ${what} must hold tables`);
    return t as TomlTable;
  });
}

function str(v: TomlValue | undefined, source: string, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`${source}: ${what} must be a string`);
  return v;
}

function bool(v: TomlValue | undefined, source: string, what: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new UsageError(`${source}: ${what} must be true or false`);
  return v;
}
