/**
 * Resolving a reference to one platform's image: root manifest (by digest when the reference has one,
 * else by tag) → platform selection when the root is an index → image manifest → config + layers.
 * Invariants: every manifest returned was checked against the descriptor that named it (size and
 * digest), whatever the client already did.
 */
import { IntegrityError, InvalidManifestError } from '../errors.js';
import { throwIfAborted } from '../context.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { computeDigest, splitDigest, type Digest } from '../oci/digest.js';
import { parseManifest, type ImageIndex, type ImageManifest } from '../oci/manifest.js';
import { isRunnableImage, selectManifest } from '../oci/platform.js';
import { isManifestMediaType } from '../oci/media-types.js';
import type { ImageRef } from '../reference/types.js';
import type { RawManifest, RegistryClient } from '../registry/types.js';
import type { ResolvedImage } from './types.js';

export interface ResolveOptions {
  /** The platform to pull when the reference names an index. */
  readonly platform: Platform;
  readonly signal?: AbortSignal;
}

/**
 * Returns the reference resolved to `options.platform`. A single-platform manifest is accepted even when
 * its config names another platform, as docker does; `platform` is then the wanted one.
 */
export async function resolveImage(client: RegistryClient, ref: ImageRef, options: ResolveOptions): Promise<ResolvedImage> {
  const { signal } = options;
  const { root, parsed } = await fetchRoot(client, ref, signal);
  if (parsed.kind === 'manifest') {
    return toResolved(ref, root, undefined, root, parsed, options.platform);
  }
  const chosen = selectManifest(parsed, options.platform, { name: ref.toString() });
  const child = await fetchChild(client, ref, chosen, signal);
  return toResolved(ref, root, root, child.raw, child.parsed, chosen.platform ?? options.platform);
}

/** Every runnable platform image of a reference, for `--all-platforms`. */
export interface ResolvedAllPlatforms {
  readonly ref: ImageRef;
  readonly root: RawManifest;
  /** Present when the root is an index (for a single manifest, `images` has one entry). */
  readonly index?: ImageIndex;
  /** One per runnable index entry, in index order. */
  readonly images: readonly ResolvedImage[];
  /** Index entries not resolved: attestation manifests, nested indexes, artifacts of unknown type. */
  readonly skipped: readonly Descriptor[];
}

/**
 * Returns the root and every runnable image it lists. `fallbackPlatform` labels entries without a
 * platform and a root that is a single manifest.
 */
export async function resolveAllPlatforms(
  client: RegistryClient,
  ref: ImageRef,
  options: { fallbackPlatform: Platform; signal?: AbortSignal; includeNonRunnable?: boolean },
): Promise<ResolvedAllPlatforms> {
  const { signal, fallbackPlatform } = options;
  // "keep the whole index" (--all-platforms) needs attestation and unknown/unknown manifests too:
  // a layout whose index names a manifest it lacks is broken for skopeo copy --all
  const wanted = (d: Descriptor) => (options.includeNonRunnable ? isManifestMediaType(d.mediaType) : isRunnableImage(d));
  const { root, parsed } = await fetchRoot(client, ref, signal);
  if (parsed.kind === 'manifest') {
    return { ref, root, images: [toResolved(ref, root, undefined, root, parsed, fallbackPlatform)], skipped: [] };
  }
  const images: ResolvedImage[] = [];
  const skipped: Descriptor[] = [];
  // Sequential on purpose: indexes hold a handful of small manifests, and a registry's manifest
  // endpoint is the rate-limited one (Docker Hub counts manifest GETs).
  for (const d of parsed.manifests) {
    if (!wanted(d)) {
      skipped.push(d);
      continue;
    }
    const child = await fetchChild(client, ref, d, signal);
    images.push(toResolved(ref, root, root, child.raw, child.parsed, d.platform ?? fallbackPlatform));
  }
  return { ref, root, index: parsed, images, skipped };
}

async function fetchRoot(
  client: RegistryClient,
  ref: ImageRef,
  signal: AbortSignal | undefined,
): Promise<{ root: RawManifest; parsed: ReturnType<typeof parseManifest> }> {
  throwIfAborted(signal);
  // By digest when there is one: name:tag@digest pulls the digest (ecosystem.md §1.4).
  const root = await client.getManifest(ref, ref.digest ?? ref.tag ?? 'latest', signal);
  if (ref.digest) checkBytes(root.bytes, { digest: ref.digest }, `manifest ${ref.toString()}`);
  return { root, parsed: parseManifest(root.bytes, root.descriptor.mediaType) };
}

async function fetchChild(
  client: RegistryClient,
  ref: ImageRef,
  descriptor: Descriptor,
  signal: AbortSignal | undefined,
): Promise<{ raw: RawManifest; parsed: ImageManifest }> {
  throwIfAborted(signal);
  const raw = await client.getManifest(ref, descriptor.digest, signal);
  checkBytes(raw.bytes, descriptor, `manifest ${descriptor.digest} of ${ref.toString()}`);
  const parsed = parseManifest(raw.bytes, raw.descriptor.mediaType || descriptor.mediaType);
  if (parsed.kind !== 'manifest') {
    throw new InvalidManifestError(`index entry ${descriptor.digest} of ${ref.toString()} is itself an index`, {
      hint: 'nested indexes are not supported; pull the inner index by its digest',
    });
  }
  // The index's descriptor is kept: it carries the platform and annotations a response cannot.
  return { raw: { descriptor, bytes: raw.bytes }, parsed };
}

/** Size before digest (image-spec descriptor.md: verify size before hashing). */
function checkBytes(bytes: Uint8Array, expected: { digest: Digest; size?: number }, what: string): void {
  if (expected.size !== undefined && bytes.byteLength !== expected.size) {
    throw new IntegrityError(`${what}: got ${bytes.byteLength} bytes, the descriptor says ${expected.size}`, {
      hint: 'the registry served different content than the index names; retry, or report it to the registry operator',
    });
  }
  const actual = computeDigest(bytes, splitDigest(expected.digest).algorithm);
  if (actual !== expected.digest) {
    throw new IntegrityError(`${what}: content has digest ${actual}, expected ${expected.digest}`, {
      hint: 'the registry served different content than was asked for; retry, or report it to the registry operator',
    });
  }
}

function toResolved(
  ref: ImageRef,
  root: RawManifest,
  index: RawManifest | undefined,
  manifest: RawManifest,
  parsed: ImageManifest,
  platform: Platform,
): ResolvedImage {
  return {
    ref,
    root,
    ...(index ? { index } : {}),
    manifest,
    parsed,
    config: parsed.config,
    layers: parsed.layers,
    platform,
  };
}
