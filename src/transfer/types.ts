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
  /** Counters so far, as plain data (for --metrics-file); valid after a failed run too. */
  stats(): TransferStats;
}

/** What the transfer engine did in a run. Attempts are HTTP requests for blob bytes, counted where they start. */
export interface TransferStats {
  readonly attempts: { readonly started: number; readonly succeeded: number; readonly failed: number; readonly cancelled: number };
  /** Blobs by how they were obtained: fetched here, already cached, fetched by another process while we waited, failed. */
  readonly blobs: { readonly fetched: number; readonly cached: number; readonly waited: number; readonly failed: number };
  /** Retries scheduled (blob.retry events). */
  readonly retries: number;
  /** Bytes received from the network, failed attempts included. */
  readonly bytesFetched: number;
  /** Most response bodies open at once. */
  readonly peakActive: number;
}
