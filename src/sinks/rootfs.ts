/**
 * `--format rootfs -o DIR`: the image's root filesystem, unpacked layer by layer, base first, each as
 * soon as it is committed in the cache (pipelined with the downloads of the layers above it). Built in
 * `<DIR>.partial-<pid>-<rand>` and renamed to DIR on commit, so DIR appears only when complete. Layer
 * safety rules are in path-safety.ts; whiteouts in whiteouts.ts; the per-entry work in apply-layer.ts.
 */
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { BlobInfo } from '../cache/types.js';
import type { Emit } from '../events/types.js';
import type { ResolvedImage } from '../image/types.js';
import { UsageError, errorCode, toLocalIOError } from '../errors.js';
import { throwIfAborted } from '../context.js';
import { layerCompression } from '../oci/media-types.js';
import { applyLayer } from './apply-layer.js';
import { openLayerStream } from './decompress.js';
import { applyDeferredModes, type DeferredModes } from './rootfs-metadata.js';
import { removeStaging, renameIntoPlace, stagingPathFor } from './staging.js';
import { createXattrTool } from './xattr.js';
import type { ImageSink, SinkDeps } from './types.js';

/** Mode of the root directory unless a layer sets it: what docker, containerd and umoci give "/". */
const ROOT_DIR_MODE = 0o755;

export interface RootfsSinkDeps extends SinkDeps {
  readonly emit?: Emit;
  /** Owners and device nodes are applied only as root; otherwise skipped with one warning per layer. */
  readonly isRoot: boolean;
}

export interface RootfsSinkOptions {
  /** The setfattr to run for extended attributes (default: "setfattr" on PATH); if missing, one warning per pull. */
  readonly setfattr?: string;
}

/** Returns a sink that unpacks one image's layers into the directory `dest` (absent or empty). */
export function createRootfsSink(dest: string, deps: RootfsSinkDeps, options: RootfsSinkOptions = {}): ImageSink {
  const { signal } = deps;
  const deferredModes: DeferredModes = new Map();
  const xattrTool = createXattrTool(options.setfattr);
  let image: ResolvedImage | undefined;
  let staging: string | undefined;
  let applied = 0;
  // layers apply strictly in order even if a caller hands over the next one before the last finished
  let queue: Promise<void> = Promise.resolve();

  async function applyOne(img: ResolvedImage, index: number, blob: BlobInfo): Promise<void> {
    throwIfAborted(signal);
    if (staging === undefined || img !== image) throw new Error('rootfs sink: layer() before begin() for this image');
    if (index !== applied) throw new Error(`rootfs sink: layer ${index} arrived, layer ${applied} expected (layers apply base first)`);
    const desc = img.layers[index];
    if (desc === undefined) throw new Error(`rootfs sink: the image has no layer ${index}`);
    const source = await deps.store.read(blob.digest);
    const { stream } = await openLayerStream(source, layerCompression(desc.mediaType));
    try {
      await applyLayer(staging, stream, {
        isRoot: deps.isRoot,
        signal,
        deferredModes,
        xattrTool,
        onWarning: (w) => deps.emit?.({ type: 'warning', code: w.code, message: `${img.ref.toString()} layer ${index}: ${w.message}` }),
      });
      await drain(stream); // the decoder checks its trailer (gzip CRC, zstd frame end) only at EOF
    } finally {
      stream.destroy();
    }
    applied++;
  }

  return {
    format: 'rootfs',
    async begin(img) {
      throwIfAborted(signal);
      if (image !== undefined) {
        throw new UsageError('a root filesystem holds exactly one image', { hint: 'pull one image (one platform) per --format rootfs destination' });
      }
      await assertUsableDest(dest);
      const path = stagingPathFor(dest);
      try {
        await mkdir(path, { mode: ROOT_DIR_MODE });
        await chmod(path, ROOT_DIR_MODE); // mkdir's mode passes through the umask
      } catch (err) {
        throw toLocalIOError(err, `creating ${path}`);
      }
      staging = path;
      image = img;
    },
    async config() {
      // the root filesystem does not hold the config; the layers were verified by digest in the cache
    },
    layer(img, index, blob) {
      const next = queue.then(() => applyOne(img, index, blob));
      queue = next.catch(() => {});
      return next;
    },
    async commit() {
      await queue;
      if (staging === undefined || image === undefined) throw new Error('rootfs sink: commit() before begin()');
      if (applied !== image.layers.length) throw new Error(`rootfs sink: commit() after ${applied} of ${image.layers.length} layers`);
      try {
        applyDeferredModes(deferredModes);
      } catch (err) {
        throw toLocalIOError(err, `setting directory modes in ${staging}`);
      }
      await renameIntoPlace(staging, dest, signal);
      staging = undefined;
    },
    async abort() {
      await queue;
      if (staging !== undefined) await removeStaging(staging);
      staging = undefined;
    },
  };
}

/** The destination must be absent or an empty directory: unpacking over an existing tree would merge two filesystems. */
async function assertUsableDest(dest: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dest)).isDirectory();
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw toLocalIOError(err, `checking ${dest}`);
  }
  const refuse = () => new UsageError(`cannot unpack a root filesystem into ${dest}: it exists and is not an empty directory`, { hint: 'remove it or choose another -o path' });
  if (!isDir) throw refuse();
  const entries = await readdir(dest).catch((err: unknown) => {
    throw toLocalIOError(err, `reading ${dest}`);
  });
  if (entries.length > 0) throw refuse();
}

async function drain(stream: Readable): Promise<void> {
  for await (const _chunk of stream) {
    // discard: bytes after the tar's end-of-archive marker
  }
}
