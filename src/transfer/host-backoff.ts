/**
 * One backoff state per registry host (BlobSource.key). A 429 or 503 with Retry-After pauses every new
 * request to that host until the time passes, rather than each chunk hammering it on its own clock
 * (regclient's per-host backoff; anchors-pullers.md §4.4).
 */
import type { RunContext } from '../context.js';

export interface HostBackoff {
  /** Pauses new requests to `key` for `ms` from now (extends, never shortens, a running pause). */
  pause(key: string, ms: number): void;
  /** Milliseconds left of the pause on `key`; 0 when requests may go. */
  remaining(key: string): number;
  /** Resolves when `key` is not paused; rejects with AbortedError if `signal` fires first. */
  wait(key: string, signal: AbortSignal): Promise<void>;
}

/** Returns a backoff registry on the context's clock. */
export function createHostBackoff(clock: Pick<RunContext, 'now' | 'sleep'>): HostBackoff {
  const until = new Map<string, number>();
  const remaining = (key: string): number => {
    const t = until.get(key);
    if (t === undefined) return 0;
    const left = t - clock.now();
    if (left > 0) return left;
    until.delete(key);
    return 0;
  };
  return {
    pause(key, ms) {
      if (!(ms > 0)) return;
      const t = clock.now() + ms;
      until.set(key, Math.max(t, until.get(key) ?? 0));
    },
    remaining,
    async wait(key, signal) {
      for (;;) {
        const left = remaining(key);
        if (left === 0) return;
        const target = until.get(key);
        await clock.sleep(Math.ceil(left), signal);
        // Slept the whole pause: it is over even if the clock is a test's frozen one. Only a pause
        // extended meanwhile (another 429) makes us wait again.
        if (until.get(key) === target) {
          until.delete(key);
          return;
        }
      }
    },
  };
}
