/**
 * The docker-archive naming files (moby tarexport, ecosystem.md §6.2): `manifest.json`, an array of
 * {Config, RepoTags, Layers} with paths inside the tar, and the legacy `repositories` map. Pure.
 */
import type { ResolvedImage } from '../image/types.js';
import { createImageRef, familiarString } from '../reference/parse.js';
import type { ImageRef } from '../reference/types.js';
import { blobPath } from './index-json.js';

/** One element of manifest.json, field names as docker writes them. */
export interface DockerManifestEntry {
  readonly Config: string;
  readonly RepoTags: readonly string[];
  readonly Layers: readonly string[];
}

/** Returns the RepoTags of an image: "name:tag" when it has a tag; none for a pull by digest alone (docker load rejects digests there). */
export function repoTagsFor(ref: ImageRef): string[] {
  if (ref.tag === undefined) return [];
  return [familiarString(createImageRef({ domain: ref.domain, repository: ref.repository, tag: ref.tag }))];
}

/**
 * Returns the manifest.json entries for the images, in order. The same image under several names is one
 * entry with every tag (as docker save writes it); a tag given to a later, different image is taken
 * from the earlier one, as `docker load` would leave it.
 */
export function dockerManifestEntries(images: readonly { image: ResolvedImage; repoTags: readonly string[] }[]): DockerManifestEntry[] {
  const byManifest = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const { image, repoTags } of images) {
    const key = image.manifest.descriptor.digest;
    for (const [k, other] of byManifest) if (k !== key) other.RepoTags = other.RepoTags.filter((t) => !repoTags.includes(t));
    const entry = byManifest.get(key) ?? {
      Config: blobPath(image.config.digest),
      RepoTags: [],
      Layers: image.layers.map((l) => blobPath(l.digest)),
    };
    for (const t of repoTags) if (!entry.RepoTags.includes(t)) entry.RepoTags.push(t);
    byManifest.set(key, entry);
  }
  return [...byManifest.values()];
}

/**
 * Returns the legacy `repositories` file: {"<name>": {"<tag>": "<top layer id>"}}. Docker ≥ 25 still
 * writes it for old loaders; with no legacy layer directories the id is the top layer blob's hex.
 */
export function encodeRepositories(entries: readonly DockerManifestEntry[]): Uint8Array {
  const repos: Record<string, Record<string, string>> = {};
  for (const e of entries) {
    const top = e.Layers.at(-1);
    if (!top) continue;
    const id = top.slice(top.lastIndexOf('/') + 1);
    for (const tag of e.RepoTags) {
      const { name, tag: t } = splitRepoTag(tag);
      (repos[name] ??= {})[t] = id;
    }
  }
  return Buffer.from(`${JSON.stringify(repos)}\n`);
}

/** Returns the bytes of manifest.json. */
export function encodeDockerManifest(entries: readonly DockerManifestEntry[]): Uint8Array {
  return Buffer.from(`${JSON.stringify(entries)}\n`);
}

/** Splits "host:5000/repo:tag" at the tag's colon (the last one after the last slash). */
export function splitRepoTag(repoTag: string): { name: string; tag: string } {
  const slash = repoTag.lastIndexOf('/');
  const colon = repoTag.lastIndexOf(':');
  if (colon <= slash) return { name: repoTag, tag: 'latest' };
  return { name: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) };
}

