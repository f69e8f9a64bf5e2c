/**
 * The event vocabulary of a run (DESIGN.md §5). Events are plain serialisable data; renderers and the
 * json stream consume them. Adding a field is compatible; renaming or removing one bumps
 * EVENTS_SCHEMA_VERSION (docs/events.md).
 */

export const EVENTS_SCHEMA_VERSION = 1;

/** Plain data only: Error objects do not serialise. */
export interface ErrorSummary {
  readonly code: string;
  readonly message: string;
  readonly status?: number;
}

export type BlobRole = 'manifest' | 'config' | 'layer';
export type BlobSourceKind = 'network' | 'cache' | 'other-process';
/** How one request for blob bytes ended: cancelled means the run or a failing sibling chunk stopped it. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'cancelled';
export type ExportFormat = 'oci' | 'docker-archive' | 'oci-archive' | 'rootfs';

export type PullEventBody =
  | { readonly type: 'run.started'; readonly version: string; readonly schema: number; readonly refs: readonly string[] }
  | { readonly type: 'resolve.started'; readonly ref: string }
  | { readonly type: 'resolve.done'; readonly ref: string; readonly digest: string; readonly platform: string; readonly layers: number; readonly size: number }
  | { readonly type: 'resolve.failed'; readonly ref: string; readonly error: ErrorSummary }
  | { readonly type: 'blob.planned'; readonly ref: string; readonly digest: string; readonly role: BlobRole; readonly order: number; readonly size: number }
  | { readonly type: 'blob.cached'; readonly digest: string; readonly size: number }
  | { readonly type: 'blob.waiting'; readonly digest: string; readonly holder: string }
  | { readonly type: 'blob.started'; readonly digest: string; readonly size: number; readonly attempt: number; readonly chunks: number; readonly resumedBytes: number }
  // One HTTP request for the blob's bytes (each chunk, each retry), as the scheduler starts it and as it
  // ends: metrics count attempts from these, so a failing or interrupted run still accounts for them.
  | { readonly type: 'blob.attempt'; readonly digest: string; readonly offset: number }
  | { readonly type: 'blob.attempt.done'; readonly digest: string; readonly outcome: AttemptOutcome; readonly bytes: number; readonly error?: ErrorSummary }
  | { readonly type: 'blob.progress'; readonly digest: string; readonly bytes: number; readonly total: number }
  | { readonly type: 'blob.retry'; readonly digest: string; readonly attempt: number; readonly maxAttempts: number; readonly delayMs: number; readonly error: ErrorSummary }
  | { readonly type: 'blob.verifying'; readonly digest: string }
  | { readonly type: 'blob.done'; readonly digest: string; readonly size: number; readonly from: BlobSourceKind; readonly bytesFetched: number }
  | { readonly type: 'blob.failed'; readonly digest: string; readonly error: ErrorSummary }
  | { readonly type: 'export.started'; readonly ref: string; readonly format: ExportFormat; readonly dest: string }
  | { readonly type: 'export.layer'; readonly ref: string; readonly order: number; readonly digest: string }
  | { readonly type: 'export.done'; readonly ref: string; readonly format: ExportFormat; readonly dest: string }
  | { readonly type: 'image.done'; readonly ref: string; readonly digest: string; readonly ok: boolean; readonly error?: ErrorSummary }
  | { readonly type: 'warning'; readonly code: string; readonly message: string }
  | { readonly type: 'debug'; readonly scope: string; readonly message: string }
  | { readonly type: 'run.done'; readonly ok: boolean; readonly error?: ErrorSummary };

/** An event as delivered to consumers: stamped with ms since the run started. */
export type PullEvent = PullEventBody & { readonly t: number };

/** What producers call; the bus adds the time stamp. Synchronous and never throws. */
export type Emit = (event: PullEventBody) => void;

export type PullEventType = PullEvent['type'];
