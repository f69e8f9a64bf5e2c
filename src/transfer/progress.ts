/** Per-blob progress, aggregated over its chunks and throttled at the source (≤ 1 event per interval). */
import type { RunContext } from '../context.js';
import type { Digest } from '../oci/digest.js';

export interface BlobProgress {
  /** Bytes landed at a position not written before (a range of a chunked fetch). */
  addRange(n: number): void;
  /** Bytes landed by a whole-blob stream that has written `fromZero` bytes from offset 0 this attempt. */
  addWhole(n: number, fromZero: number): void;
  /** Bytes received from the network over every attempt. */
  readonly fetched: number;
  /** Emits the final count if the last one was throttled away. */
  flush(): void;
}

/**
 * Returns a tracker that starts at `resumed` bytes. The count never goes back: a retry keeps its bar
 * (pnpm #1013), and a whole-blob rewrite after a partial only advances the bar once it passes it.
 */
export function createBlobProgress(
  ctx: Pick<RunContext, 'emit' | 'now'>,
  digest: Digest,
  total: number,
  resumed: number,
  intervalMs: number,
): BlobProgress {
  let covered = resumed;
  let fetched = 0;
  let lastEmit = Number.NEGATIVE_INFINITY;
  let lastBytes = -1;
  const emit = (force: boolean) => {
    const now = ctx.now();
    if (!force && now - lastEmit < intervalMs) return;
    const bytes = Math.min(covered, total);
    if (bytes === lastBytes) return;
    lastEmit = now;
    lastBytes = bytes;
    ctx.emit({ type: 'blob.progress', digest, bytes, total });
  };
  return {
    addRange(n) {
      covered += n;
      fetched += n;
      emit(false);
    },
    addWhole(n, fromZero) {
      covered = Math.max(covered, fromZero);
      fetched += n;
      emit(false);
    },
    get fetched() {
      return fetched;
    },
    flush: () => emit(true),
  };
}
