/**
 * Token buckets for the WAN emulator: bytes per second with a small burst, refilled lazily from a
 * monotonic clock (no timers of their own). The proxy asks how many bytes it may send now and, if
 * none, how long until it may.
 */

/** How much a bucket may hold, in seconds of its rate: 50 ms absorbs a late timer or a busy event
 *  loop (the proxy shares a 2-core machine with the pullers) without losing link time, and is still
 *  short beside the 100 ms RTT the wan scenario emulates. */
const DEFAULT_BURST_SECONDS = 0.05;

/** The smallest burst, so a slow bucket can still pass one 64 KiB socket read at a time. */
const MIN_BURST_BYTES = 64 * 1024;

/** A rate limit in bytes per second. */
export interface TokenBucket {
  /** The most it can ever allow at once; larger writes must be split to this size. */
  readonly burst: number;
  /** Bytes that may be sent now, at most `wanted`. */
  available(wanted: number, now: number): number;
  /** Records that `bytes` were sent (may go briefly negative when another bucket allowed more). */
  take(bytes: number, now: number): void;
  /** Milliseconds until `bytes` (capped at the burst) are available. */
  waitFor(bytes: number, now: number): number;
}

/** Creates a bucket for `bytesPerSecond`, starting full; `now` is in milliseconds. */
export function createTokenBucket(bytesPerSecond: number, now: number): TokenBucket {
  const burst = Math.max(MIN_BURST_BYTES, bytesPerSecond * DEFAULT_BURST_SECONDS);
  let tokens = burst;
  let updatedAt = now;
  const refill = (t: number): void => {
    if (t > updatedAt) {
      tokens = Math.min(burst, tokens + ((t - updatedAt) * bytesPerSecond) / 1000);
      updatedAt = t;
    }
  };
  return {
    burst,
    available(wanted, t) {
      refill(t);
      return Math.max(0, Math.min(wanted, Math.floor(tokens)));
    },
    take(bytes, t) {
      refill(t);
      tokens -= bytes;
    },
    waitFor(bytes, t) {
      refill(t);
      const deficit = Math.min(bytes, burst) - tokens;
      return deficit <= 0 ? 0 : (deficit * 1000) / bytesPerSecond;
    },
  };
}

/** A bucket that never limits, so the proxy has one code path for limited and unlimited links. */
export const UNLIMITED: TokenBucket = {
  burst: Infinity,
  available: (wanted) => wanted,
  take: () => {},
  waitFor: () => 0,
};
