import { describe, expect, it } from 'vitest';
import { formatTable } from '../../../src/cli/commands/cache.js';
import { parseDurationFlag } from '../../../src/cli/parse-values.js';
import { UsageError } from '../../../src/errors.js';

describe('parseDurationFlag for cache prune --older-than', () => {
  it.each([
    ['30d', 30 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['1.5d', 36 * 3_600_000],
    ['12h', 12 * 3_600_000],
    ['90', 90_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDurationFlag('--older-than', text)).toBe(ms);
  });

  it.each(['soon', '30 days', '-1d', '3y'])('rejects %s with a usage error naming the flag', (text) => {
    expect(() => parseDurationFlag('--older-than', text)).toThrow(UsageError);
    expect(() => parseDurationFlag('--older-than', text)).toThrow(/--older-than/);
  });
});

describe('formatTable', () => {
  it('pads columns to their widest cell, right-aligns the given ones and trims line ends', () => {
    const text = formatTable(
      [
        ['NAME', 'SIZE', 'NOTE'],
        ['a', '1.0 kB', ''],
        ['longer', '12 B', 'x'],
      ],
      new Set([1]),
    );
    expect(text).toBe(['NAME      SIZE  NOTE', 'a       1.0 kB', 'longer    12 B  x', ''].join('\n'));
  });

  it('returns nothing for no rows', () => {
    expect(formatTable([])).toBe('');
  });
});
