import { describe, expect, it } from 'vitest';
import { complementRanges } from '../../../src/cache/ledger.js';
import { ChunkCursor, guidedChunkSize } from '../../../src/transfer/plan.js';

const r = (start: number, end: number) => ({ start, end });
const MiB = 1024 * 1024;

/** Every range the cursor hands out, asking for `size` each time. */
function drain(cursor: ChunkCursor, size: number, minTail = 0) {
  const out = [];
  for (let range = cursor.take(size, minTail); range; range = cursor.take(size, minTail)) out.push(range);
  return out;
}

describe('guidedChunkSize', () => {
  const bounds = { min: 4 * MiB, max: 64 * MiB };

  it('is the backlog shared out over twice the slots', () => {
    expect(guidedChunkSize(240 * MiB, 12, bounds)).toBe(10 * MiB);
    expect(guidedChunkSize(240 * MiB + 1, 12, bounds)).toBe(10 * MiB + 1); // rounded up, never 0
  });

  it('shrinks as the backlog drains, down to the smallest chunk', () => {
    const sizes = [330, 200, 100, 50, 10].map((mb) => guidedChunkSize(mb * MiB, 12, bounds));
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    expect(sizes.at(-1)).toBe(4 * MiB);
  });

  it('never passes the largest chunk', () => {
    expect(guidedChunkSize(10_000 * MiB, 12, bounds)).toBe(64 * MiB);
  });

  it('treats fewer than one slot as one', () => {
    expect(guidedChunkSize(100 * MiB, 0, bounds)).toBe(50 * MiB);
  });
});

describe('ChunkCursor', () => {
  it('hands out the missing ranges front to back in pieces of the asked size', () => {
    const cursor = new ChunkCursor([r(0, 9)]);
    expect(cursor.remaining).toBe(10);
    expect(drain(cursor, 4)).toEqual([r(0, 3), r(4, 7), r(8, 9)]);
    expect(cursor.remaining).toBe(0);
    expect(cursor.take(4)).toBeUndefined();
  });

  it('takes each piece at the size asked for then, so a shrinking size gives shrinking chunks', () => {
    const cursor = new ChunkCursor([r(0, 99)]);
    expect([cursor.take(50), cursor.take(30), cursor.take(10)]).toEqual([r(0, 49), r(50, 79), r(80, 89)]);
    expect(cursor.remaining).toBe(10);
  });

  it('lets a leftover under minTail ride along with the chunk before it', () => {
    expect(drain(new ChunkCursor([r(0, 10)]), 4, 4)).toEqual([r(0, 3), r(4, 10)]); // 3 left < 4
    expect(drain(new ChunkCursor([r(0, 10)]), 4, 3)).toEqual([r(0, 3), r(4, 7), r(8, 10)]); // 3 left, not < 3
  });

  it('never spans two gaps: a resumed blob fetches only its holes', () => {
    const gaps = complementRanges([r(0, 3), r(8, 15)], 20);
    const cursor = new ChunkCursor(gaps);
    expect(cursor.gapCount).toBe(2);
    expect(cursor.remaining).toBe(8);
    expect(drain(cursor, 100)).toEqual([r(4, 7), r(16, 19)]);
  });

  it('has nothing to hand out for a complete blob', () => {
    const cursor = new ChunkCursor(complementRanges([r(0, 9)], 10));
    expect(cursor.remaining).toBe(0);
    expect(cursor.take(4)).toBeUndefined();
  });

  it('does not share state with the gaps it was given', () => {
    const gaps = [r(0, 9)];
    drain(new ChunkCursor(gaps), 3);
    expect(gaps).toEqual([r(0, 9)]);
  });
});
