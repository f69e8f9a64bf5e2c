/**
 * A run's network: one undici transport with a dispatcher per (proxy, TLS settings), the TLS resolver
 * (system roots + extra CAs + certs dirs + hosts.toml), the mirror planner, and a registry client per
 * endpoint host. Library callers opt into every system file: nothing under /etc is read unless the
 * options name it (the CLI passes the system defaults).
 */
import type { RunContext } from '../context.js';
import { UsageError } from '../errors.js';
import { createRegistryClient } from '../registry/client.js';
import { createMirroredClient, type Endpoint } from '../registry/mirrors.js';
import type { EarlyConnections } from '../registry/early-connect.js';
import { proxyFor, type ProxyConfig } from '../registry/proxy.js';
import { createTlsResolver, readPem } from '../registry/tls.js';
import type { CredentialLookup, RegistryClient } from '../registry/types.js';
import { createUndiciSend } from '../registry/undici-send.js';
import { DOCKER_HUB_REGISTRY } from '../reference/parse.js';
import { createEndpointPlanner, parseMirrorFlag } from './endpoints.js';
import { readRegistriesConf, type RegistriesConf } from './registries-conf.js';

export interface NetworkOptions {
  /** PEM files whose CAs are added to the system roots for every host (--ca-file, SSL_CERT_FILE). */
  readonly caFiles?: readonly string[];
  /**
   * PEM files added like caFiles, except that one that cannot be read is a warning, as node treats
   * NODE_EXTRA_CA_CERTS (which the CLI passes here: bin/dray.js keeps it from node's own start-up).
   */
  readonly optionalCaFiles?: readonly string[];
  /** certs.d-style directories (`DIR/HOST[:PORT]/*.crt|*.cert|*.key`); none unless given. */
  readonly certsDirs?: readonly string[];
  /** `[REGISTRY=]MIRROR` values, tried in order before any configured mirror. */
  readonly mirrors?: readonly string[];
  /** A registries.conf to read (mirrors, insecure, blocked). */
  readonly registriesConf?: string;
  /** The registries.conf is the system default, not one the user named: one it cannot parse is a warning, not an error. */
  readonly registriesConfIsDefault?: boolean;
  /** A containerd hosts directory (`DIR/HOST/hosts.toml`). */
  readonly hostsDir?: string;
  /** Proxies; none unless given (the CLI reads HTTPS_PROXY etc.). */
  readonly proxy?: ProxyConfig;
  /** Connections the launcher opened before the run (registry/early-connect.ts); unused when a proxy is set. */
  readonly early?: EarlyConnections;
  /** Longest 429 wait to sit through; longer ones stop with a message (--max-wait). */
  readonly maxWaitMs?: number;
}

export interface NetworkClientOptions {
  readonly credentials?: CredentialLookup;
  readonly userAgent?: string;
}

export interface Network {
  /** The client for a registry host: its mirrors first, then the registry itself. */
  client(registry: string, options: NetworkClientOptions): RegistryClient;
  close(): Promise<void>;
}

/** Reads the configured files and sets up the transport; `insecure`: true for every host, or a host list. */
export async function openNetwork(ctx: RunContext, options: NetworkOptions, insecure: boolean | readonly string[] = false): Promise<Network> {
  const flagInsecure = (host: string): boolean => insecure === true || (Array.isArray(insecure) && insecure.includes(host));
  const [required, optional] = await Promise.all([
    Promise.all((options.caFiles ?? []).map((f) => readPem(f, ctx.signal))),
    // SSL_CERT_FILE and NODE_EXTRA_CA_CERTS often name the same bundle: read it, and parse it into each
    // TLS context, once
    Promise.all((options.optionalCaFiles ?? []).filter((f) => !(options.caFiles ?? []).includes(f)).map((f) => readOptionalPem(ctx, f))),
  ]);
  const extraCa = [...required, ...optional.filter((pem) => pem !== undefined)];
  const registriesConf = options.registriesConf === undefined ? undefined : await readConf(ctx, options.registriesConf, options.registriesConfIsDefault === true);
  const mirrors = (options.mirrors ?? []).map(parseMirrorFlag);
  // closures: the planner is created below and consulted only once requests start
  const hostInsecure = (host: string): boolean => flagInsecure(host) || planner.insecure(host);
  const tls = createTlsResolver({
    extraCa,
    certsDirs: [...(options.certsDirs ?? []), ...(options.hostsDir !== undefined ? [options.hostsDir] : [])],
    insecure: hostInsecure,
  });
  const planner = createEndpointPlanner(
    {
      mirrors,
      ...(registriesConf ? { registriesConf } : {}),
      ...(options.hostsDir !== undefined ? { hostsDir: options.hostsDir } : {}),
      insecure: flagInsecure,
    },
    tls,
  );
  const proxy = options.proxy;
  const http = createUndiciSend({
    tls: (host, signal) => tls.forHost(host, signal),
    ...(proxy ? { proxy: (url: URL) => proxyFor(proxy, url) } : {}),
    ...(options.early && !proxy ? { early: options.early } : {}),
  });
  if (proxy) options.early?.close();
  const endpointClients = new Map<string, RegistryClient>();

  const clientFor = (e: Endpoint, base: NetworkClientOptions): RegistryClient => {
    const key = `${e.scheme ?? ''}//${e.host} ${e.insecure} ${e.mirror}`;
    let c = endpointClients.get(key);
    if (c === undefined) {
      c = createRegistryClient(e.host, { send: http.send, ctx }, {
        insecure: e.insecure || hostInsecure(e.host),
        ...(base.credentials ? { credentials: base.credentials } : {}),
        ...(base.userAgent !== undefined ? { userAgent: base.userAgent } : {}),
        ...(e.scheme ? { scheme: e.scheme } : {}),
        // a mirror that fails hands the request to the next source instead of retrying it
        ...(e.mirror ? { attempts: 1 } : {}),
        ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
        displayName: e.host === DOCKER_HUB_REGISTRY ? 'docker.io' : e.host,
      });
      endpointClients.set(key, c);
    }
    return c;
  };

  return {
    client: (registry, base) => createMirroredClient(registry, planner.plan(registry, ctx.signal), { ctx, clientFor: (e) => clientFor(e, base) }),
    close: () => http.close(),
  };
}

async function readConf(ctx: RunContext, path: string, lenient: boolean): Promise<RegistriesConf | undefined> {
  try {
    return await readRegistriesConf(path, ctx.signal);
  } catch (err) {
    if (!lenient || !(err instanceof UsageError)) throw err;
    ctx.emit({ type: 'warning', code: 'config.ignored', message: `ignoring ${path}: ${err.message}` });
    return undefined;
  }
}

/** A PEM that may be missing: undefined, with a warning, when it cannot be read. */
async function readOptionalPem(ctx: RunContext, path: string): Promise<string | undefined> {
  try {
    return await readPem(path, ctx.signal);
  } catch (err) {
    if (!(err instanceof UsageError) || ctx.signal.aborted) throw err;
    ctx.emit({ type: 'warning', code: 'config.ignored', message: `${err.message}; going on without those CAs` });
    return undefined;
  }
}
