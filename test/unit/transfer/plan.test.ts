import { describe, expect, it } from 'vitest';
import { complementRanges } from '../../../src/cache/ledger.js';
import { ChunkCursor } from '../../../src/transfer/plan.js';

const r = (start: number, end: number) => ({ start, end });

/** Every range the cursor hands out, asking for `size` each time. */
function drain(cursor: ChunkCursor, size: number) {
  const out = [];
  for (let range = cursor.take(size); range; range = cursor.take(size)) out.push(range);
  return out;
}

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
