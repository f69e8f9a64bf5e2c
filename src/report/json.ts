/**
 * --progress json: one event per line on stderr, the versioned contract of docs/events.md. Every line
 * carries `schema` first, so a script reading from the middle of a stream (or a log tail) knows the
 * vocabulary without having seen run.started.
 */
import { EVENTS_SCHEMA_VERSION } from '../events/types.js';
import type { Renderer, TextSink } from './types.js';

/** Returns a renderer writing each event as one JSON line: `{"schema":1,"t":…,"type":…,…}`. */
export function createJsonRenderer(out: TextSink): Renderer {
  return {
    handle: (event) => {
      const { t, type, ...fields } = event;
      // JSON.stringify escapes control characters inside strings, so a line never breaks or drives a terminal.
      out.write(`${JSON.stringify({ schema: EVENTS_SCHEMA_VERSION, t, type, ...fields })}\n`);
    },
    close: () => {},
  };
}
