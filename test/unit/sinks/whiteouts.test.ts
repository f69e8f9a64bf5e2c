import { describe, expect, it } from 'vitest';
import { UnsafeArchiveError } from '../../../src/errors.js';
import { UpperPaths, classifyWhiteout } from '../../../src/sinks/whiteouts.js';

describe('classifyWhiteout', () => {
  it.each([
    ['passwd', { kind: 'none' }],
    ['.whatever', { kind: 'none' }],
    ['.wh.passwd', { kind: 'whiteout', name: 'passwd' }],
    ['.wh..hidden', { kind: 'whiteout', name: '.hidden' }],
    ['.wh..wh..opq', { kind: 'opaque' }],
    ['.wh..wh.plnk', { kind: 'aufs-meta' }],
    ['.wh..wh.aufs', { kind: 'aufs-meta' }],
  ])('%j → %j', (base, expected) => {
    expect(classifyWhiteout(base, `dir/${base}`)).toEqual(expected);
  });

  it.each(['.wh.', '.wh..', '.wh...'])('rejects %j, which names no file (or the directory itself)', (base) => {
    expect(() => classifyWhiteout(base, `etc/${base}`)).toThrow(UnsafeArchiveError);
    expect(() => classifyWhiteout(base, `etc/${base}`)).toThrow(`"etc/${base}"`);
  });
});

describe('UpperPaths', () => {
  it('records a path and all its ancestors, and nothing else', () => {
    const upper = new UpperPaths();
    upper.add('var/cache/sub/fresh');
    expect(['var', 'var/cache', 'var/cache/sub', 'var/cache/sub/fresh'].map((p) => upper.has(p))).toEqual([true, true, true, true]);
    expect(['var/cache/sub/other', 'var/cach', 'va', 'var/cache/sub/fresh/x', ''].map((p) => upper.has(p))).toEqual([false, false, false, false, false]);
  });
});
