/**
 * Content-addressed cache contracts (DESIGN.md §3, docs/cache-format.md). Correctness never depends on
 * a lock: bytes reach blobs/ only by rename after size and digest checks. Locks only stop duplicate
 * downloads across processes.
 */
import type { Readable } from 'node:stream';
import type { ByteRange, Descriptor } from '../oci/descriptor.js';
import type { Digest } from '../oci/digest.js';

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
  /** Absolute path of the committed, read-only file. */
  readonly path: string;
}

/** Who holds a blob's lock in another process, as read from the lock/ingest ledger. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** Bytes the holder has on disk so far (from its ledger), when known. */
  readonly bytes?: number;
}

export type IngestOutcome =
  | { readonly kind: 'present'; readonly info: BlobInfo; readonly waited: boolean }
  | { readonly kind: 'owned'; readonly ingest: Ingest };

export interface BeginIngestOptions {
  readonly signal: AbortSignal;
  /** Called when another process holds the blob, and again as its progress is read (about once a second). */
  readonly onWait?: (holder: LockHolder) => void;
}

/** A blob being written by this process; it holds the blob's lock until commit() or abort(). */
export interface Ingest {
  readonly desc: Descriptor;
  /** Byte ranges already on disk from an earlier, interrupted attempt (this or a dead process), merged and sorted. */
  completed(): readonly ByteRange[];
  /**
   * Writes `body` positionally starting at `offset` and records what landed in the ledger as it goes
   * (so a crash or abort keeps it). Resolves to the bytes written; on a body error the bytes written so
   * far stay recorded and the error is rethrown.
   */
  writeAt(offset: number, body: AsyncIterable<Uint8Array>, options: { signal: AbortSignal; onBytes?: (n: number) => void }): Promise<number>;
  /** fsync, check size, hash (IntegrityError on mismatch, ingest dropped), rename into blobs/ ("exists" is success). */
  commit(): Promise<BlobInfo>;
  /** Releases the lock. keepPartial: leave data + ledger for a later resume; otherwise delete them. */
  abort(options: { keepPartial: boolean }): Promise<void>;
}

export interface RefRecord {
  /** "docker.io/library/alpine:3.20" */
  readonly ref: string;
  readonly digest: Digest;
  readonly mediaType: string;
  /** ISO time of resolution. */
  readonly resolvedAt: string;
  /** Registry host it was resolved from. */
  readonly from: string;
}

export interface BlobStore {
  readonly root: string;
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  /** Returns a stream of a committed blob; NotFound-like LocalIOError when absent. */
  read(digest: Digest): Promise<Readable>;
  readBytes(digest: Digest): Promise<Uint8Array>;
  /** Stores small content (manifests) already verified in memory; idempotent. */
  putBytes(digest: Digest, bytes: Uint8Array): Promise<BlobInfo>;
  /** Present (maybe after waiting for another process) or owned for writing. */
  beginIngest(desc: Descriptor, options: BeginIngestOptions): Promise<IngestOutcome>;
  remove(digest: Digest): Promise<void>;
  list(): AsyncIterable<BlobInfo>;
  writeRef(record: RefRecord): Promise<void>;
  readRef(ref: string): Promise<RefRecord | undefined>;
  /** Marks the blob as used now (for LRU prune). Best effort. */
  touch(digest: Digest): Promise<void>;
}
