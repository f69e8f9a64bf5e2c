/** Attempt and blob counters of a run, for metrics (DESIGN.md §5: every attempt counted where it starts). */
import type { TransferStats } from './types.js';

export interface StatsRecorder {
  attemptStarted(): void;
  attemptEnded(outcome: 'succeeded' | 'failed' | 'cancelled'): void;
  retried(): void;
  blob(outcome: 'fetched' | 'cached' | 'waited' | 'failed', bytesFetched?: number): void;
  snapshot(): TransferStats;
  /** Attempts started and not yet ended. */
  activeAttempts(): number;
}

/** Returns zeroed counters. */
export function createStatsRecorder(): StatsRecorder {
  const attempts = { started: 0, succeeded: 0, failed: 0, cancelled: 0 };
  const blobs = { fetched: 0, cached: 0, waited: 0, failed: 0 };
  let retries = 0;
  let bytesFetched = 0;
  let active = 0;
  let peakActive = 0;
  return {
    attemptStarted() {
      attempts.started++;
      active++;
      peakActive = Math.max(peakActive, active);
    },
    attemptEnded(outcome) {
      attempts[outcome]++;
      active--;
    },
    retried() {
      retries++;
    },
    blob(outcome, bytes = 0) {
      blobs[outcome]++;
      bytesFetched += bytes;
    },
    snapshot: () => ({ attempts: { ...attempts }, blobs: { ...blobs }, retries, bytesFetched, peakActive }),
    activeAttempts: () => active,
  };
}
