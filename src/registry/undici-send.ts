/**
 * The one importer of undici (DESIGN.md §2): turns an HttpRequest into a request on a keep-alive Agent.
 * Nothing here follows redirects, retries or authenticates; the middlewares do (compose.ts).
 */
import { Agent } from 'undici';
import { AbortedError, NetworkError, redactUrl } from '../errors.js';
import type { HttpResponse, Send } from './types.js';

/** Connections per origin: docker pulls 3 layers at once, the transfer engine asks for more when links are slow. */
const DEFAULT_CONNECTIONS = 16;
/** TCP + TLS setup limit; Go's net.Dialer in docker/containerd uses 30 s. */
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Time to response headers; registries answering slower than a minute are treated as down (ggcr uses no limit, docker 10 s for pings). */
const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
/** Idle keep-alive sockets live this long; docker's transport keeps them 90 s, undici defaults to 4 s. */
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 30_000;

export interface UndiciSendOptions {
  /** Skip TLS verification (the caller uses this only for hosts marked insecure). */
  readonly insecureTls?: boolean;
  /** Maximum connections per origin. */
  readonly connections?: number;
}

/** Returns a Send over one undici Agent, and close() to release its sockets. */
export function createUndiciSend(options: UndiciSendOptions = {}): { send: Send; close(): Promise<void> } {
  const agent = new Agent({
    connections: options.connections ?? DEFAULT_CONNECTIONS,
    pipelining: 1,
    keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    headersTimeout: DEFAULT_HEADERS_TIMEOUT_MS,
    // The transfer engine runs its own read-idle timeout and turns a stall into a resume; a body timeout
    // here would race it with a less useful error.
    bodyTimeout: 0,
    connect: { timeout: DEFAULT_CONNECT_TIMEOUT_MS, ...(options.insecureTls ? { rejectUnauthorized: false } : {}) },
    // No redirect interceptor is installed, so undici 7 follows no redirects (the maxRedirections: 0 of
    // undici 6): with-redirects.ts follows them and decides which headers may cross origins.
  });
  const send: Send = async (req) => {
    try {
      const res = await agent.request({
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
      throw new NetworkError(`${req.method} ${redactUrl(req.url)} failed: ${detail}`, { cause: err });
    }
  };
  return { send, close: () => agent.close() };
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
