/**
 * Which proxy a request goes through (ecosystem.md §5.6). The CLI reads the environment; this module
 * only decides, so the rules are table-tested:
 * - `https:` URLs use https_proxy, else HTTPS_PROXY; `http:` URLs use http_proxy, else HTTP_PROXY. The
 *   lower-case name wins when both are set (curl, wget and undici; Go reads upper case first). An https
 *   request never falls back to HTTP_PROXY (curl and Go agree; undici's EnvHttpProxyAgent differs).
 * - no_proxy, else NO_PROXY: entries separated by commas or spaces; `*` alone disables proxying;
 *   `example.com` and `.example.com` match the host and its subdomains; `host:port` matches that port
 *   only; `10.0.0.0/8` and `fd00::/8` match addresses in the range. Loopback hosts are proxied unless
 *   listed (curl's behaviour; Go never proxies them), so list `localhost,127.0.0.1` when a proxy is set.
 * - A proxy URL without a scheme means http://, as curl and Go read it.
 */
import { BlockList, isIP } from 'node:net';
import { UsageError } from '../errors.js';

/** The proxy variables, as the environment had them (either case). */
export interface ProxyEnv {
  readonly [name: string]: string | undefined;
}

/** The effective proxy configuration after case precedence. */
export interface ProxyConfig {
  readonly httpProxy?: URL;
  readonly httpsProxy?: URL;
  readonly noProxy: readonly string[];
}

/** Reads the proxy configuration from environment variables (lower case first). */
export function proxyConfigFromEnv(env: ProxyEnv): ProxyConfig {
  const pick = (name: string): string | undefined => nonEmpty(env[name]) ?? nonEmpty(env[name.toUpperCase()]);
  const httpProxy = parseProxyUrl(pick('http_proxy'), 'http_proxy');
  const httpsProxy = parseProxyUrl(pick('https_proxy'), 'https_proxy');
  return {
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    noProxy: (pick('no_proxy') ?? '').split(/[\s,]+/).filter((e) => e !== ''),
  };
}

/** Returns the proxy for `url`, or undefined to connect directly. */
export function proxyFor(config: ProxyConfig, url: URL): URL | undefined {
  const proxy = url.protocol === 'https:' ? config.httpsProxy : url.protocol === 'http:' ? config.httpProxy : undefined;
  if (proxy === undefined) return undefined;
  return bypassed(config.noProxy, url) ? undefined : proxy;
}

/** Returns whether a NO_PROXY list exempts the URL. */
export function bypassed(noProxy: readonly string[], url: URL): boolean {
  if (noProxy.length === 1 && noProxy[0] === '*') return true;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return noProxy.some((entry) => matches(entry.toLowerCase(), host, port));
}

function matches(entry: string, host: string, port: string): boolean {
  if (entry.includes('/')) return inCidr(entry, host);
  let name = entry;
  const portMatch = /^(.*?):(\d+)$/.exec(entry);
  if (portMatch && !isIP(entry)) {
    if (portMatch[2] !== port) return false;
    name = portMatch[1]!;
  }
  name = name.replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
  if (name === '') return false;
  return host === name || host.endsWith(`.${name}`);
}

function inCidr(entry: string, host: string): boolean {
  const family = isIP(host);
  const [network, bits] = entry.split('/');
  const netFamily = isIP(network ?? '');
  if (family === 0 || netFamily !== family || !/^\d+$/.test(bits ?? '')) return false;
  const list = new BlockList();
  try {
    list.addSubnet(network!, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false; // a prefix length out of range matches nothing, as Go ignores the entry
  }
  return list.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

function parseProxyUrl(value: string | undefined, name: string): URL | undefined {
  if (value === undefined) return undefined;
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${name} uses ${url.protocol.slice(0, -1)}; dray speaks to http:// and https:// proxies`);
  }
  return url;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}
