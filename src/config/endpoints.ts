/**
 * Where a repository is pulled from: the mirrors named by `--mirror`, registries.conf and hosts.toml, in
 * that order, then the upstream (possibly relocated by registries.conf `location` or hosts.toml
 * `server`). Loads each registry's hosts.toml once, hands its CAs and client certificates to the TLS
 * resolver, and records which hosts the configuration marks insecure.
 */
import { UsageError } from '../errors.js';
import { DOCKER_HUB_REGISTRY } from '../reference/parse.js';
import type { Endpoint, EndpointPlan } from '../registry/mirrors.js';
import { readPem, type TlsResolver } from '../registry/tls.js';
import { readHostsConfig, type HostEntry, type HostsConfig } from './hosts-toml.js';
import { matchRegistryRule, rewriteName, type RegistriesConf } from './registries-conf.js';

/** A `--mirror [REGISTRY=]MIRROR` value: without REGISTRY it mirrors Docker Hub, like docker's registry-mirrors. */
export interface MirrorFlag {
  /** The registry domain mirrored ("docker.io", "ghcr.io"). */
  readonly registry: string;
  /** host[:port][/namespace], optionally with http:// or https://. */
  readonly location: string;
}

/** Parses "[REGISTRY=]MIRROR". */
export function parseMirrorFlag(text: string): MirrorFlag {
  const eq = text.indexOf('=');
  const registry = eq === -1 ? 'docker.io' : text.slice(0, eq).trim();
  const location = (eq === -1 ? text : text.slice(eq + 1)).trim().replace(/\/+$/, '');
  if (registry === '' || location === '' || /\s/.test(location)) {
    throw new UsageError(`--mirror takes [REGISTRY=]HOST[:PORT][/NAMESPACE], not "${text}"`, { hint: 'e.g. --mirror mirror.example:5000 (for Docker Hub) or --mirror ghcr.io=mirror.example' });
  }
  return { registry: registry === 'index.docker.io' ? 'docker.io' : registry, location };
}

export interface EndpointSources {
  readonly mirrors?: readonly MirrorFlag[];
  readonly registriesConf?: RegistriesConf;
  readonly hostsDir?: string;
  /** --insecure, --insecure-registry. */
  readonly insecure: (host: string) => boolean;
}

/** The planner of a run: plans per registry, and the insecure hosts its configuration named. */
export interface EndpointPlanner {
  plan(registry: string, signal?: AbortSignal): EndpointPlan;
  /** Whether configuration (registries.conf, hosts.toml) marks the host insecure. */
  insecure(host: string): boolean;
}

/** Returns the run's planner; the TLS resolver receives hosts.toml's certificates. */
export function createEndpointPlanner(sources: EndpointSources, tls: TlsResolver): EndpointPlanner {
  const insecureHosts = new Set<string>();
  const hostsConfigs = new Map<string, Promise<HostsConfig | undefined>>();
  const loadHosts = (domain: string, signal?: AbortSignal): Promise<HostsConfig | undefined> => {
    if (sources.hostsDir === undefined) return Promise.resolve(undefined);
    let p = hostsConfigs.get(domain);
    if (p === undefined) {
      p = readHostsConfig(sources.hostsDir, domain, signal).then(async (conf) => {
        for (const h of conf ? [...conf.hosts, ...(conf.server ? [conf.server] : [])] : []) await defineTls(tls, h, signal);
        return conf;
      });
      hostsConfigs.set(domain, p);
    }
    return p;
  };
  const isInsecure = (host: string): boolean => sources.insecure(host) || insecureHosts.has(host);
  return {
    insecure: (host) => insecureHosts.has(host),
    plan: (registry, signal) => async (repository) => {
      const domain = registry === DOCKER_HUB_REGISTRY ? 'docker.io' : registry;
      const name = `${domain}/${repository}`;
      const out: Endpoint[] = [];
      const add = (e: Endpoint): void => {
        if (e.insecure) insecureHosts.add(e.host);
        if (!out.some((o) => o.host === e.host && o.repository === e.repository)) out.push(e);
      };
      for (const m of sources.mirrors ?? []) {
        if (m.registry === domain) add(endpointAt(m.location, name.slice(domain.length), true, isInsecure, 'all'));
      }
      const rule = sources.registriesConf ? matchRegistryRule(sources.registriesConf, name) : undefined;
      if (rule?.blocked) throw new UsageError(`${domain} is blocked by registries.conf (prefix ${rule.prefix})`);
      for (const m of rule?.mirrors ?? []) {
        const serves = rule!.mirrorByDigestOnly ? 'digest-only' : m.pullFromMirror;
        add(endpointAt('', rewriteName(rule!, name, m.location), true, (h) => m.insecure || isInsecure(h), serves));
      }
      const hosts = await loadHosts(domain, signal);
      for (const h of hosts?.hosts ?? []) {
        if (!h.capabilities.includes('pull')) continue;
        if (h.skipVerify) insecureHosts.add(new URL(h.origin).host);
        add(endpointAt(h.origin, name.slice(domain.length), true, isInsecure, h.capabilities.includes('resolve') ? 'all' : 'digest-only'));
      }
      const upstream = hosts?.server
        ? endpointAt(hosts.server.origin, name.slice(domain.length), false, isInsecure, 'all')
        : rule && rule.location !== rule.prefix
          ? endpointAt('', rewriteName(rule, name, rule.location), false, (h) => rule.insecure || isInsecure(h), 'all')
          : { host: registry, repository, insecure: (rule?.insecure ?? false) || isInsecure(registry), mirror: false, serves: 'all' as const };
      if (upstream.insecure) insecureHosts.add(upstream.host);
      return [...out.filter((e) => !(e.host === upstream.host && e.repository === upstream.repository)), upstream];
    },
  };
}

/** An endpoint for `location` + `rest` ("mirror:5000/ns" + "/library/alpine"), scheme taken from the location. */
function endpointAt(location: string, rest: string, mirror: boolean, insecure: (host: string) => boolean, serves: Endpoint['serves']): Endpoint {
  const full = `${location}${rest}`;
  const m = /^(https?):\/\/(.*)$/i.exec(full);
  const scheme = m ? (m[1]!.toLowerCase() as 'http' | 'https') : undefined;
  const path = m ? m[2]! : full;
  const slash = path.indexOf('/');
  const host = slash === -1 ? path : path.slice(0, slash);
  const repository = slash === -1 ? '' : path.slice(slash + 1);
  if (host === '' || repository === '') throw new UsageError(`cannot pull ${rest.slice(1)} from "${location}"`);
  return { host, repository, insecure: insecure(host), mirror, serves, ...(scheme ? { scheme } : {}) };
}

async function defineTls(tls: TlsResolver, h: HostEntry, signal?: AbortSignal): Promise<void> {
  const ca = await Promise.all(h.ca.map((p) => readPem(p, signal)));
  const [pair] = h.client;
  const cert = pair ? await readPem(pair[0], signal) : undefined;
  const key = pair ? await readPem(pair[1] ?? pair[0], signal) : undefined;
  if (ca.length === 0 && cert === undefined && !h.skipVerify) return;
  tls.define(new URL(h.origin).host, { ca, ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}), ...(h.skipVerify ? { verify: false } : {}) });
}
