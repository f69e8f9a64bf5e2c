import { afterEach, describe, expect, it } from 'vitest';
import type { Splitter, SplitterDeps, SplittableBlob } from '../../../src/transfer/split.js';
import { makeBytes, type Script } from './blob-source-double.js';
import { KiB, cleanupHarnesses, createHarness, eventsOf, readCommitted } from './harness.js';

/** A policy that splits the first range in flight at its middle, once, when `when(bytes so far)` says so. */
function splitOnCue(when: (bytes: number) => boolean): (deps: SplitterDeps) => Splitter {
  return () => {
    const blobs = new Set<SplittableBlob>();
    let seen = 0;
    let done = false;
    return {
      register(blob) {
        blobs.add(blob);
        return () => void blobs.delete(blob);
      },
      onBytes(n) {
        seen += n;
        if (done || !when(seen)) return;
        for (const blob of blobs) {
          for (const range of blob.live) {
            const at = range.next + Math.ceil((range.end - range.next + 1) / 2);
            const end = range.end;
            range.end = at - 1;
            blob.spawn({ start: at, end });
            done = true;
            return;
          }
        }
      },
      onFirstByte() {},
      onSlotFreed() {},
    };
  };
}

afterEach(cleanupHarnesses);

describe('transfer manager: plain fetches', () => {
  it('fetches a small blob with one plain request and commits the exact bytes', async () => {
    const h = await createHarness();
    const bytes = makeBytes(100 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests).toEqual([{ digest: desc.digest, range: undefined, location: undefined }]);
    const types = h.events.map((e) => e.type);
    expect(types[0]).toBe('blob.started');
    expect(types.slice(-2)).toEqual(['blob.verifying', 'blob.done']);
    expect(eventsOf(h.events, 'blob.started')[0]).toMatchObject({ attempt: 1, chunks: 1, resumedBytes: 0, size: bytes.length });
    expect(eventsOf(h.events, 'blob.done')[0]).toMatchObject({ from: 'network', bytesFetched: bytes.length });
    expect(eventsOf(h.events, 'blob.progress').at(-1)).toMatchObject({ bytes: bytes.length, total: bytes.length });
  });

  it('splits a big blob into Range chunks: a probe, then the rest', async () => {
    const h = await createHarness();
    const bytes = makeBytes(300 * KiB + 5);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    const ranges = h.source.requests.map((r) => r.range);
    expect(ranges[0]).toEqual({ start: 0, end: 64 * KiB - 1 });
    expect([...ranges].sort((a, b) => a!.start - b!.start)).toEqual([
      { start: 0, end: 64 * KiB - 1 },
      { start: 64 * KiB, end: 128 * KiB - 1 },
      { start: 128 * KiB, end: 192 * KiB - 1 },
      { start: 192 * KiB, end: 256 * KiB - 1 },
      { start: 256 * KiB, end: 300 * KiB + 4 },
    ]);
    // Five chunks, four slots: at most four of its requests run at once.
    expect(eventsOf(h.events, 'blob.started')[0]).toMatchObject({ chunks: 4 });
  });

  it('fetches a big blob as one ranged request when no split is called for, so the answer shows Range works', async () => {
    const h = await createHarness({ chunkSize: undefined, minChunkSize: 64 * KiB }, undefined, { splitter: splitOnCue(() => false) });
    const bytes = makeBytes(1024 * KiB + 3);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect((await readCommitted(info.path)).equals(bytes)).toBe(true);
    expect(h.source.requests.map((r) => r.range)).toEqual([{ start: 0, end: bytes.length - 1 }]);
  });

  it('splits a request in flight: it stops where the new request for its back half starts, every byte fetched once', async () => {
    const h = await createHarness({ chunkSize: undefined, minChunkSize: 64 * KiB }, undefined, { splitter: splitOnCue((bytes) => bytes >= 128 * KiB) });
    const bytes = makeBytes(2048 * KiB + 7);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect((await readCommitted(info.path)).equals(bytes)).toBe(true);
    const [whole, piece] = h.source.requests.map((r) => r.range!);
    expect(h.source.requests).toHaveLength(2);
    expect(whole).toEqual({ start: 0, end: bytes.length - 1 });
    expect(piece!.end).toBe(bytes.length - 1);
    expect(piece!.start).toBeGreaterThan(128 * KiB);
    // Written once each: the first request stopped at the piece (its body destroyed, not drained).
    expect(eventsOf(h.events, 'blob.done')[0]).toMatchObject({ bytesFetched: bytes.length });
    expect(h.source.openBodies).toBe(0);
    expect(h.manager.stats().attempts).toMatchObject({ started: 2, succeeded: 2, failed: 0 });
  });

  it("falls back to one whole stream when a split's request is answered without Range", async () => {
    const script: Script = (_request, n) => (n === 1 ? { kind: 'ignore-range' } : undefined);
    const h = await createHarness({ chunkSize: undefined, minChunkSize: 64 * KiB }, script, { splitter: splitOnCue((bytes) => bytes >= 128 * KiB) });
    const bytes = makeBytes(2048 * KiB + 7);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect((await readCommitted(info.path)).equals(bytes)).toBe(true);
    expect(h.source.requests.map((r) => r.range)).toEqual([{ start: 0, end: bytes.length - 1 }, expect.objectContaining({ end: bytes.length - 1 }), undefined]);
    expect(h.source.openBodies).toBe(0);
  });

  it('never has more bodies open than the budget, across blobs and chunks, and uses it', async () => {
    const h = await createHarness({ concurrency: 3 });
    const descs = [1, 2, 3].map((seed) => h.source.add(makeBytes(512 * KiB, seed)));
    await Promise.all(descs.map((desc) => h.manager.fetch({ desc, role: 'layer', source: h.source })));
    expect(h.source.requests).toHaveLength(24);
    expect(h.source.peakOpen).toBe(3);
    expect(h.source.openBodies).toBe(0);
    expect(h.manager.stats()).toMatchObject({ attempts: { started: 24, succeeded: 24, failed: 0, cancelled: 0 }, peakActive: 3 });
  });

  it('puts the first-called blob\'s chunks ahead of a later blob\'s, even when that one started first', async () => {
    const h = await createHarness({ concurrency: 1 });
    const first = h.source.add(makeBytes(256 * KiB, 1));
    const second = h.source.add(makeBytes(256 * KiB, 2));
    await Promise.all([
      h.manager.fetch({ desc: first, role: 'layer', source: h.source }),
      h.manager.fetch({ desc: second, role: 'layer', source: h.source }),
    ]);
    // With one slot the later blob's probe may win the race to an idle slot (its cache lock came
    // first), but once the first blob's chunks wait, they go before the later blob's remaining ones.
    const digests = h.source.requests.map((r) => r.digest);
    const firstAt = digests.indexOf(first.digest);
    expect(digests.slice(firstAt, firstAt + 4)).toEqual(Array(4).fill(first.digest));
    expect(digests.filter((d) => d === second.digest)).toHaveLength(4);
    expect(firstAt).toBeLessThanOrEqual(1);
  });

  it('fetches a digest asked for twice in a run once', async () => {
    const h = await createHarness();
    const desc = h.source.add(makeBytes(50 * KiB));
    const [a, b] = await Promise.all([
      h.manager.fetch({ desc, role: 'layer', source: h.source }),
      h.manager.fetch({ desc, role: 'layer', source: h.source }),
    ]);
    expect(a).toEqual(b);
    expect(h.source.requests).toHaveLength(1);
    expect(eventsOf(h.events, 'blob.started')).toHaveLength(1);
  });

  it('reports a blob already in the cache as cached, without a request', async () => {
    const h = await createHarness();
    const desc = h.source.add(makeBytes(50 * KiB));
    await h.manager.fetch({ desc, role: 'layer', source: h.source });
    const later = h.nextRun();
    const info = await later.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(info.digest).toBe(desc.digest);
    expect(h.source.requests).toHaveLength(1);
    expect(later.events).toEqual([{ type: 'blob.cached', digest: desc.digest, size: desc.size }]);
    expect(later.manager.stats().blobs).toMatchObject({ cached: 1, fetched: 0 });
  });

  it('commits an empty blob without a request', async () => {
    const h = await createHarness();
    const desc = h.source.add(Buffer.alloc(0));
    const info = await h.manager.fetch({ desc, role: 'config', source: h.source });
    expect(await readCommitted(info.path)).toEqual(Buffer.alloc(0));
    expect(h.source.requests).toHaveLength(0);
  });

  it('reuses a redirected storage URL for the later chunks of a blob', async () => {
    const h = await createHarness({}, (req, n) => (n === 0 ? { kind: 'redirect', to: `https://cdn.test/blob?sig=x` } : undefined));
    const bytes = makeBytes(256 * KiB);
    const desc = h.source.add(bytes);
    const info = await h.manager.fetch({ desc, role: 'layer', source: h.source });
    expect(await readCommitted(info.path)).toEqual(bytes);
    expect(h.source.requests[0]!.location).toBeUndefined();
    expect(h.source.requests.slice(1).map((r) => r.location)).toEqual(Array(3).fill('https://cdn.test/blob?sig=x'));
  });
});
