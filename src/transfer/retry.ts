/** Retry timing for blob bodies: the one backoff formula (DESIGN.md §4). Pure. */

export interface RetryPolicy {
  /** Backoff ceiling before the first retry; doubles per retry. */
  readonly baseDelayMs: number;
  /** Ceiling of the exponential backoff. */
  readonly maxDelayMs: number;
  /** Ceiling of a server's Retry-After. */
  readonly maxRetryAfterMs: number;
}

/**
 * Returns how long to wait before retry number `attempt` (1 = the first retry). A Retry-After the
 * registry sent (already parsed to ms) wins, capped at maxRetryAfterMs. Otherwise exponential backoff
 * with full jitter — uniform in [0, min(max, base·2^(attempt−1))) — so many chunks failing at once
 * (one reset connection pool) do not come back in lockstep (AWS "Exponential Backoff and Jitter").
 */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, random: () => number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) {
    return Math.min(Math.ceil(retryAfterMs), policy.maxRetryAfterMs);
  }
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
