import { describe, expect, it } from 'vitest';
import { entryTimes } from '../../../src/sinks/rootfs-metadata.js';
import type { TarHeader } from '../../../src/sinks/tar.js';

const header = (pax: Record<string, string>, mtime = new Date(1_000_000_000_000)): TarHeader => ({
  name: 'f', type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime, linkname: undefined, uname: undefined, gname: undefined, devmajor: 0, devminor: 0, pax, paxRaw: new Map(),
});

describe('entryTimes', () => {
  it('uses the ustar mtime for both times when there are no PAX records', () => {
    const t = entryTimes(header({}));
    expect([t.mtime.toISOString(), t.atime.toISOString()]).toEqual(['2001-09-09T01:46:40.000Z', '2001-09-09T01:46:40.000Z']);
  });

  it('prefers PAX mtime/atime, keeping sub-second precision', () => {
    const t = entryTimes(header({ mtime: '1500000000.25', atime: '1600000000.5' }));
    expect([t.mtime.toISOString(), t.atime.toISOString()]).toEqual(['2017-07-14T02:40:00.250Z', '2020-09-13T12:26:40.500Z']);
  });

  it('ignores a PAX time that is not a number', () => {
    expect(entryTimes(header({ mtime: 'soon' })).mtime.toISOString()).toBe('2001-09-09T01:46:40.000Z');
  });
});
