/**
 * OciArchiveSink: a tar of an OCI image layout, what skopeo calls `oci-archive:` (ecosystem.md §6.3).
 * Streamed like the docker-archive: blobs as they arrive, index.json last.
 */
import { createArchiveSink } from './archive-writer.js';
import type { ImageSink, SinkDeps } from './types.js';

export interface OciArchiveSinkOptions {
  /** Store the root index and name it in index.json instead of each platform's manifest. */
  readonly allPlatforms?: boolean;
}

/** Returns a sink writing an oci-archive tar to the file `dest` (staged, then renamed) or to a stream. */
export function createOciArchiveSink(
  dest: string | NodeJS.WritableStream,
  deps: SinkDeps,
  options: OciArchiveSinkOptions = {},
): ImageSink {
  return createArchiveSink(dest, deps, { format: 'oci-archive', ...(options.allPlatforms ? { allPlatforms: true } : {}) });
}
