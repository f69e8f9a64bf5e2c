import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCacheDir } from '../../../src/cache/location.js';
import { refFileName } from '../../../src/cache/refs.js';
import { formatBytes } from '../../../src/cache/space.js';
import { digestKey, parseDigestKey } from '../../../src/cache/layout.js';
import { computeDigest } from '../../../src/oci/digest.js';

describe('defaultCacheDir', () => {
  it.each([
    { name: '$DRAY_CACHE wins', env: { DRAY_CACHE: '/srv/cache', XDG_CACHE_HOME: '/x' }, out: '/srv/cache' },
    { name: 'then $XDG_CACHE_HOME/dray', env: { XDG_CACHE_HOME: '/x/cache' }, out: '/x/cache/dray' },
    { name: 'a relative $XDG_CACHE_HOME is ignored (XDG spec)', env: { XDG_CACHE_HOME: 'rel' }, out: join('/home/u', '.cache', 'dray') },
    { name: 'empty values count as unset', env: { DRAY_CACHE: '', XDG_CACHE_HOME: '' }, out: join('/home/u', '.cache', 'dray') },
    { name: 'else ~/.cache/dray', env: {}, out: join('/home/u', '.cache', 'dray') },
  ])('$name', ({ env, out }) => {
    expect(defaultCacheDir(env, '/home/u')).toBe(out);
  });
});

describe('refFileName', () => {
  it('encodes "/" and ":" so a ref is one file name', () => {
    expect(refFileName('docker.io/library/alpine:3.20')).toBe('docker.io%2Flibrary%2Falpine%3A3.20.json');
  });
  it('never produces a hidden or dot-dot name', () => {
    expect(refFileName('..')).toBe('%2E..json');
  });
  it('hashes references too long for a file name', () => {
    const name = refFileName(`example.com/${'a'.repeat(300)}:tag`);
    expect(name).toMatch(/^sha256-[a-f0-9]{64}\.json$/);
  });
});

describe('digest keys and byte formatting', () => {
  it('round-trips digest keys and rejects other names', () => {
    const digest = computeDigest(new Uint8Array([7]));
    expect(parseDigestKey(digestKey(digest))).toBe(digest);
    expect(parseDigestKey('sha256-zz')).toBeUndefined();
    expect(parseDigestKey('.write.abc.tmp')).toBeUndefined();
  });
  it.each([
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [10 * 1024 * 1024, '10.0 MiB'],
    [300 * 1024 ** 3, '300 GiB'],
  ])('formatBytes(%d) = %s', (n, s) => {
    expect(formatBytes(n)).toBe(s);
  });
});
