import { describe, expect, it } from 'vitest';
import { planChunks } from '../../../src/transfer/plan.js';

const r = (start: number, end: number) => ({ start, end });

describe('planChunks', () => {
  it.each([
    ['empty blob needs nothing', 0, [], [], 4, 8],
    ['tiny blob is one request', 5, [], [r(0, 4)], 4, 8],
    ['blob just under the threshold is one request', 7, [], [r(0, 6)], 4, 8],
    ['blob at the threshold is chunked', 8, [], [r(0, 3), r(4, 7)], 4, 8],
    ['exact multiple of the chunk size', 12, [], [r(0, 3), r(4, 7), r(8, 11)], 4, 8],
    ['last chunk is shorter', 10, [], [r(0, 3), r(4, 7), r(8, 9)], 4, 8],
    ['complete blob needs nothing', 10, [r(0, 9)], [], 4, 8],
    ['resume after a prefix', 10, [r(0, 4)], [r(5, 8), r(9, 9)], 4, 8],
    ['resume fills the holes only', 20, [r(0, 3), r(8, 15)], [r(4, 7), r(16, 19)], 4, 8],
    ['small resumed blob: one request per gap', 7, [r(2, 3)], [r(0, 1), r(4, 6)], 4, 8],
    ['unsorted, overlapping completed ranges', 12, [r(6, 9), r(0, 2), r(1, 4)], [r(5, 5), r(10, 11)], 4, 8],
    ['completed ranges past the end are ignored', 6, [r(4, 20)], [r(0, 3)], 4, 8],
  ] as const)('%s', (_name, size, completed, expected, chunkSize, minChunked) => {
    expect(planChunks(size, completed, chunkSize, minChunked)).toEqual(expected);
  });

  it('defaults the threshold to two chunks', () => {
    expect(planChunks(7, [], 4)).toEqual([r(0, 6)]);
    expect(planChunks(8, [], 4)).toEqual([r(0, 3), r(4, 7)]);
  });
});
