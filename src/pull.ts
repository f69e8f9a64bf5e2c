/**
 * The library's main entry: pull one or more references into the cache and, optionally, one output.
 * Every image shares one session (one cache, one connection budget, one dedup map); blobs are asked
 * for config first, then layers bottom-up, and each is handed to the output as soon as it lands.
 */
import type { Writable } from 'node:stream';
import { createRunContext, type RunContext } from './context.js';
import { createEventBus, summarizeError } from './events/bus.js';
import type { BlobSourceKind, Emit, ExportFormat, PullEvent } from './events/types.js';
import { EVENTS_SCHEMA_VERSION } from './events/types.js';
import { AbortedError, ExitCode, PullError, toExitCode, UsageError } from './errors.js';
import type { Platform } from './oci/descriptor.js';
import { formatPlatform } from './oci/descriptor.js';
import { hostPlatform, parsePlatform } from './oci/platform.js';
import { parseReference } from './reference/parse.js';
import { openSession, type SessionOptions } from './session.js';
import { createOutputSink } from './sinks/create.js';
import type { ImageSink } from './sinks/types.js';
import { fetchImage, resolveAllAndRecord, resolveAndStartRecording } from './pull-image.js';
import type { ImageRef } from './reference/types.js';
import type { TransferStats } from './transfer/types.js';
import { VERSION } from './version.js';

export interface PullOutput {
  readonly format: ExportFormat;
  /** A path, or a stream for archives (`-o -`). */
  readonly dest: string | Writable;
  /** OCI layout only: keep the whole index and every platform. */
  readonly allPlatforms?: boolean;
}

export interface PullOptions extends SessionOptions {
  /** "os/arch[/variant]" or a Platform; default: this machine's, as docker does. */
  readonly platform?: string | Platform;
  readonly output?: PullOutput;
  readonly signal?: AbortSignal;
  /** Receives every event of the run (the CLI's renderers, a library caller's callback). */
  readonly onEvent?: (event: PullEvent) => void;
  /** Stop the other images at the first failure. Default: finish them, report each. */
  readonly failFast?: boolean;
  /** Whether the process runs as root (owners and device nodes in rootfs exports). */
  readonly isRoot?: boolean;
}

export interface ImageResult {
  /** What the caller asked for. */
  readonly input: string;
  /** Canonical reference, when it parsed. */
  readonly ref?: string;
  /** Digest of what the reference points to (an index or a manifest): `REF@DIGEST` pins it. */
  readonly digest?: string;
  /** Digest of the platform's manifest. */
  readonly manifestDigest?: string;
  readonly platform?: string;
  readonly layers: number;
  readonly size: number;
  readonly bytesFetched: number;
  readonly bytesCached: number;
  readonly seconds: number;
  readonly ok: boolean;
  readonly error?: { readonly code: string; readonly message: string; readonly hint?: string; readonly exitCode: number };
}

export interface PullResult {
  readonly images: readonly ImageResult[];
  readonly ok: boolean;
  /** The worst outcome over all images (docs/exit-codes.md). */
  readonly exitCode: ExitCode;
  /** The transfer engine's counters for the whole run: every request for blob bytes, failed ones included. */
  readonly stats: TransferStats;
}

/** Pulls every reference; never throws for one image's failure (see each ImageResult), only for run-level ones. */
export async function pull(refs: readonly string[], options: PullOptions): Promise<PullResult> {
  if (refs.length === 0) throw new UsageError('no image to pull', { hint: 'name at least one image, e.g. dray pull alpine' });
  const bus = createEventBus();
  if (options.onEvent) bus.subscribe(options.onEvent);
  const failFast = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failFast.signal]) : failFast.signal;
  const ctx = createRunContext({ emit: bus.emit, signal });
  const tally = tallyBlobs(bus);
  const platform = resolvePlatformOption(options.platform);
  bus.emit({ type: 'run.started', version: VERSION, schema: EVENTS_SCHEMA_VERSION, refs: [...refs] });

  const session = await openSession(ctx, options);
  let sink: ImageSink | undefined;
  try {
    if (options.output?.format === 'rootfs' && refs.length > 1) {
      throw new UsageError('--format rootfs takes exactly one image', { hint: 'pull the images one at a time into separate directories' });
    }
    sink = options.output ? createOutputSink(options.output, { store: session.store, signal, emit: bus.emit, isRoot: options.isRoot ?? false }) : undefined;
    const images = await Promise.all(
      refs.map((input) =>
        pullOne(input, { ctx, session, platform, tally, ...(sink ? { sink, exportDest: describeDest(options.output) } : {}), ...(options.output?.allPlatforms ? { allPlatforms: true } : {}) }).then((r) => {
          if (!r.ok && options.failFast) failFast.abort(new AbortedError('stopped after the first failure (--fail-fast)'));
          return r;
        }),
      ),
    );
    const ok = images.every((i) => i.ok);
    if (sink && options.output) {
      if (ok) {
        await sink.commit();
        for (const image of images) bus.emit({ type: 'export.done', ref: image.ref ?? image.input, format: options.output.format, dest: describeDest(options.output) });
      } else await sink.abort();
    }
    const exitCode = worstExitCode(images, failFast.signal.aborted && !options.signal?.aborted);
    bus.emit({ type: 'run.done', ok, ...(ok ? {} : { error: { code: 'ERR_IMAGES_FAILED', message: `${images.filter((i) => !i.ok).length} of ${images.length} images failed` } }) });
    return { images, ok, exitCode, stats: session.transfer.stats() };
  } catch (err) {
    await sink?.abort().catch(() => {});
    bus.emit({ type: 'run.done', ok: false, error: summarizeError(err) });
    throw err;
  } finally {
    await session.close();
  }
}

interface PullOneDeps {
  readonly ctx: RunContext;
  readonly session: Awaited<ReturnType<typeof openSession>>;
  readonly platform: Platform;
  readonly tally: BlobTally;
  readonly sink?: ImageSink;
  readonly allPlatforms?: boolean;
}

async function pullOne(input: string, deps: PullOneDeps): Promise<ImageResult> {
  const started = deps.ctx.now();
  let refText: string | undefined;
  try {
    const ref = parseReference(input);
    refText = ref.toString();
    if (deps.allPlatforms) return await pullAllPlatforms(input, ref, deps, started);
    const { image, recorded } = await resolveAndStartRecording(ref, deps);
    const blobs = await fetchImage(image, deps).finally(() => recorded.catch(() => {}));
    await recorded;
    const counts = deps.tally.sum(blobs);
    deps.ctx.emit({ type: 'image.done', ref: refText, digest: image.root.descriptor.digest, ok: true });
    return {
      input,
      ref: refText,
      digest: image.root.descriptor.digest,
      manifestDigest: image.manifest.descriptor.digest,
      platform: formatPlatform(image.platform),
      layers: image.layers.length,
      size: image.layers.reduce((n, l) => n + l.size, image.config.size),
      ...counts,
      seconds: (deps.ctx.now() - started) / 1000,
      ok: true,
    };
  } catch (err) {
    const summary = summarizeError(err);
    deps.ctx.emit({ type: 'image.done', ref: refText ?? input, digest: '', ok: false, error: summary });
    return {
      input,
      ...(refText ? { ref: refText } : {}),
      layers: 0,
      size: 0,
      bytesFetched: 0,
      bytesCached: 0,
      seconds: (deps.ctx.now() - started) / 1000,
      ok: false,
      error: {
        ...summary,
        ...(err instanceof PullError && err.hint ? { hint: err.hint } : {}),
        exitCode: toExitCode(err),
      },
    };
  }
}

/** Every manifest of the index into the output: all fetched under the one budget, each fed as it lands. */
async function pullAllPlatforms(input: string, ref: ImageRef, deps: PullOneDeps, started: number): Promise<ImageResult> {
  const images = await resolveAllAndRecord(ref, deps);
  const blobs = (await Promise.all(images.map((image) => fetchImage(image, deps)))).flat();
  const root = images[0]!.root.descriptor.digest;
  deps.ctx.emit({ type: 'image.done', ref: ref.toString(), digest: root, ok: true });
  return {
    input,
    ref: ref.toString(),
    digest: root,
    platform: images.map((i) => formatPlatform(i.platform)).join(','),
    layers: images.reduce((n, i) => n + i.layers.length, 0),
    size: images.reduce((n, i) => n + i.layers.reduce((m, l) => m + l.size, i.config.size), 0),
    ...deps.tally.sum(blobs),
    seconds: (deps.ctx.now() - started) / 1000,
    ok: true,
  };
}

function describeDest(output: PullOutput | undefined): string {
  return output === undefined ? '' : typeof output.dest === 'string' ? output.dest : '-';
}

function resolvePlatformOption(platform: string | Platform | undefined): Platform {
  if (platform === undefined) return hostPlatform();
  return typeof platform === 'string' ? parsePlatform(platform) : platform;
}

// Interrupted dominates, then the unexpected, then the rest by number (docs/exit-codes.md).
const SEVERITY: readonly number[] = [ExitCode.Interrupted, ExitCode.Failure, 7, 6, 5, 4, 3, 2];

function worstExitCode(images: readonly ImageResult[], stoppedByFailFast: boolean): ExitCode {
  // --fail-fast cancels the other images: their ERR_ABORTED follows from the first failure, which is the outcome
  const outcomes = images.filter((i) => !i.ok && !(stoppedByFailFast && i.error?.code === 'ERR_ABORTED'));
  const codes = outcomes.map((i) => i.error?.exitCode ?? ExitCode.Failure);
  for (const code of SEVERITY) if (codes.includes(code)) return code as ExitCode;
  return ExitCode.Ok;
}

export interface BlobTally {
  sum(digests: readonly string[]): { bytesFetched: number; bytesCached: number };
}

/** Records how each blob of the run arrived, from the event stream, so results need no second source of truth. */
function tallyBlobs(bus: { subscribe(l: (e: PullEvent) => void): () => void }): BlobTally {
  const outcome = new Map<string, { from: BlobSourceKind; fetched: number; size: number }>();
  bus.subscribe((e) => {
    if (e.type === 'blob.done') outcome.set(e.digest, { from: e.from, fetched: e.bytesFetched, size: e.size });
    else if (e.type === 'blob.cached') outcome.set(e.digest, { from: 'cache', fetched: 0, size: e.size });
  });
  return {
    sum(digests) {
      let bytesFetched = 0;
      let bytesCached = 0;
      for (const d of new Set(digests)) {
        const o = outcome.get(d);
        if (!o) continue;
        bytesFetched += o.fetched;
        if (o.from !== 'network') bytesCached += o.size;
      }
      return { bytesFetched, bytesCached };
    },
  };
}

export type { Emit };
