/**
 * Follows redirects ourselves (undici 7 follows none): registries send blobs to storage/CDNs with 307/302,
 * and credentials must not follow them there (distribution-spec "MUST NOT forward Authorization headers
 * across host boundaries"; S3 rejects a presigned URL that also carries Authorization, renovate#3877).
 * Once a chain has left the request's origin, credential headers stay dropped even if a later hop comes
 * back (Go CVE-2024-45336). The response carries the final URL.
 */
import { RegistryError } from '../errors.js';
import { discardBody } from './read-body.js';
import type { HttpRequest, Middleware } from './types.js';

/** Redirect hops followed before giving up; containerd and Go's http.Client stop at 10. */
const DEFAULT_MAX_REDIRECTS = 10;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Headers that carry credentials and never cross an origin boundary. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** Returns a middleware that follows up to `max` redirects, dropping credential headers on origin change. */
export function withRedirects(options: { readonly max?: number } = {}): Middleware {
  const max = options.max ?? DEFAULT_MAX_REDIRECTS;
  return (next) => async (first) => {
    let req = first;
    for (let hop = 0; ; hop++) {
      const res = await next(req);
      const location = res.headers.location;
      if (!REDIRECT_STATUSES.has(res.status) || location === undefined) return res;
      await discardBody(res.body);
      if (hop >= max) {
        throw new RegistryError({ method: first.method, url: first.url.toString() }, res.status, [], {
          message: `${first.method} ${first.url.host} redirected more than ${max} times`,
        });
      }
      req = redirectRequest(req, res.status, new URL(location, req.url));
    }
  };
}

function redirectRequest(req: HttpRequest, status: number, target: URL): HttpRequest {
  const headers: Record<string, string> = { ...req.headers };
  if (target.origin !== req.url.origin) {
    for (const name of Object.keys(headers)) {
      if (CREDENTIAL_HEADERS.has(name.toLowerCase())) delete headers[name];
    }
  }
  // RFC 9110 §15.4.4: 303 turns the request into a GET without a body; 301/302 do the same for POST in practice.
  if (status === 303 || (req.method === 'POST' && (status === 301 || status === 302))) {
    delete headers['content-type'];
    delete headers['content-length'];
    const { body: _body, ...rest } = req;
    return { ...rest, method: status === 303 && req.method === 'HEAD' ? 'HEAD' : 'GET', url: target, headers };
  }
  return { ...req, url: target, headers };
}
