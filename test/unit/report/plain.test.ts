import { describe, expect, it } from 'vitest';
import { createPlainRenderer } from '../../../src/report/plain.js';
import type { PullEvent } from '../../../src/events/types.js';
import { at, collect, CONFIG, fakeTime, L1, L2, L3, opening, scriptedRun } from './script.js';

function render(events: readonly PullEvent[], time = fakeTime(), heartbeatMs = 10_000) {
  const out = collect();
  const renderer = createPlainRenderer(out, { heartbeatMs, now: time.now, startInterval: time.startInterval });
  const feed = (more: readonly PullEvent[]) => {
    for (const e of more) {
      time.set(e.t);
      renderer.handle(e);
    }
  };
  feed(events);
  return { out, renderer, time, feed };
}

describe('plain renderer', () => {
  it('writes one line per state change and the summary at the end', () => {
    const { out } = render(scriptedRun());
    expect(out.text()).toMatchInlineSnapshot(`
      "resolving docker.io/library/alpine:3.20
      resolved docker.io/library/alpine:3.20 -> sha256:d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0 (linux/amd64, 3 layers, 55.0 MB)
      layer 3 e3e3e3e3e3e3 cached (5.0 MB)
      config c0c0c0c0c0c0 downloading 1.5 kB
      layer 1 a1a1a1a1a1a1 downloading 30.0 MB in 4 chunks
      layer 2 b2b2b2b2b2b2 downloading 20.0 MB
      config c0c0c0c0c0c0 done 1.5 kB in 22ms (68.2 kB/s)
      layer 2 b2b2b2b2b2b2 retry 2/5 in 400ms: connection reset by peer
      layer 1 a1a1a1a1a1a1 done 30.0 MB in 2.1s (14.5 MB/s)
      layer 2 b2b2b2b2b2b2 done 20.0 MB in 2.9s (7.0 MB/s)
      pulled docker.io/library/alpine:3.20@sha256:d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0 (linux/amd64, 3 layers, 55.0 MB)
      4 blobs: 3 downloaded, 1 from cache; 50.0 MB downloaded, 5.0 MB from cache in 3.0s (average 16.7 MB/s); 1 retry
      retried: layer 2 b2b2b2b2b2b2 (1 retry, last: connection reset by peer)
      "
    `);
  });

  it('prints a heartbeat with bytes, rate and ETA on every tick of its own timer', () => {
    const events = [
      ...opening(),
      at(200, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
      at(5_000, { type: 'blob.progress', digest: L1, bytes: 10_000_000, total: 30_000_000 }),
    ];
    const { out, time } = render(events);
    expect(time.tickers).toHaveLength(1);
    expect(time.tickers[0]!.ms).toBe(10_000);
    out.chunks.length = 0;
    time.beat(10_000);
    // 10 MB in the first 10 s: 1 MB/s; 20 MB left of layer 1 (layer 2 and 3 and the config queued: 25 MB more) → 45 s.
    expect(out.text()).toMatchInlineSnapshot(`
      "[10.0s] 10.0 MB of 55.0 MB (18%), 1.0 MB/s, ETA 45s; 1 downloading, 3 queued
      "
    `);
  });

  it('reports a layer that made no progress since the last beat, even when no event arrives', () => {
    const events = [
      ...opening(),
      at(200, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
      at(200, { type: 'blob.started', digest: L2, size: 20_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
      at(4_000, { type: 'blob.progress', digest: L1, bytes: 6_000_000, total: 30_000_000 }),
      at(4_000, { type: 'blob.progress', digest: L2, bytes: 2_000_000, total: 20_000_000 }),
    ];
    const { out, time, feed } = render(events);
    time.beat(10_000);
    expect(out.text()).not.toContain('no progress');
    // Layer 1 moves on; layer 2 goes silent: no event at all for it until the next beat.
    feed([at(12_000, { type: 'blob.progress', digest: L1, bytes: 16_000_000, total: 30_000_000 })]);
    out.chunks.length = 0;
    time.beat(20_000);
    expect(out.text()).toMatchInlineSnapshot(`
      "[20.0s] 18.0 MB of 55.0 MB (32%), 1.0 MB/s, ETA 37s; 2 downloading, 2 queued
        no progress since the last beat: layer 2 b2b2b2b2b2b2 at 2.0 MB of 20.0 MB, silent for 16.0s
      "
    `);
    // A third beat with no event at all still comes, and now both layers are silent.
    out.chunks.length = 0;
    time.beat(30_000);
    expect(out.text()).toMatchInlineSnapshot(`
      "[30.0s] 18.0 MB of 55.0 MB (32%), 0 B/s, ETA --; 2 downloading, 2 queued
        no progress since the last beat: layer 1 a1a1a1a1a1a1 at 16.0 MB of 30.0 MB, silent for 18.0s; layer 2 b2b2b2b2b2b2 at 2.0 MB of 20.0 MB, silent for 26.0s
      "
    `);
  });

  it('never writes a control character other than the newline', () => {
    const nasty = { code: 'ERR_NETWORK', message: 'reset\u001b[2J\r\u0007 by peer\u009b' };
    const events = [
      ...scriptedRun().slice(0, 10),
      at(1_500, { type: 'blob.retry', digest: L2, attempt: 2, maxAttempts: 5, delayMs: 400, error: nasty }),
      at(1_600, { type: 'warning', code: 'W', message: 'odd\u001b]0;title\u0007 header' }),
      at(1_700, { type: 'blob.failed', digest: L2, error: nasty }),
      at(1_800, { type: 'image.done', ref: 'docker.io/library/alpine:3.20', digest: '', ok: false, error: nasty }),
    ];
    const { out, time, feed } = render(events);
    time.beat(10_000);
    feed([at(11_000, { type: 'run.done', ok: false, error: nasty })]);
    const text = out.text();
    expect(text).toContain('reset?[2J?? by peer?');
    expect([...text].filter((c) => c.charCodeAt(0) < 0x20 && c !== '\n')).toEqual([]);
    expect(text).not.toMatch(/[\u007f-\u009f]/);
  });

  it('stops its timer at run.done and on close', () => {
    const done = render(scriptedRun());
    expect(done.time.tickers[0]!.stopped).toBe(true);
    const open = render(opening());
    expect(open.time.tickers[0]!.stopped).toBe(false);
    open.renderer.close();
    expect(open.time.tickers[0]!.stopped).toBe(true);
  });

  it('starts no timer when the heartbeat is off', () => {
    const { time } = render(opening(), fakeTime(), 0);
    expect(time.tickers).toHaveLength(0);
  });

  it('names the layer in every line about it', () => {
    const { out } = render(scriptedRun());
    const lines = out.text().split('\n');
    expect(lines.filter((l) => l.startsWith(`layer 2 ${L2.slice(7, 19)}`)).length).toBeGreaterThanOrEqual(3);
    expect(lines.some((l) => l.startsWith(`config ${CONFIG.slice(7, 19)}`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`layer 3 ${L3.slice(7, 19)} cached`))).toBe(true);
  });
});
