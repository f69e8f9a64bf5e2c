/** Chunk planning: which byte ranges of a blob are still to fetch, and in what pieces. Pure. */
import { complementRanges } from '../cache/ledger.js';
import type { ByteRange } from '../oci/descriptor.js';

/**
 * Returns the inclusive ranges of a `size`-byte blob not covered by `completed` (any order, may
 * overlap), in ascending order. Blobs of at least `minChunkedSize` bytes have each missing range split
 * into `chunkSize` pieces (the last may be shorter); smaller blobs get one range per gap, so a small
 * blob is one request. A complete or empty blob needs nothing.
 */
export function planChunks(
  size: number,
  completed: readonly ByteRange[],
  chunkSize: number,
  minChunkedSize: number = 2 * chunkSize,
): ByteRange[] {
  const gaps = complementRanges(completed, size);
  if (size < minChunkedSize) return gaps;
  const chunks: ByteRange[] = [];
  for (const gap of gaps) {
    for (let start = gap.start; start <= gap.end; start += chunkSize) {
      chunks.push({ start, end: Math.min(gap.end, start + chunkSize - 1) });
    }
  }
  return chunks;
}
