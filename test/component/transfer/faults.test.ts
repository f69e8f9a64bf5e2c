import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseLedger } from '../../../src/cache/ledger.js';
import { AbortedError, ExitCode, IntegrityError, NotFoundError, RetriesExhaustedError } from '../../../src/errors.js';
import { makeBytes } from './blob-source-double.js';
import { KiB, cleanupHarnesses, createHarness, eventsOf, readCommitted } from './harness.js';

afterEach(cleanupHarnesses);

describe('transfer manager: faults', () => {
  it('resumes a reset small blob from the byte reached', async () => {
    const h = await createHarness({}, (_req, n) => (n === 0 ? { kind: 'reset', afterBytes: 40 * KiB } : undefined));
    const bytes = makeBytes(100 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests.map((r) => r.range)).toEqual([undefined, { start: 40 * KiB, end: 100 * KiB - 1 }]);
    expect(eventsOf(h.events, 'blob.retry')).toEqual([
      expect.objectContaining({ attempt: 2, maxAttempts: 5, delayMs: 100, error: expect.objectContaining({ code: 'ERR_UNEXPECTED' }) }),
    ]);
    expect(h.sleeps).toEqual([100]); // full jitter of the 200 ms base with random() = 0.5
    expect(eventsOf(h.events, 'blob.done')[0]).toMatchObject({ bytesFetched: 100 * KiB });
  });

  it('resumes a reset chunk with exactly its missing bytes', async () => {
    const h = await createHarness({}, (req, n) =>
      req.range?.start === 128 * KiB && n < 5 ? { kind: 'reset', afterBytes: 16 * KiB } : undefined,
    );
    const bytes = makeBytes(256 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    const third = h.source.requests.filter((r) => r.range && r.range.start >= 128 * KiB && r.range.end < 192 * KiB);
    expect(third.map((r) => r.range)).toEqual([
      { start: 128 * KiB, end: 192 * KiB - 1 },
      { start: 144 * KiB, end: 192 * KiB - 1 },
    ]);
  });

  it('serves a blob as one stream when the server answers Range with 200', async () => {
    const h = await createHarness({}, () => ({ kind: 'ignore-range' }));
    const bytes = makeBytes(300 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests.map((r) => r.range)).toEqual([{ start: 0, end: 64 * KiB - 1 }]);
    expect(eventsOf(h.events, 'blob.done')[0]).toMatchObject({ bytesFetched: 300 * KiB });
  });

  it('rewrites a resumed blob from byte 0 when the server ignores the resume Range', async () => {
    const h = await createHarness({}, (_req, n) => (n === 0 ? { kind: 'reset', afterBytes: 32 * KiB } : { kind: 'ignore-range' }));
    const bytes = makeBytes(100 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests.map((r) => r.range)).toEqual([undefined, { start: 32 * KiB, end: 100 * KiB - 1 }]);
    // the bar never went backwards while the whole blob was rewritten
    const progress = eventsOf(h.events, 'blob.progress').map((e) => e.bytes);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('falls back to one whole-blob stream after a wrong Content-Range', async () => {
    const h = await createHarness({}, (req) => (req.range?.start === 64 * KiB ? { kind: 'wrong-range' } : undefined));
    const bytes = makeBytes(256 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests.at(-1)!.range).toBeUndefined();
    expect(h.source.requests.filter((r) => r.range === undefined)).toHaveLength(1);
  });

  it('waits out Retry-After on a 429, pausing the host', async () => {
    const h = await createHarness({}, (_req, n) => (n === 0 ? { kind: 'rate-limited', retryAfterMs: 7_000 } : undefined));
    const bytes = makeBytes(256 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.sleeps).toEqual([7_000]);
    expect(eventsOf(h.events, 'blob.retry')).toEqual([
      expect.objectContaining({ delayMs: 7_000, error: expect.objectContaining({ code: 'ERR_RATE_LIMITED', status: 429 }) }),
    ]);
  });

  it('holds back every request to a rate-limited host until its Retry-After has passed', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const h = await createHarness(
      { concurrency: 1 },
      (_req, n) => (n === 0 ? { kind: 'rate-limited', retryAfterMs: 5_000 } : undefined),
      { afterSleep: () => released },
    );
    const a = h.source.add(makeBytes(20 * KiB, 1));
    const b = h.source.add(makeBytes(20 * KiB, 2));
    const both = Promise.all([a, b].map((desc) => h.manager.fetch({ desc, role: 'layer', source: h.source })));
    await waitFor(() => h.sleeps.length === 2);
    // The second blob got the free slot but stood back: the host is paused for both.
    expect(h.source.requests).toHaveLength(1);
    expect(h.sleeps.every((ms) => ms > 4_900 && ms <= 5_000)).toBe(true);
    release();
    await both;
    expect(h.source.requests).toHaveLength(3);
    expect(h.manager.stats().attempts).toMatchObject({ started: 3, failed: 1, succeeded: 2 });
  });

  it('resumes a stalled body after the idle timeout', async () => {
    const h = await createHarness({ idleTimeoutMs: 50 }, (_req, n) => (n === 0 ? { kind: 'stall', afterBytes: 48 * KiB } : undefined));
    const bytes = makeBytes(100 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests.map((r) => r.range)).toEqual([undefined, { start: 48 * KiB, end: 100 * KiB - 1 }]);
    expect(eventsOf(h.events, 'blob.retry')[0]!.error.code).toBe('ERR_STALLED');
    expect(h.source.openBodies).toBe(0);
  });

  it('refetches a corrupt blob once, then succeeds', async () => {
    const h = await createHarness({}, (_req, n) => (n === 0 ? { kind: 'corrupt' } : undefined));
    const bytes = makeBytes(100 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests.map((r) => r.range)).toEqual([undefined, undefined]);
    expect(eventsOf(h.events, 'blob.started').map((e) => e.attempt)).toEqual([1, 2]);
    expect(eventsOf(h.events, 'blob.retry')[0]!.error.code).toBe('ERR_INTEGRITY');
  });

  it('fails with IntegrityError (exit 6) when the refetch is corrupt too, leaving nothing behind', async () => {
    const h = await createHarness({}, () => ({ kind: 'corrupt' }));
    const desc = h.source.add(makeBytes(100 * KiB));
    const err = await h.manager.fetch({ desc, role: 'layer', source: h.source }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).exitCode).toBe(ExitCode.Integrity);
    expect(h.source.requests).toHaveLength(2);
    expect(await h.store.stat(desc.digest)).toBeUndefined();
    expect(await readdir(join(h.root, 'ingest'))).toEqual([]);
    expect(eventsOf(h.events, 'blob.failed')[0]!.error.code).toBe('ERR_INTEGRITY');
  });

  it('fails at once on a 404, without retrying', async () => {
    const h = await createHarness({}, () => ({ kind: 'not-found' }));
    const desc = h.source.add(makeBytes(10 * KiB));
    await expect(h.manager.fetch({ desc, role: 'layer', source: h.source })).rejects.toBeInstanceOf(NotFoundError);
    expect(h.source.requests).toHaveLength(1);
    expect(h.sleeps).toEqual([]);
  });

  it('releases every slot after failures: failing blobs, then a good one, do not deadlock', async () => {
    const h = await createHarness({ concurrency: 2, retries: 2 }, (req) =>
      req.digest === good.digest ? undefined : { kind: 'reset', afterBytes: 8 * KiB },
    );
    const bad = [1, 2, 3].map((seed) => h.source.add(makeBytes(256 * KiB, seed)));
    const good = h.source.add(makeBytes(256 * KiB, 9));
    const results = await Promise.allSettled(bad.map((desc) => h.manager.fetch({ desc, role: 'layer', source: h.source })));
    for (const r of results) expect(r.status === 'rejected' && r.reason).toBeInstanceOf(RetriesExhaustedError);
    expect(h.source.openBodies).toBe(0);
    const info = await h.manager.fetch({ desc: good, role: 'layer', source: h.source });
    expect(info.digest).toBe(good.digest);
    expect(h.source.peakOpen).toBeLessThanOrEqual(2);
    const stats = h.manager.stats();
    expect(stats.attempts.started).toBe(stats.attempts.succeeded + stats.attempts.failed + stats.attempts.cancelled);
    expect(stats.blobs).toMatchObject({ fetched: 1, failed: 3 });
  });

  it('keeps the partial on abort, and the next run requests only the missing bytes', async () => {
    const h = await createHarness({ idleTimeoutMs: 10_000, progressIntervalMs: 0 }, (_req, n) => (n === 0 ? { kind: 'stall', afterBytes: 48 * KiB } : undefined));
    const bytes = makeBytes(100 * KiB);
    const desc = h.source.add(bytes);
    const pending = h.manager.fetch({ desc, role: 'layer', source: h.source });
    await waitFor(() => eventsOf(h.events, 'blob.progress').some((e) => e.bytes >= 48 * KiB));
    h.abort.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    expect(h.source.openBodies).toBe(0);
    expect(h.manager.stats().attempts).toMatchObject({ started: 1, cancelled: 1 });
    const ledger = parseLedger(await readFile(join(h.root, 'ingest', `sha256-${desc.digest.slice(7)}`, 'ledger.json'), 'utf8'));
    expect(ledger?.ranges).toEqual([{ start: 0, end: 48 * KiB - 1 }]);

    const next = h.nextRun();
    const info = await next.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests.at(-1)!.range).toEqual({ start: 48 * KiB, end: 100 * KiB - 1 });
    expect(eventsOf(next.events, 'blob.started')[0]).toMatchObject({ resumedBytes: 48 * KiB });
    expect(eventsOf(next.events, 'blob.done')[0]).toMatchObject({ bytesFetched: 52 * KiB });
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!condition()) throw new Error('condition not met');
}
