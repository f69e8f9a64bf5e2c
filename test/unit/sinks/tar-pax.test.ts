import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parsePaxRecords, readTar, type TarHeader } from '../../../src/sinks/tar.js';
import { encodePaxRecords, patchHeader, tarOf } from '../../component/sinks/rootfs-fixtures.js';

/** Every byte value, so any decoding at all shows up. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const CAP = Buffer.from('0100000200208000000000000000000000000000', 'hex');

async function headers(tar: Buffer, chunkSize = tar.length): Promise<TarHeader[]> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < tar.length; at += chunkSize) chunks.push(tar.subarray(at, at + chunkSize));
  const out: TarHeader[] = [];
  for await (const { header, body } of readTar(Readable.from(chunks))) {
    out.push(header);
    body.resume();
  }
  return out;
}

const hex = (m: ReadonlyMap<string, Uint8Array>) => Object.fromEntries([...m].map(([k, v]) => [k, Buffer.from(v).toString('hex')]));

/** The 512-byte header of the entry named `name` (found at a block boundary). */
function headerAt(tar: Buffer, name: string): number {
  for (let at = 0; at < tar.length; at += 512) if (tar.toString('latin1', at, at + name.length + 1) === `${name}\0`) return at;
  throw new Error(`no header for ${name}`);
}

describe('readTar: raw PAX records', () => {
  it('keeps binary values byte for byte, where tar-stream\'s UTF-8 strings lose them', async () => {
    const tar = await tarOf([{ name: 'f', content: 'x', paxRaw: { 'SCHILY.xattr.user.all': ALL_BYTES, 'SCHILY.xattr.security.capability': CAP } }]);
    const [h] = await headers(tar);
    expect(hex(h!.paxRaw)).toEqual({ 'SCHILY.xattr.user.all': ALL_BYTES.toString('hex'), 'SCHILY.xattr.security.capability': CAP.toString('hex') });
    expect(Buffer.from(h!.pax['SCHILY.xattr.security.capability']!, 'utf8').equals(CAP)).toBe(false);
  });

  it('gives the same records when the archive arrives one byte at a time', async () => {
    const tar = await tarOf([
      { name: 'a', content: 'a'.repeat(700), paxRaw: { 'SCHILY.xattr.user.a': CAP } },
      { name: 'd/', type: 'directory' },
      { name: 'b', content: 'b', paxRaw: { 'SCHILY.xattr.user.b': ALL_BYTES } },
    ]);
    const whole = await headers(tar);
    const bytewise = await headers(tar, 1);
    expect(bytewise.map((h) => hex(h.paxRaw))).toEqual(whole.map((h) => hex(h.paxRaw)));
    expect(whole.map((h) => [h.name, Object.keys(hex(h.paxRaw))])).toEqual([['a', ['SCHILY.xattr.user.a']], ['d/', []], ['b', ['SCHILY.xattr.user.b']]]);
  });

  it('merges a global PAX header under the local one, as tar-stream does', async () => {
    const tar = await tarOf([
      { name: 'g', type: 'file', paxRaw: { 'SCHILY.xattr.user.global': CAP, 'SCHILY.xattr.user.both': 'global' } },
      { name: 'f', content: 'f', paxRaw: { 'SCHILY.xattr.user.both': 'local' } },
    ]);
    // turn the first PAX header into a global one ('g'); its "g" entry stays a plain file
    patchHeader(tar, headerAt(tar, 'PaxHeaders.dray/g'), 156, Buffer.from('g'));
    const byName = new Map((await headers(tar)).map((h) => [h.name, hex(h.paxRaw)]));
    expect(byName.get('g')).toEqual({});
    expect(byName.get('f')).toEqual({ 'SCHILY.xattr.user.global': CAP.toString('hex'), 'SCHILY.xattr.user.both': Buffer.from('local').toString('hex') });
  });

  it('follows a PAX size record and a base-256 size field to find the next entry', async () => {
    const tar = await tarOf([
      { name: 'big', content: 'z'.repeat(1500), paxRaw: { size: '1500', 'SCHILY.xattr.user.n': '1' } },
      { name: 'bin', content: 'y'.repeat(600) },
      { name: 'next', content: 'n', paxRaw: { 'SCHILY.xattr.user.n': CAP } },
    ]);
    patchHeader(tar, headerAt(tar, 'big'), 124, Buffer.from('00000000000\0')); // the ustar size says 0: only PAX knows
    const base256 = Buffer.alloc(12);
    base256[0] = 0x80;
    base256.writeUInt16BE(600, 10);
    patchHeader(tar, headerAt(tar, 'bin'), 124, base256);
    const byName = new Map((await headers(tar, 100)).map((h) => [h.name, h]));
    expect([byName.get('big')?.size, byName.get('bin')?.size]).toEqual([1500, 600]);
    expect(hex(byName.get('next')!.paxRaw)).toEqual({ 'SCHILY.xattr.user.n': CAP.toString('hex') });
  });
});

describe('parsePaxRecords', () => {
  it('reads what encodePaxRecords writes, including values holding "=", newlines and NULs', () => {
    const records = { 'SCHILY.xattr.user.x': Buffer.from('a=b\nc\0d'), path: 'some/long/name' };
    expect(hex(parsePaxRecords(encodePaxRecords(records)))).toEqual(hex(new Map(Object.entries(records).map(([k, v]) => [k, Buffer.from(v)]))));
  });

  it('stops at a malformed record, keeping the ones before it', () => {
    expect([...parsePaxRecords(Buffer.from('12 user.a=1\nxx junk'))].map(([k]) => k)).toEqual(['user.a']);
  });
});
