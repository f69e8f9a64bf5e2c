/**
 * One byte range of one blob: its attempts under the scheduler, resumed from the byte reached, retried
 * with backoff. The one level at which blob bodies are retried (aesthetics.md §8 trap 6).
 */
import type { Ingest } from '../cache/types.js';
import type { RunContext } from '../context.js';
import {
  AbortedError,
  NetworkError,
  RangeMismatchError,
  RetriesExhaustedError,
  isRetryable,
  retryAfterOf,
} from '../errors.js';
import { summarizeError } from '../events/bus.js';
import type { ByteRange, Descriptor } from '../oci/descriptor.js';
import { shortDigest } from '../oci/digest.js';
import { guardBody } from './body.js';
import type { HostBackoff } from './host-backoff.js';
import type { TransferOptions } from './options.js';
import type { BlobProgress } from './progress.js';
import { retryDelay } from './retry.js';
import type { Scheduler } from './scheduler.js';
import type { LiveRange, Splitter } from './split.js';
import type { StatsRecorder } from './stats.js';
import type { BlobSource } from './types.js';

export interface EngineDeps {
  readonly ctx: RunContext;
  readonly scheduler: Scheduler;
  readonly backoff: HostBackoff;
  readonly options: TransferOptions;
  readonly stats: StatsRecorder;
  readonly splitter: Splitter;
}

/** The shared, mutable state of one blob's fetch while its ranges are in flight. */
export interface BlobFetch {
  readonly desc: Descriptor;
  readonly source: BlobSource;
  readonly ingest: Ingest;
  /** The job's call order: the first element of every chunk's priority. */
  readonly order: number;
  readonly progress: BlobProgress;
  /** Aborted by the run or when a sibling range failed for good. */
  signal: AbortSignal;
  /** True while this is the blob's only request in flight: then a 200 may be consumed as the whole blob. */
  soleTask: boolean;
  /** A storage URL the registry redirected to, reused for further ranges. */
  location: URL | undefined;
  /** Ask with Range even for the whole blob, so the first answer tells whether it can be split. */
  readonly alwaysRange: boolean;
  /** Its ranges in flight (the splitter may shorten them). */
  readonly live: Set<LiveRange>;
}

/**
 * 'range': the range is on disk. 'whole': the server sent the whole blob and it is on disk. 'none':
 * the taker had nothing left when the slot came.
 */
export type RangeResult = 'range' | 'whole' | 'none';

/**
 * Hands out the range to fetch. Called once, when the request first holds a slot, so the range is
 * taken from what is left at that moment rather than when the request was queued.
 */
export type RangeTaker = () => LiveRange | undefined;

/** A range about to be fetched, not yet started. */
export function liveRange(range: ByteRange): LiveRange {
  return { start: range.start, end: range.end, next: range.start, firstByteAt: undefined, attemptBytes: 0 };
}

type Attempt =
  | { readonly kind: 'none' }
  | { readonly kind: 'paused' }
  | { readonly kind: 'ok'; readonly written: number; readonly whole: boolean }
  | { readonly kind: 'error'; readonly written: number; readonly whole: boolean; readonly error: unknown };

/**
 * Fetches the range `take` hands out. mode 'range' sends Range headers and resumes from the byte
 * reached; a server that ignores Range or answers another range throws RangeMismatchError for the
 * caller to fall back on. mode 'whole' asks for the whole blob, no Range, from byte 0 on every attempt.
 * `onRanged` is called once a 206 confirms the server honours Range (the caller starts sibling chunks).
 * `index` orders this request among the blob's others waiting for a slot.
 */
export async function fetchRange(
  deps: EngineDeps,
  blob: BlobFetch,
  take: RangeTaker,
  index: number,
  mode: 'range' | 'whole',
  onRanged?: () => void,
): Promise<RangeResult> {
  const { ctx, options } = deps;
  const key = blob.source.key;
  let range: LiveRange | undefined;
  let pos = 0;
  let failures = 0;
  const run = (): Promise<Attempt> => {
    if (!range) {
      range = take();
      if (!range) return Promise.resolve({ kind: 'none' });
      pos = range.start;
      blob.live.add(range);
    }
    range.next = mode === 'whole' ? 0 : pos;
    return attempt(deps, blob, range, mode, onRanged);
  };
  try {
    while (!range || pos <= range.end) {
      // Queued at once when the host is not paused: a split counts its new request as taking a slot.
      if (deps.backoff.remaining(key) > 0) await deps.backoff.wait(key, blob.signal);
      const result = await deps.scheduler.run([blob.order, index], run);
      deps.splitter.onSlotFreed();
      if (result.kind === 'none') return 'none';
      if (result.kind === 'paused') continue; // another chunk hit a 429 while we queued: wait outside the slot
      if (result.kind === 'ok' && result.whole) return 'whole';
      if (!result.whole) pos += result.written;
      if (result.kind === 'ok') continue; // a short 206: ask for the rest, no failure
      const err = result.error;
      if ((err instanceof RangeMismatchError && mode === 'range') || !isRetryable(err)) throw err;
      failures++;
      if (failures >= options.retries) {
        throw new RetriesExhaustedError(`${shortDigest(blob.desc.digest)}: ${failures} attempts failed: ${errorMessage(err)}`, {
          cause: err,
          hint: 'the registry or the network kept failing; try again later, or raise --retries / --idle-timeout',
        });
      }
      const retryAfter = retryAfterOf(err);
      const delayMs = retryDelay(
        { baseDelayMs: options.retryBaseDelayMs, maxDelayMs: options.retryMaxDelayMs, maxRetryAfterMs: options.maxRetryAfterMs },
        failures,
        retryAfter,
        ctx.random,
      );
      blob.location = undefined; // a failing storage URL may have expired: go back through the registry
      deps.stats.retried();
      ctx.emit({
        type: 'blob.retry',
        digest: blob.desc.digest,
        attempt: failures + 1,
        maxAttempts: options.retries,
        delayMs,
        error: summarizeError(err),
      });
      // The registry said when to come back: that holds for every request to the host, not just ours.
      if (retryAfter !== undefined) deps.backoff.pause(key, delayMs);
      else await ctx.sleep(delayMs, blob.signal);
    }
    return 'range';
  } finally {
    if (range) blob.live.delete(range);
  }
}

/**
 * One request, run inside a scheduler slot: open, write the body positionally, destroy it on every
 * path. It fetches from range.next up to range.end as that stands at each chunk of the body: a split
 * may lower the end meanwhile, and the request then stops there (closing its connection).
 */
async function attempt(
  deps: EngineDeps,
  blob: BlobFetch,
  range: LiveRange,
  mode: 'range' | 'whole',
  onRanged: (() => void) | undefined,
): Promise<Attempt> {
  const { signal, desc } = blob;
  const pos = range.next;
  if (deps.backoff.remaining(blob.source.key) > 0) return { kind: 'paused' };
  if (signal.aborted) return { kind: 'error', written: 0, whole: false, error: new AbortedError('interrupted') };
  deps.stats.attemptStarted();
  deps.ctx.emit({ type: 'blob.attempt', digest: desc.digest, offset: pos });
  let written = 0;
  let whole = mode === 'whole';
  let body: { destroy(): void } | undefined;
  const sentAt = deps.ctx.now();
  try {
    const asked = whole || (!blob.alwaysRange && pos === 0 && range.end === desc.size - 1) ? undefined : { start: pos, end: range.end };
    const response = await blob.source.open(desc, {
      signal,
      ...(asked ? { range: asked } : {}),
      ...(blob.location ? { location: blob.location } : {}),
    });
    body = response.body;
    noteLocation(blob, response.url);
    let offset = pos;
    let limit = (): number => range.end - pos + 1;
    if (response.served === undefined) {
      // 200: the whole blob from byte 0. Asked for without Range, that is exactly our range; asked for
      // with one, the server ignored it (registry quirk: CDNs and proxies that drop Range).
      if (asked && !blob.soleTask) throw new RangeMismatchError(`${desc.digest}: server ignored Range ${pos}-${asked.end} and sent the whole blob`);
      if (asked) whole = true;
      offset = 0;
      limit = () => desc.size;
    } else {
      const served = response.served;
      const complete = served.start === 0 && served.end === desc.size - 1;
      if (served.start !== pos || served.end < served.start || (whole && !complete)) {
        throw new RangeMismatchError(`${desc.digest}: asked for bytes ${pos}-${asked?.end ?? desc.size - 1}, server sent ${served.start}-${served.end}`);
      }
      limit = () => Math.min(range.end, served.end) - pos + 1;
      if (asked) onRanged?.();
    }
    const chunks = guardBody(response.body, {
      maxBytes: limit,
      idleTimeoutMs: deps.options.idleTimeoutMs,
      signal,
      onYield: (n) => {
        if (range.firstByteAt === undefined) {
          range.firstByteAt = deps.ctx.now();
          deps.splitter.onFirstByte(range.firstByteAt - sentAt);
        }
        range.next += n;
        range.attemptBytes += n;
      },
    });
    await blob.ingest.writeAt(offset, chunks, {
      signal,
      onBytes: (n) => {
        written += n;
        if (whole) blob.progress.addWhole(n, written);
        else blob.progress.addRange(n);
        deps.splitter.onBytes(n);
      },
    });
    if (written < limit()) throw new NetworkError(`${desc.digest}: body ended after ${written} of ${limit()} bytes`);
    deps.stats.attemptEnded('succeeded');
    deps.ctx.emit({ type: 'blob.attempt.done', digest: desc.digest, outcome: 'succeeded', bytes: written });
    return { kind: 'ok', written, whole };
  } catch (err) {
    const error = signal.aborted && !(err instanceof AbortedError) ? new AbortedError('interrupted', { cause: err }) : err;
    const outcome = error instanceof AbortedError ? 'cancelled' : 'failed';
    deps.stats.attemptEnded(outcome);
    deps.ctx.emit({ type: 'blob.attempt.done', digest: desc.digest, outcome, bytes: written, error: summarizeError(error) });
    return { kind: 'error', written, whole, error };
  } finally {
    body?.destroy();
    range.firstByteAt = undefined;
    range.attemptBytes = 0;
  }
}

/**
 * Keeps a redirected storage URL for the blob's later ranges, saving the registry round trip and its
 * redirect; a response from the registry itself clears it.
 */
function noteLocation(blob: BlobFetch, url: URL): void {
  const fromRegistry = url.host === blob.source.key && url.pathname.endsWith(`/blobs/${blob.desc.digest}`);
  blob.location = fromRegistry ? undefined : url;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
