/** One image of a run: resolve and record it, then fetch its blobs in order and feed the output. */
import type { BlobInfo } from './cache/types.js';
import { summarizeError } from './events/bus.js';
import { checkFreeSpace } from './cache/space.js';
import type { RunContext } from './context.js';
import { formatPlatform } from './oci/descriptor.js';
import type { Platform } from './oci/descriptor.js';
import type { ImageRef } from './reference/types.js';
import type { RawManifest } from './registry/types.js';
import { resolveAllPlatforms, resolveImage } from './image/resolve.js';
import type { ResolvedImage } from './image/types.js';
import type { Session } from './session.js';
import type { ImageSink } from './sinks/types.js';

export interface PullImageDeps {
  readonly ctx: RunContext;
  readonly session: Session;
  readonly platform: Platform;
  readonly sink?: ImageSink;
  /** Where the sink writes, for export events ("-" for stdout). */
  readonly exportDest?: string;
}

/** Resolves the reference, stores its manifests in the cache and records tag → digest in refs/. */
export async function resolveAndRecord(ref: ImageRef, deps: PullImageDeps): Promise<ResolvedImage> {
  const { image, recorded } = await resolveAndStartRecording(ref, deps);
  await recorded;
  return image;
}

/**
 * Like {@link resolveAndRecord}, but returns as soon as the image is resolved, with the cache writes
 * (each fsyncs) still under way in `recorded`: a pull starts its blobs meanwhile instead of a few
 * milliseconds of disk later. The caller must await `recorded` (it never rejects unobserved).
 */
export async function resolveAndStartRecording(ref: ImageRef, deps: PullImageDeps): Promise<{ image: ResolvedImage; recorded: Promise<void> }> {
  const { ctx, session } = deps;
  ctx.emit({ type: 'resolve.started', ref: ref.toString() });
  try {
    const image = await resolveImage(session.client(ref.registry), ref, { platform: deps.platform, signal: ctx.signal });
    const recorded = record(ref, image.root, [image.root, image.manifest], session);
    recorded.catch(() => {});
    ctx.emit({
      type: 'resolve.done',
      ref: ref.toString(),
      digest: image.root.descriptor.digest,
      platform: formatPlatform(image.platform),
      layers: image.layers.length,
      size: image.layers.reduce((n, l) => n + l.size, image.config.size),
    });
    return { image, recorded };
  } catch (err) {
    ctx.emit({ type: 'resolve.failed', ref: ref.toString(), error: summarizeError(err) });
    throw err;
  }
}

/**
 * --all-platforms: resolves every manifest the index names (attestations included, so the layout's
 * index is whole), records the tag, and returns one ResolvedImage per manifest.
 */
export async function resolveAllAndRecord(ref: ImageRef, deps: PullImageDeps): Promise<readonly ResolvedImage[]> {
  const { ctx, session } = deps;
  ctx.emit({ type: 'resolve.started', ref: ref.toString() });
  try {
    const all = await resolveAllPlatforms(session.client(ref.registry), ref, { fallbackPlatform: deps.platform, signal: ctx.signal, includeNonRunnable: true });
    await record(ref, all.root, [all.root, ...all.images.map((i) => i.manifest)], session);
    ctx.emit({
      type: 'resolve.done',
      ref: ref.toString(),
      digest: all.root.descriptor.digest,
      platform: all.images.map((i) => formatPlatform(i.platform)).join(','),
      layers: all.images.reduce((n, i) => n + i.layers.length, 0),
      size: all.images.reduce((n, i) => n + i.layers.reduce((m, l) => m + l.size, i.config.size), 0),
    });
    return all.images;
  } catch (err) {
    ctx.emit({ type: 'resolve.failed', ref: ref.toString(), error: summarizeError(err) });
    throw err;
  }
}

/**
 * Asks the transfer manager for the config, then every layer bottom-up (call order is priority), and
 * hands each to the sink as soon as it lands, in manifest order. Returns the image's blob digests.
 * On failure it waits for the image's other transfers to settle, so nothing outlives the run.
 */
export async function fetchImage(image: ResolvedImage, deps: PullImageDeps): Promise<string[]> {
  const { ctx, session, sink } = deps;
  const source = session.blobSource(image.ref);
  const ref = image.ref.toString();
  ctx.emit({ type: 'blob.planned', ref, digest: image.config.digest, role: 'config', order: 0, size: image.config.size });
  image.layers.forEach((desc, i) =>
    ctx.emit({ type: 'blob.planned', ref, digest: desc.digest, role: 'layer', order: i + 1, size: desc.size }),
  );
  await checkSpaceFor(image, session);
  const config = session.transfer.fetch({ desc: image.config, role: 'config', source });
  const layers = image.layers.map((desc) => session.transfer.fetch({ desc, role: 'layer', source }));
  const all: Promise<BlobInfo>[] = [config, ...layers];
  for (const p of all) p.catch(() => {}); // observed below; avoid unhandled-rejection noise meanwhile
  try {
    if (sink) ctx.emit({ type: 'export.started', ref, format: sink.format, dest: deps.exportDest ?? '' });
    await sink?.begin(image);
    const configBlob = await config;
    await sink?.config(image, configBlob);
    for (const [i, pending] of layers.entries()) {
      const blob = await pending;
      if (sink) {
        await sink.layer(image, i, blob);
        ctx.emit({ type: 'export.layer', ref, order: i + 1, digest: blob.digest });
      }
    }
    return [image.config.digest, ...image.layers.map((l) => l.digest)];
  } catch (err) {
    await Promise.allSettled(all);
    throw err;
  }
}

/** Stores the manifests (verified bytes) and, for a tag, the tag → digest record, all at once: each write fsyncs. */
async function record(ref: ImageRef, root: RawManifest, manifests: readonly RawManifest[], session: Session): Promise<void> {
  const writes: Promise<unknown>[] = [...new Map(manifests.map((m) => [m.descriptor.digest, m])).values()].map((m) => session.store.putBytes(m.descriptor.digest, m.bytes));
  if (ref.tag !== undefined && ref.digest === undefined) {
    writes.push(session.store.writeRef({ ref: ref.toString(), digest: root.descriptor.digest, mediaType: root.descriptor.mediaType, resolvedAt: new Date().toISOString(), from: ref.registry }));
  }
  await Promise.all(writes);
}

/** Fails early with exit 7 when the blobs still missing cannot fit in the cache's filesystem. */
async function checkSpaceFor(image: ResolvedImage, session: Session): Promise<void> {
  const blobs = [image.config, ...image.layers];
  const present = await Promise.all(blobs.map((desc) => session.store.stat(desc.digest)));
  const missing = blobs.reduce((n, desc, i) => (present[i] ? n : n + desc.size), 0);
  if (missing > 0) await checkFreeSpace(session.store.root, missing);
}
