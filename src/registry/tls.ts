/**
 * Per-host TLS settings (ecosystem.md §5.2). Extra CAs are ADDED to the roots, never replace them, as
 * docker and containers/image do: Node's `ca` option replaces the bundled roots, so we pass
 * `[...tls.rootCertificates, ...extra]`. Sources, merged per host: run-wide PEMs (--ca-file,
 * SSL_CERT_FILE), `<certs-dir>/<host[:port]>/*.crt` (CAs) and `*.cert` + same-stem `*.key` (client pair)
 * in each certs dir, and settings a hosts.toml defines for a host. A host is insecure (no verification)
 * only when asked: --insecure, --insecure-registry, registries.conf `insecure`, hosts.toml `skip_verify`.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { throwIfAborted } from '../context.js';
import { errorCode, UsageError } from '../errors.js';

/** Where docker and containers/image look for per-host certificates (moby registry.go, c/image docker_client.go). */
export const DEFAULT_CERTS_DIRS: readonly string[] = ['/etc/docker/certs.d', '/etc/containers/certs.d'];

/** TLS material for one host, as PEM text. */
export interface TlsMaterial {
  readonly ca: readonly string[];
  readonly cert?: string;
  readonly key?: string;
}

/** What a connection to one host uses. */
export interface TlsSettings extends TlsMaterial {
  /** false: the certificate is not verified (an insecure host). */
  readonly verify: boolean;
}

export interface TlsResolverOptions {
  /** PEMs added to the roots for every host (--ca-file, SSL_CERT_FILE). */
  readonly extraCa?: readonly string[];
  /** certs.d-style directories; default DEFAULT_CERTS_DIRS. */
  readonly certsDirs?: readonly string[];
  /** Whether a host (host[:port]) is marked insecure. */
  readonly insecure?: (host: string) => boolean;
}

/** Resolves, and caches, the TLS settings of each host. */
export interface TlsResolver {
  forHost(host: string, signal?: AbortSignal): Promise<TlsSettings>;
  /** Adds material for a host (a hosts.toml `ca`/`client`); call before the first request to it. */
  define(host: string, material: TlsMaterial & { readonly verify?: boolean }): void;
}

/** Returns a resolver reading certs dirs lazily, once per host. */
export function createTlsResolver(options: TlsResolverOptions = {}): TlsResolver {
  const dirs = options.certsDirs ?? DEFAULT_CERTS_DIRS;
  const defined = new Map<string, TlsMaterial & { readonly verify?: boolean }>();
  const fromDirs = new Map<string, Promise<TlsMaterial>>();
  const load = (host: string, signal?: AbortSignal): Promise<TlsMaterial> => {
    let p = fromDirs.get(host);
    if (p === undefined) {
      p = loadCertsDirs(dirs, host, signal);
      p.catch(() => fromDirs.delete(host));
      fromDirs.set(host, p);
    }
    return p;
  };
  const settings = new Map<string, TlsSettings>();
  return {
    async forHost(host, signal) {
      const known = settings.get(host);
      if (known !== undefined) return known;
      const files = await load(host, signal);
      const extra = defined.get(host);
      const cert = extra?.cert ?? files.cert;
      const key = extra?.key ?? files.key;
      const resolved: TlsSettings = {
        ca: [...(options.extraCa ?? []), ...files.ca, ...(extra?.ca ?? [])],
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        verify: !(options.insecure?.(host) ?? false) && extra?.verify !== false,
      };
      settings.set(host, resolved);
      return resolved;
    },
    define(host, material) {
      defined.set(host, material);
      settings.delete(host);
    },
  };
}

/**
 * Reads `<dir>/<host>/` in each dir: every `*.crt` is a CA; `X.cert` with `X.key` is the client pair
 * (moby loadTLSConfig). A cert without its key, or the reverse, is a usage error, as in docker.
 */
export async function loadCertsDirs(dirs: readonly string[], host: string, signal?: AbortSignal): Promise<TlsMaterial> {
  const ca: string[] = [];
  let pair: { cert: string; key: string } | undefined;
  for (const dir of dirs) {
    throwIfAborted(signal);
    const hostDir = join(dir, host);
    let names: string[];
    try {
      names = (await readdir(hostDir)).sort();
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') continue;
      throw new UsageError(`cannot read ${hostDir}: ${(err as Error).message}`, { cause: err });
    }
    for (const name of names) {
      if (name.endsWith('.crt')) ca.push(await readPem(join(hostDir, name), signal));
      else if (name.endsWith('.cert') || name.endsWith('.key')) {
        const stem = name.slice(0, name.lastIndexOf('.'));
        const other = name.endsWith('.cert') ? `${stem}.key` : `${stem}.cert`;
        if (!names.includes(other)) throw new UsageError(`${join(hostDir, name)} has no matching ${other}`, { hint: 'a client certificate needs its key beside it (NAME.cert + NAME.key)' });
        if (name.endsWith('.cert') && pair === undefined) {
          pair = { cert: await readPem(join(hostDir, name), signal), key: await readPem(join(hostDir, other), signal) };
        }
      }
    }
  }
  return { ca, ...(pair ?? {}) };
}

/** Reads a PEM file (a CA bundle, a certificate or a key); UsageError naming the file when it cannot. */
export async function readPem(path: string, signal?: AbortSignal): Promise<string> {
  try {
    return await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** What a TLS connection is opened with (undici passes it on to tls.connect). */
export interface TlsConnectOptions {
  readonly secureContext?: SecureContext;
  readonly rejectUnauthorized?: boolean;
}

/**
 * Returns Node TLS options for the settings; without extra CAs or a client pair, Node's default
 * context. The context is built here, once per call (once per distinct settings), not from `ca` on every
 * connection, which is what undici's connector would do: tls.connect parses the whole list into a
 * new store each time, ~45 ms of CPU for the bundled roots plus Debian's bundle on the bench VM.
 */
export function tlsConnectOptions(s: TlsSettings): TlsConnectOptions {
  const custom = s.ca.length > 0 || s.cert !== undefined || s.key !== undefined;
  return {
    ...(custom ? { secureContext: secureContextFor(s) } : {}),
    ...(s.verify ? {} : { rejectUnauthorized: false }),
  };
}

function secureContextFor(s: TlsSettings): SecureContext {
  try {
    return createSecureContext({
      ...(s.ca.length > 0 ? { ca: [...rootCertificates, ...s.ca] } : {}),
      ...(s.cert !== undefined ? { cert: s.cert } : {}),
      ...(s.key !== undefined ? { key: s.key } : {}),
    });
  } catch (err) {
    throw new UsageError(`cannot use the TLS certificates: ${(err as Error).message}`, {
      cause: err,
      hint: 'check the PEM files given by --ca-file, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS and the certs dirs',
    });
  }
}

/** A stable key for the settings: hosts with the same key share one connection pool. */
export function tlsKey(s: TlsSettings): string {
  return createHash('sha256').update(JSON.stringify([s.verify, s.ca, s.cert ?? '', s.key ?? ''])).digest('hex');
}
