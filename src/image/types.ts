/** A reference resolved to one platform's manifest. */
import type { Descriptor, Platform } from '../oci/descriptor.js';
import type { ImageManifest } from '../oci/manifest.js';
import type { ImageRef } from '../reference/types.js';
import type { RawManifest } from '../registry/types.js';

export interface ResolvedImage {
  readonly ref: ImageRef;
  /** What the tag (or digest) points to: an index, or the manifest itself. */
  readonly root: RawManifest;
  /** Present when root is an index. */
  readonly index?: RawManifest;
  readonly manifest: RawManifest;
  readonly parsed: ImageManifest;
  readonly config: Descriptor;
  /** Base layer first, as in the manifest. */
  readonly layers: readonly Descriptor[];
  readonly platform: Platform;
}
