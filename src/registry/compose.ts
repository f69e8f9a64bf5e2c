/**
 * Composition of the request pipeline (aesthetics.md §4.3): `compose(base, a, b)` is `a(b(base))`, so the
 * first middleware listed sees the request first and the response last, like undici's interceptors and
 * ggcr's nested transports.
 */
import type { Middleware, Send } from './types.js';

/** Returns `base` wrapped by the middlewares, the first listed being the outermost. */
export function compose(base: Send, ...outerFirst: readonly Middleware[]): Send {
  return outerFirst.reduceRight<Send>((next, middleware) => middleware(next), base);
}
