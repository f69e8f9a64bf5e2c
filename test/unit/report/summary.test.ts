import { describe, expect, it } from 'vitest';
import { summarizeEvents } from '../../../src/report/summary.js';
import { at, CONFIG, IMAGE_DIGEST, L1, L2, L3, opening, REF, scriptedRun } from './script.js';

describe('summary', () => {
  it('tells image, digest, layers, bytes downloaded against cached, time, average rate and retries', () => {
    expect(summarizeEvents(scriptedRun())).toEqual([
      `pulled ${REF}@${IMAGE_DIGEST} (linux/amd64, 3 layers, 55.0 MB)`,
      // 50 MB over the run's 3.002 s.
      '4 blobs: 3 downloaded, 1 from cache; 50.0 MB downloaded, 5.0 MB from cache in 3.0s (average 16.7 MB/s); 1 retry',
      'retried: layer 2 b2b2b2b2b2b2 (1 retry, last: connection reset by peer)',
    ]);
  });

  it('counts a blob another process fetched as cached, and only network bytes as downloaded', () => {
    const lines = summarizeEvents([
      ...opening(),
      at(130, { type: 'blob.cached', digest: CONFIG, size: 1_500 }),
      at(140, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 1, resumedBytes: 12_000_000 }),
      at(1_140, { type: 'blob.done', digest: L1, size: 30_000_000, from: 'network', bytesFetched: 18_000_000 }),
      at(150, { type: 'blob.waiting', digest: L2, holder: 'pid 7 on ci-3' }),
      at(1_900, { type: 'blob.done', digest: L2, size: 20_000_000, from: 'other-process', bytesFetched: 0 }),
      at(1_950, { type: 'blob.cached', digest: L3, size: 5_000_000 }),
      at(2_000, { type: 'image.done', ref: REF, digest: IMAGE_DIGEST, ok: true }),
      at(2_000, { type: 'run.done', ok: true }),
    ]);
    expect(lines[1]).toBe('4 blobs: 1 downloaded, 3 from cache (1 fetched by another dray); 18.0 MB downloaded, 25.0 MB from cache in 2.0s (average 9.0 MB/s); 0 retries');
  });

  it('names the failed image and the failed blob with their reasons', () => {
    const lines = summarizeEvents([
      ...opening(),
      at(140, { type: 'blob.started', digest: L1, size: 30_000_000, attempt: 1, chunks: 1, resumedBytes: 0 }),
      at(900, { type: 'blob.progress', digest: L1, bytes: 4_000_000, total: 30_000_000 }),
      at(1_000, { type: 'blob.failed', digest: L1, error: { code: 'ERR_RETRIES_EXHAUSTED', message: '5 attempts failed: timeout' } }),
      at(1_001, { type: 'image.done', ref: REF, digest: '', ok: false, error: { code: 'ERR_RETRIES_EXHAUSTED', message: '5 attempts failed: timeout' } }),
      at(1_002, { type: 'resolve.started', ref: 'docker.io/library/nope:latest' }),
      at(1_100, { type: 'resolve.failed', ref: 'docker.io/library/nope:latest', error: { code: 'ERR_NOT_FOUND', message: 'manifest unknown' } }),
      at(1_200, { type: 'run.done', ok: false }),
    ]);
    expect(lines).toEqual([
      `failed ${REF}: 5 attempts failed: timeout`,
      'failed docker.io/library/nope:latest: manifest unknown',
      '4 blobs: 0 downloaded, 0 from cache, 1 failed; 4.0 MB downloaded, 0 B from cache in 1.2s (average 3.3 MB/s); 0 retries',
      'failed: layer 1 a1a1a1a1a1a1: 5 attempts failed: timeout',
    ]);
  });

  it('leaves out the totals when nothing was fetched, so a run failing to resolve ends with its reason', () => {
    const lines = summarizeEvents([
      at(0, { type: 'run.started', version: '0.1.0', schema: 1, refs: ['nope'] }),
      at(1, { type: 'resolve.started', ref: 'docker.io/library/nope:latest' }),
      at(90, { type: 'resolve.failed', ref: 'docker.io/library/nope:latest', error: { code: 'ERR_NOT_FOUND', message: 'manifest unknown' } }),
      at(91, { type: 'image.done', ref: 'docker.io/library/nope:latest', digest: '', ok: false, error: { code: 'ERR_NOT_FOUND', message: 'manifest unknown' } }),
      at(92, { type: 'run.done', ok: false }),
    ]);
    expect(lines).toEqual(['failed docker.io/library/nope:latest: manifest unknown']);
  });
});
