/**
 * DockerArchiveSink: a `docker load`-able tar in the layout docker save (v25+) writes (ecosystem.md
 * §6.2): blobs/sha256/<hex> for configs, manifests and layers, `manifest.json` and `repositories` for
 * docker's loader, and `oci-layout` + `index.json` so the same tar is also an OCI archive. Layers stay
 * the registry's compressed bytes: docker load, containerd and skopeo all detect the compression.
 */
import { UsageError } from '../errors.js';
import type { ResolvedImage } from '../image/types.js';
import { createArchiveSink } from './archive-writer.js';
import { dockerManifestEntries, encodeDockerManifest, encodeRepositories, repoTagsFor } from './docker-manifest.js';
import type { ImageSink, SinkDeps } from './types.js';

export interface DockerArchiveSinkOptions {
  /** RepoTags for the image instead of its own name ("alpine:3.20", "127.0.0.1:5000/repo:tag"); one image only. */
  readonly repoTags?: readonly string[];
}

/** Returns a sink writing a docker-archive tar to the file `dest` (staged, then renamed) or to a stream. */
export function createDockerArchiveSink(
  dest: string | NodeJS.WritableStream,
  deps: SinkDeps,
  options: DockerArchiveSinkOptions = {},
): ImageSink {
  const { repoTags } = options;
  const tagsOf = (image: ResolvedImage, i: number): readonly string[] => (repoTags && i === 0 ? repoTags : repoTagsFor(image.ref));
  return createArchiveSink(dest, deps, {
    format: 'docker-archive',
    onBegin(image, earlier) {
      if (repoTags && earlier.some((e) => e.manifest.descriptor.digest !== image.manifest.descriptor.digest)) {
        throw new UsageError('explicit RepoTags name one image, but this docker-archive export received several', {
          hint: 'export one image per archive, or let each image keep its own name',
        });
      }
    },
    trailer(images) {
      const entries = dockerManifestEntries(images.map((image, i) => ({ image, repoTags: tagsOf(image, i) })));
      return [
        { name: 'manifest.json', bytes: encodeDockerManifest(entries) },
        { name: 'repositories', bytes: encodeRepositories(entries) },
      ];
    },
  });
}
