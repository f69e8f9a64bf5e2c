import { describe, expect, it } from 'vitest';
import { addRange, complementRanges, coveredBytes, LEDGER_VERSION, mergeRanges, parseLedger, rangesExtent, serializeLedger } from '../../../src/cache/ledger.js';
import { computeDigest } from '../../../src/oci/digest.js';

const digest = computeDigest(new Uint8Array([1, 2, 3]));

describe('mergeRanges', () => {
  it.each([
    { name: 'empty', input: [], out: [] },
    { name: 'sorts', input: [{ start: 10, end: 19 }, { start: 0, end: 4 }], out: [{ start: 0, end: 4 }, { start: 10, end: 19 }] },
    { name: 'merges overlapping', input: [{ start: 0, end: 10 }, { start: 5, end: 20 }], out: [{ start: 0, end: 20 }] },
    { name: 'merges adjacent (inclusive ends)', input: [{ start: 0, end: 9 }, { start: 10, end: 19 }], out: [{ start: 0, end: 19 }] },
    { name: 'keeps a gap of one byte', input: [{ start: 0, end: 9 }, { start: 11, end: 19 }], out: [{ start: 0, end: 9 }, { start: 11, end: 19 }] },
    { name: 'swallows contained ranges', input: [{ start: 0, end: 100 }, { start: 10, end: 20 }], out: [{ start: 0, end: 100 }] },
    { name: 'drops empty ranges', input: [{ start: 5, end: 4 }], out: [] },
  ])('$name', ({ input, out }) => {
    expect(mergeRanges(input)).toEqual(out);
  });

  it('addRange adds and merges', () => {
    expect(addRange([{ start: 0, end: 3 }], { start: 4, end: 7 })).toEqual([{ start: 0, end: 7 }]);
    // appended right after the last of several ranges, out of order, overlapping, and into a gap
    const two = [{ start: 0, end: 3 }, { start: 10, end: 13 }];
    expect(addRange(two, { start: 14, end: 20 })).toEqual([{ start: 0, end: 3 }, { start: 10, end: 20 }]);
    expect(two).toEqual([{ start: 0, end: 3 }, { start: 10, end: 13 }]);
    expect(addRange(two, { start: 20, end: 25 })).toEqual([...two, { start: 20, end: 25 }]);
    expect(addRange(two, { start: 4, end: 9 })).toEqual([{ start: 0, end: 13 }]);
    expect(addRange(two, { start: 2, end: 11 })).toEqual([{ start: 0, end: 13 }]);
  });
});

describe('complementRanges', () => {
  it.each([
    { name: 'nothing done', ranges: [], size: 10, out: [{ start: 0, end: 9 }] },
    { name: 'all done', ranges: [{ start: 0, end: 9 }], size: 10, out: [] },
    { name: 'holes in the middle and at both ends', ranges: [{ start: 2, end: 3 }, { start: 6, end: 7 }], size: 10, out: [{ start: 0, end: 1 }, { start: 4, end: 5 }, { start: 8, end: 9 }] },
    { name: 'empty blob', ranges: [], size: 0, out: [] },
  ])('$name', ({ ranges, size, out }) => {
    expect(complementRanges(ranges, size)).toEqual(out);
  });
});

describe('coveredBytes and rangesExtent', () => {
  it('counts inclusive ranges once each', () => {
    expect(coveredBytes([{ start: 0, end: 9 }, { start: 5, end: 14 }, { start: 20, end: 20 }])).toBe(16);
    expect(rangesExtent([{ start: 0, end: 9 }, { start: 20, end: 29 }])).toBe(30);
    expect(rangesExtent([])).toBe(0);
  });
});

describe('ledger serialisation', () => {
  it('round-trips and merges on write', () => {
    const text = serializeLedger({ version: LEDGER_VERSION, digest, size: 100, ranges: [{ start: 50, end: 59 }, { start: 0, end: 49 }], updatedAt: '2025-01-01T00:00:00.000Z' });
    expect(JSON.parse(text).ranges).toEqual([[0, 59]]);
    expect(parseLedger(text)).toEqual({ version: LEDGER_VERSION, digest, size: 100, ranges: [{ start: 0, end: 59 }], updatedAt: '2025-01-01T00:00:00.000Z' });
  });

  it.each([
    { name: 'not JSON', text: '{"version":1,' },
    { name: 'another version', text: JSON.stringify({ version: 2, digest, size: 10, ranges: [] }) },
    { name: 'bad digest', text: JSON.stringify({ version: 1, digest: 'sha256:xyz', size: 10, ranges: [] }) },
    { name: 'range past the size', text: JSON.stringify({ version: 1, digest, size: 10, ranges: [[0, 10]] }) },
    { name: 'reversed range', text: JSON.stringify({ version: 1, digest, size: 10, ranges: [[5, 4]] }) },
    { name: 'negative size', text: JSON.stringify({ version: 1, digest, size: -1, ranges: [] }) },
  ])('rejects $name', ({ text }) => {
    expect(parseLedger(text)).toBeUndefined();
  });
});
