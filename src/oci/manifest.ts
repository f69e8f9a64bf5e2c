/**
 * Manifest and index parsing (image-spec manifest.md, image-index.md; Docker schema2). Parsing
 * validates shape and digests of every descriptor so later stages can trust the nouns they get.
 */
import { InvalidManifestError } from '../errors.js';
import { isDigest, type Digest } from './digest.js';
import type { Descriptor, Platform } from './descriptor.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export type ParsedManifest = ImageManifest | ImageIndex;

/**
 * Returns the parsed manifest or index. `contentType` is the registry's Content-Type (or the
 * descriptor's media type); the body's own `mediaType` wins when present, and an OCI body without
 * one is told apart by its fields, as image-spec allows.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new InvalidManifestError('manifest is not valid JSON', { cause: err });
  }
  if (!isObject(json)) throw new InvalidManifestError('manifest is not a JSON object');
  if (json.schemaVersion !== 2) {
    throw new InvalidManifestError(`unsupported manifest schemaVersion ${String(json.schemaVersion)}`, {
      hint: 'Docker schema 1 manifests are deprecated and not supported; re-push the image with a current tool',
    });
  }
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : (contentType ?? guessMediaType(json));
  const annotations = readAnnotations(json.annotations);
  if (isIndexMediaType(mediaType) || (Array.isArray(json.manifests) && !isManifestMediaType(mediaType))) {
    if (!Array.isArray(json.manifests)) throw new InvalidManifestError('index has no "manifests" array');
    return {
      kind: 'index',
      schemaVersion: 2,
      mediaType: isIndexMediaType(mediaType) ? mediaType : MediaType.OciIndex,
      manifests: json.manifests.map((d, i) => parseDescriptor(d, `manifests[${i}]`)),
      ...(annotations ? { annotations } : {}),
    };
  }
  if (!Array.isArray(json.layers)) throw new InvalidManifestError('manifest has no "layers" array');
  return {
    kind: 'manifest',
    schemaVersion: 2,
    mediaType: isManifestMediaType(mediaType) ? mediaType : MediaType.OciManifest,
    config: parseDescriptor(json.config, 'config'),
    layers: json.layers.map((d, i) => parseDescriptor(d, `layers[${i}]`)),
    ...(annotations ? { annotations } : {}),
  };
}

/** Returns a validated descriptor; `where` names it in the error. */
export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw new InvalidManifestError(`${where} is not a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string') throw new InvalidManifestError(`${where}.mediaType is missing`);
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw new InvalidManifestError(`${where}.digest "${String(digest)}" is not a valid digest`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidManifestError(`${where}.size "${String(size)}" is not a non-negative integer`);
  }
  const platform = parsePlatformField(value.platform, where);
  const annotations = readAnnotations(value.annotations);
  const urls = Array.isArray(value.urls) ? value.urls.filter((u): u is string => typeof u === 'string') : undefined;
  return {
    mediaType,
    digest: digest as Digest,
    size,
    ...(platform ? { platform } : {}),
    ...(annotations ? { annotations } : {}),
    ...(urls && urls.length > 0 ? { urls } : {}),
    ...(typeof value.artifactType === 'string' ? { artifactType: value.artifactType } : {}),
  };
}

function parsePlatformField(value: unknown, where: string): Platform | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') {
    throw new InvalidManifestError(`${where}.platform needs "os" and "architecture"`);
  }
  const features = value['os.features'];
  return {
    os: value.os,
    architecture: value.architecture,
    ...(typeof value.variant === 'string' && value.variant ? { variant: value.variant } : {}),
    ...(typeof value['os.version'] === 'string' ? { 'os.version': value['os.version'] } : {}),
    ...(Array.isArray(features) ? { 'os.features': features.filter((f): f is string => typeof f === 'string') } : {}),
  };
}

function readAnnotations(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

function guessMediaType(json: Record<string, unknown>): string {
  return Array.isArray(json.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
