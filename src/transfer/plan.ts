/**
 * Chunk planning: which byte ranges of a blob are still to fetch, handed out one request's worth at
 * a time. Pure, apart from the cursor's position.
 */
import type { ByteRange } from '../oci/descriptor.js';

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

  /** Returns the next `size` bytes of the first gap, or all of it when less is left; undefined once all is taken. A chunk never spans two gaps. */
  take(size: number): ByteRange | undefined {
    const gap = this.#gaps[0];
    if (!gap) return undefined;
    const left = gap.end - gap.start + 1;
    const n = Math.min(left, size);
    const chunk = { start: gap.start, end: gap.start + n - 1 };
    if (n === left) this.#gaps.shift();
    else gap.start += n;
    this.#remaining -= n;
    return chunk;
  }
}
