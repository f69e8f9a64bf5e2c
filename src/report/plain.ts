/**
 * --progress plain: append-only lines for CI logs (no control codes, ever): one line when a layer
 * starts, retries, waits and finishes, a heartbeat every interval (total bytes, rate, ETA, stalled
 * layers) and the summary at the end. Readable in a log viewer that does not understand terminals
 * (moby#8342, containerd#9467).
 */
import type { PullEvent } from '../events/types.js';
import { createRunClock, realInterval, type StartInterval, type Ticker } from './clock.js';
import { formatBytes, formatDuration, formatRate, sanitizeText } from './format.js';
import { heartbeatLines, type BeatMark } from './heartbeat.js';
import { createRunState, type BlobView } from './state.js';
import { blobName, summaryLines } from './summary.js';
import type { Renderer, TextSink } from './types.js';

/** Seconds between heartbeats by default: often enough that a CI job never looks hung, rare enough to keep an 8-layer log short (the issue's `--heartbeat` default). */
export const DEFAULT_HEARTBEAT_MS = 10_000;

export interface PlainRendererOptions {
  /** Milliseconds between heartbeats; 0 turns them off. */
  readonly heartbeatMs?: number;
  /** Monotonic milliseconds (performance.now); tests pass a fake. */
  readonly now?: () => number;
  /** The timer that drives the heartbeat; tests pass one they tick by hand. */
  readonly startInterval?: StartInterval;
}

/** Returns the plain renderer. */
export function createPlainRenderer(out: TextSink, options: PlainRendererOptions = {}): Renderer {
  const state = createRunState();
  const clock = createRunClock(options.now ?? (() => performance.now()));
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const startInterval = options.startInterval ?? realInterval;
  const line = (text: string) => out.write(`${sanitizeText(text)}\n`);
  let ticker: Ticker | undefined;
  let mark: BeatMark = { t: 0, networkBytes: 0 };
  let closed = false;

  const beat = () => {
    const now = clock.now();
    for (const text of heartbeatLines(state.view, now, mark)) line(text);
    mark = { t: now, networkBytes: state.view.networkBytes };
  };
  const stop = () => {
    ticker?.stop();
    closed = true;
  };
  const blob = (digest: string): BlobView | undefined => state.view.blobs.get(digest);

  const handlers: { [K in PullEvent['type']]?: (e: Extract<PullEvent, { type: K }>) => void } = {
    'resolve.started': (e) => line(`resolving ${e.ref}`),
    'resolve.done': (e) =>
      line(`resolved ${e.ref} -> ${e.digest} (${e.platform}, ${e.layers} layer${e.layers === 1 ? '' : 's'}, ${formatBytes(e.size)})`),
    'resolve.failed': (e) => line(`failed to resolve ${e.ref}: ${e.error.message}`),
    'blob.cached': (e) => line(`${name(e.digest)} cached (${formatBytes(e.size)})`),
    'blob.waiting': (e) => line(`${name(e.digest)} waiting for another dray (${e.holder})`),
    'blob.started': (e) => {
      if (e.attempt > 1) return line(`${name(e.digest)} downloading again from the start (attempt ${e.attempt})`);
      const how = e.chunks > 1 ? ` in ${e.chunks} chunks` : '';
      const resumed = e.resumedBytes > 0 ? `, resuming at ${formatBytes(e.resumedBytes)}` : '';
      line(`${name(e.digest)} downloading ${formatBytes(e.size)}${how}${resumed}`);
    },
    'blob.retry': (e) => line(`${name(e.digest)} retry ${e.attempt}/${e.maxAttempts} in ${formatDuration(e.delayMs)}: ${e.error.message}`),
    'blob.done': (e) => line(`${name(e.digest)} ${doneText(blob(e.digest), e)}`),
    'blob.failed': (e) => line(`${name(e.digest)} failed: ${e.error.message}`),
    'export.done': (e) => line(`wrote ${e.format} ${e.dest}`),
    warning: (e) => line(`warning: ${e.message}`),
    'run.done': () => {
      stop();
      for (const text of summaryLines(state.view)) line(text);
    },
  };
  const name = (digest: string) => {
    const b = blob(digest);
    return b ? blobName(b) : `blob ${digest}`;
  };

  return {
    handle(event) {
      if (closed) return;
      clock.observe(event.t);
      state.apply(event);
      (handlers[event.type] as ((e: PullEvent) => void) | undefined)?.(event);
      if (!ticker && !closed && heartbeatMs > 0) ticker = startInterval(heartbeatMs, beat);
    },
    close: stop,
  };
}

function doneText(b: BlobView | undefined, e: Extract<PullEvent, { type: 'blob.done' }>): string {
  if (e.from === 'other-process') return `done ${formatBytes(e.size)} (fetched by another dray)`;
  const took = b?.startedAt !== undefined ? e.t - b.startedAt : undefined;
  const speed = took !== undefined && took > 0 && e.bytesFetched > 0 ? ` in ${formatDuration(took)} (${formatRate((e.bytesFetched * 1000) / took)})` : '';
  return `done ${formatBytes(e.size)}${speed}`;
}
