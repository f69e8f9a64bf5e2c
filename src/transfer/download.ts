/**
 * One blob, start to finish: claim it in the store (or find it there, or wait for the process fetching
 * it), fetch the missing ranges — probe first, then chunks in parallel, or one stream when the server
 * ignores Range — verify and commit. A digest mismatch drops the ingest and refetches once; a lock lost
 * to another process looks for the blob again once.
 */
import { setMaxListeners } from 'node:events';
import { complementRanges } from '../cache/ledger.js';
import type { BlobInfo, BlobStore, Ingest, LockHolder } from '../cache/types.js';
import { AbortedError, IntegrityError, LockError, RangeMismatchError } from '../errors.js';
import { summarizeError } from '../events/bus.js';
import type { ByteRange } from '../oci/descriptor.js';
import { fetchRange, liveRange, type BlobFetch, type EngineDeps, type RangeTaker } from './chunk.js';
import { ChunkCursor } from './plan.js';
import { createBlobProgress } from './progress.js';
import type { LiveRange } from './split.js';
import type { TransferJob } from './types.js';

export interface DownloadDeps extends EngineDeps {
  readonly store: BlobStore;
}

/** Fetches one blob into the store and returns it committed; emits the blob.* events. */
export async function downloadBlob(deps: DownloadDeps, job: TransferJob, order: number): Promise<BlobInfo> {
  const { ctx, store } = deps;
  const { desc } = job;
  const tally = { fetched: 0 }; // network bytes over every attempt, for blob.done and the stats
  let attempt = 1;
  let lockLost = false;
  try {
    for (;;) {
      let waited = false;
      const outcome = await store.beginIngest(desc, {
        signal: ctx.signal,
        onWait: (holder) => {
          waited = true;
          ctx.emit({ type: 'blob.waiting', digest: desc.digest, holder: describeHolder(holder) });
        },
      });
      if (outcome.kind === 'present') {
        const from = outcome.waited || waited ? 'other-process' : 'cache';
        if (from === 'cache') {
          // A cache hit is a use: refresh last-used so LRU prune and its grace period see it.
          await store.touch(desc.digest);
          ctx.emit({ type: 'blob.cached', digest: desc.digest, size: outcome.info.size });
        } else ctx.emit({ type: 'blob.done', digest: desc.digest, size: outcome.info.size, from, bytesFetched: 0 });
        deps.stats.blob(from === 'cache' ? 'cached' : 'waited', tally.fetched);
        return outcome.info;
      }
      let result: IngestResult;
      try {
        result = await fetchIntoIngest(deps, job, order, outcome.ingest, attempt, tally);
      } catch (err) {
        // Another process took the blob over (a false stale takeover: a slow NFS server, a frozen
        // process). Ask the store again, once: it waits for the new holder or finds the blob committed.
        if (!(err instanceof LockError) || lockLost || ctx.signal.aborted) throw err;
        lockLost = true;
        ctx.emit({ type: 'debug', scope: 'transfer', message: `${desc.digest}: ${err.message}; looking for the blob again` });
        continue;
      }
      if ('info' in result) {
        ctx.emit({ type: 'blob.done', digest: desc.digest, size: result.info.size, from: 'network', bytesFetched: tally.fetched });
        deps.stats.blob('fetched', tally.fetched);
        return result.info;
      }
      // The store dropped the corrupt ingest. Refetch the whole blob once (pacote's rule): a proxy or
      // disk glitch is worth one more try; a registry serving wrong bytes is not worth a loop.
      if (attempt >= 2 || ctx.signal.aborted) throw result.corrupt;
      attempt += 1;
      deps.stats.retried();
      ctx.emit({ type: 'blob.retry', digest: desc.digest, attempt: 2, maxAttempts: 2, delayMs: 0, error: summarizeError(result.corrupt) });
    }
  } catch (err) {
    const error = ctx.signal.aborted && !(err instanceof AbortedError) ? new AbortedError('interrupted', { cause: err }) : err;
    ctx.emit({ type: 'blob.failed', digest: desc.digest, error: summarizeError(error) });
    deps.stats.blob('failed', tally.fetched);
    throw error;
  }
}

type IngestResult = { readonly info: BlobInfo } | { readonly corrupt: IntegrityError };

/** Fills the ingest's missing ranges and commits it. Other failures keep the partial for a later resume. */
async function fetchIntoIngest(
  deps: DownloadDeps,
  job: TransferJob,
  order: number,
  ingest: Ingest,
  attempt: number,
  tally: { fetched: number },
): Promise<IngestResult> {
  const { ctx, options } = deps;
  const { desc } = job;
  const cursor = new ChunkCursor(complementRanges(ingest.completed(), desc.size));
  const resumedBytes = desc.size - cursor.remaining;
  const large = desc.size >= options.minChunkedSize;
  // Fixed chunks (--chunk-size): as many requests at once as the chunks allow. Otherwise one request
  // per missing range, a large blob's split later only when that pays (split.ts).
  const chunkSize = large && options.chunkSize !== undefined ? options.chunkSize : Infinity;
  const adaptive = large && options.chunkSize === undefined;
  const lanes = Math.min(options.concurrency, chunkSize < Infinity ? Math.max(1, Math.ceil(cursor.remaining / chunkSize)) : cursor.gapCount);
  const progress = createBlobProgress(ctx, desc.digest, desc.size, resumedBytes, options.progressIntervalMs);
  ctx.emit({ type: 'blob.started', digest: desc.digest, size: desc.size, attempt, chunks: lanes, resumedBytes });
  const blob: BlobFetch = {
    desc,
    source: job.source,
    ingest,
    order,
    progress,
    signal: ctx.signal,
    soleTask: true,
    location: undefined,
    alwaysRange: adaptive,
    live: new Set(),
  };
  let committing = false;
  try {
    await fetchMissing(deps, blob, cursor, { chunkSize, adaptive, lanes });
    progress.flush();
    ctx.emit({ type: 'blob.verifying', digest: desc.digest });
    committing = true;
    return { info: await ingest.commit() };
  } catch (err) {
    if (committing && err instanceof IntegrityError) return { corrupt: err };
    // Keep what landed: the ledger lets the next attempt or the next run resume from it.
    await ingest.abort({ keepPartial: true }).catch(() => {});
    throw err;
  } finally {
    tally.fetched += progress.fetched;
  }
}

/**
 * Probes with the first range; once a 206 shows the server honours Range, the other lanes start
 * together (so this blob's requests go before the next blob's), each taking ranges until none are
 * left: fixed chunks with --chunk-size, else one whole missing range each, and then an adaptive
 * blob is open to splitting. A server that ignores Range or answers the wrong one gets the whole
 * blob as one stream instead.
 */
async function fetchMissing(
  deps: DownloadDeps,
  blob: BlobFetch,
  cursor: ChunkCursor,
  plan: { readonly chunkSize: number; readonly adaptive: boolean; readonly lanes: number },
): Promise<void> {
  const take: RangeTaker = () => {
    const range = cursor.take(plan.chunkSize);
    return range && liveRange(range);
  };
  if (cursor.remaining === 0) return;
  try {
    await fetchInParallel(deps, blob, take, plan);
  } catch (err) {
    if (!(err instanceof RangeMismatchError) || deps.ctx.signal.aborted) throw err;
    deps.ctx.emit({ type: 'debug', scope: 'transfer', message: `${blob.desc.digest}: ${err.message}; fetching it as one stream` });
    blob.signal = deps.ctx.signal;
    blob.soleTask = true;
    await fetchRange(deps, blob, once(liveRange({ start: 0, end: blob.desc.size - 1 })), 0, 'whole');
  }
}

async function fetchInParallel(deps: DownloadDeps, blob: BlobFetch, take: RangeTaker, plan: { readonly adaptive: boolean; readonly lanes: number }): Promise<void> {
  const phase = new AbortController();
  blob.signal = AbortSignal.any([deps.ctx.signal, phase.signal]);
  setMaxListeners(0, blob.signal); // one listener per request in flight: up to one per slot
  blob.soleTask = true;
  const settled: Promise<void>[] = [];
  let firstError: { error: unknown } | undefined;
  const track = (p: Promise<unknown>) => {
    settled.push(
      p.then(
        () => {},
        (error: unknown) => {
          firstError ??= { error };
          phase.abort(); // one range failed for good: stop its siblings, keep what they wrote
        },
      ),
    );
  };
  // A lane takes chunks until the cursor runs dry. A whole-blob answer (200 to the probe) covered
  // every range, so its lane stops there.
  const lane = async (index: number, onRanged?: () => void): Promise<void> => {
    for (;;) {
      const result = await fetchRange(deps, blob, take, index, 'range', onRanged);
      if (result !== 'range') return;
      onRanged = undefined;
    }
  };
  let index = plan.lanes;
  let unregister: (() => void) | undefined;
  // A split's piece: one request of its own, then done (nothing else is left to take).
  const spawn = (range: ByteRange): LiveRange => {
    const live = liveRange(range);
    track(fetchRange(deps, blob, once(live), index++, 'range'));
    return live;
  };
  const startRest = () => {
    if (!blob.soleTask) return;
    blob.soleTask = false;
    for (let i = 1; i < plan.lanes; i++) track(lane(i));
    if (plan.adaptive) unregister = deps.splitter.register({ live: blob.live, spawn });
  };
  // A probe served whole (200) never calls startRest: its one stream covered every range.
  track(lane(0, plan.lanes > 1 || plan.adaptive ? startRest : undefined));
  try {
    // startRest and splits run while requests are in flight, so `settled` grows before they settle.
    for (let i = 0; i < settled.length; i++) await settled[i];
  } finally {
    unregister?.();
  }
  if (firstError) throw firstError.error;
}

function once(range: LiveRange): RangeTaker {
  let taken = false;
  return () => {
    if (taken) return undefined;
    taken = true;
    return range;
  };
}

function describeHolder(holder: LockHolder): string {
  const bytes = holder.bytes !== undefined ? `, ${holder.bytes} bytes so far` : '';
  return `pid ${holder.pid} on ${holder.host}${bytes}`;
}
