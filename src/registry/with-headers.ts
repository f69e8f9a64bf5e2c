/** Default request headers (User-Agent) added to every request that does not set them itself. */
import type { Middleware } from './types.js';

/** Returns a middleware adding `defaults` (lower-case names) under the request's own headers. */
export function withHeaders(defaults: Readonly<Record<string, string>>): Middleware {
  return (next) => (req) => next({ ...req, headers: { ...defaults, ...req.headers } });
}
