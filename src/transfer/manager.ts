/**
 * transfer/: the run's one download engine (DESIGN.md §4). Invariants: one scheduler budget of
 * concurrent HTTP bodies for the whole run, a slot held until its body is drained or destroyed; blob
 * bodies retried here and nowhere else; a digest fetched at most once per run; bytes reach the cache
 * only through Ingest.commit (verify, then rename).
 *
 * This file: the manager — dedup by digest and call-order priority over downloadBlob.
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { BlobInfo, BlobStore } from '../cache/types.js';
import type { RunContext } from '../context.js';
import type { Digest } from '../oci/digest.js';
import { downloadBlob, type DownloadDeps } from './download.js';
import { createHostBackoff } from './host-backoff.js';
import { resolveTransferOptions, type TransferOptions } from './options.js';
import { createScheduler } from './scheduler.js';
import { createSplitter, WINDOW_MS, type Splitter, type SplitterDeps } from './split.js';
import { createStatsRecorder } from './stats.js';
import type { TransferJob, TransferManager } from './types.js';

/**
 * Returns the run's transfer manager. Jobs are prioritised by call order (config first, then layers
 * bottom-up), so the first blob's chunks and retries always go before later blobs' requests.
 */
export function createTransferManager(
  deps: {
    readonly store: BlobStore;
    readonly ctx: RunContext;
    /** The splitting policy (split.ts); tests put in one that splits on cue. */
    readonly splitter?: (deps: SplitterDeps) => Splitter;
  },
  options: Partial<TransferOptions> = {},
): TransferManager {
  const resolved = resolveTransferOptions(options);
  const stats = createStatsRecorder();
  const scheduler = createScheduler(resolved.concurrency);
  const engine: DownloadDeps = {
    store: deps.store,
    ctx: deps.ctx,
    scheduler,
    backoff: createHostBackoff(deps.ctx),
    options: resolved,
    stats,
    splitter: (deps.splitter ?? createSplitter)({
      now: deps.ctx.now,
      // Attempts, not slots: an attempt ends just before its slot is handed on, and a request waiting
      // for a slot already has a claim on the next one.
      idleSlots: () => resolved.concurrency - stats.activeAttempts() - scheduler.pending,
      activeRequests: () => stats.activeAttempts(),
      minPiece: resolved.minChunkSize,
      busy: loopBusy(deps.ctx.now),
    }),
  };
  const inFlight = new Map<Digest, Promise<BlobInfo>>();
  let order = 0;
  return {
    fetch(job: TransferJob): Promise<BlobInfo> {
      const existing = inFlight.get(job.desc.digest);
      if (existing) return existing;
      const pending = downloadBlob(engine, job, order++);
      inFlight.set(job.desc.digest, pending);
      // A failed digest may be asked for again later in the run (say from another repository): forget
      // the failure so that call tries afresh; callers already waiting share this one.
      pending.catch(() => {
        if (inFlight.get(job.desc.digest) === pending) inFlight.delete(job.desc.digest);
      });
      return pending;
    },
    stats: () => stats.snapshot(),
  };
}

/** The event loop's utilisation over the last completed window of about WINDOW_MS (undefined before the first). */
function loopBusy(now: () => number): () => number | undefined {
  let mark: EventLoopUtilization = performance.eventLoopUtilization();
  let markAt = now();
  let last: number | undefined;
  return () => {
    if (now() - markAt >= WINDOW_MS) {
      const current = performance.eventLoopUtilization();
      last = performance.eventLoopUtilization(current, mark).utilization;
      mark = current;
      markAt = now();
    }
    return last;
  };
}
