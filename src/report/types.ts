/** Renderers consume events and draw them; they never produce results (stdout is for results). */
import type { PullEvent } from '../events/types.js';

export interface Renderer {
  handle(event: PullEvent): void;
  /** Stop timers, flush, restore the terminal. */
  close(): void;
}

/** Where a renderer writes: stderr, or a test's buffer. */
export interface TextSink {
  write(text: string): void;
}
