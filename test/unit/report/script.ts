// Scripted event streams for the renderer tests: what src/pull.ts and the transfer engine emit, in order.
import type { PullEvent, PullEventBody } from '../../../src/events/types.js';

export const REF = 'docker.io/library/alpine:3.20';
export const IMAGE_DIGEST = `sha256:${'d0'.repeat(32)}`;
export const CONFIG = `sha256:${'c0'.repeat(32)}`;
export const L1 = `sha256:${'a1'.repeat(32)}`;
export const L2 = `sha256:${'b2'.repeat(32)}`;
export const L3 = `sha256:${'e3'.repeat(32)}`;

/** Stamps bodies with `t`. */
export function at(t: number, body: PullEventBody): PullEvent {
  return { ...body, t } as PullEvent;
}

/** The opening of a run: one image, a config and three layers planned (30 MB, 20 MB, 5 MB). */
export function opening(): PullEvent[] {
  return [
    at(0, { type: 'run.started', version: '0.1.0', schema: 1, refs: [REF] }),
    at(1, { type: 'resolve.started', ref: REF }),
    at(120, { type: 'resolve.done', ref: REF, digest: IMAGE_DIGEST, platform: 'linux/amd64', layers: 3, size: 55_001_500 }),
    at(121, { type: 'blob.planned', ref: REF, digest: CONFIG, role: 'config', order: 0, size: 1_500 }),
    at(121, { type: 'blob.planned', ref: REF, digest: L1, role: 'layer', order: 1, size: 30_000_000 }),
    at(121, { type: 'blob.planned', ref: REF, digest: L2, role: 'layer', order: 2, size: 20_000_000 }),
    at(121, { type: 'blob.planned', ref: REF, digest: L3, role: 'layer', order: 3, size: 5_000_000 }),
  ];
}

const RESET = { code: 'ERR_NETWORK', message: 'connection reset by peer' };

/** A whole run: config fetched, layer 3 cached, layer 1 in 4 chunks, layer 2 retried once and resumed. */
export function scriptedRun(): PullEvent[] {
  return [
    ...opening(),
    at(125, { type: 'blob.cached', digest: L3, size: 5_000_000 }),
    at(130, { type: 'blob.started', digest: CONFIG, size: 1_500, attempt: 1, chunks: 1, resumedBytes: 0 }),
    at(135, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 4, resumedBytes: 0 }),
    at(140, { type: 'blob.started', digest: L2, size: 20_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
    at(150, { type: 'blob.progress', digest: CONFIG, bytes: 1_500, total: 1_500 }),
    at(151, { type: 'blob.verifying', digest: CONFIG }),
    at(152, { type: 'blob.done', digest: CONFIG, size: 1_500, from: 'network', bytesFetched: 1_500 }),
    at(1_135, { type: 'blob.progress', digest: L1, bytes: 10_000_000, total: 30_000_000 }),
    at(1_140, { type: 'blob.progress', digest: L2, bytes: 5_000_000, total: 20_000_000 }),
    at(1_500, { type: 'blob.retry', digest: L2, attempt: 2, maxAttempts: 5, delayMs: 400, error: RESET }),
    at(2_135, { type: 'blob.progress', digest: L1, bytes: 30_000_000, total: 30_000_000 }),
    at(2_136, { type: 'blob.verifying', digest: L1 }),
    at(2_200, { type: 'blob.done', digest: L1, size: 30_000_000, from: 'network', bytesFetched: 30_000_000 }),
    at(2_900, { type: 'blob.progress', digest: L2, bytes: 20_000_000, total: 20_000_000 }),
    at(2_901, { type: 'blob.verifying', digest: L2 }),
    at(3_000, { type: 'blob.done', digest: L2, size: 20_000_000, from: 'network', bytesFetched: 20_000_000 }),
    at(3_001, { type: 'image.done', ref: REF, digest: IMAGE_DIGEST, ok: true }),
    at(3_002, { type: 'run.done', ok: true }),
  ];
}

/** A manual clock and interval: the test moves time and fires the ticks. */
export function fakeTime() {
  let now = 0;
  const tickers: { ms: number; tick: () => void; stopped: boolean }[] = [];
  return {
    now: () => now,
    set: (ms: number) => void (now = ms),
    startInterval: (ms: number, tick: () => void) => {
      const ticker = { ms, tick, stopped: false };
      tickers.push(ticker);
      return { stop: () => void (ticker.stopped = true) };
    },
    /** Moves the clock to `ms` and fires every live ticker once, as the interval would. */
    beat(ms: number) {
      now = ms;
      for (const t of tickers) if (!t.stopped) t.tick();
    },
    tickers,
  };
}

/** A TextSink collecting what is written. */
export function collect() {
  const chunks: string[] = [];
  return { write: (s: string) => void chunks.push(s), text: () => chunks.join(''), chunks };
}
