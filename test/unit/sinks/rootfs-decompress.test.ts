import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../src/errors.js';
import { createZstdDecompressor, openLayerStream, sniffCompression } from '../../../src/sinks/decompress.js';

/**
 * A real zstd frame, made once with the zstd CLI v1.5.4 (compressed blocks, content checksum):
 *   printf 'hello from a real zstd frame\n' | zstd -19 -q -c | xxd -p
 */
const ZSTD_FRAME = Buffer.from('28b52ffd0468e9000068656c6c6f2066726f6d2061207265616c207a737464206672616d650ac0079ea8', 'hex');
const ZSTD_TEXT = 'hello from a real zstd frame\n';

/** Splits bytes into chunks of `size`, to exercise frames and magic that straddle chunk boundaries. */
const chunked = (bytes: Uint8Array, size: number): Readable => {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(Buffer.from(bytes.subarray(i, i + size)));
  return Readable.from(parts);
};

describe('sniffCompression', () => {
  it.each([
    [[0x1f, 0x8b, 0x08, 0x00], 'gzip'],
    [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
    [[0x28, 0xb5, 0x2f], undefined],
    [[0x2e, 0x2f, 0x00, 0x00], undefined],
    [[], undefined],
  ])('%j → %s', (bytes, expected) => {
    expect(sniffCompression(new Uint8Array(bytes))).toBe(expected);
  });
});

describe('createZstdDecompressor', () => {
  it('decodes a real frame fed one byte at a time', async () => {
    expect(await text(chunked(ZSTD_FRAME, 1).pipe(createZstdDecompressor()))).toBe(ZSTD_TEXT);
  });

  it('decodes two concatenated frames as one stream', async () => {
    expect(await text(chunked(Buffer.concat([ZSTD_FRAME, ZSTD_FRAME]), 7).pipe(createZstdDecompressor()))).toBe(ZSTD_TEXT + ZSTD_TEXT);
  });

  it('turns a truncated frame into IntegrityError', async () => {
    const cut = ZSTD_FRAME.subarray(0, ZSTD_FRAME.length - 10);
    await expect(text(Readable.from([cut]).pipe(createZstdDecompressor()))).rejects.toBeInstanceOf(IntegrityError);
  });
});

describe('openLayerStream', () => {
  it('picks the decoder from the magic bytes, even split across chunks', async () => {
    const gz = gzipSync('gzip body');
    const opened = await openLayerStream(chunked(gz, 1), undefined);
    expect(opened.compression).toBe('gzip');
    expect(await text(opened.stream)).toBe('gzip body');
  });

  it('reads zstd by its magic', async () => {
    const opened = await openLayerStream(chunked(ZSTD_FRAME, 3), 'zstd');
    expect([opened.compression, await text(opened.stream)]).toEqual(['zstd', ZSTD_TEXT]);
  });

  it('passes bytes through when there is no magic, whatever the media type claims', async () => {
    const opened = await openLayerStream(Readable.from([Buffer.from('plain tar bytes')]), 'gzip');
    expect([opened.compression, await text(opened.stream)]).toEqual(['none', 'plain tar bytes']);
  });

  it('falls back to the declared compression only for a blob too short to sniff', async () => {
    const opened = await openLayerStream(Readable.from([Buffer.from([0x1f])]), 'gzip');
    expect(opened.compression).toBe('gzip');
    await expect(text(opened.stream)).rejects.toThrow();
  });

  it('carries a source error to the consumer', async () => {
    const source = new Readable({ read() {} });
    source.push(gzipSync('x').subarray(0, 8));
    const opened = await openLayerStream(source, undefined);
    source.destroy(new Error('disk went away'));
    await expect(text(opened.stream)).rejects.toThrow('disk went away');
  });
});
