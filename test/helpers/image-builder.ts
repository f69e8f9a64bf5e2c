/**
 * Deterministic test images (STYLE.md "Deterministic fixtures"): the same inputs always give the
 * same bytes and digests — fixed mtimes, uid/gid 0, entries sorted by path unless asked otherwise,
 * gzip with a fixed level and no timestamp (zlib writes mtime 0 and no file name).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { computeDigest, type Digest } from '../../src/oci/digest.js';
import type { Descriptor, Platform } from '../../src/oci/descriptor.js';
import { MediaType, type LayerCompression } from '../../src/oci/media-types.js';
import { encodeZstdStored } from './zstd-stored.js';

/** The mtime of every entry unless one is given: the epoch, as reproducible-builds tools use. */
const FIXED_MTIME = new Date(0);
/** zlib's default level; fixed so the compressed bytes never depend on the caller. */
const GZIP_LEVEL = 6;

/** One entry of a layer; `path` is the tar name as written (no leading "./" is added). */
export type LayerFile =
  | { type: 'file'; path: string; content: string | Uint8Array; mode?: number; mtime?: Date; uid?: number; gid?: number; pax?: Record<string, string> }
  | { type: 'dir'; path: string; mode?: number; mtime?: Date }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'hardlink'; path: string; target: string }
  /** Deletes `path` from lower layers: written as "<dir>/.wh.<base>" (image-spec layer.md). */
  | { type: 'whiteout'; path: string }
  /** Hides all lower-layer children of the directory `path`: "<path>/.wh..wh..opq". */
  | { type: 'opaque'; path: string }
  | { type: 'fifo'; path: string; mode?: number };

export interface BuildLayerOptions {
  /** Defaults to gzip. zstd frames are valid but stored (uncompressed blocks): no zstd encoder is installed. */
  readonly compression?: LayerCompression;
  /** Layer media type family; docker has only a gzip type, so other compressions use OCI's. */
  readonly mediaTypes?: 'oci' | 'docker';
  /** Keep the caller's order (for tests of hardlink-before-target, whiteout ordering, …). */
  readonly keepOrder?: boolean;
  readonly gzipLevel?: number;
}

export interface BuiltLayer {
  /** The blob as pushed (compressed). */
  readonly bytes: Uint8Array;
  /** The uncompressed tar. */
  readonly tar: Uint8Array;
  readonly digest: Digest;
  /** Digest of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly compression: LayerCompression;
  readonly descriptor: Descriptor;
}

export interface BuiltBlob {
  readonly bytes: Uint8Array;
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
}

export interface BuiltImage {
  readonly config: BuiltBlob;
  readonly manifest: BuiltBlob;
  readonly layers: readonly BuiltLayer[];
  readonly platform: Platform;
  /** Config and layers by digest (not the manifest). */
  readonly blobs: ReadonlyMap<Digest, Uint8Array>;
  /** Descriptor of the manifest, with its platform, as an index lists it. */
  readonly descriptor: Descriptor;
}

export interface BuiltIndex {
  readonly index: BuiltBlob;
  readonly images: readonly BuiltImage[];
  /** Alias of index.bytes etc. for symmetry with images. */
  readonly manifest: BuiltBlob;
  readonly descriptor: Descriptor;
}

/** Returns the uncompressed tar of `files`. */
export async function buildTar(files: readonly LayerFile[], keepOrder = false): Promise<Uint8Array> {
  const entries = keepOrder ? [...files] : [...files].sort((a, b) => (entryName(a) < entryName(b) ? -1 : 1));
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk) => void chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const file of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      const header = tarHeader(file);
      if (file.type === 'file') pack.entry(header, toBytes(file.content), cb);
      else if (file.type === 'whiteout' || file.type === 'opaque') pack.entry(header, new Uint8Array(0), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function entryName(file: LayerFile): string {
  switch (file.type) {
    case 'dir':
      return file.path.endsWith('/') ? file.path : `${file.path}/`;
    case 'whiteout': {
      const i = file.path.lastIndexOf('/');
      return `${file.path.slice(0, i + 1)}.wh.${file.path.slice(i + 1)}`;
    }
    case 'opaque':
      return `${file.path.replace(/\/$/, '')}/.wh..wh..opq`;
    default:
      return file.path;
  }
}

function tarHeader(file: LayerFile): tarStream.Header {
  const base = {
    name: entryName(file),
    size: 0,
    mode: 0o644,
    mtime: FIXED_MTIME,
    linkname: '',
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  };
  switch (file.type) {
    case 'file':
      return {
        ...base,
        type: 'file',
        size: toBytes(file.content).byteLength,
        mode: file.mode ?? 0o644,
        mtime: file.mtime ?? FIXED_MTIME,
        uid: file.uid ?? 0,
        gid: file.gid ?? 0,
        ...(file.pax ? { pax: file.pax } : {}),
      };
    case 'dir':
      return { ...base, type: 'directory', mode: file.mode ?? 0o755, mtime: file.mtime ?? FIXED_MTIME };
    case 'symlink':
      return { ...base, type: 'symlink', mode: 0o777, linkname: file.target };
    case 'hardlink':
      return { ...base, type: 'link', linkname: file.target };
    case 'fifo':
      return { ...base, type: 'fifo', mode: file.mode ?? 0o644 };
    default:
      return { ...base, type: 'file' };
  }
}

/** Returns a deterministic layer blob built from `files`. */
export async function buildLayer(files: readonly LayerFile[], options: BuildLayerOptions = {}): Promise<BuiltLayer> {
  return layerFromTar(await buildTar(files, options.keepOrder), options);
}

/** Returns a layer whose blob is `tar` compressed as asked (the tar is used as is, even if malformed). */
export function layerFromTar(tar: Uint8Array, options: BuildLayerOptions = {}): BuiltLayer {
  const compression = options.compression ?? 'gzip';
  const bytes = compress(tar, compression, options.gzipLevel ?? GZIP_LEVEL);
  const mediaType = layerMediaType(compression, options.mediaTypes ?? 'oci');
  const digest = computeDigest(bytes);
  return {
    bytes,
    tar,
    digest,
    diffId: computeDigest(tar),
    mediaType,
    size: bytes.byteLength,
    compression,
    descriptor: { mediaType, digest, size: bytes.byteLength },
  };
}

function compress(tar: Uint8Array, compression: LayerCompression, level: number): Uint8Array {
  if (compression === 'gzip') return new Uint8Array(gzipSync(tar, { level }));
  if (compression === 'zstd') return encodeZstdStored(tar);
  return tar;
}

function layerMediaType(compression: LayerCompression, family: 'oci' | 'docker'): string {
  if (compression === 'gzip') return family === 'docker' ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
  return compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
}

/**
 * Returns `size` pseudo-random bytes, the same for the same seed: an AES-128-CTR keystream keyed by
 * sha256(seed), which is incompressible and runs at memory speed.
 */
export function randomBytes(size: number, seed: string | number): Uint8Array {
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return new Uint8Array(cipher.update(Buffer.alloc(size)));
}

/**
 * Returns a layer holding one file of `size` incompressible bytes ("random-<seed>.bin").
 * Defaults to gzip level 1: random data does not shrink, so a higher level only costs time.
 */
export async function randomLayer(size: number, seed: string | number, options: BuildLayerOptions = {}): Promise<BuiltLayer> {
  const files: LayerFile[] = [{ type: 'file', path: `random-${seed}.bin`, content: randomBytes(size, seed) }];
  return buildLayer(files, { gzipLevel: 1, ...options });
}

export interface BuildImageOptions {
  readonly layers: readonly BuiltLayer[];
  readonly platform?: Platform;
  readonly mediaTypes?: 'oci' | 'docker';
  /** The config's "config" object (Env, Cmd, …). */
  readonly runtimeConfig?: Record<string, unknown>;
  readonly annotations?: Record<string, string>;
}

const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** Returns a deterministic image: config, manifest and every blob. */
export function buildImage(options: BuildImageOptions): BuiltImage {
  const family = options.mediaTypes ?? 'oci';
  const platform = options.platform ?? DEFAULT_PLATFORM;
  const config = jsonBlob(
    {
      created: FIXED_MTIME.toISOString(),
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: options.runtimeConfig ?? { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: options.layers.map((l) => l.diffId) },
      history: options.layers.map(() => ({ created: FIXED_MTIME.toISOString(), created_by: 'dray test image-builder' })),
    },
    family === 'docker' ? MediaType.DockerConfig : MediaType.OciConfig,
  );
  const layers = options.layers.map((l) => (family === 'docker' ? asDockerLayer(l) : l));
  const manifestType = family === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest = jsonBlob(
    {
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    manifestType,
  );
  const blobs = new Map<Digest, Uint8Array>([[config.digest, config.bytes]]);
  for (const l of layers) blobs.set(l.digest, l.bytes);
  return {
    config,
    manifest,
    layers,
    platform,
    blobs,
    descriptor: { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, platform },
  };
}

/** Relabels a gzip layer with Docker's media type (the bytes, and so the digest, stay the same). */
function asDockerLayer(layer: BuiltLayer): BuiltLayer {
  if (layer.compression !== 'gzip') return layer;
  const mediaType = MediaType.DockerLayerGzip;
  return { ...layer, mediaType, descriptor: { ...layer.descriptor, mediaType } };
}

/** Returns an OCI index (or Docker manifest list) over `images`, listed in the given order. */
export function buildIndex(images: readonly BuiltImage[], options: { mediaTypes?: 'oci' | 'docker'; annotations?: Record<string, string> } = {}): BuiltIndex {
  const mediaType = options.mediaTypes === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex;
  const index = jsonBlob(
    {
      schemaVersion: 2,
      mediaType,
      manifests: images.map((i) => ({ mediaType: i.manifest.mediaType, digest: i.manifest.digest, size: i.manifest.size, platform: i.platform })),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    mediaType,
  );
  return { index, manifest: index, images, descriptor: { mediaType, digest: index.digest, size: index.size } };
}

/** Returns the blob of `value` serialised as compact JSON (key order is insertion order, so stable). */
export function jsonBlob(value: unknown, mediaType: string): BuiltBlob {
  const bytes = new Uint8Array(Buffer.from(JSON.stringify(value), 'utf8'));
  return { bytes, digest: computeDigest(bytes), size: bytes.byteLength, mediaType };
}

function toBytes(content: string | Uint8Array): Uint8Array {
  return typeof content === 'string' ? new Uint8Array(Buffer.from(content, 'utf8')) : content;
}
