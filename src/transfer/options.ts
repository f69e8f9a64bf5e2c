/** Transfer tuning: one DEFAULT_TRANSFER_OPTIONS, overridable per run (CLI flags, library callers). */
import { UsageError } from '../errors.js';

const MiB = 1024 * 1024;

export interface TransferOptions {
  /** Concurrent HTTP response bodies across the whole run (every image, blob and chunk shares them). */
  readonly concurrency: number;
  /** Bytes per Range request, fixed; unset: one request per blob, split while splitting pays (split.ts). */
  readonly chunkSize?: number | undefined;
  /** Smallest piece a split leaves on either side: the pieces a pull's last requests are cut into. */
  readonly minChunkSize: number;
  /** Blobs smaller than this are fetched with one request, never split (two smallest pieces' worth unless set). */
  readonly minChunkedSize: number;
  /** Attempts per chunk, the first included, before the blob fails with RetriesExhaustedError. */
  readonly retries: number;
  /** A response body that delivers no bytes for this long is destroyed and resumed from the byte reached. */
  readonly idleTimeoutMs: number;
  /** At most one blob.progress event per blob per interval. */
  readonly progressIntervalMs: number;
  /** Backoff before the first retry; doubles per retry, with full jitter. */
  readonly retryBaseDelayMs: number;
  /** Ceiling of the exponential backoff. */
  readonly retryMaxDelayMs: number;
  /** Ceiling of a server's Retry-After we are willing to sleep through. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_TRANSFER_OPTIONS: TransferOptions = {
  // docker's max-concurrent-downloads and containerd's max_concurrent_downloads are 3 per daemon,
  // ggcr's 4, c/image's 6 layers; we count bodies (chunks included). Measured on the bench's wan link
  // (100 ms RTT, 10 MB/s per connection, 60 MB/s link, 330 MB image; medians of 3, docs/benchmarks.md):
  // 8 bodies × 16 MiB 7.74 s, 12 × 8 MiB 6.71 s, 12 × 4 MiB 6.50 s, 16 × 4 MiB 6.51 s. 12 keeps the
  // link full through each connection's request round trip; more only asks the registry for more sockets.
  concurrency: 12,
  // 2 MiB: 0.2 s at 10 MB/s, so the last pieces of a pull (the tail that leaves slots idle) stay
  // short; a split must also save two first-byte delays (split.ts), which on a far link rules out
  // smaller pieces anyway.
  minChunkSize: 2 * MiB,
  // Derived when not given (see resolveTransferOptions): a blob under two chunks gains nothing from
  // splitting.
  minChunkedSize: 8 * MiB,
  // docker's max-download-attempts and containerd's request maxAttempts are both 5.
  retries: 5,
  // docker and containerd close idle connections after 30 s; none of them has a read-idle timeout on a
  // body, which is why a stalled pull hangs forever (anchors-pullers.md §4.7).
  idleTimeoutMs: 30_000,
  // ≤ 10 events/s per blob: docker's progress reader updates at most every 100 ms.
  progressIntervalMs: 100,
  // regclient starts its host backoff at 0.1 s and c/image reconnects after 1 s; 200 ms sits between.
  retryBaseDelayMs: 200,
  // regclient caps its backoff at 30 s.
  retryMaxDelayMs: 30_000,
  // c/image caps Retry-After at 60 s; a longer wait (Docker Hub's 6 h window) is better reported than slept.
  maxRetryAfterMs: 60_000,
};

/** Returns complete options from a partial set, deriving minChunkedSize from the smallest chunk; UsageError on nonsense. */
export function resolveTransferOptions(partial: Partial<TransferOptions> = {}): TransferOptions {
  const smallest = partial.chunkSize ?? partial.minChunkSize ?? DEFAULT_TRANSFER_OPTIONS.minChunkSize;
  const options: TransferOptions = {
    ...DEFAULT_TRANSFER_OPTIONS,
    ...partial,
    minChunkedSize: partial.minChunkedSize ?? 2 * smallest,
  };
  for (const [name, min] of [
    ['concurrency', 1],
    ['chunkSize', 1],
    ['minChunkSize', 1],
    ['minChunkedSize', 0],
    ['retries', 1],
    ['idleTimeoutMs', 1],
    ['progressIntervalMs', 0],
    ['retryBaseDelayMs', 0],
    ['retryMaxDelayMs', 0],
    ['maxRetryAfterMs', 0],
  ] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < min || !Number.isInteger(value)) {
      throw new UsageError(`transfer option ${name} must be an integer ≥ ${min}, got ${value}`);
    }
  }
  return options;
}
