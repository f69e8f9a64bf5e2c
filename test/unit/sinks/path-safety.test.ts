import { describe, expect, it } from 'vitest';
import { UnsafeArchiveError } from '../../../src/errors.js';
import { splitEntryPath } from '../../../src/sinks/path-safety.js';

describe('splitEntryPath', () => {
  it.each([
    ['etc/passwd', ['etc', 'passwd']],
    ['./etc/passwd', ['etc', 'passwd']],
    ['/etc/passwd', ['etc', 'passwd']], // absolute means the image root: clamped inside
    ['//etc//./passwd/', ['etc', 'passwd']],
    ['a/b/../c', ['a', 'c']],
    ['a/..', []],
    ['./', []],
    ['.', []],
    ['/', []],
    ['..foo/bar..', ['..foo', 'bar..']],
    ['.wh..wh..opq', ['.wh..wh..opq']],
  ])('%j → %j', (name, expected) => {
    expect(splitEntryPath(name)).toEqual(expected);
  });

  it.each(['..', '../x', '../../etc/passwd', 'a/../../x', '/../x', './a/b/../../../x'])('rejects %j, which climbs above the root', (name) => {
    expect(() => splitEntryPath(name)).toThrow(UnsafeArchiveError);
    expect(() => splitEntryPath(name)).toThrow(`"${name}"`);
  });

  it('names the entry, not the link target, when given one', () => {
    expect(() => splitEntryPath('../../etc/passwd', 'usr/bin/hl')).toThrow(/unsafe layer entry "usr\/bin\/hl"/);
  });

  it('rejects with exit code 6', () => {
    try {
      splitEntryPath('../x');
      expect.unreachable();
    } catch (err) {
      expect((err as UnsafeArchiveError).exitCode).toBe(6);
    }
  });
});
