// The "done when": a CI log of pulling an 8-layer image is short, readable, and shows progress
// at least every heartbeat.
import { describe, expect, it } from 'vitest';
import type { PullEvent } from '../../../src/events/types.js';
import { createPlainRenderer } from '../../../src/report/plain.js';
import { at, collect, fakeTime } from './script.js';

const REF = 'registry.example/app:1.0';
const layer = (i: number) => `sha256:${String(i).repeat(64)}`;
const SIZE = 25_000_000;

/** 8 layers of 25 MB at 5 MB/s each, two at a time; progress events at 10/s, as the engine throttles them. */
function eightLayerRun(): PullEvent[] {
  const events: PullEvent[] = [
    at(0, { type: 'run.started', version: '0.1.0', schema: 1, refs: [REF] }),
    at(1, { type: 'resolve.started', ref: REF }),
    at(300, { type: 'resolve.done', ref: REF, digest: `sha256:${'f'.repeat(64)}`, platform: 'linux/amd64', layers: 8, size: 8 * SIZE }),
  ];
  for (let i = 1; i <= 8; i++) events.push(at(300, { type: 'blob.planned', ref: REF, digest: layer(i), role: 'layer', order: i, size: SIZE }));
  for (let pair = 0; pair < 4; pair++) {
    const t0 = 300 + pair * 5_000;
    for (const i of [pair * 2 + 1, pair * 2 + 2]) events.push(at(t0, { type: 'blob.started', digest: layer(i), size: SIZE, attempt: 1, chunks: 1, resumedBytes: 0 }));
    for (let step = 1; step <= 50; step++) {
      for (const i of [pair * 2 + 1, pair * 2 + 2]) events.push(at(t0 + step * 100, { type: 'blob.progress', digest: layer(i), bytes: step * 500_000, total: SIZE }));
    }
    for (const i of [pair * 2 + 1, pair * 2 + 2]) events.push(at(t0 + 5_000, { type: 'blob.done', digest: layer(i), size: SIZE, from: 'network', bytesFetched: SIZE }));
  }
  events.push(at(20_400, { type: 'image.done', ref: REF, digest: `sha256:${'f'.repeat(64)}`, ok: true }));
  events.push(at(20_401, { type: 'run.done', ok: true }));
  return events;
}

describe('plain output of an 8-layer pull', () => {
  it('is short and has a progress line at every heartbeat', () => {
    const out = collect();
    const time = fakeTime();
    const renderer = createPlainRenderer(out, { heartbeatMs: 5_000, now: time.now, startInterval: time.startInterval });
    let nextBeat = 5_000;
    for (const e of eightLayerRun()) {
      while (e.t >= nextBeat) {
        time.beat(nextBeat);
        nextBeat += 5_000;
      }
      time.set(e.t);
      renderer.handle(e);
    }
    const lines = out.text().trimEnd().split('\n');
    // 2 resolve lines, 8 × (downloading + done), 4 beats, 2 summary lines.
    expect(lines).toHaveLength(2 + 16 + 4 + 2);
    const beats = lines.filter((l) => /^\[\d/.test(l));
    expect(beats.map((l) => l.slice(0, l.indexOf(']') + 1))).toEqual(['[5.0s]', '[10.0s]', '[15.0s]', '[20.0s]']);
    // Two layers at 5 MB/s each: every beat in the middle of the run reports 10 MB/s.
    expect(beats[1]).toMatch(/, 10\.0 MB\/s, ETA \d+s; 2 downloading, 4 queued, 2 done$/);
    expect(lines.at(-1)).toMatch(/^8 blobs: 8 downloaded, 0 from cache; 200 MB downloaded/);
  });
});
