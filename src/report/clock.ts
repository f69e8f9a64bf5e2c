/**
 * Time for renderers, injected so tests drive it: a clock, an interval timer, and the run clock that
 * maps the clock onto the events' `t` (ms since the run started), so a renderer knows how long a layer
 * has been silent even when no event arrives.
 */

/** A running interval; stop() is idempotent. */
export interface Ticker {
  stop(): void;
}

/** Calls `tick` every `ms` until stopped. The real one is unref'd: a renderer never keeps the process alive. */
export type StartInterval = (ms: number, tick: () => void) => Ticker;

/** setInterval, unref'd. */
export const realInterval: StartInterval = (ms, tick) => {
  const handle = setInterval(tick, ms);
  handle.unref();
  return { stop: () => clearInterval(handle) };
};

/** Run time now, in the events' time base. */
export interface RunClock {
  /** Anchors the clock on an event's `t` (the first call wins). */
  observe(t: number): void;
  /** Milliseconds since the run started; the latest observed `t` before any anchor. */
  now(): number;
}

/** Returns a run clock on `now` (monotonic ms, e.g. performance.now). */
export function createRunClock(now: () => number): RunClock {
  let offset: number | undefined;
  let latest = 0;
  return {
    observe(t) {
      offset ??= now() - t;
      latest = Math.max(latest, t);
    },
    now: () => (offset === undefined ? latest : Math.max(latest, now() - offset)),
  };
}
