/**
 * Export sinks: fed from the verified cache, base layer first, as layers land. Every sink stages
 * beside its destination and renames into place on commit, so an interrupted export never looks complete.
 */
import type { BlobInfo, BlobStore } from '../cache/types.js';
import type { ResolvedImage } from '../image/types.js';
import type { ExportFormat } from '../events/types.js';

export interface ImageSink {
  readonly format: ExportFormat;
  /** Called once per image before its blobs (one sink may receive several images: an OCI layout with many refs). */
  begin(image: ResolvedImage): Promise<void>;
  /** The config blob, committed in the cache. */
  config(image: ResolvedImage, blob: BlobInfo): Promise<void>;
  /** Layers in manifest order, base first, each as soon as it is committed. */
  layer(image: ResolvedImage, index: number, blob: BlobInfo): Promise<void>;
  /** All images done: write the index/manifest files last, then rename into place. */
  commit(): Promise<void>;
  /** Remove staging; the destination is untouched. */
  abort(): Promise<void>;
}

export interface SinkDeps {
  readonly store: BlobStore;
  readonly signal: AbortSignal;
}
