/** Chooses the renderer for --progress (DESIGN.md §5): auto means tty on a terminal, plain when stderr is no TTY or CI is set. */
import type { StartInterval } from './clock.js';
import { createJsonRenderer } from './json.js';
import { createPlainRenderer } from './plain.js';
import { createTtyRenderer, type TtyStream } from './tty.js';
import type { Renderer, TextSink } from './types.js';

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'json', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

export interface RendererIo {
  readonly stderr: TextSink;
  readonly isTTY: boolean;
  readonly ci: boolean;
  /** The terminal itself (process.stderr), so the bars follow its width and height; without it tty assumes 80 columns. */
  readonly tty?: TtyStream;
  /** Plain heartbeat interval (`--heartbeat` seconds × 1000); 0 turns it off. Default DEFAULT_HEARTBEAT_MS. */
  readonly heartbeatMs?: number;
  /** Monotonic milliseconds; default performance.now. */
  readonly now?: () => number;
  /** The heartbeat's timer; default an unref'd setInterval. */
  readonly startInterval?: StartInterval;
}

/** Returns the mode `auto` stands for. */
export function resolveProgressMode(mode: ProgressMode, io: Pick<RendererIo, 'isTTY' | 'ci'>): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return io.isTTY && !io.ci ? 'tty' : 'plain';
}

/** Returns the renderer for the mode; `none` draws nothing. */
export function pickRenderer(mode: ProgressMode, io: RendererIo): Renderer {
  const clock = io.now ? { now: io.now } : {};
  switch (resolveProgressMode(mode, io)) {
    case 'none':
      return { handle: () => {}, close: () => {} };
    case 'json':
      return createJsonRenderer(io.stderr);
    case 'tty':
      // --progress tty on a pipe draws anyway (the user asked for it), as if on an 80-column terminal.
      return createTtyRenderer(io.tty?.isTTY ? io.tty : { isTTY: true, write: (s) => io.stderr.write(s) }, clock);
    case 'plain':
      return createPlainRenderer(io.stderr, {
        ...clock,
        ...(io.heartbeatMs !== undefined ? { heartbeatMs: io.heartbeatMs } : {}),
        ...(io.startInterval ? { startInterval: io.startInterval } : {}),
      });
  }
}
