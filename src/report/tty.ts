/**
 * --progress tty: live per-layer bars on a terminal. The only importer of cli-progress, used as the
 * multi-line redraw engine: each of its bars draws one line of our frame (tty-frame.ts), so what a
 * line says is ours and pure, and cli-progress only moves the cursor. A retry keeps its line (pnpm
 * #1013); warnings go above the bars through MultiBar.log; at run.done the last frame stays on screen,
 * the cursor comes back, and the summary follows.
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import type { PullEvent } from '../events/types.js';
import { createRunClock } from './clock.js';
import { sanitizeText } from './format.js';
import { createRateMeter, type RateMeter } from './rate.js';
import { createRunState } from './state.js';
import { summaryLines } from './summary.js';
import { frameLines } from './tty-frame.js';
import type { Renderer } from './types.js';

/** Redraws per second: smooth to the eye, cheap on a slow ssh link (cli-progress's own default). */
export const DEFAULT_TTY_FPS = 10;
/** Lines of bars when the terminal does not say its height: a classic 24-line terminal, less the prompt. */
export const DEFAULT_TTY_HEIGHT = 23;

/** The terminal: process.stderr fits, and so does a test's fake with `isTTY: true` and `columns`. */
export interface TtyStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface TtyRendererOptions {
  /** Monotonic milliseconds (performance.now); rates and ETAs are measured on it between events. */
  readonly now?: () => number;
  readonly fps?: number;
}

// Events that only move numbers: drawn at the frame rate rather than at once.
const QUIET: ReadonlySet<PullEvent['type']> = new Set(['blob.progress']);

/** Returns the terminal renderer writing to `stream`. */
export function createTtyRenderer(stream: TtyStream, options: TtyRendererOptions = {}): Renderer {
  const state = createRunState();
  const clock = createRunClock(options.now ?? (() => performance.now()));
  const meters = new Map<string, RateMeter>();
  const total = createRateMeter();
  const frameMs = 1000 / (options.fps ?? DEFAULT_TTY_FPS);
  let frame: string[] = [];
  let drawnAt = Number.NEGATIVE_INFINITY;
  const bars: SingleBar[] = [];
  let finished = false;

  const multibar = new MultiBar({
    stream: stream as unknown as NodeJS.WritableStream,
    fps: options.fps ?? DEFAULT_TTY_FPS,
    clearOnComplete: false,
    hideCursor: true,
    // Lines are already clipped to the width; wrapping stays on so a long warning above the bars wraps instead of vanishing.
    linewrap: true,
    // Redraw every line every frame: after a log() the lines shift down, and an unchanged line skipped by cli-progress would leave a stale one behind.
    forceRedraw: true,
    format: (_options, _params, payload: { index: number }) => frame[payload.index] ?? '',
  });
  // cli-progress re-arms a plain setTimeout each frame; unref it so a renderer never holds the process open.
  const unrefTimer = () => (multibar as unknown as { timer?: NodeJS.Timeout | null }).timer?.unref();
  multibar.on('start', unrefTimer);
  multibar.on('update-post', unrefTimer);
  // Recompute the frame right before cli-progress draws it, so rates and ETAs move even between events.
  multibar.on('redraw-pre', () => {
    refresh();
    drawnAt = clock.now();
  });
  multibar.on('stop-pre-clear', () => void refresh());

  const refresh = () => {
    const now = clock.now();
    frame = frameLines({
      view: state.view,
      blobRate: (digest) => meters.get(digest)?.rate(now) ?? 0,
      totalRate: total.rate(now),
      width: stream.columns ?? 80,
      height: stream.rows ? stream.rows - 1 : DEFAULT_TTY_HEIGHT,
    });
    return frame;
  };
  // cli-progress only grows: a bar per line, created as lines appear; a line that disappears draws empty.
  const ensureBars = () => {
    const lines = refresh().length;
    while (bars.length < lines) bars.push(multibar.create(1, 0, { index: bars.length }));
  };
  const meter = (digest: string) => {
    let m = meters.get(digest);
    if (!m) meters.set(digest, (m = createRateMeter()));
    return m;
  };
  const finish = () => {
    if (finished) return;
    finished = true;
    if (bars.length > 0) multibar.stop();
  };

  return {
    handle(event) {
      if (finished) return;
      clock.observe(event.t);
      state.apply(event);
      if (event.type === 'blob.progress' || event.type === 'blob.started') {
        meter(event.digest).add(event.t, state.view.blobs.get(event.digest)?.received ?? 0);
        total.add(event.t, state.view.networkBytes);
      }
      if (event.type === 'warning') {
        const text = `warning: ${sanitizeText(event.message)}\n`;
        if (bars.length > 0) multibar.log(text);
        else stream.write(text);
      }
      if (event.type === 'run.done') {
        finish();
        for (const line of summaryLines(state.view)) stream.write(`${line}\n`);
        return;
      }
      if (event.type === 'debug' || (event.type === 'run.started' && bars.length === 0)) return;
      ensureBars();
      // State changes show at once; progress waits for the next frame, on our clock or cli-progress's timer.
      if (!QUIET.has(event.type) || clock.now() - drawnAt >= frameMs) multibar.update();
    },
    close: finish,
  };
}
