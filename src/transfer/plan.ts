/**
 * Chunk planning: which byte ranges of a blob are still to fetch, and how big the next request for
 * them should be. Pure, apart from the cursor's position.
 */
import type { ByteRange } from '../oci/descriptor.js';

/**
 * Guided self-scheduling (Polychronopoulos & Kuck, 1987), in the "factoring" form of Hummel et al.:
 * the next chunk is 1/(2·slots) of the bytes not yet handed to any request. Early chunks are big, so
 * a fast link makes few requests (each costs the registry and us a round of work that a 330 MB pull
 * on loopback measured at ~10 ms); late chunks shrink towards `min`, so the last requests of a pull
 * end close together instead of one slot carrying a long tail while the others sit idle. The factor
 * 2 leaves room for connections that run slower than their share.
 */
export function guidedChunkSize(unassigned: number, slots: number, bounds: { readonly min: number; readonly max: number }): number {
  const share = Math.ceil(unassigned / (2 * Math.max(1, slots)));
  return Math.min(bounds.max, Math.max(bounds.min, share));
}

/** Hands out a blob's missing ranges front to back, one request's worth at a time. */
export class ChunkCursor {
  #gaps: { start: number; end: number }[];
  #remaining: number;

  /** `gaps`: the missing ranges, ascending and disjoint (complementRanges gives them so). */
  constructor(gaps: readonly ByteRange[]) {
    this.#gaps = gaps.map((g) => ({ ...g }));
    this.#remaining = gaps.reduce((sum, g) => sum + (g.end - g.start + 1), 0);
  }

  /** Missing ranges not yet wholly handed out. */
  get gapCount(): number {
    return this.#gaps.length;
  }

  /** Bytes not yet handed out. */
  get remaining(): number {
    return this.#remaining;
  }

  /**
   * Returns the next `size` bytes of the first gap, or all of it when less would be left than
   * `minTail` (a runt request costs a round trip for almost nothing); undefined once all is taken.
   * A chunk never spans two gaps.
   */
  take(size: number, minTail = 0): ByteRange | undefined {
    const gap = this.#gaps[0];
    if (!gap) return undefined;
    const left = gap.end - gap.start + 1;
    const n = left - size < minTail ? left : size;
    const chunk = { start: gap.start, end: gap.start + n - 1 };
    if (n === left) this.#gaps.shift();
    else gap.start += n;
    this.#remaining -= n;
    return chunk;
  }
}
