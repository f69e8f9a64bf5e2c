/** Transfer manager contracts (DESIGN.md §4): one scheduler per run, dedup by digest, bottom-first. */
import type { BlobInfo } from '../cache/types.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { BlobResponse, OpenBlobOptions } from '../registry/types.js';
import type { BlobRole } from '../events/types.js';

/** Where a blob's bytes come from: one repository on one registry. */
export interface BlobSource {
  /** Backoff state is shared per key: the registry host. */
  readonly key: string;
  open(desc: Descriptor, options: OpenBlobOptions): Promise<BlobResponse>;
}

export interface TransferJob {
  readonly desc: Descriptor;
  readonly role: BlobRole;
  readonly source: BlobSource;
}

export interface TransferManager {
  /**
   * Returns the committed blob, fetching it if needed. Jobs are served in call order (call config
   * first, then layers bottom-up); a digest asked for twice in a run is fetched once.
   */
  fetch(job: TransferJob): Promise<BlobInfo>;
}
