/**
 * Network flags shared by pull and inspect (docs/registries.md): TLS (--insecure, --insecure-registry,
 * --ca-file, --certs-dir), mirrors (--mirror, --registries-conf, --hosts-dir), --max-wait; plus the
 * environment they read: SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, CONTAINERS_REGISTRIES_CONF and the proxy variables.
 */
import type { Command } from 'commander';
import { DEFAULT_HOSTS_DIR } from '../config/hosts-toml.js';
import type { NetworkOptions } from '../config/network.js';
import { DEFAULT_REGISTRIES_CONF } from '../config/registries-conf.js';
import { proxyConfigFromEnv } from '../registry/proxy.js';
import { DEFAULT_MAX_WAIT_MS } from '../registry/rate-limit.js';
import { DEFAULT_CERTS_DIRS } from '../registry/tls.js';
import type { CliIo } from './io.js';
import { parseDurationFlag } from './parse-values.js';

export interface NetworkFlags {
  insecure?: boolean;
  insecureRegistry?: string[];
  caFile?: string[];
  certsDir?: string[];
  mirror?: string[];
  registriesConf?: string;
  hostsDir?: string;
  maxWait?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds the network flags to a command. */
export function addNetworkOptions(cmd: Command): Command {
  return cmd
    .option('--insecure', 'allow plain HTTP and unverified TLS for every registry (loopback registries use HTTP anyway)')
    .option('--insecure-registry <host[:port]>', 'allow plain HTTP and unverified TLS for this registry (repeatable)', collect)
    .option('--ca-file <path>', 'PEM file of CAs added to the system roots for every registry (repeatable; SSL_CERT_FILE too)', collect)
    .option('--certs-dir <dir>', `per-registry certificates in DIR/HOST[:PORT]/ (*.crt CAs, *.cert + *.key client pair; repeatable; default ${DEFAULT_CERTS_DIRS.join(', ')})`, collect)
    .option('--mirror <[registry=]host>', 'pull through this mirror first, falling back to the registry (repeatable; without REGISTRY= it mirrors docker.io)', collect)
    .option('--registries-conf <path>', `containers registries.conf for mirrors and insecure registries (default $CONTAINERS_REGISTRIES_CONF, else ${DEFAULT_REGISTRIES_CONF})`)
    .option('--hosts-dir <dir>', `containerd hosts directory, DIR/HOST/hosts.toml (default ${DEFAULT_HOSTS_DIR}; "" disables)`)
    .option('--max-wait <duration>', `longest rate-limit (429) wait to sit through before stopping (default ${DEFAULT_MAX_WAIT_MS / 1000}s)`);
}

/** What the flags and the environment resolve to: SessionOptions.insecure and SessionOptions.network. */
export function networkOptionsFrom(flags: NetworkFlags, io: Pick<CliIo, 'env' | 'early'>): { insecure: boolean | readonly string[]; network: NetworkOptions } {
  const env = io.env.env;
  const sslCertFile = env.SSL_CERT_FILE;
  const nodeExtraCaCerts = env.NODE_EXTRA_CA_CERTS;
  const registriesConf = flags.registriesConf ?? (env.CONTAINERS_REGISTRIES_CONF || DEFAULT_REGISTRIES_CONF);
  const hostsDir = flags.hostsDir ?? DEFAULT_HOSTS_DIR;
  const proxy = proxyConfigFromEnv(env);
  const hasProxy = proxy.httpProxy !== undefined || proxy.httpsProxy !== undefined;
  const network: NetworkOptions = {
    caFiles: [...(sslCertFile ? [sslCertFile] : []), ...(flags.caFile ?? [])],
    ...(nodeExtraCaCerts ? { optionalCaFiles: [nodeExtraCaCerts] } : {}),
    certsDirs: flags.certsDir ?? DEFAULT_CERTS_DIRS,
    mirrors: flags.mirror ?? [],
    ...(registriesConf !== '' ? { registriesConf, registriesConfIsDefault: flags.registriesConf === undefined && !env.CONTAINERS_REGISTRIES_CONF } : {}),
    ...(hostsDir !== '' ? { hostsDir } : {}),
    ...(hasProxy ? { proxy } : {}),
    ...(io.early ? { early: io.early } : {}),
    maxWaitMs: flags.maxWait !== undefined ? parseDurationFlag('--max-wait', flags.maxWait) : DEFAULT_MAX_WAIT_MS,
  };
  return { insecure: flags.insecure ? true : (flags.insecureRegistry ?? []), network };
}
