/** Transfer rate over a sliding window: reacts to a stall within the window, smooth enough to read. */

/** How far back a rate looks: long enough to smooth chunk bursts, short enough that a stall shows within seconds. */
export const DEFAULT_RATE_WINDOW_MS = 5_000;

export interface RateMeter {
  /** Records the running byte count at run time `t`. */
  add(t: number, bytes: number): void;
  /** Bytes per second over the window ending at `now`; 0 when nothing moved in it. */
  rate(now: number): number;
}

/** Returns an empty meter. */
export function createRateMeter(windowMs = DEFAULT_RATE_WINDOW_MS): RateMeter {
  const samples: { t: number; bytes: number }[] = [];
  const trim = (now: number) => {
    // Keep one sample at or before the window's start, so the window is always fully covered.
    while (samples.length > 1 && samples[1]!.t <= now - windowMs) samples.shift();
  };
  return {
    add(t, bytes) {
      const last = samples[samples.length - 1];
      if (last && last.t === t) last.bytes = bytes;
      else samples.push({ t, bytes });
      trim(t);
    },
    rate(now) {
      trim(now);
      const first = samples[0];
      const last = samples[samples.length - 1];
      if (!first || !last || last.bytes <= first.bytes) return 0;
      return ((last.bytes - first.bytes) * 1000) / Math.max(now - first.t, 1);
    },
  };
}
