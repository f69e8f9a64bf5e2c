import { describe, expect, it } from 'vitest';
import { retryDelay, type RetryPolicy } from '../../../src/transfer/retry.js';

const policy: RetryPolicy = { baseDelayMs: 200, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 };

describe('retryDelay', () => {
  it.each([
    // attempt, random, expected: full jitter over min(cap, base·2^(attempt−1))
    [1, 0.5, 100],
    [2, 0.5, 200],
    [3, 0.5, 400],
    [1, 0, 0],
    [1, 0.999, 199],
    [8, 0.5, 12_800],
    [9, 0.5, 15_000], // 51 200 capped to 30 000
    [50, 0.5, 15_000], // huge exponents stay at the cap
    [0, 0.5, 100], // attempt below 1 is treated as the first retry
  ])('attempt %i with random %f waits %i ms', (attempt, random, expected) => {
    expect(retryDelay(policy, attempt, undefined, () => random)).toBe(expected);
  });

  it.each([
    [5_000, 5_000],
    [0, 0],
    [1_234.2, 1_235],
    [600_000, 60_000], // capped at maxRetryAfterMs
  ])('Retry-After %f ms wins over backoff: waits %i ms', (retryAfter, expected) => {
    expect(retryDelay(policy, 3, retryAfter, () => 0.5)).toBe(expected);
  });

  it('ignores a nonsensical Retry-After and backs off instead', () => {
    expect(retryDelay(policy, 2, Number.NaN, () => 0.5)).toBe(200);
    expect(retryDelay(policy, 2, -5, () => 0.5)).toBe(200);
  });
});
