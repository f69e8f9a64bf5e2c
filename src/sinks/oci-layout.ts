/**
 * OciLayoutSink: writes images into an OCI image layout directory (image-spec image-layout.md), the
 * format `skopeo copy … oci:DIR`, `crane pull --format oci` and `umoci` read.
 *
 * A new layout is built in `<dest>.partial-…` and renamed into place on commit. An existing layout is
 * added to, as skopeo and crane do: blobs first, then index.json rewritten atomically, so a reader sees
 * the old index or the new one, never a name pointing at missing blobs.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { throwIfAborted } from '../context.js';
import { AbortedError, errorCode, IntegrityError, toLocalIOError, UsageError } from '../errors.js';
import type { BlobInfo } from '../cache/types.js';
import type { ResolvedImage } from '../image/types.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { Digest } from '../oci/digest.js';
import {
  addIndexEntry,
  blobPath,
  decodeIndex,
  encodeIndex,
  indexEntryFor,
  isSupportedLayoutMarker,
  manifestBlobsFor,
  OCI_LAYOUT_BYTES,
} from './index-json.js';
import { fileSize, placeFile, removeStaging, renameIntoPlace, stagingPathFor, writeFileAtomic, type LinkMode } from './staging.js';
import type { ImageSink, SinkDeps } from './types.js';

export interface OciLayoutSinkOptions {
  /** 'auto' (default): hard link from the cache when on the same filesystem, else copy. */
  readonly link?: LinkMode;
  /** Write the root index and name it in index.json, instead of the one platform's manifest (crane's default for multi-arch refs). */
  readonly allPlatforms?: boolean;
}

/** Where this export writes: a fresh staging directory, or straight into an existing layout. */
interface Target {
  readonly root: string;
  readonly staging: string | undefined;
}

/** Returns a sink that writes every image it is given into the OCI layout at `dest`. */
export function createOciLayoutSink(dest: string, deps: SinkDeps, options: OciLayoutSinkOptions = {}): ImageSink {
  const { signal } = deps;
  const mode = options.link ?? 'auto';
  const entryOptions = { allPlatforms: options.allPlatforms ?? false };
  let target: Promise<Target> | undefined;
  // index.json lists images in the order begin() was called, however their manifests' writes interleave
  const entries: (Descriptor | undefined)[] = [];
  const missing = new Map<ResolvedImage, Set<Digest>>();
  let finished = false;
  // index.json as last written into a new layout's staging directory (see begin)
  let early: Promise<Uint8Array | undefined> | undefined;
  /** `base` with an entry for every image begun, in the order begin() was called. */
  const withEntries = (base: Descriptor[]): Descriptor[] => {
    let manifests = base;
    for (const e of entries) if (e) manifests = addIndexEntry(manifests, e);
    return manifests;
  };
  // file operations in flight: abort waits for them, so none recreates the staging directory it removes
  const inflight = new Set<Promise<unknown>>();
  const track = <T>(start: () => Promise<T>): Promise<T> => {
    if (finished) return Promise.reject(new AbortedError('the OCI layout export was aborted'));
    const work = start();
    inflight.add(work);
    void work.finally(() => inflight.delete(work)).catch(() => {});
    return work;
  };

  const open = (): Promise<Target> => {
    if (finished) throw new UsageError('this OCI layout export has already been committed or aborted');
    target ??= prepareTarget(dest, signal);
    return target;
  };

  const place = async (image: ResolvedImage, blob: BlobInfo, expected: Descriptor): Promise<void> => {
    throwIfAborted(signal);
    checkBlob(blob, expected);
    const { root } = await open();
    await track(() => placeFile(blob.path, join(root, blobPath(blob.digest)), blob.size, mode, signal));
    missing.get(image)?.delete(blob.digest);
  };

  return {
    format: 'oci',
    async begin(image) {
      const slot = entries.push(undefined) - 1;
      throwIfAborted(signal);
      const t = await open();
      for (const m of manifestBlobsFor(image, entryOptions)) {
        const path = join(t.root, blobPath(m.descriptor.digest));
        if ((await fileSize(path)) === m.descriptor.size) continue;
        await track(() => writeBlobBytes(path, m.bytes, signal));
      }
      missing.set(image, new Set([image.config.digest, ...image.layers.map((l) => l.digest)]));
      entries[slot] = indexEntryFor(image, entryOptions);
      // A new layout's index.json depends only on the images begun, so it is written (and fsynced)
      // while their blobs download; commit then only renames the directory into place, unless
      // another image began since.
      if (t.staging) {
        const bytes = encodeIndex(withEntries([]));
        const written = (early ?? Promise.resolve(undefined)).then(async () => {
          await track(() => writeFileAtomic(join(t.root, 'index.json'), bytes, signal));
          return bytes;
        });
        written.catch(() => {}); // commit writes it again
        early = written;
      }
    },
    config: (image, blob) => place(image, blob, image.config),
    async layer(image, index, blob) {
      const desc = image.layers[index];
      if (!desc) throw new UsageError(`layer ${index} is not in ${image.ref.toString()}`);
      await place(image, blob, desc);
    },
    async commit() {
      throwIfAborted(signal);
      const t = await open();
      for (const [image, digests] of missing) {
        if (digests.size > 0) throw new UsageError(`cannot finish the OCI layout: ${image.ref.toString()} is missing ${digests.size} blob(s)`);
      }
      const indexPath = join(t.root, 'index.json');
      if (t.staging) {
        const bytes = encodeIndex(withEntries([]));
        const staged = await early?.catch(() => undefined);
        if (staged === undefined || !Buffer.from(staged).equals(bytes)) await writeFileAtomic(indexPath, bytes, signal);
      } else {
        // re-read just before writing: another tool may have added to an existing layout meanwhile
        await writeFileAtomic(indexPath, encodeIndex(withEntries(await readIndex(indexPath))), signal);
      }
      if (t.staging) await renameIntoPlace(t.staging, dest, signal);
      finished = true;
    },
    async abort() {
      finished = true;
      const t = await target?.catch(() => undefined);
      await Promise.allSettled([...inflight]);
      // blobs already added to an existing layout stay: unreferenced blobs are allowed (image-layout.md),
      // and another writer may have named the same content meanwhile
      if (t?.staging) await removeStaging(t.staging);
    },
  };
}

/** Writes a manifest or index blob (bytes already verified against its digest). */
async function writeBlobBytes(path: string, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => {
    throw toLocalIOError(err, `creating ${dirname(path)}`);
  });
  await writeFileAtomic(path, bytes, signal);
}

/** Throws unless the committed blob is the one the manifest names. */
function checkBlob(blob: BlobInfo, expected: Descriptor): void {
  if (blob.digest !== expected.digest || blob.size !== expected.size) {
    throw new IntegrityError(`blob ${blob.digest} (${blob.size} bytes) is not ${expected.digest} (${expected.size} bytes)`);
  }
}

/** Decides between adding to an existing layout and staging a new one beside dest. */
async function prepareTarget(dest: string, signal: AbortSignal): Promise<Target> {
  throwIfAborted(signal);
  const kind = await inspectDest(dest);
  if (kind === 'layout') return { root: dest, staging: undefined };
  const staging = stagingPathFor(dest);
  try {
    await mkdir(join(staging, 'blobs'), { recursive: true });
    await writeFileAtomic(join(staging, 'oci-layout'), OCI_LAYOUT_BYTES, signal);
  } catch (err) {
    await removeStaging(staging);
    throw toLocalIOError(err, `creating ${staging}`);
  }
  return { root: staging, staging };
}

/** 'absent' covers an empty directory too: rename(2) may replace it. */
async function inspectDest(dest: string): Promise<'absent' | 'layout'> {
  let isDir: boolean;
  try {
    isDir = (await stat(dest)).isDirectory();
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return 'absent';
    throw toLocalIOError(err, `reading ${dest}`);
  }
  if (!isDir) throw new UsageError(`cannot write an OCI layout to ${dest}: it is a file`, { hint: 'choose a directory path' });
  const marker = await readFile(join(dest, 'oci-layout')).catch((err: unknown) => {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw toLocalIOError(err, `reading ${dest}/oci-layout`);
  });
  if (marker === undefined) {
    const names = await readdir(dest).catch((err: unknown) => {
      throw toLocalIOError(err, `reading ${dest}`);
    });
    if (names.length === 0) return 'absent';
    throw new UsageError(`cannot write an OCI layout to ${dest}: the directory is not empty and is not an OCI layout`, {
      hint: 'choose an empty or new directory, or an existing OCI layout to add to',
    });
  }
  if (!isSupportedLayoutMarker(marker)) {
    throw new UsageError(`${dest}/oci-layout does not declare imageLayoutVersion ${JSON.stringify('1.0.0')}`, {
      hint: 'dray adds only to OCI layouts of version 1.0.0',
    });
  }
  return 'layout';
}

async function readIndex(path: string): Promise<Descriptor[]> {
  const bytes = await readFile(path).catch((err: unknown) => {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw toLocalIOError(err, `reading ${path}`);
  });
  return bytes ? decodeIndex(bytes, path) : [];
}
