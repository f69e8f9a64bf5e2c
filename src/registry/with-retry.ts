/**
 * Retries for SMALL requests only: ping, manifests, tokens. Blob bodies are never sent through this
 * middleware; the transfer engine retries them, resuming from the byte reached (DESIGN.md §4: retries at
 * exactly one level). A retried response is 408, 429 or 5xx, or a retryable network error.
 */
import type { RunContext } from '../context.js';
import { isRetryable } from '../errors.js';
import { parseRetryAfter } from './errors.js';
import { discardBody } from './read-body.js';
import type { Middleware } from './types.js';

export interface RetryOptions {
  /** Total attempts including the first. */
  readonly attempts?: number;
  /** First backoff; doubled per attempt, jittered ×[0.5, 1.5). */
  readonly baseDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the response is returned and becomes the error. */
  readonly maxDelayMs?: number;
}

/** Three attempts, as ggcr's default retry for manifests and tokens (pkg/v1/remote/options.go). */
const DEFAULT_ATTEMPTS = 3;
/** ggcr waits 1 s then 3 s; doubling from 1 s with jitter spreads clients that failed together. */
const DEFAULT_BASE_DELAY_MS = 1_000;
/** c/image caps its 429 backoff at 60 s; longer waits are for the user to decide. */
const DEFAULT_MAX_DELAY_MS = 60_000;

/** Returns whether a status is worth another attempt: 408, 429 and 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Returns a middleware retrying 408/429/5xx and retryable network errors, sleeping through `ctx`. */
export function withRetry(ctx: RunContext, options: RetryOptions = {}): Middleware {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const base = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
  const maxDelay = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const backoff = (attempt: number): number => Math.min(maxDelay, base * 2 ** (attempt - 1) * (0.5 + ctx.random()));
  return (next) => async (req) => {
    for (let attempt = 1; ; attempt++) {
      let delay: number;
      try {
        const res = await next(req);
        if (attempt >= attempts || !isRetryableStatus(res.status)) return res;
        const asked = parseRetryAfter(res.headers['retry-after'], Date.now());
        if (asked !== undefined && asked > maxDelay) return res;
        delay = asked ?? backoff(attempt);
        await discardBody(res.body);
      } catch (err) {
        if (attempt >= attempts || !isRetryable(err) || req.signal?.aborted === true) throw err;
        delay = backoff(attempt);
      }
      await ctx.sleep(delay, req.signal ?? ctx.signal);
    }
  };
}
