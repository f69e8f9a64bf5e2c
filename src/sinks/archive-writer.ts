/**
 * The streaming core of the two tar exports (docker-archive, oci-archive). Entries are written in an
 * order a reader can follow as the bytes flow: blobs as they arrive (each once, however many images
 * share it), the naming files (index.json, manifest.json) last. To a file, the tar is written to
 * `<dest>.partial-…` and renamed on commit; to a stream (stdout), it goes straight through.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throwIfAborted } from '../context.js';
import { AbortedError, errorCode, IntegrityError, toLocalIOError, UsageError } from '../errors.js';
import type { BlobInfo } from '../cache/types.js';
import type { ExportFormat } from '../events/types.js';
import type { ResolvedImage } from '../image/types.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { Digest } from '../oci/digest.js';
import { addIndexEntry, blobPath, encodeIndex, indexEntryFor, manifestBlobsFor, OCI_LAYOUT_BYTES } from './index-json.js';
import { removeStaging, renameIntoPlace, stagingPathFor } from './staging.js';
import { createTarWriter, type TarWriter } from './tar.js';
import type { ImageSink, SinkDeps } from './types.js';

/** A file the format adds after every blob: manifest.json, repositories. */
export interface TrailerFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface ArchiveSinkSpec {
  readonly format: Exclude<ExportFormat, 'oci' | 'rootfs'>;
  /** Name the root index in index.json (and store it) instead of each platform's manifest. */
  readonly allPlatforms?: boolean;
  /** Called before each image's blobs; may reject an image the format cannot hold. */
  readonly onBegin?: (image: ResolvedImage, earlier: readonly ResolvedImage[]) => void;
  /** The format's own files, written after index.json, from every image in begin order. */
  readonly trailer?: (images: readonly ResolvedImage[]) => TrailerFile[];
}

interface Output {
  readonly tar: TarWriter;
  /** Rejects as soon as writing the archive fails; never resolves before finalize. */
  readonly done: Promise<void>;
  readonly staging: string | undefined;
}

/** Returns a sink writing an OCI layout (plus the spec's trailer files) as a tar to `dest`. */
export function createArchiveSink(dest: string | NodeJS.WritableStream, deps: SinkDeps, spec: ArchiveSinkSpec): ImageSink {
  const { signal, store } = deps;
  const entryOptions = { allPlatforms: spec.allPlatforms ?? false };
  const images: ResolvedImage[] = [];
  const missing = new Map<ResolvedImage, Set<Digest>>();
  const written = new Set<string>();
  let entries: Descriptor[] = [];
  let output: Promise<Output> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let finished = false;
  let broken: unknown;

  /** Runs tar writes one at a time (images arrive concurrently) and stops at the first failure of the output. */
  const serial = (task: (tar: TarWriter) => Promise<void>): Promise<void> => {
    const run = chain.then(async () => {
      if (finished) throw new UsageError(`this ${spec.format} export has already been committed or aborted`);
      // a failed write may have left half an entry: nothing after it could be read back
      if (broken !== undefined) throw broken;
      throwIfAborted(signal);
      output ??= openOutput(dest, signal);
      const out = await output;
      try {
        await Promise.race([task(out.tar), out.done]);
      } catch (err) {
        // after abort() the tar is destroyed under a write in flight: report the abort, not tar-stream's complaint
        broken = finished ? new AbortedError(`the ${spec.format} export was aborted`, { cause: err }) : toLocalIOError(err, `writing the ${spec.format}`);
        throw broken;
      }
    });
    chain = run.catch(() => {});
    return run;
  };

  const addFile = async (tar: TarWriter, name: string, bytes: Uint8Array): Promise<void> => {
    await addParents(tar, name, written);
    if (written.has(name)) return;
    written.add(name);
    await tar.add({ name }, bytes);
  };

  const addBlob = (image: ResolvedImage, blob: BlobInfo, expected: Descriptor): Promise<void> =>
    serial(async (tar) => {
      if (blob.digest !== expected.digest || blob.size !== expected.size) {
        throw new IntegrityError(`blob ${blob.digest} (${blob.size} bytes) is not ${expected.digest} (${expected.size} bytes)`);
      }
      const name = blobPath(blob.digest);
      await addParents(tar, name, written);
      if (!written.has(name)) {
        written.add(name);
        const body = await store.read(blob.digest);
        await tar.addStream({ name, size: blob.size }, body);
      }
      missing.get(image)?.delete(blob.digest);
    });

  return {
    format: spec.format,
    begin: (image) =>
      serial(async (tar) => {
        spec.onBegin?.(image, images);
        for (const m of manifestBlobsFor(image, entryOptions)) await addFile(tar, blobPath(m.descriptor.digest), m.bytes);
        images.push(image);
        missing.set(image, new Set([image.config.digest, ...image.layers.map((l) => l.digest)]));
        entries = addIndexEntry(entries, indexEntryFor(image, entryOptions));
      }),
    config: (image, blob) => addBlob(image, blob, image.config),
    async layer(image, index, blob) {
      const desc = image.layers[index];
      if (!desc) throw new UsageError(`layer ${index} is not in ${image.ref.toString()}`);
      await addBlob(image, blob, desc);
    },
    async commit() {
      await serial(async (tar) => {
        for (const [image, digests] of missing) {
          if (digests.size > 0) throw new UsageError(`cannot finish the ${spec.format}: ${image.ref.toString()} is missing ${digests.size} blob(s)`);
        }
        await addFile(tar, 'oci-layout', OCI_LAYOUT_BYTES);
        await addFile(tar, 'index.json', encodeIndex(entries));
        for (const f of spec.trailer?.(images) ?? []) await addFile(tar, f.name, f.bytes);
        tar.finalize();
      });
      const out = await output!;
      await out.done;
      finished = true;
      if (out.staging && typeof dest === 'string') await renameIntoPlace(out.staging, dest, signal);
    },
    async abort() {
      // a write that already started has set `output` (or sees `finished` and never opens one)
      finished = true;
      const out = await output?.catch(() => undefined);
      if (!out) return;
      // destroying the tar ends the pipeline: a streamed archive stops short (a reader sees a truncated
      // tar, never a complete-looking one); a file archive's staging is removed once no write is in flight
      out.tar.stream.destroy(new AbortedError('export aborted'));
      await out.done.catch(() => {});
      await chain;
      if (out.staging) await removeStaging(out.staging);
    },
  };
}

/** Adds the directory entries docker save writes ("blobs/", "blobs/sha256/") before the first file in them. */
async function addParents(tar: TarWriter, name: string, written: Set<string>): Promise<void> {
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const dir = `${parts.slice(0, i).join('/')}/`;
    if (written.has(dir)) continue;
    written.add(dir);
    await tar.add({ name: dir, type: 'directory' });
  }
}

async function openOutput(dest: string | NodeJS.WritableStream, signal: AbortSignal): Promise<Output> {
  const tar = createTarWriter();
  let staging: string | undefined;
  let target: NodeJS.WritableStream;
  if (typeof dest === 'string') {
    await refuseDirectory(dest);
    staging = stagingPathFor(dest);
    // flush: fsync before close, so the rename on commit never publishes an archive still in the page cache only
    target = createWriteStream(staging, { flags: 'wx', mode: 0o644, flush: true });
  } else {
    target = dest;
  }
  const where = staging ?? 'the output stream';
  const done = pipeline(tar.stream, target as Writable, { signal }).catch((err: unknown) => {
    if (signal.aborted) throw new AbortedError('interrupted', { cause: err });
    throw toLocalIOError(err, `writing ${where}`);
  });
  done.catch(() => {}); // observed by every write (Promise.race) and by commit/abort
  return { tar, done: done.then(() => undefined), staging };
}

async function refuseDirectory(dest: string): Promise<void> {
  try {
    if ((await stat(dest)).isDirectory()) {
      throw new UsageError(`cannot write an archive to ${dest}: it is a directory`, { hint: 'give a file path, or - for stdout' });
    }
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw err instanceof UsageError ? err : toLocalIOError(err, `reading ${dest}`);
  }
}
