/**
 * Pull quotas (Docker Hub): reads `RateLimit-Limit` / `RateLimit-Remaining` (`100;w=21600`: 100 pulls
 * per 21600 s window; docs.docker.com "Docker Hub usage and limits"), warns once when a registry's quota
 * is nearly spent, and turns a 429 whose wait exceeds the run's --max-wait into a RateLimitStopError
 * that says when the limit resets and what to do, instead of sleeping for hours. A 429 within the
 * limit is passed on, and the retry layers (with-retry.ts, the transfer engine) wait it out.
 */
import type { RunContext } from '../context.js';
import { RateLimitStopError } from '../errors.js';
import { parseRetryAfter } from './errors.js';
import { discardBody } from './read-body.js';
import type { Middleware } from './types.js';

/** c/image caps its 429 wait at 60 s; the transfer engine's maxRetryAfterMs default agrees. */
export const DEFAULT_MAX_WAIT_MS = 60_000;
/** Warn when at most this share of the quota is left: 10 % of Docker Hub's 100 anonymous pulls is 10 pulls. */
const LOW_QUOTA_SHARE = 0.1;

export interface RateLimitInfo {
  readonly limit: number;
  readonly remaining?: number;
  /** The window in seconds (`w=`), when given. */
  readonly windowSeconds?: number;
}

/** Parses the quota headers; undefined when the registry sent none. */
export function parseRateLimit(headers: Readonly<Record<string, string | undefined>>): RateLimitInfo | undefined {
  const limit = parseQuota(headers['ratelimit-limit']);
  if (limit === undefined) return undefined;
  const remaining = parseQuota(headers['ratelimit-remaining']);
  const windowSeconds = limit.window ?? remaining?.window;
  return {
    limit: limit.count,
    ...(remaining !== undefined ? { remaining: remaining.count } : {}),
    ...(windowSeconds !== undefined ? { windowSeconds } : {}),
  };
}

function parseQuota(value: string | undefined): { count: number; window?: number } | undefined {
  const m = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(value ?? '');
  if (!m) return undefined;
  return { count: Number(m[1]), ...(m[2] !== undefined ? { window: Number(m[2]) } : {}) };
}

export interface RateLimitOptions {
  /** The registry as the user knows it, for messages ("docker.io"). */
  readonly registry: string;
  /** Longest 429 wait to sit through; longer ones stop the run. */
  readonly maxWaitMs?: number;
  /** Wall clock for Retry-After dates and reset times; Date.now by default. */
  readonly nowMs?: () => number;
}

/** Returns the quota middleware for one registry (one instance per registry: it warns once). */
export function withRateLimit(ctx: RunContext, options: RateLimitOptions): Middleware {
  const maxWait = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const wallNow = options.nowMs ?? Date.now;
  let warned = false;
  return (next) => async (req) => {
    const res = await next(req);
    const info = parseRateLimit(res.headers);
    if (info?.remaining !== undefined && !warned && info.remaining <= info.limit * LOW_QUOTA_SHARE) {
      warned = true;
      ctx.emit({ type: 'warning', code: 'registry.quota-low', message: `${options.registry}: ${info.remaining} of ${describeQuota(info)} left; ${QUOTA_ADVICE}` });
    }
    if (res.status !== 429) return res;
    const now = wallNow();
    const retryAfter = parseRetryAfter(res.headers['retry-after'], now);
    // Without Retry-After, a spent quota resets at most one window from now (Docker Hub sends no Reset).
    const spent = info?.remaining === 0 && info.windowSeconds !== undefined;
    const wait = retryAfter ?? (spent ? info.windowSeconds! * 1000 : undefined);
    if (wait === undefined || wait <= maxWait) return res;
    await discardBody(res.body);
    throw rateLimitStop(options.registry, info, retryAfter !== undefined ? now + retryAfter : undefined, wait, maxWait);
  };
}

const QUOTA_ADVICE = 'log in (docker login, or --creds) for a higher limit, or pull through a mirror (--mirror)';

function rateLimitStop(registry: string, info: RateLimitInfo | undefined, resetAtMs: number | undefined, waitMs: number, maxWaitMs: number): RateLimitStopError {
  const quota = info === undefined ? '' : ` (${describeQuota(info)})`;
  const when = resetAtMs !== undefined ? `resets at ${new Date(resetAtMs).toISOString()} (in ${formatWait(waitMs)})` : `resets within ${formatWait(waitMs)}`;
  return new RateLimitStopError(`${registry} rate limit reached${quota}; it ${when}, longer than --max-wait ${formatWait(maxWaitMs)}`, resetAtMs, {
    hint: `${QUOTA_ADVICE}; or raise --max-wait to wait for it`,
  });
}

function describeQuota(info: RateLimitInfo): string {
  return info.windowSeconds === undefined ? `${info.limit} requests` : `${info.limit} pulls per ${formatWait(info.windowSeconds * 1000)}`;
}

/** "6h", "5h 59m", "45s". */
export function formatWait(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h === 0) return `${m}m${s % 60 ? ` ${s % 60}s` : ''}`;
  return m === 0 ? `${h}h` : `${h}h ${m}m`;
}
