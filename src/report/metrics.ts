/**
 * Run metrics as a fold of the event stream (issue 6): every request for blob bytes by outcome, every
 * blob by where it came from, bytes by source, retries by reason, lock waits and their durations.
 * Counted from events, not from pull()'s result, so a run that failed, threw or was interrupted still
 * accounts for everything it did: the CLI sees the events whatever pull() returns. Pure: no clock, no I/O.
 */
import type { AttemptOutcome, BlobSourceKind, PullEvent } from '../events/types.js';

/** The run's counters as plain data; `formatMetrics` turns them into Prometheus text. */
export interface RunMetrics {
  /** Run time of the last event seen: run.done's when the run ended normally. */
  readonly durationMs: number;
  /** run.done seen: false when the run stopped before its end (a run-level error, a crash). */
  readonly finished: boolean;
  /** run.done's verdict; false when unfinished. */
  readonly ok: boolean;
  readonly images: { readonly succeeded: number; readonly failed: number };
  /** Requests for blob bytes; `unfinished` = started but not yet ended when the snapshot was taken. */
  readonly attempts: Readonly<Record<AttemptOutcome | 'started' | 'unfinished', number>>;
  /** Distinct blobs by how they ended; `unfinished` = planned or started but never ended. */
  readonly blobs: Readonly<Record<BlobSourceKind | 'failed' | 'unfinished', number>>;
  /** Network: bytes received over every attempt, failed ones included. Cache, other-process: blob sizes. */
  readonly bytes: Readonly<Record<BlobSourceKind, number>>;
  /** Retries by the error code that caused them (ERR_NETWORK, ERR_STALLED, ERR_INTEGRITY…). */
  readonly retries: Readonly<Record<string, number>>;
  /** Times a blob waited for another process holding its lock, and the total time spent waiting. */
  readonly lockWaits: number;
  readonly lockWaitMs: number;
}

/** A fold over one run's events. */
export interface MetricsCollector {
  apply(event: PullEvent): void;
  /** The counters so far; valid at any point, also after a run that never reached run.done. */
  snapshot(): RunMetrics;
}

type BlobEnd = BlobSourceKind | 'failed';

/** Returns an empty collector. */
export function createMetricsCollector(): MetricsCollector {
  const attempts = { started: 0, succeeded: 0, failed: 0, cancelled: 0 };
  const images = { succeeded: 0, failed: 0 };
  const ends = new Map<string, BlobEnd | undefined>(); // every digest seen; undefined until it ends
  const sizes = new Map<string, number>();
  const retries: Record<string, number> = {};
  const waitingSince = new Map<string, number>();
  let networkBytes = 0;
  let lockWaits = 0;
  let lockWaitMs = 0;
  let lastT = 0;
  let done: { ok: boolean } | undefined;

  const seen = (digest: string) => {
    if (!ends.has(digest)) ends.set(digest, undefined);
  };
  // A wait ends with whatever happens next to the blob: it lands, fails, or this process takes it over.
  const stopWaiting = (digest: string, t: number) => {
    const since = waitingSince.get(digest);
    if (since === undefined) return;
    lockWaitMs += t - since;
    waitingSince.delete(digest);
  };
  const end = (digest: string, how: BlobEnd, size: number, t: number) => {
    stopWaiting(digest, t);
    ends.set(digest, how);
    sizes.set(digest, size);
  };

  const handlers: { [K in PullEvent['type']]?: (e: Extract<PullEvent, { type: K }>) => void } = {
    'blob.planned': (e) => seen(e.digest),
    'blob.waiting': (e) => {
      seen(e.digest);
      lockWaits += 1;
      if (!waitingSince.has(e.digest)) waitingSince.set(e.digest, e.t);
    },
    'blob.started': (e) => {
      seen(e.digest);
      stopWaiting(e.digest, e.t);
    },
    'blob.attempt': () => void (attempts.started += 1),
    'blob.attempt.done': (e) => {
      attempts[e.outcome] += 1;
      networkBytes += e.bytes;
    },
    'blob.retry': (e) => void (retries[e.error.code] = (retries[e.error.code] ?? 0) + 1),
    'blob.cached': (e) => end(e.digest, 'cache', e.size, e.t),
    'blob.done': (e) => end(e.digest, e.from, e.size, e.t),
    'blob.failed': (e) => end(e.digest, 'failed', 0, e.t),
    'image.done': (e) => void (e.ok ? (images.succeeded += 1) : (images.failed += 1)),
    'run.done': (e) => void (done = { ok: e.ok }),
  };

  return {
    apply(event) {
      lastT = Math.max(lastT, event.t);
      (handlers[event.type] as ((e: PullEvent) => void) | undefined)?.(event);
    },
    snapshot() {
      const blobs = { network: 0, cache: 0, 'other-process': 0, failed: 0, unfinished: 0 };
      const bytes = { network: networkBytes, cache: 0, 'other-process': 0 };
      for (const [digest, how] of ends) {
        blobs[how ?? 'unfinished'] += 1;
        if (how === 'cache' || how === 'other-process') bytes[how] += sizes.get(digest) ?? 0;
      }
      const ended = attempts.succeeded + attempts.failed + attempts.cancelled;
      let waitMs = lockWaitMs;
      for (const since of waitingSince.values()) waitMs += lastT - since; // still waiting at the end
      return {
        durationMs: lastT,
        finished: done !== undefined,
        ok: done?.ok ?? false,
        images: { ...images },
        attempts: { ...attempts, unfinished: attempts.started - ended },
        blobs,
        bytes,
        retries: { ...retries },
        lockWaits,
        lockWaitMs: waitMs,
      };
    },
  };
}
