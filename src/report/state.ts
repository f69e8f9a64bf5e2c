/**
 * The run as the renderers see it: a fold of the event stream into per-image and per-blob state.
 * Pure (no clock, no I/O): every renderer and the summary read the same view, so they cannot disagree.
 * A blob shared by several images is one entry, labelled by the first image that planned it.
 */
import type { BlobRole, BlobSourceKind, ErrorSummary, ExportFormat, PullEvent } from '../events/types.js';

export type BlobStatus = 'queued' | 'waiting' | 'downloading' | 'retrying' | 'verifying' | 'cached' | 'done' | 'failed';

/** The retry a blob is in, until its bytes move again. */
export interface RetryView {
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly delayMs: number;
  readonly message: string;
}

export interface BlobView {
  readonly digest: string;
  ref: string;
  role: BlobRole;
  /** "config", "layer 3" (1-based, bottom-up), or "blob" for one that was never planned. */
  label: string;
  size: number;
  status: BlobStatus;
  /** Bytes present so far, resumed ones included; never decreases within an attempt. */
  bytes: number;
  chunks: number;
  attempt: number;
  /** blob.retry events seen for this blob. */
  retries: number;
  /** The retry in progress; cleared when bytes move again. */
  retry?: RetryView;
  /** The latest retry, kept for the summary. */
  lastRetry?: RetryView;
  holder?: string;
  from?: BlobSourceKind;
  /** Bytes received from the network this run (exact once done, counted from progress before). */
  received: number;
  resumedBytes: number;
  startedAt?: number;
  finishedAt?: number;
  /** Run time of the last byte that landed, or of the start: what "stalled" is measured from. */
  progressAt?: number;
  error?: ErrorSummary;
}

export interface ImageView {
  readonly ref: string;
  status: 'resolving' | 'resolved' | 'done' | 'failed';
  digest?: string;
  platform?: string;
  layers?: number;
  size?: number;
  error?: ErrorSummary;
  export?: { format: ExportFormat; dest: string; layers: number; done: boolean };
}

export interface RunView {
  /** In plan order: config first, then layers bottom-up, image after image. */
  readonly blobs: Map<string, BlobView>;
  readonly images: Map<string, ImageView>;
  /** Bytes received from the network so far, over every blob: what rates are computed from. */
  networkBytes: number;
  retries: number;
  /** Run time of the latest event. */
  lastT: number;
  done?: { ok: boolean; t: number; error?: ErrorSummary };
}

/** A fold over the events of one run. */
export interface RunState {
  readonly view: RunView;
  apply(event: PullEvent): void;
}

const FINISHED: ReadonlySet<BlobStatus> = new Set(['cached', 'done', 'failed']);

/** Returns whether the blob has reached an end state. */
export function isFinished(blob: BlobView): boolean {
  return FINISHED.has(blob.status);
}

/** Returns an empty state ready to fold events into. */
export function createRunState(): RunState {
  const view: RunView = { blobs: new Map(), images: new Map(), networkBytes: 0, retries: 0, lastT: 0 };
  const blob = (digest: string, size = 0): BlobView => {
    let b = view.blobs.get(digest);
    if (!b) {
      b = { digest, ref: '', role: 'layer', label: 'blob', size, status: 'queued', bytes: 0, chunks: 1, attempt: 0, retries: 0, received: 0, resumedBytes: 0 };
      view.blobs.set(digest, b);
    }
    return b;
  };
  const image = (ref: string): ImageView => {
    let i = view.images.get(ref);
    if (!i) {
      i = { ref, status: 'resolving' };
      view.images.set(ref, i);
    }
    return i;
  };
  const finish = (b: BlobView, t: number) => {
    b.finishedAt = t;
    delete b.retry;
  };

  const handlers: { [K in PullEvent['type']]?: (e: Extract<PullEvent, { type: K }>) => void } = {
    'resolve.started': (e) => void image(e.ref),
    'resolve.done': (e) => {
      Object.assign(image(e.ref), { status: 'resolved', digest: e.digest, platform: e.platform, layers: e.layers, size: e.size });
    },
    'resolve.failed': (e) => Object.assign(image(e.ref), { status: 'failed', error: e.error }),
    'blob.planned': (e) => {
      const known = view.blobs.get(e.digest);
      if (known && known.ref !== '') return;
      Object.assign(blob(e.digest, e.size), { ref: e.ref, role: e.role, size: e.size, label: e.role === 'layer' ? `layer ${e.order}` : e.role });
    },
    'blob.cached': (e) => {
      const b = blob(e.digest, e.size);
      Object.assign(b, { status: 'cached', from: 'cache', bytes: e.size, size: e.size });
      finish(b, e.t);
    },
    'blob.waiting': (e) => Object.assign(blob(e.digest), { status: 'waiting', holder: e.holder, progressAt: e.t }),
    'blob.started': (e) => {
      const b = blob(e.digest, e.size);
      Object.assign(b, { status: 'downloading', size: e.size, attempt: e.attempt, chunks: e.chunks, bytes: e.resumedBytes, progressAt: e.t });
      if (e.attempt === 1) b.resumedBytes = e.resumedBytes;
      b.startedAt ??= e.t;
    },
    'blob.progress': (e) => {
      const b = blob(e.digest, e.total);
      if (e.bytes > b.bytes) {
        view.networkBytes += e.bytes - b.bytes;
        b.received += e.bytes - b.bytes;
        b.progressAt = e.t;
        b.status = 'downloading';
        delete b.retry;
      }
      b.bytes = e.bytes;
    },
    'blob.retry': (e) => {
      const b = blob(e.digest);
      view.retries += 1;
      b.retries += 1;
      b.status = 'retrying';
      b.retry = { attempt: e.attempt, maxAttempts: e.maxAttempts, delayMs: e.delayMs, message: e.error.message };
      b.lastRetry = b.retry;
    },
    'blob.verifying': (e) => void (blob(e.digest).status = 'verifying'),
    'blob.done': (e) => {
      const b = blob(e.digest, e.size);
      Object.assign(b, { status: 'done', from: e.from, size: e.size, bytes: e.size, received: e.bytesFetched });
      finish(b, e.t);
    },
    'blob.failed': (e) => {
      const b = blob(e.digest);
      Object.assign(b, { status: 'failed', error: e.error });
      finish(b, e.t);
    },
    'export.started': (e) => void (image(e.ref).export = { format: e.format, dest: e.dest, layers: 0, done: false }),
    'export.layer': (e) => {
      const x = image(e.ref).export;
      if (x) x.layers += 1;
    },
    'export.done': (e) => {
      const x = image(e.ref).export;
      if (x) x.done = true;
    },
    'image.done': (e) => {
      const i = image(e.ref);
      i.status = e.ok ? 'done' : 'failed';
      if (e.digest !== '') i.digest = e.digest;
      if (e.error) i.error = e.error;
    },
    'run.done': (e) => void (view.done = { ok: e.ok, t: e.t, ...(e.error ? { error: e.error } : {}) }),
  };

  return {
    view,
    apply(event) {
      view.lastT = Math.max(view.lastT, event.t);
      const handler = handlers[event.type] as ((e: PullEvent) => void) | undefined;
      handler?.(event);
    },
  };
}
