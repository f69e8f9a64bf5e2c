import { describe, expect, it } from 'vitest';
import type { PullEvent } from '../../../src/events/types.js';
import { createMetricsCollector, type RunMetrics } from '../../../src/report/metrics.js';
import { escapeLabelValue, formatMetrics } from '../../../src/report/metrics-text.js';
import { at, CONFIG, IMAGE_DIGEST, L1, L2, L3, opening, REF } from './script.js';

function fold(events: readonly PullEvent[]): RunMetrics {
  const collector = createMetricsCollector();
  for (const e of events) collector.apply(e);
  return collector.snapshot();
}

const RESET = { code: 'ERR_NETWORK', message: 'connection reset by peer' };
const STALL = { code: 'ERR_STALLED', message: 'no data for 30s' };

/** Config fetched, L1 in two chunks, L2 reset once then resumed, L3 fetched by another process after a wait. */
function meteredRun(): PullEvent[] {
  return [
    ...opening(),
    at(130, { type: 'blob.started', digest: CONFIG, size: 1_500, attempt: 1, chunks: 1, resumedBytes: 0 }),
    at(130, { type: 'blob.attempt', digest: CONFIG, offset: 0 }),
    at(131, { type: 'blob.waiting', digest: L3, holder: 'pid 7 on ci-3' }),
    at(135, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 2, resumedBytes: 0 }),
    at(135, { type: 'blob.attempt', digest: L1, offset: 0 }),
    at(140, { type: 'blob.attempt.done', digest: CONFIG, outcome: 'succeeded', bytes: 1_500 }),
    at(141, { type: 'blob.done', digest: CONFIG, size: 1_500, from: 'network', bytesFetched: 1_500 }),
    at(150, { type: 'blob.attempt', digest: L1, offset: 15_000_000 }),
    at(160, { type: 'blob.started', digest: L2, size: 20_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
    at(160, { type: 'blob.attempt', digest: L2, offset: 0 }),
    at(900, { type: 'blob.attempt.done', digest: L2, outcome: 'failed', bytes: 4_000_000, error: RESET }),
    at(900, { type: 'blob.retry', digest: L2, attempt: 2, maxAttempts: 5, delayMs: 100, error: RESET }),
    at(1_000, { type: 'blob.attempt', digest: L2, offset: 4_000_000 }),
    at(1_631, { type: 'blob.done', digest: L3, size: 5_000_000, from: 'other-process', bytesFetched: 0 }),
    at(2_000, { type: 'blob.attempt.done', digest: L1, outcome: 'succeeded', bytes: 15_000_000 }),
    at(2_100, { type: 'blob.attempt.done', digest: L1, outcome: 'succeeded', bytes: 15_000_000 }),
    at(2_101, { type: 'blob.done', digest: L1, size: 30_000_000, from: 'network', bytesFetched: 30_000_000 }),
    at(2_900, { type: 'blob.attempt.done', digest: L2, outcome: 'succeeded', bytes: 16_000_000 }),
    at(2_901, { type: 'blob.done', digest: L2, size: 20_000_000, from: 'network', bytesFetched: 20_000_000 }),
    at(2_950, { type: 'image.done', ref: REF, digest: IMAGE_DIGEST, ok: true }),
    at(3_000, { type: 'run.done', ok: true }),
  ];
}

describe('metrics collector', () => {
  it('accounts for every attempt, blob, byte source, retry reason and lock wait of a run', () => {
    expect(fold(meteredRun())).toEqual({
      durationMs: 3_000,
      finished: true,
      ok: true,
      images: { succeeded: 1, failed: 0 },
      attempts: { started: 5, succeeded: 4, failed: 1, cancelled: 0, unfinished: 0 },
      blobs: { network: 3, cache: 0, 'other-process': 1, failed: 0, unfinished: 0 },
      // network: every byte received, the 4 MB of the failed attempt included
      bytes: { network: 50_001_500, cache: 0, 'other-process': 5_000_000 },
      retries: { ERR_NETWORK: 1 },
      lockWaits: 1,
      lockWaitMs: 1_500,
    });
  });

  it('keeps the counts of a run that failed and never reached run.done, open attempts and blobs as unfinished', () => {
    const m = fold([
      ...opening(),
      at(130, { type: 'blob.cached', digest: CONFIG, size: 1_500 }),
      at(135, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
      at(135, { type: 'blob.attempt', digest: L1, offset: 0 }),
      at(500, { type: 'blob.attempt.done', digest: L1, outcome: 'failed', bytes: 0, error: STALL }),
      at(500, { type: 'blob.retry', digest: L1, attempt: 2, maxAttempts: 2, delayMs: 100, error: STALL }),
      at(600, { type: 'blob.attempt', digest: L1, offset: 0 }),
      at(700, { type: 'blob.attempt.done', digest: L1, outcome: 'failed', bytes: 10, error: RESET }),
      at(701, { type: 'blob.failed', digest: L1, error: { code: 'ERR_RETRIES_EXHAUSTED', message: '2 attempts failed' } }),
      at(702, { type: 'blob.started', digest: L2, size: 20_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
      at(702, { type: 'blob.attempt', digest: L2, offset: 0 }),
      at(703, { type: 'blob.waiting', digest: L3, holder: 'pid 9 on ci-1' }),
      at(900, { type: 'blob.attempt', digest: L2, offset: 0 }),
      at(950, { type: 'blob.attempt.done', digest: L2, outcome: 'cancelled', bytes: 20, error: { code: 'ERR_ABORTED', message: 'interrupted' } }),
    ]);
    expect(m.finished).toBe(false);
    expect(m.ok).toBe(false);
    expect(m.durationMs).toBe(950);
    expect(m.attempts).toEqual({ started: 4, succeeded: 0, failed: 2, cancelled: 1, unfinished: 1 });
    expect(m.blobs).toEqual({ network: 0, cache: 1, 'other-process': 0, failed: 1, unfinished: 2 });
    expect(m.bytes).toEqual({ network: 30, cache: 1_500, 'other-process': 0 });
    expect(m.retries).toEqual({ ERR_STALLED: 1 });
    // still waiting when the events stopped: counted up to the last event
    expect([m.lockWaits, m.lockWaitMs]).toEqual([1, 247]);
  });

  it('ends a lock wait when this process takes the blob over and starts it itself', () => {
    const m = fold([
      ...opening(),
      at(200, { type: 'blob.waiting', digest: L1, holder: 'pid 7 on ci-3' }),
      at(200, { type: 'blob.waiting', digest: L1, holder: 'pid 7 on ci-3, 100 bytes so far' }),
      at(1_200, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 1, resumedBytes: 100 }),
      at(5_000, { type: 'blob.done', digest: L1, size: 30_000_000, from: 'network', bytesFetched: 29_999_900 }),
    ]);
    expect(m.lockWaits).toBe(2);
    expect(m.lockWaitMs).toBe(1_000);
  });
});

describe('metrics text', () => {
  it('writes Prometheus exposition text: HELP and TYPE per family, dray_ prefix, labels for outcome, source and reason', () => {
    const text = formatMetrics(fold(meteredRun()), { endedAtMs: 1_700_000_000_123, exitCode: 0 });
    expect(text).toContain(
      [
        '# HELP dray_last_run_blob_attempts HTTP requests for blob bytes in the last run, counted where the scheduler starts them, by outcome (unfinished: still open when the run ended).',
        '# TYPE dray_last_run_blob_attempts gauge',
        'dray_last_run_blob_attempts{outcome="success"} 4',
        'dray_last_run_blob_attempts{outcome="failure"} 1',
        'dray_last_run_blob_attempts{outcome="cancelled"} 0',
        'dray_last_run_blob_attempts{outcome="unfinished"} 0',
      ].join('\n'),
    );
    expect(text).toContain('dray_last_run_timestamp_seconds 1700000000.123\n');
    expect(text).toContain('dray_last_run_success 1\n');
    expect(text).toContain('dray_last_run_exit_code 0\n');
    expect(text).toContain('dray_last_run_duration_seconds 3\n');
    expect(text).toContain('dray_last_run_bytes{source="network"} 50001500\n');
    expect(text).toContain('dray_last_run_bytes{source="other-process"} 5000000\n');
    expect(text).toContain('dray_last_run_blobs{outcome="other-process"} 1\n');
    expect(text).toContain('dray_last_run_retries{reason="ERR_NETWORK"} 1\n');
    expect(text).toContain('dray_last_run_lock_wait_seconds 1.5\n');
    expect(text).not.toContain('peak_concurrent');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('gives every sample line a declared family, and every family exactly one HELP and one TYPE', () => {
    const text = formatMetrics(fold(meteredRun()), { endedAtMs: 0, stats: { attempts: { started: 5, succeeded: 4, failed: 1, cancelled: 0 }, blobs: { fetched: 3, cached: 0, waited: 1, failed: 0 }, retries: 1, bytesFetched: 50_001_500, peakActive: 3 } });
    const lines = text.trimEnd().split('\n');
    const typed = new Set(lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
    const helped = lines.filter((l) => l.startsWith('# HELP ')).map((l) => l.split(' ')[2]);
    expect(helped.length).toBe(typed.size);
    expect(new Set(helped)).toEqual(typed);
    for (const line of lines.filter((l) => !l.startsWith('#'))) {
      const m = /^(dray_[a-z_]+)(\{[a-z_]+="[^"\\\n]*"(,[a-z_]+="[^"\\\n]*")*\})? (-?[0-9.e+]+)$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(typed.has(m![1]!), line).toBe(true);
    }
    expect(text).toContain('dray_last_run_peak_concurrent_bodies 3\n');
  });

  it('reports a run that never finished as unsuccessful, whatever its images did', () => {
    const events = meteredRun().filter((e) => e.type !== 'run.done');
    expect(formatMetrics(fold(events), { endedAtMs: 0 })).toContain('dray_last_run_success 0\n');
  });

  it('escapes backslash, quote and newline in label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });
});
