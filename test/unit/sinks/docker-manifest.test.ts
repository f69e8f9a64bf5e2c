import { describe, expect, it } from 'vitest';
import type { ResolvedImage } from '../../../src/image/types.js';
import { computeDigest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { parseReference } from '../../../src/reference/parse.js';
import { dockerManifestEntries, encodeRepositories, repoTagsFor, splitRepoTag } from '../../../src/sinks/docker-manifest.js';

const d = (s: string) => computeDigest(Buffer.from(s));
const hex = (s: string) => d(s).slice(7);

/** Only the fields dockerManifestEntries reads. */
function image(manifest: string, config: string, layers: string[]): ResolvedImage {
  return {
    manifest: { descriptor: { mediaType: MediaType.OciManifest, digest: d(manifest), size: 1 }, bytes: new Uint8Array() },
    config: { mediaType: MediaType.OciConfig, digest: d(config), size: 1 },
    layers: layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, digest: d(l), size: 1 })),
  } as unknown as ResolvedImage;
}

describe('repoTagsFor', () => {
  it.each([
    ['alpine', ['alpine:latest']],
    ['docker.io/library/alpine:3.20', ['alpine:3.20']],
    ['user/app:1', ['user/app:1']],
    ['127.0.0.1:5000/repo:tag', ['127.0.0.1:5000/repo:tag']],
    ['ghcr.io/org/app:v2', ['ghcr.io/org/app:v2']],
    [`alpine@${d('m')}`, []],
    [`alpine:3.20@${d('m')}`, ['alpine:3.20']],
  ])('%s → %j', (ref, expected) => {
    expect(repoTagsFor(parseReference(ref))).toEqual(expected);
  });
});

describe('dockerManifestEntries', () => {
  it('writes Config and Layers as blobs/sha256 paths', () => {
    expect(dockerManifestEntries([{ image: image('m', 'c', ['l1', 'l2']), repoTags: ['a:1'] }])).toEqual([
      { Config: `blobs/sha256/${hex('c')}`, RepoTags: ['a:1'], Layers: [`blobs/sha256/${hex('l1')}`, `blobs/sha256/${hex('l2')}`] },
    ]);
  });

  it('merges the same image under two names into one entry', () => {
    const out = dockerManifestEntries([
      { image: image('m', 'c', ['l']), repoTags: ['a:1'] },
      { image: image('m', 'c', ['l']), repoTags: ['a:latest', 'a:1'] },
    ]);
    expect(out.map((e) => e.RepoTags)).toEqual([['a:1', 'a:latest']]);
  });

  it('moves a tag to the later image that claims it', () => {
    const out = dockerManifestEntries([
      { image: image('m1', 'c1', ['l']), repoTags: ['a:1', 'a:old'] },
      { image: image('m2', 'c2', ['l']), repoTags: ['a:1'] },
    ]);
    expect(out.map((e) => e.RepoTags)).toEqual([['a:old'], ['a:1']]);
  });
});

describe('encodeRepositories', () => {
  it('maps each name and tag to the top layer, and skips untagged or layerless images', () => {
    const entries = dockerManifestEntries([
      { image: image('m1', 'c1', ['l1', 'top']), repoTags: ['127.0.0.1:5000/repo:v1', 'alpine:3'] },
      { image: image('m2', 'c2', ['x']), repoTags: [] },
      { image: image('m3', 'c3', []), repoTags: ['empty:1'] },
    ]);
    expect(JSON.parse(Buffer.from(encodeRepositories(entries)).toString())).toEqual({
      '127.0.0.1:5000/repo': { v1: hex('top') },
      alpine: { '3': hex('top') },
    });
  });
});

describe('splitRepoTag', () => {
  it.each([
    ['alpine:3', 'alpine', '3'],
    ['127.0.0.1:5000/repo:v1', '127.0.0.1:5000/repo', 'v1'],
    ['127.0.0.1:5000/repo', '127.0.0.1:5000/repo', 'latest'],
  ])('%s', (input, name, tag) => {
    expect(splitRepoTag(input)).toEqual({ name, tag });
  });
});
