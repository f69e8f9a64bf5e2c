import { describe, expect, it } from 'vitest';
import type { TarHeader } from '../../../src/sinks/tar.js';
import { XattrBatch, createXattrTool, entryXattrs, formatDump, quoteDump } from '../../../src/sinks/xattr.js';

const header = (paxRaw: Record<string, Uint8Array | string>): TarHeader => ({
  name: 'f', type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: new Date(0), linkname: undefined, uname: undefined, gname: undefined, devmajor: 0, devminor: 0,
  pax: {}, paxRaw: new Map(Object.entries(paxRaw).map(([k, v]) => [k, Buffer.from(v)])),
});

const CAP = Buffer.from('0100000200208000000000000000000000000000', 'hex');

describe('entryXattrs', () => {
  it('takes SCHILY.xattr values as raw bytes, NULs and bytes >= 0x80 included', () => {
    const xattrs = entryXattrs(header({ 'SCHILY.xattr.security.capability': CAP, 'SCHILY.xattr.user.test': 'hello', mtime: '1.5', path: 'f' }));
    expect(xattrs.map((x) => [x.name, Buffer.from(x.value).toString('hex')])).toEqual([
      ['security.capability', CAP.toString('hex')],
      ['user.test', Buffer.from('hello').toString('hex')],
    ]);
  });

  it('decodes LIBARCHIVE.xattr records: URL-encoded name, base64 value; a SCHILY record for the same name wins', () => {
    const xattrs = entryXattrs(header({
      'LIBARCHIVE.xattr.user.with%3Dequals': Buffer.from([0xff, 0x00, 0x01]).toString('base64'),
      'LIBARCHIVE.xattr.user.both': Buffer.from('from libarchive').toString('base64'),
      'SCHILY.xattr.user.both': 'from schily',
    }));
    expect(Object.fromEntries(xattrs.map((x) => [x.name, Buffer.from(x.value).toString('latin1')]))).toEqual({
      'user.with=equals': '\xff\x00\x01',
      'user.both': 'from schily',
    });
  });

  it('never restores security.selinux (host policy, as umoci) and ignores an empty name', () => {
    expect(entryXattrs(header({ 'SCHILY.xattr.security.selinux': 'system_u:object_r:bin_t:s0', 'SCHILY.xattr.': 'x' }))).toEqual([]);
  });
});

describe('getfattr dump format', () => {
  it.each([
    ['/plain/path-1.txt', '/plain/path-1.txt'],
    ['/a b', '/a\\040b'],
    ['/new\nline', '/new\\012line'],
    ['/back\\slash', '/back\\134slash'],
    ['/k=v', '/k\\075v'],
    ['/ü', '/\\303\\274'],
  ])('quotes %j as setfattr unquotes it back', (input, quoted) => {
    expect(quoteDump(input)).toBe(quoted);
  });

  it('writes one "# file:" block per path with NAME=0xHEX lines, empty values as "0x"', () => {
    const dump = formatDump(new Map([
      ['/r/a', [{ name: 'user.x', value: Buffer.from([0, 0x80, 0xff]) }, { name: 'user.empty', value: new Uint8Array() }]],
      ['/r/b c', [{ name: 'trusted.t', value: Buffer.from('1') }]],
    ]));
    expect(dump).toBe('# file: /r/a\nuser.x=0x0080ff\nuser.empty=0x\n\n# file: /r/b\\040c\ntrusted.t=0x31\n\n');
  });
});

describe('XattrBatch', () => {
  const x = (name: string) => ({ name, value: Buffer.from('v') });

  it('without root keeps only user.* and counts the rest as privileged', async () => {
    const batch = new XattrBatch(false);
    batch.add('/r/f', [x('trusted.a'), x('security.capability')]);
    // nothing left to set, so no setfattr runs even though the command does not exist
    const outcome = await batch.flush(createXattrTool('/nonexistent/setfattr'), new AbortController().signal);
    expect(outcome).toEqual({ privileged: 2, refused: 0, reason: undefined, missingTool: 0 });
  });

  it('forgets a replaced path and everything under it; reports a missing tool once as such', async () => {
    const batch = new XattrBatch(true);
    batch.add('/r/d/inner', [x('user.a')]);
    batch.add('/r/dd', [x('user.b')]);
    batch.add('/r/d', [x('user.c')]);
    batch.forget('/r/d');
    const tool = createXattrTool('/nonexistent/setfattr');
    const outcome = await batch.flush(tool, new AbortController().signal);
    expect([outcome.missingTool, tool.missing]).toEqual([1, true]); // only /r/dd was left
  });
});
