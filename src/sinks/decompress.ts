/**
 * Layer decompression: gzip through zlib, zstd through fzstd (Node 20's zlib has no zstd; fzstd is a
 * maintained pure-JS streaming decoder), uncompressed passed through. The magic bytes decide, as
 * containerd's DecompressStream does, because registries hold layers whose media type lies (gzip-labelled
 * plain tars); the media type only decides when the blob is too short to sniff.
 */
import { PassThrough, Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { IntegrityError } from '../errors.js';
import type { LayerCompression } from '../oci/media-types.js';

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd] as const;
/** Bytes needed to tell the formats apart: the zstd frame magic is the longest. */
const SNIFF_BYTES = ZSTD_MAGIC.length;

/** Returns the compression the leading bytes announce, or undefined for anything else (a plain tar). */
export function sniffCompression(head: Uint8Array): LayerCompression | undefined {
  const starts = (magic: readonly number[]) => head.length >= magic.length && magic.every((b, i) => head[i] === b);
  if (starts(GZIP_MAGIC)) return 'gzip';
  if (starts(ZSTD_MAGIC)) return 'zstd';
  return undefined;
}

/** Returns a Transform decoding a zstd stream (one or more frames); truncation is an IntegrityError. */
export function createZstdDecompressor(): Transform {
  const transform = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      cb(feed(() => decoder.push(chunk)));
    },
    flush(cb: TransformCallback) {
      cb(feed(() => decoder.push(new Uint8Array(0), true)));
    },
  });
  // fzstd hands out blocks that may alias its window buffer: copy before pushing downstream
  const decoder = new Decompress((data) => {
    if (data.length > 0) transform.push(Buffer.from(data));
  });
  return transform;
}

function feed(step: () => void): Error | null {
  try {
    step();
    return null;
  } catch (err) {
    return new IntegrityError(`zstd layer does not decode: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Returns the decoder for a compression ('none' passes bytes through). */
export function createDecompressor(compression: LayerCompression): Transform {
  switch (compression) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return createZstdDecompressor();
    case 'none':
      return new PassThrough();
  }
}

export interface OpenedLayer {
  /** The uncompressed tar; errors of the source and the decoder arrive here. */
  readonly stream: Readable;
  readonly compression: LayerCompression;
}

/**
 * Sniffs `source` and returns it decompressed. `declared` (from the media type) is used only when the
 * blob is shorter than the magic. Destroying the returned stream destroys `source`.
 */
export async function openLayerStream(source: Readable, declared: LayerCompression | undefined): Promise<OpenedLayer> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let headBytes = 0;
  let done = false;
  while (headBytes < SNIFF_BYTES) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  const first = Buffer.concat(head);
  const compression = sniffCompression(first) ?? (headBytes < SNIFF_BYTES && declared !== undefined ? declared : 'none');
  async function* replay(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const decoder = createDecompressor(compression);
  // callback pipeline: an error anywhere destroys every stage, and the decoder (returned) carries it
  pipeline(Readable.from(replay(), { objectMode: false }), decoder, () => {});
  decoder.once('close', () => source.destroy()); // a consumer that stops early releases the blob file
  return { stream: decoder, compression };
}
