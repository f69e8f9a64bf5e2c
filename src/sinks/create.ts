/** Picks the sink for an output format. */
import type { Writable } from 'node:stream';
import type { Emit, ExportFormat } from '../events/types.js';
import { UsageError } from '../errors.js';
import { createDockerArchiveSink } from './docker-archive.js';
import { createOciArchiveSink } from './oci-archive.js';
import { createOciLayoutSink } from './oci-layout.js';
import { createRootfsSink } from './rootfs.js';
import type { ImageSink, SinkDeps } from './types.js';

export interface OutputSpec {
  readonly format: ExportFormat;
  readonly dest: string | Writable;
  readonly allPlatforms?: boolean;
}

/** Returns the sink writing `spec.format` to `spec.dest`. */
export function createOutputSink(spec: OutputSpec, deps: SinkDeps & { emit: Emit; isRoot: boolean }): ImageSink {
  const { dest } = spec;
  const platforms = spec.allPlatforms ? { allPlatforms: true } : {};
  switch (spec.format) {
    case 'docker-archive':
      return createDockerArchiveSink(dest, deps, {});
    case 'oci-archive':
      return createOciArchiveSink(dest, deps, platforms);
    case 'oci':
      if (typeof dest !== 'string') throw new UsageError('an OCI layout is a directory and cannot be streamed', { hint: 'use --format oci-archive or docker-archive with -o -' });
      return createOciLayoutSink(dest, deps, platforms);
    case 'rootfs':
      if (typeof dest !== 'string') throw new UsageError('a root filesystem is a directory and cannot be streamed', { hint: 'give -o a directory path' });
      return createRootfsSink(dest, deps, {});
  }
}
