/**
 * The nouns of an OCI image layout (image-spec image-layout.md, ecosystem.md §6.1), shared by the
 * layout directory and the two archive formats: the `oci-layout` marker, blob paths, and the
 * `index.json` entries that name each image.
 */
import type { Descriptor } from '../oci/descriptor.js';
import { computeDigest, splitDigest, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { InvalidManifestError, IntegrityError } from '../errors.js';
import { parseDescriptor } from '../oci/manifest.js';
import type { ImageRef } from '../reference/types.js';
import type { RawManifest } from '../registry/types.js';
import type { ResolvedImage } from '../image/types.js';

/** image-spec annotations.md: the name of a reference within a layout (commonly the tag). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's full image name, which `ctr import` and docker load (containerd store) use to name the image. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

/** The only layout version there is; containerd's importer requires exactly this (ecosystem.md §6.1). */
export const IMAGE_LAYOUT_VERSION = '1.0.0';

/** The bytes of the `oci-layout` file. */
export const OCI_LAYOUT_BYTES: Uint8Array = Buffer.from(`${JSON.stringify({ imageLayoutVersion: IMAGE_LAYOUT_VERSION })}\n`);

/** Returns `blobs/<alg>/<hex>`, the path of a blob inside a layout (always with forward slashes). */
export function blobPath(digest: Digest): string {
  const { algorithm, hex } = splitDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/**
 * Returns the `org.opencontainers.image.ref.name` for an image: the tag, as skopeo, docker save and
 * containerd write it. An image pulled by digest alone has no tag; it gets its digest-less name
 * ("docker.io/library/alpine"), which fits the annotation's grammar where containerd's "@sha256:…" does not.
 */
export function refNameFor(ref: ImageRef): string {
  return ref.tag ?? ref.name;
}

/**
 * Returns the index.json entry for an image: the manifest's descriptor (or, with `allPlatforms` and an
 * index at the root, the index's) carrying only the two naming annotations.
 */
export function indexEntryFor(image: ResolvedImage, options: { allPlatforms?: boolean } = {}): Descriptor {
  const target = options.allPlatforms && image.index ? image.index.descriptor : image.manifest.descriptor;
  return {
    mediaType: target.mediaType,
    digest: target.digest,
    size: target.size,
    ...(target.platform && target !== image.index?.descriptor ? { platform: target.platform } : {}),
    annotations: { [ANNOTATION_IMAGE_NAME]: image.ref.toString(), [ANNOTATION_REF_NAME]: refNameFor(image.ref) },
  };
}

/** Returns the manifests (and, with `allPlatforms`, the index) an image's entry needs as blobs. */
export function manifestBlobsFor(image: ResolvedImage, options: { allPlatforms?: boolean } = {}): RawManifest[] {
  const out = [image.manifest];
  if (options.allPlatforms && image.index && image.index.descriptor.digest !== image.manifest.descriptor.digest) out.push(image.index);
  for (const m of out) verifyRawManifest(m);
  return out;
}

/** Throws IntegrityError unless the bytes hash to and measure their descriptor. */
export function verifyRawManifest(m: RawManifest): void {
  const { algorithm } = splitDigest(m.descriptor.digest);
  if (m.bytes.byteLength !== m.descriptor.size || computeDigest(m.bytes, algorithm) !== m.descriptor.digest) {
    throw new IntegrityError(`manifest bytes do not match ${m.descriptor.digest}`);
  }
}

/**
 * Adds `entry` to `manifests` the way skopeo's layout writer does (c/image oci_dest.go addManifest):
 * an entry with the same digest and names is replaced, and an older entry that carries the same names
 * for other content loses its names (its blobs stay; the layout may hold unnamed manifests). Two images
 * with the same tag but different full names both keep their names: io.containerd.image.name tells them apart.
 */
export function addIndexEntry(manifests: readonly Descriptor[], entry: Descriptor): Descriptor[] {
  const refName = entry.annotations?.[ANNOTATION_REF_NAME];
  const imageName = entry.annotations?.[ANNOTATION_IMAGE_NAME];
  const out: Descriptor[] = [];
  for (const m of manifests) {
    const sameNames = m.annotations?.[ANNOTATION_REF_NAME] === refName && (m.annotations?.[ANNOTATION_IMAGE_NAME] ?? imageName) === imageName;
    if (!sameNames) out.push(m);
    else if (m.digest !== entry.digest) out.push(withoutNames(m));
  }
  out.push(entry);
  return out;
}

function withoutNames(d: Descriptor): Descriptor {
  const rest = Object.fromEntries(Object.entries(d.annotations ?? {}).filter(([k]) => k !== ANNOTATION_REF_NAME && k !== ANNOTATION_IMAGE_NAME));
  const { annotations: _dropped, ...plain } = d;
  return Object.keys(rest).length > 0 ? { ...plain, annotations: rest } : plain;
}

/** Returns the bytes of an index.json listing `manifests`. */
export function encodeIndex(manifests: readonly Descriptor[]): Uint8Array {
  return Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, null, 2)}\n`);
}

/**
 * Returns the manifests of an existing index.json, keeping each descriptor's fields as written (other
 * tools' annotations and unknown media types must survive our additions: image-layout.md).
 */
export function decodeIndex(bytes: Uint8Array, where: string): Descriptor[] {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new InvalidManifestError(`${where} is not valid JSON`, { cause: err });
  }
  const manifests = (json as { manifests?: unknown } | null)?.manifests;
  if (manifests === undefined || manifests === null) return [];
  if (!Array.isArray(manifests)) throw new InvalidManifestError(`${where} has no "manifests" array`);
  return manifests.map((m: unknown, i) => {
    parseDescriptor(m, `${where} manifests[${i}]`);
    return m as Descriptor;
  });
}

/** Returns whether the bytes of an `oci-layout` file declare the version this writer produces. */
export function isSupportedLayoutMarker(bytes: Uint8Array): boolean {
  try {
    const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as { imageLayoutVersion?: unknown };
    return json.imageLayoutVersion === IMAGE_LAYOUT_VERSION;
  } catch {
    return false;
  }
}
