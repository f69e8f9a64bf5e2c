/**
 * The one importer of undici (DESIGN.md §2): turns an HttpRequest into a request on a keep-alive
 * dispatcher. One dispatcher per distinct (proxy, TLS settings) pair, created on first use and cached,
 * so hosts with their own CA or client certificate get their own pool and every other host shares one.
 * Proxied https requests tunnel through CONNECT; proxied http requests are forwarded as absolute URIs
 * (what proxies that allow CONNECT only to 443 expect). Nothing here follows redirects, retries or
 * authenticates; the middlewares do (compose.ts).
 */
import type { Agent as AgentClass, buildConnector as BuildConnector, Dispatcher, ProxyAgent as ProxyAgentClass } from 'undici';
// Start-up: undici's index also loads fetch, WebSocket, EventSource, caches and mocks, about 120 ms of
// a small pull's 0.45 s start on the bench machine; a pull needs two dispatcher classes and the request
// API. undici ships no types for these files, so the classes are typed from the package root.
// @ts-expect-error -- untyped undici internal (see above)
import dispatcherModule from 'undici/lib/dispatcher/dispatcher.js';
// @ts-expect-error -- untyped undici internal (see above)
import apiModule from 'undici/lib/api/index.js';
// @ts-expect-error -- untyped undici internal (see above)
import agentModule from 'undici/lib/dispatcher/agent.js';
// @ts-expect-error -- untyped undici internal (see above)
import buildConnectorModule from 'undici/lib/core/connect.js';
// @ts-expect-error -- untyped undici internal (see above)
import proxyAgentModule from 'undici/lib/dispatcher/proxy-agent.js';
import { AbortedError, errorCode, NetworkError, redactUrl } from '../errors.js';
import { originPort, type EarlyConnections } from './early-connect.js';
import { tlsConnectOptions, tlsKey, type TlsConnectOptions, type TlsSettings } from './tls.js';
import type { HttpResponse, Send } from './types.js';

// What undici's index does on load (index.js: Object.assign(Dispatcher.prototype, api)): request() and
// the connect() that ProxyAgent's CONNECT tunnel uses live on every dispatcher.
Object.assign((dispatcherModule as { prototype: object }).prototype, apiModule as object);
const Agent = agentModule as typeof AgentClass;
const ProxyAgent = proxyAgentModule as typeof ProxyAgentClass;
const buildConnector = buildConnectorModule as (options: BuildConnector.BuildOptions) => BuildConnector.connector;

/** Connections per origin: docker pulls 3 layers at once, the transfer engine asks for more when links are slow. */
const DEFAULT_CONNECTIONS = 16;
/** TCP + TLS setup limit; Go's net.Dialer in docker/containerd uses 30 s. */
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Time to response headers; registries answering slower than a minute are treated as down (ggcr uses no limit, docker 10 s for pings). */
const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
/** Idle keep-alive sockets live this long; docker's transport keeps them 90 s, undici defaults to 4 s. */
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 30_000;
/**
 * Longest response head accepted: Node's default, set here because the bundle leaves out node:http,
 * where undici would read it (scripts/bundle.js).
 */
const MAX_HEADER_BYTES = 16 * 1024;

/** Node/OpenSSL codes of a certificate the client refused or the server demanded (a TLS server did answer). */
const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/** Returns whether a NetworkError from send() is a TLS certificate failure. */
export function isCertificateError(err: unknown): boolean {
  return err instanceof NetworkError && CERT_ERROR.test(errorCode(err.cause) ?? '');
}

export interface UndiciSendOptions {
  /** Skip TLS verification for every host (used when no `tls` resolver is given). */
  readonly insecureTls?: boolean;
  /** Maximum connections per origin. */
  readonly connections?: number;
  /** TLS settings of a host[:port]; default: system roots, verified unless insecureTls. */
  readonly tls?: (host: string, signal?: AbortSignal) => Promise<TlsSettings>;
  /** The proxy for a URL, or undefined to connect directly. */
  readonly proxy?: (url: URL) => URL | undefined;
  /** Connections opened before the run started (registry/early-connect.ts), used by direct connections to their origin. */
  readonly early?: EarlyConnections;
}

/** Returns a Send over cached undici dispatchers, and close() to release their sockets. */
export function createUndiciSend(options: UndiciSendOptions = {}): { send: Send; close(): Promise<void> } {
  const dispatchers = new Map<string, Dispatcher>();
  const fallbackTls: TlsSettings = { ca: [], verify: options.insecureTls !== true };
  const tlsKeys = new WeakMap<TlsSettings, string>(); // the resolver caches settings per host: hash each once
  const keyOf = (tls: TlsSettings): string => {
    let k = tlsKeys.get(tls);
    if (k === undefined) tlsKeys.set(tls, (k = tlsKey(tls)));
    return k;
  };
  // One set of connect options (one TLS context, ~45 ms to build) per distinct settings: an HTTPS
  // proxy and the registries behind it usually have the same ones.
  const connectOptions = new Map<string, TlsConnectOptions>();
  const connectOptionsOf = (tls: TlsSettings): TlsConnectOptions => {
    const k = keyOf(tls);
    let o = connectOptions.get(k);
    if (o === undefined) connectOptions.set(k, (o = tlsConnectOptions(tls)));
    return o;
  };
  const tlsOf = async (url: URL, signal?: AbortSignal): Promise<TlsSettings | undefined> =>
    url.protocol === 'https:' ? ((await options.tls?.(url.host, signal)) ?? fallbackTls) : undefined;
  const dispatcherFor = async (url: URL, signal?: AbortSignal): Promise<Dispatcher> => {
    const tls = await tlsOf(url, signal);
    const proxy = options.proxy?.(url);
    // an HTTPS proxy is verified like a registry host: the run's extra CAs and its certs dir
    const proxyTls = proxy === undefined ? undefined : await tlsOf(proxy, signal);
    const key = `${proxy?.href ?? 'direct'} ${proxyTls === undefined ? 'plain' : keyOf(proxyTls)} ${tls === undefined ? 'plain' : keyOf(tls)}`;
    let d = dispatchers.get(key);
    if (d === undefined) {
      const proxied = proxy && { url: proxy, tls: proxyTls && connectOptionsOf(proxyTls) };
      d = createDispatcher(options.connections ?? DEFAULT_CONNECTIONS, tls && connectOptionsOf(tls), proxied, options.early);
      dispatchers.set(key, d);
    }
    return d;
  };
  const send: Send = async (req) => {
    const dispatcher = await dispatcherFor(req.url, req.signal); // a bad certs dir is a usage error, not a network one
    try {
      const res = await dispatcher.request({
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method,
        headers: req.headers,
        body: req.body ?? null,
        signal: req.signal ?? null,
      });
      const response: HttpResponse = { status: res.statusCode, headers: flattenHeaders(res.headers), url: req.url, body: res.body };
      return response;
    } catch (err) {
      if (req.signal?.aborted) throw new AbortedError('interrupted', { cause: err });
      const detail = err instanceof Error ? err.message : String(err);
      const hint = CERT_ERROR.test(errorCode(err) ?? '')
        ? `the TLS certificate of ${req.url.host} is not trusted: add its CA (--ca-file, or a certs dir: HOST/ca.crt), or allow it with --insecure-registry ${req.url.host}`
        : undefined;
      throw new NetworkError(`${req.method} ${redactUrl(req.url)} failed: ${detail}`, { cause: err, ...(hint ? { hint } : {}) });
    }
  };
  return {
    send,
    close: async () => {
      options.early?.close();
      await Promise.all([...dispatchers.values()].map((d) => d.close()));
      dispatchers.clear();
    },
  };
}

/** `tls`: the target's connect options, undefined for plain HTTP; the proxy's likewise. */
function createDispatcher(connections: number, tls: TlsConnectOptions | undefined, proxy: { url: URL; tls: TlsConnectOptions | undefined } | undefined, early: EarlyConnections | undefined): Dispatcher {
  const common = {
    connections,
    pipelining: 1,
    keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    headersTimeout: DEFAULT_HEADERS_TIMEOUT_MS,
    maxHeaderSize: MAX_HEADER_BYTES,
    // The transfer engine runs its own read-idle timeout and turns a stall into a resume; a body timeout
    // here would race it with a less useful error.
    bodyTimeout: 0,
    // No redirect interceptor is installed, so undici 7 follows no redirects (the maxRedirections: 0 of
    // undici 6): with-redirects.ts follows them and decides which headers may cross origins.
  };
  const target = { timeout: DEFAULT_CONNECT_TIMEOUT_MS, ...tls };
  if (proxy === undefined) return new Agent({ ...common, connect: early ? withEarly(buildConnector(target), early) : target });
  // ProxyAgent ignores `connect` for the target: its TLS goes in requestTls (undici docs ProxyAgent.md).
  return new ProxyAgent({
    ...common,
    uri: proxy.url.href,
    requestTls: target,
    proxyTls: { timeout: DEFAULT_CONNECT_TIMEOUT_MS, ...proxy.tls },
    proxyTunnel: tls !== undefined,
  });
}

/**
 * A connector that first takes an early connection to the origin: TLS runs over it with the
 * dispatcher's own settings; a plain one is handed over once connected. An early connection that
 * failed falls back to a fresh one, so its error never reaches a request.
 */
function withEarly(connect: BuildConnector.connector, early: EarlyConnections): BuildConnector.connector {
  return (options, callback) => {
    const socket = options.httpSocket ? undefined : early.take(options.protocol, options.hostname, originPort(options.protocol, options.port));
    if (!socket) return connect(options, callback);
    if (options.protocol === 'https:') return connect({ ...options, httpSocket: socket }, callback);
    const ready = (): void => {
      socket.off('error', failed);
      socket.setNoDelay(true); // what undici's own connector sets
      callback(null, socket);
    };
    const failed = (): void => {
      socket.off('connect', ready);
      connect(options, callback);
    };
    // undici's client must not be called back from inside its own connect call: it then never
    // writes the request (it resumes only after the connector returns).
    if (!socket.connecting) return queueMicrotask(ready);
    socket.once('connect', ready).once('error', failed);
  };
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
